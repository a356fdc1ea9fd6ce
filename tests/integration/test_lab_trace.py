"""ovn-trace matrices on the real OVN: they show what the NB really does.

These tests write ACLs by hand (never through the enforcer), so they prove the tracer.
"""

from __future__ import annotations

from typing import Any

from mnp.model import Snapshot
from mnp.snapshot import snapshot_from_objects
from mnp_lab.addressing import fill_pod_networks
from mnp_lab.connectivity import ProbePort
from mnp_lab.ovn import OvnSandbox
from mnp_lab.topology import build_topology
from mnp_lab.trace import NetworkMatrix, TraceDaemon, microflow, trace_matrix
from tests.support.k8s_objects import K8sObjects


def lab(ovn: OvnSandbox, objects: list[dict[str, Any]]) -> Snapshot:
    snap = snapshot_from_objects(fill_pod_networks(objects))
    build_topology(ovn, snap)
    return snap


def observed(matrices: list[NetworkMatrix]) -> dict[tuple[str, str, int], bool]:
    """(src label, dst label, family) -> delivered."""
    return {
        (c.probe.src.label, c.probe.dst.label, c.probe.src.family): c.observed
        for m in matrices
        for c in m.cells
    }


def three_pods(k8s: type[K8sObjects], subnets: str) -> list[dict[str, Any]]:
    return [
        k8s.nad("x", "net", "layer2", subnets),
        k8s.pod("x", "a", "x/net"),
        k8s.pod("x", "b", "x/net"),
        k8s.pod("y", "c", "x/net"),
    ]


def test_no_acls_everything_is_delivered(ovn: OvnSandbox, k8s: type[K8sObjects]) -> None:
    snap = lab(ovn, three_pods(k8s, "10.1.0.0/24"))
    [matrix] = trace_matrix(ovn, snap)
    assert matrix.ports == (ProbePort("TCP", 80),)
    assert len(matrix.cells) == 6
    assert all(c.observed for c in matrix.cells)
    assert all(c.expected for c in matrix.cells) and not matrix.disagreements


def test_hand_written_drop_acl_blocks_that_pods_column(
    ovn: OvnSandbox, k8s: type[K8sObjects]
) -> None:
    snap = lab(ovn, three_pods(k8s, "10.1.0.0/24"))
    ovn.nbctl(
        "acl-add", "net_ovn_layer2_switch", "to-lport", "1000", 'outport == "x.net_x_a"', "drop"
    )
    seen = observed(trace_matrix(ovn, snap))
    assert seen[("x/b", "x/a", 4)] is False
    assert seen[("y/c", "x/a", 4)] is False
    assert seen[("x/a", "x/b", 4)] is True
    assert seen[("y/c", "x/b", 4)] is True


def test_stateful_acls_stay_right_across_many_traces_and_daemon_restarts(
    ovn: OvnSandbox, k8s: type[K8sObjects]
) -> None:
    """ovn-trace consumes --ct states across traces; an exhausted supply would make every
    later packet 'established' and slip past the drop. A tiny supply forces restarts."""
    snap = lab(ovn, three_pods(k8s, "10.1.0.0/24"))
    sw = "net_ovn_layer2_switch"
    ovn.nbctl(
        "acl-add",
        sw,
        "to-lport",
        "1001",
        'outport == "x.net_x_a" && tcp.dst == 81',
        "allow-related",
    )
    ovn.nbctl("acl-add", sw, "to-lport", "1000", 'outport == "x.net_x_a"', "drop")
    ovn.sync()
    a = next(p for p in snap.pods if p.name == "a")
    b = next(p for p in snap.pods if p.name == "b")
    a_att, b_att = a.attachments[0][1], b.attachments[0][1]
    a_ip, b_ip = a_att.ips[0].split("/")[0], b_att.ips[0].split("/")[0]
    with TraceDaemon(ovn, supply=10) as daemon:
        for _ in range(12):
            for port, delivered in ((80, False), (81, True)):
                flow = microflow("x.net_x_b", b_att.mac, a_att.mac, b_ip, a_ip, "TCP", port)
                out = daemon.trace(sw, flow)
                assert ('output("x.net_x_a")' in out) is delivered, out
        assert daemon.restarts > 0


def test_dual_stack_and_ipv6_only(ovn: OvnSandbox, k8s: type[K8sObjects]) -> None:
    objs = three_pods(k8s, "10.1.0.0/24,fd00:1::/64")
    objs += [
        k8s.nad("x", "v6", "layer2", "fd00:6::/64"),
        k8s.pod("x", "d", "x/v6"),
        k8s.pod("x", "e", "x/v6"),
    ]
    snap = lab(ovn, objs)
    ovn.nbctl(
        "acl-add",
        "net_ovn_layer2_switch",
        "to-lport",
        "1000",
        'outport == "x.net_x_a" && ip6',
        "drop",
    )
    matrices = {m.network: m for m in trace_matrix(ovn, snap)}
    seen = observed(list(matrices.values()))
    assert seen[("x/b", "x/a", 4)] is True
    assert seen[("x/b", "x/a", 6)] is False
    assert seen[("x/a", "x/b", 6)] is True
    assert {c.probe.src.family for c in matrices["v6"].cells} == {6}
    assert seen[("x/d", "x/e", 6)] is True


def test_layer3_cross_node_is_routed(ovn: OvnSandbox, k8s: type[K8sObjects]) -> None:
    objs = [
        k8s.nad("x", "l3", "layer3", "10.128.0.0/16/24,fd00:10::/48/64"),
        k8s.pod("x", "a", "l3", node="n1"),
        k8s.pod("x", "b", "l3", node="n2"),
        k8s.pod("x", "c", "l3", node="n2"),
    ]
    snap = lab(ovn, objs)
    seen = observed(trace_matrix(ovn, snap))
    assert len(seen) == 12 and all(seen.values())
    ovn.nbctl("acl-add", "l3_n2", "to-lport", "1000", 'outport == "x.l3_x_b"', "drop")
    seen = observed(trace_matrix(ovn, snap))
    assert seen[("x/a", "x/b", 4)] is False  # routed from n1
    assert seen[("x/c", "x/b", 6)] is False  # same node
    assert seen[("x/b", "x/a", 4)] is True


def test_localnet_external_address_from_ip_block(ovn: OvnSandbox, k8s: type[K8sObjects]) -> None:
    objs = [
        k8s.nad("x", "phys", "localnet", "10.20.0.0/24"),
        k8s.pod("x", "vm", "x/phys"),
        k8s.pod("x", "db-client", "x/phys"),
        k8s.policy(
            "x",
            "to-db",
            "x/phys",
            {
                "podSelector": {"matchLabels": {"pod": "vm"}},
                "egress": [
                    {"to": [{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.0/30"]}}]}
                ],
                "policyTypes": ["Egress"],
            },
        ),
    ]
    snap = lab(ovn, objs)
    [matrix] = trace_matrix(ovn, snap)
    external = [c for c in matrix.cells if c.probe.dst.is_external]
    assert {c.probe.dst.ip for c in external} == {"192.0.2.4"}  # inside the cidr, past the except
    assert all(c.observed for c in external)  # no ACLs yet: delivered to the localnet port
    # The reference model expects vm's egress to pods to be blocked: without ACLs OVN disagrees.
    assert {(c.probe.src.label, c.probe.dst.label) for c in matrix.disagreements} == {
        ("x/vm", "x/db-client")
    }
    ovn.nbctl(
        "acl-add",
        "phys_ovn_localnet_switch",
        "from-lport",
        "1000",
        "ip4.dst == 192.0.2.0/24",
        "drop",
    )
    [matrix] = trace_matrix(ovn, snap)
    assert not any(c.observed for c in matrix.cells if c.probe.dst.is_external)


def test_localnet_external_sources_reach_pods_through_the_localnet_port(
    ovn: OvnSandbox, k8s: type[K8sObjects]
) -> None:
    """Only 192.0.2.0/24 may reach the database on 5432, and 198.51.100.0/24 on 22."""
    objs = [
        k8s.nad("x", "phys", "localnet", "10.20.0.0/24"),
        k8s.pod("x", "db", "x/phys"),
        k8s.pod("x", "client", "x/phys"),
        k8s.policy(
            "x",
            "db-ingress",
            "x/phys",
            {
                "podSelector": {"matchLabels": {"pod": "db"}},
                "ingress": [
                    {
                        "from": [{"ipBlock": {"cidr": "192.0.2.0/24"}}],
                        "ports": [{"protocol": "TCP", "port": 5432}],
                    },
                    {
                        "from": [{"ipBlock": {"cidr": "198.51.100.0/24"}}],
                        "ports": [{"protocol": "TCP", "port": 22}],
                    },
                ],
                "policyTypes": ["Ingress"],
            },
        ),
    ]
    snap = lab(ovn, objs)

    def cells() -> dict[tuple[str, str, int], tuple[bool, bool]]:
        [matrix] = trace_matrix(ovn, snap)
        assert matrix.ports == (ProbePort("TCP", 22), ProbePort("TCP", 5432))
        return {
            (c.probe.src.label, c.probe.dst.label, c.probe.port.port): (c.expected, c.observed)
            for c in matrix.cells
        }

    before = cells()
    from_outside = {k: v for k, v in before.items() if k[0] in ("192.0.2.1", "198.51.100.1")}
    assert set(from_outside) == {
        (ext, pod, port)
        for ext in ("192.0.2.1", "198.51.100.1")
        for pod in ("x/client", "x/db")
        for port in (22, 5432)
    }
    assert all(observed for _, observed in from_outside.values())  # no ACLs: all delivered
    assert before[("192.0.2.1", "x/db", 5432)] == (True, True)
    assert before[("198.51.100.1", "x/db", 5432)] == (False, True)

    sw = "phys_ovn_localnet_switch"
    db = 'outport == "x.phys_x_db"'
    for match in (
        f"{db} && ip4.src == 192.0.2.0/24 && tcp.dst == 5432",
        f"{db} && ip4.src == 198.51.100.0/24 && tcp.dst == 22",
    ):
        ovn.nbctl("acl-add", sw, "to-lport", "1001", match, "allow-related")
    ovn.nbctl("acl-add", sw, "to-lport", "1000", db, "drop")
    after = cells()
    observed = {k: v[1] for k, v in after.items()}
    assert observed[("192.0.2.1", "x/db", 5432)] is True
    assert observed[("192.0.2.1", "x/db", 22)] is False
    assert observed[("198.51.100.1", "x/db", 22)] is True
    assert observed[("198.51.100.1", "x/db", 5432)] is False
    assert observed[("x/client", "x/db", 5432)] is False
    assert observed[("198.51.100.1", "x/client", 5432)] is True  # client is not isolated
    assert all(expected == seen for expected, seen in after.values())
