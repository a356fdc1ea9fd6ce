"""A second NB client for the end-to-end benchmark: one ``monitor_cond`` of its own on the rows
the enforcer owns (marked ``mnp.k8s.cni.cncf.io/owner=mnp``), kept current by ``update2``
notifications in its own thread, each stamped with its arrival time.

It knows the NB only as the README documents it: port groups hold switch ports, address
sets hold peer pods' IPs, and every owned row names its policy in ``external_ids``. So it
keeps working whatever the enforcer does inside. Waiters are predicates over its indexes,
checked after every update: the time of the update that first made one true is when that
change was committed, as any other client of the NB would see it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from enforcer.ovsdb import NB_DB, OvsdbConnection

OWNER = "mnp.k8s.cni.cncf.io/owner"
POLICY = "mnp.k8s.cni.cncf.io/policy"
TABLES = ("Port_Group", "Address_Set", "ACL")
_MONITOR = "bench-observer"


def _atoms(value: Any) -> list[Any]:
    if isinstance(value, list) and value and value[0] == "set":
        return list(value[1])
    return [value]


def _key(atom: Any) -> Any:
    return atom[1] if isinstance(atom, list) and atom and atom[0] == "uuid" else atom


def _pairs(value: Any) -> dict[str, str]:
    if isinstance(value, list) and value and value[0] == "map":
        return {k: v for k, v in value[1]}
    return {}


@dataclass
class _Row:
    columns: dict[str, Any]

    def set_of(self, column: str) -> set[Any]:
        return {_key(a) for a in _atoms(self.columns.get(column, ["set", []]))}

    def policy(self) -> str:
        return _pairs(self.columns.get("external_ids")).get(POLICY, "")


# The set columns whose members the benchmark reads (and copies for the floor): an update2
# diff of these toggles elements. Other columns of these tables are scalars, optional
# scalars or maps.
_SET_COLUMNS = frozenset({"addresses", "ports", "acls"})


def _apply_diff(row: dict[str, Any], diff: dict[str, Any]) -> None:
    """update2 ``modify``: a set column toggles the given elements, a map column adds,
    replaces or (same value) removes pairs, any other column takes the new value."""
    for column, value in diff.items():
        old = row.get(column)
        if isinstance(value, list) and value and value[0] == "map":
            pairs = _pairs(old)
            for k, v in value[1]:
                if pairs.get(k) == v:
                    del pairs[k]
                else:
                    pairs[k] = v
            row[column] = ["map", [[k, v] for k, v in pairs.items()]]
        elif column in _SET_COLUMNS:
            have = {repr(a): a for a in _atoms(old)} if old is not None else {}
            for a in _atoms(value):
                if repr(a) in have:
                    del have[repr(a)]
                else:
                    have[repr(a)] = a
            row[column] = ["set", list(have.values())]
        else:
            row[column] = value


@dataclass
class _Waiter:
    predicate: Callable[[NbObserver], bool]
    done: threading.Event = field(default_factory=threading.Event)
    at: float = 0.0


class NbObserver:
    """The owned rows, indexed by address (ip -> address sets holding it), by switch port
    (uuid -> port groups holding it) and by policy (policy -> port groups)."""

    def __init__(self, remote: str) -> None:
        self.remote = remote
        self.rows: dict[str, dict[str, _Row]] = {t: {} for t in TABLES}
        self.sets_of_ip: dict[str, set[str]] = {}
        self.groups_of_port: dict[str, set[str]] = {}
        self.last_update = 0.0  # arrival of the last update that changed an owned row
        self.updates = 0
        self._lock = threading.Lock()
        self._waiters: list[_Waiter] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="nb-observer", daemon=True)

    def start(self) -> NbObserver:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError(f"the NB observer did not load from {self.remote}")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    # -- the connection ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            conn = OvsdbConnection(self.remote, timeout=600)
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        cond = [["external_ids", "includes", ["map", [[OWNER, "mnp"]]]]]
        requests = {t: [{"where": cond}] for t in TABLES}
        request_id = conn.new_id()
        conn.send_message(
            {"method": "monitor_cond", "params": [NB_DB, _MONITOR, requests], "id": request_id}
        )
        try:
            while not self._stop.is_set():
                msg = conn.buffered_message()
                if msg is None:
                    if conn.wait_readable(0.2):
                        conn.read_available()
                    continue
                at = time.monotonic()
                if msg.get("id") == request_id:
                    self._apply(msg.get("result") or {}, at, initial=True)
                    self._ready.set()
                elif msg.get("method") == "update2":
                    self._apply(msg["params"][1], at, initial=False)
                elif msg.get("method") == "echo":
                    conn.send_message(
                        {"result": msg.get("params", []), "error": None, "id": msg.get("id")}
                    )
        except BaseException as e:
            self._error = e
            self._ready.set()
        finally:
            conn.close()

    def _apply(self, updates: dict[str, Any], at: float, initial: bool) -> None:
        with self._lock:
            for table, rows in updates.items():
                for uuid, change in rows.items():
                    self._change(table, uuid, change)
            if updates:
                self.updates += 1
                self.last_update = at
            for waiter in list(self._waiters):
                if waiter.predicate(self):
                    waiter.at = at
                    waiter.done.set()
                    self._waiters.remove(waiter)

    def _change(self, table: str, uuid: str, change: dict[str, Any]) -> None:
        old = self.rows[table].get(uuid)
        if old is not None:
            self._unindex(table, uuid, old)
        if "delete" in change:
            self.rows[table].pop(uuid, None)
            return
        if "modify" in change and old is not None:
            _apply_diff(old.columns, change["modify"])
            row = old
        else:
            row = _Row(dict(change.get("initial") or change.get("insert") or {}))
        self.rows[table][uuid] = row
        self._index(table, uuid, row)

    def _index(self, table: str, uuid: str, row: _Row) -> None:
        if table == "Address_Set":
            for ip in row.set_of("addresses"):
                self.sets_of_ip.setdefault(ip, set()).add(uuid)
        elif table == "Port_Group":
            for port in row.set_of("ports"):
                self.groups_of_port.setdefault(port, set()).add(uuid)

    def _unindex(self, table: str, uuid: str, row: _Row) -> None:
        if table == "Address_Set":
            for ip in row.set_of("addresses"):
                self.sets_of_ip.get(ip, set()).discard(uuid)
        elif table == "Port_Group":
            for port in row.set_of("ports"):
                self.groups_of_port.get(port, set()).discard(uuid)

    # -- questions -------------------------------------------------------------------------

    def sets_holding(self, ip: str) -> set[str]:
        return set(self.sets_of_ip.get(ip, ()))

    def groups_holding(self, port_uuid: str) -> set[str]:
        return set(self.groups_of_port.get(port_uuid, ()))

    def policy_group_ready(self, policy: str) -> bool:
        """A port group of ``policy`` with switch ports and ACLs in it."""
        return any(
            row.policy() == policy and row.set_of("ports") and row.set_of("acls")
            for row in self.rows["Port_Group"].values()
        )

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {t: len(rows) for t, rows in self.rows.items()}

    def snapshot_rows(self) -> dict[str, dict[str, dict[str, Any]]]:
        """A copy of every owned row's columns (for the floor's copy of them)."""
        with self._lock:
            return {
                t: {u: dict(r.columns) for u, r in rows.items()} for t, rows in self.rows.items()
            }

    def policies_with_groups(self) -> set[str]:
        with self._lock:
            return {r.policy() for r in self.rows["Port_Group"].values() if r.policy()}

    def when(self, predicate: Callable[[NbObserver], bool]) -> _Waiter:
        """Register ``predicate`` (it must be false now: call before acting)."""
        waiter = _Waiter(predicate)
        with self._lock:
            if predicate(self):
                raise RuntimeError("the awaited NB change is already there before the action")
            self._waiters.append(waiter)
        return waiter

    def wait(self, waiter: _Waiter, timeout: float) -> float:
        """The arrival time of the update that made the waiter's predicate true."""
        if not waiter.done.wait(timeout):
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            raise TimeoutError(f"the NB change did not come within {timeout:.0f}s")
        return waiter.at

    def locked(self) -> threading.Lock:
        return self._lock
