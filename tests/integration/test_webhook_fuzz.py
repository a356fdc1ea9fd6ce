"""Property: whatever is sent to the running webhook, the answer is a well-formed
AdmissionReview or a 400/413 with a reason. Never a 5xx, never an internal error."""

from __future__ import annotations

import base64
import copy
import json
import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jsonpatch
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.certs import CertificateAuthority
from tests.support.strategies import junk, maybe_junk, policies
from tests.support.webhook_process import (
    SNAPSHOT_YAML,
    WebhookProcess,
    admission_review,
    client_context,
)

pytestmark = pytest.mark.timeout(300)


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


operations = st.sampled_from(["CREATE", "UPDATE", "DELETE", "CONNECT"])


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp("fuzz")
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
        with httpx.Client(base_url=proc.url, verify=ctx, timeout=30) as c:
            yield c
        # Every unexpected exception is logged with a traceback: there must be none.
        assert "Traceback" not in proc.log(), proc.log()
    finally:
        proc.stop()


def check_answer(r: httpx.Response, path: str, uid: str | None, obj: Any = None) -> None:
    assert r.status_code in (200, 400, 413), r.text
    body = r.json()
    if r.status_code != 200:
        assert isinstance(body, dict) and set(body) == {"error"}
        assert isinstance(body["error"], str) and body["error"]
        return
    assert body["apiVersion"] == "admission.k8s.io/v1"
    assert body["kind"] == "AdmissionReview"
    response = body["response"]
    if uid is not None:
        assert response["uid"] == uid
    assert isinstance(response["allowed"], bool)
    assert set(response) <= {"uid", "allowed", "warnings", "status", "patchType", "patch"}
    for warning in response.get("warnings", []):
        assert isinstance(warning, str) and warning
    if not response["allowed"]:
        status = response["status"]
        assert status["reason"] in ("Forbidden", "BadRequest"), status  # never InternalError
        assert isinstance(status["message"], str) and status["message"]
        assert "patch" not in response
    if "patch" in response:
        assert path == "/mutate"
        assert response["patchType"] == "JSONPatch"
        ops = json.loads(base64.b64decode(response["patch"]))
        assert isinstance(ops, list) and ops
        if obj is not None:
            jsonpatch.apply_patch(copy.deepcopy(obj), ops)  # the patch applies to the object


@fuzz(2000)
@given(
    obj=policies,
    old=st.none() | policies,
    operation=operations,
    path=st.sampled_from(["/validate", "/mutate"]),
)
def test_random_policies_get_well_formed_answers(
    client: httpx.Client, obj: Any, old: Any, operation: str, path: str
) -> None:
    uid = str(uuid.uuid4())
    r = client.post(path, json=admission_review(obj, operation=operation, old=old, uid=uid))
    check_answer(r, path, uid, obj)
    assert r.status_code == 200


@fuzz(1000)
@given(old=policies | junk, new=policies | junk, operation=operations)
def test_random_nads_get_well_formed_answers(
    client: httpx.Client, old: Any, new: Any, operation: str
) -> None:
    uid = str(uuid.uuid4())
    doc = admission_review(
        new, kind="NetworkAttachmentDefinition", old=old, operation=operation, uid=uid
    )
    r = client.post("/validate", json=doc)
    check_answer(r, "/validate", uid)
    assert r.status_code == 200
    assert r.json()["response"]["allowed"] is True


envelopes = st.fixed_dictionaries(
    {},
    optional={
        "apiVersion": maybe_junk(st.just("admission.k8s.io/v1")),
        "kind": maybe_junk(st.just("AdmissionReview")),
        "request": maybe_junk(
            st.fixed_dictionaries(
                {},
                optional={
                    "uid": maybe_junk(st.text(min_size=1, max_size=8)),
                    "operation": maybe_junk(operations),
                    "kind": maybe_junk(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "group": maybe_junk(st.sampled_from(["", "k8s.cni.cncf.io"])),
                                "kind": maybe_junk(
                                    st.sampled_from(
                                        ["MultiNetworkPolicy", "NetworkAttachmentDefinition", "Pod"]
                                    )
                                ),
                            },
                        )
                    ),
                    "namespace": maybe_junk(st.just("default")),
                    "name": maybe_junk(st.just("x")),
                    "object": policies,
                    "oldObject": policies,
                },
            )
        ),
    },
)


@fuzz(1000)
@given(
    body=envelopes.map(lambda d: json.dumps(d).encode())
    | junk.map(lambda d: json.dumps(d).encode())
    | st.binary(max_size=64),
    path=st.sampled_from(["/validate", "/mutate"]),
)
def test_random_bodies_get_well_formed_answers(
    client: httpx.Client, body: bytes, path: str
) -> None:
    r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    check_answer(r, path, None)
