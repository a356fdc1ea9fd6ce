"""The admission decisions of the code before the parse-once change, held as a golden file
(``record_admission_golden.py`` made it from that commit): the decoder, the validators over
the typed tree, warnings, the IPAM-less rule, defaulting, its JSON Patch and the enforcer's
model must give exactly what the five raw-JSON walkers gave, on the unit corpus and on a few
thousand generated policies (garbage, odd shapes and unicode included)."""

from __future__ import annotations

import ast
import gzip
import json
from functools import cache
from typing import Any

import pytest

from mnp import admission
from mnp.model import Policy
from mnp.nad import DictNadLookup
from tests.unit.admission_outcomes import outcomes
from tests.unit.record_admission_golden import GOLDEN


@cache
def golden() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    return doc


@cache
def lookup(name: str) -> DictNadLookup:
    nads = DictNadLookup()
    for nad in golden()["nad_sets"][name]:
        nads.add(nad)
    return nads


def admit(obj: Any, nads: Any) -> tuple[admission.Verdict, Policy | None, str | None]:
    try:
        verdict, policy = admission.admit_policy(obj, nads)
    except ValueError as e:
        return admission.review_policy(obj, nads), None, str(e)
    return verdict, policy, None


def new_outcomes(obj: Any, nads: DictNadLookup) -> dict[str, Any]:
    return outcomes(
        obj,
        nads,
        review_policy=admission.review_policy,
        mutate_policy=admission.mutate_policy,
        review=admission.review,
        review_nad=admission.review_nad,
        admit=admit,
        check_patch=lambda o, n: admission.review_policy(o, n, with_patch=True).patch,
    )


def test_the_golden_file_covers_every_kind_of_decision() -> None:
    cases = golden()["cases"]
    assert len(cases) > 3000
    verdicts = [c["outcomes"]["validate"] for c in cases]
    assert sum(v["allowed"] for v in verdicts) > 200
    assert sum(bool(v["warnings"]) for v in verdicts) > 100
    assert sum(bool(c["outcomes"]["mutate"]["ops"]) for c in cases) > 1000
    assert sum(bool(c["outcomes"]["nad_update"]) for c in cases) > 10
    assert sum(c["outcomes"]["enforcer"][1].startswith("Policy(") for c in cases) > 200
    ipam_less = "IPAM-less networks can only have `ipBlock` peers"
    assert sum(any(ipam_less in e for _, e in v["errors"]) for v in verdicts) > 20


@pytest.mark.parametrize("chunk", range(8))
def test_new_code_decides_as_the_old_code_did(chunk: int) -> None:
    cases = golden()["cases"][chunk::8]
    for case in cases:
        obj = ast.literal_eval(case["obj"])
        assert new_outcomes(obj, lookup(case["nads"])) == case["outcomes"], case["obj"]
