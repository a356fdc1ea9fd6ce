"""`mnp webhook` behind a real kube-apiserver, installed with config/'s webhook configurations.

Only ``clientConfig`` is changed (a loopback URL and the lab CA as ``caBundle``), so the
rules, namespaceSelector, failurePolicy and names under test are the shipped ones.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mnp.admission import NAD_WEBHOOK_NAME, VALIDATING_WEBHOOK_NAME
from mnp_lab.kube import KubeControlPlane
from mnp_lab.processes import free_port
from tests.support.certs import CertificateAuthority
from tests.support.kubectl import apply_objects, create_namespace, get_object, rendered_config
from tests.support.service_accounts import assert_no_forbidden, webhook_kubeconfig

NAMESPACE = "e2e-webhook"
_START_TIMEOUT_S = 60.0  # a ceiling for polling, not a performance expectation

NAD: dict[str, Any] = {
    "apiVersion": "k8s.cni.cncf.io/v1",
    "kind": "NetworkAttachmentDefinition",
    "metadata": {"name": "blue", "namespace": NAMESPACE},
    "spec": {
        "config": json.dumps(
            {
                "cniVersion": "0.4.0",
                "name": "blue-net",
                "netAttachDefName": f"{NAMESPACE}/blue",
                "topology": "layer2",
                "type": "ovn-k8s-cni-overlay",
                "subnets": "192.168.100.0/24",
            }
        )
    },
}


def _policy(name: str, spec: dict[str, Any], policy_for: str = "blue") -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": policy_for},
        },
        "spec": spec,
    }


BAD_PORT = _policy("bad-port", {"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]})


def _webhook_argv() -> list[str]:
    """``mnp webhook`` through the installed console script, once ``mnp.cli`` exists."""
    console_script = Path(sys.executable).parent / "mnp"
    if importlib.util.find_spec("mnp.cli") is not None and console_script.exists():
        return [str(console_script), "webhook"]
    return [sys.executable, "-m", "webhook.command"]


def _wait_ready(url: str, ca_pem: bytes, proc: subprocess.Popen[bytes], log: Path) -> None:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    deadline = time.monotonic() + _START_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mnp webhook exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", context=ctx, timeout=2) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except OSError as e:
            last = str(e)
        time.sleep(0.2)
    pytest.fail(f"mnp webhook not ready at {url} ({last}):\n{log.read_text()[-3000:]}")


def _point_at(config: dict[str, Any], base_url: str, ca_pem: bytes) -> dict[str, Any]:
    for hook in config["webhooks"]:
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {
            "url": f"{base_url}{path}",
            "caBundle": base64.b64encode(ca_pem).decode(),
        }
    return config


@pytest.fixture(scope="module")
def webhook(
    mnp_crds: KubeControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeControlPlane]:
    """`mnp webhook` reading NADs from the control plane, with config/'s webhooks installed."""
    kube = mnp_crds
    workdir = tmp_path_factory.mktemp("webhook")
    ca = CertificateAuthority("mnp e2e webhook CA")
    ca.issue_server(["127.0.0.1"]).write(workdir)
    port = free_port()
    base_url = f"https://127.0.0.1:{port}"
    log = workdir / "webhook.log"
    kubeconfig = webhook_kubeconfig(kube)  # config/'s role only, so a missing grant fails
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *_webhook_argv(),
                f"--kubeconfig={kubeconfig}",
                f"--cert-file={workdir / 'tls.crt'}",
                f"--key-file={workdir / 'tls.key'}",
                "--host=127.0.0.1",
                f"--port={port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    installed: list[str] = []
    try:
        _wait_ready(base_url, ca.cert_pem, proc, log)
        configs = [
            _point_at(o, base_url, ca.cert_pem)
            for o in rendered_config(kube)
            if o["kind"] in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
        ]
        apply_objects(kube, *configs)
        installed = [f"{c['kind'].lower()}/{c['metadata']['name']}" for c in configs]
        create_namespace(kube, NAMESPACE)
        _wait_until_webhook_answers(kube)
        apply_objects(kube, NAD)
        yield kube
    finally:
        if installed:
            kube.kubectl("delete", "--ignore-not-found", *installed)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert_no_forbidden(log, "mnp webhook")  # reached only when all went well


def _wait_until_webhook_answers(kube: KubeControlPlane) -> None:
    """The API server picks up new webhook configurations asynchronously; probe until it
    calls ours (a server-side dry run of an invalid policy, which creates nothing)."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        result = kube.kubectl(
            "create", "--dry-run=server", "-f", "-", input=json.dumps(BAD_PORT), check=False
        )
        if f'admission webhook "{VALIDATING_WEBHOOK_NAME}"' in result.stderr:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the API server never called the webhook; last answer: {result}")
        time.sleep(0.2)


def test_invalid_policy_is_denied_with_the_full_kubectl_message(
    webhook: KubeControlPlane, tmp_path: Path
) -> None:
    manifest = tmp_path / "bad-port.yaml"
    manifest.write_text(json.dumps(BAD_PORT))

    result = webhook.kubectl("create", "-f", str(manifest), check=False)

    assert result.returncode == 1
    # A Forbidden denial (not Invalid, which kubectl would print as "The request is invalid")
    # shows the reason and the webhook's name (kubectl pkg/cmd/util/helpers.go checkErr).
    assert result.stderr.strip() == (
        f'Error from server (Forbidden): error when creating "{manifest}": admission webhook '
        f'"{VALIDATING_WEBHOOK_NAME}" denied the request: MultiNetworkPolicy.k8s.cni.cncf.io '
        '"bad-port" is invalid: spec.ingress[0].ports[0].port: Invalid value: 70000: '
        "must be between 1 and 65535, inclusive"
    )
    denied = webhook.kubectl("get", "multi-policy", "bad-port", "-n", NAMESPACE, check=False)
    assert denied.returncode == 1  # nothing was stored


def test_policy_for_a_missing_nad_is_denied(webhook: KubeControlPlane) -> None:
    policy = _policy("to-nowhere", {"podSelector": {}}, policy_for="missing")

    result = webhook.kubectl("apply", "-f", "-", input=json.dumps(policy), check=False)

    assert result.returncode == 1
    assert f'admission webhook "{VALIDATING_WEBHOOK_NAME}" denied the request' in result.stderr
    assert "metadata.annotations[k8s.v1.cni.cncf.io/policy-for]: Not found" in result.stderr
    assert f"{NAMESPACE}/missing" in result.stderr


def test_valid_policy_is_stored_with_network_policy_defaults(webhook: KubeControlPlane) -> None:
    spec = {
        "podSelector": {},
        "ingress": [{"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}],
    }
    apply_objects(webhook, _policy("defaults", spec))

    stored = get_object(webhook, "multi-policy", "defaults", NAMESPACE)

    assert stored["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{"ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}],
    }


def test_deleting_a_targeted_nad_warns_about_its_policies(webhook: KubeControlPlane) -> None:
    guarded = {**NAD, "metadata": {"name": "green", "namespace": NAMESPACE}}
    config = json.loads(NAD["spec"]["config"])
    config.update(name="green-net", netAttachDefName=f"{NAMESPACE}/green")
    guarded["spec"] = {"config": json.dumps(config)}
    apply_objects(webhook, guarded, _policy("uses-green", {"podSelector": {}}, "green"))

    result = webhook.kubectl("delete", "net-attach-def", "green", "-n", NAMESPACE)

    # The NAD guard allows, and kubectl prints its warnings as "Warning: ..." on stderr.
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert warnings, result.stderr
    assert any("uses-green" in line for line in warnings), result.stderr
    gone = webhook.kubectl("get", "net-attach-def", "green", "-n", NAMESPACE, check=False)
    assert gone.returncode == 1


def test_webhooks_skip_the_excluded_namespaces(webhook: KubeControlPlane) -> None:
    # kube-system is excluded by namespaceSelector: an invalid policy there is only
    # checked by the CRD schema, which accepts it.
    bad = {**BAD_PORT, "metadata": {**BAD_PORT["metadata"], "namespace": "kube-system"}}
    result = webhook.kubectl(
        "create", "--dry-run=server", "-f", "-", input=json.dumps(bad), check=False
    )
    assert result.returncode == 0, result.stderr
    assert NAD_WEBHOOK_NAME not in result.stderr
