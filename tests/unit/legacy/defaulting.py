"""NetworkPolicy defaulting (pkg/apis/networking/v1/defaults.go) for raw MultiNetworkPolicies.

Only well-typed parts are touched; garbage is left as it is for validation to report.
"""

from __future__ import annotations

import copy
from typing import Any

from mnp.model import POLICY_FOR_ANNOTATION
from tests.unit.legacy.policy_for import DEFAULT_NAMESPACE, canonical_policy_for, parse_policy_for


def _default_ports(rules: Any) -> None:
    if not isinstance(rules, list):
        return
    for rule in rules:
        ports = rule.get("ports") if isinstance(rule, dict) else None
        for port in ports if isinstance(ports, list) else []:
            if isinstance(port, dict) and port.get("protocol") is None:
                port["protocol"] = "TCP"


def _default_policy_types(spec: dict[str, Any]) -> None:
    types = spec.get("policyTypes")
    if types is not None and types != []:
        return
    egress = spec.get("egress")
    if egress is not None and not isinstance(egress, list):
        return  # garbage: leave policyTypes for validation to make sense of
    spec["policyTypes"] = ["Ingress", "Egress"] if egress else ["Ingress"]


def _canonicalize_policy_for(meta: dict[str, Any]) -> None:
    annotations = meta.get("annotations")
    namespace = meta.get("namespace")
    if namespace is None:
        namespace = DEFAULT_NAMESPACE
    if not isinstance(annotations, dict) or not isinstance(namespace, str) or not namespace:
        return
    keys, errors = parse_policy_for(annotations.get(POLICY_FOR_ANNOTATION), namespace)
    if keys and not errors:
        annotations[POLICY_FOR_ANNOTATION] = canonical_policy_for(keys)


def _json_copy(value: Any) -> Any:
    """A deep copy of parsed JSON/YAML (dicts, lists, immutable scalars); several times
    faster than ``copy.deepcopy``, which is on the webhook's hot path."""
    if type(value) is dict:
        return {k: _json_copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_json_copy(v) for v in value]
    if isinstance(value, dict | list):  # subclasses: keep their type
        return copy.deepcopy(value)
    return value


def default_policy(obj: Any) -> Any:
    """A deep copy with the defaults applied: port protocol TCP, policyTypes, canonical policy-for.

    Idempotent: ``default_policy(default_policy(x)) == default_policy(x)``.
    """
    out = _json_copy(obj)
    if not isinstance(out, dict):
        return out
    spec = out.get("spec")
    if isinstance(spec, dict):
        _default_ports(spec.get("ingress"))
        _default_ports(spec.get("egress"))
        _default_policy_types(spec)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        _canonicalize_policy_for(meta)
    return out
