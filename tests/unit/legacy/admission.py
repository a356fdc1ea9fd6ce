"""Admission decisions as pure functions: the webhook, ``mnp check`` and the enforcer call these.

One code path: ``review_policy`` defaults the object, applies every NetworkPolicy rule, then
the MultiNetworkPolicy rules (policy-for, target NADs, the IPAM-less peer rule).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import jsonpatch

from mnp.field_errors import ErrorList, Path, forbidden, invalid, invalid_message, not_found
from mnp.model import MNP_GROUP, MNP_KIND, NadKey, Network
from mnp.nad import nad_key, parse_nad
from tests.unit.legacy.defaulting import default_policy
from tests.unit.legacy.policy_for import DEFAULT_NAMESPACE, POLICY_FOR_PATH, policy_for_of
from tests.unit.legacy.validation import peer_field, policy_warnings, validate_policy

__all__ = [
    "DENIAL_CODE",
    "DENIAL_REASON",
    "MUTATING_WEBHOOK_NAME",
    "NAD_WEBHOOK_NAME",
    "VALIDATING_WEBHOOK_NAME",
    "NadLookup",
    "Verdict",
    "default_policy",
    "mutate_policy",
    "review",
    "review_nad",
    "review_policy",
]

VALIDATING_WEBHOOK_NAME = "multinetworkpolicy.mnp.k8s.cni.cncf.io"
MUTATING_WEBHOOK_NAME = "default.multinetworkpolicy.mnp.k8s.cni.cncf.io"
NAD_WEBHOOK_NAME = "networkattachmentdefinition.mnp.k8s.cni.cncf.io"
POLICY_KIND = f"{MNP_KIND}.{MNP_GROUP}"  # how apierrors.NewInvalid names the kind

# The Status of a denial. kubectl prints a reason-Invalid Status without details as "The request
# is invalid: ...", hiding the webhook's name; with Forbidden (controller-runtime's Denied) it
# prints "Error from server (Forbidden): ... admission webhook "<name>" denied the request: ...".
DENIAL_CODE = 403
DENIAL_REASON = "Forbidden"


class NadLookup(Protocol):
    """Where the NADs come from: an informer cache, a snapshot file, or a dict in tests."""

    def get(self, key: NadKey) -> dict[str, Any] | None:
        """The raw NetworkAttachmentDefinition object, or None when it does not exist."""
        ...


@dataclass
class Verdict:
    allowed: bool
    errors: ErrorList = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    patch: list[dict[str, Any]] = field(default_factory=list)  # JSON Patch from defaulting
    message: str = ""  # the denial message, as the API server would render it


_UNCHANGED = 0  # stands for a subtree defaulting left alone, on both sides


def _without_unchanged(src: Any, dst: Any) -> tuple[Any, Any]:
    """Copies of two JSON values where every dict value or list item that defaulting did not
    change holds the same placeholder, keeping jsonpatch's key order. Equal subtrees yield no
    operations, so ``make_patch`` returns the same patch, without walking (say)
    ``metadata.managedFields``."""
    if type(src) is list and type(dst) is list and len(src) == len(dst):
        # Defaulting never adds, drops or moves list items: compare them pairwise.
        pairs = [
            (_UNCHANGED, _UNCHANGED) if type(x) is type(y) and x == y else _without_unchanged(x, y)
            for x, y in zip(src, dst, strict=True)
        ]
        return [x for x, _ in pairs], [y for _, y in pairs]
    if type(src) is not dict or type(dst) is not dict:
        return src, dst
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    for key, old in src.items():
        if key not in dst:
            a[key] = old
            continue
        new = dst[key]
        if type(old) is type(new) and old == new:
            a[key] = b[key] = _UNCHANGED
        else:
            a[key], b[key] = _without_unchanged(old, new)
    for key, new in dst.items():
        if key not in src:
            b[key] = new
    return a, b


def _defaulting_patch(obj: Any, defaulted: Any) -> list[dict[str, Any]]:
    """``jsonpatch.make_patch(obj, defaulted)``, as controller-runtime's PatchResponseFromRaw."""
    if not isinstance(obj, dict) or obj == defaulted:
        return []
    ops: list[dict[str, Any]] = jsonpatch.make_patch(*_without_unchanged(obj, defaulted)).patch
    return ops


def mutate_policy(obj: Any) -> Verdict:
    """The mutating webhook: always allowed, with the defaulting patch."""
    return Verdict(allowed=True, patch=_defaulting_patch(obj, default_policy(obj)))


def _name_of(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else ""


def _namespace_of(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return ns if isinstance(ns, str) and ns else DEFAULT_NAMESPACE


def selector_peers(obj: Any) -> Iterator[Path]:
    """Paths of the podSelector/namespaceSelector peers of a policy (ipBlock peers excluded)."""
    spec = obj.get("spec") if isinstance(obj, dict) else None
    if not isinstance(spec, dict):
        return
    for direction, name in (("Ingress", "ingress"), ("Egress", "egress")):
        rules = spec.get(name)
        for i, rule in enumerate(rules if isinstance(rules, list) else []):
            peers = rule.get(peer_field(direction)) if isinstance(rule, dict) else None
            for j, peer in enumerate(peers if isinstance(peers, list) else []):
                if isinstance(peer, dict) and (
                    peer.get("podSelector") is not None or peer.get("namespaceSelector") is not None
                ):
                    yield Path("spec").child(name).index(i).child(peer_field(direction)).index(j)


def _ipam_less_errors(obj: Any, network: Network) -> ErrorList:
    return [
        forbidden(
            path,
            f"NetworkAttachmentDefinition {network.nad} is a {network.topology} network without "
            "`subnets`, and IPAM-less networks can only have `ipBlock` peers: replace this "
            "podSelector/namespaceSelector peer with ipBlock peers, or add `subnets` to the "
            "NetworkAttachmentDefinition",
        )
        for path in selector_peers(obj)
    ]


def _target_errors(obj: Any, nads: NadLookup) -> tuple[ErrorList, list[str]]:
    keys, errors = policy_for_of(obj)
    warnings: list[str] = []
    for key in dict.fromkeys(keys):
        raw = nads.get(key)
        if raw is None:
            errors.append(
                not_found(
                    POLICY_FOR_PATH,
                    str(key),
                    f"NetworkAttachmentDefinition {key} does not exist: create the "
                    "NetworkAttachmentDefinition first, then the policy",
                )
            )
            continue
        network, nad_errors, nad_warnings = parse_nad(raw)
        warnings.extend(nad_warnings)
        errors.extend(
            invalid(
                POLICY_FOR_PATH,
                str(key),
                f"NetworkAttachmentDefinition {key} cannot be used: {e}",
            )
            for e in nad_errors
        )
        if network is not None and network.ipam_less:
            errors.extend(_ipam_less_errors(obj, network))
    return errors, warnings


def review_policy(obj: Any, nads: NadLookup) -> Verdict:
    """Default, then validate a MultiNetworkPolicy against NetworkPolicy rules and its NADs."""
    defaulted = default_policy(obj)
    errors = validate_policy(defaulted)
    target_errors: ErrorList = []
    nad_warnings: list[str] = []
    if isinstance(defaulted, dict):
        target_errors, nad_warnings = _target_errors(defaulted, nads)
    errors.extend(target_errors)
    warnings = policy_warnings(defaulted) + nad_warnings
    verdict = Verdict(
        allowed=not errors,
        errors=errors,
        warnings=list(dict.fromkeys(warnings)),
        patch=_defaulting_patch(obj, defaulted),
    )
    if errors:
        verdict.message = invalid_message(POLICY_KIND, _name_of(obj), errors)
    return verdict


def _being_deleted(obj: Any) -> bool:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return isinstance(meta, dict) and meta.get("deletionTimestamp") is not None


def review(operation: str, obj: Any, old_obj: Any, nads: NadLookup) -> Verdict:
    """The validating webhook's entry point for MultiNetworkPolicy requests."""
    if operation in ("CREATE", "UPDATE"):
        if operation == "UPDATE" and _being_deleted(obj):
            # Never block the updates (finalizer removal) that let a deletion finish.
            return Verdict(allowed=True)
        return review_policy(obj, nads)
    return Verdict(allowed=True)  # DELETE, CONNECT


def _targets(policies: Iterable[Any], key: NadKey) -> Iterator[tuple[str, Any]]:
    for policy in policies:
        keys, _ = policy_for_of(policy)
        if key in keys:
            yield f"{_namespace_of(policy)}/{_name_of(policy)}", policy


def review_nad(operation: str, old: Any, new: Any, policies: Iterable[Any]) -> Verdict:
    """The NAD guard: always allowed, warning about the policies a change breaks."""
    warnings: list[str] = []
    policies = list(policies)
    if operation == "DELETE":
        key = nad_key(old)
        if key is not None:
            warnings.extend(
                f"MultiNetworkPolicy {name} targets NetworkAttachmentDefinition {key}, which is "
                "being deleted: the policy will not be enforced on that network until the "
                "NetworkAttachmentDefinition exists again"
                for name, _ in _targets(policies, key)
            )
    elif operation == "UPDATE":
        key = nad_key(new) or nad_key(old)
        old_net, _, _ = parse_nad(old)
        new_net, new_errors, _ = parse_nad(new)
        if key is not None and new_net is None and new_errors:
            faults = "; ".join(str(e) for e in new_errors)
            warnings.extend(
                f"MultiNetworkPolicy {name} targets NetworkAttachmentDefinition {key}, which "
                f"becomes unusable ({faults}): the policy will not be enforced on that network"
                for name, _ in _targets(policies, key)
            )
        elif (
            key is not None
            and new_net is not None
            and new_net.ipam_less
            and not (old_net is not None and old_net.ipam_less)
        ):
            for name, policy in _targets(policies, key):
                peers = [str(p) for p in selector_peers(default_policy(policy))]
                if peers:
                    warnings.append(
                        f"MultiNetworkPolicy {name} targets NetworkAttachmentDefinition {key}, "
                        f"which becomes an IPAM-less {new_net.topology} network (no `subnets`), "
                        "and IPAM-less networks can only have `ipBlock` peers: its peers "
                        f"{json.dumps(peers)} will be rejected"
                    )
    return Verdict(allowed=True, warnings=warnings)
