"""``mnp lab up --kube`` / ``trace`` / ``down`` as a user runs them, as real processes.

The lab plays OVN-Kubernetes: a pod created with kubectl gets its address annotation and
its switch port, and a deleted pod loses its port (no kubelet is involved).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mnp_lab.kube_binaries import ensure_binaries
from mnp_lab.ovn import OvnSandbox, pid_alive
from tests.support.paths import REPO_ROOT

_POLL_ATTEMPTS = 600  # each a kubectl round trip; a ceiling, not an expectation


def mnp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mnp", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        timeout=600,
    )


def test_up_kube_pods_get_ports_trace_and_down(tmp_path: Path) -> None:
    kubectl_bin = ensure_binaries(progress=sys.stderr).kubectl
    lab_dir = tmp_path / "lab"
    env = dict(os.environ, KUBECONFIG=str(lab_dir / "kubeconfig"))

    def kubectl(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(kubectl_bin), *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )

    up = mnp("lab", "up", "--dir", str(lab_dir), "--kube", "-f", "examples/layer2")
    try:
        assert up.returncode == 0, up.stderr
        lines = up.stdout.splitlines()
        assert lines[0] == f"lab up in {lab_dir}"
        assert f"  export KUBECONFIG={lab_dir}/kubeconfig" in lines
        # NADs and the namespace first, then the pods, then the policies.
        applied = [line for line in up.stderr.splitlines() if line.endswith(" created")]
        assert applied == [
            "namespace/vms created",
            "networkattachmentdefinition.k8s.cni.cncf.io/flat-l2 created",
            "pod/virt-launcher-vma created",
            "pod/virt-launcher-vmb created",
            "pod/virt-launcher-vmc created",
            "multinetworkpolicy.k8s.cni.cncf.io/vma-ingress-from-vmc created",
            "multinetworkpolicy.k8s.cni.cncf.io/vmb-ingress-from-vma created",
            "multinetworkpolicy.k8s.cni.cncf.io/vmc-egress-to-vma created",
        ]
        lab = json.loads((lab_dir / "lab.json").read_text())
        pids: list[int] = lab["pids"]
        assert set(lab["kube"]["processes"]) == {"webhook", "enforcer", "pod-controller"}
        assert all(pid_alive(p) for p in pids)

        # The stored policies got the webhook's defaults.
        stored = json.loads(
            kubectl("get", "multi-policy", "vmc-egress-to-vma", "-n", "vms", "-o", "json").stdout
        )
        assert stored["spec"]["policyTypes"] == ["Egress"]

        # A pod created with kubectl, without addresses: the lab gives it the first free one
        # and a switch port.
        pod = _pod("vms", "vmd", {"app": "vmd"}, "flat-l2")
        created = kubectl("create", "-f", "-", input=json.dumps(pod))
        assert created.stdout == "pod/vmd created\n", created.stderr
        annotation = _until(
            lambda: _annotations(kubectl, "vms", "vmd").get("k8s.ovn.org/pod-networks")
        )
        assert json.loads(annotation) == {
            "vms/flat-l2": {
                "ip_addresses": ["10.200.0.1/24"],
                "mac_address": "0a:58:0a:c8:00:01",
                "role": "secondary",
            }
        }
        sandbox = OvnSandbox.attach(lab_dir)
        switch = "vms.flat.l2_ovn_layer2_switch"
        assert "vms.flat.l2_vms_vmd" in sandbox.nbctl("lsp-list", switch)

        # The verified matrix, read from the API server: VMD is not isolated, VMC may only
        # send to VMA, VMA and VMB accept only VMC and VMA.
        traced = mnp("lab", "trace", "--dir", str(lab_dir), "-o", "json")
        assert traced.returncode == 0, traced.stdout + traced.stderr
        report = json.loads(traced.stdout)
        assert report["agree"] is True
        assert [n["probes"] for n in report["networks"]] == [12]
        text = mnp("lab", "trace", "--dir", str(lab_dir))
        assert text.returncode == 0, text.stderr
        assert text.stdout.splitlines()[0] == (
            "network vms-flat-l2 (layer2): 12 probes, 0 disagreements"
        )
        assert text.stdout.splitlines()[4:8] == [
            "  vms/virt-launcher-vma  -  .  .  .     -  .  .  . ",
            "  vms/virt-launcher-vmb  X  -  .  .     X  -  .  . ",
            "  vms/virt-launcher-vmc  .  X  -  X     .  X  -  X ",
            "  vms/vmd                X  X  .  -     X  X  .  - ",
        ]

        # Files would fight the pod controller over the topology: refused, saying what to do.
        with_files = mnp("lab", "trace", "--dir", str(lab_dir), "-f", "examples/layer2")
        assert with_files.returncode == 2
        assert with_files.stderr == (
            f"mnp lab trace: {lab_dir} is a Kubernetes lab: apply the files with "
            f"`kubectl --kubeconfig {lab_dir}/kubeconfig apply -f ...`, then trace without -f\n"
        )

        # Deleting the pod needs no kubelet, and its port goes.
        deleted = kubectl("delete", "pod", "vmd", "-n", "vms")
        assert deleted.returncode == 0, deleted.stderr
        assert deleted.stdout == 'pod "vmd" deleted from vms namespace\n'
        _until(lambda: "vms.flat.l2_vms_vmd" not in sandbox.nbctl("lsp-list", switch))
    finally:
        down = mnp("lab", "down", "--dir", str(lab_dir))

    assert down.returncode == 0, down.stderr
    assert down.stdout == f"lab down in {lab_dir}\n"
    assert not any(pid_alive(p) for p in pids)
    assert json.loads((lab_dir / "lab.json").read_text())["pids"] == []
    assert OvnSandbox(lab_dir).pids() == {}


def _pod(namespace: str, name: str, labels: dict[str, str], networks: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {"k8s.v1.cni.cncf.io/networks": networks},
        },
        "spec": {"nodeName": "node-a", "containers": [{"name": "main", "image": "example"}]},
    }


def _annotations(kubectl: Any, namespace: str, name: str) -> dict[str, str]:
    out = kubectl("get", "pod", name, "-n", namespace, "-o", "json")
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout)["metadata"].get("annotations") or {})


def _until(value: Any) -> Any:
    for _ in range(_POLL_ATTEMPTS):
        got = value()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("the lab never got there")
