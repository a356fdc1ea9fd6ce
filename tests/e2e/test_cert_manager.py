"""A real cert-manager against the real API server: issuance, caBundle injection, renewal.

The controller and cainjector are built from Go modules (hack/build-cert-manager-binaries.sh)
and run as local processes; every check waits on the API's state, never on time.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from mnp_lab.cert_manager import (
    BUILD_SCRIPT,
    CAINJECTOR,
    CONTROLLER,
    CRD_NAMES,
    CertManager,
    CertManagerBinaries,
    CertManagerError,
    ensure_cert_manager_binaries,
)
from mnp_lab.kube import KubeControlPlane
from tests.support.kubectl import apply_objects, create_namespace, get_object

_GO_MOD = BUILD_SCRIPT.parent / "cert-manager" / "go.mod"
_PIN = re.search(
    r"^\s*(?:require\s+)?github\.com/cert-manager/cert-manager (v\S+)", _GO_MOD.read_text(), re.M
)
assert _PIN is not None, f"cert-manager is not pinned in {_GO_MOD}"
CM_VERSION = _PIN.group(1)

SERVING_DNS_NAME = "mnp-webhook.mnp-system.svc"


@pytest.fixture(scope="module")
def cert_manager_binaries() -> CertManagerBinaries:
    return ensure_cert_manager_binaries(progress=sys.stderr)


@pytest.fixture(scope="module")
def cert_manager(
    kube: KubeControlPlane,
    cert_manager_binaries: CertManagerBinaries,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CertManager]:
    cm = CertManager(kube, tmp_path_factory.mktemp("cert-manager"), cert_manager_binaries)
    cm.start()
    try:
        yield cm
    finally:
        exit_codes = cm.stop()
    # Both shut down on SIGTERM by themselves, and cleanly.
    assert exit_codes == {CONTROLLER: 0, CAINJECTOR: 0}


@pytest.fixture
def namespace(kube: KubeControlPlane) -> str:
    name = f"cm-{uuid.uuid4().hex[:8]}"
    create_namespace(kube, name)
    return name


# --- helpers ------------------------------------------------------------------------------


def _issue_self_signed(kube: KubeControlPlane, namespace: str, name: str = "serving") -> None:
    """A self-signed Issuer and a Certificate from it, stored in the Secret ``name``."""
    apply_objects(
        kube,
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": "selfsigned", "namespace": namespace},
            "spec": {"selfSigned": {}},
        },
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "secretName": name,
                "dnsNames": [SERVING_DNS_NAME],
                "ipAddresses": ["127.0.0.1"],
                "issuerRef": {"name": "selfsigned", "kind": "Issuer"},
            },
        },
    )


def _issue_through_a_ca(kube: KubeControlPlane, namespace: str) -> None:
    """A self-signed root CA Certificate, a CA Issuer over its Secret, and a serving
    Certificate from that Issuer: renewing the serving certificate keeps the CA."""
    apply_objects(
        kube,
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": "selfsigned", "namespace": namespace},
            "spec": {"selfSigned": {}},
        },
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": "root-ca", "namespace": namespace},
            "spec": {
                "secretName": "root-ca",
                "isCA": True,
                "commonName": "mnp test root CA",
                "issuerRef": {"name": "selfsigned", "kind": "Issuer"},
            },
        },
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": "ca", "namespace": namespace},
            "spec": {"ca": {"secretName": "root-ca"}},
        },
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": "serving", "namespace": namespace},
            "spec": {
                "secretName": "serving",
                "dnsNames": [SERVING_DNS_NAME],
                "issuerRef": {"name": "ca", "kind": "Issuer"},
            },
        },
    )


def _secret_data(kube: KubeControlPlane, namespace: str, name: str) -> dict[str, bytes] | None:
    result = kube.kubectl("get", "secret", name, "-n", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    data = json.loads(result.stdout).get("data") or {}
    return {key: base64.b64decode(value) for key, value in data.items()}


def _issued_secret(cm: CertManager, namespace: str, name: str = "serving") -> dict[str, bytes]:
    def probe() -> dict[str, bytes] | None:
        data = _secret_data(cm.kube, namespace, name)
        return data if data and data.get("tls.crt") else None

    return cm.wait_for(probe, f"Secret {namespace}/{name} to hold tls.crt")


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond["type"] == type_:
            return dict(cond)
    return None


def _settled_certificate(
    cm: CertManager, namespace: str, revision: int, name: str = "serving"
) -> dict[str, Any]:
    """The Certificate once it is Ready at ``revision`` with no issuance in progress."""

    def probe() -> dict[str, Any] | None:
        cert: dict[str, Any] = get_object(cm.kube, "certificate", name, namespace)
        ready = _condition(cert, "Ready")
        settled = (
            ready is not None
            and ready["status"] == "True"
            and cert["status"].get("revision") == revision
            and _condition(cert, "Issuing") is None
        )
        return cert if settled else None

    return cm.wait_for(probe, f"Certificate {namespace}/{name} Ready at revision {revision}")


def _pem_certificates(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)


# --- the binaries -------------------------------------------------------------------------


def test_binaries_are_the_pinned_version(cert_manager_binaries: CertManagerBinaries) -> None:
    assert cert_manager_binaries.versions["cert-manager"] == CM_VERSION
    assert cert_manager_binaries.bin_dir.parent.name == CM_VERSION
    for name, binary in [
        (CONTROLLER, cert_manager_binaries.controller),
        (CAINJECTOR, cert_manager_binaries.cainjector),
    ]:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == f"{name} {CM_VERSION}"
    crds = {p.name for p in cert_manager_binaries.crd_dir.glob("*.yaml")}
    expected = {f"{group}_{plural}.yaml" for plural, group in (n.split(".", 1) for n in CRD_NAMES)}
    assert crds == expected


def test_build_is_skipped_when_the_version_matches(
    cert_manager_binaries: CertManagerBinaries,
) -> None:
    progress = io.StringIO()

    binaries = ensure_cert_manager_binaries(progress=progress)

    assert binaries == cert_manager_binaries
    assert progress.getvalue().startswith("[build-cert-manager-binaries] up to date: ")


def test_bin_dir_follows_mnp_cache_dir(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--print-bin-dir"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MNP_CACHE_DIR": str(tmp_path)},
    )
    assert result.stdout.strip() == str(tmp_path / "cert-manager" / CM_VERSION / "bin")
    assert list(tmp_path.iterdir()) == []


def test_build_script_names_a_bad_argument() -> None:
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--bogus"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "[build-cert-manager-binaries] ERROR: unknown argument '--bogus' "
        "(expected --print-bin-dir or --force)"
    )


def test_a_failed_build_says_why_and_leaves_nothing_behind(tmp_path: Path) -> None:
    # A copy of the build inputs with go.sum emptied: go refuses to build, quickly.
    hack = tmp_path / "hack"
    hack.mkdir()
    shutil.copy(BUILD_SCRIPT, hack)
    shutil.copytree(BUILD_SCRIPT.parent / "lib", hack / "lib")
    shutil.copytree(BUILD_SCRIPT.parent / "cert-manager", hack / "cert-manager")
    (hack / "cert-manager" / "go.sum").write_text("")
    cache = tmp_path / "cache"

    result = subprocess.run(
        ["bash", str(hack / BUILD_SCRIPT.name)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MNP_CACHE_DIR": str(cache)},
    )

    go_version = subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert result.returncode == 1
    assert "missing go.sum entry" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"[build-cert-manager-binaries] ERROR: cert-manager {CM_VERSION} did not build with "
        f"{go_version}; fix the error above (no fallback binaries are used)"
    )
    target = cache / "cert-manager" / CM_VERSION
    assert sorted(p.name for p in target.iterdir()) == [".lock", "build.log"]


# --- the running cert-manager -------------------------------------------------------------


def test_a_self_signed_certificate_is_issued(cert_manager: CertManager, namespace: str) -> None:
    _issue_self_signed(cert_manager.kube, namespace)

    secret = _issued_secret(cert_manager, namespace)

    (leaf,) = _pem_certificates(secret["tls.crt"])
    assert leaf.issuer == leaf.subject
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [SERVING_DNS_NAME]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert secret["ca.crt"] == secret["tls.crt"]
    assert secret["tls.key"].startswith(b"-----BEGIN ")
    _settled_certificate(cert_manager, namespace, revision=1)


def test_a_ca_issuer_signs_with_the_ca_certificate(
    cert_manager: CertManager, namespace: str
) -> None:
    _issue_through_a_ca(cert_manager.kube, namespace)

    root_secret = _issued_secret(cert_manager, namespace, "root-ca")
    secret = _issued_secret(cert_manager, namespace)

    (root,) = _pem_certificates(root_secret["tls.crt"])
    (leaf,) = _pem_certificates(secret["tls.crt"])
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.issuer == root.subject != leaf.subject
    leaf.verify_directly_issued_by(root)
    assert _pem_certificates(secret["ca.crt"]) == [root]
    _settled_certificate(cert_manager, namespace, revision=1)


@pytest.mark.parametrize("kind", ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"])
def test_cainjector_fills_the_ca_bundle_of_a_url_webhook(
    cert_manager: CertManager, namespace: str, kind: str
) -> None:
    kube = cert_manager.kube
    _issue_self_signed(kube, namespace)
    secret = _issued_secret(cert_manager, namespace)
    name = f"{namespace}-{kind.lower()}"
    webhook = {
        "name": "never-called.mnp.example",
        # Nothing is ever sent to it: no request matches the rule, and a failure is ignored.
        "clientConfig": {"url": "https://127.0.0.1:9/validate"},
        "rules": [
            {
                "apiGroups": ["never.mnp.example"],
                "apiVersions": ["v1"],
                "operations": ["CREATE"],
                "resources": ["nothings"],
            }
        ],
        "failurePolicy": "Ignore",
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    }
    apply_objects(
        kube,
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {
                "name": name,
                "annotations": {"cert-manager.io/inject-ca-from": f"{namespace}/serving"},
            },
            "webhooks": [webhook],
        },
    )
    try:

        def ca_bundle() -> bytes | None:
            out = kube.kubectl("get", kind.lower(), name, "-o", "json").stdout
            bundle = json.loads(out)["webhooks"][0]["clientConfig"].get("caBundle")
            return base64.b64decode(bundle) if bundle else None

        bundle = cert_manager.wait_for(ca_bundle, f"the caBundle of {kind} {name}")

        (ca,) = _pem_certificates(secret["ca.crt"])
        assert ca in _pem_certificates(bundle)
    finally:
        kube.kubectl("delete", kind.lower(), name, "--ignore-not-found")


def test_a_manually_triggered_renewal_reissues_the_secret(
    cert_manager: CertManager, namespace: str
) -> None:
    kube = cert_manager.kube
    _issue_self_signed(kube, namespace)
    _settled_certificate(cert_manager, namespace, revision=1)
    (first,) = _pem_certificates(_issued_secret(cert_manager, namespace)["tls.crt"])

    # What `cmctl renew` does: an Issuing=True condition, set through the status subresource.
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    issuing = {
        "type": "Issuing",
        "status": "True",
        "reason": "ManuallyTriggered",
        "message": "Certificate re-issuance manually triggered",
        "lastTransitionTime": now,
    }
    patch = [{"op": "add", "path": "/status/conditions/-", "value": issuing}]
    kube.kubectl(
        "patch", "certificate", "serving", "-n", namespace,
        "--subresource=status", "--type=json", f"--patch={json.dumps(patch)}",
    )  # fmt: skip

    _settled_certificate(cert_manager, namespace, revision=2)
    (second,) = _pem_certificates(_issued_secret(cert_manager, namespace)["tls.crt"])
    assert second.serial_number != first.serial_number
    assert second.subject == first.subject


def test_a_process_that_exits_says_why(
    kube: KubeControlPlane, cert_manager_binaries: CertManagerBinaries, tmp_path: Path
) -> None:
    broken = CertManager(kube, tmp_path, cert_manager_binaries, feature_gates="NoSuchGate=true")

    with pytest.raises(CertManagerError) as failure:
        broken.start()

    message = str(failure.value)
    assert message.startswith(f"{CONTROLLER} exited with 2; the end of ")
    assert "unrecognized feature gate: NoSuchGate" in message
    # Both processes ran in tmp_path; stop() left none of them running.
    assert broken.pids == []
    assert _pids_in(tmp_path) == []


def _pids_in(cwd: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cwd").resolve() == cwd.resolve():
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids
