"""The reference connectivity model: what NetworkPolicy semantics say should pass.

Written straight from the specification (FACTS §3), independently of the enforcer's
compile, so the lab can check OVN's verdicts against it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mnp.model import Direction, NadKey, Network, Peer, Pod, Policy, Port, Protocol, Rule, Snapshot
from mnp.selectors import matches


@dataclass(frozen=True)
class Endpoint:
    """One address on a network: a pod attachment, or an address outside the cluster."""

    ip: str  # a bare address, no prefix length
    pod: Pod | None = None
    nad: NadKey | None = None

    @property
    def is_external(self) -> bool:
        return self.pod is None

    @property
    def family(self) -> int:
        return ipaddress.ip_address(self.ip).version

    @property
    def label(self) -> str:
        return f"{self.pod.namespace}/{self.pod.name}" if self.pod else self.ip


@dataclass(frozen=True)
class ProbePort:
    protocol: Protocol
    port: int

    def __str__(self) -> str:
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True)
class Probe:
    src: Endpoint
    dst: Endpoint
    port: ProbePort


@dataclass(frozen=True)
class Matrix:
    """Verdicts for every probe, in a stable order."""

    network: str
    cells: tuple[tuple[Probe, bool], ...]

    def as_dict(self) -> dict[Probe, bool]:
        return dict(self.cells)


def _network_name(network: Network | str) -> str:
    return network if isinstance(network, str) else network.name


def network_nads(snapshot: Snapshot, network: Network | str) -> frozenset[NadKey]:
    """Every NAD of the network: NADs that share a network name share the network."""
    name = _network_name(network)
    return frozenset(n.nad for n in snapshot.networks if n.name == name)


def applies_to(policy: Policy, nads: frozenset[NadKey]) -> bool:
    """OVN-Kubernetes applies a policy to a network when policy-for names any of its NADs."""
    return any(k in nads for k in policy.policy_for)


def on_network(pod: Pod, nads: frozenset[NadKey]) -> bool:
    return any(k in nads for k, _ in pod.attachments)


def endpoints(snapshot: Snapshot, network: Network | str) -> list[Endpoint]:
    """Every pod address on the network, pods in namespace/name order."""
    nads = network_nads(snapshot, network)
    out: list[Endpoint] = []
    for pod in sorted(snapshot.pods, key=lambda p: (p.namespace, p.name)):
        for key, att in pod.attachments:
            if key in nads:
                out += [Endpoint(str(ipaddress.ip_interface(ip).ip), pod, key) for ip in att.ips]
    return out


def _namespace_labels(snapshot: Snapshot, name: str) -> dict[str, str]:
    for ns in snapshot.namespaces:
        if ns.name == name:
            return dict(ns.labels)
    return {"kubernetes.io/metadata.name": name}


def _selects(policy: Policy, pod: Pod, nads: frozenset[NadKey]) -> bool:
    return (
        pod.namespace == policy.namespace
        and on_network(pod, nads)
        and matches(policy.pod_selector, pod.labels_dict())
    )


def _in_ip_block(peer: Peer, ip: str) -> bool:
    assert peer.ip_block is not None
    addr = ipaddress.ip_address(ip)
    cidr = ipaddress.ip_network(peer.ip_block.cidr, strict=False)
    if addr.version != cidr.version or addr not in cidr:
        return False
    for ex in peer.ip_block.except_:
        net = ipaddress.ip_network(ex, strict=False)
        if net.version == addr.version and addr in net:
            return False
    return True


def _peer_matches(snapshot: Snapshot, policy: Policy, peer: Peer, other: Endpoint) -> bool:
    if peer.ip_block is not None:
        return _in_ip_block(peer, other.ip)  # ipBlock matches pod addresses too
    if other.pod is None:
        return False  # selectors only ever name pods
    pod = other.pod
    if peer.namespace_selector is None:
        # A bare podSelector peer means the policy's own namespace.
        if pod.namespace != policy.namespace:
            return False
    elif not matches(peer.namespace_selector, _namespace_labels(snapshot, pod.namespace)):
        return False
    return peer.pod_selector is None or matches(peer.pod_selector, pod.labels_dict())


def _port_matches(port: Port, protocol: Protocol, number: int, dst: Endpoint) -> bool:
    if port.protocol != protocol:
        return False
    if port.port is None:
        return True
    if isinstance(port.port, str):
        # Named ports resolve on the destination pod, with the protocol matching.
        if dst.pod is None:
            return False
        return any(
            cp.name == port.port and cp.protocol == protocol and cp.port == number
            for cp in dst.pod.ports
        )
    if port.end_port is not None:
        return port.port <= number <= port.end_port
    return port.port == number


def _rule_allows(
    snapshot: Snapshot,
    policy: Policy,
    rule: Rule,
    other: Endpoint,
    dst: Endpoint,
    protocol: Protocol,
    port: int,
) -> bool:
    if rule.ports and not any(_port_matches(p, protocol, port, dst) for p in rule.ports):
        return False
    return not rule.peers or any(_peer_matches(snapshot, policy, p, other) for p in rule.peers)


def _direction_allows(
    snapshot: Snapshot,
    nads: frozenset[NadKey],
    direction: Direction,
    subject: Endpoint,
    other: Endpoint,
    dst: Endpoint,
    protocol: Protocol,
    port: int,
) -> bool:
    """Does ``subject``'s ``direction`` let the traffic with ``other`` through?"""
    if subject.pod is None:
        return True  # external endpoints are never isolated
    isolating = [
        p
        for p in snapshot.policies
        if direction in p.policy_types and applies_to(p, nads) and _selects(p, subject.pod, nads)
    ]
    if not isolating:
        return True
    for policy in isolating:
        rules = policy.ingress if direction == "Ingress" else policy.egress
        if any(_rule_allows(snapshot, policy, r, other, dst, protocol, port) for r in rules):
            return True
    return False


def is_allowed(
    snapshot: Snapshot,
    network: Network | str,
    src: Endpoint,
    dst: Endpoint,
    protocol: Protocol,
    port: int,
) -> bool:
    """Would a new connection from ``src`` to ``dst`` on ``port``/``protocol`` be allowed?

    It needs the source's egress and the destination's ingress to allow it.
    """
    nads = network_nads(snapshot, network)
    return _direction_allows(
        snapshot, nads, "Egress", src, dst, dst, protocol, port
    ) and _direction_allows(snapshot, nads, "Ingress", dst, src, dst, protocol, port)


def probes(
    snapshot: Snapshot,
    network: Network | str,
    ports: Sequence[ProbePort],
    externals: Iterable[str] = (),
) -> list[Probe]:
    """For every port: every ordered pair of distinct pods on the network (same address
    family), every pod towards each external address, then each external address towards
    every pod. External to external is outside the cluster and never probed."""
    eps = endpoints(snapshot, network)
    ext = [Endpoint(ip) for ip in externals]
    out: list[Probe] = []
    for port in ports:
        for src in eps:
            for dst in eps:
                if src.pod != dst.pod and src.family == dst.family:
                    out.append(Probe(src, dst, port))
            out += [Probe(src, e, port) for e in ext if e.family == src.family]
        for e in ext:
            out += [Probe(e, dst, port) for dst in eps if dst.family == e.family]
    return out


def expected_matrix(
    snapshot: Snapshot,
    network: Network | str,
    ports: Sequence[ProbePort],
    externals: Iterable[str] = (),
) -> Matrix:
    cells = tuple(
        (p, is_allowed(snapshot, network, p.src, p.dst, p.port.protocol, p.port.port))
        for p in probes(snapshot, network, ports, externals)
    )
    return Matrix(_network_name(network), cells)


def policy_ports(snapshot: Snapshot, network: Network | str) -> list[ProbePort]:
    """The numeric ports the network's policies name (range ends included), else 80/TCP.

    Named ports are resolved through the container ports that carry those names.
    """
    nads = network_nads(snapshot, network)
    found: set[ProbePort] = set()
    for policy in snapshot.policies:
        if not applies_to(policy, nads):
            continue
        for rule in (*policy.ingress, *policy.egress):
            for p in rule.ports:
                if isinstance(p.port, int):
                    found.add(ProbePort(p.protocol, p.port))
                    if p.end_port is not None:
                        found.add(ProbePort(p.protocol, p.end_port))
                elif isinstance(p.port, str):
                    found |= {
                        ProbePort(cp.protocol, cp.port)
                        for pod in snapshot.pods
                        for cp in pod.ports
                        if cp.name == p.port and cp.protocol == p.protocol
                    }
    if not found:
        return [ProbePort("TCP", 80)]
    return sorted(found, key=lambda p: (p.port, p.protocol))
