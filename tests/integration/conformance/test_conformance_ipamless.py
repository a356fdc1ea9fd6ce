"""ipBlock-only policies on an IPAM-less layer2 network (a NAD without ``subnets``).

Nothing allocates addresses there: the pods' ``k8s.ovn.org/pod-networks`` entries are
written by hand, one IPv4 and one IPv6 address each, namespace by namespace:

    x: 192.168.100.17-19  fd00:100::17-19    (192.168.100.16/28)
    y: 192.168.100.33-35  fd00:100::33-35    (192.168.100.32/28)
    z: 192.168.100.49-51  fd00:100::49-51    (192.168.100.48/28)

Only ipBlock peers are possible; a selector peer is rejected by admission. The policy's
own podSelector still works (port groups hold switch ports, not addresses).
"""

from __future__ import annotations

import pytest

from .cluster import NetworkSpec
from .harness import ConformanceLab
from .scenarios_layer2 import (
    ALL_ALLOWED,
    BY_ID,
    EGRESS_FROM_XA_BLOCKED,
    INGRESS_TO_X_BLOCKED,
    NAMESPACES,
    Scenario,
    Step,
    policy,
)
from .truth_table import Probe

_FIRST_HOST = {"x": 17, "y": 33, "z": 49}
NETWORK = NetworkSpec(
    topology="layer2",
    network_name="l2ipamless",
    nad_name="l2ipamless",
    subnets=None,
    addresses={
        f"{ns}/{pod}": {
            "ip_addresses": [
                f"192.168.100.{_FIRST_HOST[ns] + i}/24",
                f"fd00:100::{_FIRST_HOST[ns] + i}/64",
            ],
            "mac_address": f"0a:58:c0:a8:64:{_FIRST_HOST[ns] + i:02x}",
        }
        for ns in NAMESPACES
        for i, pod in enumerate("abc")
    },
)

V4_80 = Probe(80, "TCP", 4)
V6_80 = Probe(80, "TCP", 6)

SCENARIOS = (
    Scenario(
        "ipamless-default-deny-ingress",
        "should support a 'default-deny-ingress' policy (no peers at all; both families)",
        (
            Step(
                {V4_80: INGRESS_TO_X_BLOCKED, V6_80: INGRESS_TO_X_BLOCKED},
                BY_ID["default-deny-ingress"].steps[0].policies,
            ),
        ),
    ),
    Scenario(
        "ipamless-ingress-from-ipblock-of-namespace-y",
        "x accepts only y's /28; no IPv6 block, so IPv6 ingress to x is blocked",
        (
            Step(
                {
                    V4_80: """
                  x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a    X   X   X   .   .   .   .   .   .
            x/b    X   X   X   .   .   .   .   .   .
            x/c    X   X   X   .   .   .   .   .   .
            y/a    .   .   .   .   .   .   .   .   .
            y/b    .   .   .   .   .   .   .   .   .
            y/c    .   .   .   .   .   .   .   .   .
            z/a    X   X   X   .   .   .   .   .   .
            z/b    X   X   X   .   .   .   .   .   .
            z/c    X   X   X   .   .   .   .   .   .
            """,
                    V6_80: INGRESS_TO_X_BLOCKED,
                },
                (
                    policy(
                        "x",
                        "allow-from-y-block",
                        """
                        podSelector: {}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - ipBlock: {cidr: 192.168.100.32/28}
                        """,
                    ),
                ),
            ),
        ),
    ),
    Scenario(
        "ipamless-egress-ipblock-except",
        "x/a may reach the whole /24 except z's /28 (IPv4), and nothing over IPv6",
        (
            Step(
                {
                    V4_80: """
                  x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a    .   .   .   .   .   .   X   X   X
            x/b    .   .   .   .   .   .   .   .   .
            x/c    .   .   .   .   .   .   .   .   .
            y/a    .   .   .   .   .   .   .   .   .
            y/b    .   .   .   .   .   .   .   .   .
            y/c    .   .   .   .   .   .   .   .   .
            z/a    .   .   .   .   .   .   .   .   .
            z/b    .   .   .   .   .   .   .   .   .
            z/c    .   .   .   .   .   .   .   .   .
            """,
                    V6_80: EGRESS_FROM_XA_BLOCKED,
                },
                (
                    policy(
                        "x",
                        "egress-except-z",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Egress]
                        egress:
                        - to:
                          - ipBlock:
                              cidr: 192.168.100.0/24
                              except: [192.168.100.48/28]
                        """,
                    ),
                ),
            ),
        ),
    ),
    Scenario(
        "ipamless-allow-all-covers-both-families",
        "deny-ingress in x plus allow-all to x/a: x/a is open over IPv4 AND IPv6",
        (
            Step(
                {
                    V4_80: BY_ID["ingress-allowed-for-a-target"].steps[0].expect[Probe(80)],
                    V6_80: BY_ID["ingress-allowed-for-a-target"].steps[0].expect[Probe(80)],
                },
                (
                    policy(
                        "x",
                        "deny-all",
                        """
                        podSelector: {}
                        policyTypes: [Ingress]
                        ingress: []
                        """,
                    ),
                    policy(
                        "x",
                        "allow-all-to-a",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - {}
                        """,
                    ),
                ),
            ),
        ),
    ),
    Scenario(
        "ipamless-egress-to-cidr",
        "should allow egress access to server in CIDR block (y/b's IPv4 /32)",
        tuple(
            Step({V4_80: step.expect[Probe(80)]}, step.policies)
            for step in BY_ID["egress-to-cidr"].steps
        ),
    ),
    Scenario(
        "ipamless-selector-peer-is-rejected",
        "a podSelector peer on an IPAM-less network is rejected, so nothing is isolated",
        (
            Step(
                {V4_80: ALL_ALLOWED, V6_80: ALL_ALLOWED},
                (
                    policy(
                        "x",
                        "selector-peer",
                        """
                        podSelector: {}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - podSelector:
                              matchLabels: {pod: b}
                        """,
                    ),
                ),
                rejected={"x/selector-peer": "IPAM-less networks can only have `ipBlock` peers"},
            ),
        ),
    ),
)


def test_addresses_are_the_hand_written_ones(lab: ConformanceLab) -> None:
    ports = {f"{p.pod_namespace}/{p.pod_name}": p.ips for p in lab.layout["l2ipamless"].ports}
    assert ports["y/b"] == ("192.168.100.34/24", "fd00:100::34/64")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_ipamless(lab: ConformanceLab, scenario: Scenario) -> None:
    lab.run(scenario)
