"""A small blocking OVSDB JSON-RPC client (RFC 7047) on the ``ovs`` package's streams.

``ovs.stream`` gives unix/tcp/ssl connections; framing and JSON use the standard library
(the ``ovs`` package's pure-Python JSON parser is slow for large NB dumps). Writes are one
raw ``transact`` so rows created in it can reference each other by ``uuid-name`` (FACTS §6).
"""

from __future__ import annotations

import codecs
import errno
import itertools
import json
import os
import re
from dataclasses import dataclass
from typing import Any

import ovs.poller  # type: ignore[import-untyped]
import ovs.stream  # type: ignore[import-untyped]

NB_DB = "OVN_Northbound"
_CONNECT_TIMEOUT_MS = 10_000
# What matters for finding where a JSON message ends: braces, quotes, and escapes in strings.
_TOKENS = re.compile(r'\\.|[{}"]', re.S)


class OvsdbError(RuntimeError):
    """The OVSDB server refused a request, or the connection failed."""


@dataclass(frozen=True)
class SslFiles:
    private_key: str
    certificate: str
    ca_cert: str


def _errno_text(code: int) -> str:
    return os.strerror(code) if code > 0 else "connection closed"


def split_remotes(remote: str) -> list[str]:
    """``tcp:a:6641,tcp:b:6641`` -> the list of remotes of a clustered database."""
    return [r.strip() for r in remote.split(",") if r.strip()]


class OvsdbConnection:
    """One connection to one remote. Blocking; not thread-safe."""

    def __init__(self, remote: str, ssl: SslFiles | None = None) -> None:
        self.remote = remote
        if remote.startswith("ssl:"):
            if ssl is None:
                raise OvsdbError(
                    f"{remote}: an ssl: remote needs --ovn-nb-key, --ovn-nb-cert and --ovn-nb-ca"
                )
            for path in (ssl.private_key, ssl.certificate, ssl.ca_cert):
                if not os.path.isfile(path):
                    raise OvsdbError(f"{remote}: SSL file {path} does not exist")
            ovs.stream.Stream.ssl_set_private_key_file(ssl.private_key)
            ovs.stream.Stream.ssl_set_certificate_file(ssl.certificate)
            ovs.stream.Stream.ssl_set_ca_cert_file(ssl.ca_cert)
        if not ovs.stream.Stream.is_valid_name(remote):
            raise OvsdbError(
                f"{remote!r} is not an OVSDB remote: use unix:PATH, tcp:IP:PORT or ssl:IP:PORT"
            )
        error, stream = ovs.stream.Stream.open_block(
            ovs.stream.Stream.open(remote), _CONNECT_TIMEOUT_MS
        )
        if error or stream is None:
            raise OvsdbError(f"cannot connect to {remote}: {_errno_text(error)}")
        self._stream = stream
        self._buf = ""
        self._scan_pos, self._depth, self._in_string = 0, 0, False
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> OvsdbConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- framing ----------------------------------------------------------------------------

    def _send(self, msg: dict[str, Any]) -> None:
        data = json.dumps(msg, separators=(",", ":")).encode()
        while data:
            self._stream.run()
            n = self._stream.send(data)
            if n > 0:
                data = data[n:]
            elif n == -errno.EAGAIN or n == 0:
                poller = ovs.poller.Poller()
                self._stream.run_wait(poller)
                self._stream.send_wait(poller)
                poller.block()
            else:
                raise OvsdbError(f"{self.remote}: send failed: {_errno_text(-n)}")

    def _recv_message(self) -> dict[str, Any]:
        while True:
            end = self._message_end()
            if end is not None:
                text, self._buf = self._buf[:end], self._buf[end:]
                self._scan_pos, self._depth, self._in_string = 0, 0, False
                try:
                    msg = json.loads(text)
                except json.JSONDecodeError as e:
                    raise OvsdbError(f"{self.remote}: malformed JSON-RPC message: {e}") from e
                if not isinstance(msg, dict):
                    raise OvsdbError(f"{self.remote}: not a JSON-RPC message: {msg!r:.200}")
                return msg
            self._buf += self._read_some()

    def _message_end(self) -> int | None:
        """End of the first complete top-level JSON object in the buffer, scanning only the
        text not seen before (re-parsing a growing multi-megabyte reply would be quadratic)."""
        buf = self._buf
        last = self._scan_pos
        for m in _TOKENS.finditer(buf, self._scan_pos):
            last = m.end()
            t = m.group()
            if t == '"':
                self._in_string = not self._in_string
            elif self._in_string or t[0] == "\\":
                continue
            elif t == "{":
                self._depth += 1
            elif t == "}":
                self._depth -= 1
                if self._depth == 0:
                    return m.end()
        # A trailing lone backslash escapes a character that has not arrived yet.
        tail = len(buf) - 1 if buf.endswith("\\") and last < len(buf) else len(buf)
        self._scan_pos = max(last, tail)
        return None

    def _read_some(self) -> str:
        chunks: list[str] = []
        while True:
            self._stream.run()
            error, data = self._stream.recv(1 << 20)
            if error == errno.EAGAIN:
                if chunks:
                    break
                poller = ovs.poller.Poller()
                self._stream.run_wait(poller)
                self._stream.recv_wait(poller)
                poller.block()
                continue
            if error:
                raise OvsdbError(f"{self.remote}: receive failed: {_errno_text(error)}")
            if not data:
                raise OvsdbError(f"{self.remote}: the server closed the connection")
            chunks.append(self._utf8.decode(data if isinstance(data, bytes) else data.encode()))
            if len(data) < (1 << 20):
                break
        return "".join(chunks)

    # -- RPC --------------------------------------------------------------------------------

    def call(self, method: str, params: list[Any]) -> Any:
        """Send a request and wait for its reply; answer ``echo`` probes meanwhile."""
        req_id = next(self._ids)
        self._send({"method": method, "params": params, "id": req_id})
        while True:
            msg = self._recv_message()
            if msg.get("method") == "echo":
                self._send({"result": msg.get("params", []), "error": None, "id": msg.get("id")})
                continue
            if msg.get("id") != req_id:
                continue  # notifications (e.g. "update" of a monitor being cancelled)
            if msg.get("error") is not None:
                raise OvsdbError(f"{self.remote}: {method} failed: {msg['error']}")
            return msg.get("result")

    def transact(self, db: str, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One transaction; every op's result is checked and the first error is raised."""
        results = self.call("transact", [db, *ops])
        if not isinstance(results, list):
            raise OvsdbError(f"{self.remote}: transact returned {results!r:.200}")
        for i, res in enumerate(results):
            if isinstance(res, dict) and "error" in res and res["error"] is not None:
                op = ops[i] if i < len(ops) else {"op": "commit"}
                where = f"{op.get('op')} on {op.get('table', '-')}"
                details = f": {res['details']}" if res.get("details") else ""
                raise OvsdbError(
                    f"{self.remote}: transaction failed at op {i} ({where}): "
                    f"{res['error']}{details}"
                )
        if len(results) < len(ops):
            raise OvsdbError(
                f"{self.remote}: transaction returned {len(results)} of {len(ops)} results"
            )
        return results

    def select(
        self, db: str, table: str, where: list[Any], columns: list[str]
    ) -> list[dict[str, Any]]:
        rows = self.transact(
            db, [{"op": "select", "table": table, "where": where, "columns": columns}]
        )
        return list(rows[0].get("rows", []))

    def dump(
        self, db: str, queries: dict[str, tuple[list[Any], list[str]]]
    ) -> dict[str, dict[str, dict[str, Any]]]:
        """Read several tables with ``monitor_cond`` (no ``transact``) and cancel the monitor.

        ``queries`` maps table -> (condition, columns); returns table -> uuid -> row.
        """
        monitor_id = f"mnp-dump-{next(self._ids)}"
        requests = {
            table: {
                "columns": cols,
                "where": cond,
                "select": {"initial": True, "insert": False, "delete": False, "modify": False},
            }
            for table, (cond, cols) in queries.items()
        }
        result = self.call("monitor_cond", [db, monitor_id, requests])
        self.call("monitor_cancel", [monitor_id])
        out: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in queries}
        for table, rows in (result or {}).items():
            for uuid, change in rows.items():
                row = change.get("initial") or change.get("new")
                if row is not None:
                    out[table][uuid] = row
        return out


def _is_leader(conn: OvsdbConnection, db: str) -> bool:
    rows = conn.select(
        "_Server", "Database", [["name", "==", db]], ["model", "leader", "connected"]
    )
    if not rows:
        raise OvsdbError(f"{conn.remote}: the server has no database {db}")
    row = rows[0]
    return row.get("model") != "clustered" or (
        row.get("leader") is True and row.get("connected") is True
    )


def connect(remote: str, ssl: SslFiles | None = None, db: str = NB_DB) -> OvsdbConnection:
    """Connect to ``remote``; for a comma-separated cluster, prefer the RAFT leader."""
    remotes = split_remotes(remote)
    if not remotes:
        raise OvsdbError(
            "no OVN Northbound remote given: pass --ovn-nb unix:PATH|tcp:IP:PORT|ssl:IP:PORT"
        )
    if len(remotes) == 1:
        return OvsdbConnection(remotes[0], ssl)
    failures: list[str] = []
    fallback: OvsdbConnection | None = None
    for r in remotes:
        try:
            conn = OvsdbConnection(r, ssl)
            if _is_leader(conn, db):
                if fallback is not None:
                    fallback.close()
                return conn
        except OvsdbError as e:
            failures.append(str(e))
            continue
        if fallback is None:
            fallback = conn
        else:
            conn.close()
    if fallback is not None:
        return fallback  # a follower forwards writes to the leader
    raise OvsdbError("no reachable OVN Northbound server: " + "; ".join(failures))


def ovsdb_set(values: list[Any] | tuple[Any, ...]) -> list[Any]:
    return ["set", list(values)]


def ovsdb_map(pairs: dict[str, str] | tuple[tuple[str, str], ...]) -> list[Any]:
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return ["map", [[k, v] for k, v in items]]


def set_values(value: Any) -> list[Any]:
    """An OVSDB set column as a Python list (a single atom is a one-element set)."""
    if isinstance(value, list) and value and value[0] == "set":
        return list(value[1])
    return [value]


def uuid_values(value: Any) -> list[str]:
    return [v[1] for v in set_values(value) if isinstance(v, list) and v[0] == "uuid"]


def map_value(value: Any) -> dict[str, str]:
    if isinstance(value, list) and value and value[0] == "map":
        return {k: v for k, v in value[1]}
    return {}
