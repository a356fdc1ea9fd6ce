"""Pure compile: a cluster Snapshot -> the OVN Northbound rows that enforce its policies.

No I/O, deterministic (same snapshot, same rows in the same order). Shapes follow
OVN-Kubernetes (FACTS §3, §4). Every row is built from its typed id (``enforcer.row_ids``),
which gives its ``mnp_<hash>`` name (never colliding with OVN-K's) and its readable
identity in ``external_ids``.
"""

from __future__ import annotations

import functools
import ipaddress
import weakref
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from enforcer import acl_match as m
from enforcer.desired import AclRow, AddressSetRow, DesiredState, PolicyStatus, PortGroupRow
from enforcer.row_ids import (
    AddressSetId,
    DenyAclId,
    DenyPortGroupId,
    NamedPortAddressSetId,
    NamedPortGroupId,
    PeerAddressSetId,
    PolicyPortGroupId,
    PolicyScope,
    PortGroupId,
    RuleAclId,
    Way,
)
from mnp import field_errors as fe
from mnp.model import (
    OVN_CNI_TYPE,
    POLICY_FOR_ANNOTATION,
    Direction,
    LabelSelector,
    NadKey,
    Network,
    Peer,
    Pod,
    Policy,
    Port,
    Rule,
    Snapshot,
)
from mnp.ovn_names import lsp_name
from mnp.selectors import matches

ALLOW_PRIORITY = 1001
DENY_PRIORITY = 1000
APPLY_AFTER_LB = (("apply-after-lb", "true"),)

_ACL_DIRECTION: dict[Direction, str] = {"Ingress": "to-lport", "Egress": "from-lport"}
_SHORT: dict[Direction, Way] = {"Ingress": "ingress", "Egress": "egress"}


@dataclass(frozen=True, slots=True)
class PodOnNetwork:
    """A pod's presence on one network: its switch ports and its IPs there."""

    pod: Pod
    lsps: tuple[str, ...]
    ips: tuple[str, ...]  # addresses without prefix length, normalised
    labels: Mapping[str, str]  # shared by every pod with the same labels: never mutate


class PodIndex(Protocol):
    """What a policy compile reads of one network's pods (the full compile's memoised
    ``NetworkPods``, or the incremental compiler's live index)."""

    @property
    def all(self) -> Sequence[PodOnNetwork]: ...

    def in_namespace(self, ns: str, selector: LabelSelector | None) -> list[PodOnNetwork]: ...

    def namespaces(self, selector: LabelSelector) -> list[str]: ...


class NetworkPods:
    """The pods of one network, indexed by namespace, with memoised selector results
    (many policies share selectors; matching each against every pod dominates compile)."""

    def __init__(self, pods: Sequence[PodOnNetwork], ns_labels: dict[str, dict[str, str]]):
        self._all = list(pods)
        self.ns_labels = ns_labels
        self.by_ns: dict[str, list[PodOnNetwork]] = defaultdict(list)
        for p in self._all:
            self.by_ns[p.pod.namespace].append(p)
        self._in_ns: dict[tuple[str, LabelSelector | None], list[PodOnNetwork]] = {}
        self._namespaces: dict[LabelSelector, list[str]] = {}
        self._by_label: dict[str, dict[tuple[str, str], list[PodOnNetwork]]] = {}

    @property
    def all(self) -> Sequence[PodOnNetwork]:
        return self._all

    def in_namespace(self, ns: str, selector: LabelSelector | None) -> list[PodOnNetwork]:
        key = (ns, selector)
        hit = self._in_ns.get(key)
        if hit is None:
            if selector is None:
                hit = self.by_ns.get(ns, [])
            else:
                hit = [p for p in self._candidates(ns, selector) if matches(selector, p.labels)]
            self._in_ns[key] = hit
        return hit

    def _candidates(self, ns: str, selector: LabelSelector) -> list[PodOnNetwork]:
        """Pods that can match: with matchLabels, those carrying its rarest pair (an index
        per namespace instead of testing every pod against every selector)."""
        pods = self.by_ns.get(ns, [])
        if not selector.match_labels:
            return pods
        index = self._by_label.get(ns)
        if index is None:
            index = defaultdict(list)
            for p in pods:
                for pair in p.labels.items():
                    index[pair].append(p)
            self._by_label[ns] = index
        return min((index.get(pair, []) for pair in selector.match_labels), key=len)

    def namespaces(self, selector: LabelSelector) -> list[str]:
        hit = self._namespaces.get(selector)
        if hit is None:
            hit = [ns for ns in sorted(self.by_ns) if matches(selector, self.ns_labels.get(ns, {}))]
            self._namespaces[selector] = hit
        return hit


@dataclass
class Rows:
    """Rows by key, per table: what one policy on one network (or one deny group) compiles to."""

    port_groups: dict[str, PortGroupRow] = field(default_factory=dict)
    address_sets: dict[str, AddressSetRow] = field(default_factory=dict)
    acls: dict[str, AclRow] = field(default_factory=dict)

    def update(self, other: Rows) -> None:
        self.port_groups.update(other.port_groups)
        self.address_sets.update(other.address_sets)
        self.acls.update(other.acls)

    def __len__(self) -> int:
        return len(self.port_groups) + len(self.address_sets) + len(self.acls)


def _strip_prefix(cidr: str) -> str | None:
    """The normalised address of an interface CIDR (``10.0.0.5/24`` -> ``10.0.0.5``)."""
    address, _, length = cidr.partition("/")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if length and not (length.isdigit() and int(length) <= ip.max_prefixlen):
        return None
    return str(ip)


def _family(ip: str) -> int:
    """Family of a normalised address (cheaper than parsing it again)."""
    return 6 if ":" in ip else 4


@functools.lru_cache(maxsize=1024)
def network_families(network: Network) -> tuple[int, ...]:
    """The IP families of a network's subnets (cached: every unit compile asks, and
    parsing the subnets each time was a tenth of a pod event)."""
    fams: set[int] = set()
    for s in network.subnets:
        try:
            fams.add(ipaddress.ip_network(s, strict=False).version)
        except ValueError:
            continue
    return tuple(sorted(fams))


def pod_on_networks(pod: Pod, networks: Mapping[NadKey, Network]) -> dict[str, PodOnNetwork]:
    """Network name -> the pod's presence there (through any NAD of that network)."""
    per_net: dict[str, tuple[list[str], list[str]]] = {}
    for nad in sorted(set(pod.networks) | {k for k, _ in pod.attachments}):
        net = networks.get(nad)
        if net is None:
            continue
        lsps, ips = per_net.setdefault(net.name, ([], []))
        lsps.append(lsp_name(nad, pod.namespace, pod.name))
        att = pod.attachment(nad)
        for cidr in att.ips if att else ():
            ip = _strip_prefix(cidr)
            if ip is not None and ip not in ips:
                ips.append(ip)
    labels = shared_labels(pod.labels)
    return {
        net_name: PodOnNetwork(pod, tuple(lsps), tuple(ips), labels)
        for net_name, (lsps, ips) in per_net.items()
    }


class LabelMap(dict[str, str]):
    """A pod's labels as the mapping selectors match; never mutated, so pods with the
    same labels (a ReplicaSet's replicas) share one (weakly interned)."""

    __slots__ = ("__weakref__",)


_label_maps: weakref.WeakValueDictionary[tuple[tuple[str, str], ...], LabelMap] = (
    weakref.WeakValueDictionary()
)


def shared_labels(labels: tuple[tuple[str, str], ...]) -> LabelMap:
    """The one ``LabelMap`` of these labels alive now (a dict per pod is ~370 bytes)."""
    found = _label_maps.get(labels)
    if found is None:
        found = _label_maps[labels] = LabelMap(labels)
    return found


def _pods_by_network(snapshot: Snapshot) -> dict[str, list[PodOnNetwork]]:
    """Network name -> the pods attached to it."""
    nets = {n.nad: n for n in snapshot.networks}
    out: dict[str, list[PodOnNetwork]] = defaultdict(list)
    for pod in sorted(snapshot.pods, key=lambda p: (p.namespace, p.name)):
        for net_name, presence in pod_on_networks(pod, nets).items():
            out[net_name].append(presence)
    return out


def _resolve_named_port(pod: Pod, name: str, protocol: str) -> int | None:
    for cp in pod.ports:
        if cp.name == name and cp.protocol == protocol:
            return cp.port
    return None


def _ip_in_block(ip: str, peer: Peer) -> bool:
    assert peer.ip_block is not None
    addr = ipaddress.ip_address(ip)
    block = ipaddress.ip_network(peer.ip_block.cidr, strict=False)
    if addr.version != block.version or addr not in block:
        return False
    return not any(addr in ipaddress.ip_network(e, strict=False) for e in peer.ip_block.except_)


def cidr_errors(policy: Policy) -> list[str]:
    """CIDRs that would break a match; admission rejects them, a file source may not have."""
    errs: list[str] = []
    for dname, rules in (("ingress", policy.ingress), ("egress", policy.egress)):
        side = "from" if dname == "ingress" else "to"
        for i, rule in enumerate(rules):
            for j, peer in enumerate(rule.peers):
                if peer.ip_block is None:
                    continue
                path = fe.Path("spec").child(dname).index(i).child(side).index(j).child("ipBlock")
                for p, v in [(path.child("cidr"), peer.ip_block.cidr)] + [
                    (path.child("except").index(k), e) for k, e in enumerate(peer.ip_block.except_)
                ]:
                    try:
                        ipaddress.ip_network(v, strict=False)
                    except ValueError:
                        errs.append(str(fe.invalid(p, v, "must be a valid CIDR; fix the policy")))
    return errs


class _PolicyCompiler:
    """Compiles one policy on one network into rows added to ``out``."""

    def __init__(
        self,
        policy: Policy,
        network: Network,
        nads: Sequence[NadKey],
        pods: PodIndex,
        out: Rows,
    ) -> None:
        self.policy = policy
        self.network = network
        self.index = pods
        self.out = out
        self.families = network_families(network)
        self.scope = PolicyScope(network.name, policy.key, ",".join(str(n) for n in nads))
        self.selected = pods.in_namespace(policy.namespace, policy.pod_selector)
        self.pg_name = PolicyPortGroupId(self.scope).name

    def run(self) -> None:
        self._port_group(PolicyPortGroupId(self.scope), self.selected)
        for direction in ("Ingress", "Egress"):
            if direction not in self.policy.policy_types:
                continue
            rules = self.policy.ingress if direction == "Ingress" else self.policy.egress
            for i, rule in enumerate(rules):
                self._rule(direction, i, rule)

    # -- rows -------------------------------------------------------------------------------

    def _port_group(self, row_id: PortGroupId, members: Iterable[PodOnNetwork]) -> str:
        ports = tuple(sorted({lsp for p in members for lsp in p.lsps}))
        self.out.port_groups[row_id.key] = PortGroupRow.of(row_id, ports)
        return row_id.name

    def _address_set(self, row_id: AddressSetId, ips: Iterable[str]) -> str:
        addrs = sorted({ip for ip in ips if _family(ip) == row_id.family})
        self.out.address_sets[row_id.key] = AddressSetRow.of(row_id, tuple(addrs))
        return row_id.name

    def _acl(self, direction: Direction, row_id: RuleAclId, match: str) -> None:
        self.out.acls[row_id.key] = AclRow.of(
            row_id,
            direction=_ACL_DIRECTION[direction],
            priority=ALLOW_PRIORITY,
            match=match,
            action="allow-related",
            options=APPLY_AFTER_LB if direction == "Egress" else (),
        )

    # -- peers ------------------------------------------------------------------------------

    def _peer_pods(self, peer: Peer) -> list[PodOnNetwork]:
        if peer.namespace_selector is None:
            namespaces = [self.policy.namespace]
        else:
            namespaces = self.index.namespaces(peer.namespace_selector)
        found: list[PodOnNetwork] = []
        for ns in namespaces:
            found += self.index.in_namespace(ns, peer.pod_selector)
        return found

    def _peer_clause(self, direction: Direction, i: int, rule: Rule) -> str | None:
        """The peers of a rule as one match; "" means no peer matches anything; None: any."""
        if not rule.peers:
            return None
        side: m.Side = "src" if direction == "Ingress" else "dst"
        by_family: dict[int, list[str]] = defaultdict(list)
        blocks: list[str] = []
        for j, peer in enumerate(rule.peers):
            if peer.ip_block is not None:
                blocks.append(m.ip_block_match(side, peer.ip_block.cidr, peer.ip_block.except_))
                continue
            ips = [ip for p in self._peer_pods(peer) for ip in p.ips]
            for fam in self.families:
                row_id = PeerAddressSetId(self.scope, _SHORT[direction], i, j, fam)
                by_family[fam].append(self._address_set(row_id, ips))
        parts = [m.address_sets_match(f, side, names) for f, names in sorted(by_family.items())]
        parts += blocks
        return m.disjunction(parts) if parts else ""

    # -- rules ------------------------------------------------------------------------------

    def _rule(self, direction: Direction, i: int, rule: Rule) -> None:
        peers = self._peer_clause(direction, i, rule)
        if peers == "":
            return  # only selector peers on a network without IPs: the rule allows nothing
        short = _SHORT[direction]
        own = m.port_group_match(_ACL_DIRECTION[direction], self.pg_name)
        if not rule.ports:
            self._acl(direction, RuleAclId(self.scope, short, i), m.conjunction([own, peers]))
            return
        numeric: dict[str, list[m.PortRange] | None] = {}
        named: list[Port] = []
        for port in rule.ports:
            if isinstance(port.port, str):
                named.append(port)
            elif port.port is None:
                numeric[port.protocol] = None
            elif port.protocol not in numeric or numeric[port.protocol] is not None:
                end = port.end_port if port.end_port is not None else port.port
                ranges = numeric.setdefault(port.protocol, [])
                assert ranges is not None
                ranges.append((port.port, end))
        for proto in sorted(numeric):
            l4 = m.l4_match(proto, numeric[proto])
            row_id = RuleAclId(self.scope, short, i, proto.lower())
            self._acl(direction, row_id, m.conjunction([own, peers, l4]))
        if named:
            if direction == "Ingress":
                self._named_ingress(i, rule, named, peers)
            else:
                self._named_egress(i, rule, named)

    def _named_ingress(self, i: int, rule: Rule, named: list[Port], peers: str | None) -> None:
        """Named ports resolve on the policy's own (destination) pods: one port group per number."""
        groups: dict[tuple[str, int], list[PodOnNetwork]] = defaultdict(list)
        for p in self.selected:  # each pod once; once per number, though names may share it
            numbers: set[tuple[str, int]] = set()
            for port in named:
                assert isinstance(port.port, str)
                number = _resolve_named_port(p.pod, port.port, port.protocol)
                if number is not None and (port.protocol, number) not in numbers:
                    numbers.add((port.protocol, number))
                    groups[(port.protocol, number)].append(p)
        for (proto, number), members in sorted(groups.items()):
            pg = self._port_group(NamedPortGroupId(self.scope, i, proto.lower(), number), members)
            self._acl(
                "Ingress",
                RuleAclId(self.scope, "ingress", i, proto.lower(), number),
                m.conjunction(
                    [m.port_group_match("to-lport", pg), peers, m.l4_match(proto, [(number,) * 2])]
                ),
            )

    def _named_egress(self, i: int, rule: Rule, named: list[Port]) -> None:
        """Named ports resolve on the destination (peer) pods: per number, an address set of
        the peer IPs whose port resolves to it."""
        candidates: list[tuple[PodOnNetwork, list[str]]] = []
        if not rule.peers:
            candidates = [(p, list(p.ips)) for p in self.index.all]
        for peer in rule.peers:
            if peer.ip_block is not None:
                for p in self.index.all:
                    inside = [ip for ip in p.ips if _ip_in_block(ip, peer)]
                    if inside:
                        candidates.append((p, inside))
            else:
                candidates += [(p, list(p.ips)) for p in self._peer_pods(peer)]
        groups: dict[tuple[str, int], set[str]] = defaultdict(set)
        for p, ips in candidates:
            for port in named:
                assert isinstance(port.port, str)
                number = _resolve_named_port(p.pod, port.port, port.protocol)
                if number is not None:
                    groups[(port.protocol, number)].update(ips)
        own = m.port_group_match("from-lport", self.pg_name)
        for (proto, number), ips_set in sorted(groups.items()):
            fams = sorted({_family(ip) for ip in ips_set})
            sets = [NamedPortAddressSetId(self.scope, i, proto.lower(), number, f) for f in fams]
            dests = [
                m.address_sets_match(s.family, "dst", [self._address_set(s, ips_set)]) for s in sets
            ]
            self._acl(
                "Egress",
                RuleAclId(self.scope, "egress", i, proto.lower(), number),
                m.conjunction([own, m.disjunction(dests), m.l4_match(proto, [(number,) * 2])]),
            )


def deny_rows(net: str, namespace: str, direction: Direction, ports: tuple[str, ...]) -> Rows:
    """Per (network, namespace, direction): the isolated pods (``ports``: sorted, unique;
    the incremental compiler keeps them so, rather than sorting thousands per event),
    drop 1000, ARP/ND allowed 1001."""
    out = Rows()
    pg_id = DenyPortGroupId(net, namespace, _SHORT[direction])
    out.port_groups[pg_id.key] = PortGroupRow.of(pg_id, ports)
    acl_dir = _ACL_DIRECTION[direction]
    own = m.port_group_match(acl_dir, pg_id.name)
    drop = DenyAclId(net, namespace, pg_id.direction, "drop")
    arp = DenyAclId(net, namespace, pg_id.direction, "arp")
    for acl_id, prio, match, action in (
        (drop, DENY_PRIORITY, own, "drop"),
        (arp, ALLOW_PRIORITY, f"{own} && {m.ARP_OR_ND}", "allow"),
    ):
        out.acls[acl_id.key] = AclRow.of(
            acl_id,
            direction=acl_dir,
            priority=prio,
            match=match,
            action=action,
            options=APPLY_AFTER_LB if direction == "Egress" else (),
        )
    return out


def policy_networks(
    policy: Policy, networks: Mapping[NadKey, Network]
) -> tuple[dict[str, tuple[Network, list[NadKey]]], list[str]]:
    path = fe.Path("metadata").child("annotations").key(POLICY_FOR_ANNOTATION)
    if not policy.policy_for:
        msg = "the policy names no network; add the annotation with the NADs it is for"
        return {}, [str(fe.required(path, msg))]
    found: dict[str, tuple[Network, list[NadKey]]] = {}
    reasons: list[str] = []
    for nad in policy.policy_for:
        net = networks.get(nad)
        if net is None:
            reasons.append(
                str(
                    fe.not_found(
                        path,
                        str(nad),
                        "NetworkAttachmentDefinition does not exist; "
                        "create it or fix the annotation",
                    )
                )
            )
        elif net.cni_type != OVN_CNI_TYPE:
            reasons.append(
                str(
                    fe.invalid(
                        path,
                        str(nad),
                        f'network type is "{net.cni_type}", not "{OVN_CNI_TYPE}"; '
                        "mnp enforces only OVN-Kubernetes networks",
                    )
                )
            )
        else:
            found.setdefault(net.name, (net, []))[1].append(nad)
    return found, reasons


PolicyNetworks = dict[str, tuple[Network, list[NadKey]]]


def policy_targets(
    policy: Policy, networks: Mapping[NadKey, Network]
) -> tuple[PolicyNetworks, PolicyStatus]:
    """The networks a policy is compiled on (none when skipped) and its status."""
    nets, reasons = policy_networks(policy, networks)
    errors = cidr_errors(policy)
    reasons += errors
    if not nets or errors:
        return {}, PolicyStatus(policy.key, "skipped", tuple(reasons))
    return nets, PolicyStatus(policy.key, "applied", tuple(reasons))


@dataclass
class PolicyOnNetwork:
    """The rows of one policy on one network, and the switch ports it isolates (the
    deny groups of its namespace hold them for each of its policy types)."""

    rows: Rows
    isolated: tuple[str, ...]  # sorted: the policy port group's own ``ports`` (one copy)
    directions: tuple[Direction, ...]


def compile_policy_on_network(
    policy: Policy, network: Network, nads: Sequence[NadKey], pods: PodIndex
) -> PolicyOnNetwork:
    """Pure: one policy on one network, given that network's pods."""
    out = Rows()
    pc = _PolicyCompiler(policy, network, nads, pods, out)
    pc.run()
    directions = tuple(d for d in ("Ingress", "Egress") if d in policy.policy_types)
    isolated = out.port_groups[PolicyPortGroupId(pc.scope).key].ports
    return PolicyOnNetwork(out, isolated, directions)


def desired_state(rows: Rows, statuses: Iterable[PolicyStatus]) -> DesiredState:
    """Rows sorted by key per table, statuses by policy: the deterministic output."""
    return DesiredState(
        port_groups=tuple(rows.port_groups[k] for k in sorted(rows.port_groups)),
        address_sets=tuple(rows.address_sets[k] for k in sorted(rows.address_sets)),
        acls=tuple(rows.acls[k] for k in sorted(rows.acls)),
        statuses=tuple(sorted(statuses, key=lambda s: s.policy)),
    )


def compile(snapshot: Snapshot) -> DesiredState:
    """The complete desired NB state for ``snapshot``; see the module docstring."""
    networks = {n.nad: n for n in snapshot.networks}
    ns_labels = {ns.name: dict(ns.labels) for ns in snapshot.namespaces}
    pods_by_net = {
        name: NetworkPods(pods, ns_labels) for name, pods in _pods_by_network(snapshot).items()
    }
    no_pods = NetworkPods([], ns_labels)
    out = Rows()
    isolated: dict[tuple[str, str, Direction], set[str]] = {}
    statuses: list[PolicyStatus] = [
        PolicyStatus(key, "skipped", tuple(msgs)) for key, msgs in snapshot.rejected
    ]
    for policy in sorted(snapshot.policies, key=lambda p: p.key):
        nets, status = policy_targets(policy, networks)
        statuses.append(status)
        for net_name, (net, nads) in sorted(nets.items()):
            unit = compile_policy_on_network(policy, net, nads, pods_by_net.get(net_name, no_pods))
            out.update(unit.rows)
            for direction in unit.directions:
                isolated.setdefault((net_name, policy.namespace, direction), set()).update(
                    unit.isolated
                )
    for (net_name, namespace, direction), lsps in sorted(isolated.items()):
        out.update(deny_rows(net_name, namespace, direction, tuple(sorted(lsps))))
    return desired_state(out, statuses)
