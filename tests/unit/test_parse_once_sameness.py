"""Old walkers and the one typed tree, side by side: identical decisions on random policies."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnp import admission as new
from mnp.model import Policy
from mnp.nad import DictNadLookup
from tests.strategies import TARGET_NADS, nad_sets, plausible_policies, policies
from tests.unit.admission_outcomes import outcomes
from tests.unit.legacy import admission as old
from tests.unit.legacy.policy import parse_policy as old_parse_policy

EXAMPLES = int(os.environ.get("SAMENESS_EXAMPLES", "300"))


def old_admit(obj: Any, nads: Any) -> tuple[new.Verdict, Policy | None, str | None]:
    verdict = old.review_policy(obj, nads)
    if not verdict.allowed or not isinstance(obj, dict):
        return verdict, None, None
    try:
        return verdict, old_parse_policy(old.default_policy(obj)), None
    except ValueError as e:
        return verdict, None, str(e)


def new_admit(obj: Any, nads: Any) -> tuple[new.Verdict, Policy | None, str | None]:
    try:
        verdict, policy = new.admit_policy(obj, nads)
    except ValueError as e:
        return new.review_policy(obj, nads), None, str(e)
    return verdict, policy, None


def old_outcomes(obj: Any, nads: DictNadLookup) -> dict[str, Any]:
    return outcomes(
        obj,
        nads,
        review_policy=old.review_policy,
        mutate_policy=old.mutate_policy,
        review=old.review,
        review_nad=old.review_nad,
        admit=old_admit,
        check_patch=lambda o, n: old.review_policy(o, n).patch,
    )


def new_outcomes(obj: Any, nads: DictNadLookup) -> dict[str, Any]:
    return outcomes(
        obj,
        nads,
        review_policy=new.review_policy,
        mutate_policy=new.mutate_policy,
        review=new.review,
        review_nad=new.review_nad,
        admit=new_admit,
        check_patch=lambda o, n: new.review_policy(o, n, with_patch=True).patch,
    )


def lookup(nads: list[dict[str, Any]]) -> DictNadLookup:
    out = DictNadLookup()
    for nad in nads:
        out.add(nad)
    return out


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(obj=policies | plausible_policies, nads=st.one_of(st.just(TARGET_NADS), nad_sets))
def test_old_and_new_agree(obj: Any, nads: list[dict[str, Any]]) -> None:
    lk = lookup(nads)
    assert new_outcomes(obj, lk) == old_outcomes(obj, lk)
    # The validating path builds no patch; mnp check's verdict is the webhook's.
    plain = new.review_policy(obj, lk)
    assert plain.patch == []
    patched = new.review_policy(obj, lk, with_patch=True)
    assert (patched.allowed, patched.errors, patched.warnings) == (
        plain.allowed,
        plain.errors,
        plain.warnings,
    )
    assert patched.patch == new.mutate_policy(obj).patch
