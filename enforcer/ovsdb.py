"""A small blocking OVSDB JSON-RPC client (RFC 7047) for unix:, tcp: and ssl: remotes.

Sockets and TLS come from the standard library (``socket``, ``ssl``) rather than the ``ovs``
package's streams, so that every failure keeps its cause (which TLS alert, which timeout)
and every read and write has a deadline. Framing and JSON use the standard library too (the
``ovs`` package's pure-Python JSON parser is slow for large NB dumps). Writes are one raw
``transact`` so rows created in it can reference each other by ``uuid-name`` (FACTS §6).

A comma-separated remote names the members of a RAFT-clustered database: ``connect`` asks
each member's ``_Server`` database for its role and prefers the leader.
"""

from __future__ import annotations

import codecs
import contextlib
import ipaddress
import itertools
import json
import logging
import os
import select
import socket
import ssl as tls
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

NB_DB = "OVN_Northbound"
CONNECT_TIMEOUT_S = 10.0
# A full NB dump of a big cluster takes a few seconds; a server silent for this long is gone.
IO_TIMEOUT_S = 60.0
# How long ``connect`` waits for a cluster that answers but has no leader (an election).
ELECTION_WAIT_S = 10.0
_RECV_CHUNK = 1 << 20
_DECODER = json.JSONDecoder()
_REMOTE_HELP = (
    "use unix:PATH, tcp:IP:PORT or ssl:IP:PORT (IPv6 as [IP]), comma-separated for a cluster"
)
# TLS alerts a server sends when it does not accept the client's certificate.
_CLIENT_CERT_ALERTS = (
    "CERTIFICATE_REQUIRED",
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "CERTIFICATE_UNKNOWN",
    "DECRYPT_ERROR",
    "ACCESS_DENIED",
)

log = logging.getLogger("mnp.enforcer.ovsdb")


class OvsdbError(RuntimeError):
    """The OVSDB server refused a request, or the connection failed."""


class OvsdbConnectionError(OvsdbError):
    """The transport failed: connect, TLS, send, receive, or a timeout."""


class OvsdbUnreachableError(OvsdbConnectionError):
    """``connect`` tried every remote and none can take writes."""


class OvsdbConflictError(OvsdbError):
    """Rows read for a plan changed before its transaction ran; nothing was written."""


@dataclass(frozen=True)
class SslFiles:
    private_key: str
    certificate: str
    ca_cert: str


@dataclass(frozen=True)
class Remote:
    """One parsed OVSDB active remote."""

    method: str  # unix | tcp | ssl
    address: str  # socket path or IP/host
    port: int = 0

    def __str__(self) -> str:
        if self.method == "unix":
            return f"unix:{self.address}"
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.method}:{host}:{self.port}"


def parse_remote(text: str) -> Remote:
    """``unix:PATH`` | ``tcp:HOST:PORT`` | ``ssl:HOST:PORT`` (``[v6]:PORT``), or OvsdbError."""
    method, sep, rest = text.partition(":")
    bad = OvsdbError(f"{text!r} is not an OVSDB remote: {_REMOTE_HELP}")
    if not sep or not rest:
        raise bad
    if method == "unix":
        return Remote("unix", rest)
    if method not in ("tcp", "ssl"):
        raise bad
    if rest.startswith("["):
        host, close, port_text = rest[1:].partition("]")
        if not close or not port_text.startswith(":"):
            raise bad
        port_text = port_text[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad from None
    else:
        host, _, port_text = rest.rpartition(":")
        if not host or ":" in host:
            raise bad
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise OvsdbError(f"{text!r}: the port must be a number in 1..65535 ({_REMOTE_HELP})")
    return Remote(method, host, int(port_text))


def split_remotes(remote: str) -> list[str]:
    """``tcp:a:6641,tcp:b:6641`` -> the list of remotes of a clustered database."""
    return [r.strip() for r in remote.split(",") if r.strip()]


def tls_context(ssl_files: SslFiles, remote: str = "ssl") -> tls.SSLContext:
    """A client context as OVS uses it: the server must present a certificate signed by the
    CA; host names are not checked (OVS does not put them in its certificates)."""
    for flag, path in (
        ("--ovn-nb-key", ssl_files.private_key),
        ("--ovn-nb-cert", ssl_files.certificate),
        ("--ovn-nb-ca", ssl_files.ca_cert),
    ):
        if not os.path.isfile(path):
            raise OvsdbError(f"{remote}: {flag} {path} does not exist")
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = tls.CERT_REQUIRED
    ctx.minimum_version = tls.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(cafile=ssl_files.ca_cert)
    except (tls.SSLError, OSError) as e:
        raise OvsdbError(
            f"{remote}: cannot load the CA certificate {ssl_files.ca_cert}: {e}"
        ) from None
    try:
        ctx.load_cert_chain(ssl_files.certificate, ssl_files.private_key)
    except (tls.SSLError, OSError) as e:
        raise OvsdbError(
            f"{remote}: cannot load the client certificate {ssl_files.certificate} with key "
            f"{ssl_files.private_key} (do they match?): {e}"
        ) from None
    return ctx


def _os_reason(e: OSError) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    return e.strerror or str(e) or type(e).__name__


def _tls_reason(remote: str, e: tls.SSLError) -> str:
    """A TLS failure in words, with what to check."""
    reason = getattr(e, "reason", None) or str(e)
    if isinstance(e, tls.SSLCertVerificationError):
        return (
            f"TLS handshake with {remote} failed: the server's certificate is not trusted "
            f"({e.verify_message}); check --ovn-nb-ca"
        )
    if any(alert in reason for alert in _CLIENT_CERT_ALERTS):
        return (
            f"TLS with {remote} failed: the server rejected the client certificate ({reason}); "
            "check that --ovn-nb-cert is signed by a CA the server trusts"
        )
    return f"TLS with {remote} failed: {reason}"


def _open_socket(where: Remote, context: tls.SSLContext | None, timeout: float) -> socket.socket:
    name = str(where)
    sock: socket.socket | None = None
    try:
        if where.method == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(min(timeout, CONNECT_TIMEOUT_S))
            sock.connect(where.address)
        else:
            sock = socket.create_connection(
                (where.address, where.port), timeout=min(timeout, CONNECT_TIMEOUT_S)
            )
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            sock = context.wrap_socket(sock)  # the handshake happens here
        sock.settimeout(timeout)
        return sock
    except tls.SSLError as e:
        if sock is not None:
            sock.close()
        raise OvsdbConnectionError(_tls_reason(name, e)) from None
    except OSError as e:
        if sock is not None:
            sock.close()
        during = " during the TLS handshake" if context is not None else ""
        raise OvsdbConnectionError(f"cannot connect to {name}{during}: {_os_reason(e)}") from None


@dataclass(frozen=True)
class DatabaseStatus:
    """A database's row in the server's ``_Server.Database`` table."""

    model: str  # standalone | clustered | relay
    leader: bool
    connected: bool

    @property
    def writable_here(self) -> bool:
        return self.model != "clustered" or (self.leader and self.connected)


@dataclass
class _TableRead:
    where: list[Any]
    versions: dict[str, Any]  # uuid -> _version as read


class OvsdbConnection:
    """One connection to one remote. Blocking, with a deadline on every read; not thread-safe."""

    def __init__(
        self, remote: str, ssl: SslFiles | None = None, timeout: float = IO_TIMEOUT_S
    ) -> None:
        self.remote = remote
        where = parse_remote(remote)
        context: tls.SSLContext | None = None
        if where.method == "ssl":
            if ssl is None:
                raise OvsdbError(
                    f"{remote}: an ssl: remote needs --ovn-nb-key, --ovn-nb-cert and --ovn-nb-ca"
                )
            context = tls_context(ssl, remote)
        self._tls = context is not None
        self._timeout = timeout
        self._answered = False  # no message received yet (TLS refusals show up then)
        self._sock = _open_socket(where, context, timeout)
        self._buf = ""
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._ids = itertools.count(1)
        self._tracked: set[str] = set()
        self._reads: dict[str, _TableRead] = {}
        self.last_received = time.monotonic()  # when bytes last arrived (inactivity probe)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> OvsdbConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- framing ----------------------------------------------------------------------------

    def _transport_error(self, doing: str, e: OSError | None) -> OvsdbConnectionError:
        if isinstance(e, tls.SSLError) and not isinstance(e, tls.SSLEOFError):
            return OvsdbConnectionError(_tls_reason(self.remote, e))
        if e is None:
            reason = "the server closed the connection"
        elif isinstance(e, TimeoutError):
            reason = f"timed out: no answer within {self._timeout:g}s (--ovn-nb-timeout)"
        else:
            reason = _os_reason(e)
        if self._tls and not self._answered:
            # TLS 1.3 finishes the client's handshake before the server checks the client's
            # certificate; a refusal then shows as an alert, or as a bare close if it wins.
            return OvsdbConnectionError(
                f"TLS with {self.remote} failed before the server answered ({reason}): the "
                "server most likely rejected the client certificate; check that --ovn-nb-cert "
                "is signed by a CA the server trusts"
            )
        if e is None:
            return OvsdbConnectionError(f"{self.remote}: {reason}")
        return OvsdbConnectionError(f"{self.remote}: {doing} failed: {reason}")

    def _send(self, msg: dict[str, Any]) -> None:
        data = json.dumps(msg, separators=(",", ":")).encode()
        try:
            self._sock.sendall(data)
        except OSError as e:
            raise self._transport_error("send", e) from None

    def _recv_message(self) -> dict[str, Any]:
        while True:
            msg = self._next_message()
            if msg is not None:
                self._answered = True
                return msg
            self._buf += self._read_some()

    def _next_message(self) -> dict[str, Any] | None:
        """The first complete JSON-RPC message in the buffer, if there is one.

        Every message ends with ``}``, so the C decoder is tried only when the buffer does:
        a multi-megabyte reply costs a few parses at C speed, not a scan in Python.
        """
        buf = self._buf.lstrip()
        if not buf.rstrip().endswith("}"):
            return None
        try:
            msg, end = _DECODER.raw_decode(buf)
        except json.JSONDecodeError:
            return None  # a nested "}" ended this read; the rest is on its way
        self._buf = buf[end:]
        if not isinstance(msg, dict):
            raise OvsdbError(f"{self.remote}: not a JSON-RPC message: {msg!r:.200}")
        return msg

    def _read_some(self) -> str:
        try:
            data = self._sock.recv(_RECV_CHUNK)
        except OSError as e:
            raise self._transport_error("receive", e) from None
        if not data:
            raise self._transport_error("receive", None)
        self.last_received = time.monotonic()
        return self._utf8.decode(data)

    # -- event-loop primitives (one thread owns the connection: enforcer.nb_replica) ---------

    def fileno(self) -> int:
        return self._sock.fileno()

    def new_id(self) -> int:
        return next(self._ids)

    def send_message(self, msg: dict[str, Any]) -> None:
        self._send(msg)

    def buffered_message(self) -> dict[str, Any] | None:
        """A complete message already received, without touching the socket."""
        msg = self._next_message()
        if msg is not None:
            self._answered = True
        return msg

    def wait_readable(self, timeout: float, wake: socket.socket | None = None) -> bool:
        """Whether the connection has bytes to read within ``timeout`` seconds (TLS may hold
        decrypted bytes the socket no longer shows); returns early when ``wake`` is readable."""
        if isinstance(self._sock, tls.SSLSocket) and self._sock.pending():
            return True
        watched: list[socket.socket] = [self._sock] if wake is None else [self._sock, wake]
        ready, _, _ = select.select(watched, [], [], timeout)
        return self._sock in ready

    def read_available(self) -> None:
        """One receive into the buffer (after ``wait_readable``); raises if the peer is gone."""
        self._buf += self._read_some()

    # -- RPC --------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        params: list[Any],
        notification: Callable[[dict[str, Any]], None] | None = None,
    ) -> Any:
        """Send a request and wait for its reply; answer ``echo`` probes meanwhile. Other
        messages (monitor updates) go to ``notification``, or are dropped without one."""
        req_id = next(self._ids)
        self._send({"method": method, "params": params, "id": req_id})
        while True:
            msg = self._recv_message()
            if msg.get("method") == "echo":
                self._send({"result": msg.get("params", []), "error": None, "id": msg.get("id")})
                continue
            if msg.get("id") != req_id:
                if notification is not None:
                    notification(msg)
                continue
            if msg.get("error") is not None:
                raise OvsdbError(f"{self.remote}: {method} failed: {msg['error']}")
            return msg.get("result")

    def transact(self, db: str, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One transaction; every op's result is checked and the first error is raised
        (a failed ``wait`` as OvsdbConflictError: the transaction wrote nothing)."""
        return checked_results(self.remote, ops, self.call("transact", [db, *ops]))

    def select(
        self, db: str, table: str, where: list[Any], columns: list[str]
    ) -> list[dict[str, Any]]:
        rows = self.transact(
            db, [{"op": "select", "table": table, "where": where, "columns": columns}]
        )
        return list(rows[0].get("rows", []))

    def track_versions(self, tables: Iterable[str]) -> None:
        """Have later ``dump``s of ``tables`` remember each row's ``_version``, so that
        ``unchanged_since_read`` can make a transaction depend on what was read."""
        self._tracked.update(tables)

    def dump(
        self, db: str, queries: dict[str, tuple[list[Any], list[str]]]
    ) -> dict[str, dict[str, dict[str, Any]]]:
        """Read several tables with ``monitor_cond`` (no ``transact``) and cancel the monitor.

        ``queries`` maps table -> (condition, columns); returns table -> uuid -> row. The
        initial contents of one monitor are one consistent snapshot of the database.
        """
        monitor_id = f"mnp-dump-{next(self._ids)}"
        requests = {}
        for table, (cond, cols) in queries.items():
            if table in self._tracked and "_version" not in cols:
                cols = [*cols, "_version"]
            requests[table] = {
                "columns": cols,
                "where": cond,
                "select": {"initial": True, "insert": False, "delete": False, "modify": False},
            }
        result = self.call("monitor_cond", [db, monitor_id, requests])
        self.call("monitor_cancel", [monitor_id])
        out: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in queries}
        for table, rows in (result or {}).items():
            for uuid, change in rows.items():
                row = change.get("initial") or change.get("new")
                if row is not None:
                    out[table][uuid] = row
        for table in queries.keys() & self._tracked:
            versions = {u: r.get("_version") for u, r in out[table].items()}
            self._reads[table] = _TableRead(queries[table][0], versions)
            if "_version" not in queries[table][1]:
                for row in out[table].values():
                    row.pop("_version", None)
        return out

    def unchanged_since_read(self) -> list[dict[str, Any]]:
        """``wait`` ops that abort a transaction unless every tracked table still holds
        exactly the rows (same uuids, same versions) its last ``dump`` saw: no row changed,
        appeared or left the condition since."""
        ops: list[dict[str, Any]] = []
        for table, read in sorted(self._reads.items()):
            where = [c for c in read.where if c is not True]
            if any(c is False for c in where):
                continue
            ops.append(
                {
                    "op": "wait",
                    "table": table,
                    "timeout": 0,
                    "where": where,
                    "columns": ["_uuid", "_version"],
                    "until": "==",
                    "rows": [
                        {"_uuid": ["uuid", uuid], "_version": version}
                        for uuid, version in sorted(read.versions.items())
                    ],
                }
            )
        return ops

    def database_status(self, db: str) -> DatabaseStatus:
        """The server's view of ``db``: its model and, when clustered, its RAFT role."""
        rows = self.select(
            "_Server", "Database", [["name", "==", db]], ["model", "leader", "connected"]
        )
        if not rows:
            raise OvsdbError(f"{self.remote}: the server has no database {db}")
        row = rows[0]
        return DatabaseStatus(
            str(row.get("model", "standalone")),
            row.get("leader") is True,
            row.get("connected") is True,
        )


def checked_results(remote: str, ops: list[dict[str, Any]], results: Any) -> list[dict[str, Any]]:
    """A ``transact`` reply with every op's result checked; the first error is raised (a
    failed ``wait`` as OvsdbConflictError: the transaction wrote nothing)."""
    if not isinstance(results, list):
        raise OvsdbError(f"{remote}: transact returned {results!r:.200}")
    for i, res in enumerate(results):
        if isinstance(res, dict) and "error" in res and res["error"] is not None:
            op = ops[i] if i < len(ops) else {"op": "commit"}
            where = f"{op.get('op')} on {op.get('table', '-')}"
            details = f": {res['details']}" if res.get("details") else ""
            if op.get("op") == "wait" and res["error"] == "timed out":
                raise OvsdbConflictError(
                    f"{remote}: {op.get('table')} rows changed between read and "
                    "write (another writer); the transaction was aborted, nothing written"
                )
            if op.get("op") == "commit" and _inserted_after_another_writer(res):
                raise OvsdbConflictError(
                    f"{remote}: another writer inserted a row of the same index value first "
                    f"({res.get('details')}); the transaction was aborted, nothing written"
                )
            raise OvsdbError(
                f"{remote}: transaction failed at op {i} ({where}): {res['error']}{details}"
            )
    if len(results) < len(ops):
        raise OvsdbError(f"{remote}: transaction returned {len(results)} of {len(ops)} results")
    return results


def _inserted_after_another_writer(result: dict[str, Any]) -> bool:
    """Whether a failed commit is a unique index (such as ``Port_Group.name``) that a row
    inserted here shares with a row already in the database: most likely one another writer
    inserted since the plan was made (a plan never inserts a row it saw, and its own rows
    never share a name), so a replan adopts it. A row of that name without mnp's owner
    marker is refused the same way on every attempt, until the replans run out. The
    server's details say which rows collided and where each came from."""
    details = str(result.get("details", ""))
    return (
        result.get("error") == "constraint violation"
        and "was inserted by this transaction" in details
        and "existed in the database before this transaction" in details
    )


def _first_answer(
    remotes: list[str], ssl: SslFiles | None, db: str, timeout: float, failures: list[str]
) -> tuple[OvsdbConnection | None, bool]:
    """One pass over ``remotes``: the leader (or a standalone server) at once, else the
    first follower in touch with its cluster. Also says whether some member answered but had
    no leader (an election may be running)."""
    follower: OvsdbConnection | None = None
    electing = False
    for r in remotes:
        try:
            conn = OvsdbConnection(r, ssl, timeout)
        except OvsdbError as e:
            failures.append(str(e))
            continue
        try:
            status = conn.database_status(db)
        except OvsdbError as e:
            conn.close()
            failures.append(str(e))
            continue
        if status.writable_here:
            if follower is not None:
                follower.close()
            return conn, False
        if status.connected and follower is None:
            follower = conn
            continue
        conn.close()
        if not status.connected:
            electing = True
            failures.append(f"{r}: its {db} member has no cluster leader (election or no quorum)")
    return follower, electing


def connect(
    remote: str,
    ssl: SslFiles | None = None,
    db: str = NB_DB,
    timeout: float = IO_TIMEOUT_S,
    election_wait: float = ELECTION_WAIT_S,
) -> OvsdbConnection:
    """Connect to ``remote``; for a comma-separated cluster, prefer the RAFT leader, else a
    follower in touch with the leader (it forwards writes). A cluster that answers without a
    leader is polled for up to ``election_wait`` seconds. Raises OvsdbUnreachableError naming
    every remote tried and why each failed."""
    remotes = split_remotes(remote)
    if not remotes:
        raise OvsdbError(f"no OVN Northbound remote given: pass --ovn-nb REMOTE ({_REMOTE_HELP})")
    for r in remotes:
        parse_remote(r)  # a typo fails before anything is tried
    deadline = time.monotonic() + election_wait
    while True:
        failures: list[str] = []
        conn, electing = _first_answer(remotes, ssl, db, timeout, failures)
        if conn is not None:
            if failures:
                log.info("using %s; not usable: %s", conn.remote, "; ".join(failures))
            return conn
        if not electing or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if len(remotes) == 1:
        raise OvsdbUnreachableError(failures[0])
    raise OvsdbUnreachableError(
        f"no {db} server of {len(remotes)} can take writes; tried "
        + "; ".join(f"[{n}] {f}" for n, f in enumerate(failures, 1))
    )


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
