"""Label selector matching, with Kubernetes' semantics (labels.Selector)."""

from __future__ import annotations

from collections.abc import Mapping

from mnp.model import LabelSelector, Requirement


def requirement_matches(req: Requirement, labels: Mapping[str, str]) -> bool:
    present = req.key in labels
    if req.operator == "In":
        return present and labels[req.key] in req.values
    if req.operator == "NotIn":
        # NotIn matches when the key is absent (a classic mistake in other matchers).
        return not present or labels[req.key] not in req.values
    if req.operator == "Exists":
        return present
    if req.operator == "DoesNotExist":
        return not present
    return False


def matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """True when ``labels`` satisfy every matchLabels pair and every expression.

    ``matchLabels {k: ""}`` requires the key to be present with an empty value.
    """
    for k, v in selector.match_labels:
        if k not in labels or labels[k] != v:
            return False
    return all(requirement_matches(r, labels) for r in selector.match_expressions)


def is_empty(selector: LabelSelector) -> bool:
    return not selector.match_labels and not selector.match_expressions
