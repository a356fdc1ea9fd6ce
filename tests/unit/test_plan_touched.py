"""Planning one event in O(rows it touches): the replica's keyed view (``_Tables.scope`` and
``keyed``, enforcer/nb_replica.py) with the compiler's ``desired_for`` plans exactly what the
full reference path (whole desired state, whole NB state, cut by ``rows_for_keys``) plans, and
the guard of a plan names exactly the rows its ops write."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from typing import Any

import pytest

from enforcer.diff import (
    ACL,
    AS,
    LSP,
    PG,
    NbState,
    Plan,
    _acl_json,
    desired_of_keys,
    plan,
    rows_for_keys,
    state_from_rows,
)
from enforcer.incremental import IncrementalCompiler
from enforcer.nb_replica import ReplicaView, _ColumnKind, _Tables
from enforcer.ovsdb import ovsdb_map, ovsdb_set
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
from mnp.ovn_names import lsp_name

NAD = NadKey("ns1", "l2")
NET = Network(NAD, "l2net", "layer2", OVN_CNI_TYPE, ("192.168.100.0/24",))
NO_KINDS: dict[str, dict[str, _ColumnKind]] = {t: {} for t in (PG, AS, ACL, LSP)}


def pod(i: int, app: str) -> Pod:
    att = Attachment((f"192.168.100.{10 + i}/24",), f"0a:58:00:00:00:{i:02x}")
    return Pod("ns1", f"pod-{i}", (("app", app),), "n1", (NAD,), ((NAD, att),))


def policy(name: str, target: str, peer: str, rules: int = 2) -> Policy:
    sel = Peer(pod_selector=LabelSelector((("app", peer),)))
    ingress = tuple(Rule((Port("TCP", 80 + r),), (sel,)) for r in range(rules))
    egress = (Rule((Port("UDP", 53),), (sel,)),)
    return Policy(
        "ns1",
        name,
        (NAD,),
        LabelSelector((("app", target),)),
        ingress,
        egress,
        frozenset({"Ingress", "Egress"}),
    )


PODS = tuple(pod(i, ("web", "db", "cache")[i % 3]) for i in range(9))
POLICIES = (
    policy("web-from-db", "web", "db"),
    policy("db-from-cache", "db", "cache"),
    policy("cache-from-web", "cache", "web"),
)
BASE = Snapshot((Namespace("ns1"),), PODS, (NET,), POLICIES)


def with_pods(*pods: Pod) -> Snapshot:
    by_name = {p.name: p for p in BASE.pods} | {p.name: p for p in pods}
    return replace(BASE, pods=tuple(by_name[n] for n in sorted(by_name)))


def with_policies(*policies: Policy) -> Snapshot:
    return replace(BASE, policies=policies)


# Each step: the snapshot an event turns BASE into.
STEPS = {
    "pod relabelled": with_pods(pod(0, "db")),
    "pod leaves every policy": with_pods(pod(1, "other")),
    "pod added": with_pods(pod(20, "web")),
    "pod deleted": replace(BASE, pods=BASE.pods[1:]),
    # One ACL fewer; its port group's own columns do not change (the delta has the ACL only).
    "rule removed": with_policies(policy("web-from-db", "web", "db", rules=1), *POLICIES[1:]),
    "rule added": with_policies(policy("web-from-db", "web", "db", rules=3), *POLICIES[1:]),
    "policy deleted": with_policies(*POLICIES[1:]),
    "policy added": with_policies(*POLICIES, policy("extra", "web", "cache")),
}


def nb_rows_of(compiler: IncrementalCompiler, ports: list[str]) -> dict[str, dict[str, Any]]:
    """The NB's monitored rows right after the compiler's rows were written (fake uuids)."""
    desired = compiler.desired()
    raw: dict[str, dict[str, Any]] = {t: {} for t in (PG, AS, ACL, LSP)}
    lsps = {name: f"u-lsp-{n}" for n, name in enumerate(ports)}
    raw[LSP] = {u: {"name": name} for name, u in lsps.items()}
    acls_of: dict[str, list[list[str]]] = {}
    for n, acl in enumerate(desired.acls):
        raw[ACL][f"u-acl-{n}"] = _acl_json(acl) | {"_version": ["uuid", f"v-acl-{n}"]}
        assert acl.port_group is not None
        acls_of.setdefault(acl.port_group.key, []).append(["uuid", f"u-acl-{n}"])
    for n, a in enumerate(desired.address_sets):
        raw[AS][f"u-as-{n}"] = {
            "name": a.name,
            "addresses": ovsdb_set(list(a.addresses)),
            "external_ids": ovsdb_map(a.external_ids),
            "_version": ["uuid", f"v-as-{n}"],
        }
    for n, pg in enumerate(desired.port_groups):
        raw[PG][f"u-pg-{n}"] = {
            "name": pg.name,
            "ports": ovsdb_set([["uuid", lsps[p]] for p in pg.ports if p in lsps]),
            "acls": ovsdb_set(acls_of.get(pg.key, [])),
            "external_ids": ovsdb_map(pg.external_ids),
            "_version": ["uuid", f"v-pg-{n}"],
        }
    return raw


def replica_of(raw: dict[str, dict[str, Any]]) -> _Tables:
    tables = _Tables()
    tables.apply(
        NO_KINDS, {t: {u: {"initial": r} for u, r in rows.items()} for t, rows in raw.items()}
    )
    return tables


def all_ports() -> list[str]:
    names = {p.name for s in (BASE, *STEPS.values()) for p in s.pods}
    return sorted(lsp_name(NAD, "ns1", n) for n in names)


def normalized(p: Plan) -> list[str]:
    """The ops, order aside and each inserted ACL's ``uuid-name`` replaced by its key."""
    names = {
        op["uuid-name"]: json.dumps(op["row"], sort_keys=True) for op in p.ops if "uuid-name" in op
    }
    out = []
    for op in p.ops:
        op = {k: v for k, v in op.items() if k != "uuid-name"}
        text = json.dumps(op, sort_keys=True)
        for name, row in names.items():
            text = text.replace(f'["named-uuid", "{name}"]', row)
        out.append(text)
    return sorted(out)


def keyed_plan(
    tables: _Tables, compiler: IncrementalCompiler, keys: set[str]
) -> tuple[Plan, NbState]:
    scope = tables.scope(keys)
    desired = compiler.desired_for(scope)
    state, _ = tables.keyed(scope, desired)
    return plan(desired, state), state


@pytest.mark.parametrize("step", sorted(STEPS))
def test_the_keyed_plan_is_the_full_plan(step: str) -> None:
    compiler = IncrementalCompiler()
    compiler.load(BASE)
    raw = nb_rows_of(compiler, all_ports())
    tables = replica_of(raw)
    delta = compiler.load(STEPS[step])
    assert delta.keys
    full = plan(compiler.desired(), state_from_rows(raw))
    reference = plan(*rows_for_keys(compiler.desired(), state_from_rows(raw), delta.keys))
    touched, state = keyed_plan(tables, compiler, delta.keys)
    assert full.ops, "the step changes rows"
    assert normalized(touched) == normalized(reference) == normalized(full)
    assert touched.result.counts == full.result.counts
    # The keyed state holds the touched rows only, and only the switch ports whose
    # membership changes (or those of a new port group).
    assert len(state.port_groups) < len(tables.port_groups)
    held = {nb.row.key: set(nb.row.ports) for nb in state.port_groups}
    differ: set[str] = set()
    for pg in compiler.desired_for(tables.scope(delta.keys)).port_groups:
        differ |= set(pg.ports) ^ held[pg.key] if pg.key in held else set(pg.ports)
    assert set(state.lsp_uuids) == differ & set(tables.lsp_uuids)
    assert len(state.lsp_uuids) < len(tables.lsp_uuids)


def test_a_removed_acl_brings_its_unchanged_port_group_on_both_sides() -> None:
    """Without the scope, the desired side would lack the port group the state side brings
    (through the ACL): the plan would delete a port group that is still desired."""
    compiler = IncrementalCompiler()
    compiler.load(BASE)
    tables = replica_of(nb_rows_of(compiler, all_ports()))
    delta = compiler.load(STEPS["rule removed"])
    assert not any(k.startswith("pg|") for k in delta.keys)  # the ACL's key only
    naive = plan(*rows_for_keys(compiler.desired_for(delta.keys), tables.state(), delta.keys))
    assert naive.result.count(PG, "delete") == 1  # what the scope prevents
    touched, _ = keyed_plan(tables, compiler, delta.keys)
    # The port group drops the ACL (collected by OVSDB); the rule's peer address set goes.
    assert touched.result.counts == {(PG, "update"): 1, (ACL, "delete"): 1, (AS, "delete"): 1}


def test_every_key_alone_and_in_pairs_gives_rows_for_keys_state_side() -> None:
    compiler = IncrementalCompiler()
    compiler.load(BASE)
    raw = nb_rows_of(compiler, all_ports())
    tables = replica_of(raw)
    full_state = state_from_rows(raw)
    desired = compiler.desired()
    keys = sorted(
        {r.key for r in desired.port_groups}
        | {r.key for r in desired.address_sets}
        | {r.key for r in desired.acls}
    )
    lookup = desired_of_keys(desired)
    for chosen in itertools.chain(([k] for k in keys), itertools.combinations(keys[::7], 2)):
        scope = tables.scope(chosen)
        sub_desired = compiler.desired_for(scope)
        assert lookup(scope) == sub_desired  # the lookup over a whole state agrees
        state, versions = tables.keyed(scope, sub_desired)
        _, ref = rows_for_keys(desired, full_state, chosen)
        assert sorted((r.uuid, r.row, r.acls) for r in state.port_groups) == sorted(
            (r.uuid, r.row, r.acls) for r in ref.port_groups
        )
        assert sorted(r.uuid for r in state.address_sets) == sorted(
            r.uuid for r in ref.address_sets
        )
        assert state.acls == ref.acls
        assert versions == {
            PG: {r.uuid: raw[PG][r.uuid]["_version"] for r in state.port_groups},
            AS: {r.uuid: raw[AS][r.uuid]["_version"] for r in state.address_sets},
            ACL: {u: raw[ACL][u]["_version"] for u in state.acls},
        }


def test_the_key_indexes_follow_updates_and_deletes() -> None:
    compiler = IncrementalCompiler()
    compiler.load(BASE)
    raw = nb_rows_of(compiler, all_ports())
    tables = replica_of(raw)
    pg_uuid, pg = next(iter(tables.port_groups.items()))
    acl_uuid = next(iter(pg.acls))
    acl_key = tables.acls[acl_uuid].row.key
    assert tables.scope([acl_key]) == {acl_key, pg.row.key}
    # The ACL's port group goes (and the ACL with it, as OVSDB collects it).
    tables.apply(NO_KINDS, {PG: {pg_uuid: {"delete": None}}, ACL: {acl_uuid: {"delete": None}}})
    assert pg.row.key not in tables.by_key[PG] and acl_key not in tables.by_key[ACL]
    assert tables.scope([acl_key]) == {acl_key}
    state, _ = tables.keyed(frozenset({pg.row.key, acl_key}), compiler.desired_for([pg.row.key]))
    assert state.port_groups == [] and acl_uuid not in state.acls
    # A duplicate of a key is found beside the first row.
    dup = dict(raw[PG][pg_uuid])
    tables.apply(NO_KINDS, {PG: {pg_uuid: {"insert": raw[PG][pg_uuid]}, "u-dup": {"insert": dup}}})
    assert tables.by_key[PG][pg.row.key] == {pg_uuid, "u-dup"}
    state, _ = tables.keyed(frozenset({pg.row.key}), compiler.desired_for([pg.row.key]))
    assert sorted(nb.uuid for nb in state.port_groups) == sorted([pg_uuid, "u-dup"])
    assert plan(compiler.desired_for([pg.row.key]), state).ops[-1]["op"] == "delete"


def waited(guard: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    assert all(op["op"] == "wait" and op["until"] == "==" and op["timeout"] == 0 for op in guard)
    return {(op["table"], op["where"][0][2][1]): op["rows"][0]["_version"] for op in guard}


def written(p: Plan) -> set[tuple[str, str]]:
    return {
        (op["table"], op["where"][0][2][1])
        for op in p.ops
        if op["op"] in ("update", "mutate", "delete")
    }


@pytest.mark.parametrize("step", sorted(STEPS))
def test_the_guard_names_exactly_the_rows_the_ops_write(step: str) -> None:
    compiler = IncrementalCompiler()
    compiler.load(BASE)
    raw = nb_rows_of(compiler, all_ports())
    tables = replica_of(raw)
    delta = compiler.load(STEPS[step])
    scope = tables.scope(delta.keys)
    desired = compiler.desired_for(scope)
    state, versions = tables.keyed(scope, desired)
    view = ReplicaView(state, versions, 1)
    p = plan(desired, state)
    guard = view.guard(p.ops)
    assert set(waited(guard)) == written(p) and len(guard) == len(written(p))
    assert waited(guard) == {(t, u): raw[t][u]["_version"] for t, u in written(p)}
    # The full view guards the same rows for the same ops, not every owned row.
    full = ReplicaView(tables.state(), tables.versions(), 1)
    assert waited(full.guard(p.ops)) == waited(guard)


def test_an_acl_taken_from_another_port_group_is_guarded_too() -> None:
    """A written ``acls`` that references an ACL its port group does not hold now (held by
    another, as a broken NB may have it) depends on that ACL still existing."""
    compiler = IncrementalCompiler()
    compiler.load(BASE)
    raw = nb_rows_of(compiler, all_ports())
    (a_uuid, a), (b_uuid, b) = [(u, r) for u, r in raw[PG].items() if len(r["acls"][1]) > 1][:2]
    moved = a["acls"][1][0]
    a["acls"] = ["set", a["acls"][1][1:]]
    b["acls"] = ["set", [*b["acls"][1], moved]]
    tables = replica_of(raw)
    p = plan(compiler.desired(), tables.state())
    view = ReplicaView(tables.state(), tables.versions(), 1)
    guarded = waited(view.guard(p.ops))
    assert (ACL, moved[1]) in guarded and (ACL, moved[1]) not in written(p)
    assert set(guarded) == written(p) | {(ACL, moved[1])}
    assert {(PG, a_uuid), (PG, b_uuid)} <= written(p)


def test_a_switch_port_not_in_the_nb_yet_is_left_out_and_reported_the_same() -> None:
    compiler = IncrementalCompiler()
    compiler.load(BASE)
    new_port = lsp_name(NAD, "ns1", "pod-20")
    raw = nb_rows_of(compiler, [p for p in all_ports() if p != new_port])
    tables = replica_of(raw)
    delta = compiler.load(STEPS["pod added"])
    full = plan(compiler.desired(), state_from_rows(raw))
    touched, _ = keyed_plan(tables, compiler, delta.keys)
    assert touched.result.missing_ports == full.result.missing_ports == (new_port,)
    assert normalized(touched) == normalized(full)
