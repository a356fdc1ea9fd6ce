"""Rendered error lists are bounded: a policy with thousands of bad labels gets a short
answer that still names the first errors and counts the rest."""

from __future__ import annotations

import json
from typing import Any

from mnp.admission import review_policy
from mnp.field_errors import (
    MAX_RENDERED_ERROR_CHARS,
    MAX_RENDERED_ERRORS,
    aggregate,
    invalid,
    rendered,
    required,
)
from mnp.snapshot import build_snapshot


def _bad_labels_policy(n: int) -> dict[str, Any]:
    """About 0.67 MB for n=9000: label keys and values that are all invalid."""
    labels = {f"bad key {i}!": f"bad value {i}!" * 4 for i in range(n)}
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {"name": "big", "namespace": "default"},
        "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress"]},
    }


def test_the_bad_labels_policy_gets_a_bounded_denial() -> None:
    policy = _bad_labels_policy(9000)
    size = len(json.dumps(policy))
    assert 600_000 < size < 800_000
    verdict = review_policy(policy, {}.get)  # type: ignore[arg-type]
    assert not verdict.allowed
    assert len(verdict.errors) > 9000  # every error is still found ...
    message = verdict.message
    # ... but only the first are rendered, then a count of the others
    assert len(message) < 64 * 1024, len(message)
    assert sum(len(str(e)) for e in verdict.errors) > 2_000_000  # what it was unbounded
    prefix = 'MultiNetworkPolicy.k8s.cni.cncf.io "big" is invalid: [spec.podSelector.matchLabels'
    assert message.startswith(prefix)
    assert message.endswith(" more errors]")
    shown = message.count("spec.podSelector.matchLabels")
    assert shown == MAX_RENDERED_ERRORS
    left_out = int(message.rsplit("... and ", 1)[1].split()[0])
    assert shown + left_out == len({str(e) for e in verdict.errors})


def test_a_rejected_policy_in_a_snapshot_carries_bounded_messages() -> None:
    build = build_snapshot([_bad_labels_policy(2000)])
    ((key, messages),) = build.snapshot.rejected
    assert key == "default/big"
    assert len(messages) == MAX_RENDERED_ERRORS + 1
    assert messages[-1].startswith("... and ") and messages[-1].endswith(" more errors")


def test_small_lists_render_as_before() -> None:
    errors = [required("a", "x"), required("a", "x"), invalid("b", 1, "y")]
    assert aggregate(errors) == "[a: Required value: x, b: Invalid value: 1: y]"
    assert aggregate(errors[:1]) == "a: Required value: x"
    many = [required(f"f{i}") for i in range(MAX_RENDERED_ERRORS + 1)]
    assert rendered(many)[-1] == "... and 1 more error"
    assert len(rendered(many)) == MAX_RENDERED_ERRORS + 1


def test_one_huge_message_is_cut() -> None:
    (only,) = rendered([invalid("a", "x" * 100_000, "too long")])
    assert len(only) == MAX_RENDERED_ERROR_CHARS and only.endswith("...")
