"""The enforcer against a real OVN: the seed layer2 use case traced with ovn-trace,
idempotence, and incremental changes counted in rows written."""

from __future__ import annotations

import copy

from enforcer.diff import ACL, AS, PG
from enforcer.reconcile import NbTarget, reconcile
from mnp_lab.ovn import OvnSandbox
from tests.support.ovn_enforcement import (
    find,
    lab,
    layer2_objects,
    observed_matrix,
    pod_manifest,
    snapshot_of,
)

A, B, C = "virt-launcher-vma", "virt-launcher-vmb", "virt-launcher-vmc"

# VMC -> VMA allowed; VMA -> VMB allowed; VMC -/-> VMB; only VMC may reach VMA.
EXPECTED_LAYER2 = {
    (A, B, "80/TCP"): True,
    (A, C, "80/TCP"): True,
    (B, A, "80/TCP"): False,
    (B, C, "80/TCP"): True,
    (C, A, "80/TCP"): True,
    (C, B, "80/TCP"): False,
}


def test_layer2_use_case_matrix_and_second_reconcile_writes_nothing(ovn: OvnSandbox) -> None:
    snap = snapshot_of(layer2_objects())
    lab(ovn, snap)
    target = NbTarget(ovn.nb_remote)
    first = reconcile(target, snap)
    assert first.transacted and first.count("ACL", "insert") == 7
    assert [s.state for s in first.statuses] == ["applied"] * 3
    assert observed_matrix(ovn, snap) == EXPECTED_LAYER2
    again = reconcile(target, snap)
    assert not again.transacted and again.ops == 0 and again.rows_written == 0


def test_relabel_and_pod_add_touch_only_affected_rows(ovn: OvnSandbox) -> None:
    objects = layer2_objects()
    target = NbTarget(ovn.nb_remote)
    snap = snapshot_of(objects)
    lab(ovn, snap)
    reconcile(target, snap)

    # VMB loses its label: it leaves its policy's port group and the ingress deny group.
    relabeled = copy.deepcopy(objects)
    find(relabeled, "Pod", B)["metadata"]["labels"]["app"] = "retired"
    snap2 = snapshot_of(relabeled)
    r = reconcile(target, snap2)
    assert dict(r.counts) == {(PG, "update"): 2}
    assert observed_matrix(ovn, snap2)[(C, B, "80/TCP")] is False  # VMC egress still limited
    assert observed_matrix(ovn, snap2)[(B, A, "80/TCP")] is False

    # A second VMA-labelled pod: two port groups gain it, the two "app=vma" peer sets its IP.
    added = [*relabeled, pod_manifest("vma-2", "vms", "vms/flat-l2", {"app": "vma"})]
    snap3 = snapshot_of(added)
    lab(ovn, snap3)
    r = reconcile(target, snap3)
    assert dict(r.counts) == {(PG, "update"): 2, (AS, "update"): 2}
    seen = observed_matrix(ovn, snap3)
    assert seen[(C, "vma-2", "80/TCP")] is True
    assert seen[(A, "vma-2", "80/TCP")] is False

    # Deleting it again reverts exactly those rows.
    r = reconcile(target, snap2)
    assert dict(r.counts) == {(PG, "update"): 2, (AS, "update"): 2}
    assert r.count(ACL) == 0


def test_policy_delete_removes_its_rows_and_restores_traffic(ovn: OvnSandbox) -> None:
    objects = layer2_objects()
    target = NbTarget(ovn.nb_remote)
    snap = snapshot_of(objects)
    lab(ovn, snap)
    reconcile(target, snap)
    remaining = [
        o
        for o in objects
        if not (o["kind"] == "MultiNetworkPolicy" and o["metadata"]["name"] == "vmc-egress-to-vma")
    ]
    snap2 = snapshot_of(remaining)
    r = reconcile(target, snap2)
    # policy PG + egress deny PG (with their 1 + 2 ACLs) and the peer address set
    assert dict(r.counts) == {(PG, "delete"): 2, (ACL, "delete"): 3, (AS, "delete"): 1}
    assert ovn.nbctl("--bare", "--columns=_uuid", "find", "ACL", "direction=from-lport") == ""
    # VMB's own ingress policy still keeps VMC out
    assert observed_matrix(ovn, snap2) == EXPECTED_LAYER2

    no_policies = snapshot_of([o for o in objects if o["kind"] != "MultiNetworkPolicy"])
    r = reconcile(target, no_policies)
    assert dict(r.counts) == {(PG, "delete"): 3, (ACL, "delete"): 4, (AS, "delete"): 2}
    for table in ("ACL", "Port_Group", "Address_Set"):
        assert ovn.nbctl("--bare", "--columns=_uuid", "list", table) == ""
    assert set(observed_matrix(ovn, no_policies).values()) == {True}
