"""OVN match expressions for MultiNetworkPolicy ACLs, in OVN-Kubernetes' shapes.

Pure string builders; the expressions are written out literally in the unit tests.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Literal

Side = Literal["src", "dst"]
PortRange = tuple[int, int]  # inclusive; start == end for a single port

ARP_OR_ND = "(arp || nd)"


def port_group_match(direction: str, port_group: str) -> str:
    """``outport == @pg`` for to-lport (ingress), ``inport == @pg`` for from-lport (egress)."""
    return f"{'outport' if direction == 'to-lport' else 'inport'} == @{port_group}"


def family_of(cidr_or_ip: str) -> int:
    return ipaddress.ip_network(cidr_or_ip, strict=False).version


def ip_field(family: int, side: Side) -> str:
    return f"ip{family}.{side}"


def value_set(values: Sequence[str]) -> str:
    """One value stays bare; several become ``{a, b}``."""
    if len(values) == 1:
        return values[0]
    return "{" + ", ".join(values) + "}"


def address_sets_match(family: int, side: Side, names: Sequence[str]) -> str:
    """``ip4.src == {$as1, $as2}``."""
    return f"{ip_field(family, side)} == {value_set([f'${n}' for n in names])}"


def ip_block_match(side: Side, cidr: str, except_: Sequence[str] = ()) -> str:
    """``ip4.src == 10.0.0.0/16``, or ``(ip4.src == 10.0.0.0/16 && ip4.src != {10.0.1.0/24})``."""
    net = ipaddress.ip_network(cidr, strict=False)
    field = ip_field(net.version, side)
    if not except_:
        return f"{field} == {net}"
    excluded = ", ".join(str(ipaddress.ip_network(e, strict=False)) for e in except_)
    return f"({field} == {net} && {field} != {{{excluded}}})"


def l4_match(protocol: str, ranges: Iterable[PortRange] | None) -> str:
    """``tcp``, ``tcp && tcp.dst == 80`` or ``tcp && (tcp.dst == {80,443} || 1 <= tcp.dst <= 9)``.

    ``ranges`` None means every port of the protocol.
    """
    proto = protocol.lower()
    if ranges is None:
        return proto
    uniq = sorted(set(ranges))
    singles = [str(a) for a, b in uniq if a == b]
    spans = [f"{a} <= {proto}.dst <= {b}" for a, b in uniq if a != b]
    parts: list[str] = []
    if singles:
        parts.append(
            f"{proto}.dst == {singles[0]}"
            if len(singles) == 1
            else f"{proto}.dst == {{{','.join(singles)}}}"
        )
    parts.extend(spans)
    return f"{proto} && {disjunction(parts)}"


def disjunction(parts: Sequence[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return "(" + " || ".join(parts) + ")"


def conjunction(parts: Iterable[str | None]) -> str:
    return " && ".join(p for p in parts if p)
