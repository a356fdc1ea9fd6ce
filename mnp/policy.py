"""The enforcer's model (``mnp.model.Policy``) of a decoded, defaulted, validated policy.

Built from the same typed tree admission judged (``mnp.decode``), so what the webhook admits
is what the enforcer enforces. A value that validation would have rejected raises
``ValueError`` naming the field. CIDRs come out masked (``10.0.0.1/24`` -> ``10.0.0.0/24``),
which is what the admission warning announced.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from mnp.decode import (
    Decoded,
    IPBlockSpec,
    Meta,
    PeerSpec,
    PolicyTypes,
    PortSpec,
    RequirementSpec,
    RuleSpec,
    SelectorSpec,
    Spec,
    WrongType,
)
from mnp.model import (
    Direction,
    IPBlock,
    LabelSelector,
    Peer,
    Policy,
    Port,
    Protocol,
    Requirement,
    Rule,
)
from mnp.policy_for import DEFAULT_NAMESPACE, policy_targets
from mnp.validation import canonical_cidr

T = TypeVar("T")


def _typed(value: T | WrongType) -> T:
    if isinstance(value, WrongType):
        raise ValueError(str(value.error))
    return value


def _requirement(expr: RequirementSpec) -> Requirement:
    values = _typed(expr.values) or ()
    return Requirement(
        key=str(_typed(expr.key) or ""),
        operator=cast(Any, _typed(expr.operator)),
        values=tuple(sorted(str(_typed(v)) for v in values)),
    )


def selector_model(selector: SelectorSpec | WrongType | None) -> LabelSelector:
    if selector is None:
        return LabelSelector()
    sel = _typed(selector)
    if sel.match_labels.problems:
        raise ValueError(str(sel.match_labels.problems[0]))
    return LabelSelector(
        match_labels=tuple(sorted(sel.match_labels.entries)),
        match_expressions=tuple(_requirement(_typed(e)) for e in _typed(sel.match_expressions)),
    )


def _masked(cidr: str | WrongType | None, where: str) -> str:
    masked = canonical_cidr(cidr) if isinstance(cidr, str) else None
    if masked is None:
        raise ValueError(f"{where}: not a valid CIDR: {cidr!r}")
    return masked


def _ip_block(block: IPBlockSpec) -> IPBlock:
    excepts = _typed(block.except_) or ()
    return IPBlock(
        cidr=_masked(block.cidr, f"{block.path}.cidr"),
        except_=tuple(_masked(x, f"{block.path}.except[{i}]") for i, x in enumerate(excepts)),
    )


def _peer(peer: PeerSpec) -> Peer:
    if peer.ip_block is not None:
        return Peer(ip_block=_ip_block(_typed(peer.ip_block)))
    return Peer(
        pod_selector=None if peer.pod_selector is None else selector_model(peer.pod_selector),
        namespace_selector=None
        if peer.namespace_selector is None
        else selector_model(peer.namespace_selector),
    )


def _port(port: PortSpec) -> Port:
    end = _typed(port.end_port)
    return Port(
        protocol=cast(Protocol, _typed(port.protocol) or "TCP"),
        port=_typed(port.port),
        end_port=end,
    )


def _rules(rules: tuple[RuleSpec | WrongType, ...] | WrongType) -> tuple[Rule, ...]:
    out = []
    for r in _typed(rules):
        rule = _typed(r)
        out.append(
            Rule(
                ports=tuple(_port(_typed(p)) for p in _typed(rule.ports)),
                peers=tuple(_peer(_typed(p)) for p in _typed(rule.peers)),
            )
        )
    return tuple(out)


def policy_model(policy: Decoded) -> Policy:
    """The model of a validated, defaulted policy tree."""
    root = _typed(policy)
    meta = _typed(root.metadata) or Meta()
    spec = _typed(root.spec)
    if spec is None:
        raise ValueError("spec: Required value")
    keys, errors = policy_targets(meta)
    if errors:
        raise ValueError("; ".join(str(e) for e in errors))
    types = _typed(spec.policy_types) if isinstance(spec, Spec) else None
    names = types.items if isinstance(types, PolicyTypes) else ()
    return Policy(
        namespace=str(_typed(meta.namespace) or DEFAULT_NAMESPACE),
        name=str(_typed(meta.name) or ""),
        policy_for=tuple(dict.fromkeys(keys)),
        pod_selector=selector_model(spec.pod_selector),
        ingress=_rules(spec.ingress),
        egress=_rules(spec.egress),
        policy_types=frozenset(cast(Direction, t) for t in names if t in ("Ingress", "Egress")),
    )
