"""A live replica of what the enforcer reads from the OVN Northbound database.

One long-lived connection holds one ``monitor_cond_since`` on the rows ``plan`` needs: the
owned rows of Port_Group, Address_Set and ACL (condition ``external_ids`` includes the owner
marker: a condition on a map column works in ovsdb-server's monitors) and the ``name`` of
every Logical_Switch_Port. Update notifications (``update3``) keep it current, each changed
row rebuilt into its ``NbState`` model on arrival, so a reconcile plans without reading
anything from the server. A second monitor, on the ``_Server`` database, tells when the
member it is connected to stops being the RAFT leader or loses its cluster; then, and when
the connection is lost or the server is silent past the timeout (``echo`` probes keep an
idle connection honest), it reconnects with jittered backoff, preferring the leader, and
resumes from the last transaction id it saw, so a reconnect to the same member is only the
changes missed. A follower taken while the cluster had no leader is left for the leader as
soon as one answers.

Why the project's own client and not ``ovs.db.idl`` (``bench/bench_nb_client.py``, 1,000
policies / 5,000 pods, BENCHMARKS.md): the initial load took the IDL 12.7 s against 1.4 s
(the floor, one ``monitor_cond`` parsed by the standard library, 0.48 s): the ``ovs`` wheel's
JSON parser is pure Python, and that load is paid on every connection and failover. A small
update was seen after 15 ms against 10 ms, both a few ms above the writer's own commit. The
IDL's other gifts (failover, leader preference, conditions, ``verify``) were already in this
client or are a few lines on top of it.

Row versions (``_version``) are each member's own in a RAFT cluster (the same row has a
different one on every member), and writes are guarded by them: so the replica resumes from
its last transaction id only on the member it left, and loads in full on another.

Why every switch port's ``name`` and not a condition on OVN-Kubernetes' ``k8s.ovn.org/network``
external id: the enforcer finds ports by name, ports created without that id (the default
network, other tools) would be invisible, and the name column of 5,000 ports costs 0.15 s
once per connection (a third of the floor); its updates are sent only when a port is added,
renamed or removed, not when the columns OVN-Kubernetes churns (``up``, ``addresses``) change.

One thread owns the socket: it reads, applies updates, answers probes, and sends the
transactions other threads queue (``transact``), so TLS is never used from two threads.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from enforcer.desired import AclRow, AddressSetRow, DesiredState, PortGroupRow
from enforcer.diff import (
    ACL,
    AS,
    LSP,
    PG,
    NbRow,
    NbState,
    acl_from_nb,
    address_set_from_nb,
    guarded_rows,
    port_group_from_nb,
    read_queries,
)
from enforcer.ovsdb import (
    IO_TIMEOUT_S,
    NB_DB,
    DatabaseStatus,
    OvsdbConnection,
    OvsdbConnectionError,
    OvsdbError,
    SslFiles,
    checked_results,
    connect,
    map_value,
    set_values,
    uuid_values,
)

__all__ = ["NbReplica", "ReplicaView"]

log = logging.getLogger("mnp.enforcer.nb_replica")

OWNED_TABLES = (PG, AS, ACL)
_MONITOR_ID = "mnp-nb-replica"
_SERVER_MONITOR_ID = "mnp-server"
_NO_TXN = "00000000-0000-0000-0000-000000000000"
_MAX_PROBE_S = 5.0
_RETRY_S = 0.25
_MAX_RETRY_S = 10.0
_LEADER_RECHECK_S = 2.0


class ReplicaNotSyncedError(OvsdbConnectionError):
    """The replica has no current copy: it is (re)connecting."""


@dataclass(frozen=True)
class ReplicaView:
    """The replica as of one moment: the state to plan from (all owned rows, or those of
    some keys), each of its rows' ``_version``, and the replica's generation."""

    state: NbState
    versions: dict[str, dict[str, Any]]  # table -> uuid -> _version
    generation: int

    def guard(self, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``wait`` ops for a plan's ``ops``: each row they depend on (``guarded_rows`` says
        which, and why that is enough) must still be at the version this view saw; any
        other owned row may change meanwhile without aborting the transaction."""
        return [
            {
                "op": "wait",
                "table": table,
                "timeout": 0,
                "where": [["_uuid", "==", ["uuid", uuid]]],
                "columns": ["_version"],
                "until": "==",
                "rows": [{"_version": self.versions[table][uuid]}],
            }
            for table, uuid in guarded_rows(ops, self.state)
        ]


@dataclass
class _Request:
    method: str
    params: list[Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: OvsdbError | None = None


@dataclass
class _ColumnKind:
    """How a column's ``update2`` diff applies: a column of at most one value (scalar or
    optional) takes the diff as its new value; a set toggles the diff's elements; a map adds,
    changes or (same value) removes the diff's pairs."""

    is_set: bool
    is_map: bool


def _column_kinds(schema: dict[str, Any], table: str) -> dict[str, _ColumnKind]:
    kinds: dict[str, _ColumnKind] = {}
    for name, column in schema["tables"][table]["columns"].items():
        kind = column["type"]
        many = isinstance(kind, dict) and kind.get("max", 1) != 1
        kinds[name] = _ColumnKind(many, many and "value" in kind)
    return kinds


def _toggled(old: list[Any], change: list[Any]) -> list[Any]:
    """``old`` with the elements of ``change`` it has removed and the others added. Atoms of
    one column are all of one kind (``["uuid", u]`` pairs, or scalars), so the membership
    index is built in C (``map``): a deny group of thousands of ports that gains one port
    costs one C pass over them, not a Python step per port."""
    if not change:
        return list(old)
    pairs = isinstance(change[0], list)
    present = set(map(itemgetter(1), old)) if pairs else set(old)
    flip = {c[1] if pairs else c for c in change}
    gone = flip & present
    added = [c for c in change if (c[1] if pairs else c) not in gone]
    if not gone:
        return [*old, *added]
    kept = [a for a in old if (a[1] if pairs else a) not in gone]
    return [*kept, *added]


def apply_row_diff(
    kinds: dict[str, _ColumnKind], row: dict[str, Any], diff: dict[str, Any]
) -> dict[str, Any]:
    """``row`` with an ``update2`` ``modify`` applied (ovsdb-server's extension of RFC 7047,
    as ``ovs.db.data.Datum.diff`` reads it)."""
    out = dict(row)
    for column, change in diff.items():
        kind = kinds.get(column, _ColumnKind(False, False))
        if kind.is_map:
            pairs = map_value(out.get(column))
            for key, value in map_value(change).items():
                if pairs.get(key) == value:
                    del pairs[key]
                else:
                    pairs[key] = value
            out[column] = ["map", [[k, v] for k, v in pairs.items()]]
        elif kind.is_set:
            old = set_values(out.get(column, ["set", []]))
            out[column] = ["set", _toggled(old, set_values(change))]
        else:
            out[column] = change
    return out


class _Tables:
    """The monitored rows as received and as the models ``plan`` takes, rebuilt per row, with
    each owned row indexed by its key (and each ACL by its port group's), so the rows of a
    few keys are found without a scan (``keyed``)."""

    def __init__(self) -> None:
        self.raw: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in (*OWNED_TABLES, LSP)}
        self.port_groups: dict[str, NbRow[PortGroupRow]] = {}
        self.address_sets: dict[str, NbRow[AddressSetRow]] = {}
        self.acls: dict[str, NbRow[AclRow]] = {}
        self.lsp_names: dict[str, str] = {}  # uuid -> name
        self.lsp_uuids: dict[str, str] = {}  # name -> uuid
        # Keys of the owned rows whose model changed (before and after) since last taken.
        self.changed_keys: set[str] = set()
        self._models: dict[str, dict[str, Any]] = {
            PG: self.port_groups,
            AS: self.address_sets,
            ACL: self.acls,
        }
        # table -> row key -> uuids (several when duplicated); port-group key -> ACL uuids.
        self.by_key: dict[str, dict[str, set[str]]] = {t: defaultdict(set) for t in OWNED_TABLES}
        self.acls_of_group: dict[str, set[str]] = defaultdict(set)

    def apply(
        self, kinds: dict[str, dict[str, _ColumnKind]], updates: dict[str, Any]
    ) -> tuple[bool, set[str]]:
        """Apply one ``table-updates2``; says whether owned rows changed and which switch
        port names appeared."""
        touched: list[tuple[str, str]] = []
        for table, rows in updates.items():
            if table not in self.raw:
                continue
            raw = self.raw[table]
            for uuid, change in rows.items():
                if "initial" in change or "insert" in change:
                    raw[uuid] = change.get("initial") or change.get("insert") or {}
                elif "modify" in change:
                    raw[uuid] = apply_row_diff(kinds[table], raw.get(uuid, {}), change["modify"])
                else:
                    raw.pop(uuid, None)
                touched.append((table, uuid))
        new_ports: set[str] = set()
        changed_ports = {uuid for table, uuid in touched if table == LSP}
        for uuid in changed_ports:
            name = self._port(uuid, self.raw[LSP].get(uuid))
            if name is not None:
                new_ports.add(name)
        owned = {(table, uuid) for table, uuid in touched if table != LSP}
        if changed_ports:
            # Port groups hold ports by uuid; the model holds them by name.
            owned |= {
                (PG, uuid)
                for uuid, row in self.raw[PG].items()
                if changed_ports.intersection(uuid_values(row.get("ports", ["set", []])))
            }
        for table, uuid in owned:
            self._model(table, uuid, self.raw[table].get(uuid))
        return any(t != LSP for t, _ in touched), new_ports

    def _port(self, uuid: str, row: dict[str, Any] | None) -> str | None:
        """Index one switch port; returns its name when it is new or renamed."""
        old = self.lsp_names.pop(uuid, None)
        if old is not None and self.lsp_uuids.get(old) == uuid:
            del self.lsp_uuids[old]
        if row is None:
            return None
        name = str(row.get("name", ""))
        self.lsp_names[uuid] = name
        self.lsp_uuids[name] = uuid
        return name if name != old else None

    def _model(self, table: str, uuid: str, row: dict[str, Any] | None) -> None:
        models = self._models[table]
        old = models.pop(uuid, None)
        if old is not None:
            self._index(table, old, add=False)
            self.changed_keys.add(old.row.key)
        if row is None:
            return
        new: NbRow[Any]
        if table == PG:
            new = port_group_from_nb(uuid, row, self.lsp_names)
        elif table == AS:
            new = NbRow(uuid, address_set_from_nb(row))
        else:
            new = NbRow(uuid, acl_from_nb(row))
        models[uuid] = new
        self._index(table, new, add=True)
        self.changed_keys.add(new.row.key)

    def _index(self, table: str, nb: NbRow[Any], add: bool) -> None:
        entries = [(self.by_key[table], nb.row.key)]
        if table == ACL and nb.row.port_group is not None:
            entries.append((self.acls_of_group, nb.row.port_group.key))
        for index, key in entries:
            if add:
                index[key].add(nb.uuid)
                continue
            uuids = index[key]
            uuids.discard(nb.uuid)
            if not uuids:
                del index[key]

    def scope(self, keys: Iterable[str]) -> frozenset[str]:
        """``keys`` and the keys of the port groups their owned ACLs are in: an ACL gone from
        the desired rows still has its port group, whose ``acls`` is rewritten whole."""
        wanted = set(keys)
        for key in list(wanted):
            for uuid in self.by_key[ACL].get(key, ()):
                group = self.acls[uuid].row.port_group
                if group is not None:
                    wanted.add(group.key)
        return frozenset(wanted)

    def keyed(
        self, keys: frozenset[str], desired: DesiredState
    ) -> tuple[NbState, dict[str, dict[str, Any]]]:
        """The owned rows of ``keys`` (``diff.rows_for_keys``'s state side, found through the
        indexes: a port group with every ACL it holds or that is of it), the switch ports
        ``plan`` looks up for the ``desired`` port groups, and those rows' versions."""
        pg_keys, as_keys = self.by_key[PG], self.by_key[AS]
        groups = {pg.key for pg in desired.port_groups} | {k for k in keys if k in pg_keys}
        pgs = [self.port_groups[u] for g in sorted(groups) for u in pg_keys.get(g, ())]
        acl_uuids = {u for pg in pgs for u in pg.acls}
        acl_uuids.update(u for g in groups for u in self.acls_of_group.get(g, ()))
        acls = {u: self.acls[u] for u in sorted(acl_uuids) if u in self.acls}
        ases = [self.address_sets[u] for k in sorted(keys) for u in as_keys.get(k, ())]
        lsp_uuids = {n: u for n in self._ports_to_look_up(desired) if (u := self.lsp_uuids.get(n))}
        state = NbState(port_groups=pgs, address_sets=ases, acls=acls, lsp_uuids=lsp_uuids)
        raw = self.raw
        versions = {
            PG: {nb.uuid: raw[PG][nb.uuid].get("_version") for nb in pgs},
            AS: {nb.uuid: raw[AS][nb.uuid].get("_version") for nb in ases},
            ACL: {u: raw[ACL][u].get("_version") for u in acls},
        }
        return state, versions

    def _ports_to_look_up(self, desired: DesiredState) -> set[str]:
        """The switch-port names ``plan`` looks up for ``desired``'s port groups: all of a
        group not in the NB, else only the names it holds or wants but not both (a deny
        group of thousands of ports gains or loses one: one name, not thousands)."""
        names: set[str] = set()
        for pg in desired.port_groups:
            uuids = self.by_key[PG].get(pg.key)
            if not uuids:
                names.update(pg.ports)
                continue
            wanted = set(pg.ports)
            for uuid in uuids:
                names |= wanted.symmetric_difference(self.port_groups[uuid].row.ports)
        return names

    def state(self) -> NbState:
        return NbState(
            port_groups=list(self.port_groups.values()),
            address_sets=list(self.address_sets.values()),
            acls=dict(self.acls),
            lsp_uuids=dict(self.lsp_uuids),
        )

    def versions(self) -> dict[str, dict[str, Any]]:
        return {t: {u: r.get("_version") for u, r in self.raw[t].items()} for t in OWNED_TABLES}


def _backoff(failures: int) -> float:
    """Jittered exponential backoff, so many enforcers do not reconnect in step."""
    delay: float = min(_MAX_RETRY_S, _RETRY_S * 2.0 ** max(0, failures - 1))
    return delay * random.uniform(0.5, 1.0)


class NbReplica:
    """The NB rows ``plan`` reads, kept current by a monitor on one long-lived connection.

    ``on_owned_change`` is called (on the replica's thread) after an update to an owned row,
    and after every resync: whoever caused it, a replan tells whether anything must be
    written. It is also called when a switch port named in ``watch_ports`` appears.
    """

    def __init__(
        self,
        remote: str,
        ssl: SslFiles | None = None,
        timeout: float = IO_TIMEOUT_S,
        on_owned_change: Callable[[], None] | None = None,
    ) -> None:
        self.remote = remote
        self.ssl = ssl
        self.timeout = timeout
        self.probe_interval = min(_MAX_PROBE_S, timeout / 2)
        self.on_owned_change = on_owned_change
        self.connected_to: str | None = None
        self.requests_sent = 0  # requests other threads made (transactions), for tests
        self._cond = threading.Condition()
        self._tables = _Tables()
        self._kinds: dict[str, dict[str, _ColumnKind]] = {}
        self._generation = 0
        self._synced = False
        # Loaded (again) since ``take_changed_keys`` last asked.
        self._plan_everything = True
        self._error = "not connected yet"
        self._last_txn = _NO_TXN
        self._watched_ports: set[str] = set()
        self._appeared_ports: set[str] = set()
        self._outbox: list[_Request] = []
        self._in_flight: dict[int, _Request] = {}
        self._on_follower = False
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name="nb-replica", daemon=True)

    # -- the reconciler's side ----------------------------------------------------------------

    def start(self) -> NbReplica:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake()
        self._thread.join(timeout=self.timeout + 5)
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> NbReplica:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def generation(self) -> int:
        """Bumped by every applied update, every resync and every lost connection."""
        with self._cond:
            return self._generation

    @property
    def synced(self) -> bool:
        """Whether the replica is a current copy (connected and loaded)."""
        with self._cond:
            return self._synced

    def view(self, timeout: float | None = None) -> ReplicaView:
        """The current state, waiting up to ``timeout`` (default: the I/O timeout) for a
        replica that is (re)connecting; ReplicaNotSyncedError if it does not make it."""
        with self._cond:
            self._wait_synced(timeout)
            return ReplicaView(self._tables.state(), self._tables.versions(), self._generation)

    def view_of_keys(
        self,
        keys: Iterable[str],
        desired_for: Callable[[frozenset[str]], DesiredState],
        timeout: float | None = None,
    ) -> tuple[DesiredState, ReplicaView]:
        """The desired rows and a view of the owned rows of ``keys`` only, in time of those
        rows (no copy of the replica): what ``plan`` needs for one event. ``desired_for``
        (``IncrementalCompiler.desired_for``) is asked for ``keys`` plus the port groups of
        their owned ACLs, so an ACL no longer desired comes with its port group on both
        sides. The view's port groups are the desired ones and those the keys name: an
        owned ACL of a key put into another port group since (by another writer) is left
        for the replan its monitor update brings."""
        with self._cond:
            self._wait_synced(timeout)
            scope = self._tables.scope(keys)
        desired = desired_for(scope)
        with self._cond:
            self._wait_synced(timeout)
            state, versions = self._tables.keyed(scope, desired)
            return desired, ReplicaView(state, versions, self._generation)

    def owned_keys(self) -> frozenset[str]:
        """The key of every owned row held (a resync's sweep visits the strays too)."""
        with self._cond:
            return frozenset(key for index in self._tables.by_key.values() for key in index)

    def _wait_synced(self, timeout: float | None) -> None:
        """(Holding ``_cond``.) Wait for a current copy, or raise ReplicaNotSyncedError."""
        if not self._cond.wait_for(
            lambda: self._synced or self._stop.is_set(),
            timeout=self.timeout if timeout is None else timeout,
        ):
            raise ReplicaNotSyncedError(f"no current copy of the NB: {self._error}")
        if self._stop.is_set():
            raise ReplicaNotSyncedError("the NB replica is stopped")

    def wait_past(self, generation: int, timeout: float) -> bool:
        """Wait until an update newer than ``generation`` is applied; whether one was."""
        with self._cond:
            return self._cond.wait_for(lambda: self._generation > generation, timeout=timeout)

    def take_changed_keys(self) -> frozenset[str] | None:
        """The keys of the owned rows that changed since the last call (whoever changed
        them: the echo of a write, drift), or None when the replica was loaded again since
        (every row may have changed)."""
        with self._cond:
            keys, self._tables.changed_keys = self._tables.changed_keys, set()
            everything, self._plan_everything = self._plan_everything, False
        return None if everything else frozenset(keys)

    def watch_ports(self, names: Iterable[str]) -> None:
        """Call ``on_owned_change`` when a switch port of one of these names appears (the
        ports a plan left out because OVN-Kubernetes had not created them yet); added to
        the ports watched already, until each appears (``take_appeared_ports``)."""
        with self._cond:
            self._watched_ports |= set(names)

    def take_appeared_ports(self) -> frozenset[str]:
        """The watched switch ports that appeared since the last call (no longer watched)."""
        with self._cond:
            appeared, self._appeared_ports = self._appeared_ports, set()
        return frozenset(appeared)

    def transact(self, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One transaction on the replica's connection, checked as ``OvsdbConnection``'s."""
        request = _Request("transact", [NB_DB, *ops])
        with self._cond:
            if not self._synced:
                raise ReplicaNotSyncedError(f"no connection to the NB: {self._error}")
            self._outbox.append(request)
        self._wake()
        if not request.done.wait(self.timeout):
            raise OvsdbConnectionError(
                f"{self.connected_to}: transact timed out: no answer within {self.timeout:g}s"
            )
        if request.error is not None:
            raise request.error
        return checked_results(self.connected_to or self.remote, ops, request.result)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    # -- the replica's thread -----------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                conn: OvsdbConnection | None = connect(self.remote, self.ssl, timeout=self.timeout)
            except OvsdbError as e:
                failures += 1
                self._lost(str(e), failures)
                self._stop.wait(_backoff(failures))
                continue
            while conn is not None:
                try:
                    self._sync(conn)
                    failures = 0
                    leader = self._serve(conn)
                except Exception as e:  # a bad message must not end the replica's thread
                    if not isinstance(e, OvsdbError):
                        log.exception("NB replica failed on %s; reconnecting", conn.remote)
                    failures += 1
                    self._lost(str(e), failures)
                    if failures > 1:
                        self._stop.wait(_backoff(failures))
                    leader = None
                finally:
                    conn.close()
                conn = leader
        self._lost("the NB replica is stopped", 0)

    def _lost(self, error: str, failures: int) -> None:
        with self._cond:
            was_synced = self._synced
            self._synced = False
            self._generation += 1
            self._error = error
            pending = [*self._outbox, *self._in_flight.values()]
            self._outbox.clear()
            self._in_flight.clear()
            self._cond.notify_all()
        for request in pending:
            request.error = OvsdbConnectionError(error)
            request.done.set()
        if self._stop.is_set():
            log.debug("NB replica stopped")
        elif was_synced:
            log.warning("lost the NB connection (%s); reconnecting", error)
        elif failures == 1:
            log.warning("cannot reach the NB (%s); retrying with backoff", error)
        else:
            log.debug("NB still unreachable (%s)", error)

    def _sync(self, conn: OvsdbConnection) -> None:
        """Monitor ``_Server`` and the NB; load the NB's rows or the changes since the last
        transaction id seen."""
        server = conn.call(
            "monitor_cond",
            [
                "_Server",
                _SERVER_MONITOR_ID,
                {
                    "Database": {
                        "columns": ["name", "model", "leader", "connected"],
                        "where": [["name", "==", NB_DB]],
                    }
                },
            ],
        )
        self._server_row: dict[str, Any] = {}
        self._server_remote = conn.remote
        self._leader_at_connect = False
        self._check_server(server or {})
        self._leader_at_connect = self._server_row.get("leader") is True
        self._on_follower = (
            self._server_row.get("model") == "clustered" and not self._leader_at_connect
        )
        schema = conn.call("get_schema", [NB_DB])
        self._kinds = {t: _column_kinds(schema, t) for t in (*OWNED_TABLES, LSP)}
        requests: dict[str, Any] = {}
        for table, (where, columns) in read_queries().items():
            cols = [*columns, "_version"] if table in OWNED_TABLES else columns
            requests[table] = {"columns": cols, "where": where}
        # ``_version`` is each member's own (the same row has another on every member of a
        # cluster), and the guard needs the versions of the member written to: resume from
        # the last transaction only on the member that was left.
        since = self._last_txn if conn.remote == self.connected_to else _NO_TXN
        started = time.perf_counter()
        found, last_txn, updates = conn.call(
            "monitor_cond_since",
            [NB_DB, _MONITOR_ID, requests, since],
            notification=lambda msg: self._dispatch(conn, msg),
        )
        with self._cond:
            if not found:
                self._tables = _Tables()
            self._tables.apply(self._kinds, updates or {})
            self._last_txn = last_txn
            self._synced = True
            self._plan_everything = True
            self._generation += 1
            self.connected_to = conn.remote
            rows = sum(len(r) for r in self._tables.raw.values())
            self._cond.notify_all()
        log.info(
            "NB replica in sync with %s: %d rows (%s) in %.3fs",
            conn.remote,
            rows,
            "changes since the last transaction seen" if found else "full load",
            time.perf_counter() - started,
        )
        self._notify()

    def _serve(self, conn: OvsdbConnection) -> OvsdbConnection | None:
        """Read and apply until stopped (returns None) or the connection fails (raises).
        On a follower (chosen while the cluster had no leader), look for the leader every
        few seconds and return a connection to it when there is one."""
        probing = False
        leader_check = time.monotonic() + _LEADER_RECHECK_S
        while not self._stop.is_set():
            msg = conn.buffered_message()
            if msg is not None:
                probing = False
                self._dispatch(conn, msg)
                continue
            self._send_queued(conn)
            if conn.wait_readable(self.probe_interval, self._wake_r):
                conn.read_available()
                continue
            with contextlib.suppress(BlockingIOError, OSError):
                self._wake_r.recv(4096, socket.MSG_DONTWAIT)
            idle = time.monotonic() - conn.last_received
            if idle >= self.timeout:
                raise OvsdbConnectionError(
                    f"{conn.remote}: timed out: nothing received for {self.timeout:g}s "
                    "(--ovn-nb-timeout), not even an answer to an echo probe"
                )
            if idle >= self.probe_interval and not probing:
                conn.send_message({"method": "echo", "params": ["mnp"], "id": "mnp-probe"})
                probing = True
            if self._on_follower and time.monotonic() >= leader_check:
                leader_check = time.monotonic() + _LEADER_RECHECK_S
                leader = self._leader_elsewhere(conn.remote)
                if leader is not None:
                    return leader
        return None

    def _leader_elsewhere(self, current: str) -> OvsdbConnection | None:
        """A connection to the cluster's leader if it is another member and nothing is in
        flight here (the replica then resyncs there from its last transaction id)."""
        with self._cond:
            if self._outbox or self._in_flight:
                return None
        try:
            candidate = connect(self.remote, self.ssl, timeout=self.timeout, election_wait=0)
            status = candidate.database_status(NB_DB)
        except OvsdbError:
            return None
        if candidate.remote == current or not status.leader:
            candidate.close()
            return None
        log.info("moving the NB replica from follower %s to leader %s", current, candidate.remote)
        with self._cond:
            self._synced = False
            self._generation += 1
        return candidate

    def _send_queued(self, conn: OvsdbConnection) -> None:
        with self._cond:
            queued, self._outbox = self._outbox, []
        for request in queued:
            req_id = conn.new_id()
            with self._cond:
                self._in_flight[req_id] = request
                self.requests_sent += 1
            conn.send_message({"method": request.method, "params": request.params, "id": req_id})

    def _dispatch(self, conn: OvsdbConnection, msg: dict[str, Any]) -> None:
        method = msg.get("method")
        if method == "echo":
            conn.send_message({"result": msg.get("params", []), "error": None, "id": msg.get("id")})
        elif method == "update3":
            _, last_txn, updates = msg["params"]
            self._apply(updates, last_txn)
        elif method == "update2" and msg["params"][0] == _SERVER_MONITOR_ID:
            self._check_server(msg["params"][1])
        elif method == "monitor_canceled":
            raise OvsdbConnectionError(f"{conn.remote}: the server cancelled the monitor")
        elif method is None:
            with self._cond:
                request = self._in_flight.pop(msg["id"], None) if "id" in msg else None
            if request is not None:
                if msg.get("error") is not None:
                    request.error = OvsdbError(
                        f"{conn.remote}: {request.method} failed: {msg['error']}"
                    )
                request.result = msg.get("result")
                request.done.set()

    def _apply(self, updates: dict[str, Any], last_txn: str) -> None:
        with self._cond:
            owned, new_ports = self._tables.apply(self._kinds, updates)
            self._last_txn = last_txn
            self._generation += 1
            appeared = new_ports & self._watched_ports
            self._watched_ports -= appeared
            self._appeared_ports |= appeared
            wanted = bool(appeared)
            self._cond.notify_all()
        if owned or wanted:
            self._notify()

    def _check_server(self, updates: dict[str, Any]) -> None:
        """Leave a member that lost its cluster, or a leader that stepped down (``connect``
        then finds the new leader)."""
        for change in updates.get("Database", {}).values():
            row = change.get("initial") or change.get("insert") or change.get("modify") or {}
            self._server_row.update(row)
        status = DatabaseStatus(
            str(self._server_row.get("model", "standalone")),
            self._server_row.get("leader") is True,
            self._server_row.get("connected") is True,
        )
        if status.model != "clustered":
            return
        if not status.connected:
            raise OvsdbConnectionError(f"{self._server_remote}: lost its cluster (no quorum)")
        if self._leader_at_connect and not status.leader:
            raise OvsdbConnectionError(f"{self._server_remote}: is no longer the cluster leader")

    def _notify(self) -> None:
        if self.on_owned_change is not None:
            try:
                self.on_owned_change()
            except Exception:
                log.exception("on_owned_change failed")
