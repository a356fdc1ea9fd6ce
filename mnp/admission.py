"""Admission decisions as pure functions: the webhook, ``mnp check`` and the enforcer call these.

One parse: the object is decoded once (``mnp.decode``) and defaulted once; every NetworkPolicy
rule, then the MultiNetworkPolicy rules (policy-for, target NADs, the IPAM-less peer rule),
the warnings and the enforcer's model read that one tree. Each caller pays only for what it
uses: ``/validate`` builds no JSON Patch, ``/mutate`` validates nothing, and the enforcer
(``admit_policy``) gets the model and no patch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from mnp.decode import Decoded, Meta, PeerSpec, PolicyObject, RuleSpec, Spec, decode_policy
from mnp.defaulting import JsonPatch, default_policy
from mnp.field_errors import ErrorList, Path, forbidden, invalid, invalid_message, not_found
from mnp.model import MNP_GROUP, MNP_KIND, NadKey, Network, Policy
from mnp.nad import nad_key, parse_nad
from mnp.policy import policy_model
from mnp.policy_for import DEFAULT_NAMESPACE, POLICY_FOR_PATH, policy_targets
from mnp.validation import (
    DEFAULT_RULES,
    ValidationRules,
    policy_warnings,
    ratcheting_rules,
    validate_network_policy,
)

__all__ = [
    "DENIAL_CODE",
    "DENIAL_REASON",
    "MUTATING_WEBHOOK_NAME",
    "NAD_WEBHOOK_NAME",
    "TOLERATED_SUFFIX",
    "VALIDATING_WEBHOOK_NAME",
    "NadLookup",
    "ValidationRules",
    "Verdict",
    "admit_policy",
    "mutate_policy",
    "peer_requires_network_ipam",
    "review",
    "review_nad",
    "review_policy",
    "selector_peers",
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
    """Where the NADs come from: a watch-fed cache, a snapshot file, or a dict in tests."""

    def get(self, key: NadKey) -> dict[str, Any] | None:
        """The raw NetworkAttachmentDefinition object, or None when it does not exist."""
        ...


@dataclass
class Verdict:
    allowed: bool
    errors: ErrorList = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The defaulting JSON Patch: from mutate_policy, and review_policy(with_patch=True) only.
    patch: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""  # the denial message, as the API server would render it


def _decode(obj: Any, patch: JsonPatch | None = None) -> Decoded:
    """The one parse of a request's object, with NetworkPolicy's defaults applied."""
    return default_policy(decode_policy(obj), patch)


def mutate_policy(obj: Any) -> Verdict:
    """The mutating webhook: always allowed, with the defaulting patch (nothing validated)."""
    patch: JsonPatch = []
    if isinstance(obj, dict):
        _decode(obj, patch)
    return Verdict(allowed=True, patch=patch)


def _meta(policy: Decoded) -> Meta | None:
    meta = policy.metadata if isinstance(policy, PolicyObject) else None
    return meta if isinstance(meta, Meta) else None


def _name_of(policy: Decoded) -> str:
    meta = _meta(policy)
    return meta.name if meta is not None and isinstance(meta.name, str) else ""


def _namespace_of(policy: Decoded) -> str:
    meta = _meta(policy)
    ns = meta.namespace if meta is not None else None
    return ns if isinstance(ns, str) and ns else DEFAULT_NAMESPACE


def peer_requires_network_ipam(peer: PeerSpec) -> bool:
    """A podSelector/namespaceSelector peer names pods, whose addresses only an IPAM knows
    (OVN-Kubernetes' doesPeerRequireNetworkIPAM); an ipBlock peer names addresses itself."""
    return peer.pod_selector is not None or peer.namespace_selector is not None


def selector_peers(policy: Decoded) -> Iterator[Path]:
    """Paths of the peers of a policy that need the network's IPAM."""
    spec = policy.spec if isinstance(policy, PolicyObject) else None
    if not isinstance(spec, Spec):
        return
    for rules in (spec.ingress, spec.egress):
        for rule in rules if isinstance(rules, tuple) else ():
            if isinstance(rule, RuleSpec) and isinstance(rule.peers, tuple):
                for peer in rule.peers:
                    if isinstance(peer, PeerSpec) and peer_requires_network_ipam(peer):
                        yield peer.path


def _ipam_less_errors(policy: Decoded, network: Network) -> ErrorList:
    return [
        forbidden(
            path,
            f"NetworkAttachmentDefinition {network.nad} is a {network.topology} network without "
            "`subnets`, and IPAM-less networks can only have `ipBlock` peers: replace this "
            "podSelector/namespaceSelector peer with ipBlock peers, or add `subnets` to the "
            "NetworkAttachmentDefinition",
        )
        for path in selector_peers(policy)
    ]


def _target_errors(policy: Decoded, nads: NadLookup) -> tuple[ErrorList, list[str]]:
    keys, errors = policy_targets(_meta(policy))
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
            errors.extend(_ipam_less_errors(policy, network))
    return errors, warnings


TOLERATED_SUFFIX = " (tolerated: unchanged from the stored object)"


def _judge(policy: Decoded, nads: NadLookup, rules: ValidationRules) -> Verdict:
    """Validate a decoded, defaulted policy against NetworkPolicy rules and its NADs.

    The policy's warnings come only with an admitted policy, as the API server computes
    them only after validation passed; the NAD warnings always. Errors that the rules'
    ratchet lets through on UPDATE become warnings that name them.
    """
    errors = validate_network_policy(policy, rules)
    target_errors: ErrorList = []
    nad_warnings: list[str] = []
    if isinstance(policy, PolicyObject):
        target_errors, nad_warnings = _target_errors(policy, nads)
    errors.extend(target_errors)
    warnings = [] if errors else policy_warnings(policy, rules)
    if rules.ratchets:
        reported = {str(e) for e in errors}
        warnings.extend(
            f"{e}{TOLERATED_SUFFIX}"
            for e in validate_network_policy(policy, rules.without_ratchet())
            if str(e) not in reported
        )
    warnings.extend(nad_warnings)
    verdict = Verdict(allowed=not errors, errors=errors, warnings=list(dict.fromkeys(warnings)))
    if errors:
        verdict.message = invalid_message(POLICY_KIND, _name_of(policy), errors)
    return verdict


def review_policy(
    obj: Any,
    nads: NadLookup,
    *,
    with_patch: bool = False,
    rules: ValidationRules = DEFAULT_RULES,
) -> Verdict:
    """Default, then validate a MultiNetworkPolicy as a CREATE; the defaulting patch only when
    asked (``mnp check`` shows it; the validating webhook has no use for it)."""
    patch: JsonPatch | None = [] if with_patch and isinstance(obj, dict) else None
    verdict = _judge(_decode(obj, patch), nads, rules)
    verdict.patch = patch or []
    return verdict


def admit_policy(
    obj: Any, nads: NadLookup, rules: ValidationRules = DEFAULT_RULES
) -> tuple[Verdict, Policy | None]:
    """The enforcer's admission: one decode, one defaulting, one validation, no patch; the
    model of an admitted policy. A ValueError from the model is the caller's to report."""
    policy = _decode(obj)
    verdict = _judge(policy, nads, rules)
    return verdict, policy_model(policy) if verdict.allowed else None


def review(
    operation: str,
    obj: Any,
    old_obj: Any,
    nads: NadLookup,
    rules: ValidationRules = DEFAULT_RULES,
) -> Verdict:
    """The validating webhook's entry point for MultiNetworkPolicy requests.

    An UPDATE ratchets as ValidateNetworkPolicyUpdate does: what the stored object already
    had stays admissible, so stored policies remain editable after a rule tightens.
    """
    if operation == "CREATE":
        return _judge(_decode(obj), nads, rules)
    if operation == "UPDATE":
        policy = _decode(obj)
        meta = _meta(policy)
        if meta is not None and meta.being_deleted:
            # Never block the updates (finalizer removal) that let a deletion finish.
            return Verdict(allowed=True)
        if isinstance(old_obj, dict):
            rules = ratcheting_rules(rules, _decode(old_obj))
        return _judge(policy, nads, rules)
    return Verdict(allowed=True)  # DELETE, CONNECT


def _targets(policies: Iterable[Any], key: NadKey) -> Iterator[tuple[str, Decoded]]:
    for obj in policies:
        policy = decode_policy(obj)
        keys, _ = policy_targets(_meta(policy))
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
                peers = [str(p) for p in selector_peers(policy)]
                if peers:
                    warnings.append(
                        f"MultiNetworkPolicy {name} targets NetworkAttachmentDefinition {key}, "
                        f"which becomes an IPAM-less {new_net.topology} network (no `subnets`), "
                        "and IPAM-less networks can only have `ipBlock` peers: its peers "
                        f"{json.dumps(peers)} will be rejected"
                    )
    return Verdict(allowed=True, warnings=warnings)
