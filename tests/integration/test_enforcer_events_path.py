"""The running enforcer between resyncs: a source's events are compiled and written one
burst at a time, without a snapshot, and the NB ends as a full compile says; events the
fail-safe must decide take a snapshot; a standby compiles but never writes, and takes over
with one replan of every row."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from enforcer.compile import compile
from enforcer.diff import ReconcileResult, plan, read_state
from enforcer.incremental import PolicyEvent, events_between
from enforcer.nb_replica import NbReplica
from enforcer.ovsdb import connect
from enforcer.reconcile import LoopSettings, NbTarget, Reconciler, WriteWithheldError, run_loop
from enforcer.sources import EventQueue
from enforcer.sources.files import FilesSource
from mnp.model import Snapshot
from mnp_lab.ovn import OvnSandbox
from tests.support.ovn_enforcement import (
    expected_keys,
    find,
    lab,
    layer2_objects,
    nb_owned_keys,
    snapshot_of,
    without_policy,
    write_manifests,
)

_CEILING_S = 30.0  # polling only: fail instead of hanging


def _wait_for(what: str, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _CEILING_S
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {_CEILING_S:.0f}s")
        time.sleep(0.05)


class CountedSnapshots:
    """A files source that counts the snapshots the loop takes (the events path takes none)."""

    def __init__(self, source: FilesSource) -> None:
        self.source = source
        self.changed = source.changed
        self.events: EventQueue = source.events
        self.snapshots = 0

    def snapshot(self) -> Snapshot:
        self.snapshots += 1
        return self.source.snapshot()


@pytest.fixture
def running(ovn: OvnSandbox, tmp_path: Path) -> Iterator[tuple[CountedSnapshots, Path, Reconciler]]:
    objects = layer2_objects()
    lab(ovn, snapshot_of(objects))
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    write_manifests(manifests / "objects.json", objects)
    files = FilesSource([manifests], interval=0.05)
    source = CountedSnapshots(files)
    stop = threading.Event()
    with NbReplica(ovn.nb_remote, on_owned_change=files.changed.set) as replica:
        reconciler = Reconciler(NbTarget(ovn.nb_remote), replica=replica)
        files.start()
        loop = threading.Thread(
            target=run_loop, args=(source, reconciler, stop, LoopSettings(resync=3600.0))
        )
        loop.start()
        try:
            yield source, manifests / "objects.json", reconciler
        finally:
            stop.set()
            files.changed.set()
            loop.join(timeout=_CEILING_S)
            files.stop()
    assert not loop.is_alive()


def _converged(remote: str, objects: list[dict[str, Any]]) -> Callable[[], bool]:
    """The NB holds exactly what a full compile of ``objects`` gives (every column: a
    relabel changes an address set's addresses, not which rows exist)."""
    desired = compile(snapshot_of(objects))

    def converged() -> bool:
        with connect(remote) as conn:
            return not plan(desired, read_state(conn)).ops

    return converged


def test_events_between_resyncs_take_no_snapshot(
    ovn: OvnSandbox, running: tuple[CountedSnapshots, Path, Reconciler]
) -> None:
    source, manifest, reconciler = running
    objects = layer2_objects()
    _wait_for("the first convergence", _converged(ovn.nb_remote, objects))
    assert source.snapshots == 1  # the start's full reconcile

    fewer = without_policy(objects, "vmb-ingress-from-vma")
    write_manifests(manifest, fewer)
    _wait_for("the policy's rows to go", _converged(ovn.nb_remote, fewer))
    relabelled = copy.deepcopy(fewer)
    find(relabelled, "Pod", "virt-launcher-vmc")["metadata"]["labels"]["app"] = "other"
    write_manifests(manifest, relabelled)
    _wait_for("the relabel", _converged(ovn.nb_remote, relabelled))
    # Both changes went through the events path, and the queue was drained.
    assert source.snapshots == 1
    assert len(source.events) == 0
    assert reconciler.last_delta.keys, "the last event changed no row"


def test_a_policy_turning_bad_is_decided_on_a_snapshot(
    ovn: OvnSandbox, running: tuple[CountedSnapshots, Path, Reconciler]
) -> None:
    source, manifest, reconciler = running
    seen: list[ReconcileResult] = []
    reconciler.observers.append(lambda result, _elapsed: seen.append(result))
    objects = layer2_objects()
    _wait_for("the first convergence", _converged(ovn.nb_remote, objects))
    broken = copy.deepcopy(objects)
    policy = find(broken, "MultiNetworkPolicy", "vmb-ingress-from-vma")
    policy["spec"]["ingress"][0]["ports"] = [{"protocol": "ICMP", "port": 80}]
    write_manifests(manifest, broken)
    _wait_for("a snapshot for the fail-safe", lambda: source.snapshots == 2)
    # The fail-safe holds the policy's last valid version: the NB keeps every row.
    time.sleep(0.3)
    assert nb_owned_keys(ovn.nb_remote) == expected_keys(snapshot_of(objects))
    held = [s for s in seen[-1].statuses if s.policy == "vms/vmb-ingress-from-vma"]
    assert [s.state for s in held] == ["held"]


def test_a_standby_compiles_without_writing_and_takes_over(ovn: OvnSandbox) -> None:
    objects = layer2_objects()
    snapshot = snapshot_of(objects)
    lab(ovn, snapshot)
    leading = False
    withheld: list[int] = []

    def check_write() -> None:
        if not leading:
            raise WriteWithheldError("not the leader")

    with NbReplica(ovn.nb_remote) as replica:
        reconciler = Reconciler(
            NbTarget(ovn.nb_remote),
            replica=replica,
            before_write=check_write,
            may_write=lambda: leading,
            on_withheld=lambda: withheld.append(1),
        )
        standby = reconciler.full(snapshot)
        assert standby.rows_written == 0 and not standby.transacted
        assert [s.state for s in standby.statuses] == ["applied"] * 3  # compiled all the same
        assert nb_owned_keys(ovn.nb_remote) == {"Port_Group": [], "Address_Set": [], "ACL": []}
        assert withheld == [1]

        leading = True
        took_over = reconciler.replan()
        assert took_over is not None and took_over.transacted
        assert nb_owned_keys(ovn.nb_remote) == expected_keys(snapshot)
        echo = reconciler.replan()  # the rows that write changed, as the replica saw them
        assert echo is not None and echo.rows_written == 0


def test_a_resync_sweeps_every_row_a_chunk_at_a_time_with_events_in_between(
    ovn: OvnSandbox,
) -> None:
    objects = layer2_objects()
    snapshot = snapshot_of(objects)
    lab(ovn, snapshot)
    with NbReplica(ovn.nb_remote) as replica:
        reconciler = Reconciler(NbTarget(ovn.nb_remote), replica=replica, sweep_chunk=2)
        first = reconciler.full(snapshot)  # the first reconcile: every row in one plan
        assert first.rows_written == compile(snapshot).row_count()
        assert not reconciler.sweeping
        # Drift the replica's monitor will not be asked about (nobody takes its changed
        # keys here): every owned ACL rewritten to allow everything, and a stray owned row.
        owned = 'external_ids:"mnp.k8s.cni.cncf.io/owner"=mnp'
        for uuid in ovn.nbctl("--bare", "--columns=_uuid", "find", "ACL", owned).split():
            ovn.nbctl("set", "ACL", uuid, 'match="1"', "action=allow-related")
        ovn.nbctl(
            "create",
            "Address_Set",
            "name=mnp_stray",
            'external_ids:"mnp.k8s.cni.cncf.io/owner"=mnp',
            'external_ids:"mnp.k8s.cni.cncf.io/key"="as|stray"',
        )
        # A row of no kind this version builds has the empty key.
        _wait_for("the replica to see the stray", lambda: "" in replica.owned_keys())

        resync = reconciler.full(snapshot)
        assert reconciler.sweeping, "a resync after changes plans in chunks"
        assert resync.rows_written <= 2 + 2 * 4  # one chunk: 2 keys (a port group's ACLs)
        fewer = without_policy(objects, "vmb-ingress-from-vma")
        moved = snapshot_of(fewer)
        event = next(e for e in events_between(snapshot, moved) if isinstance(e, PolicyEvent))
        assert reconciler.apply([event]) is not None  # an event between two chunks
        steps = 0
        while reconciler.sweeping:
            reconciler.sweep_step()
            steps += 1
        assert steps >= 3
        assert "" not in replica.owned_keys()
        with connect(ovn.nb_remote) as conn:
            assert not plan(compile(moved), read_state(conn)).ops
