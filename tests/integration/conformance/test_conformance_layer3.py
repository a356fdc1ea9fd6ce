"""A subset of the upstream scenarios on a layer3 network, pods spread over two nodes.

Pods ``b`` run on node-2, ``a`` and ``c`` on node-1, so every table mixes same-switch
paths (x/a -> y/c) with routed ones through the network's router (x/a -> y/b). The
tables are the layer2 ones: topology must not change what a policy means.
"""

from __future__ import annotations

import pytest

from .cluster import NetworkSpec
from .harness import ConformanceLab
from .scenarios_layer2 import BY_ID, NAMESPACES, Scenario

NETWORK = NetworkSpec(
    topology="layer3",
    network_name="l3net",
    nad_name="l3net",
    subnets="10.128.0.0/16/24",
    nodes={
        f"{ns}/{pod}": ("node-2" if pod == "b" else "node-1") for ns in NAMESPACES for pod in "abc"
    },
)

SUBSET = tuple(
    BY_ID[i]
    for i in (
        "default-deny-ingress",
        "default-deny-all",
        "podselector-and-nsselector",
        "ports",
        "egress-on-named-port",
        "ingress-and-egress-together",
        "egress-to-cidr",
        "egress-to-cidr-except",
    )
)


def test_pods_really_sit_on_two_node_switches(lab: ConformanceLab) -> None:
    layout = lab.layout["l3net"]
    nodes = {port.pod_name: port.node for port in layout.ports}
    assert nodes == {"a": "node-1", "b": "node-2", "c": "node-1"}
    assert len(layout.switches) == 2 and layout.router is not None


@pytest.mark.parametrize("scenario", SUBSET, ids=lambda s: s.id)
def test_layer3(lab: ConformanceLab, scenario: Scenario) -> None:
    lab.run(scenario)
