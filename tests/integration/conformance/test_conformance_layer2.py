"""Upstream's NetworkPolicy e2e scenarios as MultiNetworkPolicies on a layer2 network.

One OVN, one topology (x/l2net, y/l2net, z/l2net: one network), every scenario in turn:
reconcile its policies, ovn-trace every pod pair, compare with its hand-written table
(see ``scenarios_layer2.py``).
"""

from __future__ import annotations

import pytest

from .cluster import NetworkSpec
from .harness import ConformanceLab
from .scenarios_layer2 import ALL_ALLOWED, DENY_INGRESS_X, SCENARIOS, TCP80, Scenario, Step

NETWORK = NetworkSpec(
    topology="layer2", network_name="l2net", nad_name="l2net", subnets="10.200.0.0/16"
)


def test_every_upstream_scenario_is_ported() -> None:
    # network_policy.go: 42 TCP scenarios, 3 UDP, 3 SCTP.
    assert len(SCENARIOS) == 48
    assert sum(s.upstream.startswith("UDP:") for s in SCENARIOS) == 3
    assert sum(s.upstream.startswith("SCTP:") for s in SCENARIOS) == 3


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_layer2(lab: ConformanceLab, scenario: Scenario) -> None:
    lab.run(scenario)


def test_harness_fails_with_a_readable_diff_when_the_table_is_wrong(lab: ConformanceLab) -> None:
    """The observed side really comes from ovn-trace: a wrong hand table must fail."""
    wrong = Scenario(
        "deliberately-wrong",
        "default-deny-ingress, expecting no isolation",
        (Step({TCP80: ALL_ALLOWED}, (DENY_INGRESS_X,)),),
    )
    with pytest.raises(AssertionError) as failure:
        lab.run(wrong)
    text = str(failure.value)
    # 9 sources x 3 destinations in x, minus the 3 ignored loopback cells.
    assert "deliberately-wrong step 1/1 80/TCP: 24 cell(s) differ" in text
    assert "y/a -> x/b: expected allowed, observed blocked" in text
