"""Every scenario of upstream's NetworkPolicy e2e suite, as MultiNetworkPolicies.

Source: kubernetes/kubernetes ``test/e2e/network/netpol/network_policy.go`` (the TCP,
UDP and SCTP contexts). Each scenario keeps upstream's policies and probes; the
EXPECTED tables are written out by hand from upstream's ``reachability.Expect*`` calls,
for the full model (namespaces x, y, z; pods a, b, c in each; rows = from, columns =
to; ``.`` allowed, ``X`` blocked). Upstream now creates only a few pods per test; here
all nine always exist, so a table also shows what happens to the bystanders, which
follows from the same policies (upstream's older 9-pod version expected the same).

Policies are written as YAML specs, as in a manifest. The data is
topology-independent: the harness adds each policy's
``k8s.v1.cni.cncf.io/policy-for`` (its own namespace's NAD) and substitutes pod
addresses in ipBlocks, where upstream reads ``pod.Status.PodIP`` at run time:

- ``{host:y/b}`` -> the pod's address with a host mask (``/32`` or ``/128``)
- ``{host4:y/b}`` / ``{host6:y/b}`` -> the same, for one family of a dual-stack pod
- ``{large:x/b}`` -> upstream's ``makeLargeCIDRForIP``: the ``/4`` holding that address

Porting notes: nothing in network_policy.go is left out. Upstream ignores loopback (a
pod to itself, kubernetes/kubernetes#95879); so do the comparisons here. One probe is
added (81/SCTP in ``sctp-not-treated-as-tcp``), marked as such. Not ported: the older
``network_legacy.go``, which repeats these cases against Service ClusterIPs; secondary
networks have no Services.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .truth_table import Probe

NAMESPACES = ("x", "y", "z")
POD_NAMES = ("a", "b", "c")
PODS = tuple(f"{ns}/{pod}" for ns in NAMESPACES for pod in POD_NAMES)
# Upstream's namespaceLabelKey (and v1.LabelMetadataName).
NS_NAME_LABEL = "kubernetes.io/metadata.name"

TCP80 = Probe(80, "TCP")
TCP81 = Probe(81, "TCP")
UDP80 = Probe(80, "UDP")
UDP81 = Probe(81, "UDP")
SCTP80 = Probe(80, "SCTP")
SCTP81 = Probe(81, "SCTP")

PolicyObject = dict[str, Any]


@dataclass(frozen=True)
class Step:
    """The cluster state at one point of a scenario, and what ovn-trace must show then.

    ``policies`` is every policy that exists at this step (the enforcer reconciles to
    exactly this). ``pod_labels``/``namespace_labels`` are labels added to the base
    model's (``pod=<name>``; ``ns=<name>`` and ``kubernetes.io/metadata.name``).
    """

    expect: Mapping[Probe, str]
    policies: tuple[PolicyObject, ...] = ()
    pod_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    what: str = ""
    # Policy "ns/name" -> a phrase its rejection must contain; every other policy of the
    # step must be admitted (the harness fails on an unexpected rejection).
    rejected: Mapping[str, str] = field(default_factory=dict)
    # The namespaces whose NAD exists at this step (a NAD may appear late).
    nad_namespaces: tuple[str, ...] = NAMESPACES


@dataclass(frozen=True)
class Scenario:
    id: str
    upstream: str  # the upstream It() title
    steps: tuple[Step, ...]
    note: str = ""


def policy(namespace: str, name: str, spec: str | dict[str, Any]) -> PolicyObject:
    """A MultiNetworkPolicy object, its spec written as YAML; the harness adds policy-for."""
    if isinstance(spec, str):
        spec = yaml.safe_load(textwrap.dedent(spec))
        assert isinstance(spec, dict), f"policy {namespace}/{name}: the spec must be a mapping"
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {"namespace": namespace, "name": name},
        "spec": spec,
    }


def only(step: Step) -> tuple[Step]:
    return (step,)


# --- Policies shared by several scenarios ---------------------------------------------

DENY_INGRESS_X = policy(
    "x",
    "deny-ingress",
    """
                     podSelector: {}
                     policyTypes: [Ingress]
                     ingress: []
                     """,
)
DENY_ALL_X = policy(
    "x",
    "deny-all",
    """
                 podSelector: {}
                 policyTypes: [Ingress, Egress]
                 ingress: []
                 egress: []
                 """,
)
XA_FROM_NS_Y_TCP81 = policy(
    "x",
    "allow-client-a-via-ns-selector",
    """
                         podSelector:
                           matchLabels: {pod: a}
                         policyTypes: [Ingress]
                         ingress:
                         - from:
                           - namespaceSelector:
                               matchLabels: {kubernetes.io/metadata.name: y}
                           ports:
                           - {port: 81, protocol: TCP}
                         """,
)
XA_FROM_NS_Y_TCP80 = policy(
    "x",
    "allow-client-a-via-ns-selector-80",
    """
                         podSelector:
                           matchLabels: {pod: a}
                         policyTypes: [Ingress]
                         ingress:
                         - from:
                           - namespaceSelector:
                               matchLabels: {kubernetes.io/metadata.name: y}
                           ports:
                           - {port: 80, protocol: TCP}
                         """,
)
ALLOW_ALL_INGRESS_X = policy(
    "x",
    "allow-all",
    """
                          podSelector:
                            matchLabels: {}
                          policyTypes: [Ingress]
                          ingress:
                          - {}
                          """,
)


# Upstream's UDP and SCTP variants use the same policy (no ports) and change the probe.
XA_FROM_YA = policy(
    "x",
    "allow-ns-y-pod-a-via-namespace-pod-selector",
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
)


def xa_from_ns_y_on_port(protocol: str, port: int) -> PolicyObject:
    return policy(
        "x",
        "allow-ingress-on-port-81-ns-x",
        {
            "podSelector": {"matchLabels": {"pod": "a"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": {NS_NAME_LABEL: "y"}}}],
                    "ports": [{"port": port, "protocol": protocol}],
                }
            ],
        },
    )


def deny_ingress_x_named(name: str) -> PolicyObject:
    return policy(
        "x",
        name,
        """
               podSelector: {}
               policyTypes: [Ingress]
               ingress: []
               """,
    )


# --- Tables used by more than one scenario (still written out by hand) ----------------

ALL_ALLOWED = """
          x/a x/b x/c y/a y/b y/c z/a z/b z/c
    x/a    .   .   .   .   .   .   .   .   .
    x/b    .   .   .   .   .   .   .   .   .
    x/c    .   .   .   .   .   .   .   .   .
    y/a    .   .   .   .   .   .   .   .   .
    y/b    .   .   .   .   .   .   .   .   .
    y/c    .   .   .   .   .   .   .   .   .
    z/a    .   .   .   .   .   .   .   .   .
    z/b    .   .   .   .   .   .   .   .   .
    z/c    .   .   .   .   .   .   .   .   .
"""

# ExpectPeer(&Peer{}, &Peer{Namespace: x}, false)
INGRESS_TO_X_BLOCKED = """
          x/a x/b x/c y/a y/b y/c z/a z/b z/c
    x/a    X   X   X   .   .   .   .   .   .
    x/b    X   X   X   .   .   .   .   .   .
    x/c    X   X   X   .   .   .   .   .   .
    y/a    X   X   X   .   .   .   .   .   .
    y/b    X   X   X   .   .   .   .   .   .
    y/c    X   X   X   .   .   .   .   .   .
    z/a    X   X   X   .   .   .   .   .   .
    z/b    X   X   X   .   .   .   .   .   .
    z/c    X   X   X   .   .   .   .   .   .
"""

# ExpectPeer(&Peer{Namespace: x}, &Peer{}, false)
EGRESS_FROM_X_BLOCKED = """
          x/a x/b x/c y/a y/b y/c z/a z/b z/c
    x/a    X   X   X   X   X   X   X   X   X
    x/b    X   X   X   X   X   X   X   X   X
    x/c    X   X   X   X   X   X   X   X   X
    y/a    .   .   .   .   .   .   .   .   .
    y/b    .   .   .   .   .   .   .   .   .
    y/c    .   .   .   .   .   .   .   .   .
    z/a    .   .   .   .   .   .   .   .   .
    z/b    .   .   .   .   .   .   .   .   .
    z/c    .   .   .   .   .   .   .   .   .
"""

# Both of the above: a deny-all policy in x.
X_ISOLATED_BOTH_WAYS = """
          x/a x/b x/c y/a y/b y/c z/a z/b z/c
    x/a    X   X   X   X   X   X   X   X   X
    x/b    X   X   X   X   X   X   X   X   X
    x/c    X   X   X   X   X   X   X   X   X
    y/a    X   X   X   .   .   .   .   .   .
    y/b    X   X   X   .   .   .   .   .   .
    y/c    X   X   X   .   .   .   .   .   .
    z/a    X   X   X   .   .   .   .   .   .
    z/b    X   X   X   .   .   .   .   .   .
    z/c    X   X   X   .   .   .   .   .   .
"""

# ExpectAllIngress(x/a, false)
INGRESS_TO_XA_BLOCKED = """
          x/a x/b x/c y/a y/b y/c z/a z/b z/c
    x/a    X   .   .   .   .   .   .   .   .
    x/b    X   .   .   .   .   .   .   .   .
    x/c    X   .   .   .   .   .   .   .   .
    y/a    X   .   .   .   .   .   .   .   .
    y/b    X   .   .   .   .   .   .   .   .
    y/c    X   .   .   .   .   .   .   .   .
    z/a    X   .   .   .   .   .   .   .   .
    z/b    X   .   .   .   .   .   .   .   .
    z/c    X   .   .   .   .   .   .   .   .
"""

# ExpectAllIngress(x/a, false); Expect(x/b, x/a, true)
INGRESS_TO_XA_ONLY_FROM_XB = """
          x/a x/b x/c y/a y/b y/c z/a z/b z/c
    x/a    X   .   .   .   .   .   .   .   .
    x/b    .   .   .   .   .   .   .   .   .
    x/c    X   .   .   .   .   .   .   .   .
    y/a    X   .   .   .   .   .   .   .   .
    y/b    X   .   .   .   .   .   .   .   .
    y/c    X   .   .   .   .   .   .   .   .
    z/a    X   .   .   .   .   .   .   .   .
    z/b    X   .   .   .   .   .   .   .   .
    z/c    X   .   .   .   .   .   .   .   .
"""

# ExpectPeer(x -> x/a, false); ExpectPeer(z -> x/a, false): only namespace y reaches x/a.
INGRESS_TO_XA_ONLY_FROM_NS_Y = """
          x/a x/b x/c y/a y/b y/c z/a z/b z/c
    x/a    X   .   .   .   .   .   .   .   .
    x/b    X   .   .   .   .   .   .   .   .
    x/c    X   .   .   .   .   .   .   .   .
    y/a    .   .   .   .   .   .   .   .   .
    y/b    .   .   .   .   .   .   .   .   .
    y/c    .   .   .   .   .   .   .   .   .
    z/a    X   .   .   .   .   .   .   .   .
    z/b    X   .   .   .   .   .   .   .   .
    z/c    X   .   .   .   .   .   .   .   .
"""

# ExpectAllIngress(x/a, false); Expect(y/a, x/a, true)
INGRESS_TO_XA_ONLY_FROM_YA = """
          x/a x/b x/c y/a y/b y/c z/a z/b z/c
    x/a    X   .   .   .   .   .   .   .   .
    x/b    X   .   .   .   .   .   .   .   .
    x/c    X   .   .   .   .   .   .   .   .
    y/a    .   .   .   .   .   .   .   .   .
    y/b    X   .   .   .   .   .   .   .   .
    y/c    X   .   .   .   .   .   .   .   .
    z/a    X   .   .   .   .   .   .   .   .
    z/b    X   .   .   .   .   .   .   .   .
    z/c    X   .   .   .   .   .   .   .   .
"""

# ExpectAllEgress(x/a, false)
EGRESS_FROM_XA_BLOCKED = """
          x/a x/b x/c y/a y/b y/c z/a z/b z/c
    x/a    X   X   X   X   X   X   X   X   X
    x/b    .   .   .   .   .   .   .   .   .
    x/c    .   .   .   .   .   .   .   .   .
    y/a    .   .   .   .   .   .   .   .   .
    y/b    .   .   .   .   .   .   .   .   .
    y/c    .   .   .   .   .   .   .   .   .
    z/a    .   .   .   .   .   .   .   .   .
    z/b    .   .   .   .   .   .   .   .   .
    z/c    .   .   .   .   .   .   .   .   .
"""

# Expect(x/a, x/b, false): the ipBlock except carves x/b out of x/a's egress.
EGRESS_XA_TO_XB_BLOCKED = """
          x/a x/b x/c y/a y/b y/c z/a z/b z/c
    x/a    .   X   .   .   .   .   .   .   .
    x/b    .   .   .   .   .   .   .   .   .
    x/c    .   .   .   .   .   .   .   .   .
    y/a    .   .   .   .   .   .   .   .   .
    y/b    .   .   .   .   .   .   .   .   .
    y/c    .   .   .   .   .   .   .   .   .
    z/a    .   .   .   .   .   .   .   .   .
    z/b    .   .   .   .   .   .   .   .   .
    z/c    .   .   .   .   .   .   .   .   .
"""


# --- The scenarios, in upstream's order ---------------------------------------------

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "default-deny-ingress",
        "should support a 'default-deny-ingress' policy",
        only(Step({TCP80: INGRESS_TO_X_BLOCKED}, (DENY_INGRESS_X,))),
    ),
    Scenario(
        "default-deny-all",
        "should support a 'default-deny-all' policy",
        only(Step({TCP80: X_ISOLATED_BOTH_WAYS}, (DENY_ALL_X,))),
    ),
    Scenario(
        "ingress-from-pod-in-own-ns-by-podselector",
        "should enforce policy to allow traffic from pods within server namespace "
        "based on PodSelector",
        only(
            Step(
                {TCP80: INGRESS_TO_XA_ONLY_FROM_XB},
                (
                    policy(
                        "x",
                        "x-a-allows-x-b",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - podSelector:
                              matchLabels: {pod: b}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "ingress-allowed-for-a-target",
        "should enforce policy to allow ingress traffic for a target",
        only(
            Step(
                {
                    TCP80: """
              x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a    .   X   X   .   .   .   .   .   .
        x/b    .   X   X   .   .   .   .   .   .
        x/c    .   X   X   .   .   .   .   .   .
        y/a    .   X   X   .   .   .   .   .   .
        y/b    .   X   X   .   .   .   .   .   .
        y/c    .   X   X   .   .   .   .   .   .
        z/a    .   X   X   .   .   .   .   .   .
        z/b    .   X   X   .   .   .   .   .   .
        z/c    .   X   X   .   .   .   .   .   .
        """
                },
                (
                    deny_ingress_x_named("deny-all"),
                    policy(
                        "x",
                        "allow-all-to-a",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - podSelector: {}
                            namespaceSelector: {}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "ingress-from-all-namespaces",
        "should enforce policy to allow ingress traffic from pods in all namespaces",
        only(
            Step(
                {TCP80: ALL_ALLOWED},
                (
                    policy(
                        "x",
                        "allow-from-another-ns",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - namespaceSelector:
                              matchLabels: {}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "ingress-only-from-other-ns-by-nsselector",
        "should enforce policy to allow traffic only from a different namespace, "
        "based on NamespaceSelector",
        only(
            Step(
                {TCP80: INGRESS_TO_XA_ONLY_FROM_NS_Y},
                (
                    policy(
                        "x",
                        "allow-client-a-via-ns-selector",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - namespaceSelector:
                              matchLabels: {kubernetes.io/metadata.name: y}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "podselector-matchexpressions",
        "should enforce policy based on PodSelector with MatchExpressions",
        only(
            Step(
                {TCP80: INGRESS_TO_XA_ONLY_FROM_XB},
                (
                    policy(
                        "x",
                        "x-a-allows-x-b",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - podSelector:
                              matchExpressions:
                              - key: pod
                                operator: In
                                values: [b]
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "nsselector-matchexpressions",
        "should enforce policy based on NamespaceSelector with MatchExpressions",
        only(
            Step(
                {TCP80: INGRESS_TO_XA_ONLY_FROM_NS_Y},
                (
                    policy(
                        "x",
                        "allow-ns-y-match-selector",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - namespaceSelector:
                              matchExpressions:
                              - key: kubernetes.io/metadata.name
                                operator: In
                                values: [y]
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "podselector-or-nsselector",
        "should enforce policy based on PodSelector or NamespaceSelector",
        only(
            Step(
                {
                    TCP80: """
              x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a    X   .   .   .   .   .   .   .   .
        x/b    .   .   .   .   .   .   .   .   .
        x/c    X   .   .   .   .   .   .   .   .
        y/a    .   .   .   .   .   .   .   .   .
        y/b    .   .   .   .   .   .   .   .   .
        y/c    .   .   .   .   .   .   .   .   .
        z/a    .   .   .   .   .   .   .   .   .
        z/b    .   .   .   .   .   .   .   .   .
        z/c    .   .   .   .   .   .   .   .   .
        """
                },
                (
                    policy(
                        "x",
                        "allow-ns-y-match-selector",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - namespaceSelector:
                              matchExpressions:
                              - key: kubernetes.io/metadata.name
                                operator: NotIn
                                values: [x]
                          - podSelector:
                              matchLabels: {pod: b}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "podselector-and-nsselector",
        "should enforce policy based on PodSelector and NamespaceSelector",
        only(
            Step(
                {
                    TCP80: """
              x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a    X   .   .   .   .   .   .   .   .
        x/b    X   .   .   .   .   .   .   .   .
        x/c    X   .   .   .   .   .   .   .   .
        y/a    X   .   .   .   .   .   .   .   .
        y/b    .   .   .   .   .   .   .   .   .
        y/c    X   .   .   .   .   .   .   .   .
        z/a    X   .   .   .   .   .   .   .   .
        z/b    .   .   .   .   .   .   .   .   .
        z/c    X   .   .   .   .   .   .   .   .
        """
                },
                (
                    policy(
                        "x",
                        "allow-ns-y-podselector-and-nsselector",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - namespaceSelector:
                              matchExpressions:
                              - key: kubernetes.io/metadata.name
                                operator: NotIn
                                values: [x]
                            podSelector:
                              matchLabels: {pod: b}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "multiple-podselectors-and-nsselectors",
        "should enforce policy based on Multiple PodSelectors and NamespaceSelectors",
        only(
            Step(
                {
                    TCP80: """
              x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a    X   .   .   .   .   .   .   .   .
        x/b    X   .   .   .   .   .   .   .   .
        x/c    X   .   .   .   .   .   .   .   .
        y/a    X   .   .   .   .   .   .   .   .
        y/b    .   .   .   .   .   .   .   .   .
        y/c    .   .   .   .   .   .   .   .   .
        z/a    X   .   .   .   .   .   .   .   .
        z/b    .   .   .   .   .   .   .   .   .
        z/c    .   .   .   .   .   .   .   .   .
        """
                },
                (
                    policy(
                        "x",
                        "allow-ns-y-z-pod-b-c",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - namespaceSelector:
                              matchExpressions:
                              - key: kubernetes.io/metadata.name
                                operator: NotIn
                                values: [x]
                            podSelector:
                              matchExpressions:
                              - key: pod
                                operator: In
                                values: [b, c]
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "any-podselectors",
        "should enforce policy based on any PodSelectors",
        only(
            Step(
                {
                    TCP80: """
              x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a    X   .   .   .   .   .   .   .   .
        x/b    .   .   .   .   .   .   .   .   .
        x/c    .   .   .   .   .   .   .   .   .
        y/a    X   .   .   .   .   .   .   .   .
        y/b    X   .   .   .   .   .   .   .   .
        y/c    X   .   .   .   .   .   .   .   .
        z/a    X   .   .   .   .   .   .   .   .
        z/b    X   .   .   .   .   .   .   .   .
        z/c    X   .   .   .   .   .   .   .   .
        """
                },
                (
                    policy(
                        "x",
                        "allow-ns-x-pod-b-c",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - podSelector:
                              matchLabels: {pod: b}
                          - podSelector:
                              matchLabels: {pod: c}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "ingress-from-pod-in-other-ns-by-pod-and-ns-selector",
        "should enforce policy to allow traffic only from a pod in a different namespace "
        "based on PodSelector and NamespaceSelector",
        only(
            Step(
                {TCP80: INGRESS_TO_XA_ONLY_FROM_YA},
                (
                    policy(
                        "x",
                        "allow-ns-y-pod-a-via-namespace-pod-selector",
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
            )
        ),
    ),
    Scenario(
        "ports",
        "should enforce policy based on Ports",
        only(Step({TCP81: INGRESS_TO_XA_ONLY_FROM_NS_Y}, (XA_FROM_NS_Y_TCP81,))),
    ),
    Scenario(
        "stacked-policies-overlapping-podselectors",
        "should enforce multiple, stacked policies with overlapping podSelectors",
        (
            Step(
                {TCP81: INGRESS_TO_XA_ONLY_FROM_NS_Y, TCP80: INGRESS_TO_XA_BLOCKED},
                (XA_FROM_NS_Y_TCP81,),
                what="only port 81 is allowed, from namespace y",
            ),
            Step(
                {TCP80: INGRESS_TO_XA_ONLY_FROM_NS_Y},
                (XA_FROM_NS_Y_TCP81, XA_FROM_NS_Y_TCP80),
                what="a second policy unblocks port 80",
            ),
        ),
    ),
    Scenario(
        "allow-all",
        "should support allow-all policy",
        only(Step({TCP80: ALL_ALLOWED, TCP81: ALL_ALLOWED}, (ALLOW_ALL_INGRESS_X,))),
    ),
    Scenario(
        "ingress-on-named-port",
        "should allow ingress access on one named port",
        only(
            Step(
                {TCP81: ALL_ALLOWED, TCP80: INGRESS_TO_X_BLOCKED},
                (
                    policy(
                        "x",
                        "allow-all",
                        """
                        podSelector:
                          matchLabels: {}
                        policyTypes: [Ingress]
                        ingress:
                        - ports:
                          - {port: serve-81-tcp}  # no protocol: defaulted to TCP
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "ingress-from-ns-on-named-port",
        "should allow ingress access from namespace on one named port",
        only(
            Step(
                {TCP80: INGRESS_TO_XA_ONLY_FROM_NS_Y, TCP81: INGRESS_TO_XA_BLOCKED},
                (
                    policy(
                        "x",
                        "allow-client-a-via-ns-selector-80",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - namespaceSelector:
                              matchLabels: {kubernetes.io/metadata.name: y}
                          ports:
                          - {port: serve-80-tcp, protocol: TCP}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "egress-on-named-port",
        "should allow egress access on one named port",
        only(
            Step(
                {TCP80: ALL_ALLOWED, TCP81: EGRESS_FROM_X_BLOCKED},
                (
                    policy(
                        "x",
                        "allow-egress",
                        """
                        podSelector:
                          matchLabels: {}
                        policyTypes: [Egress]
                        egress:
                        - ports:
                          - {port: serve-80-tcp}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "updated-policy",
        "should enforce updated policy",
        (
            Step(
                {TCP81: ALL_ALLOWED},
                (
                    policy(
                        "x",
                        "allow-all-mutate-to-deny-all",
                        """
                        podSelector:
                          matchLabels: {}
                        policyTypes: [Ingress]
                        ingress:
                        - {}
                        """,
                    ),
                ),
                what="allow all",
            ),
            Step(
                {TCP81: INGRESS_TO_X_BLOCKED},
                (
                    policy(
                        "x",
                        "allow-all-mutate-to-deny-all",
                        """
                        podSelector:
                          matchLabels: {}
                        policyTypes: [Ingress]
                        ingress: []
                        """,
                    ),
                ),
                what="the same policy updated to deny all",
            ),
        ),
    ),
    Scenario(
        "ingress-from-updated-namespace",
        "should allow ingress access from updated namespace",
        (
            Step(
                {TCP80: INGRESS_TO_XA_BLOCKED},
                (
                    policy(
                        "x",
                        "allow-client-a-via-ns-selector",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - namespaceSelector:
                              matchLabels: {ns2: updated}
                        """,
                    ),
                ),
                what="no namespace has ns2=updated yet",
            ),
            Step(
                {TCP80: INGRESS_TO_XA_ONLY_FROM_NS_Y},
                (
                    policy(
                        "x",
                        "allow-client-a-via-ns-selector",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - namespaceSelector:
                              matchLabels: {ns2: updated}
                        """,
                    ),
                ),
                namespace_labels={"y": {"ns2": "updated"}},
                what="namespace y labelled ns2=updated",
            ),
        ),
    ),
    Scenario(
        "ingress-from-updated-pod",
        "should allow ingress access from updated pod",
        (
            Step(
                {TCP80: INGRESS_TO_XA_BLOCKED},
                (
                    policy(
                        "x",
                        "allow-client-a-via-pod-selector",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - podSelector:
                              matchLabels: {pod: b, pod2: updated}
                        """,
                    ),
                ),
                what="no pod has pod2=updated yet",
            ),
            Step(
                {TCP80: INGRESS_TO_XA_ONLY_FROM_XB},
                (
                    policy(
                        "x",
                        "allow-client-a-via-pod-selector",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - podSelector:
                              matchLabels: {pod: b, pod2: updated}
                        """,
                    ),
                ),
                pod_labels={"x/b": {"pod2": "updated"}},
                what="x/b labelled pod2=updated",
            ),
        ),
    ),
    Scenario(
        "deny-ingress-from-other-namespaces",
        "should deny ingress from pods on other namespaces",
        only(
            Step(
                {
                    TCP80: """
              x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a    .   .   .   .   .   .   .   .   .
        x/b    .   .   .   .   .   .   .   .   .
        x/c    .   .   .   .   .   .   .   .   .
        y/a    X   X   X   .   .   .   .   .   .
        y/b    X   X   X   .   .   .   .   .   .
        y/c    X   X   X   .   .   .   .   .   .
        z/a    X   X   X   .   .   .   .   .   .
        z/b    X   X   X   .   .   .   .   .   .
        z/c    X   X   X   .   .   .   .   .   .
        """
                },
                (
                    policy(
                        "x",
                        "deny-empty-policy",
                        """
                        podSelector: {}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - podSelector:
                              matchLabels: {}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "deny-ingress-to-updated-pod",
        "should deny ingress access to updated pod",
        (
            Step(
                {TCP80: ALL_ALLOWED},
                (
                    policy(
                        "x",
                        "deny-ingress-via-label-selector",
                        """
                        podSelector:
                          matchLabels: {target: isolated}
                        policyTypes: [Ingress]
                        ingress: []
                        """,
                    ),
                ),
                what="no pod has target=isolated yet",
            ),
            Step(
                {TCP80: INGRESS_TO_XA_BLOCKED},
                (
                    policy(
                        "x",
                        "deny-ingress-via-label-selector",
                        """
                        podSelector:
                          matchLabels: {target: isolated}
                        policyTypes: [Ingress]
                        ingress: []
                        """,
                    ),
                ),
                pod_labels={"x/a": {"target": "isolated"}},
                what="x/a labelled target=isolated",
            ),
        ),
    ),
    Scenario(
        "deny-egress-by-podselector",
        "should deny egress from pods based on PodSelector",
        only(
            Step(
                {TCP80: EGRESS_FROM_XA_BLOCKED},
                (
                    policy(
                        "x",
                        "deny-egress-pod-a",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Egress]
                        egress: []
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "deny-egress-whole-namespace",
        "should deny egress from all pods in a namespace",
        only(
            Step(
                {TCP80: EGRESS_FROM_X_BLOCKED},
                (
                    policy(
                        "x",
                        "deny-egress-ns-x",
                        """
                        podSelector: {}
                        policyTypes: [Egress]
                        egress: []
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "ingress-and-egress-together",
        "should work with Ingress, Egress specified together",
        only(
            Step(
                {
                    TCP80: INGRESS_TO_XA_ONLY_FROM_XB,
                    # ExpectAllIngress(x/a); ExpectAllEgress(x/a); Expect(x/b, x/a, true)
                    TCP81: """
                  x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a    X   X   X   X   X   X   X   X   X
            x/b    .   .   .   .   .   .   .   .   .
            x/c    X   .   .   .   .   .   .   .   .
            y/a    X   .   .   .   .   .   .   .   .
            y/b    X   .   .   .   .   .   .   .   .
            y/c    X   .   .   .   .   .   .   .   .
            z/a    X   .   .   .   .   .   .   .   .
            z/b    X   .   .   .   .   .   .   .   .
            z/c    X   .   .   .   .   .   .   .   .
            """,
                },
                (
                    policy(
                        "x",
                        "allow-client-a-via-pod-selector",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Egress, Ingress]
                        ingress:
                        - from:
                          - podSelector:
                              matchLabels: {pod: b}
                        egress:
                        - ports:
                          - {port: 80}  # no protocol: defaulted to TCP
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "egress-denied-on-client-side",
        "should support denying of egress traffic on the client side "
        "(even if the server explicitly allows this traffic)",
        only(
            Step(
                {
                    TCP80: """
              x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a    X   X   X   .   X   X   X   X   X
        x/b    .   .   .   X   X   .   .   .   .
        x/c    .   .   .   X   X   .   .   .   .
        y/a    .   .   .   X   X   .   .   .   .
        y/b    .   .   .   X   X   .   .   .   .
        y/c    .   .   .   X   X   .   .   .   .
        z/a    .   .   .   X   X   .   .   .   .
        z/b    .   .   .   X   X   .   .   .   .
        z/c    .   .   .   X   X   .   .   .   .
        """
                },
                (
                    policy(
                        "x",
                        "allow-to-ns-y-pod-a",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Egress]
                        egress:
                        - to:
                          - namespaceSelector:
                              matchLabels: {kubernetes.io/metadata.name: y}
                            podSelector:
                              matchLabels: {pod: a}
                        """,
                    ),
                    policy(
                        "y",
                        "allow-from-xa-on-ya-match-selector",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - namespaceSelector:
                              matchLabels: {kubernetes.io/metadata.name: x}
                            podSelector:
                              matchLabels: {pod: a}
                        """,
                    ),
                    policy(
                        "y",
                        "allow-from-xa-on-yb-match-selector",
                        """
                        podSelector:
                          matchLabels: {pod: b}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - namespaceSelector:
                              matchLabels: {kubernetes.io/metadata.name: x}
                            podSelector:
                              matchLabels: {pod: a}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "egress-to-pod-in-other-ns",
        "should enforce egress policy allowing traffic to a server in a different namespace "
        "based on PodSelector and NamespaceSelector",
        only(
            Step(
                {
                    TCP80: """
              x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a    X   X   X   .   X   X   X   X   X
        x/b    .   .   .   .   .   .   .   .   .
        x/c    .   .   .   .   .   .   .   .   .
        y/a    .   .   .   .   .   .   .   .   .
        y/b    .   .   .   .   .   .   .   .   .
        y/c    .   .   .   .   .   .   .   .   .
        z/a    .   .   .   .   .   .   .   .   .
        z/b    .   .   .   .   .   .   .   .   .
        z/c    .   .   .   .   .   .   .   .   .
        """
                },
                (
                    policy(
                        "x",
                        "allow-to-ns-y-pod-a",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Egress]
                        egress:
                        - to:
                          - namespaceSelector:
                              matchLabels: {kubernetes.io/metadata.name: y}
                            podSelector:
                              matchLabels: {pod: a}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "ingress-any-port-of-one-protocol",
        "should enforce ingress policy allowing any port traffic to a server on a specific "
        "protocol",
        only(
            Step(
                {TCP80: ALL_ALLOWED, UDP80: INGRESS_TO_XA_BLOCKED},
                (
                    policy(
                        "x",
                        "allow-ingress-by-proto",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - ports:
                          - {protocol: TCP}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "ingress-allow-all-takes-precedence",
        "should enforce multiple ingress policies with ingress allow-all policy taking precedence",
        (
            Step(
                {TCP81: INGRESS_TO_X_BLOCKED},
                (
                    policy(
                        "x",
                        "allow-ingress-port-80",
                        """
                        podSelector:
                          matchLabels: {}
                        policyTypes: [Ingress]
                        ingress:
                        - ports:
                          - {port: 80}
                        """,
                    ),
                ),
                what="only port 80 is allowed",
            ),
            Step(
                {TCP81: ALL_ALLOWED},
                (
                    policy(
                        "x",
                        "allow-ingress-port-80",
                        """
                        podSelector:
                          matchLabels: {}
                        policyTypes: [Ingress]
                        ingress:
                        - ports:
                          - {port: 80}
                        """,
                    ),
                    policy(
                        "x",
                        "allow-ingress",
                        """
                        podSelector:
                          matchLabels: {}
                        policyTypes: [Ingress]
                        ingress:
                        - {}
                        """,
                    ),
                ),
                what="an allow-all ingress policy is added",
            ),
        ),
    ),
    Scenario(
        "egress-allow-all-takes-precedence",
        "should enforce multiple egress policies with egress allow-all policy taking precedence",
        (
            Step(
                {TCP81: EGRESS_FROM_X_BLOCKED},
                (
                    policy(
                        "x",
                        "allow-egress-port-80",
                        """
                        podSelector:
                          matchLabels: {}
                        policyTypes: [Egress]
                        egress:
                        - ports:
                          - {port: 80}
                        """,
                    ),
                ),
                what="only port 80 is allowed out",
            ),
            Step(
                {TCP81: ALL_ALLOWED},
                (
                    policy(
                        "x",
                        "allow-egress-port-80",
                        """
                        podSelector:
                          matchLabels: {}
                        policyTypes: [Egress]
                        egress:
                        - ports:
                          - {port: 80}
                        """,
                    ),
                    policy(
                        "x",
                        "allow-egress",
                        """
                        podSelector:
                          matchLabels: {}
                        policyTypes: [Egress]
                        egress:
                        - {}
                        """,
                    ),
                ),
                what="an allow-all egress policy is added",
            ),
        ),
    ),
    Scenario(
        "stop-enforcing-after-delete",
        "should stop enforcing policies after they are deleted",
        (
            Step({TCP80: X_ISOLATED_BOTH_WAYS}, (DENY_ALL_X,), what="deny-all in x"),
            Step({TCP80: ALL_ALLOWED}, (), what="the policy is deleted"),
        ),
    ),
    Scenario(
        "egress-to-cidr",
        "should allow egress access to server in CIDR block",
        only(
            Step(
                {
                    TCP80: """
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
                },
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
                          - ipBlock: {cidr: '{host:y/b}'}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "egress-to-cidr-except",
        "should enforce except clause while egress access to server in CIDR block",
        only(
            Step(
                {TCP80: EGRESS_XA_TO_XB_BLOCKED},
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
                          - ipBlock:
                              cidr: '{large:x/b}'
                              except: ['{host:x/b}']
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "egress-to-ip-in-both-cidr-and-except",
        "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed",
        (
            Step(
                {TCP80: EGRESS_XA_TO_XB_BLOCKED},
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
                          - ipBlock:
                              cidr: '{large:x/b}'
                              except: ['{host:x/b}']
                        """,
                    ),
                ),
                what="a large CIDR except x/b",
            ),
            # Upstream *updates* the same policy (same name) to allow only x/b.
            Step(
                {
                    TCP80: """
                  x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a    X   .   X   X   X   X   X   X   X
            x/b    .   .   .   .   .   .   .   .   .
            x/c    .   .   .   .   .   .   .   .   .
            y/a    .   .   .   .   .   .   .   .   .
            y/b    .   .   .   .   .   .   .   .   .
            y/c    .   .   .   .   .   .   .   .   .
            z/a    .   .   .   .   .   .   .   .   .
            z/b    .   .   .   .   .   .   .   .   .
            z/c    .   .   .   .   .   .   .   .   .
            """
                },
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
                          - ipBlock: {cidr: '{host:x/b}'}
                        """,
                    ),
                ),
                what="the policy updated to allow exactly x/b",
            ),
        ),
    ),
    Scenario(
        "ingress-and-egress-controlled-independently",
        "should enforce policies to check ingress and egress policies can be controlled "
        "independently based on PodSelector",
        (
            Step(
                {TCP80: ALL_ALLOWED},
                (
                    policy(
                        "x",
                        "allow-egress-for-target",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Egress]
                        egress:
                        - {}
                        """,
                    ),
                ),
                what="allow all egress from x/a",
            ),
            Step(
                {TCP80: INGRESS_TO_XA_BLOCKED},
                (
                    policy(
                        "x",
                        "allow-egress-for-target",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Egress]
                        egress:
                        - {}
                        """,
                    ),
                    policy(
                        "x",
                        "deny-ingress-via-label-selector",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress: []
                        """,
                    ),
                ),
                what="deny all ingress to x/a added",
            ),
        ),
    ),
    Scenario(
        "sctp-not-treated-as-tcp",
        "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', "
        "even if the plugin doesn't support SCTP",
        only(
            Step(
                {
                    TCP81: INGRESS_TO_X_BLOCKED,
                    # Extra probe, not in upstream: the SCTP rule itself opens 81/SCTP to x/a only.
                    SCTP81: """
                  x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a    .   X   X   .   .   .   .   .   .
            x/b    .   X   X   .   .   .   .   .   .
            x/c    .   X   X   .   .   .   .   .   .
            y/a    .   X   X   .   .   .   .   .   .
            y/b    .   X   X   .   .   .   .   .   .
            y/c    .   X   X   .   .   .   .   .   .
            z/a    .   X   X   .   .   .   .   .   .
            z/b    .   X   X   .   .   .   .   .   .
            z/c    .   X   X   .   .   .   .   .   .
            """,
                },
                (
                    DENY_INGRESS_X,
                    policy(
                        "x",
                        "allow-only-sctp-ingress-on-port-81",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - ports:
                          - {port: 81, protocol: SCTP}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "sctp-policy-isolates",
        "should properly isolate pods that are selected by a policy allowing SCTP, "
        "even if the plugin doesn't support SCTP",
        only(
            Step(
                {TCP81: INGRESS_TO_XA_BLOCKED},
                (
                    policy(
                        "x",
                        "allow-only-sctp-ingress-on-port-80",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - ports:
                          - {port: 80, protocol: SCTP}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "udp-policy-does-not-open-tcp",
        "should not allow access by TCP when a policy specifies only UDP",
        only(
            Step(
                {TCP81: INGRESS_TO_XA_BLOCKED},
                (
                    policy(
                        "x",
                        "allow-only-udp-ingress-on-port-81",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - ports:
                          - {port: 81, protocol: UDP}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "default-ns-label-matchlabels",
        "should enforce policy to allow traffic based on NamespaceSelector with MatchLabels "
        "using default ns label",
        only(
            Step(
                {TCP80: INGRESS_TO_XA_ONLY_FROM_NS_Y},
                (
                    policy(
                        "x",
                        "allow-client-a-via-ns-selector-for-immutable-ns-label",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Ingress]
                        ingress:
                        - from:
                          - namespaceSelector:
                              matchLabels: {kubernetes.io/metadata.name: y}
                        """,
                    ),
                ),
            )
        ),
    ),
    Scenario(
        "default-ns-label-matchexpressions-egress",
        "should enforce policy based on NamespaceSelector with MatchExpressions "
        "using default ns label",
        only(
            Step(
                {
                    TCP80: """
              x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a    .   .   .   X   X   X   .   .   .
        x/b    .   .   .   .   .   .   .   .   .
        x/c    .   .   .   .   .   .   .   .   .
        y/a    .   .   .   .   .   .   .   .   .
        y/b    .   .   .   .   .   .   .   .   .
        y/c    .   .   .   .   .   .   .   .   .
        z/a    .   .   .   .   .   .   .   .   .
        z/b    .   .   .   .   .   .   .   .   .
        z/c    .   .   .   .   .   .   .   .   .
        """
                },
                (
                    policy(
                        "x",
                        "allow-ns-y-match-selector-for-immutable-ns-label",
                        """
                        podSelector:
                          matchLabels: {pod: a}
                        policyTypes: [Egress]
                        egress:
                        - to:
                          - namespaceSelector:
                              matchExpressions:
                              - key: kubernetes.io/metadata.name
                                operator: NotIn
                                values: [y]
                        """,
                    ),
                ),
            )
        ),
    ),
    # --- "NetworkPolicy between server and client using UDP" -------------------------
    Scenario(
        "udp-default-deny-ingress",
        "UDP: should support a 'default-deny-ingress' policy",
        only(Step({UDP80: INGRESS_TO_X_BLOCKED}, (deny_ingress_x_named("deny-all"),))),
    ),
    Scenario(
        "udp-ports",
        "UDP: should enforce policy based on Ports",
        only(Step({UDP81: INGRESS_TO_XA_ONLY_FROM_NS_Y}, (xa_from_ns_y_on_port("UDP", 81),))),
    ),
    Scenario(
        "udp-pod-and-ns-selector",
        "UDP: should enforce policy to allow traffic only from a pod in a different namespace "
        "based on PodSelector and NamespaceSelector",
        only(Step({UDP80: INGRESS_TO_XA_ONLY_FROM_YA}, (XA_FROM_YA,))),
    ),
    # --- "NetworkPolicy between server and client using SCTP" ------------------------
    # Upstream gates these on the SCTPConnectivity feature; OVN ACLs match SCTP natively.
    Scenario(
        "sctp-default-deny-ingress",
        "SCTP: should support a 'default-deny-ingress' policy",
        only(Step({SCTP80: INGRESS_TO_X_BLOCKED}, (deny_ingress_x_named("deny-all"),))),
    ),
    Scenario(
        "sctp-ports",
        "SCTP: should enforce policy based on Ports",
        only(Step({SCTP81: INGRESS_TO_XA_ONLY_FROM_NS_Y}, (xa_from_ns_y_on_port("SCTP", 81),))),
    ),
    Scenario(
        "sctp-pod-and-ns-selector",
        "SCTP: should enforce policy to allow traffic only from a pod in a different namespace "
        "based on PodSelector and NamespaceSelector",
        only(Step({SCTP80: INGRESS_TO_XA_ONLY_FROM_YA}, (XA_FROM_YA,))),
    ),
)

BY_ID: dict[str, Scenario] = {s.id: s for s in SCENARIOS}
assert len(BY_ID) == len(SCENARIOS), "scenario ids must be unique"
