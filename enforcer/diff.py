"""Compare the desired rows with the rows mnp owns in the NB and plan ONE transaction.

``read_state`` reads only rows carrying the owner marker (plus switch-port names) into the
same per-table models compile builds (``enforcer.desired``), with each row's id parsed
back from its ``external_ids``. ``plan`` is pure: one small builder per table appends its
ops to one op list (inserts first, so later ops can name them by ``uuid-name``), and it
yields the ops and the per-table counts. Rows without the marker are never named in an
op; owned rows of no known kind, and owned rows no longer desired, are deleted. An
unchanged state plans no ops at all. A changed set column that can be big (a port group's
``ports``, an address set's ``addresses``) is a ``mutate`` of the elements that differ, not
a rewrite of the whole set: the row counts once, as an update.

``plan(keep=...)`` is the fail-safe's hook (``enforcer.fail_safe``): the owned rows of those
policies, and the isolation of the pods in their port groups, are left as they are.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from operator import itemgetter
from typing import Any, Generic, TypeVar, cast

from enforcer.desired import AclRow, AddressSetRow, DesiredState, PolicyStatus, PortGroupRow
from enforcer.ovsdb import (
    NB_DB,
    OvsdbConnection,
    map_value,
    ovsdb_map,
    ovsdb_set,
    set_values,
    uuid_values,
)
from enforcer.row_ids import (
    OWNER,
    OWNER_VALUE,
    POLICY,
    DenyPortGroupId,
    PolicyPortGroupId,
    parse_acl_id,
    parse_address_set_id,
    parse_port_group_id,
)

PG = "Port_Group"
AS = "Address_Set"
ACL = "ACL"
LSP = "Logical_Switch_Port"

Row = TypeVar("Row", AclRow, AddressSetRow, PortGroupRow)


# Each model's NB columns: its fields but the identity (their names are OVN's).
_COLUMNS: dict[type[Any], list[str]] = {
    model: [f.name for f in fields(model) if f.name != "row_id"]
    for model in (AclRow, AddressSetRow, PortGroupRow)
}


@dataclass(frozen=True)
class NbRow(Generic[Row]):
    """An owned row as read from the NB: its uuid and its columns in the table's model."""

    uuid: str
    row: Row
    acls: frozenset[str] = frozenset()  # Port_Group only: the uuids of the ACLs it holds


@dataclass
class NbState:
    port_groups: list[NbRow[PortGroupRow]] = field(default_factory=list)
    address_sets: list[NbRow[AddressSetRow]] = field(default_factory=list)
    acls: dict[str, NbRow[AclRow]] = field(default_factory=dict)  # uuid -> row
    # LSP name -> uuid: every switch port, or (a keyed view) the names the plan looks up.
    lsp_uuids: dict[str, str] = field(default_factory=dict)


@dataclass
class ReconcileResult:
    """What one reconcile wrote: counts per (table, op) where op is insert/update/delete."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    ops: int = 0
    transacted: bool = False
    missing_ports: tuple[str, ...] = ()  # desired LSPs not in the NB yet (picked up later)
    statuses: tuple[PolicyStatus, ...] = ()
    held: tuple[str, ...] = ()  # kept policies whose owned rows were left untouched

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


# -- each model's wire format -----------------------------------------------------------------


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(map_value(value).items()))


def _optional(value: Any) -> str | None:
    """An optional (0..1) OVSDB column: absent and the empty set both read as None."""
    values = set_values(value if value is not None else ["set", []])
    return str(values[0]) if values else None


def _optional_json(value: str | None) -> list[Any]:
    return ovsdb_set([] if value is None else [value])


def address_set_from_nb(row: dict[str, Any]) -> AddressSetRow:
    ids = _pairs(row.get("external_ids"))
    row_id = parse_address_set_id(dict(ids))
    addresses = {str(a) for a in set_values(row.get("addresses", ["set", []]))}
    return AddressSetRow(str(row.get("name", "")), tuple(sorted(addresses)), ids, row_id)


def _address_set_json(row: AddressSetRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "addresses": ovsdb_set(list(row.addresses)),
        "external_ids": ovsdb_map(row.external_ids),
    }


def acl_from_nb(row: dict[str, Any]) -> AclRow:
    ids = _pairs(row.get("external_ids"))
    return AclRow(
        name=_optional(row.get("name")),
        direction=str(row.get("direction")),
        priority=int(row.get("priority", 0)),
        match=str(row.get("match")),
        action=str(row.get("action")),
        options=_pairs(row.get("options")),
        external_ids=ids,
        log=bool(row.get("log", False)),
        severity=_optional(row.get("severity")),
        meter=_optional(row.get("meter")),
        label=int(row.get("label", 0)),
        row_id=parse_acl_id(dict(ids)),
    )


def _acl_json(row: AclRow) -> dict[str, Any]:
    return {
        "name": _optional_json(row.name),
        "direction": row.direction,
        "priority": row.priority,
        "match": row.match,
        "action": row.action,
        "options": ovsdb_map(row.options),
        "external_ids": ovsdb_map(row.external_ids),
        "log": row.log,
        "severity": _optional_json(row.severity),
        "meter": _optional_json(row.meter),
        "label": row.label,
    }


def port_group_from_nb(
    uuid: str, row: dict[str, Any], lsp_names: dict[str, str]
) -> NbRow[PortGroupRow]:
    """Ports read back as switch-port names, as compile writes them (a uuid with no port
    of that name stays a uuid, so it differs and is rewritten)."""
    ids = _pairs(row.get("external_ids"))
    # In C (``map``), as deny groups hold thousands; every atom is a ["uuid", u] pair.
    uuids = list(map(itemgetter(1), set_values(row.get("ports", ["set", []]))))
    ports = sorted(cast("Iterable[str]", map(lsp_names.get, uuids, uuids)))  # name, or uuid
    columns = PortGroupRow(
        str(row.get("name", "")), tuple(ports), ids, parse_port_group_id(dict(ids))
    )
    return NbRow(uuid, columns, frozenset(uuid_values(row.get("acls", ["set", []]))))


def _port_group_json(
    row: PortGroupRow, lsp_uuids: dict[str, str], acls: list[list[str]]
) -> dict[str, Any]:
    return {
        "name": row.name,
        "ports": ovsdb_set([["uuid", u] for u in sorted(lsp_uuids[p] for p in row.ports)]),
        "acls": ovsdb_set(sorted(acls)),
        "external_ids": ovsdb_map(row.external_ids),
    }


def owned_condition() -> list[Any]:
    """The condition selecting the rows mnp owns (one clause on a map column)."""
    return [["external_ids", "includes", ovsdb_map({OWNER: OWNER_VALUE})]]


# What the enforcer reads of each table: owned rows only, and the switch ports' names.
READ_COLUMNS: dict[str, list[str]] = {
    PG: ["name", "ports", "acls", "external_ids"],
    AS: _COLUMNS[AddressSetRow],
    ACL: _COLUMNS[AclRow],
    LSP: ["name"],
}


def read_queries() -> dict[str, tuple[list[Any], list[str]]]:
    """Table -> (monitor condition, columns) of what ``plan`` needs."""
    owned = owned_condition()
    return {
        PG: (owned, READ_COLUMNS[PG]),
        AS: (owned, READ_COLUMNS[AS]),
        ACL: (owned, READ_COLUMNS[ACL]),
        LSP: ([True], READ_COLUMNS[LSP]),
    }


def read_state(conn: OvsdbConnection) -> NbState:
    """The rows mnp owns, and every switch port's name, without a transaction."""
    return state_from_rows(conn.dump(NB_DB, read_queries()))


def state_from_rows(rows: dict[str, dict[str, dict[str, Any]]]) -> NbState:
    """An ``NbState`` from table -> uuid -> row (as monitored)."""
    state = NbState()
    for uuid, row in rows[LSP].items():
        state.lsp_uuids[str(row.get("name", ""))] = uuid
    lsp_names = {u: n for n, u in state.lsp_uuids.items()}
    for uuid, row in rows[PG].items():
        state.port_groups.append(port_group_from_nb(uuid, row, lsp_names))
    for uuid, row in rows[AS].items():
        state.address_sets.append(NbRow(uuid, address_set_from_nb(row)))
    for uuid, row in rows[ACL].items():
        state.acls[uuid] = NbRow(uuid, acl_from_nb(row))
    return state


# -- the ops of one transaction ---------------------------------------------------------------


class _Ops:
    """Ops appended by the table builders: inserts first (so that any op may reference an
    inserted row by its ``uuid-name``), then updates and deletes in the order appended."""

    def __init__(self) -> None:
        self.inserts: list[dict[str, Any]] = []
        self.changes: list[dict[str, Any]] = []
        self.counts: Counter[tuple[str, str]] = Counter()

    def insert(self, table: str, row: dict[str, Any], uuid_name: str | None = None) -> None:
        op = {"op": "insert", "table": table, "row": row}
        if uuid_name is not None:
            op["uuid-name"] = uuid_name
        self.inserts.append(op)
        self.counts[(table, "insert")] += 1

    def update(
        self,
        table: str,
        uuid: str,
        row: dict[str, Any],
        mutations: Sequence[list[Any]] = (),
    ) -> None:
        """Only the changed columns, and a big set column as ``mutations`` of the elements
        that changed (one port leaving a deny group of thousands must not resend them
        all); one row written however many ops it takes, nothing when nothing changed."""
        where = _where(uuid)
        if row:
            self.changes.append({"op": "update", "table": table, "where": where, "row": row})
        if mutations:
            op = {"op": "mutate", "table": table, "where": where, "mutations": list(mutations)}
            self.changes.append(op)
        if row or mutations:
            self.counts[(table, "update")] += 1

    def delete(self, table: str, uuid: str) -> None:
        self.changes.append({"op": "delete", "table": table, "where": _where(uuid)})
        self.counts[(table, "delete")] += 1

    def all(self) -> list[dict[str, Any]]:
        return self.inserts + self.changes


def _where(uuid: str) -> list[Any]:
    return [["_uuid", "==", ["uuid", uuid]]]


def _set_mutations(column: str, current: Iterable[Any], wanted: Iterable[Any]) -> list[list[Any]]:
    """``delete`` the elements ``current`` has and ``wanted`` has not, ``insert`` the others:
    applied to ``current`` (the guard makes sure it still is), they give ``wanted``."""
    have, want = set(current), set(wanted)
    mutations: list[list[Any]] = []
    if gone := have - want:
        mutations.append([column, "delete", ovsdb_set(sorted(gone))])
    if new := want - have:
        mutations.append([column, "insert", ovsdb_set(sorted(new))])
    return mutations


def _port_mutations(held: frozenset[str], wanted: set[str], lsp_uuids: dict[str, str]) -> list[Any]:
    """``ports`` mutations from the names held to the names wanted: only the names that
    differ are looked up (a port the model could not name is held as its uuid, and stays
    one: ``port_group_from_nb``)."""
    mutations: list[Any] = []
    if gone := held - wanted:
        refs = sorted(["uuid", lsp_uuids.get(p, p)] for p in gone)
        mutations.append(["ports", "delete", ovsdb_set(refs)])
    if new := wanted - held:
        mutations.append(
            ["ports", "insert", ovsdb_set(sorted(["uuid", lsp_uuids[p]] for p in new))]
        )
    return mutations


def _changed(current: Row, wanted: Row) -> list[str]:
    """The columns of ``current`` that differ from ``wanted`` (identity aside)."""
    return [c for c in _COLUMNS[type(wanted)] if getattr(current, c) != getattr(wanted, c)]


def _pair(
    desired: Sequence[Row], existing: Iterable[NbRow[Row]]
) -> tuple[list[tuple[Row, NbRow[Row] | None]], list[NbRow[Row]]]:
    """Each desired row with the owned row of its id (the lowest uuid if several), and the
    owned rows left over: duplicates, rows no longer desired, rows of no known kind."""
    by_key: dict[str, list[NbRow[Row]]] = defaultdict(list)
    for nb in sorted(existing, key=lambda r: r.uuid):
        by_key[nb.row.key].append(nb)
    pairs: list[tuple[Row, NbRow[Row] | None]] = []
    leftover = by_key.pop("", [])  # owned, but of no kind this version builds
    for row in desired:
        found = by_key.pop(row.key, [])
        pairs.append((row, found[0] if found else None))
        leftover += found[1:]
    leftover += [nb for rows in by_key.values() for nb in rows]
    return pairs, sorted(leftover, key=lambda r: r.uuid)


# -- one builder per table --------------------------------------------------------------------


def _plan_address_sets(desired: DesiredState, state: NbState, ops: _Ops) -> None:
    pairs, stale = _pair(desired.address_sets, state.address_sets)
    for row, nb in pairs:
        if nb is None:
            ops.insert(AS, _address_set_json(row))
            continue
        changed = _changed(nb.row, row)
        mutations = []
        if "addresses" in changed:
            changed.remove("addresses")
            mutations = _set_mutations("addresses", nb.row.addresses, row.addresses)
        wire = _address_set_json(replace(row, addresses=())) if changed else {}
        ops.update(AS, nb.uuid, {c: wire[c] for c in changed}, mutations)
    for nb in stale:
        ops.delete(AS, nb.uuid)


def _plan_acls(desired: DesiredState, state: NbState, ops: _Ops) -> dict[str, list[list[str]]]:
    """Find or insert each desired ACL; returns, per port-group key, the references its
    ``acls`` must hold. ACLs are not root rows: an owned ACL no port group references any
    more is deleted by OVSDB, so it is only counted here."""
    refs: dict[str, list[list[str]]] = defaultdict(list)
    kept: set[str] = set()
    pairs, _ = _pair(desired.acls, state.acls.values())
    for n, (row, nb) in enumerate(pairs):
        if row.port_group is None:
            raise ValueError(f"a desired ACL has no id: {row}")
        group = refs[row.port_group.key]
        if nb is None:
            ops.insert(ACL, _acl_json(row), uuid_name=f"acl{n}")
            group.append(["named-uuid", f"acl{n}"])
            continue
        kept.add(nb.uuid)
        wire = _acl_json(row)
        ops.update(ACL, nb.uuid, {c: wire[c] for c in _changed(nb.row, row)})
        group.append(["uuid", nb.uuid])
    referenced = {u for pg in state.port_groups for u in pg.acls}
    gone = (referenced & set(state.acls)) - kept
    if gone:
        ops.counts[(ACL, "delete")] += len(gone)
    return refs


def _plan_port_groups(
    desired: DesiredState, state: NbState, refs: dict[str, list[list[str]]], ops: _Ops
) -> set[str]:
    """Port groups with their ports and ACL references; returns the desired switch ports
    not in the NB yet (left out now, picked up by a later reconcile)."""
    missing: set[str] = set()
    lsp_uuids = state.lsp_uuids
    pairs, stale = _pair(desired.port_groups, state.port_groups)
    for row, nb in pairs:
        held = frozenset(nb.row.ports) if nb is not None else frozenset()
        # A port the group holds exists (a weak reference); only the others are looked up.
        absent = set(row.ports).difference(held).difference(lsp_uuids)
        missing |= absent
        present = (
            replace(row, ports=tuple(p for p in row.ports if p not in absent)) if absent else row
        )
        acls = refs.pop(row.key, [])
        if nb is None:
            ops.insert(PG, _port_group_json(present, lsp_uuids, acls))
            continue
        changed = _changed(nb.row, present)
        mutations = []
        if "ports" in changed:
            changed.remove("ports")
            mutations = _port_mutations(held, set(present.ports), lsp_uuids)
        wire = _port_group_json(replace(present, ports=()), lsp_uuids, acls)
        update = {c: wire[c] for c in changed}
        if any(r[0] == "named-uuid" for r in acls) or nb.acls != {r[1] for r in acls}:
            update["acls"] = wire["acls"]
        ops.update(PG, nb.uuid, update, mutations)
    if refs:
        raise ValueError(f"ACLs reference port groups that are not desired: {sorted(refs)}")
    for nb in stale:
        ops.delete(PG, nb.uuid)
    return missing


def _policy_of(row: AclRow | AddressSetRow | PortGroupRow) -> str | None:
    return dict(row.external_ids).get(POLICY)


def _isolated_ports(state: NbState, held: set[str]) -> dict[tuple[str, str], set[str]]:
    """(network, namespace) -> the switch ports of the held policies' port groups."""
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for pg in state.port_groups:
        rid = pg.row.row_id
        if isinstance(rid, PolicyPortGroupId) and rid.scope.policy in held:
            out[(rid.scope.network, rid.scope.namespace)].update(pg.row.ports)
    return out


def _leave_untouched(
    desired: DesiredState, state: NbState, keep: frozenset[str]
) -> tuple[DesiredState, NbState, set[str]]:
    """Take the kept policies that own rows in the NB out of both sides, so no op names
    their rows; a deny port group keeps the ports of their port groups it holds now (kept
    whole, with its ACLs, when nothing else wants it). A kept policy whose rows allow
    nothing (port groups only) while rows of it are desired (its isolation) is not held:
    those rows isolate no less, and the desired ones follow pod changes."""
    allowing = {_policy_of(nb.row) for nb in state.acls.values()}
    allowing |= {_policy_of(nb.row) for nb in state.address_sets}
    wanted = {_policy_of(row) for row in desired.port_groups}
    held = {
        p
        for nb in state.port_groups
        if (p := _policy_of(nb.row)) in keep and (p in allowing or p not in wanted)
    }
    if not held:
        return desired, state, held
    ports = _isolated_ports(state, held)
    nb_deny = {
        nb.row.key: nb
        for nb in state.port_groups
        if isinstance(rid := nb.row.row_id, DenyPortGroupId)
        and (rid.network, rid.namespace) in ports
    }
    wanted_pgs: list[PortGroupRow] = []
    for row in desired.port_groups:
        if _policy_of(row) in held:
            continue
        nb = nb_deny.pop(row.key, None)
        if nb is not None and isinstance(rid := row.row_id, DenyPortGroupId):
            extra = set(nb.row.ports) & ports[(rid.network, rid.namespace)]
            row = replace(row, ports=tuple(sorted(set(row.ports) | extra)))
        wanted_pgs.append(row)
    untouched = [nb for nb in state.port_groups if _policy_of(nb.row) in held]
    untouched += nb_deny.values()  # deny groups only the held policies still need
    untouched_acls = {u for nb in untouched for u in nb.acls}
    skip = {nb.uuid for nb in untouched}
    desired = replace(
        desired,
        port_groups=tuple(wanted_pgs),
        address_sets=tuple(r for r in desired.address_sets if _policy_of(r) not in held),
        acls=tuple(r for r in desired.acls if _policy_of(r) not in held),
    )
    state = replace(
        state,
        port_groups=[nb for nb in state.port_groups if nb.uuid not in skip],
        address_sets=[nb for nb in state.address_sets if _policy_of(nb.row) not in held],
        acls={u: nb for u, nb in state.acls.items() if u not in untouched_acls},
    )
    return desired, state, held


def plan(desired: DesiredState, state: NbState, keep: frozenset[str] = frozenset()) -> Plan:
    """The ops turning ``state`` into ``desired``, leaving the owned rows of the ``keep``
    policies (``namespace/name``) as they are; pure."""
    desired, state, held = _leave_untouched(desired, state, keep)
    ops = _Ops()
    _plan_address_sets(desired, state, ops)
    refs = _plan_acls(desired, state, ops)
    missing = _plan_port_groups(desired, state, refs, ops)
    all_ops = ops.all()
    result = ReconcileResult(
        counts=ops.counts,
        ops=len(all_ops),
        missing_ports=tuple(sorted(missing)),
        statuses=desired.statuses,
        held=tuple(sorted(held)),
    )
    return Plan(all_ops, result)


def guarded_rows(ops: Iterable[dict[str, Any]], state: NbState) -> list[tuple[str, str]]:
    """(table, uuid) of each existing row the ``ops`` planned from ``state`` depend on: the
    transaction waits for each at the version the plan saw.

    Why that guard is enough: the plan is right as long as the rows it changes are as it saw
    them, so every row it updates, mutates or deletes is waited for (a change or a delete by
    anyone aborts the transaction, and the replan sees that change). Rows it inserts need
    no wait: a Port_Group's and an Address_Set's name derive from the row's key and are
    unique indexes of the NB schema, so a concurrent insert of the same row fails the commit
    (``constraint violation``, raised as OvsdbConflictError); an ACL is not a root row, it
    lives only while a port group's ``acls`` holds it, and each port group whose ``acls``
    the plan writes is inserted or waited for. An existing ACL a written ``acls`` takes
    from elsewhere (not held by that port group now) is waited for too: its loss would
    break the strong reference. Rows the plan does not write may change at any moment,
    before the commit or after it alike: the monitor reports it and a replan repairs it.
    Switch ports are never waited for (OVN-Kubernetes churns them): ``Port_Group.ports``
    is a weak reference, so the server drops a port that is gone."""
    held = {pg.uuid: pg.acls for pg in state.port_groups}
    rows: dict[tuple[str, str], None] = {}  # ordered, without duplicates
    for op in ops:
        kind, table = op["op"], op["table"]
        uuid = op["where"][0][2][1] if kind in ("update", "mutate", "delete") else None
        if uuid is not None:
            rows[(table, uuid)] = None
        acls = op.get("row", {}).get("acls") if table == PG else None
        if acls is not None:
            current = held.get(uuid, frozenset()) if uuid is not None else frozenset()
            for ref in set_values(acls):
                if ref[0] == "uuid" and ref[1] not in current:
                    rows[(ACL, ref[1])] = None
    return list(rows)


def desired_of_keys(desired: DesiredState) -> Callable[[Iterable[str]], DesiredState]:
    """``IncrementalCompiler.desired_for`` over a whole ``DesiredState`` (indexed once, when
    only that is at hand): the rows of the keys asked, every port group among them or
    holding an ACL among them with all its ACLs; all statuses."""
    port_groups = {pg.key: pg for pg in desired.port_groups}
    address_sets = {a.key: a for a in desired.address_sets}
    acls = {a.key: a for a in desired.acls}
    acls_of: dict[str, list[AclRow]] = defaultdict(list)
    for acl in desired.acls:
        if acl.port_group is not None:
            acls_of[acl.port_group.key].append(acl)

    def rows_of(keys: Iterable[str]) -> DesiredState:
        wanted = set(keys)
        groups = {k for k in wanted if k in port_groups}
        groups |= {
            acl.port_group.key
            for k in wanted
            if (acl := acls.get(k)) is not None and acl.port_group is not None
        }
        return replace(
            desired,
            port_groups=tuple(port_groups[g] for g in sorted(groups) if g in port_groups),
            address_sets=tuple(address_sets[k] for k in sorted(wanted) if k in address_sets),
            acls=tuple(a for g in sorted(groups) for a in acls_of.get(g, ())),
        )

    return rows_of


def rows_for_keys(
    desired: DesiredState, state: NbState, keys: Iterable[str]
) -> tuple[DesiredState, NbState]:
    """Desired and owned NB rows of ``keys`` only, so ``plan`` touches nothing else.

    A port group comes with all its ACLs, desired and held (its ``acls`` column is
    rewritten whole); an ACL brings its port group."""
    wanted = set(keys)
    acl_groups = {a.port_group.key for a in desired.acls if a.key in wanted and a.port_group}
    acl_groups |= {
        nb.row.port_group.key
        for nb in state.acls.values()
        if nb.row.key in wanted and nb.row.port_group is not None
    }
    groups = {pg.key for pg in desired.port_groups if pg.key in wanted} | acl_groups
    groups |= {nb.row.key for nb in state.port_groups if nb.row.key in wanted}
    nb_groups = [nb for nb in state.port_groups if nb.row.key in groups]
    held = {u for nb in nb_groups for u in nb.acls}
    sub_desired = replace(
        desired,
        port_groups=tuple(pg for pg in desired.port_groups if pg.key in groups),
        address_sets=tuple(a for a in desired.address_sets if a.key in wanted),
        acls=tuple(
            a for a in desired.acls if a.port_group is not None and a.port_group.key in groups
        ),
    )
    sub_state = NbState(
        port_groups=nb_groups,
        address_sets=[nb for nb in state.address_sets if nb.row.key in wanted],
        acls={
            u: nb
            for u, nb in state.acls.items()
            if u in held or (nb.row.port_group is not None and nb.row.port_group.key in groups)
        },
        lsp_uuids=state.lsp_uuids,
    )
    return sub_desired, sub_state
