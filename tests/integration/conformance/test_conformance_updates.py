"""Changes over time on one layer2 network: the enforcer must follow each, incrementally.

Every step reconciles the NB left by the step before (never a fresh database), then
ovn-trace checks the whole matrix against a hand-written table.
"""

from __future__ import annotations

import pytest

from .cluster import NetworkSpec
from .harness import ConformanceLab
from .scenarios_layer2 import (
    ALL_ALLOWED,
    INGRESS_TO_X_BLOCKED,
    INGRESS_TO_XA_BLOCKED,
    INGRESS_TO_XA_ONLY_FROM_NS_Y,
    NS_NAME_LABEL,
    TCP80,
    TCP81,
    Scenario,
    Step,
    policy,
)

NETWORK = NetworkSpec(
    topology="layer2", network_name="l2upd", nad_name="l2upd", subnets="10.220.0.0/16"
)

# x/a accepts clients (role=client) from blue namespaces (team=blue): both must match.
BLUE_CLIENTS_TO_XA = policy(
    "x",
    "blue-clients",
    """
                         podSelector:
                           matchLabels: {pod: a}
                         policyTypes: [Ingress]
                         ingress:
                         - from:
                           - namespaceSelector:
                               matchLabels: {team: blue}
                             podSelector:
                               matchLabels: {role: client}
                         """,
)

ONLY_YB_TO_XA = """
      x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a    X   .   .   .   .   .   .   .   .
x/b    X   .   .   .   .   .   .   .   .
x/c    X   .   .   .   .   .   .   .   .
y/a    X   .   .   .   .   .   .   .   .
y/b    .   .   .   .   .   .   .   .   .
y/c    X   .   .   .   .   .   .   .   .
z/a    X   .   .   .   .   .   .   .   .
z/b    X   .   .   .   .   .   .   .   .
z/c    X   .   .   .   .   .   .   .   .
"""

ONLY_ZC_TO_XA = """
      x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a    X   .   .   .   .   .   .   .   .
x/b    X   .   .   .   .   .   .   .   .
x/c    X   .   .   .   .   .   .   .   .
y/a    X   .   .   .   .   .   .   .   .
y/b    X   .   .   .   .   .   .   .   .
y/c    X   .   .   .   .   .   .   .   .
z/a    X   .   .   .   .   .   .   .   .
z/b    X   .   .   .   .   .   .   .   .
z/c    .   .   .   .   .   .   .   .   .
"""

# Only namespace y reaches x/b (the policy's target moved from x/a to x/b).
INGRESS_TO_XB_ONLY_FROM_NS_Y = """
      x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a    .   X   .   .   .   .   .   .   .
x/b    .   X   .   .   .   .   .   .   .
x/c    .   X   .   .   .   .   .   .   .
y/a    .   .   .   .   .   .   .   .   .
y/b    .   .   .   .   .   .   .   .   .
y/c    .   .   .   .   .   .   .   .   .
z/a    .   X   .   .   .   .   .   .   .
z/b    .   X   .   .   .   .   .   .   .
z/c    .   X   .   .   .   .   .   .   .
"""

X_TO_Y_EGRESS_BLOCKED_AND_X_INGRESS_BLOCKED = """
      x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a    X   X   X   X   X   X   .   .   .
x/b    X   X   X   X   X   X   .   .   .
x/c    X   X   X   X   X   X   .   .   .
y/a    X   X   X   .   .   .   .   .   .
y/b    X   X   X   .   .   .   .   .   .
y/c    X   X   X   .   .   .   .   .   .
z/a    X   X   X   .   .   .   .   .   .
z/b    X   X   X   .   .   .   .   .   .
z/c    X   X   X   .   .   .   .   .   .
"""

X_TO_Y_EGRESS_BLOCKED = """
      x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a    .   .   .   X   X   X   .   .   .
x/b    .   .   .   X   X   X   .   .   .
x/c    .   .   .   X   X   X   .   .   .
y/a    .   .   .   .   .   .   .   .   .
y/b    .   .   .   .   .   .   .   .   .
y/c    .   .   .   .   .   .   .   .   .
z/a    .   .   .   .   .   .   .   .   .
z/b    .   .   .   .   .   .   .   .   .
z/c    .   .   .   .   .   .   .   .   .
"""


def ingress_xa_from_ns_y(port: int, target: str = "a") -> dict[str, object]:
    return policy(
        "x",
        "from-y",
        {
            "podSelector": {"matchLabels": {"pod": target}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": {NS_NAME_LABEL: "y"}}}],
                    "ports": [{"protocol": "TCP", "port": port}],
                }
            ],
        },
    )


DENY_INGRESS_X = policy(
    "x",
    "deny-ingress",
    """
                     podSelector: {}
                     policyTypes: [Ingress]
                     ingress: []
                     """,
)
EGRESS_X_NOT_TO_Y = policy(
    "x",
    "egress-not-to-y",
    """
                        podSelector: {}
                        policyTypes: [Egress]
                        egress:
                        - to:
                          - namespaceSelector:
                              matchExpressions:
                              - key: kubernetes.io/metadata.name
                                operator: NotIn
                                values: [y]
                        """,
)

SCENARIOS = (
    Scenario(
        "relabel-pods-and-namespaces",
        "(mnp) pod and namespace label changes move pods in and out of peer address sets",
        (
            Step({TCP80: INGRESS_TO_XA_BLOCKED}, (BLUE_CLIENTS_TO_XA,), what="nobody matches"),
            Step(
                {TCP80: INGRESS_TO_XA_BLOCKED},
                (BLUE_CLIENTS_TO_XA,),
                namespace_labels={"y": {"team": "blue"}},
                what="y is blue; no client yet",
            ),
            Step(
                {TCP80: ONLY_YB_TO_XA},
                (BLUE_CLIENTS_TO_XA,),
                namespace_labels={"y": {"team": "blue"}},
                pod_labels={"y/b": {"role": "client"}},
                what="y/b becomes a client",
            ),
            Step(
                {TCP80: ONLY_YB_TO_XA},
                (BLUE_CLIENTS_TO_XA,),
                namespace_labels={"y": {"team": "blue"}},
                pod_labels={"y/b": {"role": "client"}, "z/c": {"role": "client"}},
                what="z/c becomes a client, but z is not blue",
            ),
            Step(
                {TCP80: ONLY_ZC_TO_XA},
                (BLUE_CLIENTS_TO_XA,),
                namespace_labels={"y": {"team": "red"}, "z": {"team": "blue"}},
                pod_labels={"y/b": {"role": "client"}, "z/c": {"role": "client"}},
                what="y turns red, z turns blue",
            ),
            Step(
                {TCP80: INGRESS_TO_XA_BLOCKED},
                (BLUE_CLIENTS_TO_XA,),
                namespace_labels={"y": {"team": "red"}, "z": {"team": "blue"}},
                pod_labels={"y/b": {"role": "client"}},
                what="z/c loses its role label",
            ),
        ),
    ),
    Scenario(
        "change-a-policy",
        "(mnp) a policy's port, then its target, then its direction change in place",
        (
            Step(
                {TCP80: INGRESS_TO_XA_ONLY_FROM_NS_Y, TCP81: INGRESS_TO_XA_BLOCKED},
                (ingress_xa_from_ns_y(80),),
                what="y may reach x/a on 80",
            ),
            Step(
                {TCP80: INGRESS_TO_XA_BLOCKED, TCP81: INGRESS_TO_XA_ONLY_FROM_NS_Y},
                (ingress_xa_from_ns_y(81),),
                what="the port changes to 81",
            ),
            Step(
                {
                    TCP81: INGRESS_TO_XB_ONLY_FROM_NS_Y,
                    TCP80: """
                      x/a x/b x/c y/a y/b y/c z/a z/b z/c
                x/a    .   X   .   .   .   .   .   .   .
                x/b    .   X   .   .   .   .   .   .   .
                x/c    .   X   .   .   .   .   .   .   .
                y/a    .   X   .   .   .   .   .   .   .
                y/b    .   X   .   .   .   .   .   .   .
                y/c    .   X   .   .   .   .   .   .   .
                z/a    .   X   .   .   .   .   .   .   .
                z/b    .   X   .   .   .   .   .   .   .
                z/c    .   X   .   .   .   .   .   .   .
                """,
                },
                (ingress_xa_from_ns_y(81, target="b"),),
                what="the target changes to x/b",
            ),
            Step(
                {TCP80: X_TO_Y_EGRESS_BLOCKED},
                (EGRESS_X_NOT_TO_Y,),
                what="replaced by an egress policy of the same namespace",
            ),
        ),
    ),
    Scenario(
        "delete-policies-one-by-one",
        "(mnp) deleting one of two policies keeps the other; deleting both opens everything",
        (
            Step(
                {TCP80: X_TO_Y_EGRESS_BLOCKED_AND_X_INGRESS_BLOCKED},
                (DENY_INGRESS_X, EGRESS_X_NOT_TO_Y),
                what="two policies",
            ),
            Step({TCP80: X_TO_Y_EGRESS_BLOCKED}, (EGRESS_X_NOT_TO_Y,), what="deny-ingress deleted"),
            Step({TCP80: ALL_ALLOWED}, (), what="both deleted"),
        ),
    ),
    Scenario(
        "nad-appears-late",
        "(mnp) a policy whose NAD does not exist is not enforced; it is once the NAD appears",
        (
            Step(
                {TCP80: ALL_ALLOWED},
                (DENY_INGRESS_X,),
                nad_namespaces=("y", "z"),
                rejected={"x/deny-ingress": "does not exist"},
                what="x/l2upd missing",
            ),
            Step({TCP80: INGRESS_TO_X_BLOCKED}, (DENY_INGRESS_X,), what="x/l2upd created"),
            Step(
                {TCP80: ALL_ALLOWED},
                (DENY_INGRESS_X,),
                nad_namespaces=("y", "z"),
                rejected={"x/deny-ingress": "does not exist"},
                what="x/l2upd deleted again",
            ),
            Step({TCP80: INGRESS_TO_X_BLOCKED}, (DENY_INGRESS_X,), what="x/l2upd back"),
        ),
    ),
)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_updates(lab: ConformanceLab, scenario: Scenario) -> None:
    lab.run(scenario)


def test_a_step_that_changes_nothing_writes_nothing(lab: ConformanceLab) -> None:
    step = Step({TCP80: INGRESS_TO_X_BLOCKED}, (DENY_INGRESS_X,))
    lab.run_step("first", step)
    again = lab.run_step("again", step)
    assert again.failures == []
    assert again.result.rows_written == 0, again.result.summary()
