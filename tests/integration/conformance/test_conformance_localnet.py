"""A subset of the upstream scenarios on a localnet network, plus egress to the outside.

A localnet switch has a localnet port towards the physical network; ovn-trace delivers
to it for addresses outside the cluster. The tracer probes one representative address
per ipBlock of the policies (the first address in the block, outside its excepts), as a
destination and as a source (entering through the localnet port), so the external
columns and rows below are those addresses, written out by hand.
"""

from __future__ import annotations

import pytest

from .cluster import NetworkSpec
from .harness import ConformanceLab
from .scenarios_layer2 import BY_ID, Scenario, Step, policy
from .truth_table import Probe

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
            # The same addresses send too, from outside through the localnet port: no pod
            # is isolated for ingress, so they reach every pod (external to external is
            # not probed).
            {
                TCP5432: """
                          x/a x/b x/c y/a y/b y/c z/a z/b z/c 203.0.113.1 203.0.113.128
            x/a            X   X   X   X   X   X   X   X   X       X            .
            x/b            .   .   .   .   .   .   .   .   .       .            .
            x/c            .   .   .   .   .   .   .   .   .       .            .
            y/a            X   X   X   X   X   X   X   X   X       .            X
            y/b            .   .   .   .   .   .   .   .   .       .            .
            y/c            .   .   .   .   .   .   .   .   .       .            .
            z/a            .   .   .   .   .   .   .   .   .       .            .
            z/b            .   .   .   .   .   .   .   .   .       .            .
            z/c            .   .   .   .   .   .   .   .   .       .            .
            203.0.113.1    .   .   .   .   .   .   .   .   .       .            .
            203.0.113.128  .   .   .   .   .   .   .   .   .       .            .
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
            x/a            X   X   X   X   X   X   X   X   X       X            X
            x/b            .   .   .   .   .   .   .   .   .       .            .
            x/c            .   .   .   .   .   .   .   .   .       .            .
            y/a            X   X   X   X   X   X   X   X   X       X            X
            y/b            .   .   .   .   .   .   .   .   .       .            .
            y/c            .   .   .   .   .   .   .   .   .       .            .
            z/a            .   .   .   .   .   .   .   .   .       .            .
            z/b            .   .   .   .   .   .   .   .   .       .            .
            z/c            .   .   .   .   .   .   .   .   .       .            .
            203.0.113.1    .   .   .   .   .   .   .   .   .       .            .
            203.0.113.128  .   .   .   .   .   .   .   .   .       .            .
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

CLIENTS_TO_DATABASE = Scenario(
    "ingress-from-external-client-cidr",
    "(mnp) only external clients in 192.0.2.0/24 (except its /28) may reach x/a on 5432",
    (
        Step(
            # Rows and columns 192.0.2.16 and 192.0.2.1: the representative addresses of
            # x/a's block (past the /28 except) and of y/b's block (inside that except).
            # x/a accepts only 192.0.2.16 on 5432; y/b accepts only 192.0.2.1 on 22. No
            # pod is isolated for egress, so every pod reaches both addresses.
            {
                TCP5432: """
                       x/a x/b x/c y/a y/b y/c z/a z/b z/c 192.0.2.1 192.0.2.16
            x/a        X   .   .   .   X   .   .   .   .      .         .
            x/b        X   .   .   .   X   .   .   .   .      .         .
            x/c        X   .   .   .   X   .   .   .   .      .         .
            y/a        X   .   .   .   X   .   .   .   .      .         .
            y/b        X   .   .   .   X   .   .   .   .      .         .
            y/c        X   .   .   .   X   .   .   .   .      .         .
            z/a        X   .   .   .   X   .   .   .   .      .         .
            z/b        X   .   .   .   X   .   .   .   .      .         .
            z/c        X   .   .   .   X   .   .   .   .      .         .
            192.0.2.1  X   .   .   .   X   .   .   .   .      .         .
            192.0.2.16 .   .   .   .   X   .   .   .   .      .         .
            """,
                Probe(22, "TCP"): """
                       x/a x/b x/c y/a y/b y/c z/a z/b z/c 192.0.2.1 192.0.2.16
            x/a        X   .   .   .   X   .   .   .   .      .         .
            x/b        X   .   .   .   X   .   .   .   .      .         .
            x/c        X   .   .   .   X   .   .   .   .      .         .
            y/a        X   .   .   .   X   .   .   .   .      .         .
            y/b        X   .   .   .   X   .   .   .   .      .         .
            y/c        X   .   .   .   X   .   .   .   .      .         .
            z/a        X   .   .   .   X   .   .   .   .      .         .
            z/b        X   .   .   .   X   .   .   .   .      .         .
            z/c        X   .   .   .   X   .   .   .   .      .         .
            192.0.2.1  X   .   .   .   .   .   .   .   .      .         .
            192.0.2.16 X   .   .   .   X   .   .   .   .      .         .
            """,
            },
            (
                policy(
                    "x",
                    "database-from-clients",
                    """
                    podSelector:
                      matchLabels: {pod: a}
                    policyTypes: [Ingress]
                    ingress:
                    - from:
                      - ipBlock:
                          cidr: 192.0.2.0/24
                          except: [192.0.2.0/28]
                      ports:
                      - {protocol: TCP, port: 5432}
                    """,
                ),
                policy(
                    "y",
                    "ssh-from-admins",
                    """
                    podSelector:
                      matchLabels: {pod: b}
                    policyTypes: [Ingress]
                    ingress:
                    - from:
                      - ipBlock: {cidr: 192.0.2.0/28}
                      ports:
                      - {protocol: TCP, port: 22}
                    """,
                ),
            ),
        ),
    ),
)


def test_localnet_switch_has_its_localnet_port(lab: ConformanceLab) -> None:
    layout = lab.layout["physnet"]
    assert layout.localnet_port is not None
    assert len(layout.ports) == 9


@pytest.mark.parametrize(
    "scenario", (*SUBSET, EXTERNAL_DATABASE, CLIENTS_TO_DATABASE), ids=lambda s: s.id
)
def test_localnet(lab: ConformanceLab, scenario: Scenario) -> None:
    lab.run(scenario)
