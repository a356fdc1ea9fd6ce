"""The cluster the end-to-end enforcer benchmark loads: namespaces, three NADs (layer2,
layer3, localnet), pods annotated onto their networks as OVN-Kubernetes annotates them, and
policies of mixed shapes, all as plain API objects.

It also knows, for its own policies only, which peers and pod selectors select a pod (a
small evaluator over the shapes below), so the benchmark can tell which Northbound change a
relabel or a new pod must cause without asking the enforcer's compiler.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from mnp.model import (
    NETWORKS_ANNOTATION,
    POD_NETWORKS_ANNOTATION,
    POLICY_FOR_ANNOTATION,
    NadKey,
    Topology,
)
from mnp.ovn_names import lsp_name

PODS_PER_NAMESPACE = 500
GROUPS = 25  # app groups per namespace: app=g0 .. g24
NODES = 8
TEAMS = 4  # namespaces are labelled team=t0 .. t3
NETWORKS_NAMESPACE = "bench-networks"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
NAMED_PORT = ("http", 8080)


@dataclass(frozen=True)
class BenchNetwork:
    """One NAD in NETWORKS_NAMESPACE and how the benchmark numbers its pods' addresses."""

    nad: str
    name: str
    topology: Topology
    subnets: str
    first: int  # the first pod address, as an integer
    prefix: int  # the prefix length the pod annotation carries
    ip_block: tuple[str, str]  # (cidr, except) for the ipBlock policies
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> NadKey:
        return NadKey(NETWORKS_NAMESPACE, self.nad)

    def address(self, index: int) -> tuple[str, str]:
        """The index-th pod's (ip, node) on this network; layer3 keeps each node's pods in
        that node's /20 (its .1 is the gateway)."""
        node = index % NODES
        if self.topology == "layer3":
            ip = ipaddress.IPv4Address(self.first + node * 4096 + 2 + index // NODES)
        else:
            ip = ipaddress.IPv4Address(self.first + 2 + index)
        return str(ip), f"node-{node}"


NETWORKS = (
    BenchNetwork(
        "l2",
        "bench-l2",
        "layer2",
        "10.64.0.0/16",
        int(ipaddress.IPv4Address("10.64.0.0")),
        16,
        ("10.64.0.0/16", "10.64.128.0/17"),
    ),
    BenchNetwork(
        "l3",
        "bench-l3",
        "layer3",
        "10.128.0.0/16/20",
        int(ipaddress.IPv4Address("10.128.0.0")),
        20,
        ("10.128.0.0/16", "10.128.64.0/18"),
    ),
    BenchNetwork(
        "ln",
        "bench-ln",
        "localnet",
        "192.168.0.0/16",
        int(ipaddress.IPv4Address("192.168.0.0")),
        16,
        ("192.168.0.0/16", "192.168.255.0/24"),
        (("vlanID", 100), ("excludeSubnets", "192.168.255.0/24")),
    ),
)


@dataclass
class BenchPod:
    namespace: str
    name: str
    app: str
    network: BenchNetwork
    ip: str
    node: str

    @property
    def lsp(self) -> str:
        return lsp_name(self.network.key, self.namespace, self.name)

    @property
    def mac(self) -> str:
        return "0a:58:" + ":".join(f"{int(b):02x}" for b in self.ip.split("."))

    def manifest(self) -> dict[str, Any]:
        attachment = {
            "ip_addresses": [f"{self.ip}/{self.network.prefix}"],
            "mac_address": self.mac,
            "gateway_ips": [],
            "routes": [],
            "role": "secondary",
        }
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "namespace": self.namespace,
                "name": self.name,
                "labels": {"app": self.app},
                "annotations": {
                    NETWORKS_ANNOTATION: str(self.network.key),
                    POD_NETWORKS_ANNOTATION: json.dumps({str(self.network.key): attachment}),
                },
            },
            "spec": {
                "nodeName": self.node,
                "containers": [
                    {
                        "name": "app",
                        "image": PAUSE_IMAGE,
                        "ports": [
                            {
                                "name": NAMED_PORT[0],
                                "containerPort": NAMED_PORT[1],
                                "protocol": "TCP",
                            }
                        ],
                    }
                ],
            },
        }


@dataclass(frozen=True)
class PeerSpec:
    """A selector peer: pods with an app in ``apps`` in the policy's own namespace
    (``team`` None, ``all_namespaces`` False), in namespaces of a team, or in all."""

    apps: frozenset[str]
    team: str | None = None
    all_namespaces: bool = False

    def selects(self, policy_ns: str, pod_ns: str, pod_team: str, app: str) -> bool:
        if app not in self.apps:
            return False
        if self.all_namespaces:
            return True
        if self.team is not None:
            return pod_team == self.team
        return pod_ns == policy_ns


@dataclass
class BenchPolicy:
    namespace: str
    name: str
    network: BenchNetwork
    target_app: str
    spec: dict[str, Any]
    peers: tuple[PeerSpec, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def manifest(self) -> dict[str, Any]:
        return {
            "apiVersion": "k8s.cni.cncf.io/v1beta1",
            "kind": "MultiNetworkPolicy",
            "metadata": {
                "namespace": self.namespace,
                "name": self.name,
                "annotations": {POLICY_FOR_ANNOTATION: str(self.network.key)},
            },
            "spec": self.spec,
        }


def _app(group: int) -> str:
    return f"g{group % GROUPS}"


def _pods(*apps: str) -> dict[str, Any]:
    if len(apps) == 1:
        return {"matchLabels": {"app": apps[0]}}
    return {"matchExpressions": [{"key": "app", "operator": "In", "values": list(apps)}]}


def policy_shape(
    namespace: str, ns_index: int, index: int, name: str | None = None, shape: int | None = None
) -> BenchPolicy:
    """The index-th policy of a namespace: its network, target group and one of five shapes
    (pod peers both ways; a team's namespaces AND pods with a port range; ipBlocks with an
    except both ways; a named port to pods of two groups plus a port from anywhere; pods of
    a group in every namespace over UDP)."""
    net = NETWORKS[index % len(NETWORKS)]
    tg = index % GROUPS
    shape = index % 5 if shape is None else shape
    name = name or f"pol-{index:04d}"
    spec: dict[str, Any] = {"podSelector": {"matchLabels": {"app": _app(tg)}}}
    peers: list[PeerSpec] = []
    if shape == 0:
        a, b = _app(tg + 1), _app(tg + 2)
        spec["ingress"] = [
            {
                "from": [{"podSelector": _pods(a)}],
                "ports": [{"protocol": "TCP", "port": 80 + index % 50}],
            }
        ]
        spec["egress"] = [
            {"to": [{"podSelector": _pods(b)}], "ports": [{"protocol": "UDP", "port": 53}]}
        ]
        spec["policyTypes"] = ["Ingress", "Egress"]
        peers = [PeerSpec(frozenset({a})), PeerSpec(frozenset({b}))]
    elif shape == 1:
        a, team = _app(tg + 3), f"t{(ns_index + 1) % TEAMS}"
        peer = {"namespaceSelector": {"matchLabels": {"team": team}}, "podSelector": _pods(a)}
        spec["ingress"] = [
            {"from": [peer], "ports": [{"protocol": "TCP", "port": 8080, "endPort": 8090}]}
        ]
        spec["policyTypes"] = ["Ingress"]
        peers = [PeerSpec(frozenset({a}), team=team)]
    elif shape == 2:
        cidr, exception = net.ip_block
        spec["ingress"] = [{"from": [{"ipBlock": {"cidr": cidr, "except": [exception]}}]}]
        spec["egress"] = [
            {
                "to": [{"ipBlock": {"cidr": "172.16.0.0/12"}}],
                "ports": [{"protocol": "TCP", "port": 443}],
            }
        ]
        spec["policyTypes"] = ["Ingress", "Egress"]
    elif shape == 3:
        a, b = _app(tg + 4), _app(tg + 5)
        spec["ingress"] = [{"ports": [{"protocol": "TCP", "port": 9090}]}]
        spec["egress"] = [
            {
                "to": [{"podSelector": _pods(a, b)}],
                "ports": [{"protocol": "TCP", "port": NAMED_PORT[0]}],
            }
        ]
        spec["policyTypes"] = ["Ingress", "Egress"]
        peers = [PeerSpec(frozenset({a, b}))]
    else:
        a = _app(tg + 6)
        peer = {"namespaceSelector": {}, "podSelector": _pods(a)}
        spec["ingress"] = [{"from": [peer], "ports": [{"protocol": "UDP", "port": 5000}]}]
        spec["policyTypes"] = ["Ingress"]
        peers = [PeerSpec(frozenset({a}), all_namespaces=True)]
    return BenchPolicy(namespace, name, net, _app(tg), spec, tuple(peers))


def namespace_name(index: int) -> str:
    return f"t{index:03d}"


def team_of(namespace: str) -> str:
    return f"t{int(namespace[1:]) % TEAMS}"


@dataclass
class Workload:
    """Everything one scale loads, plus spare pods (addresses and names reserved, created
    later by the pod-add phase)."""

    namespaces: list[str]
    pods: list[BenchPod]
    policies: list[BenchPolicy]
    spare_pods: list[BenchPod]

    def namespace_manifests(self) -> list[dict[str, Any]]:
        objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NETWORKS_NAMESPACE}}]
        for ns in self.namespaces:
            objs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"team": team_of(ns)}},
                }
            )
        return objs

    # -- what selects a pod (for this workload's own shapes only) -----------------------------

    def peers_selecting(self, pod: BenchPod, app: str) -> set[tuple[str, int]]:
        """(policy, peer index) of every selector peer that selects ``pod`` with ``app``."""
        team = team_of(pod.namespace)
        return {
            (p.key, i)
            for p in self.policies
            if p.network is pod.network
            for i, peer in enumerate(p.peers)
            if peer.selects(p.namespace, pod.namespace, team, app)
        }

    def policies_targeting(self, pod: BenchPod, app: str) -> set[str]:
        return {
            p.key
            for p in self.policies
            if p.network is pod.network and p.namespace == pod.namespace and p.target_app == app
        }


def nad_manifests() -> list[dict[str, Any]]:
    out = []
    for net in NETWORKS:
        config: dict[str, Any] = {
            "cniVersion": "0.4.0",
            "name": net.name,
            "type": "ovn-k8s-cni-overlay",
            "topology": net.topology,
            "netAttachDefName": f"{NETWORKS_NAMESPACE}/{net.nad}",
            "subnets": net.subnets,
            **dict(net.extra),
        }
        out.append(
            {
                "apiVersion": "k8s.cni.cncf.io/v1",
                "kind": "NetworkAttachmentDefinition",
                "metadata": {"namespace": NETWORKS_NAMESPACE, "name": net.nad},
                "spec": {"config": json.dumps(config)},
            }
        )
    return out


def _pod(global_index: int, namespace: str, name: str, group: int) -> BenchPod:
    net = NETWORKS[global_index % len(NETWORKS)]
    ip, node = net.address(global_index // len(NETWORKS))
    return BenchPod(namespace, name, _app(group), net, ip, node)


def build_workload(n_pods: int, n_policies: int, n_spare: int = 0) -> Workload:
    """``n_pods`` pods, PODS_PER_NAMESPACE per namespace (group = index % GROUPS, network =
    global index % 3), and ``n_policies`` policies dealt out over the namespaces in turn."""
    n_ns = max(1, -(-n_pods // PODS_PER_NAMESPACE))
    namespaces = [namespace_name(a) for a in range(n_ns)]
    pods = [
        _pod(g, namespaces[g // PODS_PER_NAMESPACE], f"p-{g:05d}", g % PODS_PER_NAMESPACE)
        for g in range(n_pods)
    ]
    policies = []
    per_ns = [0] * n_ns
    for q in range(n_policies):
        a = q % n_ns
        policies.append(policy_shape(namespaces[a], a, per_ns[a]))
        per_ns[a] += 1
    spare = [_pod(n_pods + s, namespaces[s % n_ns], f"new-{s:04d}", s * 7) for s in range(n_spare)]
    return Workload(namespaces, pods, policies, spare)
