"""The real ``mnp webhook`` process over real HTTPS: exact AdmissionReview answers, bad bodies,
health, readiness and metrics."""

from __future__ import annotations

import base64
import copy
import json
import re
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import jsonpatch
import pytest
import yaml

from tests.support.certs import CertificateAuthority
from tests.support.webhook_process import (
    SNAPSHOT_YAML,
    WebhookProcess,
    admission_review,
    client_context,
)

pytestmark = pytest.mark.timeout(120)

NAD, SNAPSHOT_POLICY = list(yaml.safe_load_all(SNAPSHOT_YAML))
POLICY_FOR = "k8s.v1.cni.cncf.io/policy-for"


def policy(name: str = "p", spec: Any = None, policy_for: str = "default/tenant-blue") -> Any:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {"name": name, "namespace": "default", "annotations": {POLICY_FOR: policy_for}},
        "spec": spec
        if spec is not None
        else {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]},
    }


class Webhook:
    def __init__(self, proc: WebhookProcess, ctx: ssl.SSLContext) -> None:
        self.proc = proc
        self.client = httpx.Client(base_url=proc.url, verify=ctx, timeout=30)

    def review(self, path: str, doc: Any) -> dict[str, Any]:
        r = self.client.post(path, json=doc)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["apiVersion"] == "admission.k8s.io/v1"
        assert body["kind"] == "AdmissionReview"
        response: dict[str, Any] = body["response"]
        return response

    def raw(self, path: str, content: bytes, **headers: str) -> httpx.Response:
        return self.client.post(
            path, content=content, headers={"Content-Type": "application/json", **headers}
        )


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    tmp = tmp_path_factory.mktemp("webhook")
    ca = CertificateAuthority()
    ca.issue_server().write(tmp / "certs")
    (tmp / "snapshot.yaml").write_text(SNAPSHOT_YAML)
    proc = WebhookProcess(
        ["--snapshot", str(tmp / "snapshot.yaml"), "--cert-dir", str(tmp / "certs")],
        tmp / "webhook.log",
    )
    ctx = client_context(ca.cert_pem)
    try:
        proc.wait_ready(ctx)
        hook = Webhook(proc, ctx)
        yield hook
        hook.client.close()
    finally:
        proc.stop()


def test_valid_policy_is_allowed_and_uid_echoed(webhook: Webhook) -> None:
    response = webhook.review("/validate", admission_review(policy(), uid="uid-valid"))
    assert response == {"uid": "uid-valid", "allowed": True}


def test_invalid_policy_is_denied_as_invalid(webhook: Webhook) -> None:
    spec = {"podSelector": {}, "ingress": [{"ports": [{"port": 70000, "protocol": "TCP"}]}]}
    response = webhook.review("/validate", admission_review(policy("bad", spec), uid="uid-bad"))
    assert response == {
        "uid": "uid-bad",
        "allowed": False,
        "status": {
            "status": "Failure",
            "code": 403,
            "reason": "Forbidden",
            "message": 'MultiNetworkPolicy.k8s.cni.cncf.io "bad" is invalid: '
            "spec.ingress[0].ports[0].port: Invalid value: 70000: "
            "must be between 1 and 65535, inclusive",
        },
    }


def test_unknown_nad_is_denied(webhook: Webhook) -> None:
    response = webhook.review("/validate", admission_review(policy("x", policy_for="nope")))
    assert response["allowed"] is False
    assert response["status"]["message"] == (
        'MultiNetworkPolicy.k8s.cni.cncf.io "x" is invalid: '
        "metadata.annotations[k8s.v1.cni.cncf.io/policy-for]: Not found: "
        '"default/nope": NetworkAttachmentDefinition default/nope does not exist: '
        "create the NetworkAttachmentDefinition first, then the policy"
    )


def test_update_is_reviewed_and_delete_allowed(webhook: Webhook) -> None:
    spec = {"podSelector": {}, "policyTypes": ["Sideways"]}
    update = webhook.review(
        "/validate", admission_review(policy("u", spec), operation="UPDATE", old=policy("u"))
    )
    assert update["allowed"] is False
    assert "spec.policyTypes[0]: Unsupported value: " in update["status"]["message"]
    delete = webhook.review(
        "/validate", admission_review(None, operation="DELETE", old=policy("u", spec), uid="d")
    )
    assert delete == {"uid": "d", "allowed": True}


def test_mutate_returns_the_defaulting_patch(webhook: Webhook) -> None:
    obj = policy("m", {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}], "egress": [{}]})
    response = webhook.review("/mutate", admission_review(obj, uid="uid-m"))
    assert response["uid"] == "uid-m"
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(response["patch"]))
    assert ops == [
        {"op": "add", "path": "/spec/policyTypes", "value": ["Ingress", "Egress"]},
        {"op": "add", "path": "/spec/ingress/0/ports/0/protocol", "value": "TCP"},
    ]
    patched = jsonpatch.apply_patch(copy.deepcopy(obj), ops)
    assert patched["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_mutate_without_changes_sends_no_patch(webhook: Webhook) -> None:
    response = webhook.review("/mutate", admission_review(SNAPSHOT_POLICY, uid="uid-n"))
    assert response == {"uid": "uid-n", "allowed": True}


def test_nad_delete_warns_about_its_policies(webhook: Webhook) -> None:
    doc = admission_review(
        None, operation="DELETE", kind="NetworkAttachmentDefinition", old=NAD, uid="nad"
    )
    doc["request"]["name"], doc["request"]["namespace"] = "tenant-blue", "default"
    response = webhook.review("/validate", doc)
    assert response == {
        "uid": "nad",
        "allowed": True,
        "warnings": [
            "MultiNetworkPolicy default/allow-ports-same-ns targets NetworkAttachmentDefinition "
            "default/tenant-blue, which is being deleted: the policy will not be enforced on "
            "that network until the NetworkAttachmentDefinition exists again"
        ],
    }


def test_unhandled_kind_is_denied_with_a_pointer_to_the_configuration(webhook: Webhook) -> None:
    doc = admission_review({"metadata": {"name": "x"}}, uid="pod")
    doc["request"]["kind"] = {"group": "", "version": "v1", "kind": "Pod"}
    response = webhook.review("/validate", doc)
    assert response["allowed"] is False
    assert response["status"]["code"] == 400
    assert "does not handle core/Pod" in response["status"]["message"]
    assert "webhook configuration" in response["status"]["message"]


@pytest.mark.parametrize(
    "obj",
    ["a string", 42, [1, 2], True, {"spec": "nope"}, {"metadata": [], "spec": {"ingress": 5}}],
)
def test_garbage_objects_get_a_well_formed_denial(webhook: Webhook, obj: Any) -> None:
    for path in ("/validate", "/mutate"):
        response = webhook.review(path, admission_review(obj, uid="g"))
        assert response["uid"] == "g"
        if path == "/validate" or not response["allowed"]:
            assert response["allowed"] is False
            assert response["status"]["code"] == 403
            assert response["status"]["reason"] == "Forbidden"


BAD_ENVELOPES: list[tuple[bytes, str]] = [
    (b"not json at all", "request body is not JSON"),
    (b"", "request body is not JSON"),
    (b"\xff\xfe\x00garbage", "request body is not JSON"),
    (b'{"a": NaN}', "request body is not JSON"),
    (b"[1, 2, 3]", "must be an AdmissionReview object, got list"),
    (b'"AdmissionReview"', "must be an AdmissionReview object, got str"),
    (b'{"kind": "AdmissionReview"}', "apiVersion admission.k8s.io/v1"),
    (
        b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1beta1", "request": {}}',
        'apiVersion "admission.k8s.io/v1beta1"',
    ),
    (
        b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}',
        "AdmissionReview.request is required",
    ),
    (
        b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": []}',
        "AdmissionReview.request must be a dict, got list",
    ),
    (
        b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {}}',
        "request.uid is required",
    ),
    (
        b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {"uid": 7}}',
        "request.uid must be a str, got int",
    ),
    (
        b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", '
        b'"request": {"uid": "u", "operation": "PATCH"}}',
        'request.operation "PATCH" is not one of CREATE, UPDATE, DELETE, CONNECT',
    ),
    (
        b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", '
        b'"request": {"uid": "u", "operation": "CREATE", "kind": "MultiNetworkPolicy"}}',
        "request.kind must be a dict, got str",
    ),
    (
        b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", '
        b'"request": {"uid": "u", "operation": "CREATE", "kind": {"kind": 1}}}',
        "request.kind.kind must be a str, got int",
    ),
]


@pytest.mark.parametrize(("body", "error"), BAD_ENVELOPES)
def test_malformed_bodies_are_400_with_a_reason(webhook: Webhook, body: bytes, error: str) -> None:
    for path in ("/validate", "/mutate"):
        r = webhook.raw(path, body)
        assert r.status_code == 400
        assert error in r.json()["error"]


def test_oversized_body_is_413_by_header(webhook: Webhook) -> None:
    body = b'{"pad": "' + b"x" * (7 * 1024 * 1024) + b'"}'
    r = webhook.raw("/validate", body)
    assert r.status_code == 413
    assert "exceeds the limit of 7340032 bytes" in r.json()["error"]


def test_oversized_body_is_413_while_streaming(webhook: Webhook) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(8):  # chunked transfer: no Content-Length to check up front
            yield b" " * (1024 * 1024)

    r = webhook.client.post("/validate", content=chunks())
    assert r.status_code == 413
    assert r.json() == {"error": "request body exceeds the limit of 7340032 bytes"}


def test_body_just_under_the_limit_is_reviewed(webhook: Webhook) -> None:
    doc = admission_review(policy(), uid="big")
    text = json.dumps(doc)
    padded = text[:-1] + ', "pad": "' + "y" * (7 * 1024 * 1024 - len(text) - 20) + '"}'
    r = webhook.raw("/validate", padded.encode())
    assert r.status_code == 200
    assert r.json()["response"] == {"uid": "big", "allowed": True}


@pytest.mark.parametrize("depth", [101, 5000, 100_000])
def test_deep_nesting_is_400(webhook: Webhook, depth: int) -> None:
    doc = json.dumps(admission_review(policy(), uid="deep"))
    nested = "[" * depth + "]" * depth
    body = doc[:-1] + f', "deep": {nested}}}'
    r = webhook.raw("/validate", body.encode())
    assert r.status_code == 400
    assert r.json() == {"error": "JSON nests deeper than 100 levels; an AdmissionReview never does"}


def test_brackets_inside_strings_do_not_count_as_nesting(webhook: Webhook) -> None:
    obj = policy("brackets")
    obj["metadata"]["labels"] = {"note": "[{" * 500}
    obj["metadata"]["annotations"]["quoted"] = '\\"[[[[' * 100
    response = webhook.review("/validate", admission_review(obj, uid="s"))
    assert response["uid"] == "s"
    assert response["allowed"] is False  # the label value is invalid, not the body


def test_health_readiness_and_metrics(webhook: Webhook) -> None:
    assert webhook.client.get("/healthz").json() == {"status": "ok"}
    assert webhook.client.get("/readyz").json() == {"status": "ready"}
    webhook.review("/validate", admission_review(policy(), uid="m1"))
    webhook.raw("/validate", b"nope")
    text = webhook.client.get("/metrics").text

    def value(labels: str) -> float:
        m = re.search(
            r"^mnp_webhook_requests_total\{" + re.escape(labels) + r"\} (\S+)$", text, re.M
        )
        assert m, f"{labels} missing from:\n{text}"
        return float(m.group(1))

    assert (
        value('endpoint="/validate",kind="MultiNetworkPolicy",operation="CREATE",verdict="allowed"')
        >= 1
    )
    assert value('endpoint="/validate",kind="other",operation="other",verdict="error"') >= 1
    assert re.search(r"^mnp_webhook_nad_cache_size 1\.0$", text, re.M)
    assert re.search(
        r'^mnp_webhook_request_duration_seconds_count\{endpoint="/validate"\} ', text, re.M
    )
    assert webhook.client.post("/bench/floor", content=b"{}").status_code == 404
