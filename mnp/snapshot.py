"""Build a ``Snapshot`` from plain Kubernetes objects (manifests, a cache dump, tests).

Policies go through the same admission decision as the webhook (decoded, defaulted and
validated once, with no JSON Patch), so a policy the webhook would reject never reaches the
model; it is listed in ``Snapshot.rejected`` instead (at most ``MAX_RENDERED_ERRORS``
messages), with, when its podSelector is valid, an isolation-only model in
``Snapshot.isolation`` for the enforcer's fail-safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mnp.admission import NadLookup, ValidationRules, Verdict, admit_policy
from mnp.decode import PolicyTypes, Spec, decode_policy
from mnp.field_errors import rendered
from mnp.model import (
    MNP_KIND,
    NAD_KIND,
    Direction,
    NadKey,
    Namespace,
    Network,
    Pod,
    Policy,
    Snapshot,
)
from mnp.nad import parse_nad
from mnp.pods import implicit_namespace, parse_namespace, parse_pod
from mnp.policy import selector_model
from mnp.policy_for import policy_for_of
from mnp.validation import DEFAULT_RULES, validate_label_selector

_BOTH: frozenset[Direction] = frozenset({"Ingress", "Egress"})


class ObjectNads:
    """A ``NadLookup`` over the NAD objects found among the inputs."""

    def __init__(self, nads: Mapping[NadKey, dict[str, Any]]) -> None:
        self._nads = dict(nads)

    def get(self, key: NadKey) -> dict[str, Any] | None:
        return self._nads.get(key)


@dataclass(frozen=True)
class SnapshotBuild:
    snapshot: Snapshot
    # Objects left out or partly ignored, as messages naming the object and field.
    problems: tuple[str, ...]


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    ns, name = meta.get("namespace") or "default", meta.get("name") or ""
    return (ns if isinstance(ns, str) else "", name if isinstance(name, str) else "")


def _isolated_directions(types: PolicyTypes | object) -> frozenset[Direction]:
    """The directions ``policyTypes`` names when they are all valid, else both."""
    if not isinstance(types, PolicyTypes) or not types.items:
        return _BOTH
    named = set(types.items)
    if not named <= _BOTH:
        return _BOTH
    return frozenset(d for d in _BOTH if d in named)


def isolation_model(obj: Mapping[str, Any], networks: Mapping[NadKey, Network]) -> Policy | None:
    """A rejected policy reduced to what is safe to enforce: the pods its podSelector
    selects, isolated with no allows in the directions its policyTypes name (both when
    those are invalid), on the NADs its policy-for names that exist. None when the
    podSelector is missing or invalid (then nobody knows which pods it meant)."""
    decoded = decode_policy(dict(obj))
    spec = getattr(decoded, "spec", None)
    if not isinstance(spec, Spec) or spec.pod_selector is None:
        return None
    if validate_label_selector(spec.pod_selector):
        return None
    try:
        selector = selector_model(spec.pod_selector)
    except ValueError:
        return None
    keys, _ = policy_for_of(dict(obj))
    ns, name = _key(obj)
    return Policy(
        namespace=ns,
        name=name,
        policy_for=tuple(k for k in dict.fromkeys(keys) if k in networks),
        pod_selector=selector,
        ingress=(),
        egress=(),
        policy_types=_isolated_directions(spec.policy_types),
    )


# How a policy object is admitted: ``admit_policy``, or a caller's memo of it.
Admit = Callable[[dict[str, Any], NadLookup, ValidationRules], tuple[Verdict, Policy | None]]


def build_snapshot(
    objects: Iterable[Mapping[str, Any]],
    rules: ValidationRules = DEFAULT_RULES,
    admit: Admit = admit_policy,
) -> SnapshotBuild:
    """Namespaces, pods, networks and admitted policies, sorted by key; problems reported.
    Policies are admitted by the ``rules`` of the cluster's release (its webhook's), through
    ``admit`` (a source that admitted each policy as its watch event came passes its memo)."""
    problems: list[str] = []
    objs = [o for o in objects if isinstance(o, Mapping)]

    nad_objects: dict[NadKey, dict[str, Any]] = {}
    networks: list[Network] = []
    for obj in objs:
        if obj.get("kind") != NAD_KIND:
            continue
        ns, name = _key(obj)
        nad_objects[NadKey(ns, name)] = dict(obj)
        network, errors, warnings = parse_nad(dict(obj))
        who = f"{NAD_KIND} {ns}/{name}"
        problems += [f"{who}: {e}" for e in errors]
        problems += [f"{who}: {w}" for w in warnings]
        if network is not None:
            networks.append(network)
        elif not errors:
            problems.append(f"{who}: not usable as a network; left out")

    namespaces: dict[str, Namespace] = {}
    for obj in objs:
        if obj.get("kind") == "Namespace":
            ns_obj = parse_namespace(obj)
            if ns_obj.name:
                namespaces[ns_obj.name] = ns_obj

    pods: list[Pod] = []
    for obj in objs:
        if obj.get("kind") == "Pod":
            pod, msgs = parse_pod(obj)
            problems += msgs
            if pod is not None:
                pods.append(pod)

    lookup = ObjectNads(nad_objects)
    policies: list[Policy] = []
    rejected: list[tuple[str, tuple[str, ...]]] = []
    isolation: list[Policy] = []
    by_nad = {n.nad: n for n in networks}
    for obj in objs:
        if obj.get("kind") != MNP_KIND:
            continue
        ns, name = _key(obj)
        try:
            verdict, policy = admit(dict(obj), lookup, rules)
        except ValueError as e:  # admitted but not modelable: report, never crash
            rejected.append((f"{ns}/{name}", (str(e),)))
        else:
            if policy is not None:
                policies.append(policy)
                continue
            messages = tuple(rendered(verdict.errors)) or (verdict.message,)
            rejected.append((f"{ns}/{name}", messages))
        fallback = isolation_model(obj, by_nad)
        if fallback is not None:
            isolation.append(fallback)

    # Every namespace a pod or policy lives in exists in a real cluster; supply the ones
    # whose objects were not given, with the label the API server would set.
    for ns in {p.namespace for p in pods} | {p.namespace for p in (*policies, *isolation)}:
        namespaces.setdefault(ns, implicit_namespace(ns))

    snapshot = Snapshot(
        namespaces=tuple(sorted(namespaces.values(), key=lambda n: n.name)),
        pods=tuple(sorted(pods, key=lambda p: (p.namespace, p.name))),
        networks=tuple(sorted(networks, key=lambda n: n.nad)),
        policies=tuple(sorted(policies, key=lambda p: (p.namespace, p.name))),
        rejected=tuple(sorted(rejected)),
        isolation=tuple(sorted(isolation, key=lambda p: p.key)),
    )
    return SnapshotBuild(snapshot, tuple(problems))


def snapshot_from_objects(objects: Iterable[Mapping[str, Any]]) -> Snapshot:
    return build_snapshot(objects).snapshot
