"""Raw MultiNetworkPolicy objects into ``mnp.model.Policy`` for the enforcer.

Takes objects that passed ``mnp.admission.review_policy`` and were defaulted
(``default_policy``); anything else raises ``ValueError`` naming the field.
CIDRs come out masked (``10.0.0.1/24`` -> ``10.0.0.0/24``), which is what the
admission warning announced.
"""

from __future__ import annotations

from typing import Any, cast

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
from tests.unit.legacy.policy_for import DEFAULT_NAMESPACE, policy_for_of
from tests.unit.legacy.validation import canonical_cidr, peer_field


def _dict(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected an array, got {type(value).__name__}")
    return value


def parse_selector(value: Any, where: str) -> LabelSelector:
    sel = _dict(value, where)
    labels = _dict(sel.get("matchLabels"), f"{where}.matchLabels")
    exprs = []
    for i, e in enumerate(_list(sel.get("matchExpressions"), f"{where}.matchExpressions")):
        expr = _dict(e, f"{where}.matchExpressions[{i}]")
        exprs.append(
            Requirement(
                key=str(expr.get("key", "")),
                operator=cast(Any, expr.get("operator")),
                values=tuple(sorted(str(v) for v in _list(expr.get("values"), where))),
            )
        )
    return LabelSelector(
        match_labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        match_expressions=tuple(exprs),
    )


def _masked(cidr: Any, where: str) -> str:
    masked = canonical_cidr(cidr) if isinstance(cidr, str) else None
    if masked is None:
        raise ValueError(f"{where}: not a valid CIDR: {cidr!r}")
    return masked


def _peer(value: Any, where: str) -> Peer:
    peer = _dict(value, where)
    block = peer.get("ipBlock")
    if block is not None:
        b = _dict(block, f"{where}.ipBlock")
        return Peer(
            ip_block=IPBlock(
                cidr=_masked(b.get("cidr"), f"{where}.ipBlock.cidr"),
                except_=tuple(
                    _masked(x, f"{where}.ipBlock.except[{i}]")
                    for i, x in enumerate(_list(b.get("except"), f"{where}.ipBlock.except"))
                ),
            )
        )
    pods, namespaces = peer.get("podSelector"), peer.get("namespaceSelector")
    return Peer(
        pod_selector=None if pods is None else parse_selector(pods, f"{where}.podSelector"),
        namespace_selector=None
        if namespaces is None
        else parse_selector(namespaces, f"{where}.namespaceSelector"),
    )


def _port(value: Any, where: str) -> Port:
    port = _dict(value, where)
    number = port.get("port")
    end = port.get("endPort")
    if number is not None and (isinstance(number, bool) or not isinstance(number, int | str)):
        raise ValueError(f"{where}.port: expected an integer or a name, got {number!r}")
    return Port(
        protocol=cast(Protocol, port.get("protocol") or "TCP"),
        port=number,
        end_port=end if isinstance(end, int) and not isinstance(end, bool) else None,
    )


def _rules(spec: dict[str, Any], field: str, direction: Direction) -> tuple[Rule, ...]:
    out = []
    for i, r in enumerate(_list(spec.get(field), f"spec.{field}")):
        where = f"spec.{field}[{i}]"
        rule = _dict(r, where)
        peers_field = peer_field(direction)
        out.append(
            Rule(
                ports=tuple(
                    _port(p, f"{where}.ports[{j}]")
                    for j, p in enumerate(_list(rule.get("ports"), f"{where}.ports"))
                ),
                peers=tuple(
                    _peer(p, f"{where}.{peers_field}[{j}]")
                    for j, p in enumerate(_list(rule.get(peers_field), f"{where}.{peers_field}"))
                ),
            )
        )
    return tuple(out)


def parse_policy(obj: Any) -> Policy:
    """The model of a validated, defaulted MultiNetworkPolicy object."""
    root = _dict(obj, "policy")
    meta = _dict(root.get("metadata"), "metadata")
    spec = _dict(root.get("spec"), "spec")
    keys, errors = policy_for_of(root)
    if errors:
        raise ValueError("; ".join(str(e) for e in errors))
    types = _list(spec.get("policyTypes"), "spec.policyTypes")
    return Policy(
        namespace=str(meta.get("namespace") or DEFAULT_NAMESPACE),
        name=str(meta.get("name", "")),
        policy_for=tuple(dict.fromkeys(keys)),
        pod_selector=parse_selector(spec.get("podSelector"), "spec.podSelector"),
        ingress=_rules(spec, "ingress", "Ingress"),
        egress=_rules(spec, "egress", "Egress"),
        policy_types=frozenset(cast(Direction, t) for t in types if t in ("Ingress", "Egress")),
    )
