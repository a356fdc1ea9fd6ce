"""compile(): representative policies -> the exact OVN rows (matches written out literally)."""

from __future__ import annotations

import random
import re

from enforcer.compile import compile
from enforcer.desired import AclRow, AddressSetRow, DesiredState, PortGroupRow
from enforcer.row_ids import KEY, OWNER, POLICY, object_name
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
    Rule,
    Snapshot,
)

NAD = NadKey("ns1", "l2")
L2 = Network(NAD, "l2net", "layer2", OVN_CNI_TYPE, ("192.168.100.0/24",))


def sel(**labels: str) -> LabelSelector:
    return LabelSelector(tuple(sorted(labels.items())))


def pod(
    name: str,
    ips: tuple[str, ...],
    ns: str = "ns1",
    nad: NadKey = NAD,
    ports: tuple[ContainerPort, ...] = (),
    node: str = "n1",
    **labels: str,
) -> Pod:
    return Pod(
        ns,
        name,
        tuple(sorted(labels.items())),
        node,
        (nad,),
        ((nad, Attachment(ips, "0a:58:c0:a8:64:0a")),),
        ports,
    )


def policy(
    name: str = "p",
    ingress: tuple[Rule, ...] = (),
    egress: tuple[Rule, ...] = (),
    types: tuple[str, ...] = ("Ingress",),
    selector: LabelSelector | None = None,
    nads: tuple[NadKey, ...] = (NAD,),
    ns: str = "ns1",
) -> Policy:
    return Policy(
        ns,
        name,
        nads,
        selector if selector is not None else sel(app="server"),
        ingress,
        egress,
        frozenset(types),  # type: ignore[arg-type]
    )


SERVER = pod("server", ("192.168.100.10/24",), app="server")
CLIENT = pod("client", ("192.168.100.11/24",), app="client")
OTHER = pod("other", ("192.168.100.12/24",), app="other")
NS1 = Namespace("ns1", (("team", "a"),))


def snap(*policies: Policy, pods: tuple[Pod, ...] = (SERVER, CLIENT, OTHER)) -> Snapshot:
    return Snapshot((NS1, Namespace("ns2", (("team", "b"),))), pods, (L2,), policies)


def pg(key: str) -> str:
    return object_name(key)


def acls(d: DesiredState) -> dict[str, AclRow]:
    return {a.key: a for a in d.acls}


POLICY_PG = pg("pg|policy|l2net|ns1/p")
DENY_IN = pg("pg|deny|l2net|ns1|ingress")
DENY_OUT = pg("pg|deny|l2net|ns1|egress")


def test_ingress_from_pod_selector_on_port_80() -> None:
    d = compile(
        snap(policy(ingress=(Rule((Port("TCP", 80),), (Peer(pod_selector=sel(app="client")),)),)))
    )
    peer_as = object_name("as|l2net|ns1/p|ingress|0|peer0") + "_v4"
    assert {p.key: p.ports for p in d.port_groups} == {
        "pg|policy|l2net|ns1/p": ("ns1.l2_ns1_server",),
        "pg|deny|l2net|ns1|ingress": ("ns1.l2_ns1_server",),
    }
    assert [(a.name, a.addresses) for a in d.address_sets] == [(peer_as, ("192.168.100.11",))]
    rows = acls(d)
    allow = rows["acl|l2net|ns1/p|ingress|0|tcp"]
    assert (
        allow.match == f"outport == @{POLICY_PG} && ip4.src == ${peer_as} && tcp && tcp.dst == 80"
    )
    assert (allow.direction, allow.priority, allow.action, allow.options) == (
        "to-lport",
        1001,
        "allow-related",
        (),
    )
    drop = rows["acl|deny|l2net|ns1|ingress|drop"]
    assert (drop.match, drop.priority, drop.action) == (f"outport == @{DENY_IN}", 1000, "drop")
    arp = rows["acl|deny|l2net|ns1|ingress|arp"]
    assert (arp.match, arp.priority, arp.action) == (
        f"outport == @{DENY_IN} && (arp || nd)",
        1001,
        "allow",
    )
    assert len(rows) == 3
    assert [(s.policy, s.state) for s in d.statuses] == [("ns1/p", "applied")]


def test_deny_all_and_allow_all() -> None:
    deny = compile(snap(policy(ingress=())))
    assert sorted(acls(deny)) == [
        "acl|deny|l2net|ns1|ingress|arp",
        "acl|deny|l2net|ns1|ingress|drop",
    ]
    allow = compile(snap(policy(ingress=(Rule(),))))
    assert acls(allow)["acl|l2net|ns1/p|ingress|0|any"].match == f"outport == @{POLICY_PG}"


def test_egress_ip_block_except_udp_only() -> None:
    rule = Rule(
        (Port("UDP", 53),),
        (Peer(ip_block=IPBlock("10.0.0.0/16", ("10.0.1.0/24",))),),
    )
    d = compile(snap(policy(egress=(rule,), types=("Egress",))))
    rows = acls(d)
    allow = rows["acl|l2net|ns1/p|egress|0|udp"]
    assert allow.match == (
        f"inport == @{POLICY_PG} && (ip4.dst == 10.0.0.0/16 && ip4.dst != {{10.0.1.0/24}})"
        " && udp && udp.dst == 53"
    )
    assert (allow.direction, allow.options) == ("from-lport", (("apply-after-lb", "true"),))
    assert rows["acl|deny|l2net|ns1|egress|drop"].match == f"inport == @{DENY_OUT}"
    assert rows["acl|deny|l2net|ns1|egress|drop"].options == (("apply-after-lb", "true"),)
    # UDP only: nothing anywhere opens TCP.
    assert not any("tcp" in a.match for a in d.acls)


def test_ports_grouped_per_protocol_with_ranges() -> None:
    rule = Rule(
        (
            Port("TCP", 80),
            Port("TCP", 443),
            Port("TCP", 1000, 2000),
            Port("SCTP", None),
        )
    )
    rows = acls(compile(snap(policy(ingress=(rule,)))))
    assert rows["acl|l2net|ns1/p|ingress|0|tcp"].match == (
        f"outport == @{POLICY_PG} && tcp && (tcp.dst == {{80,443}} || 1000 <= tcp.dst <= 2000)"
    )
    assert rows["acl|l2net|ns1/p|ingress|0|sctp"].match == f"outport == @{POLICY_PG} && sctp"


def test_namespace_selector_and_combined_peers() -> None:
    ns2_client = pod("c2", ("192.168.100.20/24",), ns="ns2", app="client")
    rule = Rule(
        (),
        (
            Peer(namespace_selector=sel(team="b")),
            Peer(pod_selector=sel(app="client"), namespace_selector=LabelSelector()),
            Peer(ip_block=IPBlock("172.16.0.0/12")),
        ),
    )
    d = compile(snap(policy(ingress=(rule,)), pods=(SERVER, CLIENT, OTHER, ns2_client)))
    as0 = object_name("as|l2net|ns1/p|ingress|0|peer0") + "_v4"
    as1 = object_name("as|l2net|ns1/p|ingress|0|peer1") + "_v4"
    assert {a.name: a.addresses for a in d.address_sets} == {
        as0: ("192.168.100.20",),
        as1: ("192.168.100.11", "192.168.100.20"),
    }
    assert acls(d)["acl|l2net|ns1/p|ingress|0|any"].match == (
        f"outport == @{POLICY_PG} && (ip4.src == {{${as0}, ${as1}}} || ip4.src == 172.16.0.0/12)"
    )


def test_named_port_ingress_resolves_per_destination_pod() -> None:
    s1 = pod("s1", ("192.168.100.30/24",), ports=(ContainerPort("web", 80),), app="server")
    s2 = pod("s2", ("192.168.100.31/24",), ports=(ContainerPort("web", 8080),), app="server")
    s3 = pod("s3", ("192.168.100.32/24",), ports=(ContainerPort("web", 80, "UDP"),), app="server")
    rule = Rule((Port("TCP", "web"), Port("TCP", "nope")))
    d = compile(snap(policy(ingress=(rule,)), pods=(s1, s2, s3, CLIENT)))
    named = {p.key: p.ports for p in d.port_groups if "|named|" in p.key}
    assert named == {
        "pg|named|l2net|ns1/p|ingress|0|tcp-80": ("ns1.l2_ns1_s1",),
        "pg|named|l2net|ns1/p|ingress|0|tcp-8080": ("ns1.l2_ns1_s2",),
    }
    rows = acls(d)
    pg80 = pg("pg|named|l2net|ns1/p|ingress|0|tcp-80")
    assert rows["acl|l2net|ns1/p|ingress|0|named-tcp-80"].match == (
        f"outport == @{pg80} && tcp && tcp.dst == 80"
    )
    # every named ACL hangs off the policy's port group; the unresolvable name adds nothing
    hosts = {a.port_group.key for a in d.acls if "named" in a.key and a.port_group}
    assert hosts == {"pg|policy|l2net|ns1/p"}
    assert len([a for a in d.acls if "named" in a.key]) == 2


def test_named_port_egress_resolves_on_peers() -> None:
    db1 = pod("db1", ("192.168.100.40/24",), ports=(ContainerPort("sql", 5432),), app="db")
    db2 = pod("db2", ("192.168.100.41/24",), ports=(ContainerPort("sql", 3306),), app="db")
    rule = Rule(
        (Port("TCP", "sql"),),
        (Peer(pod_selector=sel(app="db")), Peer(ip_block=IPBlock("192.168.100.41/32"))),
    )
    d = compile(snap(policy(egress=(rule,), types=("Egress",)), pods=(SERVER, db1, db2)))
    a5432 = object_name("as|l2net|ns1/p|egress|0|named-tcp-5432") + "_v4"
    a3306 = object_name("as|l2net|ns1/p|egress|0|named-tcp-3306") + "_v4"
    ases = {a.name: a.addresses for a in d.address_sets}
    assert ases[a5432] == ("192.168.100.40",)
    assert ases[a3306] == ("192.168.100.41",)
    rows = acls(d)
    assert rows["acl|l2net|ns1/p|egress|0|named-tcp-3306"].match == (
        f"inport == @{POLICY_PG} && ip4.dst == ${a3306} && tcp && tcp.dst == 3306"
    )


def test_dual_stack_address_sets() -> None:
    net = Network(NAD, "l2net", "layer2", OVN_CNI_TYPE, ("192.168.100.0/24", "fd00:100::/64"))
    srv = pod("server", ("192.168.100.10/24", "fd00:100::a/64"), app="server")
    cli = pod("client", ("192.168.100.11/24", "fd00:100::b/64"), app="client")
    p = policy(ingress=(Rule((), (Peer(pod_selector=sel(app="client")),)),))
    d = compile(Snapshot((NS1,), (srv, cli), (net,), (p,)))
    base = object_name("as|l2net|ns1/p|ingress|0|peer0")
    assert {a.name: a.addresses for a in d.address_sets} == {
        f"{base}_v4": ("192.168.100.11",),
        f"{base}_v6": ("fd00:100::b",),
    }
    assert acls(d)["acl|l2net|ns1/p|ingress|0|any"].match == (
        f"outport == @{POLICY_PG} && (ip4.src == ${base}_v4 || ip6.src == ${base}_v6)"
    )


def test_ipam_less_allow_all_covers_both_families() -> None:
    net = Network(NAD, "l2net", "layer2", OVN_CNI_TYPE)
    srv = pod("server", (), app="server")
    p = policy(
        ingress=(Rule(),),
        egress=(Rule((), (Peer(ip_block=IPBlock("fd00::/64")),)),),
        types=("Ingress", "Egress"),
    )
    d = compile(Snapshot((NS1,), (srv,), (net,), (p,)))
    rows = acls(d)
    assert rows["acl|l2net|ns1/p|ingress|0|any"].match == f"outport == @{POLICY_PG}"
    assert rows["acl|l2net|ns1/p|egress|0|any"].match == (
        f"inport == @{POLICY_PG} && ip6.dst == fd00::/64"
    )
    assert d.address_sets == ()


def test_layer3_port_group_spans_node_switches() -> None:
    nad = NadKey("ns1", "l3")
    net = Network(nad, "l3net", "layer3", OVN_CNI_TYPE, ("10.128.0.0/16",))
    a = pod("a", ("10.128.1.5/24",), nad=nad, node="n1", app="server")
    b = pod("b", ("10.128.2.5/24",), nad=nad, node="n2", app="server")
    d = compile(Snapshot((NS1,), (a, b), (net,), (policy(nads=(nad,)),)))
    rows = {p.key: p.ports for p in d.port_groups}
    assert rows["pg|policy|l3net|ns1/p"] == ("ns1.l3_ns1_a", "ns1.l3_ns1_b")


def test_rejected_and_unknown_nad_are_skipped_with_reasons() -> None:
    s = Snapshot(
        (NS1,),
        (SERVER,),
        (L2,),
        (policy(name="nonad", nads=(NadKey("ns1", "missing"),)),),
        rejected=(("ns1/bad", ("spec.ingress[0].ports[0].port: Invalid value: 0: bad",)),),
    )
    d = compile(s)
    assert d.port_groups == () and d.acls == ()
    by = {st.policy: st for st in d.statuses}
    assert by["ns1/bad"].state == "skipped"
    assert by["ns1/bad"].reasons == ("spec.ingress[0].ports[0].port: Invalid value: 0: bad",)
    assert by["ns1/nonad"].state == "skipped"
    assert by["ns1/nonad"].reasons == (
        'metadata.annotations[k8s.v1.cni.cncf.io/policy-for]: Not found: "ns1/missing": '
        "NetworkAttachmentDefinition does not exist; create it or fix the annotation",
    )


def test_policy_types_gate_rules() -> None:
    # egress rules of a policy whose types list only Ingress are ignored
    p = policy(ingress=(Rule(),), egress=(Rule(),), types=("Ingress",))
    d = compile(snap(p))
    assert not any(a.direction == "from-lport" for a in d.acls)


def test_deterministic_and_order_independent() -> None:
    p1 = policy("p1", ingress=(Rule((Port("TCP", 80),), (Peer(pod_selector=sel(app="client")),)),))
    p2 = policy("p2", egress=(Rule(),), types=("Egress",), selector=sel(app="client"))
    pods = [SERVER, CLIENT, OTHER]
    first = compile(snap(p1, p2, pods=tuple(pods)))
    random.Random(7).shuffle(pods)
    again = compile(snap(p2, p1, pods=tuple(pods)))
    assert first == again


def test_names_are_ovn_identifiers_and_marked() -> None:
    p = policy(
        "a-very-long-policy-name-that-goes-on-and-on-and-on-forever",
        ingress=(Rule((Port("TCP", 80),), (Peer(pod_selector=sel(app="client")),)),),
    )
    d = compile(snap(p))
    # names are a stable function of the row key (restarts find their rows again)
    assert object_name("pg|policy|l2net|ns1/p") == "mnp_89879cddde38189c"
    named: list[PortGroupRow | AddressSetRow] = [*d.port_groups, *d.address_sets]
    for row in named:
        assert re.fullmatch(r"mnp_[0-9a-f]{16}(_v[46])?", row.name)
    for a in d.acls:
        assert a.name is not None and len(a.name) <= 63
    for marked in (*named, *d.acls):
        ids = dict(marked.external_ids)
        assert ids[OWNER] == "mnp" and ids[KEY] == marked.key
    assert dict(acls(d)[f"acl|l2net|ns1/{p.name}|ingress|0|tcp"].external_ids)[POLICY] == (
        f"ns1/{p.name}"
    )
