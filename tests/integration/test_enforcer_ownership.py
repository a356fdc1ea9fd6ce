"""mnp never touches rows it does not own: OVN-Kubernetes-looking rows stay byte-for-byte
the same through create/update/delete/restart cycles."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

from enforcer.reconcile import NbTarget, reconcile
from mnp_lab.ovn import OvnSandbox
from tests.support.ovn_enforcement import find, lab, layer2_objects, snapshot_of
from tests.support.paths import REPO_ROOT

OVNK_IDS = [
    'external_ids:"k8s.ovn.org/owner-type"=NetworkPolicy',
    'external_ids:"k8s.ovn.org/owner-controller"=vms-flat-l2-network-controller',
    'external_ids:"k8s.ovn.org/name"=vms:allow-all',
]


def seed_ovnk_rows(ovn: OvnSandbox) -> list[tuple[str, str]]:
    """OVN-K style port group + ACLs + address set on the lab's switch port; also a row that
    carries mnp's key but NOT the owner marker (it must be left alone too)."""
    lsp = ovn.nbctl(
        "--bare",
        "--columns=_uuid",
        "find",
        "Logical_Switch_Port",
        "name=vms.flat.l2_vms_virt-launcher-vma",
    ).strip()
    assert lsp, "the lab should have created VMA's switch port"
    out = ovn.nbctl(
        "--id=@a1",
        "create",
        "ACL",
        "direction=to-lport",
        "priority=1001",
        'match="outport == @a1234567890 && ip4.src == $a987654321_v4"',
        "action=allow-related",
        *OVNK_IDS,
        "--",
        "--id=@a2",
        "create",
        "ACL",
        "direction=from-lport",
        "priority=1000",
        'match="inport == @a1234567890"',
        "action=drop",
        "options:apply-after-lb=true",
        'external_ids:"mnp.k8s.cni.cncf.io/key"=pg|deny|x',
        *OVNK_IDS,
        "--",
        "create",
        "Port_Group",
        "name=a1234567890",
        f"ports={lsp}",
        "acls=@a1,@a2",
        *OVNK_IDS,
        "--",
        "create",
        "Address_Set",
        "name=a987654321_v4",
        'addresses="10.200.0.12"',
        *OVNK_IDS,
    )
    acl1, acl2, pg_uuid, as_uuid = out.split()  # one uuid per created row, in order
    return [("Port_Group", pg_uuid), ("Address_Set", as_uuid), ("ACL", acl1), ("ACL", acl2)]


def dump(ovn: OvnSandbox, rows: list[tuple[str, str]]) -> str:
    return "\n".join(ovn.nbctl("list", table, uuid) for table, uuid in rows)


def test_foreign_rows_unchanged_through_create_update_delete_restart(
    ovn: OvnSandbox, tmp_path: Path
) -> None:
    objects = layer2_objects()
    snap = snapshot_of(objects)
    lab(ovn, snap)
    foreign = seed_ovnk_rows(ovn)
    assert len(foreign) == 4
    before = dump(ovn, foreign)
    target = NbTarget(ovn.nb_remote)

    created = reconcile(target, snap)  # create
    assert created.transacted
    relabeled = copy.deepcopy(objects)
    find(relabeled, "Pod", "virt-launcher-vma")["metadata"]["labels"]["app"] = "other"
    assert reconcile(target, snapshot_of(relabeled)).rows_written > 0  # update
    fewer = [o for o in objects if o["metadata"]["name"] != "vma-ingress-from-vmc"]
    assert reconcile(target, snapshot_of(fewer)).rows_written > 0  # delete
    assert dump(ovn, foreign) == before

    # restart: a fresh process converges from files (its rows and only its rows change)
    manifests = tmp_path / "objects.json"
    manifests.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    cmd = [
        sys.executable,
        "-m",
        "enforcer.command",
        "--ovn-nb",
        ovn.nb_remote,
        "--source",
        "files",
        "-f",
        str(manifests),
        "--once",
    ]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "insert" in proc.stdout
    again = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "no changes" in again.stdout, again.stdout + again.stderr

    no_policies = [o for o in objects if o["kind"] != "MultiNetworkPolicy"]
    reconcile(target, snapshot_of(no_policies))  # delete everything mnp owns
    assert dump(ovn, foreign) == before
    remaining = {
        t: ovn.nbctl("--bare", "--columns=_uuid", "list", t).split()
        for t in ("Port_Group", "Address_Set", "ACL")
    }
    assert {(t, u) for t, us in remaining.items() for u in us} == set(foreign)
