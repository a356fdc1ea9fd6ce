"""OVN match builders: the exact strings OVN-Kubernetes' shapes call for."""

from __future__ import annotations

from enforcer import acl_match as m


def test_port_group_match_by_direction() -> None:
    assert m.port_group_match("to-lport", "mnp_x") == "outport == @mnp_x"
    assert m.port_group_match("from-lport", "mnp_x") == "inport == @mnp_x"


def test_address_sets() -> None:
    assert m.address_sets_match(4, "src", ["a_v4"]) == "ip4.src == $a_v4"
    assert m.address_sets_match(6, "dst", ["a_v6", "b_v6"]) == "ip6.dst == {$a_v6, $b_v6}"


def test_ip_block_with_and_without_except() -> None:
    assert m.ip_block_match("src", "10.0.0.0/16") == "ip4.src == 10.0.0.0/16"
    assert (
        m.ip_block_match("dst", "10.0.0.0/16", ["10.0.1.0/24"])
        == "(ip4.dst == 10.0.0.0/16 && ip4.dst != {10.0.1.0/24})"
    )
    assert (
        m.ip_block_match("src", "fd00::/64", ["fd00::/80", "fd00:0:0:0:1::/80"])
        == "(ip6.src == fd00::/64 && ip6.src != {fd00::/80, fd00::1:0:0:0/80})"
    )


def test_l4_shapes() -> None:
    assert m.l4_match("TCP", None) == "tcp"
    assert m.l4_match("UDP", [(53, 53)]) == "udp && udp.dst == 53"
    assert m.l4_match("TCP", [(443, 443), (80, 80)]) == "tcp && tcp.dst == {80,443}"
    assert (
        m.l4_match("TCP", [(80, 80), (443, 443), (1000, 2000)])
        == "tcp && (tcp.dst == {80,443} || 1000 <= tcp.dst <= 2000)"
    )
    assert m.l4_match("SCTP", [(1000, 2000)]) == "sctp && 1000 <= sctp.dst <= 2000"


def test_conjunction_skips_empty_parts() -> None:
    assert m.conjunction(["a", None, "b", ""]) == "a && b"
    assert m.disjunction(["a"]) == "a"
    assert m.disjunction(["a", "b"]) == "(a || b)"
