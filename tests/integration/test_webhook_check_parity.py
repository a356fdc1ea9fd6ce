"""`mnp check` and the webhook are one code path: on the same corpus (the unit corpus and the
examples), a real ``mnp webhook`` process and the ``mnp check`` command give the same verdicts,
messages, warnings and defaulting patches.

The webhook is driven the way the API server drives it: the mutating call first, its patch
applied, then the validating call on the patched object.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import pytest

from mnp.admission import POLICY_KIND, VALIDATING_WEBHOOK_NAME
from tests.support.certs import CertificateAuthority
from tests.support.paths import REPO_ROOT
from tests.support.policy_corpus import CASES, NADS
from tests.support.webhook_process import WebhookProcess, admission_review, client_context

EXAMPLES = ["seed", "layer2", "localnet", "invalid", "warnings", "defaults"]


def corpus_policies() -> list[dict[str, Any]]:
    """Every dict-shaped MultiNetworkPolicy of the unit corpus (garbage included)."""
    policies = []
    for _, obj, _, _ in CASES:
        if isinstance(obj, dict) and obj.get("kind") == "MultiNetworkPolicy":
            policies.append(copy.deepcopy(obj))
    return policies


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("parity")
    items = NADS.objects() + corpus_policies()
    (d / "corpus.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return d / "corpus.json"


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Iterator[tuple[str, Any]]:
    tmp = tmp_path_factory.mktemp("parity-webhook")
    ca = CertificateAuthority()
    ca.issue_server().write(tmp / "certs")
    snapshots = [
        arg for name in EXAMPLES for arg in ("--snapshot", str(REPO_ROOT / "examples" / name))
    ]
    proc = WebhookProcess(
        ["--snapshot", str(corpus), *snapshots, "--cert-dir", str(tmp / "certs")],
        tmp / "webhook.log",
    )
    ctx = client_context(ca.cert_pem)
    try:
        proc.wait_ready(ctx)
        yield proc.url, ctx
    finally:
        proc.stop()


def mnp_check(*files: Path) -> list[dict[str, Any]]:
    args = [arg for f in files for arg in ("-f", str(f))]
    proc = subprocess.run(
        [sys.executable, "-m", "mnp", "check", *args, "--output", "json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    verdicts: list[dict[str, Any]] = json.loads(proc.stdout)
    return verdicts


def policies_in(*files: Path) -> list[dict[str, Any]]:
    from mnp.manifests import load_manifests

    return [
        m.obj
        for m in load_manifests([str(f) for f in files])
        if isinstance(m.obj, dict) and m.obj.get("kind") == "MultiNetworkPolicy"
    ]


def through_webhook(url: str, ctx: Any, obj: dict[str, Any]) -> dict[str, Any]:
    """What the API server would get: mutate, apply the patch, validate."""
    meta = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else "default"

    def call(path: str, o: Any) -> dict[str, Any]:
        review = admission_review(o)
        review["request"]["namespace"] = namespace
        r = httpx.post(f"{url}{path}", json=review, verify=ctx, timeout=10)
        assert r.status_code == 200, r.text
        response: dict[str, Any] = r.json()["response"]
        return response

    mutated = call("/mutate", copy.deepcopy(obj))
    patch = json.loads(base64.b64decode(mutated["patch"])) if "patch" in mutated else []
    patched = jsonpatch.apply_patch(copy.deepcopy(obj), patch)
    validated = call("/validate", patched)
    return {"patch": patch, "validated": validated}


def assert_same(check: dict[str, Any], hook: dict[str, Any], what: str) -> None:
    validated = hook["validated"]
    assert validated["allowed"] == check["allowed"], what
    assert validated.get("warnings", []) == check["warnings"], what
    assert hook["patch"] == check["patch"], what
    if check["allowed"]:
        assert "status" not in validated, what
        return
    errors = check["errors"]
    joined = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    status = validated["status"]
    assert status["message"] == (
        f"{POLICY_KIND} {json.dumps(check['name'])} is invalid: {joined}"
    ), what
    assert (status["code"], status["reason"]) == (403, "Forbidden"), what


def test_the_unit_corpus_gets_the_same_verdicts(webhook: tuple[str, Any], corpus: Path) -> None:
    url, ctx = webhook
    checked = mnp_check(corpus)
    policies = policies_in(corpus)
    assert len(checked) == len(policies) >= 80
    assert {c["allowed"] for c in checked} == {True, False}  # both kinds of verdict compared
    for check, obj in zip(checked, policies, strict=True):
        assert_same(check, through_webhook(url, ctx, obj), f"{check['namespace']}/{check['name']}")


def test_the_examples_get_the_same_verdicts(webhook: tuple[str, Any]) -> None:
    # Checked together, as the webhook holds them: every example's NADs are known to both.
    url, ctx = webhook
    directories = [REPO_ROOT / "examples" / name for name in EXAMPLES]
    checked = mnp_check(*directories)
    policies = policies_in(*directories)
    assert len(checked) == len(policies) > 10
    assert {c["allowed"] for c in checked} == {True, False}
    for check, obj in zip(checked, policies, strict=True):
        assert_same(check, through_webhook(url, ctx, obj), f"{check['namespace']}/{check['name']}")


def test_the_denial_names_the_validating_webhook_in_check_text() -> None:
    # The text output quotes the same webhook name the API server prints for a denial.
    proc = subprocess.run(
        [sys.executable, "-m", "mnp", "check", "-f", "examples/invalid/lowercase-protocol.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert f'admission webhook "{VALIDATING_WEBHOOK_NAME}" denied the request' in proc.stdout
