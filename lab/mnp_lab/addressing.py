"""Deterministic pod addresses on secondary networks, standing in for OVN-Kubernetes' IPAM.

The lab and the enforcer's files source both call ``fill_pod_networks`` on the same
manifests, so both see the same ``k8s.ovn.org/pod-networks`` annotations.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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
    """The ``node_index``-th host subnet of ``cluster`` (nodes sorted by name)."""
    size = 1 << (cluster.max_prefixlen - host_prefix)
    if node_index >= 1 << (host_prefix - cluster.prefixlen):
        return None
    start = int(cluster.network_address) + node_index * size
    return ipaddress.ip_network((start, host_prefix))


def _candidates(subnet: IPNetwork, excluded: tuple[IPNetwork, ...]) -> Iterator[IPAddress]:
    """Host addresses in order, jumping over excluded blocks (which may be huge in IPv6)."""
    first, last = int(subnet.network_address), int(subnet.broadcast_address)
    if subnet.num_addresses > 2:
        first += 1  # the network address (and the IPv4 broadcast, below) is never a host
        if subnet.version == 4:
            last -= 1
    n = first
    while n <= last:
        ip = ipaddress.ip_address(n)
        block = next((ex for ex in excluded if ex.version == ip.version and ip in ex), None)
        if block is not None:
            n = int(block.broadcast_address) + 1
            continue
        yield ip
        n += 1


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
    plans: dict[NadKey, _NetworkPlan] = {}
    for obj in objects:
        if obj.get("kind") != "NetworkAttachmentDefinition":
            continue
        network, _errors, _warnings = parse_nad(obj)
        if network is not None and network.cni_type == OVN_CNI_TYPE:
            plans[network.nad] = _plan(network, _host_prefixes(obj))

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
                if any(k in plans and plans[k].network.topology == "layer3" for k in pod.networks):
                    nodes.add(pod_node(pod))
    node_index = {n: i for i, n in enumerate(sorted(nodes))}

    # Addresses and MACs already taken, per network name (NADs may share a network).
    used_ips: dict[str, set[IPAddress]] = {}
    used_macs: dict[str, set[str]] = {}
    net_of = {k: p.network.name for k, p in plans.items()}
    for _, pod in pods:
        for key, att in pod.attachments:
            if key in net_of:
                used_ips.setdefault(net_of[key], set()).update(
                    ipaddress.ip_interface(ip).ip for ip in att.ips
                )
                used_macs.setdefault(net_of[key], set()).add(att.mac)

    result = list(objects)
    for i, pod in sorted(pods, key=lambda item: (item[1].namespace, item[1].name)):
        missing = [k for k in dict.fromkeys(pod.networks) if k in plans and not pod.attachment(k)]
        if not missing:
            continue
        annotations = objects[i].get("metadata", {}).get("annotations") or {}
        try:
            current = json.loads(annotations.get(POD_NETWORKS_ANNOTATION) or "{}")
        except ValueError:
            continue  # parse_pod reports the broken annotation; do not overwrite it
        if not isinstance(current, dict):
            continue
        for key in missing:
            plan = plans[key]
            ips = used_ips.setdefault(plan.network.name, set())
            macs = used_macs.setdefault(plan.network.name, set())
            current[str(key)] = _allocate(plan, pod, node_index, ips, macs)
        obj = copy.deepcopy(objects[i])
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta.get("annotations"), dict):
            meta["annotations"] = {}
        meta["annotations"][POD_NETWORKS_ANNOTATION] = json.dumps(current, sort_keys=True)
        result[i] = obj
    return result


def _allocate(
    plan: _NetworkPlan,
    pod: Pod,
    node_index: Mapping[str, int],
    used_ips: set[IPAddress],
    used_macs: set[str],
) -> dict[str, Any]:
    addresses: list[str] = []
    gateways: list[str] = []
    chosen: list[IPAddress] = []
    for cluster, host_prefix in plan.subnets:
        subnet: IPNetwork | None = cluster
        reserved: set[IPAddress] = set()
        if plan.network.topology == "layer3":
            subnet = layer3_node_subnet(cluster, host_prefix, node_index[pod_node(pod)])
            if subnet is None:
                continue  # more nodes than host subnets: the pod gets no address here
            gateway = subnet.network_address + 1
            reserved.add(gateway)
            gateways.append(str(gateway))
        assert subnet is not None
        for ip in _candidates(subnet, plan.excluded):
            if ip in used_ips or ip in reserved:
                continue
            used_ips.add(ip)
            chosen.append(ip)
            addresses.append(f"{ip}/{subnet.prefixlen}")
            break
    mac = mac_for(chosen, f"{plan.network.nad}/{pod.namespace}/{pod.name}", used_macs)
    used_macs.add(mac)
    entry: dict[str, Any] = {"ip_addresses": addresses, "mac_address": mac, "role": "secondary"}
    if gateways:
        entry["gateway_ips"] = gateways
    return entry
