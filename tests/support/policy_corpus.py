# ruff: noqa: E501  (the expected messages are literal table entries)
"""A table of policies with the exact errors and warnings the admission decision gives.

Shared by the unit corpus test and the webhook/check parity test.

Expected strings are written out literally: they are the contract with users (and with
kube-apiserver's wording for NetworkPolicy), so a change in wording must show up here.
"""

from __future__ import annotations

import json
from typing import Any

from mnp.nad import DictNadLookup

PF = "metadata.annotations[k8s.v1.cni.cncf.io/policy-for]"
KEY_REGEX_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_REGEX_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
IPAMLESS = (
    "Forbidden: NetworkAttachmentDefinition ns1/bare is a layer2 network without `subnets`, "
    "and IPAM-less networks can only have `ipBlock` peers: replace this "
    "podSelector/namespaceSelector peer with ipBlock peers, or add `subnets` to the "
    "NetworkAttachmentDefinition"
)


def nad(name: str, config: Any, namespace: str = "ns1") -> dict[str, Any]:
    raw = config if isinstance(config, str) else json.dumps(config)
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"config": raw},
    }


OVN = "ovn-k8s-cni-overlay"
NADS = DictNadLookup()
for _obj in [
    nad("blue", {"name": "blue", "type": OVN, "topology": "layer2", "subnets": "10.1.0.0/16"}),
    nad("bare", {"name": "bare", "type": OVN, "topology": "layer2"}),
    nad("phys", {"name": "phys", "type": OVN, "topology": "localnet"}),
    nad("l3", {"name": "l3", "type": OVN, "topology": "layer3", "subnets": "10.128.0.0/16/24"}),
    nad("mac", {"name": "mac", "type": "macvlan", "topology": "layer2", "subnets": "10.9.0.0/24"}),
    nad("broken", "{not json"),
    nad("layer4", {"name": "x", "type": OVN, "topology": "layer4", "subnets": "10.2.0.0/24"}),
    nad("wrongref", {"name": "w", "type": OVN, "topology": "layer2", "netAttachDefName": "a/b"}),
    nad("red", {"name": "red", "type": OVN, "topology": "layer2", "subnets": "10.3.0.0/24"}, "ns2"),
]:
    NADS.add(_obj)


def policy(spec: Any = None, *, policy_for: Any = "blue", **meta: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {"name": "p", "namespace": "ns1", **meta},
        "spec": {"podSelector": {}} if spec is None else spec,
    }
    if policy_for is not None:
        obj["metadata"].setdefault("annotations", {})["k8s.v1.cni.cncf.io/policy-for"] = policy_for
    return obj


def ingress_port(port: Any) -> dict[str, Any]:
    return {"podSelector": {}, "ingress": [{"ports": [port]}]}


def ingress_peer(peer: Any) -> dict[str, Any]:
    return {"podSelector": {}, "ingress": [{"from": [peer]}]}


def egress_peer(peer: Any) -> dict[str, Any]:
    return {"podSelector": {}, "egress": [{"to": [peer]}]}


def block(cidr: Any, *excepts: Any) -> dict[str, Any]:
    b: dict[str, Any] = {"cidr": cidr}
    if excepts:
        b["except"] = list(excepts)
    return {"ipBlock": b}


def selector(sel: Any) -> dict[str, Any]:
    return {"podSelector": sel}


# (id, object, expected errors, expected warnings)
CASES: list[tuple[str, Any, list[str], list[str]]] = [
    # ---- admitted ----------------------------------------------------------------------
    ("empty-spec-selector", policy(), [], []),
    (
        "seed",
        policy(
            {
                "podSelector": {"matchLabels": {"app": "stuff-doer"}},
                "ingress": [
                    {
                        "ports": [{"port": 9000, "protocol": "TCP"}],
                        "from": [{"namespaceSelector": {"matchLabels": {"role": "trusted"}}}],
                    }
                ],
                "policyTypes": ["Ingress"],
            },
            policy_for="ns1/blue",
        ),
        [],
        [],
    ),
    ("deny-all-ingress", policy({"podSelector": {}, "ingress": []}), [], []),
    ("allow-all-ingress", policy({"podSelector": {}, "ingress": [{}]}), [], []),
    ("both-types", policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}), [], []),
    ("udp-port", policy(ingress_port({"protocol": "UDP", "port": 53})), [], []),
    ("sctp-port", policy(ingress_port({"protocol": "SCTP", "port": 3868})), [], []),
    ("no-protocol-defaults", policy(ingress_port({"port": 80})), [], []),
    ("port-range", policy(ingress_port({"port": 1000, "endPort": 2000})), [], []),
    ("port-range-equal", policy(ingress_port({"port": 80, "endPort": 80})), [], []),
    ("port-1-and-65535", policy(ingress_port({"port": 1, "endPort": 65535})), [], []),
    ("named-port", policy(ingress_port({"port": "http"})), [], []),
    ("named-port-15", policy(ingress_port({"port": "abcdefghijklmno"})), [], []),
    ("protocol-only", policy(ingress_port({"protocol": "UDP"})), [], []),
    (
        "pod-and-ns-selector",
        policy(ingress_peer({"podSelector": {"matchLabels": {"a": "b"}}, "namespaceSelector": {}})),
        [],
        [],
    ),
    ("ipblock-v4-except", policy(egress_peer(block("10.0.0.0/16", "10.0.1.0/24"))), [], []),
    ("ipblock-v6", policy(egress_peer(block("2001:db8::/32", "2001:db8:1::/48"))), [], []),
    ("ipblock-all", policy(egress_peer(block("0.0.0.0/0", "10.0.0.0/8"))), [], []),
    (
        "expr-in",
        policy(
            ingress_peer(
                selector(
                    {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}
                )
            )
        ),
        [],
        [],
    ),
    (
        "expr-exists",
        policy(
            ingress_peer(
                selector({"matchExpressions": [{"key": "example.com/tier", "operator": "Exists"}]})
            )
        ),
        [],
        [],
    ),
    ("label-value-empty", policy({"podSelector": {"matchLabels": {"app": ""}}}), [], []),
    ("policy-for-list", policy(policy_for=" blue , ns2/red "), [], []),
    ("policy-for-dup", policy(policy_for="blue,ns1/blue"), [], []),
    (
        "ipamless-ipblock-only",
        policy(ingress_peer(block("192.168.0.0/24")), policy_for="bare"),
        [],
        [],
    ),
    (
        "ipamless-own-podselector",
        policy({"podSelector": {"matchLabels": {"app": "a"}}, "ingress": [{}]}, policy_for="phys"),
        [],
        [],
    ),
    ("layer3-hostsubnet", policy(ingress_peer(selector({})), policy_for="l3"), [], []),
    (
        "egress-and-ingress-defaulted",
        policy({"podSelector": {}, "ingress": [{}], "egress": [{}]}),
        [],
        [],
    ),
    # ---- warnings ----------------------------------------------------------------------
    # Strict CIDR validation (Kubernetes 1.36+, the default rules): host bits are an error;
    # 1.35 admits them with a warning (tests/unit/test_validation_rules.py).
    (
        "host-bits-rejected",
        policy(ingress_peer(block("10.0.0.1/24"))),
        [
            'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.1/24": must not have '
            "bits set beyond the prefix length"
        ],
        [],
    ),
    (
        "host-bits-except-rejected",
        policy(egress_peer(block("10.0.0.0/16", "10.0.1.5/24"))),
        [
            'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.0.1.5/24": must not have '
            "bits set beyond the prefix length"
        ],
        [],
    ),
    (
        "ipv6-uppercase-warning",
        policy(egress_peer(block("2001:DB8::/32"))),
        [],
        [
            'spec.egress[0].to[0].ipBlock.cidr: IPv6 CIDR value "2001:DB8::/32" should be in '
            'RFC 5952 canonical format ("2001:db8::/32")'
        ],
    ),
    (
        "egress-rules-without-egress-type",
        policy({"podSelector": {}, "policyTypes": ["Ingress"], "egress": [{}]}),
        [],
        [
            'spec.egress: 1 egress rule(s) have no effect because spec.policyTypes ["Ingress"] does '
            'not include "Egress": add "Egress" to spec.policyTypes, or remove spec.egress'
        ],
    ),
    (
        "ingress-rules-without-ingress-type",
        policy({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}, {}]}),
        [],
        [
            'spec.ingress: 2 ingress rule(s) have no effect because spec.policyTypes ["Egress"] does '
            'not include "Ingress": add "Ingress" to spec.policyTypes, or remove spec.ingress'
        ],
    ),
    (
        "non-ovn-nad-warning",
        policy(policy_for="mac"),
        [],
        [
            'NetworkAttachmentDefinition ns1/mac: spec.config type is "macvlan", not '
            '"ovn-k8s-cni-overlay": its pods are not on an OVN-Kubernetes network, so this policy '
            "cannot be enforced there"
        ],
    ),
    # ---- ports -------------------------------------------------------------------------
    (
        "endport-below-port",
        policy(ingress_port({"port": 80, "endPort": 79})),
        [
            "spec.ingress[0].ports[0].endPort: Invalid value: 79: must be greater than or equal "
            "to `port`"
        ],
        [],
    ),
    (
        "endport-without-port",
        policy(ingress_port({"endPort": 80})),
        [
            "spec.ingress[0].ports[0].endPort: Invalid value: 80: may not be specified when `port` "
            "is not specified"
        ],
        [],
    ),
    (
        "endport-with-named-port",
        policy(ingress_port({"port": "http", "endPort": 90})),
        [
            "spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` "
            "is non-numeric"
        ],
        [],
    ),
    (
        "port-zero",
        policy(ingress_port({"port": 0})),
        ["spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"],
        [],
    ),
    (
        "port-too-big",
        policy(ingress_port({"port": 65536})),
        [
            "spec.ingress[0].ports[0].port: Invalid value: 65536: must be between 1 and 65535, "
            "inclusive"
        ],
        [],
    ),
    (
        "endport-too-big",
        policy(ingress_port({"port": 80, "endPort": 70000})),
        [
            "spec.ingress[0].ports[0].endPort: Invalid value: 70000: must be between 1 and 65535, "
            "inclusive"
        ],
        [],
    ),
    (
        "negative-port-and-endport",
        policy(ingress_port({"port": -5, "endPort": -10})),
        [
            "spec.ingress[0].ports[0].port: Invalid value: -5: must be between 1 and 65535, inclusive",
            "spec.ingress[0].ports[0].endPort: Invalid value: -10: must be greater than or equal to "
            "`port`",
            "spec.ingress[0].ports[0].endPort: Invalid value: -10: must be between 1 and 65535, "
            "inclusive",
        ],
        [],
    ),
    (
        "protocol-lowercase",
        policy(ingress_port({"protocol": "tcp", "port": 80})),
        [
            'spec.ingress[0].ports[0].protocol: Unsupported value: "tcp": supported values: "TCP", '
            '"UDP", "SCTP"'
        ],
        [],
    ),
    (
        "protocol-icmp-egress",
        policy({"podSelector": {}, "egress": [{"ports": [{"protocol": "ICMP"}]}]}),
        [
            'spec.egress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", '
            '"UDP", "SCTP"'
        ],
        [],
    ),
    (
        "port-name-too-long",
        policy(ingress_port({"port": "abcdefghijklmnop"})),
        [
            'spec.ingress[0].ports[0].port: Invalid value: "abcdefghijklmnop": must be no more '
            "than 15 characters"
        ],
        [],
    ),
    (
        "port-name-uppercase",
        policy(ingress_port({"port": "HTTP"})),
        [
            'spec.ingress[0].ports[0].port: Invalid value: "HTTP": must contain only alpha-numeric '
            "characters (a-z, 0-9), and hyphens (-)",
            'spec.ingress[0].ports[0].port: Invalid value: "HTTP": must contain at least one letter '
            "(a-z)",
        ],
        [],
    ),
    (
        "port-name-digits-string",
        policy(ingress_port({"port": "8080"})),
        [
            'spec.ingress[0].ports[0].port: Invalid value: "8080": must contain at least one '
            "letter (a-z)"
        ],
        [],
    ),
    (
        "port-name-double-hyphen",
        policy(ingress_port({"port": "a--b"})),
        [
            'spec.ingress[0].ports[0].port: Invalid value: "a--b": must not contain consecutive '
            "hyphens"
        ],
        [],
    ),
    (
        "port-name-edge-hyphen",
        policy(ingress_port({"port": "-web"})),
        [
            'spec.ingress[0].ports[0].port: Invalid value: "-web": must not begin or end with a '
            "hyphen"
        ],
        [],
    ),
    (
        "port-name-empty",
        policy(ingress_port({"port": ""})),
        [
            'spec.ingress[0].ports[0].port: Invalid value: "": must contain only alpha-numeric '
            "characters (a-z, 0-9), and hyphens (-)",
            'spec.ingress[0].ports[0].port: Invalid value: "": must contain at least one letter '
            "(a-z)",
        ],
        [],
    ),
    (
        "port-bool",
        policy(ingress_port({"port": True})),
        [
            'spec.ingress[0].ports[0].port: Invalid value: "boolean": spec.ingress[0].ports[0].port '
            'in body must be of type integer or string: "boolean"'
        ],
        [],
    ),
    (
        "endport-string",
        policy(ingress_port({"port": 80, "endPort": "90"})),
        [
            'spec.ingress[0].ports[0].endPort: Invalid value: "string": '
            'spec.ingress[0].ports[0].endPort in body must be of type integer: "string"'
        ],
        [],
    ),
    # ---- peers -------------------------------------------------------------------------
    (
        "empty-peer",
        policy(ingress_peer({})),
        ["spec.ingress[0].from[0]: Required value: must specify a peer"],
        [],
    ),
    (
        "ipblock-and-podselector",
        policy(ingress_peer({"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}})),
        ["spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer"],
        [],
    ),
    (
        "ipblock-and-nsselector-egress",
        policy(egress_peer({"ipBlock": {"cidr": "10.0.0.0/8"}, "namespaceSelector": {}})),
        ["spec.egress[0].to[0]: Forbidden: may not specify both ipBlock and another peer"],
        [],
    ),
    (
        "peer-is-string",
        policy(ingress_peer("everyone")),
        [
            'spec.ingress[0].from[0]: Invalid value: "string": spec.ingress[0].from[0] in body must '
            'be of type object: "string"'
        ],
        [],
    ),
    # ---- ipBlock -----------------------------------------------------------------------
    (
        "cidr-missing",
        policy(egress_peer({"ipBlock": {}})),
        ["spec.egress[0].to[0].ipBlock.cidr: Required value"],
        [],
    ),
    (
        "cidr-empty",
        policy(egress_peer(block(""))),
        ["spec.egress[0].to[0].ipBlock.cidr: Required value"],
        [],
    ),
    (
        "cidr-garbage",
        policy(egress_peer(block("not-a-cidr"))),
        [f'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "not-a-cidr": {CIDR_MSG}'],
        [],
    ),
    (
        "cidr-no-prefix",
        policy(egress_peer(block("10.0.0.1"))),
        [f'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "10.0.0.1": {CIDR_MSG}'],
        [],
    ),
    (
        "cidr-prefix-too-long",
        policy(egress_peer(block("10.0.0.0/33"))),
        [f'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": {CIDR_MSG}'],
        [],
    ),
    (
        "cidr-octet-256",
        policy(egress_peer(block("10.0.0.256/32"))),
        [f'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "10.0.0.256/32": {CIDR_MSG}'],
        [],
    ),
    (
        "cidr-ipv6-zone",
        policy(egress_peer(block("fe80::1%eth0/64"))),
        [f'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "fe80::1%eth0/64": {CIDR_MSG}'],
        [],
    ),
    (
        "cidr-leading-zero-octet",
        policy(egress_peer(block("010.0.0.0/8"))),
        [
            'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "010.0.0.0/8": must not have leading '
            "0s in IP or prefix length"
        ],
        [],
    ),
    (
        "cidr-leading-zero-prefix",
        policy(egress_peer(block("10.0.0.0/08"))),
        [
            'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "10.0.0.0/08": must not have leading '
            "0s in IP or prefix length"
        ],
        [],
    ),
    (
        "cidr-ipv4-mapped",
        policy(egress_peer(block("::ffff:10.0.0.0/104"))),
        [
            'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "::ffff:10.0.0.0/104": must not have '
            "an IPv4-mapped IPv6 address"
        ],
        [],
    ),
    (
        "except-not-subset",
        policy(egress_peer(block("10.0.0.0/16", "10.1.0.0/24"))),
        [
            'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.1.0.0/24": must be a strict '
            "subset of `cidr`"
        ],
        [],
    ),
    (
        "except-equal-to-cidr",
        policy(egress_peer(block("10.0.0.0/16", "10.0.0.0/16"))),
        [
            'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.0.0.0/16": must be a strict '
            "subset of `cidr`"
        ],
        [],
    ),
    (
        "except-wider",
        policy(egress_peer(block("10.0.0.0/16", "10.0.0.0/8"))),
        [
            'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.0.0.0/8": must be a strict '
            "subset of `cidr`"
        ],
        [],
    ),
    (
        "except-other-family",
        policy(egress_peer(block("10.0.0.0/8", "2001:db8::/64"))),
        [
            'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "2001:db8::/64": must be a '
            "strict subset of `cidr`"
        ],
        [],
    ),
    (
        "except-garbage-and-second-bad",
        policy(egress_peer(block("10.0.0.0/8", "junk", "11.0.0.0/16"))),
        [
            f'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "junk": {CIDR_MSG}',
            'spec.egress[0].to[0].ipBlock.except[1]: Invalid value: "11.0.0.0/16": must be a strict '
            "subset of `cidr`",
        ],
        [],
    ),
    (
        "except-leading-zero-still-subset-checked",
        policy(egress_peer(block("10.0.0.0/8", "10.01.0.0/16"))),
        [
            'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.01.0.0/16": must not have '
            "leading 0s in IP or prefix length"
        ],
        [],
    ),
    (
        "except-not-array",
        policy(egress_peer({"ipBlock": {"cidr": "10.0.0.0/8", "except": "x"}})),
        [
            'spec.egress[0].to[0].ipBlock.except: Invalid value: "string": '
            'spec.egress[0].to[0].ipBlock.except in body must be of type array: "string"'
        ],
        [],
    ),
    (
        "cidr-number",
        policy(egress_peer({"ipBlock": {"cidr": 10}})),
        [
            'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "integer": '
            'spec.egress[0].to[0].ipBlock.cidr in body must be of type string: "integer"'
        ],
        [],
    ),
    # ---- label selectors ---------------------------------------------------------------
    (
        "bad-label-key",
        policy({"podSelector": {"matchLabels": {"a b": "x"}}}),
        [f'spec.podSelector.matchLabels: Invalid value: "a b": {KEY_REGEX_MSG}'],
        [],
    ),
    (
        "bad-label-value",
        policy({"podSelector": {"matchLabels": {"app": "-x"}}}),
        [f'spec.podSelector.matchLabels: Invalid value: "-x": {VALUE_REGEX_MSG}'],
        [],
    ),
    (
        "label-value-too-long",
        policy({"podSelector": {"matchLabels": {"app": "a" * 64}}}),
        [
            f'spec.podSelector.matchLabels: Invalid value: "{"a" * 64}": must be no more than 63 '
            "bytes"
        ],
        [],
    ),
    (
        "label-key-empty-prefix",
        policy({"podSelector": {"matchLabels": {"/app": "x"}}}),
        ['spec.podSelector.matchLabels: Invalid value: "/app": prefix part must be non-empty'],
        [],
    ),
    (
        "label-key-bad-prefix",
        policy({"podSelector": {"matchLabels": {"Ex.com/app": "x"}}}),
        [f'spec.podSelector.matchLabels: Invalid value: "Ex.com/app": prefix part {SUBDOMAIN_MSG}'],
        [],
    ),
    (
        "label-key-two-slashes",
        policy({"podSelector": {"matchLabels": {"a/b/c": "x"}}}),
        [
            'spec.podSelector.matchLabels: Invalid value: "a/b/c": a valid label key must consist '
            "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
            "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
            "subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ],
        [],
    ),
    (
        "label-key-name-too-long",
        policy({"podSelector": {"matchLabels": {"k" * 64: "x"}}}),
        [
            f'spec.podSelector.matchLabels: Invalid value: "{"k" * 64}": name part must be no more '
            "than 63 bytes"
        ],
        [],
    ),
    (
        "label-value-number",
        policy({"podSelector": {"matchLabels": {"app": 5}}}),
        [
            'spec.podSelector.matchLabels[app]: Invalid value: "integer": '
            'spec.podSelector.matchLabels[app] in body must be of type string: "integer"'
        ],
        [],
    ),
    (
        "expr-in-without-values",
        policy(ingress_peer(selector({"matchExpressions": [{"key": "tier", "operator": "In"}]}))),
        [
            "spec.ingress[0].from[0].podSelector.matchExpressions[0].values: Required value: must be "
            "specified when `operator` is 'In' or 'NotIn'"
        ],
        [],
    ),
    (
        "expr-notin-empty-values",
        policy(
            {
                "podSelector": {
                    "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": []}]
                }
            }
        ),
        [
            "spec.podSelector.matchExpressions[0].values: Required value: must be specified when "
            "`operator` is 'In' or 'NotIn'"
        ],
        [],
    ),
    (
        "expr-exists-with-values",
        policy(
            {
                "podSelector": {
                    "matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["a"]}]
                }
            }
        ),
        [
            "spec.podSelector.matchExpressions[0].values: Forbidden: may not be specified when "
            "`operator` is 'Exists' or 'DoesNotExist'"
        ],
        [],
    ),
    (
        "expr-bad-operator",
        policy(
            {
                "podSelector": {
                    "matchExpressions": [{"key": "tier", "operator": "Equals", "values": ["a"]}]
                }
            }
        ),
        [
            'spec.podSelector.matchExpressions[0].operator: Invalid value: "Equals": not a valid '
            "selector operator"
        ],
        [],
    ),
    (
        "expr-missing-key-and-operator",
        policy({"podSelector": {"matchExpressions": [{}]}}),
        [
            "spec.podSelector.matchExpressions[0].operator: Required value",
            "spec.podSelector.matchExpressions[0].key: Required value",
        ],
        [],
    ),
    (
        "expr-bad-value",
        policy(
            egress_peer(
                {
                    "namespaceSelector": {
                        "matchExpressions": [
                            {"key": "team", "operator": "In", "values": ["ok", "not ok"]}
                        ]
                    }
                }
            )
        ),
        [
            "spec.egress[0].to[0].namespaceSelector.matchExpressions[0].values[1]: Invalid value: "
            f'"not ok": {VALUE_REGEX_MSG}'
        ],
        [],
    ),
    # ---- policyTypes -------------------------------------------------------------------
    (
        "policytype-lowercase",
        policy({"podSelector": {}, "policyTypes": ["ingress"]}),
        [
            'spec.policyTypes[0]: Unsupported value: "ingress": supported values: "Ingress", '
            '"Egress"'
        ],
        [],
    ),
    (
        "policytypes-three",
        policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress", "Ingress"]}),
        [
            'spec.policyTypes: Invalid value: ["Ingress","Egress","Ingress"]: may not specify more '
            "than two policyTypes"
        ],
        [],
    ),
    (
        "policytypes-string",
        policy({"podSelector": {}, "policyTypes": "Ingress"}),
        [
            'spec.policyTypes: Invalid value: "string": spec.policyTypes in body must be of type '
            'array: "string"'
        ],
        [],
    ),
    # ---- structure and metadata ----------------------------------------------------------
    ("podselector-missing", policy({"ingress": [{}]}), ["spec.podSelector: Required value"], []),
    (
        "ingress-string",
        policy({"podSelector": {}, "ingress": "all"}),
        [
            'spec.ingress: Invalid value: "string": spec.ingress in body must be of type array: '
            '"string"'
        ],
        [],
    ),
    (
        "rule-null-item",
        policy({"podSelector": {}, "egress": [None]}),
        [
            'spec.egress[0]: Invalid value: "null": spec.egress[0] in body must be of type object: '
            '"null"'
        ],
        [],
    ),
    (
        "ports-object",
        policy({"podSelector": {}, "ingress": [{"ports": {"port": 80}}]}),
        [
            'spec.ingress[0].ports: Invalid value: "object": spec.ingress[0].ports in body must be '
            'of type array: "object"'
        ],
        [],
    ),
    (
        "spec-list",
        policy([]),
        [
            'spec: Invalid value: "array": spec in body must be of type object: "array"',
            "spec.podSelector: Required value",
        ],
        [],
    ),
    (
        "name-missing",
        policy(name=""),
        ["metadata.name: Required value: name or generateName is required"],
        [],
    ),
    (
        "name-uppercase",
        policy(name="Allow_All"),
        [f'metadata.name: Invalid value: "Allow_All": {SUBDOMAIN_MSG}'],
        [],
    ),
    (
        "name-too-long",
        policy(name="a" * 254),
        [f'metadata.name: Invalid value: "{"a" * 254}": must be no more than 253 characters'],
        [],
    ),
    (
        "namespace-with-dot",
        policy(namespace="a.b", policy_for="ns1/blue"),
        ['metadata.namespace: Invalid value: "a.b": must not contain dots'],
        [],
    ),
    (
        "namespace-uppercase",
        policy(namespace="NS", policy_for="ns1/blue"),
        [f'metadata.namespace: Invalid value: "NS": {LABEL_MSG}'],
        [],
    ),
    (
        "bad-annotation-key",
        policy(annotations={"bad key": "x"}),
        [
            'metadata.annotations: Invalid value: "bad key": name part must consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        ],
        [],
    ),
    (
        "not-an-object",
        "policy",
        ['<root>: Invalid value: "string": <root> in body must be of type object: "string"'],
        [],
    ),
    (
        "label-key-prefix-over-253-bytes",
        policy({"podSelector": {"matchLabels": {"a" * 254 + "/x": "v"}}}),
        [
            f'spec.podSelector.matchLabels: Invalid value: "{"a" * 254}/x": prefix part must be '
            "no more than 253 bytes"
        ],
        [],
    ),
    (
        "many-errors-all-reported",
        policy(
            {
                "podSelector": {"matchLabels": {"app": "-bad"}},
                "ingress": [{"ports": [{"protocol": "tcp", "port": 0}], "from": [{}]}],
                "egress": [{"to": [block("10.0.0.0/16", "10.1.0.0/24")]}],
                "policyTypes": ["Ingress", "Egres"],
            }
        ),
        [
            f'spec.podSelector.matchLabels: Invalid value: "-bad": {VALUE_REGEX_MSG}',
            'spec.ingress[0].ports[0].protocol: Unsupported value: "tcp": supported values: "TCP", '
            '"UDP", "SCTP"',
            "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ingress[0].from[0]: Required value: must specify a peer",
            'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.1.0.0/24": must be a strict '
            "subset of `cidr`",
            'spec.policyTypes[1]: Unsupported value: "Egres": supported values: "Ingress", "Egress"',
        ],
        [],  # as the API server, no warnings for a denied policy
    ),
    # ---- policy-for and NADs -------------------------------------------------------------
    (
        "policy-for-missing",
        policy(policy_for=None),
        [
            f"{PF}: Required value: the policy applies to no network: set the annotation "
            "k8s.v1.cni.cncf.io/policy-for to the NetworkAttachmentDefinitions this policy applies "
            "to, as comma-separated `namespace/name` or `name` entries (a bare name means the "
            'policy\'s own namespace), e.g. "tenant-blue" or '
            '"default/tenant-blue,other/tenant-red"'
        ],
        [],
    ),
    (
        "policy-for-spaces-only",
        policy(policy_for="   "),
        [
            f"{PF}: Required value: the policy applies to no network: set the annotation "
            "k8s.v1.cni.cncf.io/policy-for to the NetworkAttachmentDefinitions this policy applies "
            "to, as comma-separated `namespace/name` or `name` entries (a bare name means the "
            'policy\'s own namespace), e.g. "tenant-blue" or '
            '"default/tenant-blue,other/tenant-red"'
        ],
        [],
    ),
    (
        "policy-for-three-parts",
        policy(policy_for="a/b/c"),
        [
            f'{PF}: Invalid value: "a/b/c": entry 1 of 1 must be `name` or `namespace/name`, with at '
            "most one '/'"
        ],
        [],
    ),
    (
        "policy-for-empty-namespace",
        policy(policy_for="/blue"),
        [f'{PF}: Invalid value: "/blue": entry 1 of 1 has an empty namespace'],
        [],
    ),
    (
        "policy-for-empty-name",
        policy(policy_for="ns1/"),
        [f'{PF}: Invalid value: "ns1/": entry 1 of 1 has an empty name'],
        [],
    ),
    (
        "policy-for-trailing-comma",
        policy(policy_for="blue,"),
        [
            f'{PF}: Invalid value: "blue,": entry 2 of 2 is empty: remove the extra comma; set the '
            "annotation k8s.v1.cni.cncf.io/policy-for to the NetworkAttachmentDefinitions this "
            "policy applies to, as comma-separated `namespace/name` or `name` entries (a bare name "
            'means the policy\'s own namespace), e.g. "tenant-blue" or '
            '"default/tenant-blue,other/tenant-red"'
        ],
        [],
    ),
    (
        "policy-for-bad-name",
        policy(policy_for="Blue_Net"),
        [f'{PF}: Invalid value: "Blue_Net": entry 1 of 1: name "Blue_Net": {SUBDOMAIN_MSG}'],
        [],
    ),
    (
        "policy-for-tab-not-stripped",
        policy(policy_for="\tblue"),
        [f'{PF}: Invalid value: "\\tblue": entry 1 of 1: name "\\tblue": {SUBDOMAIN_MSG}'],
        [],
    ),
    (
        "policy-for-not-found",
        policy(policy_for="green"),
        [
            f'{PF}: Not found: "ns1/green": NetworkAttachmentDefinition ns1/green does not exist: '
            "create the NetworkAttachmentDefinition first, then the policy"
        ],
        [],
    ),
    (
        "policy-for-other-ns-not-found",
        policy(policy_for="blue,ns2/blue"),
        [
            f'{PF}: Not found: "ns2/blue": NetworkAttachmentDefinition ns2/blue does not exist: '
            "create the NetworkAttachmentDefinition first, then the policy"
        ],
        [],
    ),
    (
        "nad-unparseable-config",
        policy(policy_for="broken"),
        [
            f'{PF}: Invalid value: "ns1/broken": NetworkAttachmentDefinition ns1/broken cannot be '
            'used: spec.config: Invalid value: "{not json": NetworkAttachmentDefinition ns1/broken: '
            "spec.config is not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)"
        ],
        [],
    ),
    (
        "nad-bad-topology",
        policy(policy_for="layer4"),
        [
            f'{PF}: Invalid value: "ns1/layer4": NetworkAttachmentDefinition ns1/layer4 cannot be '
            'used: spec.config: Invalid value: "layer4": NetworkAttachmentDefinition ns1/layer4: '
            '"topology" must be one of "layer2", "layer3", "localnet"'
        ],
        [],
    ),
    (
        "nad-wrong-netattachdefname",
        policy(policy_for="wrongref"),
        [
            f'{PF}: Invalid value: "ns1/wrongref": NetworkAttachmentDefinition ns1/wrongref cannot '
            'be used: spec.config: Invalid value: "a/b": NetworkAttachmentDefinition ns1/wrongref: '
            '"netAttachDefName" must equal "ns1/wrongref"'
        ],
        [],
    ),
    (
        "ipamless-podselector-peer",
        policy(ingress_peer(selector({})), policy_for="bare"),
        [f"spec.ingress[0].from[0]: {IPAMLESS}"],
        [],
    ),
    (
        "ipamless-second-peer-only",
        policy(
            {
                "podSelector": {},
                "ingress": [
                    {
                        "from": [
                            {"ipBlock": {"cidr": "10.0.0.0/8"}},
                            {"namespaceSelector": {"matchLabels": {"a": "b"}}},
                        ]
                    }
                ],
            },
            policy_for="bare",
        ),
        [f"spec.ingress[0].from[1]: {IPAMLESS}"],
        [],
    ),
    (
        "ipamless-egress-and-ingress",
        policy(
            {
                "podSelector": {},
                "ingress": [{}, {"from": [selector({})]}],
                "egress": [{"to": [{"podSelector": {}, "namespaceSelector": {}}]}],
            },
            policy_for="bare",
        ),
        [f"spec.ingress[1].from[0]: {IPAMLESS}", f"spec.egress[0].to[0]: {IPAMLESS}"],
        [],
    ),
    (
        "ipamless-localnet",
        policy(egress_peer(selector({})), policy_for="phys"),
        [
            "spec.egress[0].to[0]: Forbidden: NetworkAttachmentDefinition ns1/phys is a localnet "
            "network without `subnets`, and IPAM-less networks can only have `ipBlock` peers: "
            "replace this podSelector/namespaceSelector peer with ipBlock peers, or add `subnets` "
            "to the NetworkAttachmentDefinition"
        ],
        [],
    ),
]
