"""The incremental compiler against the full compile, and the work one event costs.

Property: after every event of a random sequence, the incremental rows equal exactly what
``compile()`` gives for the resulting cluster, and the delta it returned turns the rows
before the event into the rows after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enforcer.compile import compile
from enforcer.desired import AddressSetRow, DesiredState, PolicyStatus, PortGroupRow
from enforcer.incremental import (
    AnyRow,
    Event,
    IncrementalCompiler,
    NamespaceEvent,
    NetworkEvent,
    PodEvent,
    PolicyEvent,
    events_between,
)
from enforcer.row_ids import DenyPortGroupId
from mnp.model import (
    OVN_CNI_TYPE,
    Attachment,
    ContainerPort,
    IPBlock,
    LabelSelector,
    NadKey,
    Namespace,
    Network,
    Peer,
    Pod,
    Policy,
    Port,
    Requirement,
    Rule,
    Snapshot,
)
from mnp.ovn_names import lsp_name
from mnp.pods import NAMESPACE_NAME_LABEL

NAMESPACES = ("a", "b", "c")
POD_NAMES = ("p0", "p1", "p2", "p3")
POLICY_NAMES = ("q0", "q1", "q2")
NADS = (NadKey("a", "l2"), NadKey("a", "dual"), NadKey("b", "noipam"), NadKey("b", "l2b"))
LABEL_PAIRS = (("app", "web"), ("app", "db"), ("tier", "x"), ("tier", "y"))

# Network choices per NAD: several share a name, one is dual-stack, one IPAM-less.
NETWORK_CHOICES = {
    NADS[0]: [("net1", ("10.1.0.0/16",)), ("net1", ("10.1.0.0/16", "fd00:1::/64"))],
    NADS[1]: [("dual", ("10.2.0.0/16", "fd00:2::/64")), ("net1", ("10.2.0.0/16",))],
    NADS[2]: [("noipam", ()), ("noipam", ("10.3.0.0/16",))],
    NADS[3]: [("net1", ("10.1.0.0/16",)), ("other", ())],
}

labels_st = st.lists(st.sampled_from(LABEL_PAIRS), max_size=3).map(
    lambda pairs: tuple(sorted(dict(pairs).items()))
)
requirement_st = st.builds(
    Requirement,
    key=st.sampled_from(("app", "tier", "team")),
    operator=st.sampled_from(("In", "NotIn", "Exists", "DoesNotExist")),
    values=st.just(("web", "x", "red")),
).map(lambda r: replace(r, values=()) if r.operator in ("Exists", "DoesNotExist") else r)
selector_st = st.builds(
    LabelSelector,
    match_labels=st.lists(st.sampled_from(LABEL_PAIRS), max_size=2).map(
        lambda pairs: tuple(sorted(dict(pairs).items()))
    ),
    match_expressions=st.lists(requirement_st, max_size=1).map(tuple),
)
ns_selector_st = st.one_of(
    st.builds(LabelSelector),
    st.sampled_from(NAMESPACES).map(lambda n: LabelSelector(((NAMESPACE_NAME_LABEL, n),))),
    st.builds(LabelSelector, match_labels=st.just((("team", "red"),))),
)
peer_st = st.one_of(
    st.builds(Peer, pod_selector=selector_st),
    st.builds(Peer, namespace_selector=ns_selector_st),
    st.builds(Peer, pod_selector=selector_st, namespace_selector=ns_selector_st),
    st.sampled_from(
        (
            Peer(ip_block=IPBlock("10.1.0.0/16", ("10.1.0.0/24",))),
            Peer(ip_block=IPBlock("10.2.0.0/16")),
            Peer(ip_block=IPBlock("fd00:2::/64")),
        )
    ),
)
port_st = st.sampled_from(
    (
        Port("TCP", 80),
        Port("TCP", 8000, 8080),
        Port("UDP", None),
        Port("TCP", "http"),
        Port("UDP", "dns"),
    )
)
rule_st = st.builds(
    Rule,
    ports=st.lists(port_st, max_size=2).map(tuple),
    peers=st.lists(peer_st, max_size=2).map(tuple),
)
policy_st = st.builds(
    Policy,
    namespace=st.sampled_from(NAMESPACES),
    name=st.sampled_from(POLICY_NAMES),
    policy_for=st.lists(
        st.sampled_from((*NADS, NadKey("c", "missing"))), min_size=0, max_size=2, unique=True
    ).map(tuple),
    pod_selector=selector_st,
    ingress=st.lists(rule_st, max_size=2).map(tuple),
    egress=st.lists(rule_st, max_size=2).map(tuple),
    policy_types=st.sets(st.sampled_from(("Ingress", "Egress")), min_size=1).map(frozenset),
)
container_ports_st = st.lists(
    st.sampled_from(
        (
            ContainerPort("http", 80),
            ContainerPort("http", 8080),
            ContainerPort("dns", 53, "UDP"),
            ContainerPort("", 9000),
        )
    ),
    max_size=2,
    unique=True,
).map(tuple)


def _attachment(nad: NadKey, index: int, subnets: tuple[str, ...]) -> Attachment:
    ips = []
    base = NADS.index(nad) + 1
    ips.append(f"10.{base}.0.{index + 2}/16")
    if any(":" in s for s in subnets):
        ips.append(f"fd00:{base}::{index + 2}/64")
    return Attachment(tuple(ips) if subnets else (), f"0a:58:00:00:0{base}:{index + 2:02x}")


@st.composite
def pod_st(draw: st.DrawFn) -> Pod:
    ns = draw(st.sampled_from(NAMESPACES))
    name = draw(st.sampled_from(POD_NAMES))
    index = NAMESPACES.index(ns) * len(POD_NAMES) + POD_NAMES.index(name)
    nads = draw(st.lists(st.sampled_from(NADS), max_size=3, unique=True))
    annotated = draw(st.lists(st.sampled_from(nads), unique=True)) if nads else []
    dual = draw(st.booleans())
    subnets = ("x", "::") if dual else ("x",)
    return Pod(
        namespace=ns,
        name=name,
        labels=draw(labels_st),
        node=draw(st.sampled_from(("n1", "n2"))),
        networks=tuple(sorted(nads)),
        attachments=tuple((n, _attachment(n, index, subnets)) for n in sorted(annotated)),
        ports=draw(container_ports_st),
    )


@st.composite
def network_event_st(draw: st.DrawFn) -> NetworkEvent:
    nad = draw(st.sampled_from(NADS))
    if draw(st.integers(0, 5)) == 0:
        return NetworkEvent(nad, None)
    name, subnets = draw(st.sampled_from(NETWORK_CHOICES[nad]))
    cni = draw(st.sampled_from((OVN_CNI_TYPE,) * 5 + ("macvlan",)))
    return NetworkEvent(nad, Network(nad, name, "layer2", cni, subnets))


@st.composite
def namespace_event_st(draw: st.DrawFn) -> NamespaceEvent:
    name = draw(st.sampled_from(NAMESPACES))
    if draw(st.integers(0, 5)) == 0:
        return NamespaceEvent(name, None)
    extra = draw(st.sampled_from(((), (("team", "red"),), (("team", "blue"),))))
    return NamespaceEvent(
        name, Namespace(name, tuple(sorted(((NAMESPACE_NAME_LABEL, name), *extra))))
    )


@st.composite
def pod_event_st(draw: st.DrawFn) -> PodEvent:
    pod = draw(pod_st())
    if draw(st.integers(0, 5)) == 0:
        return PodEvent((pod.namespace, pod.name), None)
    return PodEvent((pod.namespace, pod.name), pod)


@st.composite
def policy_event_st(draw: st.DrawFn) -> PolicyEvent:
    policy = draw(policy_st)
    kind = draw(st.integers(0, 7))
    if kind == 0:
        return PolicyEvent(policy.key, None)
    if kind == 1:
        return PolicyEvent(policy.key, None, ("spec.podSelector: Invalid value",))
    return PolicyEvent(policy.key, policy)


event_st = st.one_of(
    pod_event_st(), pod_event_st(), namespace_event_st(), network_event_st(), policy_event_st()
)


@dataclass
class Cluster:
    """The reference: the cluster as plain maps, made a Snapshot for the full compile."""

    namespaces: dict[str, Namespace] = field(default_factory=dict)
    pods: dict[tuple[str, str], Pod] = field(default_factory=dict)
    networks: dict[NadKey, Network] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    rejected: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def apply(self, e: Event) -> None:
        if isinstance(e, PodEvent):
            _set(self.pods, e.key, e.pod)
        elif isinstance(e, NamespaceEvent):
            _set(self.namespaces, e.name, e.namespace)
        elif isinstance(e, NetworkEvent):
            _set(self.networks, e.nad, e.network)
        else:
            _set(self.policies, e.key, e.policy)
            _set(self.rejected, e.key, e.rejected or None)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            namespaces=tuple(self.namespaces.values()),
            pods=tuple(self.pods.values()),
            networks=tuple(self.networks.values()),
            policies=tuple(self.policies.values()),
            rejected=tuple(sorted(self.rejected.items())),
        )


def _set(d: dict[Any, Any], key: Any, value: object) -> None:
    if value is None:
        d.pop(key, None)
    else:
        d[key] = value


def rows_by_key(state: DesiredState) -> dict[str, AnyRow]:
    rows: list[AnyRow] = [*state.port_groups, *state.address_sets, *state.acls]
    return {r.key: r for r in rows}


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event_st, min_size=1, max_size=25))
def test_incremental_equals_full_compile_after_every_event(events: list[Event]) -> None:
    compiler = IncrementalCompiler()
    cluster = Cluster()
    before: dict[str, AnyRow] = {}
    statuses_before: dict[str, PolicyStatus] = {}
    for event in events:
        compiler.apply(event)
        cluster.apply(event)
        delta = compiler.flush()
        expected = compile(cluster.snapshot())
        assert compiler.desired() == expected
        after = rows_by_key(expected)
        patched = {k: v for k, v in before.items() if k not in delta.deletions}
        patched.update(delta.upserts)
        assert patched == after
        assert not (delta.deletions & set(after))
        before = after
        # The event path's statuses: exactly those that changed, and desired_for gives them.
        statuses_after = {s.policy: s for s in expected.statuses}
        changed = {
            k: statuses_after.get(k)
            for k in statuses_before.keys() | statuses_after.keys()
            if statuses_before.get(k) != statuses_after.get(k)
        }
        assert delta.statuses == changed
        part = compiler.desired_for(delta.keys, delta.statuses)
        assert part.statuses == tuple(s for _, s in sorted(changed.items()) if s is not None)
        assert all(after[k] == row for k, row in rows_by_key(part).items())
        assert compiler.desired_for(delta.keys).statuses == expected.statuses
        statuses_before = statuses_after


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event_st, max_size=20), st.lists(event_st, max_size=20))
def test_events_between_snapshots_and_load(first: list[Event], second: list[Event]) -> None:
    """Batches: many events then one flush; and ``load`` (the resync path) of a snapshot."""
    compiler = IncrementalCompiler()
    cluster = Cluster()
    for event in first:
        compiler.apply(event)
        cluster.apply(event)
    compiler.flush()
    assert compiler.desired() == compile(cluster.snapshot())
    old = cluster.snapshot()
    for event in second:
        cluster.apply(event)
    resynced = IncrementalCompiler()
    resynced.load(old)
    for event in events_between(old, cluster.snapshot()):
        resynced.apply(event)
    resynced.flush()
    assert resynced.desired() == compile(cluster.snapshot())
    assert compiler.load(cluster.snapshot()) is not None
    assert compiler.desired() == compile(cluster.snapshot())


# -- the work one event costs -------------------------------------------------------------------

SCALE_NAD = NadKey("bench", "net")
GROUPS = 50


def scaled_cluster(n_pods: int, n_policies: int) -> Snapshot:
    """Pods spread over GROUPS app labels; each policy selects one group and peers with
    the next, so the rows one pod touches depend on GROUPS, never on the pod count."""
    net = Network(SCALE_NAD, "bench-net", "layer2", OVN_CNI_TYPE, ("10.64.0.0/16",))
    pods = []
    for i in range(n_pods):
        att = Attachment((f"10.64.{i // 250}.{i % 250 + 2}/16",), f"0a:58:0a:40:00:{i % 250:02x}")
        pods.append(
            Pod(
                "bench",
                f"pod-{i}",
                (("app", f"g{i % GROUPS}"),),
                "n1",
                (SCALE_NAD,),
                ((SCALE_NAD, att),),
                (ContainerPort("http", 8080),),
            )
        )
    policies = []
    for j in range(n_policies):
        peer = Peer(pod_selector=LabelSelector((("app", f"g{(j + 1) % GROUPS}"),)))
        policies.append(
            Policy(
                "bench",
                f"pol-{j}",
                (SCALE_NAD,),
                LabelSelector((("app", f"g{j % GROUPS}"),)),
                (Rule((Port("TCP", "http"),), (peer,)),),
                (Rule((Port("UDP", 53),), (peer,)),),
                frozenset({"Ingress", "Egress"}),
            )
        )
    return Snapshot((Namespace("bench"),), tuple(pods), (net,), tuple(policies))


def relabel_work(n_pods: int) -> tuple[int, int, int]:
    """(units, rows computed, rows changed) for one pod moving from group g7 to g8."""
    snapshot = scaled_cluster(n_pods, 200)
    compiler = IncrementalCompiler()
    compiler.load(snapshot)
    pod = next(p for p in snapshot.pods if p.name == "pod-7")
    compiler.apply(PodEvent(("bench", "pod-7"), replace(pod, labels=(("app", "g8"),))))
    delta = compiler.flush()
    moved = replace(
        snapshot,
        pods=tuple(
            replace(p, labels=(("app", "g8"),)) if p.name == "pod-7" else p for p in snapshot.pods
        ),
    )
    assert compiler.desired() == compile(moved)
    return delta.units_computed, delta.rows_computed, len(delta.keys)


def test_one_relabel_recomputes_rows_independent_of_the_pod_count() -> None:
    """200 policies over 50 groups (pol-j selects g[j%50], peers with g[j%50+1]): the pod
    leaves g7 and joins g8, so the 4 policies each with j%50 in {6, 7, 8} are recompiled:
    12 units of 6 rows (port group, named-port group, 2 address sets, 2 ACLs). The pod is
    isolated before and after, so the namespace's deny groups keep their ports and are not
    recomputed. Five times the pods, the same work."""
    small = relabel_work(1_000)
    large = relabel_work(5_000)
    assert small == large
    units, computed, changed = large
    assert units == 12
    assert computed == 12 * 6
    assert 0 < changed <= computed


def test_a_pod_leaving_every_policy_recomputes_only_its_namespaces_deny_groups() -> None:
    """20 policies select g0..g19: pod-7 moving to g40 leaves the two (g6's and g7's
    peers; g7's own) units, and the deny groups of both directions (3 rows each) lose it."""
    snapshot = scaled_cluster(1_000, 20)
    compiler = IncrementalCompiler()
    compiler.load(snapshot)
    moved = replace(next(p for p in snapshot.pods if p.name == "pod-7"), labels=(("app", "g40"),))
    compiler.apply(PodEvent(("bench", "pod-7"), moved))
    delta = compiler.flush()
    after = replace(snapshot, pods=tuple(moved if p.name == "pod-7" else p for p in snapshot.pods))
    assert compiler.desired() == compile(after)
    assert (delta.units_computed, delta.rows_computed) == (2, 2 * 6 + 2 * 3)
    deny = [
        r
        for r in delta.upserts.values()
        if isinstance(r, PortGroupRow) and isinstance(r.row_id, DenyPortGroupId)
    ]
    pod_port = lsp_name(SCALE_NAD, "bench", "pod-7")
    assert len(deny) == 2
    assert all(pod_port not in r.ports and r.ports for r in deny)


def test_a_pod_update_that_changes_nothing_compile_reads_does_no_work() -> None:
    snapshot = scaled_cluster(100, 20)
    compiler = IncrementalCompiler()
    compiler.load(snapshot)
    same = replace(snapshot.pods[3])  # an equal model: what a status-only update leaves
    compiler.apply(PodEvent(("bench", same.name), same))
    delta = compiler.flush()
    assert not delta
    assert (delta.units_computed, delta.rows_computed) == (0, 0)


def test_a_pod_no_policy_reads_recompiles_nothing() -> None:
    compiler = IncrementalCompiler()
    compiler.load(scaled_cluster(100, 20))  # policies cover groups g0..g20 only
    loner = Pod("bench", "loner", (("app", "g40"),), "n1", (SCALE_NAD,))
    compiler.apply(PodEvent(("bench", "loner"), loner))
    assert compiler.flush().units_computed == 0


def test_a_namespace_relabel_recompiles_only_policies_whose_peers_live_there() -> None:
    """A peer ``team=red`` namespaces' ``app=g1`` pods: relabelling a namespace without
    such pods recompiles nothing; one with such a pod recompiles that policy's unit."""
    peer = Peer(
        pod_selector=LabelSelector((("app", "g1"),)),
        namespace_selector=LabelSelector((("team", "red"),)),
    )
    policy = Policy(
        "bench",
        "from-red",
        (SCALE_NAD,),
        LabelSelector((("app", "g0"),)),
        (Rule((), (peer,)),),
        (),
        frozenset({"Ingress"}),
    )
    base = scaled_cluster(100, 0)
    att = Attachment(("10.64.9.9/16",), "0a:58:0a:40:09:09")
    pods = (
        Pod("web", "w", (("app", "g1"),), "n1", (SCALE_NAD,), ((SCALE_NAD, att),)),
        Pod("db", "d", (("app", "g2"),), "n1", (SCALE_NAD,)),
    )
    snapshot = replace(
        base,
        namespaces=(*base.namespaces, Namespace("web"), Namespace("db")),
        pods=(*base.pods, *pods),
        policies=(policy,),
    )
    compiler = IncrementalCompiler()
    compiler.load(snapshot)
    red = (("team", "red"),)
    compiler.apply(NamespaceEvent("db", Namespace("db", red)))
    assert compiler.flush().units_computed == 0
    compiler.apply(NamespaceEvent("web", Namespace("web", red)))
    delta = compiler.flush()
    assert delta.units_computed == 1
    after = replace(
        snapshot, namespaces=(*base.namespaces, Namespace("web", red), Namespace("db", red))
    )
    assert compiler.desired() == compile(after)
    sets = [r for r in delta.upserts.values() if isinstance(r, AddressSetRow)]
    assert [r.addresses for r in sets] == [("10.64.9.9",)]
