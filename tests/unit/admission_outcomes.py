"""What admission decides about one policy, as plain JSON: every verdict, error, warning, patch
and model that the webhook, ``mnp check`` and the enforcer derive from it.

The golden-file test and its generator compare these records; nothing here judges anything.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import jsonpatch

from mnp.admission import Verdict
from mnp.model import Policy
from mnp.nad import DictNadLookup

# A NAD with subnets, and the same NAD without them: the NAD guard's two interesting updates.
GUARD_OLD = {
    "metadata": {"name": "tenant-blue", "namespace": "default"},
    "spec": {
        "config": json.dumps(
            {
                "name": "b",
                "type": "ovn-k8s-cni-overlay",
                "topology": "layer2",
                "subnets": "10.1.0.0/16",
            }
        )
    },
}
GUARD_NEW = {
    "metadata": {"name": "tenant-blue", "namespace": "default"},
    "spec": {
        "config": json.dumps({"name": "b", "type": "ovn-k8s-cni-overlay", "topology": "layer2"})
    },
}


def verdict_record(v: Verdict) -> dict[str, Any]:
    return {
        "allowed": v.allowed,
        "errors": [[e.type.name, str(e)] for e in v.errors],
        "warnings": list(v.warnings),
        "message": v.message,
    }


def patch_record(obj: Any, patch: list[dict[str, Any]]) -> dict[str, Any]:
    """A patch as a multiset of operations plus (a digest of) the object it produces:
    operations on different keys of one object commute, and the old code emitted them in set
    order, which changes from one process to the next."""
    applied = None
    if isinstance(obj, dict) and patch:
        applied = jsonpatch.apply_patch(copy.deepcopy(obj), patch)
    return {
        "ops": sorted(json.dumps(op, sort_keys=True) for op in patch),
        "applied": hashlib.sha256(
            repr(canonical(applied)).encode("utf-8", "surrogatepass")
        ).hexdigest(),
    }


def canonical(value: Any) -> Any:
    """A value with every map's entries sorted, for comparing maps whose keys (from YAML)
    are not all strings."""
    if isinstance(value, dict):
        return sorted(((repr(k), canonical(v)) for k, v in value.items()), key=lambda kv: kv[0])
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def model_record(policy: Policy | None, rejected: str | None) -> str:
    """The model's repr, with policy types sorted (a frozenset's order follows the hash seed)."""
    if policy is None:
        return f"rejected: {rejected}"
    types = policy.policy_types
    return repr(policy).replace(repr(types), repr(tuple(sorted(types))))


Admit = Callable[[Any, Any], tuple[Verdict, Policy | None, str | None]]


def outcomes(
    obj: Any,
    nads: DictNadLookup,
    *,
    review_policy: Callable[..., Verdict],
    mutate_policy: Callable[[Any], Verdict],
    review: Callable[[str, Any, Any, Any], Verdict],
    review_nad: Callable[[str, Any, Any, list[Any]], Verdict],
    admit: Admit,
    check_patch: Callable[[Any, Any], list[dict[str, Any]]],
) -> dict[str, Any]:
    """Every decision about ``obj``; the callables are one implementation's entry points."""
    admitted, policy, rejected = admit(copy.deepcopy(obj), nads)
    return {
        "validate": verdict_record(review_policy(copy.deepcopy(obj), nads)),
        "create": verdict_record(review("CREATE", copy.deepcopy(obj), None, nads)),
        "update": verdict_record(review("UPDATE", copy.deepcopy(obj), obj, nads)),
        "mutate": patch_record(obj, mutate_policy(copy.deepcopy(obj)).patch),
        "check_patch": patch_record(obj, check_patch(copy.deepcopy(obj), nads)),
        "enforcer": [verdict_record(admitted), model_record(policy, rejected)],
        "nad_delete": review_nad("DELETE", GUARD_OLD, None, [copy.deepcopy(obj)]).warnings,
        "nad_update": review_nad("UPDATE", GUARD_OLD, GUARD_NEW, [copy.deepcopy(obj)]).warnings,
    }
