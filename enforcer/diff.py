"""Compare the desired rows with the rows mnp owns in the NB and plan ONE transaction.

``read_state`` reads only rows carrying the owner marker (plus switch-port names);
``plan`` is pure: it yields the ops and the per-table counts. Rows without the marker
are never named in an op. An unchanged state plans no ops at all.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from enforcer.desired import KEY, OWNER, OWNER_VALUE, AclRow, DesiredState, PolicyStatus
from enforcer.ovsdb import (
    NB_DB,
    OvsdbConnection,
    map_value,
    ovsdb_map,
    ovsdb_set,
    set_values,
    uuid_values,
)

PG = "Port_Group"
AS = "Address_Set"
ACL = "ACL"
LSP = "Logical_Switch_Port"

_ACL_COLUMNS = [
    "name",
    "direction",
    "priority",
    "match",
    "action",
    "options",
    "external_ids",
    "log",
    "severity",
    "meter",
    "label",
]


@dataclass(frozen=True)
class ExistingAddressSet:
    uuid: str
    name: str
    addresses: frozenset[str]
    external_ids: dict[str, str]


@dataclass(frozen=True)
class ExistingPortGroup:
    uuid: str
    name: str
    ports: frozenset[str]  # LSP uuids
    acls: frozenset[str]  # ACL uuids
    external_ids: dict[str, str]


@dataclass(frozen=True)
class ExistingAcl:
    uuid: str
    columns: dict[str, Any]  # normalised as ``_acl_columns`` renders desired ACLs

    @property
    def key(self) -> str:
        return str(self.columns["external_ids"].get(KEY, ""))


@dataclass
class NbState:
    port_groups: list[ExistingPortGroup] = field(default_factory=list)
    address_sets: list[ExistingAddressSet] = field(default_factory=list)
    acls: dict[str, ExistingAcl] = field(default_factory=dict)  # uuid -> row
    lsp_uuids: dict[str, str] = field(default_factory=dict)  # LSP name -> uuid


@dataclass
class ReconcileResult:
    """What one reconcile wrote: counts per (table, op) where op is insert/update/delete."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    ops: int = 0
    transacted: bool = False
    missing_ports: tuple[str, ...] = ()  # desired LSPs not in the NB yet (picked up later)
    statuses: tuple[PolicyStatus, ...] = ()

    def count(self, table: str | None = None, op: str | None = None) -> int:
        return sum(
            n
            for (t, o), n in self.counts.items()
            if (table is None or t == table) and (op is None or o == op)
        )

    @property
    def rows_written(self) -> int:
        return self.count()

    def summary(self) -> str:
        if not self.counts:
            return "no changes"
        return ", ".join(f"{t} {o} {n}" for (t, o), n in sorted(self.counts.items()))


@dataclass
class Plan:
    ops: list[dict[str, Any]]
    result: ReconcileResult


def _owned() -> list[Any]:
    return [["external_ids", "includes", ovsdb_map({OWNER: OWNER_VALUE})]]


def _normalise_acl(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": set_values(row.get("name", ["set", []])),
        "direction": row.get("direction"),
        "priority": row.get("priority"),
        "match": row.get("match"),
        "action": row.get("action"),
        "options": map_value(row.get("options")),
        "external_ids": map_value(row.get("external_ids")),
        "log": row.get("log", False),
        "severity": set_values(row.get("severity", ["set", []])),
        "meter": set_values(row.get("meter", ["set", []])),
        "label": row.get("label", 0),
    }


def _acl_columns(acl: AclRow) -> dict[str, Any]:
    return {
        "name": [acl.name],
        "direction": acl.direction,
        "priority": acl.priority,
        "match": acl.match,
        "action": acl.action,
        "options": dict(acl.options),
        "external_ids": dict(acl.external_ids),
        "log": False,
        "severity": [],
        "meter": [],
        "label": 0,
    }


def _acl_row_json(cols: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": ovsdb_set(cols["name"]),
        "direction": cols["direction"],
        "priority": cols["priority"],
        "match": cols["match"],
        "action": cols["action"],
        "options": ovsdb_map(cols["options"]),
        "external_ids": ovsdb_map(cols["external_ids"]),
        "log": cols["log"],
        "severity": ovsdb_set(cols["severity"]),
        "meter": ovsdb_set(cols["meter"]),
        "label": cols["label"],
    }


def read_state(conn: OvsdbConnection) -> NbState:
    """The rows mnp owns, and every switch port's name, without a transaction."""
    dump = conn.dump(
        NB_DB,
        {
            PG: (_owned(), ["name", "ports", "acls", "external_ids"]),
            AS: (_owned(), ["name", "addresses", "external_ids"]),
            ACL: (_owned(), _ACL_COLUMNS),
            LSP: ([True], ["name"]),
        },
    )
    state = NbState()
    for uuid, row in dump[PG].items():
        state.port_groups.append(
            ExistingPortGroup(
                uuid,
                str(row.get("name", "")),
                frozenset(uuid_values(row.get("ports", ["set", []]))),
                frozenset(uuid_values(row.get("acls", ["set", []]))),
                map_value(row.get("external_ids")),
            )
        )
    for uuid, row in dump[AS].items():
        state.address_sets.append(
            ExistingAddressSet(
                uuid,
                str(row.get("name", "")),
                frozenset(str(a) for a in set_values(row.get("addresses", ["set", []]))),
                map_value(row.get("external_ids")),
            )
        )
    for uuid, row in dump[ACL].items():
        state.acls[uuid] = ExistingAcl(uuid, _normalise_acl(row))
    for uuid, row in dump[LSP].items():
        state.lsp_uuids[str(row.get("name", ""))] = uuid
    return state


def _where(uuid: str) -> list[Any]:
    return [["_uuid", "==", ["uuid", uuid]]]


def plan(desired: DesiredState, state: NbState) -> Plan:
    """The ops turning ``state`` into ``desired``; pure. Inserts come first so that later
    ops can reference them by ``uuid-name``."""
    inserts: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    counts: Counter[tuple[str, str]] = Counter()
    missing: set[str] = set()

    # -- address sets --
    as_by_key: dict[str, list[ExistingAddressSet]] = defaultdict(list)
    for a in sorted(state.address_sets, key=lambda a: a.uuid):
        as_by_key[a.external_ids.get(KEY, "")].append(a)
    for row in desired.address_sets:
        found = as_by_key.pop(row.key, [])
        cols = {"name": row.name, "external_ids": dict(row.external_ids)}
        if not found:
            inserts.append(
                {
                    "op": "insert",
                    "table": AS,
                    "row": {
                        "name": row.name,
                        "addresses": ovsdb_set(list(row.addresses)),
                        "external_ids": ovsdb_map(row.external_ids),
                    },
                }
            )
            counts[(AS, "insert")] += 1
            continue
        cur, extra = found[0], found[1:]
        update: dict[str, Any] = {}
        if cur.name != cols["name"]:
            update["name"] = row.name
        if cur.addresses != frozenset(row.addresses):
            update["addresses"] = ovsdb_set(list(row.addresses))
        if cur.external_ids != cols["external_ids"]:
            update["external_ids"] = ovsdb_map(row.external_ids)
        if update:
            changes.append({"op": "update", "table": AS, "where": _where(cur.uuid), "row": update})
            counts[(AS, "update")] += 1
        as_by_key[""].extend(extra)
    for stale in as_by_key.values():
        for a in stale:
            changes.append({"op": "delete", "table": AS, "where": _where(a.uuid)})
            counts[(AS, "delete")] += 1

    # -- ACLs: find or insert each desired ACL; its reference goes into its port group --
    acls_by_key: dict[str, list[ExistingAcl]] = defaultdict(list)
    for acl in sorted(state.acls.values(), key=lambda a: a.uuid):
        acls_by_key[acl.key].append(acl)
    acl_refs: dict[str, list[list[str]]] = defaultdict(list)  # PG key -> refs
    kept_acls: set[str] = set()
    for n, acl_row in enumerate(desired.acls):
        want = _acl_columns(acl_row)
        found_acls = acls_by_key.get(acl_row.key, [])
        if not found_acls:
            uuid_name = f"acl{n}"
            inserts.append(
                {"op": "insert", "table": ACL, "row": _acl_row_json(want), "uuid-name": uuid_name}
            )
            counts[(ACL, "insert")] += 1
            acl_refs[acl_row.port_group].append(["named-uuid", uuid_name])
            continue
        cur_acl = found_acls[0]
        kept_acls.add(cur_acl.uuid)
        want_json = _acl_row_json(want)
        acl_update = {c: want_json[c] for c in _ACL_COLUMNS if cur_acl.columns[c] != want[c]}
        if acl_update:
            changes.append(
                {"op": "update", "table": ACL, "where": _where(cur_acl.uuid), "row": acl_update}
            )
            counts[(ACL, "update")] += 1
        acl_refs[acl_row.port_group].append(["uuid", cur_acl.uuid])

    # -- port groups --
    pg_by_key: dict[str, list[ExistingPortGroup]] = defaultdict(list)
    for pg in sorted(state.port_groups, key=lambda p: p.uuid):
        pg_by_key[pg.external_ids.get(KEY, "")].append(pg)
    pg_ops: list[dict[str, Any]] = []
    for pg_row in desired.port_groups:
        port_uuids: list[str] = []
        for lsp in pg_row.ports:
            uuid = state.lsp_uuids.get(lsp)
            if uuid is None:
                missing.add(lsp)
            else:
                port_uuids.append(uuid)
        ports_json = ovsdb_set([["uuid", u] for u in sorted(port_uuids)])
        refs = acl_refs.pop(pg_row.key, [])
        acls_json = ovsdb_set(sorted(refs))
        found_pgs = pg_by_key.pop(pg_row.key, [])
        if not found_pgs:
            pg_ops.append(
                {
                    "op": "insert",
                    "table": PG,
                    "row": {
                        "name": pg_row.name,
                        "ports": ports_json,
                        "acls": acls_json,
                        "external_ids": ovsdb_map(pg_row.external_ids),
                    },
                }
            )
            counts[(PG, "insert")] += 1
            continue
        cur_pg, extra_pgs = found_pgs[0], found_pgs[1:]
        pg_update: dict[str, Any] = {}
        if cur_pg.name != pg_row.name:
            pg_update["name"] = pg_row.name
        if cur_pg.ports != frozenset(port_uuids):
            pg_update["ports"] = ports_json
        if any(r[0] == "named-uuid" for r in refs) or cur_pg.acls != frozenset(r[1] for r in refs):
            pg_update["acls"] = acls_json
        if cur_pg.external_ids != dict(pg_row.external_ids):
            pg_update["external_ids"] = ovsdb_map(pg_row.external_ids)
        if pg_update:
            changes.append(
                {"op": "update", "table": PG, "where": _where(cur_pg.uuid), "row": pg_update}
            )
            counts[(PG, "update")] += 1
        pg_by_key[""].extend(extra_pgs)
    if acl_refs:
        raise ValueError(f"ACLs reference port groups that are not desired: {sorted(acl_refs)}")
    for stale_pgs in pg_by_key.values():
        for pg in stale_pgs:
            changes.append({"op": "delete", "table": PG, "where": _where(pg.uuid)})
            counts[(PG, "delete")] += 1
    # ACLs are not root rows: dropping their last port-group reference deletes them.
    owned_refs = {u for pg in state.port_groups for u in pg.acls}
    gone = (owned_refs & set(state.acls)) - kept_acls
    if gone:
        counts[(ACL, "delete")] += len(gone)

    ops = inserts + pg_ops + changes
    result = ReconcileResult(
        counts=counts,
        ops=len(ops),
        missing_ports=tuple(sorted(missing)),
        statuses=desired.statuses,
    )
    return Plan(ops, result)
