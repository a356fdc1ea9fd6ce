"""A subset of the upstream scenarios on a localnet network, plus egress to the outside.

A localnet switch has a localnet port towards the physical network; ovn-trace delivers
to it for addresses outside the cluster. The tracer probes one representative address
per ipBlock of the policies (the first address in the block, outside its excepts), so
the external columns below are those addresses, written out by hand.
"""

from __future__ import annotations

import pytest

from .cluster import NetworkSpec
from .harness import ConformanceLab
from .scenarios_layer2 import BY_ID, Scenario, Step, policy
from .truth_table import Probe

pytestmark = pytest.mark.integration

NETWORK = NetworkSpec(
    topology="localnet",
    network_name="physnet",
    nad_name="physnet",
    subnets="192.168.50.0/24",
    vlan_id=100,
)

SUBSET = tuple(
    BY_ID[i]
    for i in (
        "default-deny-all",
        "ingress-only-from-other-ns-by-nsselector",
        "deny-egress-by-podselector",
        "egress-to-cidr",
        "egress-to-cidr-except",
        "udp-ports",
    )
)

TCP5432 = Probe(5432, "TCP")

EXTERNAL_DATABASE = Scenario(
    "egress-to-external-database-by-ipblock",
    "(mnp) only x/a may reach the database outside the cluster, by ipBlock",
    (
        Step(
            # Columns 203.0.113.1 and .128: the tracer's representative addresses of the
            # two ipBlocks below. x/a may reach 203.0.113.0/24 except the lower /25 (so
            # .128, not .1) and no pod; y/a only the lower /25 (so .1, not .128), on 5432.
            {
                TCP5432: """
                  x/a x/b x/c y/a y/b y/c z/a z/b z/c 203.0.113.1 203.0.113.128
            x/a    X   X   X   X   X   X   X   X   X       X           .
            x/b    .   .   .   .   .   .   .   .   .       .           .
            x/c    .   .   .   .   .   .   .   .   .       .           .
            y/a    X   X   X   X   X   X   X   X   X       .           X
            y/b    .   .   .   .   .   .   .   .   .       .           .
            y/c    .   .   .   .   .   .   .   .   .       .           .
            z/a    .   .   .   .   .   .   .   .   .       .           .
            z/b    .   .   .   .   .   .   .   .   .       .           .
            z/c    .   .   .   .   .   .   .   .   .       .           .
            """
            },
            (
                policy(
                    "x",
                    "allow-database",
                    """
                    podSelector:
                      matchLabels: {pod: a}
                    policyTypes: [Egress]
                    egress:
                    - to:
                      - ipBlock:
                          cidr: 203.0.113.0/24
                          except: [203.0.113.0/25]
                      ports:
                      - {protocol: TCP, port: 5432}
                    """,
                ),
                policy(
                    "y",
                    "allow-lower-database",
                    """
                    podSelector:
                      matchLabels: {pod: a}
                    policyTypes: [Egress]
                    egress:
                    - to:
                      - ipBlock: {cidr: 203.0.113.0/25}
                      ports:
                      - {protocol: TCP, port: 5432}
                    """,
                ),
            ),
        ),
        Step(
            # Same destinations on another port: the rules name 5432 only.
            {
                Probe(80, "TCP"): """
                  x/a x/b x/c y/a y/b y/c z/a z/b z/c 203.0.113.1 203.0.113.128
            x/a    X   X   X   X   X   X   X   X   X       X           X
            x/b    .   .   .   .   .   .   .   .   .       .           .
            x/c    .   .   .   .   .   .   .   .   .       .           .
            y/a    X   X   X   X   X   X   X   X   X       X           X
            y/b    .   .   .   .   .   .   .   .   .       .           .
            y/c    .   .   .   .   .   .   .   .   .       .           .
            z/a    .   .   .   .   .   .   .   .   .       .           .
            z/b    .   .   .   .   .   .   .   .   .       .           .
            z/c    .   .   .   .   .   .   .   .   .       .           .
            """
            },
            (
                policy(
                    "x",
                    "allow-database",
                    """
                    podSelector:
                      matchLabels: {pod: a}
                    policyTypes: [Egress]
                    egress:
                    - to:
                      - ipBlock:
                          cidr: 203.0.113.0/24
                          except: [203.0.113.0/25]
                      ports:
                      - {protocol: TCP, port: 5432}
                    """,
                ),
                policy(
                    "y",
                    "allow-lower-database",
                    """
                    podSelector:
                      matchLabels: {pod: a}
                    policyTypes: [Egress]
                    egress:
                    - to:
                      - ipBlock: {cidr: 203.0.113.0/25}
                      ports:
                      - {protocol: TCP, port: 5432}
                    """,
                ),
            ),
            what="probing port 80",
        ),
    ),
)


def test_localnet_switch_has_its_localnet_port(lab: ConformanceLab) -> None:
    layout = lab.layout["physnet"]
    assert layout.localnet_port is not None
    assert len(layout.ports) == 9


@pytest.mark.parametrize("scenario", (*SUBSET, EXTERNAL_DATABASE), ids=lambda s: s.id)
def test_localnet(lab: ConformanceLab, scenario: Scenario) -> None:
    lab.run(scenario)
