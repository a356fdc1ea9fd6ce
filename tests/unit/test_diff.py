"""plan(): desired rows vs the NB's owned rows -> the minimal ops of one transaction."""

from __future__ import annotations

from dataclasses import replace
from unittest.mock import ANY

from enforcer.compile import compile
from enforcer.desired import AddressSetRow, DesiredState
from enforcer.diff import ACL, AS, PG, NbRow, NbState, plan
from enforcer.row_ids import KEY, OWNER, parse_address_set_id
from enforcer.row_ids import NAD as NAD_ID
from mnp.model import (
    OVN_CNI_TYPE,
    Attachment,
    LabelSelector,
    NadKey,
    Namespace,
    Network,
    Peer,
    Pod,
    Policy,
    Port,
    Rule,
    Snapshot,
)

NAD = NadKey("ns1", "l2")
NET = Network(NAD, "l2net", "layer2", OVN_CNI_TYPE, ("192.168.100.0/24",))


def _pod(name: str, ip: str, app: str) -> Pod:
    return Pod("ns1", name, (("app", app),), "n1", (NAD,), ((NAD, Attachment((ip,), "m")),))


PODS = (
    _pod("server", "192.168.100.10/24", "server"),
    _pod("client", "192.168.100.11/24", "client"),
)
POLICY = Policy(
    "ns1",
    "p",
    (NAD,),
    LabelSelector((("app", "server"),)),
    (Rule((Port("TCP", 80),), (Peer(pod_selector=LabelSelector((("app", "client"),))),)),),
    (),
    frozenset({"Ingress"}),
)
DESIRED = compile(Snapshot((Namespace("ns1"),), PODS, (NET,), (POLICY,)))
LSPS = {"ns1.l2_ns1_server": "u-lsp-server", "ns1.l2_ns1_client": "u-lsp-client"}


def state_of(desired: DesiredState) -> NbState:
    """The NB state right after ``desired`` was written (fake uuids)."""
    state = NbState(lsp_uuids=dict(LSPS))
    for i, a in enumerate(desired.address_sets):
        state.address_sets.append(NbRow(f"u-as{i}", a))
    acl_uuids: dict[str, list[str]] = {}
    for i, acl in enumerate(desired.acls):
        state.acls[f"u-acl{i}"] = NbRow(f"u-acl{i}", acl)
        assert acl.port_group is not None
        acl_uuids.setdefault(acl.port_group.key, []).append(f"u-acl{i}")
    for i, p in enumerate(desired.port_groups):
        present = replace(p, ports=tuple(n for n in p.ports if n in LSPS))
        state.port_groups.append(NbRow(f"u-pg{i}", present, frozenset(acl_uuids.get(p.key, []))))
    return state


def test_empty_nb_inserts_everything_acls_by_uuid_name() -> None:
    p = plan(DESIRED, NbState(lsp_uuids=dict(LSPS)))
    r = p.result
    assert (r.count(PG, "insert"), r.count(AS, "insert"), r.count(ACL, "insert")) == (2, 1, 3)
    assert r.count() == r.rows_written == 6
    acl_ops = [op for op in p.ops if op["table"] == ACL]
    assert all(op["op"] == "insert" and op["uuid-name"] for op in acl_ops)
    named = {ref[1] for op in p.ops if op["table"] == PG for ref in op["row"]["acls"][1]}
    assert named == {op["uuid-name"] for op in acl_ops}
    # inserts of ACLs come before the port groups that reference them
    assert [op["table"] for op in p.ops].index(PG) > max(
        i for i, op in enumerate(p.ops) if op["table"] == ACL
    )


def test_unchanged_state_plans_no_ops() -> None:
    p = plan(DESIRED, state_of(DESIRED))
    assert p.ops == [] and p.result.count() == 0


def test_address_change_mutates_only_the_changed_addresses() -> None:
    """A big set is not rewritten: the addresses that left are deleted, the new inserted."""
    state = state_of(DESIRED)
    assert DESIRED.address_sets[0].addresses == ("192.168.100.11",)
    wanted = ("192.168.100.11", "192.168.100.98", "192.168.100.99")
    changed = replace(DESIRED, address_sets=(replace(DESIRED.address_sets[0], addresses=wanted),))
    p = plan(changed, state)
    assert p.ops == [
        {
            "op": "mutate",
            "table": AS,
            "where": [["_uuid", "==", ["uuid", "u-as0"]]],
            "mutations": [["addresses", "insert", ["set", ["192.168.100.98", "192.168.100.99"]]]],
        }
    ]
    assert p.result.counts == {(AS, "update"): 1}  # a mutated row is one row written
    gone = replace(DESIRED, address_sets=(replace(DESIRED.address_sets[0], addresses=()),))
    assert plan(gone, state).ops[0]["mutations"] == [
        ["addresses", "delete", ["set", ["192.168.100.11"]]]
    ]


def test_port_change_mutates_the_ports_and_updates_other_columns_in_the_same_row() -> None:
    """A port group's ``ports`` changes by the ports that differ, as uuids; an edited column
    beside it is an ``update`` of the same row, and the row is written once."""
    state = state_of(DESIRED)
    nb = state.port_groups[1]
    assert nb.row.ports == ("ns1.l2_ns1_server",)
    edited = (*nb.row.external_ids, ("extra", "x"))
    state.port_groups[1] = replace(nb, row=replace(nb.row, external_ids=edited))
    desired_pg = DESIRED.port_groups[1]
    moved = replace(desired_pg, ports=("ns1.l2_ns1_client",))
    p = plan(replace(DESIRED, port_groups=(DESIRED.port_groups[0], moved)), state)
    where = [["_uuid", "==", ["uuid", nb.uuid]]]
    assert p.ops == [
        {"op": "update", "table": PG, "where": where, "row": {"external_ids": ANY}},
        {
            "op": "mutate",
            "table": PG,
            "where": where,
            "mutations": [
                ["ports", "delete", ["set", [["uuid", "u-lsp-server"]]]],
                ["ports", "insert", ["set", [["uuid", "u-lsp-client"]]]],
            ],
        },
    ]
    assert p.ops[0]["row"]["external_ids"] == ["map", [list(kv) for kv in desired_pg.external_ids]]
    assert p.result.counts == {(PG, "update"): 1} and p.result.rows_written == 1


def test_stale_owned_rows_are_deleted_acls_by_dropping_references() -> None:
    p = plan(DesiredState(), state_of(DESIRED))
    assert sorted((op["op"], op["table"]) for op in p.ops) == [
        ("delete", AS),
        ("delete", PG),
        ("delete", PG),
    ]
    assert p.result.count(ACL, "delete") == 3


def test_missing_switch_port_is_left_out_and_reported() -> None:
    state = NbState(lsp_uuids={"ns1.l2_ns1_client": "u-lsp-client"})
    p = plan(DESIRED, state)
    assert p.result.missing_ports == ("ns1.l2_ns1_server",)
    pg_rows = [op["row"] for op in p.ops if op["table"] == PG]
    assert all(row["ports"] == ["set", []] for row in pg_rows)


def test_duplicate_rows_with_one_key_are_collapsed() -> None:
    state = state_of(DESIRED)
    dup = state.address_sets[0]
    state.address_sets.append(replace(dup, uuid="u-dup"))
    p = plan(DESIRED, state)
    assert p.ops == [{"op": "delete", "table": AS, "where": [["_uuid", "==", ["uuid", "u-dup"]]]}]


def test_owned_rows_of_no_known_kind_are_deleted() -> None:
    state = state_of(DESIRED)
    ids = ((KEY, "as|written-by-some-other-version"), (OWNER, "mnp"))
    assert parse_address_set_id(dict(ids)) is None
    state.address_sets.append(NbRow("u-unknown", AddressSetRow("mnp_old", (), ids)))
    p = plan(DESIRED, state)
    assert p.ops == [
        {"op": "delete", "table": AS, "where": [["_uuid", "==", ["uuid", "u-unknown"]]]}
    ]


def test_a_row_whose_recorded_ids_changed_is_updated_in_place() -> None:
    """Identity is the key: a policy now for other NADs of the same network keeps its rows."""
    state = state_of(DESIRED)
    nb = state.port_groups[1]
    assert nb.row.row_id is not None and "pg|policy|" in nb.row.key
    edited = tuple((k, "ns1/other" if k == NAD_ID else v) for k, v in nb.row.external_ids)
    state.port_groups[1] = replace(nb, row=replace(nb.row, external_ids=edited))
    p = plan(DESIRED, state)
    assert [(op["op"], op["table"], list(op["row"])) for op in p.ops] == [
        ("update", PG, ["external_ids"])
    ]


def test_json_rpc_framing_finds_messages_across_chunks() -> None:
    import json

    from enforcer.ovsdb import OvsdbConnection

    conn = object.__new__(OvsdbConnection)  # framing only; no socket needed
    conn.remote = "unix:test"
    conn._buf = ""
    # Braces and escaped quotes inside strings, a "}" at many chunk boundaries, and two
    # messages back to back.
    first = '{"id":1,"result":{"m":"outport == @a && \\"{x}\\" \\\\"}}'
    second = '{"id":2,"result":[]}'
    text = first + second
    got = []
    for cut in range(0, len(text), 7):  # arrive in 7-character pieces
        conn._buf += text[cut : cut + 7]
        while (msg := conn._next_message()) is not None:
            got.append(msg)
    assert got == [json.loads(first), json.loads(second)]
    assert conn._buf == ""
