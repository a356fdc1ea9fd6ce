"""The reference connectivity model against hand-written answers (FACTS §3 pitfalls)."""

from __future__ import annotations

from mnp.model import (
    Attachment,
    ContainerPort,
    Direction,
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
from mnp_lab.connectivity import (
    Endpoint,
    ProbePort,
    endpoints,
    expected_matrix,
    is_allowed,
    policy_ports,
)

NAD = NadKey("x", "blue")
NAD_SAME_NET = NadKey("y", "blue-too")  # another NAD of the same network
NAD_OTHER = NadKey("x", "red")
NETWORKS = (
    Network(NAD, "blue", "layer2", "ovn-k8s-cni-overlay", ("10.0.0.0/24",)),
    Network(NAD_SAME_NET, "blue", "layer2", "ovn-k8s-cni-overlay", ("10.0.0.0/24",)),
    Network(NAD_OTHER, "red", "layer2", "ovn-k8s-cni-overlay", ("10.9.0.0/24",)),
)
NAMESPACES = (
    Namespace("x", (("kubernetes.io/metadata.name", "x"), ("team", "a"))),
    Namespace("y", (("kubernetes.io/metadata.name", "y"), ("team", "b"))),
    Namespace("z", (("kubernetes.io/metadata.name", "z"),)),
)


def sel(**labels: str) -> LabelSelector:
    return LabelSelector(match_labels=tuple(sorted(labels.items())))


def pod(
    ns: str,
    name: str,
    ip: str,
    ports: tuple[ContainerPort, ...] = (),
    nad: NadKey = NAD,
    **labels: str,
) -> Pod:
    return Pod(
        namespace=ns,
        name=name,
        labels=tuple(sorted({"pod": name, **labels}.items())),
        attachments=((nad, Attachment((f"{ip}/24",), "0a:58:00:00:00:01")),),
        ports=ports,
    )


ALL = LabelSelector()


def policy(
    selector: LabelSelector = ALL,
    ingress: tuple[Rule, ...] | None = None,
    egress: tuple[Rule, ...] | None = None,
    ns: str = "x",
    name: str = "p",
    policy_for: tuple[NadKey, ...] = (NAD,),
) -> Policy:
    types: set[Direction] = set()
    if ingress is not None:
        types.add("Ingress")
    if egress is not None:
        types.add("Egress")
    return Policy(ns, name, policy_for, selector, ingress or (), egress or (), frozenset(types))


A = pod("x", "a", "10.0.0.1", ports=(ContainerPort("http", 8080),))
B = pod("x", "b", "10.0.0.2", ports=(ContainerPort("http", 9090),))
C = pod("y", "c", "10.0.0.3")
D = pod("z", "d", "10.0.0.4")


def snap(*policies: Policy, pods: tuple[Pod, ...] = (A, B, C, D)) -> Snapshot:
    return Snapshot(namespaces=NAMESPACES, pods=pods, networks=NETWORKS, policies=policies)


def ep(p: Pod) -> Endpoint:
    ip = p.attachments[0][1].ips[0].split("/")[0]
    return Endpoint(ip, p, p.attachments[0][0])


def ok(s: Snapshot, src: Pod | str, dst: Pod | str, port: int = 80, proto: str = "TCP") -> bool:
    e_src = Endpoint(src) if isinstance(src, str) else ep(src)
    e_dst = Endpoint(dst) if isinstance(dst, str) else ep(dst)
    return is_allowed(s, "blue", e_src, e_dst, proto, port)  # type: ignore[arg-type]


def test_no_policy_allows_everything() -> None:
    s = snap()
    assert ok(s, A, B) and ok(s, C, A) and ok(s, A, "192.0.2.1")


def test_empty_ingress_list_denies_all_ingress_but_not_egress() -> None:
    s = snap(policy(sel(pod="a"), ingress=()))
    assert not ok(s, B, A)
    assert not ok(s, C, A)
    assert ok(s, A, B)  # a is not isolated for egress
    assert ok(s, B, C)  # unselected pods are untouched


def test_one_empty_rule_allows_all() -> None:
    s = snap(policy(sel(pod="a"), ingress=(Rule(),)))
    assert ok(s, B, A) and ok(s, D, A) and ok(s, "198.51.100.7", A)


def test_traffic_needs_source_egress_and_destination_ingress() -> None:
    deny_egress_b = policy(sel(pod="b"), egress=(), name="deny-egress")
    allow_into_a = policy(sel(pod="a"), ingress=(Rule(peers=(Peer(pod_selector=sel(pod="b")),)),))
    s = snap(deny_egress_b, allow_into_a)
    assert not ok(s, B, A)  # a allows b in, but b may not send
    s2 = snap(allow_into_a)
    assert ok(s2, B, A)
    assert not ok(s2, C, A)


def test_policies_are_additive_and_except_only_carves_its_own_block() -> None:
    carve = Peer(ip_block=IPBlock("10.0.0.0/24", ("10.0.0.2/32",)))
    p1 = policy(sel(pod="a"), ingress=(Rule(peers=(carve,)),), name="p1")
    assert not ok(snap(p1), B, A)
    assert ok(snap(p1), C, A)
    p2 = policy(sel(pod="a"), ingress=(Rule(peers=(Peer(pod_selector=sel(pod="b")),)),), name="p2")
    assert ok(snap(p1, p2), B, A)  # another policy still allows b


def test_ip_block_matches_pod_addresses() -> None:
    s = snap(policy(sel(pod="a"), ingress=(Rule(peers=(Peer(ip_block=IPBlock("10.0.0.3/32")),)),)))
    assert ok(s, C, A)
    assert not ok(s, B, A)


def test_named_port_resolves_on_the_destination_pod() -> None:
    rule = Rule(ports=(Port("TCP", "http"),))
    s = snap(policy(LabelSelector(), ingress=(rule,)))
    assert ok(s, B, A, 8080)
    assert not ok(s, B, A, 9090)  # 9090 is "http" on b, not on a
    assert ok(s, A, B, 9090)
    assert not ok(s, A, B, 8080)
    assert not ok(s, A, B, 9090, "UDP")  # the name is a TCP port


def test_named_port_in_egress_resolves_on_destination_too() -> None:
    s = snap(policy(sel(pod="b"), egress=(Rule(ports=(Port("TCP", "http"),)),)))
    assert ok(s, B, A, 8080)
    assert not ok(s, B, A, 9090)
    assert not ok(s, B, "192.0.2.1", 8080)  # an external address has no named ports


def test_udp_only_policy_still_isolates_and_does_not_open_tcp() -> None:
    s = snap(policy(sel(pod="a"), ingress=(Rule(ports=(Port("UDP", 53),)),)))
    assert ok(s, B, A, 53, "UDP")
    assert not ok(s, B, A, 53, "TCP")
    assert not ok(s, B, A, 80, "TCP")


def test_port_range() -> None:
    s = snap(policy(sel(pod="a"), ingress=(Rule(ports=(Port("TCP", 1000, 2000),)),)))
    assert ok(s, B, A, 1000) and ok(s, B, A, 2000) and ok(s, B, A, 1500)
    assert not ok(s, B, A, 999) and not ok(s, B, A, 2001)


def test_not_in_matches_a_missing_key_and_empty_value_needs_the_key() -> None:
    not_in = LabelSelector(match_expressions=(Requirement("role", "NotIn", ("db",)),))
    s = snap(policy(sel(pod="a"), ingress=(Rule(peers=(Peer(pod_selector=not_in),)),)))
    assert ok(s, B, A)  # b has no "role" label
    empty = LabelSelector(match_labels=(("role", ""),))
    s2 = snap(policy(sel(pod="a"), ingress=(Rule(peers=(Peer(pod_selector=empty),)),)))
    assert not ok(s2, B, A)


def test_bare_pod_selector_means_own_namespace() -> None:
    s = snap(policy(sel(pod="a"), ingress=(Rule(peers=(Peer(pod_selector=LabelSelector()),)),)))
    assert ok(s, B, A)
    assert not ok(s, C, A)


def test_empty_namespace_selector_means_all_namespaces() -> None:
    all_ns = Peer(namespace_selector=LabelSelector())
    s = snap(policy(sel(pod="a"), ingress=(Rule(peers=(all_ns,)),)))
    assert ok(s, C, A) and ok(s, D, A)
    assert not ok(s, "192.0.2.1", A)  # selectors never match external addresses


def test_namespace_and_pod_selector_in_one_peer_is_and() -> None:
    both = Peer(namespace_selector=sel(team="b"), pod_selector=sel(pod="c"))
    s = snap(policy(sel(pod="a"), ingress=(Rule(peers=(both,)),)))
    assert ok(s, C, A)
    assert not ok(s, B, A)  # team=a namespace
    other_c = pod("z", "c", "10.0.0.9")
    s2 = snap(policy(sel(pod="a"), ingress=(Rule(peers=(both,)),)), pods=(A, C, other_c))
    assert not ok(s2, other_c, A)


def test_namespace_selector_or_pod_selector_in_separate_peers() -> None:
    peers = (Peer(namespace_selector=sel(team="b")), Peer(pod_selector=sel(pod="b")))
    s = snap(policy(sel(pod="a"), ingress=(Rule(peers=peers),)))
    assert ok(s, C, A) and ok(s, B, A)
    assert not ok(s, D, A)


def test_policy_selects_only_pods_of_its_namespace() -> None:
    s = snap(policy(LabelSelector(), ingress=(), ns="y"))
    assert not ok(s, A, C)
    assert ok(s, C, A)


def test_policy_applies_per_network_and_across_nads_of_the_same_network() -> None:
    other_network = snap(policy(sel(pod="a"), ingress=(), policy_for=(NAD_OTHER,)))
    assert ok(other_network, B, A)
    # A NAD in another namespace that names the same network: the policy applies.
    a2 = pod("x", "a", "10.0.0.1", nad=NAD_SAME_NET)
    same_network = snap(policy(sel(pod="a"), ingress=(), policy_for=(NAD,)), pods=(a2, B))
    assert not ok(same_network, B, a2)


def test_external_endpoints_are_never_isolated_and_egress_ip_block() -> None:
    egress = Rule(peers=(Peer(ip_block=IPBlock("192.0.2.0/24", ("192.0.2.128/25",))),))
    s = snap(policy(sel(pod="a"), egress=(egress,)))
    assert ok(s, A, "192.0.2.10")
    assert not ok(s, A, "192.0.2.200")
    assert not ok(s, A, B)
    assert ok(s, "192.0.2.200", A)  # a is not isolated for ingress


def test_ip_block_family_must_match() -> None:
    s = snap(policy(sel(pod="a"), ingress=(Rule(peers=(Peer(ip_block=IPBlock("::/0")),)),)))
    assert not ok(s, B, A)


def test_expected_matrix_pairs_distinct_pods_of_the_same_family() -> None:
    s = snap(policy(sel(pod="a"), ingress=()))
    m = expected_matrix(s, "blue", [ProbePort("TCP", 80)], externals=["192.0.2.1", "2001:db8::1"])
    pairs = {(p.src.label, p.dst.label): v for p, v in m.cells}
    pods = ["x/a", "x/b", "y/c", "z/d"]
    assert list(pairs) == [
        *((s, d) for s in pods for d in (*pods, "192.0.2.1") if s != d),
        *(("192.0.2.1", d) for d in pods),  # external rows last; never external to external
    ]
    assert pairs[("x/b", "x/a")] is False
    assert pairs[("x/a", "x/b")] is True
    assert pairs[("x/a", "192.0.2.1")] is True
    assert pairs[("192.0.2.1", "x/a")] is False
    assert pairs[("192.0.2.1", "x/b")] is True
    assert not any("2001:db8::1" in pair for pair in pairs)  # no IPv6 pods
    assert [e.label for e in endpoints(s, "blue")] == ["x/a", "x/b", "y/c", "z/d"]


def test_policy_ports_lists_numbers_range_ends_and_named_ports() -> None:
    rules = (Rule(ports=(Port("TCP", 81), Port("UDP", 1000, 1002), Port("TCP", "http"))),)
    s = snap(policy(sel(pod="a"), ingress=rules))
    assert [str(p) for p in policy_ports(s, "blue")] == [
        "81/TCP",
        "1000/UDP",
        "1002/UDP",
        "8080/TCP",
        "9090/TCP",
    ]
    assert [str(p) for p in policy_ports(snap(), "blue")] == ["80/TCP"]


def test_external_source_meets_the_destination_ingress_ip_block_and_port() -> None:
    # "Only 192.0.2.0/24, except its top /25, may reach a on 5432."
    db = Peer(ip_block=IPBlock("192.0.2.0/24", ("192.0.2.128/25",)))
    s = snap(policy(sel(pod="a"), ingress=(Rule(ports=(Port("TCP", 5432),), peers=(db,)),)))
    assert ok(s, "192.0.2.10", A, 5432)
    assert not ok(s, "192.0.2.10", A, 80)  # another port
    assert not ok(s, "192.0.2.200", A, 5432)  # in the except
    assert not ok(s, "198.51.100.7", A, 5432)  # outside the cidr
    assert not ok(s, "2001:db8::1", A, 5432)  # another family
    assert not ok(s, B, A, 5432)  # a pod outside the block
    assert ok(s, "198.51.100.7", B, 80)  # b is not isolated


def test_external_source_is_never_isolated_for_egress() -> None:
    # An all-pods egress deny in every namespace isolates pods only, never the outside.
    deny = tuple(policy(egress=(), ns=ns, name=f"deny-{ns}") for ns in ("x", "y", "z"))
    s = snap(*deny)
    assert ok(s, "192.0.2.1", A) and ok(s, "192.0.2.1", C)
    assert not ok(s, B, A)


def test_selector_peers_never_match_an_external_source() -> None:
    peers = (
        Peer(pod_selector=LabelSelector()),
        Peer(namespace_selector=LabelSelector()),
        Peer(namespace_selector=LabelSelector(), pod_selector=LabelSelector()),
    )
    s = snap(policy(sel(pod="a"), ingress=(Rule(peers=peers),)))
    assert ok(s, D, A)
    assert not ok(s, "192.0.2.1", A)


def test_named_port_from_an_external_source_resolves_on_the_pod() -> None:
    rule = Rule(ports=(Port("TCP", "http"),), peers=(Peer(ip_block=IPBlock("0.0.0.0/0")),))
    s = snap(policy(LabelSelector(), ingress=(rule,)))
    assert ok(s, "192.0.2.1", A, 8080) and not ok(s, "192.0.2.1", A, 9090)
    assert ok(s, "192.0.2.1", B, 9090) and not ok(s, "192.0.2.1", B, 8080)
