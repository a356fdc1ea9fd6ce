"""One event planned from the replica's keyed view and written under the narrow guard
(enforcer/nb_replica.py ``view_of_keys``, ``ReplicaView.guard``), against a real
ovsdb-server: another writer changing a row the plan writes aborts the transaction and the
replan converges; one changing an owned row the plan does not write does not abort it; a
concurrent insert of the same port group is caught by the NB's unique index and replanned.
After each, a full plan from a fresh read has nothing left to do."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from enforcer.compile import compile
from enforcer.diff import PG, ReconcileResult, plan, read_state
from enforcer.incremental import IncrementalCompiler
from enforcer.nb_replica import NbReplica
from enforcer.ovsdb import NB_DB, connect
from enforcer.reconcile import _plan_and_write, reconcile_against
from mnp.model import Snapshot
from mnp_lab.ovn import OvnSandbox
from tests.integration.test_enforcer_nb_replica import (
    eventually,
    owned_uuids,
    racing_writes,
    written_uuids,
)
from tests.support.ovn_enforcement import (
    expected_keys,
    find,
    lab,
    layer2_objects,
    owned_keys,
    snapshot_of,
    without_policy,
)

ADDED = "vma-ingress-from-vmc"


@dataclass(frozen=True)
class Event:
    """The compiler after the event that turns one snapshot into another, and its keys."""

    compiler: IncrementalCompiler
    keys: frozenset[str]


def event(before: Snapshot, after: Snapshot) -> Event:
    compiler = IncrementalCompiler()
    compiler.load(before)
    delta = compiler.load(after)
    assert delta.keys
    return Event(compiler, frozenset(delta.keys))


def write_event(replica: NbReplica, e: Event, keyed_desired: bool = True) -> ReconcileResult:
    """Plan and write the event's rows: from the compiler's ``desired_for`` (as the running
    enforcer does), or with ``keyed_desired`` False from its whole desired state."""
    desired_for = e.compiler.desired_for if keyed_desired else None
    desired = e.compiler.desired()
    return _plan_and_write(replica, desired, None, frozenset(), e.keys, desired_for)[0]


def pending_ops(remote: str, snapshot: Snapshot) -> list[dict[str, Any]]:
    """What a full plan from a fresh read would still write (the reference path)."""
    with connect(remote) as conn:
        return plan(compile(snapshot), read_state(conn)).ops


def in_sync(replica: NbReplica, snapshot: Snapshot) -> None:
    reconcile_against(replica, compile(snapshot))
    eventually("our write seen", lambda: reconcile_against(replica, compile(snapshot)).ops == 0)


def relabelled(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    moved = copy.deepcopy(objects)
    find(moved, "Pod", "virt-launcher-vmc")["metadata"]["labels"]["app"] = "other"
    return moved


def waits_of(ops: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(op["table"], op["where"][0][2][1]) for op in ops if op["op"] == "wait"]


def test_a_writer_changing_a_row_the_plan_writes_aborts_it_and_the_replan_converges(
    ovn: OvnSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = layer2_objects()
    snap, moved = snapshot_of(objects), snapshot_of(relabelled(objects))
    lab(ovn, snap)
    with NbReplica(ovn.nb_remote) as replica:
        in_sync(replica, snap)
        tampered: list[str] = []

        def race(ops: list[dict[str, Any]]) -> None:
            if not tampered:
                uuid = written_uuids(ops, PG)[0]
                ovn.nbctl("set", "Port_Group", uuid, "external_ids:tampered=yes")
                tampered.append(uuid)

        sent = racing_writes(monkeypatch, replica, race)
        result = write_event(replica, event(snap, moved))
        assert result.transacted and len(sent) == 2  # aborted once, replanned, written
        # Each transaction waits for exactly the rows its ops write.
        for ops in sent:
            written = {(op["table"], op["where"][0][2][1]) for op in ops if op["op"] != "wait"}
            assert sorted(waits_of(ops)) == sorted(written)
        # The replan saw the other writer's change to a row it writes, and put it back.
        assert "tampered" not in ovn.nbctl("get", "Port_Group", tampered[0], "external_ids")
        assert pending_ops(ovn.nb_remote, moved) == []


def test_a_writer_changing_an_owned_row_the_plan_does_not_write_does_not_abort_it(
    ovn: OvnSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = layer2_objects()
    snap, moved = snapshot_of(objects), snapshot_of(relabelled(objects))
    lab(ovn, snap)
    with NbReplica(ovn.nb_remote) as replica:
        in_sync(replica, snap)
        others: list[str] = []

        def race(ops: list[dict[str, Any]]) -> None:
            if not others:
                unrelated = sorted(
                    set(owned_uuids(ovn, "Port_Group")) - set(written_uuids(ops, PG))
                )
                ovn.nbctl("set", "Port_Group", unrelated[0], "external_ids:tampered=yes")
                others.append(unrelated[0])

        sent = racing_writes(monkeypatch, replica, race)
        result = write_event(replica, event(snap, moved), keyed_desired=False)
        assert result.transacted and len(sent) == 1  # written at the first attempt
        # The event's rows are in; the other writer's change is drift for a replan to repair.
        (repair,) = pending_ops(ovn.nb_remote, moved)
        assert repair["op"] == "update" and repair["where"][0][2][1] == others[0]
        assert reconcile_against(replica, compile(moved)).transacted
        assert pending_ops(ovn.nb_remote, moved) == []


def test_a_concurrent_insert_of_the_same_port_group_is_caught_and_replanned(
    ovn: OvnSandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    objects = layer2_objects()
    snap, fewer = snapshot_of(objects), snapshot_of(without_policy(objects, ADDED))
    lab(ovn, snap)
    with NbReplica(ovn.nb_remote) as replica:
        in_sync(replica, fewer)
        raced: list[str] = []

        def race(ops: list[dict[str, Any]]) -> None:
            """Another enforcer (a leader overlapping this one) writes the same new port
            groups first, with no ACLs yet."""
            if raced:
                return
            inserts = [op for op in ops if op["op"] == "insert" and op["table"] == PG]
            assert inserts, "adding the policy inserts its port group"
            with connect(ovn.nb_remote) as other:
                rows = [{k: v for k, v in op["row"].items() if k != "acls"} for op in inserts]
                other.transact(NB_DB, [{"op": "insert", "table": PG, "row": r} for r in rows])
            raced.extend(r["name"] for r in rows)

        sent = racing_writes(monkeypatch, replica, race)
        with caplog.at_level(logging.WARNING, logger="mnp.enforcer"):
            result = write_event(replica, event(fewer, snap))
        assert result.transacted and len(sent) == 2
        assert "another writer inserted a row of the same index value first" in caplog.text
        # The replan adopted the other writer's rows: one port group per name, none missing.
        assert owned_keys(ovn) == expected_keys(snap)
        assert pending_ops(ovn.nb_remote, snap) == []
        assert not any(op["op"] == "insert" and op["table"] == PG for op in sent[1])
