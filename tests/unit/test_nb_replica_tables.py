"""The replica's incremental indexes (enforcer/nb_replica.py ``_Tables``) equal a full build of
the same rows (``enforcer.diff.state_from_rows``, what a fresh read makes) after every update
of a random sequence: inserts, modifies and deletes of port groups and switch ports, switch
ports renamed under port groups that hold them, address sets and ACLs coming and going."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from enforcer.diff import ACL, AS, LSP, PG, NbState, state_from_rows
from enforcer.nb_replica import _ColumnKind, _Tables, _toggled

PORTS = [f"lsp-{i}" for i in range(4)]
GROUPS = [f"pg-{i}" for i in range(3)]
OWNED_IDS = ["map", [["mnp.k8s.cni.cncf.io/owner", "mnp"]]]

KINDS: dict[str, dict[str, _ColumnKind]] = {
    PG: {
        "ports": _ColumnKind(is_set=True, is_map=False),
        "acls": _ColumnKind(is_set=True, is_map=False),
        "external_ids": _ColumnKind(is_set=True, is_map=True),
    },
    AS: {
        "addresses": _ColumnKind(is_set=True, is_map=False),
        "external_ids": _ColumnKind(is_set=True, is_map=True),
    },
    ACL: {"external_ids": _ColumnKind(is_set=True, is_map=True)},
    LSP: {},
}


def comparable(state: NbState) -> tuple[Any, ...]:
    return (
        sorted((r.uuid, r.row, r.acls) for r in state.port_groups),
        sorted((r.uuid, r.row) for r in state.address_sets),
        sorted((u, r.row) for u, r in state.acls.items()),
        sorted(state.lsp_uuids.items()),
    )


def port_refs(uuids: list[str]) -> list[Any]:
    return ["set", [["uuid", u] for u in uuids]]


port_update = st.tuples(
    st.just(LSP), st.sampled_from(PORTS), st.sampled_from(["put", "delete"]), st.integers(0, 5)
)
group_update = st.tuples(
    st.just(PG),
    st.sampled_from(GROUPS),
    st.sampled_from(["put", "toggle", "delete"]),
    st.lists(st.sampled_from(PORTS), max_size=4, unique=True),
)
set_update = st.tuples(
    st.sampled_from([AS, ACL]), st.sampled_from(["r-0", "r-1"]), st.sampled_from(["put", "delete"])
)


def as_update(tables: _Tables, update: tuple[Any, ...]) -> dict[str, Any]:
    """One ``table-updates2`` message for ``update``, valid for the current rows."""
    table, uuid, action = update[0], update[1], update[2]
    exists = uuid in tables.raw[table]
    if action == "delete":
        return {table: {uuid: {"delete": None}}} if exists else {}
    if table == LSP:
        name = f"{uuid}-name-{update[3]}"  # names are unique (the schema's index)
        return {table: {uuid: {"modify" if exists else "insert": {"name": name}}}}
    if table == PG:
        live = [p for p in update[3] if p in tables.raw[LSP]]  # weak references: no dangling
        if action == "toggle" and exists:
            return {table: {uuid: {"modify": {"ports": port_refs(live)}}}}
        row = {
            "name": uuid,
            "ports": port_refs(live),
            "acls": ["set", []],
            "external_ids": OWNED_IDS,
        }
        return {table: {uuid: {"insert": row}}} if not exists else {}
    if table == AS:
        row = {"name": uuid, "addresses": ["set", ["10.0.0.1"]], "external_ids": OWNED_IDS}
    else:
        row = {"direction": "to-lport", "priority": 1000, "match": "1", "action": "drop"}
        row |= {"external_ids": OWNED_IDS}
    return {table: {uuid: {"insert": row}}} if not exists else {}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(port_update, group_update, set_update), max_size=30))
def test_incremental_indexes_equal_a_full_build(updates: list[tuple[Any, ...]]) -> None:
    tables = _Tables()
    for update in updates:
        message = as_update(tables, update)
        if update[0] == LSP and update[2] == "delete" and update[1] in tables.raw[LSP]:
            # The server drops a deleted port from every group in the same transaction.
            for pg, row in tables.raw[PG].items():
                if ["uuid", update[1]] in row["ports"][1]:
                    message.setdefault(PG, {})[pg] = {"modify": {"ports": port_refs([update[1]])}}
        tables.apply(KINDS, message)
        assert comparable(tables.state()) == comparable(state_from_rows(tables.raw))


def test_a_set_diff_toggles_scalars_and_uuid_pairs() -> None:
    assert sorted(_toggled(["10.0.0.1", "10.0.0.2"], ["10.0.0.2", "10.0.0.3"])) == [
        "10.0.0.1",
        "10.0.0.3",
    ]
    refs = [["uuid", f"u{i}"] for i in range(5)]
    out = _toggled(refs, [["uuid", "u3"], ["uuid", "u9"]])
    assert sorted(out) == [["uuid", u] for u in ("u0", "u1", "u2", "u4", "u9")]
    assert _toggled(refs, []) == refs and _toggled([], [["uuid", "a"]]) == [["uuid", "a"]]
