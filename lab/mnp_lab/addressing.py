"""Deterministic pod addresses on secondary networks: the lab's stand-in for OVN-Kubernetes' IPAM.

Only the sandbox assigns addresses: the lab's commands, its pod controller and the test
harnesses call ``fill_pod_networks`` (a batch) or ``LabIpam`` (one pod at a time). The
product's files source reads the ``k8s.ovn.org/pod-networks`` annotations as written.

Work is proportional to the change: each subnet keeps a cursor (every address below it is
taken, except those released back into a min-heap), so one pod's allocation looks at a
constant number of addresses however many pods the network holds, and the result is still
"the lowest free address", as a scan from the start would find.
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mnp.model import OVN_CNI_TYPE, POD_NETWORKS_ANNOTATION, NadKey, Network, Pod
from mnp.nad import parse_nad
from mnp.pods import parse_pod

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Layer3 pods need a node switch; a pod without spec.nodeName is placed on this one.
DEFAULT_NODE = "node"
# OVN-Kubernetes' default per-node host subnet lengths when a layer3 subnet gives none.
DEFAULT_HOST_PREFIX = {4: 24, 6: 64}


def pod_node(pod: Pod) -> str:
    return pod.node or DEFAULT_NODE


@dataclass(frozen=True)
class _NetworkPlan:
    network: Network
    subnets: tuple[tuple[IPNetwork, int], ...]  # cluster subnet, host prefix (layer3 only)
    excluded: tuple[IPNetwork, ...]


def _host_prefixes(nad_obj: Mapping[str, Any]) -> dict[str, int]:
    """The ``/24`` of layer3 entries like ``10.128.0.0/16/24``, keyed by the cluster CIDR."""
    spec = nad_obj.get("spec")
    config = spec.get("config") if isinstance(spec, Mapping) else None
    try:
        parsed = json.loads(config) if isinstance(config, str) else {}
    except ValueError:
        return {}
    subnets = parsed.get("subnets") if isinstance(parsed, Mapping) else None
    out: dict[str, int] = {}
    if isinstance(subnets, str):
        for entry in subnets.split(","):
            parts = entry.strip().split("/")
            if len(parts) == 3 and parts[2].isdigit():
                try:
                    out[str(ipaddress.ip_network(f"{parts[0]}/{parts[1]}", strict=False))] = int(
                        parts[2]
                    )
                except ValueError:
                    continue
    return out


def _plan(network: Network, host_prefixes: Mapping[str, int]) -> _NetworkPlan:
    subnets: list[tuple[IPNetwork, int]] = []
    for cidr in network.subnets:
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        host = host_prefixes.get(str(net), max(DEFAULT_HOST_PREFIX[net.version], net.prefixlen))
        subnets.append((net, max(host, net.prefixlen)))
    excluded: list[IPNetwork] = []
    for cidr in network.exclude_subnets:
        try:
            excluded.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    return _NetworkPlan(network, tuple(subnets), tuple(excluded))


def layer3_node_subnet(cluster: IPNetwork, host_prefix: int, node_index: int) -> IPNetwork | None:
    """The ``node_index``-th host subnet of ``cluster`` (nodes numbered as first seen)."""
    size = 1 << (cluster.max_prefixlen - host_prefix)
    if node_index >= 1 << (host_prefix - cluster.prefixlen):
        return None
    start = int(cluster.network_address) + node_index * size
    return ipaddress.ip_network((start, host_prefix))


@dataclass
class _SubnetPool:
    """Free host addresses of one subnet: a cursor over never-used ones, a heap of released
    ones (all below the cursor), and the blocks never to hand out."""

    subnet: IPNetwork
    excluded: tuple[IPNetwork, ...]
    reserved: frozenset[IPAddress]  # the layer3 gateway
    cursor: int = 0
    last: int = 0
    released: list[int] = field(default_factory=list)

    @classmethod
    def of(
        cls, subnet: IPNetwork, excluded: tuple[IPNetwork, ...], reserved: frozenset[IPAddress]
    ) -> _SubnetPool:
        first, last = int(subnet.network_address), int(subnet.broadcast_address)
        if subnet.num_addresses > 2:
            first += 1  # the network address (and the IPv4 broadcast, below) is never a host
            if subnet.version == 4:
                last -= 1
        return cls(subnet, excluded, reserved, first, last)

    def _excluded_block(self, ip: IPAddress) -> IPNetwork | None:
        return next((ex for ex in self.excluded if ex.version == ip.version and ip in ex), None)

    def take(self, used: set[IPAddress], examined: list[int]) -> IPAddress | None:
        """The lowest free address (added to ``used``), or None when the subnet is full;
        ``examined[0]`` counts the candidates looked at."""
        while self.released:
            examined[0] += 1
            ip = ipaddress.ip_address(heapq.heappop(self.released))
            if ip not in used:
                used.add(ip)
                return ip
        while self.cursor <= self.last:
            examined[0] += 1
            ip = ipaddress.ip_address(self.cursor)
            block = self._excluded_block(ip)
            if block is not None:  # jump over it (IPv6 exclusions may be huge)
                self.cursor = int(block.broadcast_address) + 1
                continue
            self.cursor += 1
            if ip not in used and ip not in self.reserved:
                used.add(ip)
                return ip
        return None

    def give_back(self, ip: IPAddress) -> None:
        below_cursor = ip in self.subnet and int(ip) < self.cursor
        if below_cursor and ip not in self.reserved and self._excluded_block(ip) is None:
            heapq.heappush(self.released, int(ip))


@dataclass
class _NetworkPool:
    """What one network (possibly several NADs) has handed out."""

    ips: set[IPAddress] = field(default_factory=set)
    macs: set[str] = field(default_factory=set)
    subnets: dict[IPNetwork, _SubnetPool] = field(default_factory=dict)


def mac_for(ips: list[IPAddress], seed: str, used: set[str]) -> str:
    v4 = [ip for ip in ips if ip.version == 4]
    if v4:
        mac = "0a:58:" + ":".join(f"{b:02x}" for b in v4[0].packed)
        if mac not in used:
            return mac
    counter = 0
    while True:
        digest = hashlib.sha256(f"{seed}#{counter}".encode()).digest()
        mac = "0a:58:" + ":".join(f"{b:02x}" for b in digest[:4])
        if mac not in used:
            return mac
        counter += 1


class LabIpam:
    """Addresses for pods attached to OVN NADs, one pod at a time, and their release.

    ``reserve`` records what a pod already has; ``assign`` fills in what it lacks; ``release``
    gives a gone pod's addresses back. Each costs work for that pod only. Layer3 nodes get
    host subnets in the order ``add_nodes`` first sees them (sorted within one call), so a
    node keeps its subnet when others join.
    """

    def __init__(
        self, nad_objects: Iterable[Mapping[str, Any]], node_index: Mapping[str, int] = {}
    ):
        self.plans: dict[NadKey, _NetworkPlan] = {}
        for obj in nad_objects:
            network, _errors, _warnings = parse_nad(obj)
            if network is not None and network.cni_type == OVN_CNI_TYPE:
                self.plans[network.nad] = _plan(network, _host_prefixes(obj))
        self.node_index: dict[str, int] = dict(node_index)
        self._pools: dict[str, _NetworkPool] = {}
        self.addresses_examined = 0  # candidates looked at by every allocation so far
        self.pods_addressed = 0  # pods that got at least one new entry

    @classmethod
    def for_objects(
        cls, objects: Iterable[Mapping[str, Any]], node_index: Mapping[str, int] = {}
    ) -> LabIpam:
        return cls(
            (o for o in objects if o.get("kind") == "NetworkAttachmentDefinition"), node_index
        )

    def add_nodes(self, names: Iterable[str]) -> None:
        for name in sorted(set(names) - set(self.node_index)):
            self.node_index[name] = len(self.node_index)

    def layer3_node(self, pod: Pod) -> str | None:
        """The node whose host subnet the pod's layer3 attachments use, if it has any."""
        layer3 = any(
            k in self.plans and self.plans[k].network.topology == "layer3" for k in pod.networks
        )
        return pod_node(pod) if layer3 else None

    def _pool(self, plan: _NetworkPlan) -> _NetworkPool:
        return self._pools.setdefault(plan.network.name, _NetworkPool())

    def reserve(self, pod: Pod) -> None:
        for key, att in pod.attachments:
            plan = self.plans.get(key)
            if plan is not None:
                pool = self._pool(plan)
                pool.ips.update(ipaddress.ip_interface(ip).ip for ip in att.ips)
                pool.macs.add(att.mac)

    def release(self, pod: Pod) -> None:
        for key, att in pod.attachments:
            plan = self.plans.get(key)
            if plan is None:
                continue
            pool = self._pool(plan)
            pool.macs.discard(att.mac)
            for cidr in att.ips:
                ip = ipaddress.ip_interface(cidr).ip
                pool.ips.discard(ip)
                for subnet_pool in pool.subnets.values():
                    subnet_pool.give_back(ip)

    def assign(self, obj: dict[str, Any], pod: Pod) -> dict[str, Any]:
        """``obj`` with a pod-networks entry for every OVN NAD it attaches to and lacks (a
        copy; ``obj`` itself when nothing is missing or its annotation is unreadable)."""
        missing = [
            k for k in dict.fromkeys(pod.networks) if k in self.plans and not pod.attachment(k)
        ]
        if not missing:
            return obj
        annotations = obj.get("metadata", {}).get("annotations") or {}
        try:
            current = json.loads(annotations.get(POD_NETWORKS_ANNOTATION) or "{}")
        except ValueError:
            return obj  # parse_pod reports the broken annotation; do not overwrite it
        if not isinstance(current, dict):
            return obj
        for key in missing:
            current[str(key)] = self._allocate(self.plans[key], pod)
        self.pods_addressed += 1
        out = copy.deepcopy(obj)
        meta = out.setdefault("metadata", {})
        if not isinstance(meta.get("annotations"), dict):
            meta["annotations"] = {}
        meta["annotations"][POD_NETWORKS_ANNOTATION] = json.dumps(current, sort_keys=True)
        return out

    def _subnet_pool(
        self, plan: _NetworkPlan, cluster: IPNetwork, host_prefix: int, pod: Pod
    ) -> _SubnetPool | None:
        subnet = cluster
        reserved: frozenset[IPAddress] = frozenset()
        if plan.network.topology == "layer3":
            self.add_nodes([pod_node(pod)])
            node_subnet = layer3_node_subnet(cluster, host_prefix, self.node_index[pod_node(pod)])
            if node_subnet is None:
                return None  # more nodes than host subnets: the pod gets no address here
            subnet = node_subnet
            reserved = frozenset([subnet.network_address + 1])
        pools = self._pool(plan).subnets
        if subnet not in pools:
            pools[subnet] = _SubnetPool.of(subnet, plan.excluded, reserved)
        return pools[subnet]

    def _allocate(self, plan: _NetworkPlan, pod: Pod) -> dict[str, Any]:
        pool = self._pool(plan)
        addresses: list[str] = []
        gateways: list[str] = []
        chosen: list[IPAddress] = []
        examined = [0]
        for cluster, host_prefix in plan.subnets:
            subnet_pool = self._subnet_pool(plan, cluster, host_prefix, pod)
            if subnet_pool is None:
                continue
            if plan.network.topology == "layer3":
                gateways.extend(str(g) for g in sorted(subnet_pool.reserved))
            ip = subnet_pool.take(pool.ips, examined)
            if ip is not None:
                chosen.append(ip)
                addresses.append(f"{ip}/{subnet_pool.subnet.prefixlen}")
        self.addresses_examined += examined[0]
        mac = mac_for(chosen, f"{plan.network.nad}/{pod.namespace}/{pod.name}", pool.macs)
        pool.macs.add(mac)
        entry: dict[str, Any] = {"ip_addresses": addresses, "mac_address": mac, "role": "secondary"}
        if gateways:
            entry["gateway_ips"] = gateways
        return entry

    def fill(self, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``assign`` for every pod of ``objects``, after reserving what any of them has;
        pods in namespace/name order, layer3 nodes (Node objects and pods' nodes) sorted."""
        pods: list[tuple[int, Pod]] = []
        nodes: set[str] = set()
        for i, obj in enumerate(objects):
            if obj.get("kind") == "Node":
                name = obj.get("metadata", {}).get("name")
                if isinstance(name, str) and name:
                    nodes.add(name)
            elif obj.get("kind") == "Pod":
                pod, _problems = parse_pod(obj)
                if pod is not None:
                    pods.append((i, pod))
                    node = self.layer3_node(pod)
                    if node is not None:
                        nodes.add(node)
        self.add_nodes(nodes)
        for _, pod in pods:
            self.reserve(pod)
        result = list(objects)
        for i, pod in sorted(pods, key=lambda item: (item[1].namespace, item[1].name)):
            result[i] = self.assign(objects[i], pod)
        return result


def fill_pod_networks(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return copies of ``objects`` where every pod attached to an OVN NAD has its address.

    A pod gets a ``k8s.ovn.org/pod-networks`` entry for each NAD in its
    ``k8s.v1.cni.cncf.io/networks`` annotation that lacks one: the next free address of
    every subnet (skipping excludeSubnets and addresses already annotated on any pod of
    that network), and a MAC like OVN-Kubernetes' (``0a:58:`` + the IPv4 bytes; hashed
    when there is no IPv4). Layer3 addresses come from the node's host subnet (nodes
    sorted by name), whose ``.1`` is the gateway. Pods are handled in namespace/name
    order, so the result does not depend on the input order. Inputs are not modified.
    """
    return LabIpam.for_objects(objects).fill(objects)
