"""``mnp lab up --kube --cert-manager`` as a user runs it: TLS from a real cert-manager.

The real command starts cert-manager's controller and cainjector, config/'s Issuers and
Certificates issue the webhook's certificate, a projector process keeps the Secret in the
webhook's certificate directory, and cainjector fills the caBundle the lab left out. The
checks read state (the API's objects, the served certificate, the process table) and poll
with generous ceilings; nothing is timed.
"""

from __future__ import annotations

import base64
import functools
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mnp.admission import VALIDATING_WEBHOOK_NAME
from mnp_lab.cert_manager import (
    CAINJECTOR,
    CONTROLLER,
    certificate_settled,
    ensure_cert_manager_binaries,
    trigger_renewal,
)
from mnp_lab.kube_binaries import ensure_binaries
from mnp_lab.kube_lab import SECRET_PROJECTOR, WEBHOOK_KINDS, KubeLab
from mnp_lab.ovn import OvnSandbox, pid_alive
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.e2e

SYSTEM_NAMESPACE = "mnp-system"
CA_SECRET = "mnp-ca"
INVALID_EXAMPLE = REPO_ROOT / "examples" / "invalid" / "endport-below-port.yaml"
_DEADLINE_S = 240.0  # a ceiling for a busy 2-core machine, not an expectation

T = TypeVar("T")


def mnp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mnp", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        timeout=900,
    )


def _until(probe: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + _DEADLINE_S
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"never got there: {what}")
        time.sleep(0.2)


def _pgrep(pattern: str) -> list[str]:
    """Processes whose command line mentions ``pattern`` (the lab's directory)."""
    result = subprocess.run(["pgrep", "-a", "-f", pattern], capture_output=True, text=True)
    return result.stdout.splitlines()


def test_up_kube_cert_manager_issues_injects_renews_and_down(tmp_path: Path) -> None:
    ensure_binaries(progress=sys.stderr)
    ensure_cert_manager_binaries(progress=sys.stderr)
    lab_dir = tmp_path / "lab"

    up = mnp(
        "lab", "up", "--dir", str(lab_dir), "--kube", "--cert-manager", "-f", "examples/layer2"
    )
    try:
        assert up.returncode == 0, up.stderr
        # The example's policies went through the webhook, whose CA only cainjector knows.
        assert "multinetworkpolicy.k8s.cni.cncf.io/vmc-egress-to-vma created" in up.stderr
        lab_state = json.loads((lab_dir / "lab.json").read_text())
        processes: dict[str, int] = lab_state["kube"]["processes"]
        assert set(processes) == {
            "webhook",
            "enforcer",
            "pod-controller",
            CONTROLLER,
            CAINJECTOR,
            SECRET_PROJECTOR,
        }
        assert set(processes.values()) <= set(lab_state["pids"])
        pids: list[int] = lab_state["pids"]
        assert all(pid_alive(p) for p in pids)
        assert lab_state["kube"]["ca_bundle"] == ""  # the lab minted no CA of its own

        lab = KubeLab.attach(lab_dir, progress=None)
        namespace, certificate = lab.serving_certificate
        assert (namespace, certificate) == (SYSTEM_NAMESPACE, "mnp-webhook")

        ca = _ca(lab)
        for kind in WEBHOOK_KINDS:
            bundle = _until(functools.partial(_ca_bundle, lab, kind), f"{kind}'s caBundle")
            assert ca in bundle

        # The webhook serves what cert-manager issued, from the projected directory.
        first = _served_certificate(lab, ca)
        assert first == _issued_leaf(lab, namespace)
        assert (lab_dir / "webhook-tls" / "tls.crt").readlink() == Path("..data/tls.crt")

        denied = lab.kubectl("apply", "-f", str(INVALID_EXAMPLE), check=False)
        assert denied.returncode == 1
        assert (
            f'Error from server (Forbidden): error when creating "{INVALID_EXAMPLE}": '
            f'admission webhook "{VALIDATING_WEBHOOK_NAME}" denied the request: '
            'MultiNetworkPolicy.k8s.cni.cncf.io "port-range-backwards" is invalid: '
            "spec.ingress[0].ports[0].endPort: Invalid value: "
        ) in denied.stderr

        trigger_renewal(lab.plane, namespace, certificate)
        _until(
            lambda: certificate_settled(lab.plane, namespace, certificate, 2),
            "the renewed Certificate at revision 2",
        )
        renewed = _issued_leaf(lab, namespace)
        assert renewed.serial_number != first.serial_number
        # The new files reach the webhook through the projector, like a kubelet sync.
        _until(
            lambda: _served_certificate(lab, ca) == renewed,
            "the webhook to serve the renewed certificate",
        )
        assert _ca(lab) == ca  # a renewal leaves the trusted CA alone

        valid = _valid_policy()
        created = lab.kubectl("create", "-f", "-", input=json.dumps(valid), check=False)
        assert created.returncode == 0, created.stderr
        assert created.stdout == "multinetworkpolicy.k8s.cni.cncf.io/after-renewal created\n"
    finally:
        down = mnp("lab", "down", "--dir", str(lab_dir))

    assert down.returncode == 0, down.stderr
    assert not any(pid_alive(p) for p in pids)
    assert _pgrep(str(lab_dir)) == []
    assert json.loads((lab_dir / "lab.json").read_text())["pids"] == []
    assert OvnSandbox(lab_dir).pids() == {}


def test_cert_manager_needs_kube_and_its_gates_need_cert_manager(tmp_path: Path) -> None:
    result = mnp("lab", "up", "--dir", str(tmp_path), "--cert-manager", "-f", "examples/layer2")
    gates = mnp(
        "lab", "up", "--dir", str(tmp_path), "--kube", "--cert-manager-feature-gates=A=true"
    )

    assert (result.returncode, gates.returncode) == (2, 2)
    assert result.stderr == "mnp lab up: --cert-manager needs --kube\n"
    assert gates.stderr == "mnp lab up: --cert-manager-feature-gates needs --cert-manager\n"
    assert list(tmp_path.iterdir()) == []


def _secret(lab: KubeLab, namespace: str, name: str) -> dict[str, bytes]:
    out = lab.kubectl("get", "secret", name, "-n", namespace, "-o", "json").stdout
    data = json.loads(out).get("data") or {}
    return {key: base64.b64decode(value) for key, value in data.items()}


def _ca(lab: KubeLab) -> x509.Certificate:
    return x509.load_pem_x509_certificate(_secret(lab, SYSTEM_NAMESPACE, CA_SECRET)["tls.crt"])


def _issued_leaf(lab: KubeLab, namespace: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(_secret(lab, namespace, "mnp-webhook-tls")["tls.crt"])[0]


def _ca_bundle(lab: KubeLab, kind: str) -> list[x509.Certificate] | None:
    """Every webhook's caBundle in the configuration, once all are set and equal."""
    out = lab.kubectl("get", kind.lower(), "-o", "json").stdout
    hooks = [h for item in json.loads(out)["items"] for h in item["webhooks"]]
    bundles = {hook["clientConfig"].get("caBundle") for hook in hooks}
    if not hooks or len(bundles) != 1 or None in bundles:
        return None
    (bundle,) = bundles
    return x509.load_pem_x509_certificates(base64.b64decode(bundle))


def _served_certificate(lab: KubeLab, ca: x509.Certificate) -> x509.Certificate:
    """What a new TLS connection to the webhook gets, verified against cert-manager's CA."""
    ctx = ssl.create_default_context(cadata=ca.public_bytes(Encoding.PEM).decode())
    with (
        socket.create_connection(("127.0.0.1", lab.webhook_port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _valid_policy() -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "name": "after-renewal",
            "namespace": "vms",
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": "flat-l2"},
        },
        "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 8080}]}]},
    }
