"""config/'s TLS for the webhook, issued, injected and rotated by a real cert-manager.

A real kube-apiserver, cert-manager's real controller and cainjector, and a real
``mnp webhook`` process serving the issued Secret from a directory projected the way the
kubelet does it. From config/, only what a loopback sandbox must change is patched: a
``127.0.0.1`` SAN on the serving Certificate, and ``clientConfig`` as a loopback ``url``.
The webhook configurations are installed without a caBundle; cainjector fills it.

Every module-scoped sandbox runs once with cainjector's ``CAInjectorMerging`` on and once
with it off. Checks wait on state (the API's objects, the served certificate) and count
requests; no timing is asserted.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kubewatch import api_client
from mnp.admission import MUTATING_WEBHOOK_NAME, VALIDATING_WEBHOOK_NAME
from mnp_lab.cert_manager import (
    CAINJECTOR,
    CONTROLLER,
    CertManager,
    CertManagerBinaries,
    certificate_settled,
    ensure_cert_manager_binaries,
    loopback_issuance,
    trigger_renewal,
)
from mnp_lab.kube import KubeControlPlane
from mnp_lab.secret_projection import (
    SecretProjector,
    SecretReader,
    kubernetes_secret_reader,
    project,
)
from tests.support.kubectl import apply_objects, create_namespace, rendered_config
from tests.support.paths import REPO_ROOT
from tests.support.service_accounts import assert_no_forbidden, webhook_kubeconfig
from tests.support.webhook_process import WebhookProcess

SYSTEM_NAMESPACE = "mnp-system"
SERVING_CERTIFICATE = "mnp-webhook"
SERVING_SECRET = "mnp-webhook-tls"
CA_SECRET = "mnp-ca"
WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
POLICY_NAMESPACE = "cm-webhook"
INVALID_EXAMPLE = REPO_ROOT / "examples" / "invalid" / "endport-below-port.yaml"
RENEWALS = 3
# The kubelet's sync lag, shortened: the new files reach the webhook after the Secret changed.
PROJECTION_DELAY_S = 2.0
# Ceilings for polling, not expectations: the machine may be busy.
_WAIT_S = 180.0
_LOOP_MAX_REQUESTS = 100_000


def _nad(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "blue", "namespace": namespace},
        "spec": {
            "config": json.dumps(
                {
                    "cniVersion": "0.4.0",
                    "name": "blue-net",
                    "netAttachDefName": f"{namespace}/blue",
                    "topology": "layer2",
                    "type": "ovn-k8s-cni-overlay",
                    "subnets": "192.168.100.0/24",
                }
            )
        },
    }


def _policy(
    name: str, port: int, end_port: int | None = None, namespace: str = POLICY_NAMESPACE
) -> dict[str, Any]:
    ports: dict[str, Any] = (
        {"port": port} if end_port is None else {"port": port, "endPort": end_port}
    )
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": "blue"},
        },
        "spec": {"podSelector": {}, "ingress": [{"ports": [ports]}]},
    }


# --- the sandbox --------------------------------------------------------------------------


@dataclass
class Sandbox:
    kube: KubeControlPlane
    cert_manager: CertManager
    projector: SecretProjector
    webhook: WebhookProcess
    merging: bool
    installed: list[str] = field(default_factory=list)

    def secret(self, name: str) -> dict[str, bytes] | None:
        result = self.kube.kubectl(
            "get", "secret", name, "-n", SYSTEM_NAMESPACE, "-o", "json", check=False
        )
        if result.returncode != 0:
            return None
        data = json.loads(result.stdout).get("data") or {}
        return {key: base64.b64decode(value) for key, value in data.items()}

    def ca(self) -> x509.Certificate:
        secret = self.secret(CA_SECRET)
        assert secret is not None
        return x509.load_pem_x509_certificate(secret["tls.crt"])

    def ca_bundle(self, kind: str, name: str) -> list[x509.Certificate] | None:
        """Every webhook's caBundle in one configuration, once all are set and equal."""
        out = self.kube.kubectl("get", kind.lower(), name, "-o", "json").stdout
        bundles = {hook["clientConfig"].get("caBundle") for hook in json.loads(out)["webhooks"]}
        if len(bundles) != 1 or None in bundles:
            return None
        (bundle,) = bundles
        return x509.load_pem_x509_certificates(base64.b64decode(bundle))

    def served_certificate(self) -> x509.Certificate:
        """What a new TLS connection to the webhook gets, verified against the CA."""
        ctx = ssl.create_default_context(cadata=self.ca().public_bytes(Encoding.PEM).decode())
        with (
            socket.create_connection(("127.0.0.1", self.webhook.port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der)


@pytest.fixture(scope="module")
def cert_manager_binaries() -> CertManagerBinaries:
    return ensure_cert_manager_binaries(progress=sys.stderr)


@pytest.fixture(scope="module", params=[True, False], ids=["merging-on", "merging-off"])
def sandbox(
    request: pytest.FixtureRequest,
    mnp_crds: KubeControlPlane,
    cert_manager_binaries: CertManagerBinaries,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Sandbox]:
    merging: bool = request.param
    kube = mnp_crds
    workdir = tmp_path_factory.mktemp(f"cm-webhook-merging-{'on' if merging else 'off'}")
    config = rendered_config(kube)
    apply_objects(kube, *(o for o in config if o["kind"] == "Namespace"))
    cert_manager = CertManager(
        kube,
        workdir / "cert-manager",
        cert_manager_binaries,
        cainjector_feature_gates=f"CAInjectorMerging={str(merging).lower()}",
    ).start()
    projector: SecretProjector | None = None
    webhook: WebhookProcess | None = None
    installed: list[str] = []
    try:
        apply_objects(kube, *loopback_issuance(config))
        cert_manager.wait_for(
            lambda: certificate_settled(kube, SYSTEM_NAMESPACE, SERVING_CERTIFICATE, 1),
            "the serving Certificate to be issued",
            timeout=_WAIT_S,
        )
        reader = kubernetes_secret_reader(
            api_client(kube.kubeconfig), SYSTEM_NAMESPACE, SERVING_SECRET
        )
        projector = SecretProjector(reader, workdir / "tls", delay=PROJECTION_DELAY_S).start()
        projector.wait_projected(1, timeout=_WAIT_S)
        webhook = WebhookProcess(
            [
                f"--cert-dir={projector.directory}",
                f"--kubeconfig={webhook_kubeconfig(kube)}",
                "--cert-poll-interval=0.5",
            ],
            workdir / "webhook.log",
        )
        sandbox = Sandbox(kube, cert_manager, projector, webhook, merging)
        _wait_webhook_ready(sandbox)
        configs = [
            _loopback_client_config(o, webhook.port) for o in config if o["kind"] in WEBHOOK_KINDS
        ]
        apply_objects(kube, *configs)
        installed = [f"{c['kind'].lower()}/{c['metadata']['name']}" for c in configs]
        sandbox.installed = installed
        create_namespace(kube, POLICY_NAMESPACE)
        yield sandbox
    finally:
        if installed:
            kube.kubectl("delete", "--ignore-not-found", *installed)
        if webhook is not None:
            webhook.stop()
        if projector is not None:
            projector.stop()
        exit_codes = cert_manager.stop()
        # The next sandbox starts from nothing: no Certificate, Issuer or issued Secret left.
        kube.kubectl(
            "delete", "-n", SYSTEM_NAMESPACE, "--ignore-not-found",
            "certificates.cert-manager.io,certificaterequests.cert-manager.io,"
            "issuers.cert-manager.io,secrets", "--all",
        )  # fmt: skip
    assert exit_codes == {CONTROLLER: 0, CAINJECTOR: 0}
    assert webhook is not None
    assert_no_forbidden(webhook.log_path, "mnp webhook")


def _loopback_client_config(config: dict[str, Any], port: int) -> dict[str, Any]:
    """Only ``clientConfig`` changes: a loopback url, and no caBundle (cainjector sets it)."""
    for hook in config["webhooks"]:
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}"}
    return config


def _wait_webhook_ready(sandbox: Sandbox) -> None:
    def ready() -> bool:
        if sandbox.webhook.proc.poll() is not None:
            raise AssertionError(f"mnp webhook exited:\n{sandbox.webhook.log()[-3000:]}")
        try:
            sandbox.served_certificate()
        except OSError:
            return False
        return True

    sandbox.cert_manager.wait_for(ready, "mnp webhook to serve TLS", timeout=_WAIT_S)


def _wait_bundles_injected(sandbox: Sandbox) -> dict[str, list[x509.Certificate]]:
    def injected() -> dict[str, list[x509.Certificate]] | None:
        bundles = {}
        for installed in sandbox.installed:
            kind, name = installed.split("/")
            bundle = sandbox.ca_bundle(kind, name)
            if bundle is None:
                return None
            bundles[installed] = bundle
        return bundles

    return sandbox.cert_manager.wait_for(injected, "cainjector to fill every caBundle", _WAIT_S)


def _wait_webhook_called(sandbox: Sandbox) -> None:
    """The API server picks up caBundle changes asynchronously: probe with a server-side
    dry run of an invalid policy until the webhook's denial comes back."""
    bad = json.dumps(_policy("probe-backwards", 8080, 80))

    def denied() -> bool:
        result = sandbox.kube.kubectl(
            "create", "--dry-run=server", "-f", "-", input=bad, check=False
        )
        return f'admission webhook "{VALIDATING_WEBHOOK_NAME}" denied the request' in result.stderr

    _wait_bundles_injected(sandbox)
    apply_objects(sandbox.kube, _nad(POLICY_NAMESPACE))
    sandbox.cert_manager.wait_for(denied, "the API server to call the webhook", _WAIT_S)


# --- issuance and injection ---------------------------------------------------------------


def test_the_webhook_serves_the_issued_certificate_from_the_projected_directory(
    sandbox: Sandbox,
) -> None:
    secret = sandbox.secret(SERVING_SECRET)
    assert secret is not None
    (leaf,) = x509.load_pem_x509_certificates(secret["tls.crt"])
    ca = sandbox.ca()

    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf.verify_directly_issued_by(ca)
    assert x509.load_pem_x509_certificates(secret["ca.crt"]) == [ca]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [
        "mnp-webhook.mnp-system.svc",
        "mnp-webhook.mnp-system.svc.cluster.local",
    ]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    # The kubelet's layout: per-key links through ..data to a timestamped directory.
    tls_dir = sandbox.projector.directory
    data_target = Path(tls_dir / "..data").readlink()
    assert data_target.name.startswith("..") and (tls_dir / data_target).is_dir()
    for key in ("tls.crt", "tls.key", "ca.crt"):
        assert (tls_dir / key).readlink() == Path("..data") / key
        assert (tls_dir / key).read_bytes() == secret[key]
    assert sandbox.served_certificate() == leaf


@pytest.mark.parametrize("kind", WEBHOOK_KINDS)
def test_cainjector_puts_the_ca_into_the_ca_bundle(sandbox: Sandbox, kind: str) -> None:
    bundles = _wait_bundles_injected(sandbox)

    [(installed, bundle)] = [(i, b) for i, b in bundles.items() if i.startswith(kind.lower())]
    assert sandbox.ca() in bundle, installed


def test_kubectl_prints_the_denial_through_the_injected_ca(sandbox: Sandbox) -> None:
    _wait_webhook_called(sandbox)

    result = sandbox.kube.kubectl("apply", "-f", str(INVALID_EXAMPLE), check=False)

    assert result.returncode == 1
    # The NAD in the same file is created; the policy is denied, by the webhook, in the
    # words kubectl prints for an admission denial.
    denial = (
        f'Error from server (Forbidden): error when creating "{INVALID_EXAMPLE}": '
        f'admission webhook "{VALIDATING_WEBHOOK_NAME}" denied the request: '
        'MultiNetworkPolicy.k8s.cni.cncf.io "port-range-backwards" is invalid: '
        "spec.ingress[0].ports[0].endPort: Invalid value: "
    )
    assert result.stderr.startswith(denial), result.stderr
    assert result.stderr.rstrip().endswith("must be greater than or equal to `port`")
    stored = sandbox.kube.kubectl(
        "get", "multi-policy", "port-range-backwards", "-n", "default", check=False
    )
    assert stored.returncode == 1


# --- renewals under load ------------------------------------------------------------------


@dataclass
class CreateLoop:
    """Server-side dry-run creates of a valid policy, one after another, until stopped."""

    kube: KubeControlPlane
    succeeded: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def attempted(self) -> int:
        return self.succeeded + len(self.failures)

    def start(self) -> CreateLoop:
        self._thread = threading.Thread(target=self._run, name="create-loop", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        from kubernetes import client

        api: Any = client.CustomObjectsApi(api_client(self.kube.kubeconfig))
        while not self._stop.is_set() and self.attempted < _LOOP_MAX_REQUESTS:
            body = _policy(f"allow-{uuid.uuid4().hex[:10]}", 8080)
            try:
                created: dict[str, Any] = api.create_namespaced_custom_object(
                    "k8s.cni.cncf.io", "v1beta1", POLICY_NAMESPACE, "multi-networkpolicies",
                    body, dry_run="All",
                )  # fmt: skip
            except Exception as e:  # every failure is kept, and fails the test
                self.failures.append(f"{type(e).__name__}: {e}")
                continue
            # The mutating webhook ran (it defaults protocol and policyTypes).
            spec = created["spec"]
            port = spec["ingress"][0]["ports"][0]
            if port.get("protocol") == "TCP" and spec.get("policyTypes") == ["Ingress"]:
                self.succeeded += 1
            else:
                self.failures.append(f"not defaulted by {MUTATING_WEBHOOK_NAME}: {created}")

    def wait_for_more(self, sandbox: Sandbox, count: int) -> None:
        target = self.attempted + count
        sandbox.cert_manager.wait_for(
            lambda: self.attempted >= target or self._thread_died(),
            f"{count} more creates",
            _WAIT_S,
        )
        assert not self._thread_died()

    def _thread_died(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()


def _renew_and_wait_served(sandbox: Sandbox, revision: int) -> tuple[int, int]:
    """Renew the serving Certificate; return its new serial in the Secret and as served."""
    trigger_renewal(sandbox.kube, SYSTEM_NAMESPACE, SERVING_CERTIFICATE)
    sandbox.cert_manager.wait_for(
        lambda: certificate_settled(sandbox.kube, SYSTEM_NAMESPACE, SERVING_CERTIFICATE, revision),
        f"the serving Certificate at revision {revision}",
        _WAIT_S,
    )
    secret = sandbox.secret(SERVING_SECRET)
    assert secret is not None
    issued = x509.load_pem_x509_certificate(secret["tls.crt"]).serial_number
    sandbox.cert_manager.wait_for(
        lambda: sandbox.served_certificate().serial_number == issued,
        f"the webhook to serve serial {issued:x}",
        _WAIT_S,
    )
    return issued, sandbox.served_certificate().serial_number


def test_three_renewals_under_a_create_loop_fail_no_request(sandbox: Sandbox) -> None:
    _wait_webhook_called(sandbox)
    ca = sandbox.ca()
    bundles_before = _wait_bundles_injected(sandbox)
    start_revision = _current_revision(sandbox)
    serials = [sandbox.served_certificate().serial_number]
    loop = CreateLoop(sandbox.kube).start()
    try:
        loop.wait_for_more(sandbox, 5)
        for renewal in range(1, RENEWALS + 1):
            issued, served = _renew_and_wait_served(sandbox, start_revision + renewal)
            assert issued == served
            serials.append(served)
            # Requests keep going after the webhook switched certificates.
            loop.wait_for_more(sandbox, 5)
    finally:
        loop.stop()

    assert loop.failures == []
    assert loop.succeeded > 0
    assert len(set(serials)) == RENEWALS + 1
    assert sandbox.ca() == ca
    secret = sandbox.secret(SERVING_SECRET)
    assert secret is not None
    assert x509.load_pem_x509_certificates(secret["ca.crt"]) == [ca]
    assert sandbox.projector.versions == RENEWALS + 1
    # Each rotation replaced the timestamped directory; the links survived every swap.
    tls_dir = sandbox.projector.directory
    [timestamped] = [p.name for p in tls_dir.iterdir() if p.name.startswith("..2")]
    assert Path(tls_dir / "..data").readlink() == Path(timestamped)
    assert sorted(p.name for p in tls_dir.iterdir()) == sorted(
        [timestamped, "..data", "ca.crt", "tls.crt", "tls.key"]
    )
    assert (tls_dir / "tls.crt").read_bytes() == secret["tls.crt"]
    bundles_after = _wait_bundles_injected(sandbox)
    for installed, bundle in bundles_after.items():
        assert ca in bundle, installed
        # The CA never changed, so neither did what the API server trusts.
        assert bundle == bundles_before[installed], installed


def _current_revision(sandbox: Sandbox) -> int:
    out = sandbox.kube.kubectl(
        "get", "certificate", SERVING_CERTIFICATE, "-n", SYSTEM_NAMESPACE, "-o", "json"
    ).stdout
    revision: int = json.loads(out)["status"]["revision"]
    return revision


# --- why the chain: a self-signed serving certificate renewed while the kubelet lags -------

SELF_SIGNED_NAMESPACE = "cm-selfsigned"
SELF_SIGNED_HOOK = f"selfsigned.{VALIDATING_WEBHOOK_NAME}"
UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority"


def _self_signed_objects() -> list[dict[str, Any]]:
    """What config/ had before the chain: the serving certificate signs itself."""
    namespace = SELF_SIGNED_NAMESPACE
    return [
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": "selfsigned", "namespace": namespace},
            "spec": {"selfSigned": {}},
        },
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": "serving", "namespace": namespace},
            "spec": {
                "secretName": "serving",
                "dnsNames": ["mnp-webhook.mnp-system.svc"],
                "ipAddresses": ["127.0.0.1"],
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                "issuerRef": {"kind": "Issuer", "name": "selfsigned"},
            },
        },
        _nad(namespace),
    ]


def _self_signed_config(kube: KubeControlPlane, name: str, port: int) -> dict[str, Any]:
    """config/'s policy webhook, renamed and limited to SELF_SIGNED_NAMESPACE, injected from
    the self-signed Certificate."""
    [validating] = [
        o for o in rendered_config(kube) if o["kind"] == "ValidatingWebhookConfiguration"
    ]
    hook = next(h for h in validating["webhooks"] if h["name"] == VALIDATING_WEBHOOK_NAME)
    hook = {
        **hook,
        "name": SELF_SIGNED_HOOK,
        "clientConfig": {"url": f"https://127.0.0.1:{port}/validate"},
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": SELF_SIGNED_NAMESPACE}
        },
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {
            "name": name,
            "annotations": {"cert-manager.io/inject-ca-from": f"{SELF_SIGNED_NAMESPACE}/serving"},
        },
        "webhooks": [hook],
    }


def _validate_requests_served(webhook: WebhookProcess, ca_pem: bytes) -> float:
    """The webhook's own count of /validate requests it answered (from /metrics)."""
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    url = f"https://127.0.0.1:{webhook.port}/metrics"
    with urllib.request.urlopen(url, context=ctx, timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("mnp_webhook_requests_total{") and "validate" in line
    )


@dataclass
class SelfSignedWebhook:
    """A second ``mnp webhook`` serving a self-signed Certificate's Secret, projected by hand."""

    sandbox: Sandbox
    webhook: WebhookProcess
    config_name: str
    tls_dir: Path
    read_secret: SecretReader

    def create(self) -> subprocess.CompletedProcess[str]:
        """A server-side dry-run create of a valid policy that this webhook validates."""
        valid = json.dumps(_policy("allow", 8080, namespace=SELF_SIGNED_NAMESPACE))
        return self.sandbox.kube.kubectl(
            "create", "--dry-run=server", "-f", "-", input=valid, check=False
        )

    def issued(self, revision: int) -> dict[str, bytes]:
        self.sandbox.cert_manager.wait_for(
            lambda: certificate_settled(
                self.sandbox.kube, SELF_SIGNED_NAMESPACE, "serving", revision
            ),
            f"the self-signed Certificate at revision {revision}",
            _WAIT_S,
        )
        secret = self.read_secret()
        assert secret is not None
        return dict(secret)

    def called_and_allowed(self, ca_pem: bytes) -> bool:
        try:
            before = _validate_requests_served(self.webhook, ca_pem)
            allowed = self.create().returncode == 0
            return allowed and _validate_requests_served(self.webhook, ca_pem) > before
        except OSError:  # not listening yet
            return False

    def bundle(self) -> list[x509.Certificate] | None:
        return self.sandbox.ca_bundle("ValidatingWebhookConfiguration", self.config_name)


@pytest.fixture
def self_signed_webhook(sandbox: Sandbox, tmp_path: Path) -> Iterator[SelfSignedWebhook]:
    kube = sandbox.kube
    create_namespace(kube, SELF_SIGNED_NAMESPACE)
    apply_objects(kube, *_self_signed_objects())
    config_name = f"mnp-selfsigned-{'on' if sandbox.merging else 'off'}"
    read = kubernetes_secret_reader(api_client(kube.kubeconfig), SELF_SIGNED_NAMESPACE, "serving")
    webhook: WebhookProcess | None = None
    try:
        sandbox.cert_manager.wait_for(
            lambda: certificate_settled(kube, SELF_SIGNED_NAMESPACE, "serving", 1),
            "the self-signed Certificate to be issued",
            _WAIT_S,
        )
        first = read()
        assert first is not None
        project(tmp_path / "tls", first)
        webhook = WebhookProcess(
            [f"--cert-dir={tmp_path / 'tls'}", f"--kubeconfig={webhook_kubeconfig(kube)}"],
            tmp_path / "webhook.log",
        )
        apply_objects(kube, _self_signed_config(kube, config_name, webhook.port))
        yield SelfSignedWebhook(sandbox, webhook, config_name, tmp_path / "tls", read)
    finally:
        kube.kubectl(
            "delete", "--ignore-not-found", f"validatingwebhookconfiguration/{config_name}"
        )
        if webhook is not None:
            webhook.stop()
        kube.kubectl(
            "delete", "-n", SELF_SIGNED_NAMESPACE, "--ignore-not-found", "--all",
            "certificates.cert-manager.io,certificaterequests.cert-manager.io,"
            "issuers.cert-manager.io,secrets",
        )  # fmt: skip
    assert webhook is not None
    assert_no_forbidden(webhook.log_path, "mnp webhook")


def test_a_self_signed_serving_certificate_changes_the_trusted_ca_at_renewal(
    self_signed_webhook: SelfSignedWebhook,
) -> None:
    """The control for the renewal test above: with the serving certificate as its own CA,
    a renewal replaces what the API server trusts. The new files are held back (a kubelet
    that has not synced yet). With CAInjectorMerging off, writes fail until they arrive;
    with it on, the caBundle keeps the old certificate next to the new one."""
    hook = self_signed_webhook
    wait_for = hook.sandbox.cert_manager.wait_for
    first = hook.issued(1)
    old_ca = x509.load_pem_x509_certificate(first["ca.crt"])
    wait_for(lambda: hook.called_and_allowed(first["ca.crt"]), "the webhook to be called", _WAIT_S)

    trigger_renewal(hook.sandbox.kube, SELF_SIGNED_NAMESPACE, "serving")
    renewed = hook.issued(2)
    new_ca = x509.load_pem_x509_certificate(renewed["ca.crt"])
    assert new_ca != old_ca
    expected_bundle = [old_ca, new_ca] if hook.sandbox.merging else [new_ca]
    wait_for(lambda: hook.bundle() == expected_bundle, "the renewed caBundle", _WAIT_S)
    if hook.sandbox.merging:
        results = [hook.create() for _ in range(5)]
        assert [r.stderr for r in results if r.returncode != 0] == []
    else:
        # The API server trusts only the new certificate; the webhook still serves the old.
        def rejected_by_tls() -> bool:
            result = hook.create()
            return result.returncode != 0 and UNKNOWN_AUTHORITY in result.stderr

        wait_for(rejected_by_tls, "a write to fail on TLS", _WAIT_S)
        assert f'failed calling webhook "{SELF_SIGNED_HOOK}"' in hook.create().stderr

    project(hook.tls_dir, renewed)
    wait_for(lambda: hook.create().returncode == 0, "writes to pass with the new files", _WAIT_S)
