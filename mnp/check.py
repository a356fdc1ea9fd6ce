"""``mnp check``: judge MultiNetworkPolicy manifests offline, exactly as the webhook would.

NADs come from the same files. Output mimics kubectl (text) or is a JSON array.
Exit codes: 0 all admitted, 1 any rejected, 2 unreadable input.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from mnp.admission import DENIAL_REASON, VALIDATING_WEBHOOK_NAME, Verdict, review_policy
from mnp.field_errors import rendered
from mnp.manifests import Manifest, ManifestError, load_manifests
from mnp.model import MNP_KIND, NAD_KIND
from mnp.nad import DictNadLookup
from mnp.policy_for import DEFAULT_NAMESPACE
from mnp.validation import DEFAULT_RULES, ValidationRules, rules_for_version

EXIT_ADMITTED = 0
EXIT_REJECTED = 1
EXIT_UNREADABLE = 2
RESOURCE = "multinetworkpolicy.k8s.cni.cncf.io"


@dataclass(frozen=True)
class Judged:
    manifest: Manifest
    namespace: str
    name: str
    verdict: Verdict


def _with_namespace(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the API server sees it: kubectl puts it in "default" when none is set."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and meta.get("namespace") in (None, ""):
        obj = copy.deepcopy(obj)
        obj["metadata"]["namespace"] = DEFAULT_NAMESPACE
    return obj


def _field(obj: dict[str, Any], name: str) -> str:
    meta = obj.get("metadata")
    value = meta.get(name) if isinstance(meta, dict) else None
    return value if isinstance(value, str) else ""


def judge(manifests: list[Manifest], rules: ValidationRules = DEFAULT_RULES) -> list[Judged]:
    nads = DictNadLookup()
    for m in manifests:
        if m.obj.get("kind") == NAD_KIND:
            nads.add(_with_namespace(m.obj))
    judged = []
    for m in manifests:
        if m.obj.get("kind") != MNP_KIND:
            continue
        obj = _with_namespace(m.obj)
        verdict = review_policy(obj, nads, with_patch=True, rules=rules)
        judged.append(Judged(m, _field(obj, "namespace"), _field(obj, "name"), verdict))
    return judged


def render_text(judged: list[Judged]) -> str:
    lines: list[str] = []
    for j in judged:
        lines.extend(f"Warning: {w}" for w in j.verdict.warnings)
        if j.verdict.allowed:
            lines.append(f"{RESOURCE}/{j.name} admitted in namespace {j.namespace} (dry run)")
        else:
            lines.append(
                f'Error from server ({DENIAL_REASON}): error when creating "{j.manifest.file}": '
                f'admission webhook "{VALIDATING_WEBHOOK_NAME}" denied the request: '
                f"{j.verdict.message}"
            )
    denied = sum(1 for j in judged if not j.verdict.allowed)
    lines.append(
        f"{len(judged)} MultiNetworkPolicy object(s): {len(judged) - denied} admitted, "
        f"{denied} rejected"
    )
    return "\n".join(lines) + "\n"


def render_json(judged: list[Judged]) -> str:
    doc = [
        {
            "namespace": j.namespace,
            "name": j.name,
            "allowed": j.verdict.allowed,
            "errors": rendered(j.verdict.errors),  # bounded, as a denial's message is
            "warnings": list(j.verdict.warnings),
            "patch": j.verdict.patch,
        }
        for j in judged
    ]
    return json.dumps(doc, indent=2, default=str) + "\n"


def run_check(
    paths: list[str],
    output: str = "text",
    out: TextIO | None = None,
    err: TextIO | None = None,
    kube_version: str | None = None,
) -> int:
    """Judge the manifests as a CREATE on ``kube_version``'s API server (default: newest)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        rules = DEFAULT_RULES if kube_version is None else rules_for_version(kube_version)
    except ValueError as e:
        err.write(f"error: --kube-version: {e}\n")
        return EXIT_UNREADABLE
    try:
        manifests = load_manifests(paths)
    except ManifestError as e:
        err.write(f"error: {e}\n")
        return EXIT_UNREADABLE
    judged = judge(manifests, rules)
    out.write(render_json(judged) if output == "json" else render_text(judged))
    if not judged:
        err.write(f"note: no {MNP_KIND} found in {', '.join(paths)}\n")
    return EXIT_REJECTED if any(not j.verdict.allowed for j in judged) else EXIT_ADMITTED
