"""One-off generator of ``tests/unit/data/admission_golden.json.gz``: the decisions of the
admission code as it was before the parse-once change (five walkers over raw JSON), recorded
so that ``test_admission_golden.py`` holds the new code to them after the old code is gone.

The old code is read from git history (``OLD_COMMIT``), never from the tree: the inputs are
generated here, then a subprocess whose ``mnp`` is that commit's records the outcomes.

    python -m tests.unit.record_admission_golden            # rewrites the golden file
    python -m tests.unit.record_admission_golden --amend    # see ``amend``
"""

from __future__ import annotations

import ast
import gzip
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "unit" / "data" / "admission_golden.json.gz"
OLD_COMMIT = "30a3594"  # the last commit with the raw-JSON walkers
GENERATED = 1500  # of each strategy

# Odd shapes the strategies leave out: lone surrogates (json.loads makes them from "\ud800"),
# explicit nulls where defaulting looks, empty lists, non-string keys as YAML gives them.
EXTRAS: list[Any] = [
    {"metadata": {"name": "\ud800", "namespace": "default"}, "spec": {"podSelector": {}}},
    {
        "metadata": {
            "name": "p",
            "labels": {"app": "\udcff", "\ud800": "x"},
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": "bl\ud800ue"},
        },
        "spec": {"podSelector": {"matchLabels": {"\ud800": "\ud800"}}},
    },
    {
        "metadata": {"name": "p", "annotations": {"k8s.v1.cni.cncf.io/policy-for": "tenant-blue"}},
        "spec": {
            "podSelector": {},
            "policyTypes": None,
            "ingress": [{"ports": [{"protocol": None, "port": 80}], "from": [{"ipBlock": None}]}],
            "egress": [{"to": [{"ipBlock": {"cidr": "\ud800/8", "except": None}}]}],
        },
    },
    {
        "metadata": {"name": "p", "annotations": {"k8s.v1.cni.cncf.io/policy-for": "bare"}},
        "spec": {"podSelector": {}, "policyTypes": [], "egress": [{}], "ingress": []},
    },
    {"metadata": {"name": "p", 1: "x", False: None}, "spec": {"podSelector": {0: "a"}}},
    {
        "metadata": {"name": "p", "annotations": {"k8s.v1.cni.cncf.io/policy-for": "phys"}},
        "spec": {"podSelector": {}, "egress": [{"to": [{"namespaceSelector": 0}]}]},
    },
    {
        "metadata": {
            "name": "p",
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": "tenant-blue", "big": "x" * 262144},
        },
        "spec": {"podSelector": {}},
    },
]


def _generated(count: int, strategy: Any) -> list[Any]:
    """``count`` policies from a strategy, the same ones on every run."""
    from hypothesis import HealthCheck, Phase, given, settings

    found: dict[str, Any] = {}

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(obj: Any) -> None:
        found.setdefault(repr(obj), obj)

    collect()
    return list(found.values())


def _inputs() -> dict[str, Any]:
    from tests.support.policy_corpus import CASES, NADS
    from tests.support.strategies import TARGET_NADS, plausible_policies, policies

    cases = [{"obj": repr(obj), "nads": "corpus"} for _, obj, _, _ in CASES]
    cases += [
        {"obj": repr(obj), "nads": "targets"}
        for obj in EXTRAS
        + _generated(GENERATED, policies)
        + _generated(GENERATED, plausible_policies)
    ]
    return {"nad_sets": {"corpus": NADS.objects(), "targets": TARGET_NADS}, "cases": cases}


def _record_old(inputs_file: str, out_file: str) -> None:
    """In the subprocess, where ``mnp`` is ``OLD_COMMIT``'s: the old outcomes of each input."""
    import mnp
    from mnp import admission
    from mnp.nad import DictNadLookup
    from tests.unit.admission_outcomes import outcomes

    assert not hasattr(admission, "admit_policy"), f"not the old code: {mnp.__file__}"
    # The old API, which the current tree (and so mypy) no longer has.
    parse_policy = getattr(importlib.import_module("mnp.policy"), "parse_policy")  # noqa: B009
    default_policy = getattr(admission, "default_policy")  # noqa: B009

    def admit(obj: Any, nads: Any) -> tuple[Any, Any, str | None]:
        verdict = admission.review_policy(obj, nads)
        if not verdict.allowed or not isinstance(obj, dict):
            return verdict, None, None
        try:
            return verdict, parse_policy(default_policy(obj)), None
        except ValueError as e:
            return verdict, None, str(e)

    doc = json.loads(Path(inputs_file).read_text())
    lookups = {}
    for name, nads in doc["nad_sets"].items():
        lookups[name] = DictNadLookup()
        for nad in nads:
            lookups[name].add(nad)
    for case in doc["cases"]:
        case["outcomes"] = outcomes(
            ast.literal_eval(case["obj"]),
            lookups[case["nads"]],
            review_policy=admission.review_policy,
            mutate_policy=admission.mutate_policy,
            review=admission.review,
            review_nad=admission.review_nad,
            admit=admit,
            check_patch=lambda o, n: admission.review_policy(o, n).patch,
        )
    doc["old_commit"] = OLD_COMMIT
    Path(out_file).write_text(json.dumps(doc))


# Deliberate changes since the recording (admission-parity: the API server's answer per
# release, with the newest supported release's rules by default, and ratcheting on UPDATE).
# A case is re-recorded only when every outcome that changed is explained by one of these.
STRICT_BITS = "must not have bits set beyond the prefix length"
TOLERATED = "(tolerated: unchanged from the stored object)"
AMEND_REASONS = (
    "strict CIDRs (1.36+): bits set beyond the prefix length are an error, not a warning",
    "the API server's warnings only come with an admitted object",
    "UPDATE ratchets: values the stored object already had are tolerated, with a warning",
    "label-key prefixes over 253 say 'bytes'; the ambiguous-CIDR warning has upstream's words",
)


def _normalized(text: str) -> str:
    """Old wordings in the new words (the fourth reason)."""
    text = re.sub(r'; it is enforced as \\?"[^"\\]*\\?"', "", text)
    return text.replace(
        "prefix part must be no more than 253 characters",
        "prefix part must be no more than 253 bytes",
    )


def _explained(key: str, old: Any, new: Any) -> bool:
    old_text, new_text = _normalized(json.dumps(old)), json.dumps(new)
    if old_text == new_text:
        return True
    if key == "enforcer":
        old, new = old[0], new[0]
        if new["allowed"]:
            return False
    if key == "update" and TOLERATED in new_text:
        return True
    if key in ("validate", "create", "update", "enforcer"):
        if STRICT_BITS in new_text and STRICT_BITS not in old_text:
            return True
        if not old["allowed"] and not new["allowed"] and old["errors"] == new["errors"]:
            return set(new["warnings"]) <= set(old["warnings"])
    return False


def amend() -> None:
    """Re-record, with the current code, only the cases whose changed outcomes are all
    explained by ``AMEND_REASONS``; any other difference fails, and the file stays."""
    from tests.unit.test_admission_golden import golden, lookup, new_outcomes

    doc = golden()
    amended = 0
    for i, case in enumerate(doc["cases"]):
        new = new_outcomes(ast.literal_eval(case["obj"]), lookup(case["nads"]))
        new = json.loads(json.dumps(new))
        changed = [k for k in case["outcomes"] if case["outcomes"][k] != new[k]]
        unexplained = [k for k in changed if not _explained(k, case["outcomes"][k], new[k])]
        if unexplained:
            raise SystemExit(f"case {i}: {unexplained} changed for no listed reason: {case['obj']}")
        if changed:
            case["outcomes"] = new
            amended += 1
    doc["amended"] = {"cases": amended, "reasons": list(AMEND_REASONS)}
    GOLDEN.write_bytes(gzip.compress(json.dumps(doc).encode(), compresslevel=9, mtime=0))
    print(f"{GOLDEN}: {amended} cases re-recorded")


def main() -> None:
    if sys.argv[1:] == ["--amend"]:
        amend()
        return
    with tempfile.TemporaryDirectory() as tmp:
        old_root = Path(tmp) / "old"
        old_root.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", OLD_COMMIT, "mnp"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old_root)], input=archive, check=True)
        inputs = Path(tmp) / "inputs.json"
        inputs.write_text(json.dumps(_inputs()))
        out = Path(tmp) / "golden.json"
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path[:0] = [{str(old_root)!r}, {str(REPO)!r}];"
                "from tests.unit.record_admission_golden import _record_old;"
                f"_record_old({str(inputs)!r}, {str(out)!r})",
            ],
            check=True,
            cwd=tmp,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        GOLDEN.write_bytes(gzip.compress(out.read_bytes(), compresslevel=9, mtime=0))
    print(f"{GOLDEN}: {GOLDEN.stat().st_size} bytes")


if __name__ == "__main__":
    main()
