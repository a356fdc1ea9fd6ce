"""Build a ``Snapshot`` from plain Kubernetes objects (manifests, a cache dump, tests).

Policies go through the same admission decision as the webhook (decoded, defaulted and
validated once, with no JSON Patch), so a policy the webhook would reject never reaches the
model; it is listed in ``Snapshot.rejected`` instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mnp.admission import ValidationRules, admit_policy
from mnp.model import MNP_KIND, NAD_KIND, NadKey, Namespace, Network, Pod, Policy, Snapshot
from mnp.nad import parse_nad
from mnp.pods import implicit_namespace, parse_namespace, parse_pod


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


# The rules of the cluster the enforcer serves, set once at start (``mnp enforcer
# --kube-version``, else the API server's version), so that it admits exactly what that
# cluster's webhook admits; module state, as every caller of build_snapshot serves one cluster.
_rules = ValidationRules()


def set_validation_rules(rules: ValidationRules) -> None:
    global _rules
    _rules = rules


def build_snapshot(objects: Iterable[Mapping[str, Any]]) -> SnapshotBuild:
    """Namespaces, pods, networks and admitted policies, sorted by key; problems reported."""
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
    for obj in objs:
        if obj.get("kind") != MNP_KIND:
            continue
        ns, name = _key(obj)
        try:
            verdict, policy = admit_policy(dict(obj), lookup, _rules)
        except ValueError as e:  # admitted but not modelable: report, never crash
            rejected.append((f"{ns}/{name}", (str(e),)))
            continue
        if policy is not None:
            policies.append(policy)
        else:
            messages = tuple(str(e) for e in verdict.errors) or (verdict.message,)
            rejected.append((f"{ns}/{name}", messages))

    # Every namespace a pod or policy lives in exists in a real cluster; supply the ones
    # whose objects were not given, with the label the API server would set.
    for ns in {p.namespace for p in pods} | {p.namespace for p in policies}:
        namespaces.setdefault(ns, implicit_namespace(ns))

    snapshot = Snapshot(
        namespaces=tuple(sorted(namespaces.values(), key=lambda n: n.name)),
        pods=tuple(sorted(pods, key=lambda p: (p.namespace, p.name))),
        networks=tuple(sorted(networks, key=lambda n: n.nad)),
        policies=tuple(sorted(policies, key=lambda p: (p.namespace, p.name))),
        rejected=tuple(sorted(rejected)),
    )
    return SnapshotBuild(snapshot, tuple(problems))


def snapshot_from_objects(objects: Iterable[Mapping[str, Any]]) -> Snapshot:
    return build_snapshot(objects).snapshot
