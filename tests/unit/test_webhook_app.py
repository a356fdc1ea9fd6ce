"""The webhook's pure logic: body limits, nesting, envelope parsing, sources, readiness."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from mnp.admission import Verdict
from mnp.model import NadKey
from webhook.admission_http import (
    BadRequest,
    check_nesting,
    parse_review,
    read_body,
    review_response,
)
from webhook.app import create_app
from webhook.metrics import WebhookMetrics
from webhook.nad_cache import SnapshotSource, policy_targets

SNAPSHOT = """\
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: blue, namespace: ns1}
spec:
  config: '{"cniVersion": "0.4.0", "name": "blue", "netAttachDefName": "ns1/blue",
    "topology": "layer2", "type": "ovn-k8s-cni-overlay", "subnets": "10.1.0.0/16"}'
"""
NAD = yaml.safe_load(SNAPSHOT)


def review_doc(obj: Any, uid: str = "u") -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "operation": "CREATE",
            "kind": {
                "group": "k8s.cni.cncf.io",
                "version": "v1beta1",
                "kind": "MultiNetworkPolicy",
            },
            "namespace": "ns1",
            "name": "p",
            "object": obj,
        },
    }


def policy(policy_for: str = "blue") -> dict[str, Any]:
    return {
        "metadata": {
            "name": "p",
            "namespace": "ns1",
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": policy_for},
        },
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


def test_read_body_limits_by_header_and_by_count() -> None:
    assert asyncio.run(read_body("3", _chunks(b"a", b"bc"), limit=3)) == b"abc"
    with pytest.raises(BadRequest) as declared:
        asyncio.run(read_body("4", _chunks(b"abcd"), limit=3))
    assert declared.value.status == 413
    with pytest.raises(BadRequest) as counted:  # a lying or absent Content-Length
        asyncio.run(read_body(None, _chunks(b"ab", b"cd"), limit=3))
    assert counted.value.status == 413
    with pytest.raises(BadRequest) as garbage:
        asyncio.run(read_body("lots", _chunks(), limit=3))
    assert garbage.value.status == 400


def test_nesting_is_counted_outside_strings_only() -> None:
    check_nesting(b"[" * 100 + b"]" * 100)
    check_nesting(json.dumps({"s": "[" * 1000, "t": '\\"{' * 500}).encode())
    with pytest.raises(BadRequest, match="deeper than 100"):
        check_nesting(b"[" * 101 + b"]" * 101)
    with pytest.raises(BadRequest, match="deeper than 100"):
        check_nesting(b'{"a":' * 101 + b"1" + b"}" * 101)
    # Many shallow brackets are fine.
    check_nesting(b"[" + b"[],{}," * 10_000 + b"[]]")


def test_parse_review_reads_the_envelope() -> None:
    req = parse_review(json.dumps(review_doc({"x": 1}, uid="abc")).encode())
    assert (req.uid, req.operation, req.kind, req.group) == (
        "abc",
        "CREATE",
        "MultiNetworkPolicy",
        "k8s.cni.cncf.io",
    )
    assert req.obj == {"x": 1} and req.old_obj is None
    assert req.describe() == "CREATE MultiNetworkPolicy ns1/p"
    with pytest.raises(BadRequest, match=r"request\.uid must not be empty"):
        parse_review(json.dumps(review_doc({}, uid="")).encode())


def test_review_response_shapes() -> None:
    allowed = json.loads(review_response("u", Verdict(True, warnings=["w"], patch=[{"op": "x"}])))
    assert allowed["response"] == {"uid": "u", "allowed": True, "warnings": ["w"]}
    patched = json.loads(review_response("u", Verdict(True, patch=[{"op": "x"}]), with_patch=True))
    assert patched["response"]["patchType"] == "JSONPatch"
    assert patched["response"]["patch"] == "W3sib3AiOiJ4In1d"  # base64 of [{"op":"x"}]
    denied = json.loads(review_response("u", Verdict(False, message="no")))
    assert denied["response"]["status"] == {
        "status": "Failure",
        "code": 403,
        "reason": "Forbidden",
        "message": "no",
    }


def test_policy_targets_uses_the_policy_namespace_for_bare_names() -> None:
    assert policy_targets(policy(" blue , other/red ")) == [
        NadKey("ns1", "blue"),
        NadKey("other", "red"),
    ]
    assert policy_targets("garbage") == []
    assert policy_targets({"metadata": {"annotations": 5}}) == []


def test_snapshot_source_indexes_nads_and_policies() -> None:
    source = SnapshotSource([NAD, {**policy(), "kind": "MultiNetworkPolicy"}, "junk", {}])
    assert source.ready
    assert source.get(NadKey("ns1", "blue")) == NAD
    assert source.get(NadKey("ns1", "red")) is None
    assert [p["metadata"]["name"] for p in source.policies_targeting(NadKey("ns1", "blue"))] == [
        "p"
    ]
    assert (source.nad_count(), source.policy_count()) == (1, 1)


class MissingThenFound(SnapshotSource):
    """A source whose cache has not seen the NAD yet; ``get`` plays the direct GET."""

    def __init__(self, found: dict[str, Any] | None, fail: bool = False) -> None:
        super().__init__([])
        self.found, self.fail, self.gets = found, fail, 0

    def cached_nad(self, key: NadKey) -> tuple[bool, dict[str, Any] | None]:
        return False, None

    def get(self, key: NadKey) -> dict[str, Any] | None:
        self.gets += 1
        if self.fail:
            raise ConnectionError("apiserver unreachable")
        return self.found


def _client(source: SnapshotSource, cert: bool = True) -> TestClient:
    return TestClient(create_app(source, WebhookMetrics(), lambda: cert))


def test_cache_miss_asks_before_rejecting() -> None:
    source = MissingThenFound(NAD)
    r = _client(source).post("/validate", json=review_doc(policy()))
    assert r.json()["response"] == {"uid": "u", "allowed": True}
    assert source.gets == 1


def test_failed_lookup_is_a_retryable_denial_not_a_rejection() -> None:
    r = _client(MissingThenFound(None, fail=True)).post("/validate", json=review_doc(policy()))
    status = r.json()["response"]["status"]
    assert (r.status_code, status["code"], status["reason"]) == (200, 503, "ServiceUnavailable")
    assert "cannot look up NetworkAttachmentDefinition ns1/blue" in status["message"]


def test_readyz_needs_a_certificate() -> None:
    source = SnapshotSource([NAD])
    assert _client(source, cert=True).get("/readyz").status_code == 200
    r = _client(source, cert=False).get("/readyz")
    assert r.status_code == 503
    assert r.json()["waiting"] == ["no serving certificate loaded"]


def test_bench_floor_only_when_asked() -> None:
    source = SnapshotSource([])
    plain = _client(source)
    assert plain.post("/bench/floor", json=review_doc({})).status_code == 404
    floor = TestClient(create_app(source, WebhookMetrics(), lambda: True, bench_floor=True))
    r = floor.post("/bench/floor", json=review_doc({}, uid="f"))
    assert r.json()["response"] == {"uid": "f", "allowed": True}
    assert floor.post("/bench/floor", content=b"[]").status_code == 400


def test_namespace_comes_from_the_request_when_the_object_has_none() -> None:
    # A create may carry the namespace only in the request; a bare policy-for name must then
    # resolve there (ns1/blue), not in "default", and the patch must not add metadata.
    obj = policy()
    del obj["metadata"]["namespace"]
    client = _client(SnapshotSource([NAD]))
    assert client.post("/validate", json=review_doc(obj)).json()["response"] == {
        "uid": "u",
        "allowed": True,
    }
    patched = client.post("/mutate", json=review_doc(obj)).json()["response"]
    ops = json.loads(base64.b64decode(patched["patch"]))
    assert ops == [
        {
            "op": "replace",
            "path": "/metadata/annotations/k8s.v1.cni.cncf.io~1policy-for",
            "value": "ns1/blue",
        }
    ]
