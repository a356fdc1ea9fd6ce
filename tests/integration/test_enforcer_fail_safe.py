"""The enforcer never fails open, proven with ovn-trace through real OVN.

The seed layer2 case (VMA, VMB, VMC) plus VMD, a pod no policy selects, as one manifest
file per object kind and per policy, enforced by a ``FilesSource`` and a ``Reconciler``
(the loop's two halves) against a real NB, ovn-northd and ovn-trace. Each case breaks one
input and compares the traced verdicts before and after.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from enforcer.reconcile import NbTarget, Reconciler
from enforcer.sources.files import FilesSource
from mnp_lab.connectivity import ProbePort
from mnp_lab.ovn import OvnSandbox
from tests.support.ovn_enforcement import (
    enforce_once,
    find,
    lab,
    layer2_objects,
    nb_owned_keys,
    observed_matrix,
    snapshot_of,
)

VMB_POLICY = "vmb-ingress-from-vma"
PORT_80 = [ProbePort("TCP", 80)]
Verdicts = dict[tuple[str, str, str], bool]


def _vmd(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """A fourth VM on the same network, selected by no policy at first."""
    pod = copy.deepcopy(find(objects, "Pod", "virt-launcher-vmb"))
    pod["metadata"]["name"] = "virt-launcher-vmd"
    pod["metadata"]["labels"]["app"] = "vmd"
    pod["metadata"]["annotations"]["k8s.ovn.org/pod-networks"] = (
        '{"vms/flat-l2": {"ip_addresses": ["10.200.0.13/24"], "mac_address": '
        '"0a:58:0a:c8:00:0d", "gateway_ips": [], "routes": [], "role": "secondary"}}'
    )
    return pod


class Cluster:
    """The manifests directory, its sources of truth, and the traced verdicts."""

    def __init__(self, ovn: OvnSandbox, root: Path) -> None:
        self.ovn = ovn
        self.dir = root / "manifests"
        self.dir.mkdir()
        objects = layer2_objects()
        objects.append(_vmd(objects))
        self.objects = objects
        self.topology = snapshot_of(objects)  # all pods and the network, for the lab
        lab(ovn, self.topology)
        non_policies = [o for o in objects if o["kind"] != "MultiNetworkPolicy"]
        self.write("network.yaml", [o for o in non_policies if o["kind"] != "Pod"])
        self.write("pods.yaml", [o for o in non_policies if o["kind"] == "Pod"])
        for policy in (o for o in objects if o["kind"] == "MultiNetworkPolicy"):
            self.write(f"{policy['metadata']['name']}.yaml", [policy])
        self.source = FilesSource([self.dir])
        self.reconciler = Reconciler(NbTarget(ovn.nb_remote))

    def write(self, name: str, objects: list[dict[str, Any]]) -> Path:
        path = self.dir / name
        path.write_text(yaml.safe_dump_all(objects))
        return path

    def policy(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(find(self.objects, "MultiNetworkPolicy", name))

    def reconcile(self) -> dict[str, tuple[str, str]]:
        """One reconcile; each policy's (state, reasons joined)."""
        result = self.reconciler(self.source.snapshot())
        return {s.policy: (s.state, "; ".join(s.reasons)) for s in result.statuses}

    def verdicts(self) -> Verdicts:
        return observed_matrix(self.ovn, self.topology, ports=PORT_80)


def _vmb_from(cluster: Cluster, app: str) -> dict[str, Any]:
    policy = cluster.policy(VMB_POLICY)
    policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app"] = app
    return policy


def _with_lowercase_protocol(policy: dict[str, Any]) -> dict[str, Any]:
    policy["spec"]["ingress"][0]["ports"] = [{"protocol": "tcp", "port": 80}]
    return policy


def _to_vmb(verdicts: Verdicts, src: str) -> bool:
    return verdicts[(f"virt-launcher-{src}", "virt-launcher-vmb", "80/TCP")]


def _start(ovn: OvnSandbox, tmp_path: Path) -> tuple[Cluster, Verdicts]:
    cluster = Cluster(ovn, tmp_path)
    states = cluster.reconcile()
    assert {s for s, _ in states.values()} == {"applied"}, states
    before = cluster.verdicts()
    assert _to_vmb(before, "vma") is True
    assert _to_vmb(before, "vmd") is False  # VMB admits only VMA
    assert before[("virt-launcher-vma", "virt-launcher-vmd", "80/TCP")] is True
    return cluster, before


def test_an_invalid_edit_keeps_the_last_valid_version_also_across_a_restart(
    ovn: OvnSandbox, tmp_path: Path
) -> None:
    cluster, before = _start(ovn, tmp_path)
    rows = nb_owned_keys(ovn.nb_remote)

    cluster.write(f"{VMB_POLICY}.yaml", [_with_lowercase_protocol(cluster.policy(VMB_POLICY))])
    state, message = cluster.reconcile()[f"vms/{VMB_POLICY}"]
    assert state == "held"
    assert 'spec.ingress[0].ports[0].protocol: Unsupported value: "tcp"' in message
    assert "still enforcing the last valid version (as stored at " in message
    assert cluster.verdicts() == before  # allowed stays allowed, denied stays denied
    assert nb_owned_keys(ovn.nb_remote) == rows

    # A restarted enforcer has no memory of the valid version: it leaves the rows alone.
    cluster.reconciler = Reconciler(NbTarget(ovn.nb_remote))
    state, message = cluster.reconcile()[f"vms/{VMB_POLICY}"]
    assert state == "held"
    assert "still enforcing the rows it last had in OVN" in message
    assert nb_owned_keys(ovn.nb_remote) == rows
    assert cluster.verdicts() == before
    # ... and so does a real restarted process (``mnp enforcer --once``).
    run = enforce_once(ovn.nb_remote, cluster.dir)
    assert run.returncode == 0, run.stderr
    assert "still enforcing the rows it last had in OVN" in run.stderr + run.stdout
    assert nb_owned_keys(ovn.nb_remote) == rows
    assert cluster.verdicts() == before

    # Fixed again, as a new version (VMB now admits VMD instead of VMA): it applies.
    cluster.write(f"{VMB_POLICY}.yaml", [_vmb_from(cluster, "vmd")])
    assert cluster.reconcile()[f"vms/{VMB_POLICY}"][0] == "applied"
    after = cluster.verdicts()
    assert _to_vmb(after, "vmd") is True
    assert _to_vmb(after, "vma") is False


def test_a_deleted_nad_keeps_the_policies_until_it_is_back(ovn: OvnSandbox, tmp_path: Path) -> None:
    cluster, before = _start(ovn, tmp_path)
    namespace = find(cluster.objects, "Namespace", "vms")
    cluster.write("network.yaml", [namespace])  # the NAD is gone
    states = cluster.reconcile()
    assert {s for s, _ in states.values()} == {"held"}, states
    assert "does not exist" in states[f"vms/{VMB_POLICY}"][1]
    assert cluster.verdicts() == before

    # A new version of the policy while the NAD is missing, then the NAD comes back.
    cluster.write(f"{VMB_POLICY}.yaml", [_vmb_from(cluster, "vmd")])
    assert cluster.reconcile()[f"vms/{VMB_POLICY}"][0] == "held"
    assert cluster.verdicts() == before
    nad = find(cluster.objects, "NetworkAttachmentDefinition", "flat-l2")
    cluster.write("network.yaml", [namespace, nad])
    assert {s for s, _ in cluster.reconcile().values()} == {"applied"}
    after = cluster.verdicts()
    assert _to_vmb(after, "vmd") is True
    assert _to_vmb(after, "vma") is False


def test_a_truncated_file_keeps_its_objects_and_a_removed_one_deletes(
    ovn: OvnSandbox, tmp_path: Path
) -> None:
    cluster, before = _start(ovn, tmp_path)
    policy_file = cluster.dir / f"{VMB_POLICY}.yaml"
    policy_file.write_bytes(b"")  # truncated to zero bytes
    assert cluster.reconcile()[f"vms/{VMB_POLICY}"][0] == "applied"
    assert str(policy_file) in cluster.source.objects.problems[policy_file]
    assert cluster.verdicts() == before

    policy_file.unlink()  # removed: a deliberate deletion
    states = cluster.reconcile()
    assert f"vms/{VMB_POLICY}" not in states
    assert not [k for k in nb_owned_keys(ovn.nb_remote)["Port_Group"] if VMB_POLICY in k]
    after = cluster.verdicts()
    assert _to_vmb(after, "vmd") is True  # VMB is isolated no more
    assert _to_vmb(after, "vma") is True


def test_a_policy_never_valid_isolates_its_selected_pods(ovn: OvnSandbox, tmp_path: Path) -> None:
    cluster, before = _start(ovn, tmp_path)
    never_valid = cluster.policy(VMB_POLICY)
    never_valid["metadata"]["name"] = "vmd-broken"
    never_valid["spec"]["podSelector"]["matchLabels"]["app"] = "vmd"
    never_valid["spec"]["policyTypes"] = ["Ingress", "egress"]  # invalid too: both isolated
    cluster.write("vmd-broken.yaml", [_with_lowercase_protocol(never_valid)])
    state, message = cluster.reconcile()["vms/vmd-broken"]
    assert state == "isolated"
    assert message.endswith("isolating the selected pods with no allows until the policy is fixed")
    after = cluster.verdicts()
    assert before[("virt-launcher-vma", "virt-launcher-vmd", "80/TCP")] is True
    assert after[("virt-launcher-vma", "virt-launcher-vmd", "80/TCP")] is False
    assert after[("virt-launcher-vmd", "virt-launcher-vma", "80/TCP")] is False  # egress
    others = {k: v for k, v in after.items() if "virt-launcher-vmd" not in k[:2]}
    assert others == {k: v for k, v in before.items() if k in others}

    # A restarted enforcer finds rows that allow nothing: it goes on isolating.
    cluster.reconciler = Reconciler(NbTarget(ovn.nb_remote))
    assert cluster.reconcile()["vms/vmd-broken"][0] == "isolated"
    assert cluster.verdicts() == after


def test_a_yaml_syntax_error_does_not_block_a_change_in_another_file(
    ovn: OvnSandbox, tmp_path: Path
) -> None:
    cluster, before = _start(ovn, tmp_path)
    broken = cluster.dir / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: name: x\n")
    cluster.write(f"{VMB_POLICY}.yaml", [_vmb_from(cluster, "vmd")])
    assert cluster.reconcile()[f"vms/{VMB_POLICY}"][0] == "applied"
    problem = cluster.source.objects.problems[broken]
    assert f"{broken}:3:" in problem and "invalid YAML" in problem
    after = cluster.verdicts()
    assert _to_vmb(after, "vmd") is True
    assert _to_vmb(after, "vma") is False
    unchanged = {k: v for k, v in before.items() if k[1] != "virt-launcher-vmb"}
    assert {k: after[k] for k in unchanged} == unchanged
