"""The incremental enforcer against a real NB: after each event only the changed rows are
written, and the NB then holds exactly what a full compile of the cluster gives."""

from __future__ import annotations

import subprocess
from dataclasses import replace

from enforcer.compile import compile
from enforcer.diff import plan, read_state
from enforcer.incremental import PodEvent, PolicyEvent
from enforcer.nb_replica import NbReplica
from enforcer.ovsdb import connect
from enforcer.reconcile import NbTarget, Reconciler
from mnp.model import Snapshot
from mnp.ovn_names import lsp_name
from mnp_lab.ovn import OvnSandbox
from tests.unit.test_incremental import SCALE_NAD, scaled_cluster


def _create_ports(sandbox: OvnSandbox, snapshot: Snapshot) -> None:
    cmd = ["ovn-nbctl", f"--db={sandbox.nb_remote}", "ls-add", "bench"]
    for pod in snapshot.pods:
        cmd += ["--", "lsp-add", "bench", lsp_name(SCALE_NAD, pod.namespace, pod.name)]
    subprocess.run(cmd, check=True, capture_output=True)


def _pending_ops(target: NbTarget, snapshot: Snapshot) -> int:
    with connect(target.remote) as conn:
        return len(plan(compile(snapshot), read_state(conn)).ops)


def test_relabel_and_policy_change_write_only_their_rows(ovn: OvnSandbox) -> None:
    snapshot = scaled_cluster(500, 100)
    _create_ports(ovn, snapshot)
    target = NbTarget(ovn.nb_remote)
    with NbReplica(ovn.nb_remote) as replica:
        enforcer = Reconciler(target, replica=replica)
        _relabel_and_policy_change(enforcer, target, snapshot)


def _relabel_and_policy_change(enforcer: Reconciler, target: NbTarget, snapshot: Snapshot) -> None:
    first = enforcer.full(snapshot)
    assert first.rows_written == compile(snapshot).row_count()

    pods = list(snapshot.pods)
    pods[7] = replace(pods[7], labels=(("app", "g8"),))
    moved = replace(snapshot, pods=tuple(pods))
    result = enforcer.apply([PodEvent(("bench", "pod-7"), pods[7])])
    assert result is not None and result.transacted
    # g7 -> g8: the address sets and port groups of the 12 policies touching either group,
    # and the two deny port groups: updates only, a few dozen rows of thousands.
    assert set(op for _, op in result.counts) == {"update"}
    assert 0 < result.rows_written <= enforcer.last_delta.rows_computed
    assert _pending_ops(target, moved) == 0

    gone = snapshot.policies[0]
    result = enforcer.apply([PolicyEvent(gone.key, None)])
    assert result is not None and result.count(op="delete") > 0
    assert _pending_ops(target, replace(moved, policies=snapshot.policies[1:])) == 0

    # The same pod again (what a status-only update leaves): nothing compiled or written.
    assert enforcer.apply([PodEvent(("bench", "pod-7"), pods[7])]) is None

    # A rule dropped: its ACL and address sets go, its port group (same columns) stays.
    policies = list(snapshot.policies[1:])
    policies[0] = replace(policies[0], egress=())
    result = enforcer.apply([PolicyEvent(policies[0].key, policies[0])])
    assert not any(k.startswith("pg|") for k in enforcer.last_delta.keys)
    assert result is not None and result.count("Port_Group", "delete") == 0
    assert result.count("ACL", "delete") == 1
    assert _pending_ops(target, replace(moved, policies=tuple(policies))) == 0
