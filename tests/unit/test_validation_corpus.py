"""The admission decision over the corpus in ``tests/support/policy_corpus.py``: every
expected error and warning, word for word, plus garbage that must never raise."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mnp.admission import review_policy
from mnp.decode import decode_policy
from mnp.validation import validate_network_policy
from tests.support.policy_corpus import CASES, NADS, ingress_port, policy


@pytest.mark.parametrize(
    ("obj", "errors", "warnings"),
    [pytest.param(o, e, w, id=i) for i, o, e, w in CASES],
)
def test_corpus(obj: Any, errors: list[str], warnings: list[str]) -> None:
    before = copy.deepcopy(obj)
    verdict = review_policy(obj, NADS)
    assert [str(e) for e in verdict.errors] == errors
    assert verdict.warnings == warnings
    assert verdict.allowed == (not errors)
    assert obj == before  # review never mutates its input


def test_corpus_is_large_and_mixed() -> None:
    assert len(CASES) >= 80
    assert len({c[0] for c in CASES}) == len(CASES)
    assert sum(1 for c in CASES if not c[2]) >= 25
    assert sum(1 for c in CASES if c[2]) >= 55


def test_denial_message_is_the_api_server_one() -> None:
    verdict = review_policy(policy(ingress_port({"port": 80, "endPort": 79})), NADS)
    assert verdict.message == (
        'MultiNetworkPolicy.k8s.cni.cncf.io "p" is invalid: spec.ingress[0].ports[0].endPort: '
        "Invalid value: 79: must be greater than or equal to `port`"
    )
    two = review_policy(policy({"podSelector": {}, "ingress": [{"from": [{}, {}]}]}), NADS)
    assert two.message == (
        'MultiNetworkPolicy.k8s.cni.cncf.io "p" is invalid: [spec.ingress[0].from[0]: Required '
        "value: must specify a peer, spec.ingress[0].from[1]: Required value: must specify a peer]"
    )


def test_admitted_verdict_has_no_message() -> None:
    verdict = review_policy(policy(), NADS)
    assert verdict.allowed and verdict.message == "" and verdict.errors == []


GARBAGE: list[Any] = [
    None,
    0,
    1.5,
    True,
    "x",
    [],
    [1, 2],
    {},
    {"spec": None},
    {"metadata": []},
    {"metadata": {"name": 5, "namespace": ["x"], "labels": "l", "annotations": {"a": 1}}},
    {"spec": {"podSelector": [], "ingress": [{"from": [{"ipBlock": "10.0.0.0/8"}]}]}},
    {"spec": {"podSelector": {"matchLabels": [], "matchExpressions": {}}, "egress": [[]]}},
    {"spec": {"podSelector": {"matchExpressions": [{"key": 1, "operator": 2, "values": 3}]}}},
    {
        "spec": {
            "podSelector": {
                "matchExpressions": [{"key": "k", "operator": "In", "values": [1, None]}]
            }
        }
    },
    {"spec": {"ingress": [{"ports": [None, "80", {"port": [], "endPort": 1.5}]}]}},
    {"spec": {"egress": [{"to": [{"ipBlock": {"cidr": "1.2.3.4/8", "except": [None, 5]}}]}]}},
    {"spec": {"policyTypes": [None, 1, {}]}},
    {"metadata": {"annotations": {"k8s.v1.cni.cncf.io/policy-for": ["a"]}, "namespace": "n"}},
    {"metadata": {"annotations": {"k8s.v1.cni.cncf.io/policy-for": "x/y/z,,/"}}},
    {"metadata": {"name": "p", 3: "x"}, "spec": {"podSelector": {"matchLabels": {1: "a"}}}},
]


@pytest.mark.parametrize("obj", GARBAGE)
def test_garbage_never_raises_and_is_rejected(obj: Any) -> None:
    verdict = review_policy(obj, NADS)
    assert not verdict.allowed
    assert verdict.errors
    assert validate_network_policy(decode_policy(obj)) or verdict.errors
    assert verdict.message.startswith("MultiNetworkPolicy.k8s.cni.cncf.io ")
