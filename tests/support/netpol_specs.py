"""NetworkPolicy specs for the differential admission test: upstream's cases and a generator.

``upstream_cases()`` writes the policies of kube's ``TestValidateNetworkPolicy``
(pkg/apis/networking/validation/validation_test.go) as JSON specs, success and error cases
alike; ``generated_specs(seed, count)`` draws specs from valid and invalid pieces (ports,
named ports, endPort, protocols, CIDRs and excepts of both families with non-standard forms,
selectors with every operator and bad keys and values, empty and mixed peers, policyTypes).
Every value is of the right JSON type, so a native NetworkPolicy decodes it as the CRD does.
"""

from __future__ import annotations

import copy
import random
from typing import Any

Spec = dict[str, Any]

_BASE: Spec = {"podSelector": {"matchLabels": {"a": "b"}}}
_INVALID_SELECTOR = {"matchLabels": {"NoUppercaseOrSpecialCharsLike=Equals": "b"}}
_IPV4_BLOCK = {"cidr": "192.168.0.0/16", "except": ["192.168.3.0/24", "192.168.4.0/24"]}
_IPV6_BLOCK = {
    "cidr": "fd00:192:168::/48",
    "except": ["fd00:192:168:3::/64", "fd00:192:168:4::/64"],
}
_NS_CD = {"namespaceSelector": {"matchLabels": {"c": "d"}}}


def _port(protocol: str | None, port: int | str | None, end_port: int | None = None) -> Spec:
    """Upstream's makePort: port 0 or "" means no port."""
    out: Spec = {}
    if protocol is not None:
        out["protocol"] = protocol
    if port not in (None, 0, ""):
        out["port"] = port
    if end_port:
        out["endPort"] = end_port
    return out


def _spec(**fields: Any) -> Spec:
    spec = copy.deepcopy(_BASE)
    spec.update(copy.deepcopy(fields))
    return spec


def _ingress_from(*peers: Spec, ports: list[Spec] | None = None) -> list[Spec]:
    rule: Spec = {"from": list(peers)}
    if ports is not None:
        rule["ports"] = ports
    return [rule]


def _egress_to(*peers: Spec, ports: list[Spec] | None = None) -> list[Spec]:
    rule: Spec = {"to": list(peers)}
    if ports is not None:
        rule["ports"] = ports
    return [rule]


_UPSTREAM_PORTS = [
    _port(None, 80),
    _port("TCP", 0),
    _port("TCP", 443),
    _port("UDP", "dns"),
    _port("SCTP", 7777),
]


def _upstream_success() -> list[Spec]:
    return [
        _spec(ingress=[{}]),
        _spec(ingress=[{"from": [{}], "ports": [{}]}]),
        _spec(ingress=[{"ports": _UPSTREAM_PORTS}]),
        _spec(ingress=_ingress_from({"podSelector": {"matchLabels": {"c": "d"}}})),
        _spec(ingress=_ingress_from(_NS_CD)),
        _spec(ingress=_ingress_from({"podSelector": {"matchLabels": {"e": "f"}}, **_NS_CD})),
        _spec(egress=_egress_to(_NS_CD), ingress=_ingress_from({"ipBlock": _IPV4_BLOCK})),
        _spec(ingress=_ingress_from({"ipBlock": _IPV4_BLOCK})),
        _spec(egress=_egress_to({"ipBlock": _IPV4_BLOCK}), policyTypes=["Egress"]),
        _spec(egress=_egress_to({"ipBlock": _IPV4_BLOCK}), policyTypes=["Ingress", "Egress"]),
        _spec(egress=[{"ports": _UPSTREAM_PORTS}]),
        _spec(egress=_egress_to(_NS_CD), ingress=_ingress_from({"ipBlock": _IPV6_BLOCK})),
        _spec(ingress=_ingress_from({"ipBlock": _IPV6_BLOCK})),
        _spec(egress=_egress_to({"ipBlock": _IPV6_BLOCK}), policyTypes=["Egress"]),
        _spec(egress=_egress_to({"ipBlock": _IPV6_BLOCK}), policyTypes=["Ingress", "Egress"]),
        _spec(egress=[{"ports": [_port(None, 32000, 32768), _port("UDP", "dns")]}]),
        _spec(
            egress=_egress_to(_NS_CD, ports=[_port(None, 30000, 32768), _port(None, 32000, 32768)]),
            ingress=_ingress_from(
                {"podSelector": {"matchLabels": {"e": "f"}}}, ports=[_port("TCP", 32768, 32768)]
            ),
        ),
        # legacyValidationCases: admitted without strict CIDR validation only
        _spec(ingress=_ingress_from({"ipBlock": {**_IPV4_BLOCK, "cidr": "001.002.003.000/0"}})),
    ]


def _ipv4_block(**changes: Any) -> Spec:
    return {"ipBlock": {**_IPV4_BLOCK, **changes}}


def _upstream_errors() -> list[Spec]:
    return [
        _spec(ingress=_ingress_from({**_NS_CD, "ipBlock": _IPV4_BLOCK})),
        _spec(
            egress=_egress_to({"podSelector": {"matchLabels": {"c": "d"}}, "ipBlock": _IPV4_BLOCK})
        ),
        _spec(ingress=[{"from": [{}]}], egress=[{"to": [{}]}]),
        {"podSelector": _INVALID_SELECTOR},
        _spec(ingress=[{"ports": [_port("ICMP", 80)]}]),
        _spec(ingress=[{"ports": [_port("TCP", 123456789)]}]),
        _spec(ingress=[{"ports": [_port("TCP", "!@#$")]}]),
        _spec(ingress=_ingress_from({"podSelector": _INVALID_SELECTOR})),
        _spec(egress=_egress_to({"podSelector": _INVALID_SELECTOR})),
        _spec(egress=[{"ports": [_port("ICMP", 80)]}]),
        _spec(egress=[{"ports": [_port("TCP", 123456789)]}]),
        _spec(egress=[{"ports": [_port("TCP", "!@#$")]}]),
        _spec(ingress=_ingress_from({"namespaceSelector": _INVALID_SELECTOR})),
        _spec(ingress=_ingress_from(_ipv4_block(cidr="192.168.5.6"))),
        _spec(ingress=_ingress_from({"ipBlock": {**_IPV6_BLOCK, "cidr": "fd00:192:168::"}})),
        _spec(ingress=_ingress_from(_ipv4_block(**{"except": [""]}))),
        _spec(ingress=_ingress_from(_ipv4_block(**{"except": [" "]}))),
        _spec(ingress=_ingress_from(_ipv4_block(**{"except": ["300.300.300.300"]}))),
        _spec(
            ingress=_ingress_from(
                {"ipBlock": {"cidr": "192.168.8.0/24", "except": ["192.168.9.1/32"]}}
            )
        ),
        _spec(
            ingress=_ingress_from(
                {"ipBlock": {"cidr": "192.168.0.0/24", "except": ["192.168.0.0/24"]}}
            )
        ),
        _spec(
            ingress=_ingress_from(
                {"ipBlock": {"cidr": "fd00:192:168:1::/64", "except": ["fd00:192:168:2::/64"]}}
            )
        ),
        _spec(egress=_egress_to({"ipBlock": _IPV4_BLOCK}), policyTypes=["foo", "bar"]),
        _spec(egress=_egress_to({"ipBlock": _IPV4_BLOCK}), policyTypes=["foo", "bar", "baz"]),
        _spec(
            egress=_egress_to(_NS_CD, ports=[_port("UDP", 35000, 32768), _port(None, 32000, 32768)])
        ),
        _spec(
            egress=_egress_to(_NS_CD, ports=[_port("UDP", "dns", 32768), _port(None, 32000, 32768)])
        ),
        _spec(egress=_egress_to(_NS_CD, ports=[_port("TCP", 0, 32768)])),
        _spec(egress=_egress_to(_NS_CD, ports=[_port("SCTP", 35000, 32768)])),
        _spec(
            egress=_egress_to(
                _NS_CD,
                ports=[
                    _port("UDP", 35000, 32768),
                    _port("TCP", 0, 32768),
                    _port("TCP", "https", 32768),
                ],
            )
        ),
        _spec(egress=_egress_to(_NS_CD, ports=[_port("TCP", 30000, 65537)])),
    ]


def upstream_cases() -> list[Spec]:
    """TestValidateNetworkPolicy's success, legacy-CIDR and error cases, as specs."""
    return _upstream_success() + _upstream_errors()


# --- the generator -------------------------------------------------------------------------

_PROTOCOLS = [None, None, "TCP", "UDP", "SCTP", "tcp", "ICMP"]
_NUMBERS = [80, 443, 1, 65535, 0, 65536, -1, 32000, 35000]
_NAMES = [
    "http",
    "dns-tcp",
    "serve-80-tcp",
    "Http",
    "a--b",
    "-web",
    "web-",
    "1234",
    "toolongportname16",
    "",
]
_END_PORTS = [None, None, None, 32768, 80, 65535, 65537, 0]
_CIDRS_V4 = [
    "10.0.0.0/8", "192.168.1.0/24", "0.0.0.0/0", "10.0.0.1/8", "010.0.0.0/8", "10.0.0.0/08",
    "10.0.0.0/33", "10.0.0/8", "10.0.0.0", "not-a-cidr", "192.168.001.0/24",
]  # fmt: skip
_CIDRS_V6 = [
    "2001:db8::/32", "fd00::/8", "2001:DB8::/32", "2001:0db8::/32", "2001:db8::1/32",
    "::ffff:10.0.0.0/104", "::ffff:10.0.0.1/104", "2001:db8::/129", "2001:db8:::/32", "::/0",
]  # fmt: skip
_EXCEPTS = {
    "10.0.0.0/8": ["10.1.0.0/16", "10.0.0.0/8", "11.0.0.0/16", "010.1.0.0/16", "10.1.0.1/16"],
    "192.168.1.0/24": ["192.168.1.128/25", "192.168.2.0/25", "fd00::/16"],
    "0.0.0.0/0": ["10.0.0.0/8", "0.0.0.0/0"],
    "2001:db8::/32": ["2001:db8:1::/48", "2001:DB8:2::/48", "2001:db9::/48", "10.0.0.0/8"],
    "fd00::/8": ["fd00:1::/32", "fd00:1::1/32"],
    "::ffff:10.0.0.0/104": ["::ffff:10.1.0.0/112"],
    "010.0.0.0/8": ["010.1.0.0/16"],
}
_LABEL_KEYS = [
    "app", "example.com/app", "a" * 254 + "/x", "a" * 253 + "/x", "Bad Key", "/x", "a/b/c",
    "x" * 64, "x" * 63, "Example.COM/app", "-app", "app_name",
]  # fmt: skip
_LABEL_VALUES = ["", "web", "bad value", "v" * 64, "v" * 63, "-v", "a.b_c"]
_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist", "in", "Equals"]
_POLICY_TYPES: list[list[str] | None] = [
    None, None, [], ["Ingress"], ["Egress"], ["Ingress", "Egress"], ["Egress", "Ingress"],
    ["ingress"], ["Egress", "Egress"], ["Ingress", "Egress", "Ingress"],
]  # fmt: skip


def _gen_port(rng: random.Random) -> Spec:
    out: Spec = {}
    protocol = rng.choice(_PROTOCOLS)
    if protocol is not None:
        out["protocol"] = protocol
    kind = rng.random()
    if kind < 0.55:
        out["port"] = rng.choice(_NUMBERS)
    elif kind < 0.85:
        out["port"] = rng.choice(_NAMES)
    end_port = rng.choice(_END_PORTS)
    if end_port is not None:
        out["endPort"] = end_port
    return out


def _gen_selector(rng: random.Random) -> Spec:
    selector: Spec = {}
    if rng.random() < 0.6:
        selector["matchLabels"] = {
            rng.choice(_LABEL_KEYS): rng.choice(_LABEL_VALUES) for _ in range(rng.randint(0, 2))
        }
    if rng.random() < 0.5:
        exprs = []
        for _ in range(rng.randint(1, 2)):
            expr: Spec = {"key": rng.choice(_LABEL_KEYS), "operator": rng.choice(_OPERATORS)}
            if rng.random() < 0.7:
                expr["values"] = rng.sample(_LABEL_VALUES, rng.randint(0, 2))
            exprs.append(expr)
        selector["matchExpressions"] = exprs
    return selector


def _gen_ip_block(rng: random.Random) -> Spec:
    cidr = rng.choice(_CIDRS_V4 + _CIDRS_V6 + list(_EXCEPTS))
    block: Spec = {"cidr": cidr}
    if rng.random() < 0.5:
        pool = _EXCEPTS.get(cidr, ["10.1.0.0/16", "2001:db8:1::/48"])
        block["except"] = rng.sample(pool, rng.randint(0, min(2, len(pool))))
    return block


def _gen_peer(rng: random.Random) -> Spec:
    kind = rng.random()
    peer: Spec = {}
    if kind < 0.08:
        return peer  # no peer field: "must specify a peer"
    if kind < 0.5:
        peer["ipBlock"] = _gen_ip_block(rng)
        if rng.random() < 0.1:
            peer["podSelector"] = _gen_selector(rng)
        return peer
    if kind < 0.8:
        peer["podSelector"] = _gen_selector(rng)
    if kind >= 0.65:
        peer["namespaceSelector"] = _gen_selector(rng)
    return peer


def _gen_rule(rng: random.Random, peers_field: str) -> Spec:
    rule: Spec = {}
    if rng.random() < 0.6:
        rule["ports"] = [_gen_port(rng) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.75:
        rule[peers_field] = [_gen_peer(rng) for _ in range(rng.randint(0, 3))]
    return rule


def generated_spec(rng: random.Random) -> Spec:
    spec: Spec = {"podSelector": _gen_selector(rng) if rng.random() < 0.4 else {}}
    if rng.random() < 0.7:
        spec["ingress"] = [_gen_rule(rng, "from") for _ in range(rng.randint(0, 2))]
    if rng.random() < 0.6:
        spec["egress"] = [_gen_rule(rng, "to") for _ in range(rng.randint(0, 2))]
    types = rng.choice(_POLICY_TYPES)
    if types is not None:
        spec["policyTypes"] = list(types)
    return spec


def generated_specs(seed: int, count: int) -> list[Spec]:
    rng = random.Random(seed)
    return [generated_spec(rng) for _ in range(count)]
