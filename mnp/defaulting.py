"""NetworkPolicy defaulting (pkg/apis/networking/v1/defaults.go) on the typed policy tree.

A function from tree to tree: port protocol ``TCP``, ``policyTypes`` (``[Ingress]``, plus
``Egress`` when there are egress rules), and the canonical ``policy-for`` annotation. Only
well-typed parts are touched; garbage is left as it is for validation to report. Unchanged
subtrees are shared, not copied (the tree is frozen).

The mutating webhook's JSON Patch comes from the same decisions: given a ``patch`` list,
defaulting appends one operation per value it adds or replaces, in the order it visits them
(the annotation, then ``policyTypes``, then the ports in document order), which is the
patch ``jsonpatch.make_patch(original, defaulted)`` would give, up to the order of operations
on different keys of one object (jsonpatch walks keys in set order, which changes from one
process to the next; such operations touch disjoint paths, so any order applies the same).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mnp.decode import (
    Decoded,
    Meta,
    PolicyObject,
    PolicyTypes,
    PortSpec,
    RuleSpec,
    Spec,
    WrongType,
)
from mnp.model import POLICY_FOR_ANNOTATION
from mnp.policy_for import DEFAULT_NAMESPACE, canonical_policy_for, parse_policy_for

JsonPatch = list[dict[str, Any]]
_POLICY_FOR_POINTER = "/metadata/annotations/" + POLICY_FOR_ANNOTATION.replace("~", "~0").replace(
    "/", "~1"
)


def _default_ports(
    rules: tuple[RuleSpec | WrongType, ...] | WrongType, pointer: str, patch: JsonPatch | None
) -> tuple[RuleSpec | WrongType, ...] | WrongType:
    if isinstance(rules, WrongType):
        return rules
    out: list[RuleSpec | WrongType] = []
    changed = False
    for i, rule in enumerate(rules):
        if isinstance(rule, RuleSpec) and isinstance(rule.ports, tuple):
            ports: list[PortSpec | WrongType] = []
            rule_changed = False
            for j, port in enumerate(rule.ports):
                if isinstance(port, PortSpec) and port.protocol is None:
                    if patch is not None:
                        patch.append(
                            {
                                "op": "replace" if port.protocol_null else "add",
                                "path": f"{pointer}/{i}/ports/{j}/protocol",
                                "value": "TCP",
                            }
                        )
                    port = replace(port, protocol="TCP", protocol_null=False)
                    rule_changed = changed = True
                ports.append(port)
            if rule_changed:
                rule = replace(rule, ports=tuple(ports))
        out.append(rule)
    return tuple(out) if changed else rules


def _default_policy_types(spec: Spec, patch: JsonPatch | None) -> Spec:
    types = spec.policy_types
    if types is not None and not (isinstance(types, PolicyTypes) and not types.raw):
        return spec
    if isinstance(spec.egress, WrongType):
        return spec  # garbage: leave policyTypes for validation to make sense of
    values = ("Ingress", "Egress") if spec.egress else ("Ingress",)
    if patch is not None:
        if types is None:
            op = "replace" if spec.policy_types_null else "add"
            patch.append({"op": op, "path": "/spec/policyTypes", "value": list(values)})
        else:  # an empty list: jsonpatch adds the items one by one
            patch.extend(
                {"op": "add", "path": f"/spec/policyTypes/{i}", "value": v}
                for i, v in enumerate(values)
            )
    return replace(spec, policy_types=PolicyTypes(values, values), policy_types_null=False)


def _default_spec(spec: Spec, patch: JsonPatch | None) -> Spec:
    spec = _default_policy_types(spec, patch)
    ingress = _default_ports(spec.ingress, "/spec/ingress", patch)
    egress = _default_ports(spec.egress, "/spec/egress", patch)
    if ingress is spec.ingress and egress is spec.egress:
        return spec
    return replace(spec, ingress=ingress, egress=egress)


def _canonicalize_policy_for(meta: Meta, patch: JsonPatch | None) -> Meta:
    namespace = DEFAULT_NAMESPACE if meta.namespace is None else meta.namespace
    if not isinstance(meta.policy_for, str) or not isinstance(namespace, str) or not namespace:
        return meta
    keys, errors = parse_policy_for(meta.policy_for, namespace)
    if not keys or errors:
        return meta
    canonical = canonical_policy_for(keys)
    if canonical == meta.policy_for:
        return meta
    if patch is not None:
        patch.append({"op": "replace", "path": _POLICY_FOR_POINTER, "value": canonical})
    entries = tuple(
        (k, canonical if k == POLICY_FOR_ANNOTATION else v) for k, v in meta.annotations.entries
    )
    return replace(
        meta, policy_for=canonical, annotations=replace(meta.annotations, entries=entries)
    )


def default_policy(policy: Decoded, patch: JsonPatch | None = None) -> Decoded:
    """The policy with NetworkPolicy's defaults applied; appends to ``patch`` what changed.

    Idempotent: ``default_policy(default_policy(x)) == default_policy(x)``.
    """
    if isinstance(policy, WrongType):
        return policy
    meta, spec = policy.metadata, policy.spec
    if isinstance(meta, Meta):
        meta = _canonicalize_policy_for(meta, patch)
    if isinstance(spec, Spec):
        spec = _default_spec(spec, patch)
    if meta is policy.metadata and spec is policy.spec:
        return policy
    return PolicyObject(metadata=meta, spec=spec)
