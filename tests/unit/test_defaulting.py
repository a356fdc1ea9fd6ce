"""Defaulting, the mutating patch, the operation handling, the NAD guard, and the model."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnp.admission import (
    MUTATING_WEBHOOK_NAME,
    NAD_WEBHOOK_NAME,
    VALIDATING_WEBHOOK_NAME,
    admit_policy,
    mutate_policy,
    review,
    review_nad,
    review_policy,
)
from mnp.decode import decode_policy
from mnp.defaulting import default_policy
from mnp.model import IPBlock, LabelSelector, NadKey, Peer, Policy, Port, Requirement
from mnp.nad import DictNadLookup
from mnp.policy import policy_model
from tests.support.strategies import policies as random_policies


def defaulted(obj: Any) -> Any:
    """The raw object with the defaults applied, as the API server stores it after /mutate."""
    return jsonpatch.apply_patch(copy.deepcopy(obj), mutate_policy(obj).patch)


def parse_policy(obj: Any) -> Policy:
    return policy_model(default_policy(decode_policy(obj)))


OVN = "ovn-k8s-cni-overlay"


def nad(name: str, **config: Any) -> dict[str, Any]:
    conf = {"name": name, "type": OVN, "topology": "layer2", **config}
    return {"metadata": {"name": name, "namespace": "ns1"}, "spec": {"config": json.dumps(conf)}}


def policy(spec: dict[str, Any], policy_for: str = "blue", name: str = "p") -> dict[str, Any]:
    return {
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": "ns1",
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": policy_for},
        },
        "spec": spec,
    }


NADS = DictNadLookup({NadKey("ns1", "blue"): nad("blue", subnets="10.1.0.0/16")})


def test_webhook_names() -> None:
    assert VALIDATING_WEBHOOK_NAME == "multinetworkpolicy.mnp.k8s.cni.cncf.io"
    assert MUTATING_WEBHOOK_NAME == "default.multinetworkpolicy.mnp.k8s.cni.cncf.io"
    assert NAD_WEBHOOK_NAME == "networkattachmentdefinition.mnp.k8s.cni.cncf.io"


def test_defaults() -> None:
    obj = policy(
        {
            "podSelector": {},
            "ingress": [{"ports": [{"port": 80}, {"protocol": "UDP"}]}],
            "egress": [{"ports": [{"port": 53, "protocol": None}]}],
        },
        policy_for=" blue , ns1/blue,other/x ",
    )
    out = defaulted(obj)
    assert out["spec"]["ingress"][0]["ports"] == [
        {"port": 80, "protocol": "TCP"},
        {"protocol": "UDP"},
    ]
    assert out["spec"]["egress"][0]["ports"] == [{"port": 53, "protocol": "TCP"}]
    assert out["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert out["metadata"]["annotations"]["k8s.v1.cni.cncf.io/policy-for"] == "ns1/blue,other/x"
    assert "policyTypes" not in obj["spec"]  # a copy, the input is untouched


@pytest.mark.parametrize(
    ("spec", "types"),
    [
        ({"podSelector": {}}, ["Ingress"]),
        ({"podSelector": {}, "policyTypes": []}, ["Ingress"]),
        ({"podSelector": {}, "egress": []}, ["Ingress"]),
        ({"podSelector": {}, "egress": [{}]}, ["Ingress", "Egress"]),
        ({"podSelector": {}, "policyTypes": ["Egress"]}, ["Egress"]),
        ({"podSelector": {}, "egress": "junk"}, None),
    ],
)
def test_policy_types_default(spec: dict[str, Any], types: list[str] | None) -> None:
    assert defaulted(policy(spec))["spec"].get("policyTypes") == types


def test_bad_policy_for_is_left_alone() -> None:
    obj = policy({"podSelector": {}}, policy_for="a/b/c, blue")
    assert defaulted(obj)["metadata"] == obj["metadata"]


def test_mutate_patch_applies_once_and_is_idempotent() -> None:
    obj = policy({"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}, policy_for="blue")
    verdict = mutate_policy(obj)
    assert verdict.allowed
    assert verdict.patch == [
        {
            "op": "replace",
            "path": "/metadata/annotations/k8s.v1.cni.cncf.io~1policy-for",
            "value": "ns1/blue",
        },
        {"op": "add", "path": "/spec/policyTypes", "value": ["Ingress"]},
        {"op": "add", "path": "/spec/ingress/0/ports/0/protocol", "value": "TCP"},
    ]
    once = jsonpatch.apply_patch(obj, verdict.patch)
    assert decode_policy(once) == default_policy(decode_policy(obj))
    assert mutate_policy(once).patch == []
    twice = jsonpatch.apply_patch(once, verdict.patch)
    assert twice == once


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 70000)
    | st.text(max_size=6)
    | st.sampled_from(["TCP", "Ingress", "Egress", "10.0.0.0/8", "In", "blue"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "podSelector",
                    "ingress",
                    "egress",
                    "ports",
                    "port",
                    "protocol",
                    "from",
                    "to",
                    "ipBlock",
                    "cidr",
                    "except",
                    "policyTypes",
                    "endPort",
                    "matchLabels",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(spec=JSON)
def test_defaulting_is_idempotent_and_never_raises(spec: Any) -> None:
    obj = {
        "metadata": {
            "name": "p",
            "namespace": "ns1",
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": "blue"},
        },
        "spec": spec,
    }
    before = copy.deepcopy(obj)
    tree = default_policy(decode_policy(obj))
    assert default_policy(tree) == tree
    once = defaulted(obj)
    assert decode_policy(once) == tree
    assert obj == before
    assert mutate_policy(once).patch == []
    verdict = review("CREATE", obj, None, NADS)
    assert verdict.allowed == (not verdict.errors)


def test_review_operations() -> None:
    bad = policy({"podSelector": {}, "ingress": [{"from": [{}]}]})
    assert not review("CREATE", bad, None, NADS).allowed
    assert not review("UPDATE", bad, policy({"podSelector": {}}), NADS).allowed
    assert review("DELETE", None, bad, NADS).allowed
    deleting = copy.deepcopy(bad)
    deleting["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    assert review("UPDATE", deleting, bad, NADS).allowed
    good = review("CREATE", policy({"podSelector": {}}), None, NADS)
    assert good.allowed and good.patch == []  # /validate computes no patch
    checked = review_policy(policy({"podSelector": {}}), NADS, with_patch=True)
    assert checked.allowed and checked.patch == mutate_policy(policy({"podSelector": {}})).patch
    assert checked.patch


def test_nad_guard_warns_on_delete() -> None:
    old = nad("blue", subnets="10.1.0.0/16")
    policies = [policy({"podSelector": {}}, name="a"), policy({"podSelector": {}}, "other", "b")]
    verdict = review_nad("DELETE", old, None, policies)
    assert verdict.allowed
    assert verdict.warnings == [
        "MultiNetworkPolicy ns1/a targets NetworkAttachmentDefinition ns1/blue, which is being "
        "deleted: the policy will not be enforced on that network until the "
        "NetworkAttachmentDefinition exists again"
    ]


def test_nad_guard_warns_when_subnets_go_away() -> None:
    old, new = nad("blue", subnets="10.1.0.0/16"), nad("blue")
    selector_policy = policy(
        {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}, name="sel"
    )
    block_policy = policy(
        {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]},
        name="blk",
    )
    verdict = review_nad("UPDATE", old, new, [selector_policy, block_policy])
    assert verdict.allowed
    assert verdict.warnings == [
        "MultiNetworkPolicy ns1/sel targets NetworkAttachmentDefinition ns1/blue, which becomes "
        "an IPAM-less layer2 network (no `subnets`), and IPAM-less networks can only have "
        '`ipBlock` peers: its peers ["spec.ingress[0].from[0]"] will be rejected'
    ]
    assert review_nad("UPDATE", new, new, [selector_policy]).warnings == []
    assert review_nad("UPDATE", old, old, [selector_policy]).warnings == []


def test_nad_guard_warns_when_nad_becomes_unusable() -> None:
    old = nad("blue", subnets="10.1.0.0/16")
    new = copy.deepcopy(old)
    new["spec"]["config"] = '{"name": "blue", "topology": "layer9"}'
    verdict = review_nad("UPDATE", old, new, [policy({"podSelector": {}})])
    assert verdict.allowed and len(verdict.warnings) == 1
    assert verdict.warnings[0].startswith(
        "MultiNetworkPolicy ns1/p targets NetworkAttachmentDefinition ns1/blue, which becomes "
        'unusable (spec.config: Invalid value: "layer9": '
    )
    assert review_nad("CREATE", None, new, []).allowed


def test_nad_guard_never_raises_on_garbage() -> None:
    for op in ("CREATE", "UPDATE", "DELETE", "CONNECT"):
        assert review_nad(op, "x", [1], [None, "y", {"metadata": 3}]).allowed


def test_parse_policy_masks_cidrs_and_defaults() -> None:
    obj = defaulted(
        policy(
            {
                "podSelector": {"matchLabels": {"b": "2", "a": "1"}},
                "ingress": [
                    {
                        "ports": [{"port": 80, "endPort": 90}, {"port": "http", "protocol": "UDP"}],
                        "from": [
                            {"ipBlock": {"cidr": "10.0.0.1/24", "except": ["10.0.0.129/25"]}},
                            {
                                "podSelector": {
                                    "matchExpressions": [
                                        {"key": "k", "operator": "NotIn", "values": ["y", "x"]}
                                    ]
                                },
                                "namespaceSelector": {},
                            },
                        ],
                    }
                ],
            },
            policy_for="blue,ns2/red,blue",
        )
    )
    p = parse_policy(obj)
    assert p.key == "ns1/p"
    assert p.policy_for == (NadKey("ns1", "blue"), NadKey("ns2", "red"))
    assert p.pod_selector == LabelSelector(match_labels=(("a", "1"), ("b", "2")))
    assert p.policy_types == frozenset({"Ingress"})
    assert p.egress == ()
    rule = p.ingress[0]
    assert rule.ports == (Port("TCP", 80, 90), Port("UDP", "http", None))
    assert rule.peers == (
        Peer(ip_block=IPBlock("10.0.0.0/24", ("10.0.0.128/25",))),
        Peer(
            pod_selector=LabelSelector(match_expressions=(Requirement("k", "NotIn", ("x", "y")),)),
            namespace_selector=LabelSelector(),
        ),
    )


def test_parse_policy_rejects_structural_garbage() -> None:
    with pytest.raises(ValueError, match=r"spec\.ingress"):
        parse_policy(policy({"podSelector": {}, "ingress": "x"}))


def test_the_enforcer_gets_the_model_of_what_the_webhook_admits() -> None:
    obj = policy({"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]})
    verdict, model = admit_policy(obj, NADS)
    assert verdict.allowed and verdict.patch == []
    assert model == parse_policy(obj)
    assert model is not None and model.policy_types == frozenset({"Ingress", "Egress"})
    rejected, none = admit_policy(policy({"podSelector": {}, "ingress": [{"from": [{}]}]}), NADS)
    assert not rejected.allowed and none is None


def _ops(patch: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(op, sort_keys=True) for op in patch)


@settings(max_examples=400, deadline=None)
@given(random_policies)
def test_the_patch_is_make_patch(obj: Any) -> None:
    # The patch comes from the paths defaulting sets, not from a diff; on any input it must
    # hold exactly the operations jsonpatch.make_patch(original, defaulted) finds, as
    # controller-runtime computes them (make_patch orders operations on different keys of
    # one object by set iteration, so only the order of those, which commute, may differ).
    patch = mutate_policy(obj).patch
    if not isinstance(obj, dict):
        assert patch == []
        return
    once = jsonpatch.apply_patch(copy.deepcopy(obj), patch)
    assert _ops(patch) == _ops(jsonpatch.make_patch(obj, once).patch)
    assert decode_policy(once) == default_policy(decode_policy(obj))


def test_patch_order_is_the_order_defaulting_visits() -> None:
    obj = policy(
        {
            "podSelector": {},
            "ingress": [{"ports": [{"port": 1}, {"port": 2, "protocol": None}]}],
            "egress": [{"ports": [{}]}],
            "policyTypes": [],
        },
        policy_for="blue",
    )
    assert [(op["op"], op["path"]) for op in mutate_policy(obj).patch] == [
        ("replace", "/metadata/annotations/k8s.v1.cni.cncf.io~1policy-for"),
        ("add", "/spec/policyTypes/0"),
        ("add", "/spec/policyTypes/1"),
        ("add", "/spec/ingress/0/ports/0/protocol"),
        ("replace", "/spec/ingress/0/ports/1/protocol"),
        ("add", "/spec/egress/0/ports/0/protocol"),
    ]
    assert mutate_policy({**obj, "spec": {"podSelector": {}, "policyTypes": None}}).patch[1] == {
        "op": "replace",
        "path": "/spec/policyTypes",
        "value": ["Ingress"],
    }
