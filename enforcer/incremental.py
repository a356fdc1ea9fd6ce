"""Incremental compile: a long-lived compiler state fed with cluster events.

Each event marks only the (policy, network) units and namespace deny groups it can
affect; ``flush`` recompiles exactly those with the same pure pieces the full
``enforcer.compile.compile`` uses, and returns the rows that changed as a ``Delta``. The
full compile stays the reference (the property test compares the two after every event)
and the periodic resync's repair path (``load``).

Which units a pod event marks: a conservative candidate set from an index of policies by
the (namespace, label pair) their selectors require, then an exact selector check against
the pod's old and new labels. A unit is recompiled whole, so the result is exact.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from enforcer.compile import (
    PodOnNetwork,
    PolicyNetworks,
    PolicyOnNetwork,
    Rows,
    compile_policy_on_network,
    deny_rows,
    desired_state,
    pod_on_networks,
    policy_targets,
)
from enforcer.desired import AclRow, AddressSetRow, DesiredState, PolicyStatus, PortGroupRow
from mnp.model import (
    Direction,
    LabelSelector,
    NadKey,
    Namespace,
    Network,
    Peer,
    Pod,
    Policy,
    Snapshot,
)
from mnp.selectors import matches

PodKey = tuple[str, str]  # (namespace, name)
Unit = tuple[str, str]  # (policy key, network name)
DenyGroup = tuple[str, str, Direction]  # (network name, namespace, direction)
AnyRow = AclRow | AddressSetRow | PortGroupRow
ANY_NAMESPACE = "*"


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodEvent:
    """A pod as it is now; None when deleted."""

    key: PodKey
    pod: Pod | None


@dataclass(frozen=True)
class NamespaceEvent:
    name: str
    namespace: Namespace | None


@dataclass(frozen=True)
class NetworkEvent:
    """A NAD as a network now; None when deleted (or no longer a usable network)."""

    nad: NadKey
    network: Network | None


@dataclass(frozen=True)
class PolicyEvent:
    """An admitted policy; or, with ``policy`` None, deleted (``rejected`` empty) or
    rejected by admission (``rejected`` holds the messages)."""

    key: str
    policy: Policy | None
    rejected: tuple[str, ...] = ()


Event = PodEvent | NamespaceEvent | NetworkEvent | PolicyEvent


@dataclass
class Delta:
    """The rows one flush changed: upserts by key, deleted keys, and the work done; and the
    policies whose status changed (None: the policy has no status any more)."""

    upserts: dict[str, AnyRow] = field(default_factory=dict)
    deletions: set[str] = field(default_factory=set)
    rows_computed: int = 0
    units_computed: int = 0
    statuses: dict[str, PolicyStatus | None] = field(default_factory=dict)

    @property
    def keys(self) -> set[str]:
        return set(self.upserts) | self.deletions

    @property
    def statuses_changed(self) -> bool:
        return bool(self.statuses)

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletions or self.statuses)


def events_between(old: Snapshot, new: Snapshot) -> list[Event]:
    """The events that turn ``old`` into ``new`` (the files source and tests use it)."""
    events: list[Event] = []
    old_ns = {n.name: n for n in old.namespaces}
    new_ns = {n.name: n for n in new.namespaces}
    events += [NamespaceEvent(k, new_ns.get(k)) for k in _changed_keys(old_ns, new_ns)]
    old_nets = {n.nad: n for n in old.networks}
    new_nets = {n.nad: n for n in new.networks}
    events += [NetworkEvent(k, new_nets.get(k)) for k in _changed_keys(old_nets, new_nets)]
    old_pods = {(p.namespace, p.name): p for p in old.pods}
    new_pods = {(p.namespace, p.name): p for p in new.pods}
    events += [PodEvent(k, new_pods.get(k)) for k in _changed_keys(old_pods, new_pods)]
    old_pol: dict[str, Policy | tuple[str, ...]] = {p.key: p for p in old.policies}
    old_pol.update(dict(old.rejected))
    new_pol: dict[str, Policy | tuple[str, ...]] = {p.key: p for p in new.policies}
    new_pol.update(dict(new.rejected))
    for key in _changed_keys(old_pol, new_pol):
        value = new_pol.get(key)
        if isinstance(value, Policy):
            events.append(PolicyEvent(key, value))
        else:
            events.append(PolicyEvent(key, None, value or ()))
    return events


def _changed_keys(old: Mapping[Any, object], new: Mapping[Any, object]) -> list[Any]:
    keys = set(old) | set(new)
    return sorted((k for k in keys if old.get(k) != new.get(k)), key=str)


# -- the live pod index of one network --------------------------------------------------------


class LiveNetworkPods:
    """One network's pods, by namespace and by (namespace, label pair); mutable, so an
    event updates it in place (the ``PodIndex`` the policy compile reads)."""

    def __init__(self, ns_labels: dict[str, dict[str, str]]) -> None:
        self.ns_labels = ns_labels
        self.by_ns: dict[str, dict[str, PodOnNetwork]] = defaultdict(dict)
        self._by_label: dict[str, dict[tuple[str, str], set[str]]] = defaultdict(
            lambda: defaultdict(set)
        )

    def __len__(self) -> int:
        return sum(len(pods) for pods in self.by_ns.values())

    def get(self, ns: str, name: str) -> PodOnNetwork | None:
        pods = self.by_ns.get(ns)
        return pods.get(name) if pods is not None else None

    def put(self, p: PodOnNetwork) -> None:
        self.remove(p.pod.namespace, p.pod.name)
        self.by_ns[p.pod.namespace][p.pod.name] = p
        index = self._by_label[p.pod.namespace]
        for pair in p.labels.items():
            index[pair].add(p.pod.name)

    def remove(self, ns: str, name: str) -> None:
        pods = self.by_ns.get(ns)
        old = pods.pop(name, None) if pods is not None else None
        if old is None:
            return
        index = self._by_label[ns]
        for pair in old.labels.items():
            index[pair].discard(name)
            if not index[pair]:
                del index[pair]
        if not pods:
            del self.by_ns[ns]
            del self._by_label[ns]

    @property
    def all(self) -> Sequence[PodOnNetwork]:
        return [p for pods in self.by_ns.values() for p in pods.values()]

    def in_namespace(self, ns: str, selector: LabelSelector | None) -> list[PodOnNetwork]:
        pods = self.by_ns.get(ns)
        if not pods:
            return []
        if selector is None:
            return list(pods.values())
        names = self._candidates(ns, selector)
        if names is None:
            return [p for p in pods.values() if matches(selector, p.labels)]
        if len(selector.match_labels) == 1 and not selector.match_expressions:
            return [pods[n] for n in names]  # every pod carrying the one pair matches
        return [p for n in names if matches(selector, (p := pods[n]).labels)]

    def _candidates(self, ns: str, selector: LabelSelector) -> set[str] | None:
        """The pods of ``ns`` that may match, from the label index: those with the rarest
        required pair, or with one of an ``In`` requirement's values; None: every pod."""
        index = self._by_label[ns]
        sets = [index.get(pair, set()) for pair in selector.match_labels]
        for req in selector.match_expressions:
            if req.operator == "In":
                sets.append(set().union(*(index.get((req.key, v), set()) for v in req.values)))
        return min(sets, key=len) if sets else None

    def namespaces(self, selector: LabelSelector) -> list[str]:
        return [ns for ns in sorted(self.by_ns) if matches(selector, self.ns_labels.get(ns, {}))]

    def any_in_namespace(self, ns: str, selector: LabelSelector | None) -> bool:
        pods = self.by_ns.get(ns)
        if not pods:
            return False
        if selector is None:
            return True
        if selector.match_labels:
            index = self._by_label[ns]
            names = min((index.get(pair, set()) for pair in selector.match_labels), key=len)
            return any(matches(selector, pods[n].labels) for n in names)
        return any(matches(selector, p.labels) for p in pods.values())


# -- which policies a pod or namespace can matter to ------------------------------------------


@dataclass(frozen=True)
class Interest:
    """Pods a policy reads: in ``namespace`` (or, with ANY_NAMESPACE, in namespaces its
    ``namespace_selector`` matches; with neither selector, every pod of the network)."""

    namespace: str
    namespace_selector: LabelSelector | None
    pod_selector: LabelSelector | None

    def matches(self, ns: str, labels: Mapping[str, str], ns_labels: dict[str, str]) -> bool:
        if self.namespace != ANY_NAMESPACE and self.namespace != ns:
            return False
        if self.namespace_selector is not None and not matches(self.namespace_selector, ns_labels):
            return False
        return self.pod_selector is None or matches(self.pod_selector, labels)


def _peer_interest(policy: Policy, peer: Peer) -> Interest:
    if peer.namespace_selector is None:
        return Interest(policy.namespace, None, peer.pod_selector)
    return Interest(ANY_NAMESPACE, peer.namespace_selector, peer.pod_selector)


def policy_interests(policy: Policy) -> set[Interest]:
    """Every set of pods the policy's rows are computed from."""
    found = {Interest(policy.namespace, None, policy.pod_selector)}
    for rules, egress in ((policy.ingress, False), (policy.egress, True)):
        for rule in rules:
            named = any(isinstance(p.port, str) for p in rule.ports)
            if egress and named and (not rule.peers or any(p.ip_block for p in rule.peers)):
                found.add(Interest(ANY_NAMESPACE, None, None))  # named ports on any peer pod
            found |= {_peer_interest(policy, p) for p in rule.peers if p.ip_block is None}
    return found


IndexKey = tuple[str, tuple[str, str] | None]  # (namespace or ANY_NAMESPACE, label pair)
PairCount = Callable[[str, tuple[str, str]], int]


def _no_counts(ns: str, pair: tuple[str, str]) -> int:
    return 0


class InterestIndex:
    """Policies by the (namespace, label pair) their selectors require: a pod finds the
    policies it may matter to through its own namespace and label pairs only.

    An interest is filed under the pair of its matchLabels that the fewest pods carry when
    it is filed (``pair_count``): ``tier=web, app=g7`` under ``app=g7``, so that a pod with
    ``tier=web`` does not test every such policy. Any pair is correct; the rarest is cheap."""

    def __init__(self, pair_count: PairCount = _no_counts) -> None:
        self._pair_count = pair_count
        self._by_key: dict[IndexKey, set[str]] = defaultdict(set)
        self._of: dict[str, tuple[tuple[Interest, IndexKey], ...]] = {}
        # namespaceSelector -> the podSelector paired with it -> policies
        self._by_ns_selector: dict[LabelSelector, dict[LabelSelector | None, set[str]]] = (
            defaultdict(lambda: defaultdict(set))
        )

    def _index_key(self, i: Interest) -> IndexKey:
        sel = i.pod_selector
        if sel is None or not sel.match_labels:
            return (i.namespace, None)
        return (i.namespace, min(sel.match_labels, key=lambda p: self._pair_count(i.namespace, p)))

    def put(self, key: str, interests: set[Interest]) -> None:
        self.remove(key)
        filed = tuple((i, self._index_key(i)) for i in interests)
        self._of[key] = filed
        for i, index_key in filed:
            self._by_key[index_key].add(key)
            if i.namespace_selector is not None:
                self._by_ns_selector[i.namespace_selector][i.pod_selector].add(key)

    def remove(self, key: str) -> None:
        for i, index_key in self._of.pop(key, ()):
            _discard(self._by_key, index_key, key)
            if i.namespace_selector is not None:
                paired = self._by_ns_selector[i.namespace_selector]
                _discard(paired, i.pod_selector, key)
                if not paired:
                    del self._by_ns_selector[i.namespace_selector]

    def for_pod(self, ns: str, labels: Mapping[str, str], ns_labels: dict[str, str]) -> set[str]:
        """The policies whose rows can depend on a pod in ``ns`` with ``labels`` (exact)."""
        candidates: set[str] = set()
        for scope in (ns, ANY_NAMESPACE):
            candidates |= self._by_key.get((scope, None), set())
            for pair in labels.items():
                candidates |= self._by_key.get((scope, pair), set())
        return {
            k for k in candidates if any(i.matches(ns, labels, ns_labels) for i, _ in self._of[k])
        }

    def for_namespace(
        self, old: dict[str, str], new: dict[str, str]
    ) -> dict[LabelSelector | None, set[str]]:
        """By podSelector, the policies with a namespaceSelector paired with it that matches
        exactly one of the old and the new labels (one matching both or neither selects the
        same namespaces as before); each distinct selector is tested once."""
        found: dict[LabelSelector | None, set[str]] = defaultdict(set)
        for selector, paired in self._by_ns_selector.items():
            if matches(selector, old) != matches(selector, new):
                for pod_selector, keys in paired.items():
                    found[pod_selector] |= keys
        return found


def _discard(index: dict[Any, set[str]], at: Any, key: str) -> None:
    keys = index.get(at)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del index[at]


# -- the compiler -------------------------------------------------------------------------------


@dataclass
class _Marks:
    policies: set[str] = field(default_factory=set)  # whole policy: status and every network
    units: set[Unit] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.policies or self.units)


class IncrementalCompiler:
    """The cluster as last told, the rows compiled for it, and what changed since ``flush``."""

    def __init__(self) -> None:
        self.namespaces: dict[str, Namespace] = {}
        self.ns_labels: dict[str, dict[str, str]] = {}
        self.pods: dict[PodKey, Pod] = {}
        self.networks: dict[NadKey, Network] = {}
        self.policies: dict[str, Policy] = {}
        self.statuses: dict[str, PolicyStatus] = {}
        self._rejected: dict[str, tuple[str, ...]] = {}
        self._net_pods: dict[str, LiveNetworkPods] = {}
        # Pods per (namespace or ANY_NAMESPACE, label pair): which pair is rarest.
        self._pair_counts: Counter[tuple[str, tuple[str, str]]] = Counter()
        self._interests = InterestIndex(lambda ns, pair: self._pair_counts[(ns, pair)])
        self._targets: dict[str, PolicyNetworks] = {}
        self._units: dict[Unit, PolicyOnNetwork] = {}
        self._units_by_net: dict[str, set[Unit]] = defaultdict(set)
        # Per deny group: how many units isolate each switch port, those ports sorted (a
        # namespace's group holds thousands: kept sorted, never re-sorted per event), and
        # how many units have that direction (the group exists while one does).
        self._isolating: dict[DenyGroup, Counter[str]] = defaultdict(Counter)
        self._deny_ports: dict[DenyGroup, list[str]] = defaultdict(list)
        self._deny_units: Counter[DenyGroup] = Counter()
        self._deny: dict[DenyGroup, Rows] = {}
        self.rows = Rows()
        self._acls_by_group: dict[str, set[str]] = defaultdict(set)
        self._marks = _Marks()
        self._dirty_deny: set[DenyGroup] = set()
        self._status_changes: dict[str, PolicyStatus | None] = {}
        self._sorted_statuses: tuple[PolicyStatus, ...] | None = ()  # None: to sort again

    # -- reading --------------------------------------------------------------------------

    def desired(self) -> DesiredState:
        """The full desired state now (what ``compile(self.snapshot())`` gives)."""
        return replace(desired_state(self.rows, ()), statuses=self.all_statuses())

    def all_statuses(self) -> tuple[PolicyStatus, ...]:
        """Every policy's status, by policy; sorted again only after a status changed."""
        if self._sorted_statuses is None:
            self._sorted_statuses = tuple(self.statuses[k] for k in sorted(self.statuses))
        return self._sorted_statuses

    def snapshot(self) -> Snapshot:
        return Snapshot(
            namespaces=tuple(self.namespaces[k] for k in sorted(self.namespaces)),
            pods=tuple(self.pods[k] for k in sorted(self.pods)),
            networks=tuple(self.networks[k] for k in sorted(self.networks)),
            policies=tuple(self.policies[k] for k in sorted(self.policies)),
            rejected=tuple(sorted(self._rejected.items())),
        )

    def desired_for(
        self, keys: Iterable[str], policies: Iterable[str] | None = None
    ) -> DesiredState:
        """The desired rows of ``keys``, plus every ACL of each port group among them or
        holding one of them (a port group's ``acls`` is written whole); the statuses of
        ``policies`` that have one (None: all statuses, as ``desired()``). An event's path
        passes ``delta.statuses``: with 10,000 policies, all of them cost every event."""
        wanted = set(keys)
        rows = Rows()
        groups = {k for k in wanted if k in self.rows.port_groups}
        groups |= {
            acl.port_group.key
            for k in wanted
            if (acl := self.rows.acls.get(k)) is not None and acl.port_group is not None
        }
        for group in groups:
            if group in self.rows.port_groups:
                rows.port_groups[group] = self.rows.port_groups[group]
            for k in self._acls_by_group.get(group, ()):
                rows.acls[k] = self.rows.acls[k]
        for k in wanted:
            if k in self.rows.address_sets:
                rows.address_sets[k] = self.rows.address_sets[k]
        if policies is None:
            return replace(desired_state(rows, ()), statuses=self.all_statuses())
        return desired_state(rows, (s for k in policies if (s := self.statuses.get(k))))

    # -- events ---------------------------------------------------------------------------

    def load(self, snapshot: Snapshot) -> Delta:
        """Make the state ``snapshot`` (start, periodic full resync): every event that turns
        the current state into it, then one flush."""
        for event in events_between(self.snapshot(), snapshot):
            self.apply(event)
        return self.flush()

    def apply(self, event: Event) -> None:
        """Record ``event`` and mark what it affects; nothing is compiled until ``flush``."""
        if isinstance(event, PodEvent):
            self._on_pod(event.key, event.pod)
        elif isinstance(event, NamespaceEvent):
            self._on_namespace(event.name, event.namespace)
        elif isinstance(event, NetworkEvent):
            self._on_network(event.nad, event.network)
        else:
            self._on_policy(event)

    def _on_pod(self, key: PodKey, pod: Pod | None) -> None:
        old = self.pods.get(key)
        if old == pod:
            return  # nothing compile reads changed: no work at all
        # Where the pod is now, read back from the networks' indexes (no copy per pod).
        before = {net: p for net, pods in self._net_pods.items() if (p := pods.get(*key))}
        if old is not None:
            self._count_pairs(key[0], old, -1)
        for net_name in before:
            self._net_pods[net_name].remove(*key)
        after: dict[str, PodOnNetwork] = {}
        if pod is None:
            del self.pods[key]
        else:
            self.pods[key] = pod
            self._count_pairs(key[0], pod, +1)
            after = pod_on_networks(pod, self.networks)
            for net_name, presence in after.items():
                self._net_pods_of(net_name).put(presence)
        ns_labels = self.ns_labels.get(key[0], {})
        for presence_map in (before, after):
            if not presence_map:
                continue
            labels = next(iter(presence_map.values())).labels
            for policy_key in self._interests.for_pod(key[0], labels, ns_labels):
                # A policy not compiled yet is marked whole (its networks come at flush).
                targets = self._targets.get(policy_key, {})
                self._marks.units |= {(policy_key, net) for net in presence_map if net in targets}

    def _count_pairs(self, ns: str, pod: Pod, sign: int) -> None:
        for pair in pod.labels:
            for scope in (ns, ANY_NAMESPACE):
                counted = (scope, pair)
                self._pair_counts[counted] += sign
                if not self._pair_counts[counted]:
                    del self._pair_counts[counted]

    def _on_namespace(self, name: str, namespace: Namespace | None) -> None:
        old = self.namespaces.get(name)
        if old == namespace:
            return
        old_labels = self.ns_labels.get(name, {})
        if namespace is None:
            del self.namespaces[name]
            self.ns_labels.pop(name, None)
        else:
            self.namespaces[name] = namespace
            self.ns_labels[name] = dict(namespace.labels)
        new_labels = self.ns_labels.get(name, {})
        if old_labels != new_labels:
            self._mark_namespace_peers(name, self._interests.for_namespace(old_labels, new_labels))

    def _mark_namespace_peers(self, ns: str, found: dict[LabelSelector | None, set[str]]) -> None:
        """Mark the units whose peers now gain or lose the pods of ``ns``: only where ``ns``
        has pods their podSelector matches (a selector of one app group, in a namespace
        without that group, changes nothing)."""
        for selector, keys in found.items():
            for net, pods in self._net_pods.items():
                if pods.any_in_namespace(ns, selector):
                    self._marks.units |= {(k, net) for k in keys if net in self._targets.get(k, {})}

    def _on_network(self, nad: NadKey, network: Network | None) -> None:
        old = self.networks.get(nad)
        if old == network:
            return
        if network is None:
            del self.networks[nad]
        else:
            self.networks[nad] = network
        names = {n.name for n in (old, network) if n is not None}
        # NAD events are rare: a scan of the pods beats an index of pods by NAD held always.
        on_nad = [k for k, p in self.pods.items() if nad in p.networks or _attached(p, nad)]
        for pod_key in sorted(on_nad):
            pod = self.pods[pod_key]
            self._on_pod(pod_key, None)
            self._on_pod(pod_key, pod)
        for name in names:
            self._marks.policies |= {policy for policy, _ in self._units_by_net.get(name, ())}
        self._marks.policies |= {k for k, p in self.policies.items() if nad in p.policy_for}

    def _on_policy(self, event: PolicyEvent) -> None:
        key = event.key
        if self.policies.get(key) == event.policy and self._rejected.get(key) == (
            event.rejected or None
        ):
            return
        self._rejected.pop(key, None)
        self.policies.pop(key, None)
        self._interests.remove(key)
        if event.policy is not None:
            self.policies[key] = event.policy
            self._interests.put(key, policy_interests(event.policy))
        elif event.rejected:
            self._rejected[key] = event.rejected
        self._marks.policies.add(key)

    # -- compiling what was marked ----------------------------------------------------------

    def flush(self) -> Delta:
        """Recompile every marked unit and deny group; the rows that changed."""
        delta = Delta()
        marks, self._marks = self._marks, _Marks()
        units = set(marks.units)
        for key in marks.policies:
            units |= self._retarget(key)
        for unit in sorted(units):
            self._recompile_unit(unit, delta)
        for group in sorted(self._dirty_deny):
            self._recompute_deny(group, delta)
        self._dirty_deny.clear()
        delta.statuses, self._status_changes = self._status_changes, {}
        return delta

    def _retarget(self, key: str) -> set[Unit]:
        """A policy's status and networks again; returns every unit it had or has now."""
        before = set(self._targets.pop(key, {}))
        policy = self.policies.get(key)
        if policy is not None:
            nets, status = policy_targets(policy, self.networks)
            self._targets[key] = nets
        elif key in self._rejected:
            status = PolicyStatus(key, "skipped", self._rejected[key])
        else:
            status = None
        if self.statuses.get(key) != status:
            self._status_changes[key] = status
            self._sorted_statuses = None
            if status is None:
                del self.statuses[key]
            else:
                self.statuses[key] = status
        return {(key, net) for net in before | set(self._targets.get(key, {}))}

    def _recompile_unit(self, unit: Unit, delta: Delta) -> None:
        policy_key, net_name = unit
        policy = self.policies.get(policy_key)
        target = self._targets.get(policy_key, {}).get(net_name)
        old = self._units.pop(unit, None)
        new: PolicyOnNetwork | None = None
        if policy is not None and target is not None:
            net, nads = target
            new = compile_policy_on_network(policy, net, nads, self._net_pods_of(net_name))
            self._units[unit] = new
            self._units_by_net[net_name].add(unit)
            delta.units_computed += 1
            delta.rows_computed += len(new.rows)
        else:
            self._units_by_net[net_name].discard(unit)
        self._replace(old.rows if old else Rows(), new.rows if new else Rows(), delta)
        if _deny_inputs(old) != _deny_inputs(new):
            self._count_isolated(net_name, policy_key.split("/", 1)[0], old, new)

    def _count_isolated(
        self, net_name: str, ns: str, old: PolicyOnNetwork | None, new: PolicyOnNetwork | None
    ) -> None:
        """Move one unit's share of its namespace's deny groups from ``old`` to ``new``;
        a group is recomputed only when its ports or its existence change."""
        was_ports, was_dirs = _deny_inputs(old)
        now_ports, now_dirs = _deny_inputs(new)
        for d in set(was_dirs) | set(now_dirs):
            group = (net_name, ns, d)
            units = (d in now_dirs) - (d in was_dirs)
            if units:
                self._deny_units[group] += units
                self._dirty_deny.add(group)
            was = set(was_ports) if d in was_dirs else set()
            now = set(now_ports) if d in now_dirs else set()
            counts, ports = self._isolating[group], self._deny_ports[group]
            for lsp in was - now:
                counts[lsp] -= 1
                if not counts[lsp]:
                    del counts[lsp]
                    del ports[bisect_left(ports, lsp)]
                    self._dirty_deny.add(group)
            for lsp in now - was:
                counts[lsp] += 1
                if counts[lsp] == 1:
                    insort(ports, lsp)
                    self._dirty_deny.add(group)

    def _recompute_deny(self, group: DenyGroup, delta: Delta) -> None:
        old = self._deny.pop(group, Rows())
        new = Rows()
        if self._deny_units[group] > 0:
            new = deny_rows(*group, tuple(self._deny_ports[group]))
            self._deny[group] = new
            delta.rows_computed += len(new)
        else:
            self._deny_units.pop(group, None)
            self._isolating.pop(group, None)
            self._deny_ports.pop(group, None)
        self._replace(old, new, delta)

    def _replace(self, old: Rows, new: Rows, delta: Delta) -> None:
        """Swap one unit's rows in the merged rows, recording the keys that changed."""
        for key, acl in old.acls.items():
            if acl.port_group is not None:
                self._acls_by_group[acl.port_group.key].discard(key)
        for key, acl in new.acls.items():
            if acl.port_group is not None:
                self._acls_by_group[acl.port_group.key].add(key)
        for table, before, after in _tables(self.rows, old, new):
            for key in before.keys() - after.keys():
                del table[key]
                delta.upserts.pop(key, None)
                delta.deletions.add(key)
            for key, row in after.items():
                if table.get(key) != row or key in delta.deletions:
                    table[key] = row
                    delta.deletions.discard(key)
                    delta.upserts[key] = row
                else:
                    table[key] = row  # same columns; keep the fresh row object

    def _net_pods_of(self, net_name: str) -> LiveNetworkPods:
        index = self._net_pods.get(net_name)
        if index is None:
            index = self._net_pods[net_name] = LiveNetworkPods(self.ns_labels)
        return index


def _attached(pod: Pod, nad: NadKey) -> bool:
    return any(k == nad for k, _ in pod.attachments)


def _deny_inputs(unit: PolicyOnNetwork | None) -> tuple[tuple[str, ...], tuple[Direction, ...]]:
    return (unit.isolated, unit.directions) if unit is not None else ((), ())


def _tables(
    merged: Rows, old: Rows, new: Rows
) -> Iterator[tuple[dict[str, AnyRow], dict[str, AnyRow], dict[str, AnyRow]]]:
    yield merged.port_groups, old.port_groups, new.port_groups  # type: ignore[misc]
    yield merged.address_sets, old.address_sets, new.address_sets  # type: ignore[misc]
    yield merged.acls, old.acls, new.acls  # type: ignore[misc]
