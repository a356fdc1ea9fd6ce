"""The same spec, twice, through a real kube-apiserver of every tested release: as a native
``networking.k8s.io/v1`` NetworkPolicy and as a MultiNetworkPolicy through both mnp webhooks.

Each spec is a server-side dry-run create of both kinds, over one kept-alive client. The
verdicts, the *sets* of ``field: Type: detail`` errors (the native Status' causes; the
webhook's denial message), the warnings (``Warning`` headers) and the stored specs with their
defaults must be equal, apart from the deliberate extensions in ``EXTENSION_WARNINGS`` (the
README lists them). The webhook is started without ``--kube-version``: it must find the
server's release itself.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mnp.admission import TOLERATED_SUFFIX, VALIDATING_WEBHOOK_NAME
from mnp_lab.kube import KubeControlPlane
from tests.support.certs import CertificateAuthority
from tests.support.kube_versions import TESTED_MINORS, binaries_for
from tests.support.kubectl import apply_objects, create_namespace, rendered_config, wait_established
from tests.support.netpol_specs import generated_specs, upstream_cases
from tests.support.paths import CONFIG_DIR
from tests.support.webhook_process import WebhookProcess, client_context

NAMESPACE = "differential"
NAD_NAME = "blue"
GENERATED_PER_VERSION = 260
SEED = 20261201
# A MultiNetworkPolicy created before the webhooks are registered (as if stored under older
# rules), for the ratcheting tests: an invalid label value in spec.podSelector (ratcheted by
# every release) and host bits in a CIDR (an error from 1.36, which ratchets stored CIDRs).
STORED_NAME = "stored-before-tightening"
STORED_CIDR = "10.0.0.1/8"
STORED_SPEC: dict[str, Any] = {
    "podSelector": {
        "matchExpressions": [{"key": "app", "operator": "In", "values": ["bad value"]}]
    },
    "ingress": [{"from": [{"ipBlock": {"cidr": STORED_CIDR}}]}],
}

# Warnings the webhook adds on purpose, beyond the API server's own (README "Deliberate
# extensions"): rules that spec.policyTypes makes ineffective.
EXTENSION_WARNINGS = re.compile(
    r"^spec\.(ingress|egress): \d+ \w+ rule\(s\) have no effect because"
)

_ERROR_START = re.compile(
    r", (?=(?:spec|metadata)[^ ]*: (?:Invalid value|Required value|Unsupported value|Forbidden"
    r"|Not found|Duplicate value|Too long|Too many|Internal error))"
)
_WARNING_HEADER = re.compile(r'^\d{3} \S+ "(.*)"$', re.DOTALL)

NAD: dict[str, Any] = {
    "apiVersion": "k8s.cni.cncf.io/v1",
    "kind": "NetworkAttachmentDefinition",
    "metadata": {"name": NAD_NAME, "namespace": NAMESPACE},
    "spec": {
        "config": json.dumps(
            {
                "cniVersion": "0.4.0",
                "name": "blue-net",
                "netAttachDefName": f"{NAMESPACE}/{NAD_NAME}",
                "topology": "layer2",
                "type": "ovn-k8s-cni-overlay",
                "subnets": "192.168.100.0/24",
            }
        )
    },
}


@dataclass(frozen=True)
class Answer:
    """What one dry-run create told the client."""

    allowed: bool
    errors: frozenset[str]
    warnings: frozenset[str]
    spec: Any


@dataclass
class Plane:
    minor: str
    kube: KubeControlPlane
    client: httpx.Client
    webhook_log: Path


def _unquote_warning(header: str) -> str:
    match = _WARNING_HEADER.match(header)
    text = match.group(1) if match else header
    return re.sub(r"\\(.)", r"\1", text)


def _native_errors(status: dict[str, Any]) -> frozenset[str]:
    causes = (status.get("details") or {}).get("causes") or []
    return frozenset(
        f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes
    )


def _webhook_errors(message: str) -> frozenset[str]:
    prefix = f'admission webhook "{VALIDATING_WEBHOOK_NAME}" denied the request: '
    assert message.startswith(prefix), message
    body = message[len(prefix) :].split(" is invalid: ", 1)[1]
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    return frozenset(_ERROR_START.split(body))


def _without_empty(value: Any, key: str = "") -> Any:
    """The spec as Go's omitempty prints it: a native object drops empty lists and maps (but
    keeps ``podSelector: {}`` and ``namespaceSelector: {}``), a CRD keeps what it was sent."""
    if isinstance(value, dict):
        return {
            k: _without_empty(v, k)
            for k, v in value.items()
            if not (v == [] or (v == {} and k not in ("podSelector", "namespaceSelector")))
        }
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def _answer(response: httpx.Response, webhook: bool) -> Answer:
    warnings = frozenset(_unquote_warning(h) for h in response.headers.get_list("warning"))
    body = response.json()
    if response.status_code == 201:
        return Answer(True, frozenset(), warnings, _without_empty(body["spec"]))
    if webhook and response.status_code == 403:
        return Answer(False, _webhook_errors(body["message"]), warnings, None)
    assert response.status_code == 422, (response.status_code, body)
    return Answer(False, _native_errors(body), warnings, None)


def _native(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


def _multi(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": NAD_NAME},
        },
        "spec": spec,
    }


_NATIVE_URL = f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies"
_MULTI_URL = f"/apis/k8s.cni.cncf.io/v1beta1/namespaces/{NAMESPACE}/multi-networkpolicies"


def dry_run_both(client: httpx.Client, name: str, spec: dict[str, Any]) -> tuple[Answer, Answer]:
    params = {"dryRun": "All"}
    native = client.post(_NATIVE_URL, params=params, json=_native(name, spec))
    multi = client.post(_MULTI_URL, params=params, json=_multi(name, spec))
    return _answer(native, webhook=False), _answer(multi, webhook=True)


def _kube_client(kube: KubeControlPlane) -> httpx.Client:
    pki = kube.dir / "pki"
    ctx = ssl.create_default_context(cafile=str(kube.ca_file))
    ctx.load_cert_chain(pki / "admin.crt", pki / "admin.key")
    return httpx.Client(base_url=kube.url, verify=ctx, timeout=30)


def _register_webhooks(kube: KubeControlPlane, url: str, ca_pem: bytes) -> None:
    configs = []
    for obj in rendered_config(kube):
        if obj["kind"] not in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            continue
        for hook in obj["webhooks"]:
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {
                "url": f"{url}{path}",
                "caBundle": base64.b64encode(ca_pem).decode(),
            }
        configs.append(obj)
    apply_objects(kube, *configs)


def _wait_until_webhook_answers(client: httpx.Client) -> None:
    """The API server picks up webhook configurations asynchronously."""
    probe = {"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}
    for _ in range(600):
        response = client.post(_MULTI_URL, params={"dryRun": "All"}, json=_multi("probe", probe))
        if response.status_code == 403 and VALIDATING_WEBHOOK_NAME in response.text:
            return
        time.sleep(0.1)
    pytest.fail(f"the API server never called the webhook; last answer: {response.text}")


@pytest.fixture(scope="module", params=TESTED_MINORS, ids=lambda m: f"kube-{m}")
def plane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Plane]:
    """A control plane of one release with config/'s CRDs, a NAD with subnets, one policy
    stored before the webhooks existed, and `mnp webhook` registered as config/ ships it."""
    minor: str = request.param
    work = tmp_path_factory.mktemp(f"differential-{minor}")
    kube = KubeControlPlane(work / "kube", binaries_for(minor)).start()
    ca = CertificateAuthority("mnp differential webhook CA")
    ca.issue_server(["127.0.0.1", "localhost"]).write(work)
    webhook = WebhookProcess(
        [
            f"--kubeconfig={kube.kubeconfig}",
            f"--cert-file={work / 'tls.crt'}",
            f"--key-file={work / 'tls.key'}",
        ],
        work / "webhook.log",
    )
    client = _kube_client(kube)
    try:
        kube.kubectl("apply", "-f", str(CONFIG_DIR / "crd"))
        wait_established(
            kube,
            "network-attachment-definitions.k8s.cni.cncf.io",
            "multi-networkpolicies.k8s.cni.cncf.io",
        )
        create_namespace(kube, NAMESPACE)
        apply_objects(kube, NAD)
        stored = client.post(_MULTI_URL, json=_multi(STORED_NAME, STORED_SPEC))
        assert stored.status_code == 201, stored.text
        webhook.wait_ready(client_context(ca.cert_pem))
        _register_webhooks(kube, webhook.url, ca.cert_pem)
        _wait_until_webhook_answers(client)
        yield Plane(minor, kube, client, webhook.log_path)
    finally:
        client.close()
        webhook.stop()
        kube.stop()


def _differences(native: Answer, multi: Answer) -> dict[str, Any]:
    extra = {w for w in multi.warnings if EXTENSION_WARNINGS.match(w)}
    found: dict[str, Any] = {}
    if native.allowed != multi.allowed:
        found["allowed"] = (native.allowed, multi.allowed)
    if native.errors != multi.errors:
        found["errors"] = {
            "native only": sorted(native.errors - multi.errors),
            "webhook only": sorted(multi.errors - native.errors),
        }
    if native.warnings != multi.warnings - extra:
        found["warnings"] = {
            "native only": sorted(native.warnings - multi.warnings),
            "webhook only": sorted(multi.warnings - extra - native.warnings),
        }
    if native.spec != multi.spec:
        found["spec"] = {"native": native.spec, "webhook": multi.spec}
    return found


def _run(plane: Plane, specs: list[dict[str, Any]], prefix: str) -> tuple[int, list[Any]]:
    differing = []
    denied = 0
    for i, spec in enumerate(specs):
        native, multi = dry_run_both(plane.client, f"{prefix}-{i}", spec)
        denied += not native.allowed
        if diff := _differences(native, multi):
            differing.append({"spec": spec, **diff})
    return denied, differing


def test_the_webhook_found_the_servers_release(plane: Plane) -> None:
    assert f"validating as Kubernetes {plane.minor}" in plane.webhook_log.read_text()


def test_upstream_cases_get_the_servers_answer(plane: Plane) -> None:
    specs = upstream_cases()
    denied, differing = _run(plane, specs, "upstream")
    assert differing == [], json.dumps(differing[:5], indent=1)
    assert 0 < denied < len(specs)


def test_generated_specs_get_the_servers_answer(plane: Plane) -> None:
    specs = generated_specs(SEED, GENERATED_PER_VERSION)
    denied, differing = _run(plane, specs, "generated")
    assert differing == [], f"{len(differing)} of {len(specs)} differ:\n" + json.dumps(
        differing[:5], indent=1
    )
    # Both verdicts occur often enough for the comparison to mean something.
    assert len(specs) // 5 < denied < len(specs) * 4 // 5


def test_non_standard_cidrs_follow_the_servers_release(plane: Plane) -> None:
    spec = {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "010.0.0.0/8"}}]}]}
    native, multi = dry_run_both(plane.client, "leading-zeros", spec)
    assert _differences(native, multi) == {}
    path = "spec.egress[0].to[0].ipBlock.cidr"
    if plane.minor == "1.35":
        assert multi.allowed
        assert multi.warnings == {
            f'{path}: non-standard CIDR value "010.0.0.0/8" will be considered invalid in a '
            'future Kubernetes release: use "10.0.0.0/8"'
        }
    else:
        assert multi.errors == {
            f'{path}: Invalid value: "010.0.0.0/8": must not have leading 0s in IP or prefix length'
        }


def test_end_port_below_port_shows_the_servers_value(plane: Plane) -> None:
    spec = {"podSelector": {}, "egress": [{"ports": [{"port": 35000, "endPort": 32768}]}]}
    native, multi = dry_run_both(plane.client, "end-port", spec)
    shown = 35000 if plane.minor == "1.35" else 32768
    assert (
        native.errors
        == multi.errors
        == {
            f"spec.egress[0].ports[0].endPort: Invalid value: {shown}: must be greater than or "
            "equal to `port`"
        }
    )


def _patch(plane: Plane, name: str, patch: dict[str, Any]) -> httpx.Response:
    """A server-side dry-run merge patch: the stored object never changes."""
    return plane.client.patch(
        f"{_MULTI_URL}/{name}",
        params={"dryRun": "All"},
        content=json.dumps(patch),
        headers={"Content-Type": "application/merge-patch+json"},
    )


def test_an_unrelated_edit_of_stored_invalid_values_is_admitted_with_warnings(
    plane: Plane,
) -> None:
    response = _patch(plane, STORED_NAME, {"metadata": {"labels": {"edited": "yes"}}})

    assert response.status_code == 200, response.text
    assert response.json()["metadata"]["labels"] == {"edited": "yes"}
    warnings = [_unquote_warning(h) for h in response.headers.get_list("warning")]
    tolerated = sorted(
        w.split(": Invalid value: ")[0] for w in warnings if w.endswith(TOLERATED_SUFFIX)
    )
    expected = ["spec.podSelector.matchExpressions[0].values[0]"]
    if plane.minor != "1.35":  # 1.35 admits host bits anyway (with its warning)
        expected.insert(0, "spec.ingress[0].from[0].ipBlock.cidr")
    assert tolerated == expected, warnings
    ambiguous = (
        f'spec.ingress[0].from[0].ipBlock.cidr: CIDR value "{STORED_CIDR}" is ambiguous in this '
        'context (should be "10.0.0.0/8" or "10.0.0.1/32"?)'
    )
    assert ambiguous in warnings


def test_a_new_invalid_value_in_a_stored_policy_is_denied(plane: Plane) -> None:
    patch = {"spec": {"podSelector": {"matchLabels": {"bad key!": "x"}}}}

    response = _patch(plane, STORED_NAME, patch)

    assert response.status_code == 403, response.text
    errors = _webhook_errors(response.json()["message"])
    assert {e.split(": Invalid value: ")[0] for e in errors} == {"spec.podSelector.matchLabels"}


def test_a_changed_cidr_is_validated_again(plane: Plane) -> None:
    patch = {"spec": {"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.1.1/8"}}]}]}}

    response = _patch(plane, STORED_NAME, patch)

    if plane.minor == "1.35":
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 403, response.text
        assert _webhook_errors(response.json()["message"]) == {
            'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.1.1/8": must not have bits '
            "set beyond the prefix length"
        }


def test_creating_the_stored_values_anew_is_denied(plane: Plane) -> None:
    response = plane.client.post(
        _MULTI_URL, params={"dryRun": "All"}, json=_multi("fresh-copy", STORED_SPEC)
    )

    assert response.status_code == 403, response.text
    assert "spec.podSelector.matchExpressions[0].values[0]" in response.json()["message"]
