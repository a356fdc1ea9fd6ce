"""Input that used to crash the answer or the log of the real ``mnp webhook``: lone surrogate
escapes (``"\\ud800"`` in JSON) anywhere in the object, and objects whose denial is huge.
Each gets a normal answer, and the log has no traceback and no line beyond its bound."""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.certs import CertificateAuthority
from tests.support.strategies import policies
from tests.support.webhook_process import (
    SNAPSHOT_YAML,
    WebhookProcess,
    admission_review,
    client_context,
)

pytestmark = pytest.mark.timeout(300)

SURROGATES = ["\ud800", "\udfff", "\udbff\udbff"]
LOG_LINE_BOUND = 4096  # the logged message is cut at 2,048 characters; the rest is framing
ANSWER_BOUND = 128 * 1024  # a denial's message is cut at 64 KiB characters


@dataclass
class Webhook:
    proc: WebhookProcess
    client: httpx.Client

    def post(self, path: str, doc: Any) -> httpx.Response:
        # json.dumps escapes a lone surrogate as \udxxx, just as a hostile client would send.
        content = json.dumps(doc).encode("ascii")
        return self.client.post(path, content=content, headers={"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    tmp = tmp_path_factory.mktemp("bad-input")
    ca = CertificateAuthority()
    ca.issue_server().write(tmp / "certs")
    (tmp / "snapshot.yaml").write_text(SNAPSHOT_YAML)
    proc = WebhookProcess(
        ["--snapshot", str(tmp / "snapshot.yaml"), "--cert-dir", str(tmp / "certs")],
        tmp / "webhook.log",
    )
    ctx: ssl.SSLContext = client_context(ca.cert_pem)
    try:
        proc.wait_ready(ctx)
        with httpx.Client(base_url=proc.url, verify=ctx, timeout=60) as client:
            yield Webhook(proc, client)
    finally:
        proc.stop()
    log = proc.log()
    assert "Traceback" not in log, log
    assert "Logging error" not in log, log
    longest = max(len(line) for line in log.splitlines())
    assert longest <= LOG_LINE_BOUND, longest


def policy(match_labels: dict[str, str], name: str = "p") -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": "default/tenant-blue"},
        },
        "spec": {
            "podSelector": {"matchLabels": match_labels},
            "ingress": [{}],
            "policyTypes": ["Ingress"],
        },
    }


def answer(r: httpx.Response, uid: str) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    response: dict[str, Any] = r.json()["response"]
    assert response["uid"] == uid
    return response


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_surrogate_in_a_label_value_is_denied_naming_the_field(
    webhook: Webhook, surrogate: str
) -> None:
    uid = str(uuid.uuid4())
    r = webhook.post("/validate", admission_review(policy({"app": surrogate}), uid=uid))
    response = answer(r, uid)
    assert response["allowed"] is False
    assert response["status"]["reason"] == "Forbidden"
    message = response["status"]["message"]
    assert message.startswith(
        'MultiNetworkPolicy.k8s.cni.cncf.io "p" is invalid: spec.podSelector.matchLabels: '
        "Invalid value: "
    ), message


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_surrogate_in_a_label_key_is_denied_and_mutate_answers(
    webhook: Webhook, surrogate: str
) -> None:
    uid = str(uuid.uuid4())
    doc = admission_review(policy({f"app{surrogate}": "web"}), uid=uid)
    response = answer(webhook.post("/validate", doc), uid)
    assert response["allowed"] is False
    assert "spec.podSelector.matchLabels" in response["status"]["message"]
    assert answer(webhook.post("/mutate", doc), uid)["allowed"] is True


def with_surrogates(obj: Any) -> Any:
    """Every string in ``obj``, keys too, with a lone surrogate appended."""
    if isinstance(obj, str):
        return obj + "\ud800"
    if isinstance(obj, list):
        return [with_surrogates(v) for v in obj]
    if isinstance(obj, dict):
        return {with_surrogates(k): with_surrogates(v) for k, v in obj.items()}
    return obj


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(obj=policies, path=st.sampled_from(["/validate", "/mutate"]))
def test_surrogates_anywhere_get_a_normal_answer(webhook: Webhook, obj: Any, path: str) -> None:
    uid = str(uuid.uuid4())
    response = answer(webhook.post(path, admission_review(with_surrogates(obj), uid=uid)), uid)
    if not response["allowed"]:
        assert response["status"]["reason"] in ("Forbidden", "BadRequest"), response


def test_a_huge_denial_is_bounded_in_the_answer_and_the_log(webhook: Webhook) -> None:
    labels = {f"key{i}": f"bad value {i}" for i in range(20_000)}
    uid = str(uuid.uuid4())
    r = webhook.post("/validate", admission_review(policy(labels), uid=uid))
    response = answer(r, uid)
    assert response["allowed"] is False
    assert len(r.content) <= ANSWER_BOUND, len(r.content)
    # The core renders at most 64 field errors, then says how many more there are (the
    # webhook's own 64 KiB cut of a message is the second bound, for any other long text).
    assert response["status"]["message"].endswith(" and 19936 more errors]")
    # The log bound is checked over the whole log when the module's webhook stops.
    assert "denied CREATE MultiNetworkPolicy default/p: " in Path(webhook.proc.log_path).read_text()
