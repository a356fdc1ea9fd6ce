"""The Kubernetes release decides (strict CIDRs from 1.36, the endPort error's value), and an
UPDATE ratchets as upstream's ValidateNetworkPolicyUpdate does. Every expected string is the
API server's, as measured on v1.35.4 and read from v1.37.2's source."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import ApiClient

from enforcer.incremental import PolicyEvent
from enforcer.sources.kube import KubeSource
from mnp import snapshot
from mnp.admission import TOLERATED_SUFFIX, review, review_policy
from mnp.model import NAD_KIND
from mnp.validation import ValidationRules, rules_for_version
from tests.support.policy_corpus import NADS, block, egress_peer, ingress_peer, policy

V135 = rules_for_version("v1.35.4")
V137 = rules_for_version("v1.37.2")
CIDR_PATH = "spec.ingress[0].from[0].ipBlock.cidr"


@pytest.mark.parametrize(
    ("text", "minor"),
    [("v1.35.4", 35), ("1.37", 37), ("v1.36.2-gke.1", 36), ("v1.30.0", 35), ("v1.40.1", 37)],
)
def test_versions_map_to_the_nearest_supported_release(text: str, minor: int) -> None:
    assert rules_for_version(text) == ValidationRules(minor)


@pytest.mark.parametrize("text", ["", "latest", "2.0", "v1", "1.x"])
def test_a_non_version_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes version"):
        rules_for_version(text)


@pytest.mark.parametrize(
    ("cidr", "canonical"),
    [
        ("010.0.0.0/8", "10.0.0.0/8"),
        ("10.0.0.0/08", "10.0.0.0/8"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
    ],
)
def test_non_standard_cidrs_are_admitted_with_a_warning_on_1_35(cidr: str, canonical: str) -> None:
    verdict = review_policy(policy(ingress_peer(block(cidr))), NADS, rules=V135)
    assert verdict.allowed
    assert verdict.warnings == [
        f'{CIDR_PATH}: non-standard CIDR value "{cidr}" will be considered invalid in a future '
        f'Kubernetes release: use "{canonical}"'
    ]


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("010.0.0.0/8", "must not have leading 0s in IP or prefix length"),
        ("10.0.0.0/08", "must not have leading 0s in IP or prefix length"),
        ("::ffff:10.0.0.0/104", "must not have an IPv4-mapped IPv6 address"),
        ("10.0.0.1/8", "must not have bits set beyond the prefix length"),
    ],
)
def test_non_standard_cidrs_are_rejected_on_1_37(cidr: str, message: str) -> None:
    verdict = review_policy(policy(ingress_peer(block(cidr))), NADS, rules=V137)
    assert [str(e) for e in verdict.errors] == [f'{CIDR_PATH}: Invalid value: "{cidr}": {message}']
    assert verdict.warnings == []


def test_host_bits_are_ambiguous_on_1_35() -> None:
    verdict = review_policy(
        policy(egress_peer(block("10.0.0.0/16", "10.0.1.5/24"))), NADS, rules=V135
    )
    assert verdict.allowed
    assert verdict.warnings == [
        'spec.egress[0].to[0].ipBlock.except[0]: CIDR value "10.0.1.5/24" is ambiguous in this '
        'context (should be "10.0.1.0/24" or "10.0.1.5/32"?)'
    ]


@pytest.mark.parametrize(("rules", "shown"), [(V135, 35000), (V137, 32768)])
def test_the_end_port_error_shows_the_releases_value(rules: ValidationRules, shown: int) -> None:
    obj = policy({"podSelector": {}, "egress": [{"ports": [{"port": 35000, "endPort": 32768}]}]})
    verdict = review_policy(obj, NADS, rules=rules)
    assert [str(e) for e in verdict.errors] == [
        f"spec.egress[0].ports[0].endPort: Invalid value: {shown}: must be greater than or equal "
        "to `port`"
    ]


# --- ratcheting on UPDATE ---------------------------------------------------------------------


def _with_label(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "labels": {"edited": "yes"}}}


def test_an_unrelated_edit_keeps_a_stored_invalid_cidr_with_a_warning() -> None:
    old = policy(ingress_peer(block("10.0.0.1/8")))
    verdict = review("UPDATE", _with_label(old), old, NADS, V137)
    assert verdict.allowed
    assert verdict.warnings == [
        # the API server's own warning (networkPolicyWarnings runs on UPDATE too), then ours
        f'{CIDR_PATH}: CIDR value "10.0.0.1/8" is ambiguous in this context (should be '
        '"10.0.0.0/8" or "10.0.0.1/32"?)',
        f'{CIDR_PATH}: Invalid value: "10.0.0.1/8": must not have bits set beyond the prefix '
        f"length{TOLERATED_SUFFIX}",
    ]


def test_create_of_the_same_object_is_still_denied() -> None:
    obj = policy(ingress_peer(block("10.0.0.1/8")))
    assert not review("CREATE", obj, None, NADS, V137).allowed


def test_a_stored_cidr_is_tolerated_anywhere_but_a_new_one_is_not() -> None:
    """Upstream cannot tell moved values from new ones, so any CIDR string of the old object
    passes ("fail to fix pre-existing invalid CIDR" in TestValidateNetworkPolicyUpdate)."""
    old = policy(ingress_peer(block("192.168.0.0/16", "192.168.2.0/24", "192.168.3.1/24")))
    moved = policy(egress_peer(block("192.168.0.0/16", "192.168.1.0/24", "192.168.3.1/24")))
    assert review("UPDATE", moved, old, NADS, V137).allowed
    new_bad = policy(ingress_peer(block("192.168.0.0/16", "192.168.4.1/24")))
    verdict = review("UPDATE", new_bad, old, NADS, V137)
    assert [str(e) for e in verdict.errors] == [
        'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "192.168.4.1/24": must not '
        "have bits set beyond the prefix length"
    ]


def test_a_stored_leading_zero_cidr_gets_the_releases_warning_words() -> None:
    old = policy(ingress_peer(block("010.0.0.0/8")))
    verdict = review("UPDATE", _with_label(old), old, NADS, V137)
    assert verdict.warnings[0] == (
        f'{CIDR_PATH}: non-standard CIDR value "010.0.0.0/8" is invalid: use "10.0.0.0/8"'
    )


def test_the_strict_subset_rule_is_not_ratcheted() -> None:
    old = policy(ingress_peer(block("10.0.0.0/16", "10.1.0.0/24")))
    verdict = review("UPDATE", _with_label(old), old, NADS, V137)
    assert [str(e) for e in verdict.errors] == [
        'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.1.0.0/24": must be a '
        "strict subset of `cidr`"
    ]


def test_an_invalid_stored_pod_selector_lets_invalid_label_values_through() -> None:
    """ValidationOptionsForNetworking: AllowInvalidLabelValueInSelector when the old
    spec.podSelector is invalid; it covers matchExpressions values, not keys or matchLabels."""
    spec = {
        "podSelector": {
            "matchExpressions": [{"key": "app", "operator": "In", "values": ["bad value"]}]
        }
    }
    old = policy(spec)
    verdict = review("UPDATE", _with_label(old), old, NADS, V137)
    assert verdict.allowed
    assert [w for w in verdict.warnings if w.endswith(TOLERATED_SUFFIX)] == [
        'spec.podSelector.matchExpressions[0].values[0]: Invalid value: "bad value": a valid label '
        "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
        "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        + TOLERATED_SUFFIX
    ]
    fine_selector = policy({"podSelector": {}})
    assert not review("UPDATE", policy(spec), fine_selector, NADS, V137).allowed


# --- the enforcer admits as the webhook of the same cluster does ----------------------------


@pytest.mark.parametrize(("rules", "admitted"), [(V135, True), (V137, False)])
def test_the_enforcers_snapshot_uses_the_clusters_rules(
    rules: ValidationRules, admitted: bool
) -> None:
    nad = NADS.objects()[0]
    meta = nad["metadata"]
    obj = policy(ingress_peer(block("10.0.0.1/8")))
    obj["metadata"]["annotations"] = {
        "k8s.v1.cni.cncf.io/policy-for": f"{meta['namespace']}/{meta['name']}"
    }
    obj["metadata"]["namespace"] = meta["namespace"]
    built = snapshot.build_snapshot([nad, obj], rules).snapshot
    assert [p.name for p in built.policies] == (["p"] if admitted else [])
    assert bool(built.rejected) is not admitted
    # The kube source's events admit by the same rules as its snapshots.
    source = KubeSource(ApiClient(), lean=True, rules=rules)
    source.watchers[NAD_KIND].store.put(f"{meta['namespace']}/{meta['name']}", nad)
    source._on_policy(f"{meta['namespace']}/p", obj)
    (event,) = source.events.drain()
    assert isinstance(event, PolicyEvent)
    assert (event.policy is not None) is admitted and bool(event.rejected) is not admitted


def test_1_35_does_not_ratchet_cidrs() -> None:
    """Its ValidateUpdate runs ValidateNetworkPolicy too, without the stored CIDRs exempt."""
    old = policy(ingress_peer(block("10.0.0.0/33")))
    verdict = review("UPDATE", _with_label(old), old, NADS, V135)
    assert [str(e) for e in verdict.errors] == [
        f'{CIDR_PATH}: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. '
        "10.9.8.0/24 or 2001:db8::/64)"
    ]
    assert review("UPDATE", _with_label(old), old, NADS, V137).allowed
