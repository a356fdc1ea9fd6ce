"""The webhook's bounds without a server: the limits object, bounded answers and log text,
surrogate-safe encoding, readiness while draining, and the cap on reviews being decided."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from mnp.admission import Verdict
from mnp.model import NadKey
from webhook.admission_http import (
    MAX_MESSAGE_CHARS,
    MAX_WARNINGS,
    error_body,
    loggable,
    review_response,
    truncated,
)
from webhook.app import create_app, create_probe_app
from webhook.limits import MAX_BODY_BYTES, MIB, ServerLimits
from webhook.metrics import WebhookMetrics
from webhook.nad_cache import SnapshotSource

NAD = yaml.safe_load("""\
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: blue, namespace: ns1}
spec:
  config: '{"cniVersion": "0.4.0", "name": "blue", "netAttachDefName": "ns1/blue",
    "topology": "layer2", "type": "ovn-k8s-cni-overlay", "subnets": "10.1.0.0/16"}'
""")


def review_doc(uid: str) -> dict[str, Any]:
    obj = {
        "metadata": {
            "name": "p",
            "namespace": "ns1",
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": "blue"},
        },
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
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


def test_default_limits_take_whatever_the_api_server_sends() -> None:
    limits = ServerLimits()
    assert limits.max_body_bytes == MAX_BODY_BYTES == 7 * MIB  # object + oldObject + envelope
    assert limits.body_budget_bytes >= 2 * limits.max_body_bytes
    assert limits.header_timeout_s >= 10 and limits.body_timeout_s >= 30  # its timeouts
    assert limits.keep_alive_s == 90
    assert limits.shutdown_grace_s < 30  # the Deployment's terminationGracePeriodSeconds
    assert limits.reap_idle_above == 384


@pytest.mark.parametrize(
    "bad",
    [
        {"body_budget_bytes": MIB},
        {"reap_idle_fraction": 0.0},
        {"shutdown_drain_s": 20.0},
        {"header_timeout_s": 0.0},
        {"max_connections": 0},
    ],
)
def test_inconsistent_limits_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ServerLimits(**bad)


def test_truncated_and_loggable_are_bounded_and_encodable() -> None:
    assert truncated("abc", 3) == "abc"
    assert truncated("abcdef", 3) == "abc... (3 more characters)"
    line = loggable("x\ud800" * 5000)
    line.encode("utf-8")  # a log handler can write it
    assert line.startswith("x\\ud800x\\ud800")
    assert len(line) < 2048 * 6 + 40


def test_answers_with_lone_surrogates_are_ascii_json() -> None:
    body = review_response("u\udfff", Verdict(False, message="bad value \ud800"))
    assert body.isascii()
    assert json.loads(body)["response"]["status"]["message"] == "bad value \ud800"
    assert json.loads(error_body("no \ud800")) == {"error": "no \ud800"}


def test_answers_are_bounded_whatever_the_verdict() -> None:
    verdict = Verdict(False, message="m" * (10 * MAX_MESSAGE_CHARS), warnings=["w"] * 1000)
    response = json.loads(review_response("u", verdict))["response"]
    assert len(response["status"]["message"]) < MAX_MESSAGE_CHARS + 100
    assert len(response["warnings"]) == MAX_WARNINGS + 1
    assert response["warnings"][-1] == f"{1000 - MAX_WARNINGS} more warnings not shown"


def test_readyz_fails_once_draining_on_both_apps() -> None:
    source = SnapshotSource([NAD])
    draining = [False]
    main = TestClient(
        create_app(source, WebhookMetrics(), lambda: True, draining=lambda: draining[0])
    )
    probes = TestClient(
        create_probe_app(source, WebhookMetrics(), lambda: True, lambda: draining[0])
    )
    assert main.get("/readyz").status_code == probes.get("/readyz").status_code == 200
    draining[0] = True
    for client in (main, probes):
        r = client.get("/readyz")
        assert (r.status_code, r.json()["waiting"]) == (503, ["shutting down"])
    assert main.get("/healthz").status_code == 200  # alive: the kubelet must not restart it


class BlockingLookup(SnapshotSource):
    """A cache that misses, and a GET that blocks until released: a review held in flight."""

    def __init__(self) -> None:
        super().__init__([])
        self.entered = threading.Event()
        self.release = threading.Event()

    def cached_nad(self, key: NadKey) -> tuple[bool, dict[str, Any] | None]:
        return False, None

    def get(self, key: NadKey) -> dict[str, Any] | None:
        self.entered.set()
        self.release.wait(30)
        return NAD  # type: ignore[no-any-return]


def test_reviews_past_the_inflight_cap_get_503_at_once() -> None:
    source = BlockingLookup()
    metrics = WebhookMetrics()
    app = create_app(source, metrics, lambda: True, limits=ServerLimits(max_inflight_reviews=1))

    async def two_reviews() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.create_task(client.post("/validate", json=review_doc("first")))
            while not source.entered.is_set():
                assert not first.done(), first.result().text
                await asyncio.sleep(0.01)
            second = await client.post("/validate", json=review_doc("second"))
            source.release.set()
            return await first, second

    first, second = asyncio.run(two_reviews())
    assert first.json()["response"] == {"uid": "first", "allowed": True}
    assert second.status_code == 503
    assert "1 reviews in progress" in second.json()["error"]
    assert b"mnp_webhook_reviews_refused_total 1.0" in metrics.render()
