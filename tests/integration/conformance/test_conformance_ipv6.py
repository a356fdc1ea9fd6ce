"""IPv6-only and dual-stack layer2 networks.

IPv6-only: a few upstream scenarios, probed over IPv6 with the layer2 tables (ipBlocks
become ``/128`` host CIDRs and upstream's ``/4``, as upstream does for an IPv6 pod IP).

Dual-stack: every pod has an IPv4 and an IPv6 address; each family is probed on its own.
Selector peers must cover both families; an ipBlock covers only its own family, so a
pod whose egress is limited to IPv4 blocks has no IPv6 egress at all.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cluster import NetworkSpec
from .conftest import start_lab
from .harness import ConformanceLab, for_family
from .scenarios_layer2 import (
    BY_ID,
    EGRESS_FROM_XA_BLOCKED,
    INGRESS_TO_X_BLOCKED,
    INGRESS_TO_XA_ONLY_FROM_YA,
    Scenario,
    Step,
    policy,
)
from .truth_table import Probe

IPV6_ONLY = NetworkSpec(
    topology="layer2", network_name="l2v6", nad_name="l2v6", subnets="fd00:200::/64"
)
DUAL_STACK = NetworkSpec(
    topology="layer2",
    network_name="l2dual",
    nad_name="l2dual",
    subnets="10.210.0.0/16,fd00:210::/64",
)

IPV6_SUBSET = tuple(
    for_family(BY_ID[i], 6)
    for i in (
        "default-deny-ingress",
        "podselector-and-nsselector",
        "egress-on-named-port",
        "ingress-any-port-of-one-protocol",
        "egress-to-cidr",
        "egress-to-cidr-except",
    )
)

V4_80 = Probe(80, "TCP", 4)
V6_80 = Probe(80, "TCP", 6)

# x/a may only reach y/b, by one of y/b's two addresses.
ONLY_XA_TO_YB = """
      x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a    X   X   X   X   .   X   X   X   X
x/b    .   .   .   .   .   .   .   .   .
x/c    .   .   .   .   .   .   .   .   .
y/a    .   .   .   .   .   .   .   .   .
y/b    .   .   .   .   .   .   .   .   .
y/c    .   .   .   .   .   .   .   .   .
z/a    .   .   .   .   .   .   .   .   .
z/b    .   .   .   .   .   .   .   .   .
z/c    .   .   .   .   .   .   .   .   .
"""


DUAL_STACK_SCENARIOS = (
    Scenario(
        "dual-stack-default-deny-ingress",
        "should support a 'default-deny-ingress' policy (both families)",
        (
            Step(
                {V4_80: INGRESS_TO_X_BLOCKED, V6_80: INGRESS_TO_X_BLOCKED},
                (
                    policy(
                        "x",
                        "deny-ingress",
                        """
                        podSelector: {}
                        policyTypes: [Ingress]
                        ingress: []
                        """,
                    ),
                ),
            ),
        ),
    ),
    Scenario(
        "dual-stack-pod-and-ns-selector",
        "only y/a reaches x/a, by pod and namespace selector (both families)",
        (
            Step(
                {V4_80: INGRESS_TO_XA_ONLY_FROM_YA, V6_80: INGRESS_TO_XA_ONLY_FROM_YA},
                (
                    policy(
                        "x",
                        "allow-ns-y-pod-a",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - namespaceSelector:
                              matchLabels: {kubernetes.io/metadata.name: y}
                            podSelector:
                              matchLabels: {pod: a}
                        """,
                    ),
                ),
            ),
        ),
    ),
    Scenario(
        "dual-stack-egress-to-ipv4-cidr",
        "egress to y/b's IPv4 address only: IPv6 egress of x/a is blocked entirely",
        (
            Step(
                {V4_80: ONLY_XA_TO_YB, V6_80: EGRESS_FROM_XA_BLOCKED},
                (
                    policy(
                        "x",
                        "allow-client-a-via-cidr-egress-rule",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Egress]
                        egress:
                        - to:
                          - ipBlock: {cidr: '{host4:y/b}'}
                        """,
                    ),
                ),
            ),
        ),
    ),
    Scenario(
        "dual-stack-egress-to-ipv6-cidr",
        "egress to y/b's IPv6 address only: IPv4 egress of x/a is blocked entirely",
        (
            Step(
                {V4_80: EGRESS_FROM_XA_BLOCKED, V6_80: ONLY_XA_TO_YB},
                (
                    policy(
                        "x",
                        "allow-client-a-via-cidr-egress-rule",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Egress]
                        egress:
                        - to:
                          - ipBlock: {cidr: '{host6:y/b}'}
                        """,
                    ),
                ),
            ),
        ),
    ),
    Scenario(
        "dual-stack-egress-to-both-cidrs",
        "egress to both of y/b's addresses, one ipBlock each",
        (
            Step(
                {V4_80: ONLY_XA_TO_YB, V6_80: ONLY_XA_TO_YB},
                (
                    policy(
                        "x",
                        "allow-client-a-via-cidr-egress-rule",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Egress]
                        egress:
                        - to:
                          - ipBlock: {cidr: '{host4:y/b}'}
                          - ipBlock: {cidr: '{host6:y/b}'}
                        """,
                    ),
                ),
            ),
        ),
    ),
)


@pytest.fixture(scope="module")
def ipv6_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConformanceLab]:
    yield from start_lab(IPV6_ONLY, tmp_path_factory)


@pytest.fixture(scope="module")
def dual_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConformanceLab]:
    yield from start_lab(DUAL_STACK, tmp_path_factory)


@pytest.mark.parametrize("scenario", IPV6_SUBSET, ids=lambda s: s.id)
def test_ipv6_only(ipv6_lab: ConformanceLab, scenario: Scenario) -> None:
    lab = ipv6_lab
    assert all(":" in ip for port in lab.layout["l2v6"].ports for ip in port.ips)
    lab.run(scenario)


@pytest.mark.parametrize("scenario", DUAL_STACK_SCENARIOS, ids=lambda s: s.id)
def test_dual_stack(dual_lab: ConformanceLab, scenario: Scenario) -> None:
    dual_lab.run(scenario)
