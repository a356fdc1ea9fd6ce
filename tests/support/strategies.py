"""Hypothesis strategies for MultiNetworkPolicies: mostly schema-shaped, with garbage of any
JSON type mixed in at every level, odd shapes (explicit nulls, empty lists, non-string keys as
YAML gives them, unicode) and target NADs of every kind (the webhook fuzz, the defaulting
properties and the admission golden file use them)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Unicode of every kind (lone surrogates, which json.loads can make, are in the golden file).
odd_text = st.text(max_size=12) | st.sampled_from(["\u00e9t\u00e9", "\U0001f600", "a\n"])
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | odd_text
)
junk = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def maybe_junk(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the schema-shaped value, sometimes anything at all."""
    return st.one_of(strategy, strategy, strategy, junk)


label_keys = st.sampled_from(
    ["app", "role", "k8s.io/name", "example.com/tier", "", "a" * 64, "-bad", "x/y/z", "Ab/c"]
) | st.text(max_size=10)
yaml_keys = label_keys | st.integers(0, 2) | st.booleans()  # YAML maps may have any scalar key
label_values = st.sampled_from(["web", "", "a" * 64, "bad value", "ok-1"]) | st.text(max_size=8)
requirements = st.fixed_dictionaries(
    {
        "key": maybe_junk(label_keys),
        "operator": maybe_junk(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "in"])),
    },
    optional={"values": maybe_junk(st.lists(label_values, max_size=3))},
)
selectors = st.fixed_dictionaries(
    {},
    optional={
        "matchLabels": maybe_junk(st.dictionaries(yaml_keys, maybe_junk(label_values), max_size=3)),
        "matchExpressions": maybe_junk(st.lists(requirements, max_size=2)),
    },
)
cidrs = st.sampled_from(
    [
        "10.0.0.0/8",
        "10.0.1.0/24",
        "10.0.0.1/8",
        "0.0.0.0/0",
        "::/0",
        "fd00::/64",
        "300.1.1.1/8",
        "010.0.0.0/8",
        "::ffff:10.0.0.0/104",
        "10.0.0.0",
    ]
) | st.text(max_size=16)
ip_blocks = st.fixed_dictionaries(
    {"cidr": maybe_junk(cidrs)}, optional={"except": maybe_junk(st.lists(cidrs, max_size=3))}
)
peers = st.fixed_dictionaries(
    {},
    optional={
        "podSelector": maybe_junk(selectors),
        "namespaceSelector": maybe_junk(selectors),
        "ipBlock": maybe_junk(ip_blocks),
    },
)
ports = st.fixed_dictionaries(
    {},
    optional={
        "protocol": maybe_junk(st.sampled_from(["TCP", "UDP", "SCTP", "tcp", "ICMP"])),
        "port": maybe_junk(
            st.integers(min_value=-5, max_value=70000)
            | st.sampled_from(["http", "serve-80-tcp", "--x", "", "123", "a" * 16])
        ),
        "endPort": maybe_junk(st.integers(min_value=-5, max_value=70000)),
    },
)


def rules(peer_field: str) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {},
        optional={
            "ports": maybe_junk(st.lists(maybe_junk(ports), max_size=3)),
            peer_field: maybe_junk(st.lists(maybe_junk(peers), max_size=3)),
        },
    )


specs = st.fixed_dictionaries(
    {"podSelector": maybe_junk(selectors)},
    optional={
        "ingress": maybe_junk(st.lists(rules("from"), max_size=3)),
        "egress": maybe_junk(st.lists(rules("to"), max_size=3)),
        "policyTypes": maybe_junk(
            st.lists(st.sampled_from(["Ingress", "Egress", "ingress", "Both"]), max_size=3)
        ),
    },
)
# The names of TARGET_NADS, in the forms an author writes them.
NAD_NAMES = ["tenant-blue", "bare", "phys", "l3", "mac", "broken", "layer9", "absent"]
policy_for = (
    st.sampled_from(
        [
            "default/tenant-blue",
            "tenant-blue",
            " default/tenant-blue , tenant-blue",
            "nope",
            "a/b/c",
            "",
            ",,",
            "Default/Tenant",
            "bare, phys",
            "default/l3,mac",
        ]
    )
    | st.lists(
        st.sampled_from([*NAD_NAMES, *(f"default/{n}" for n in NAD_NAMES), " ", "other/x"]),
        min_size=1,
        max_size=3,
    ).map(",".join)
    | st.text(max_size=20)
)
annotation_maps = st.fixed_dictionaries(
    {"k8s.v1.cni.cncf.io/policy-for": maybe_junk(policy_for)},
    optional={"Bad Key": odd_text, "example.com/note": st.just("x" * 70)},
) | st.dictionaries(yaml_keys, maybe_junk(odd_text), max_size=2)
metadata = st.fixed_dictionaries(
    {
        "name": maybe_junk(st.sampled_from(["p", "a" * 254, "Bad_Name", "", "caf\u00e9"])),
        "namespace": st.sampled_from(["default", "default", "default", "", "Bad_NS"])
        | maybe_junk(st.none()),
    },
    optional={
        "annotations": maybe_junk(annotation_maps),
        "labels": maybe_junk(st.dictionaries(yaml_keys, maybe_junk(label_values), max_size=2)),
        "deletionTimestamp": st.just("2025-01-01T00:00:00Z"),
        "managedFields": junk,
    },
)
policies = maybe_junk(
    st.fixed_dictionaries(
        {
            "apiVersion": st.just("k8s.cni.cncf.io/v1beta1"),
            "kind": st.just("MultiNetworkPolicy"),
            "metadata": maybe_junk(metadata),
            "spec": maybe_junk(specs),
        }
    )
)


OVN = "ovn-k8s-cni-overlay"


def _nad(name: str, config: Any) -> dict[str, Any]:
    raw = config if isinstance(config, str) else json.dumps(config)
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"config": raw},
    }


# One NAD per kind that admission tells apart; "absent" has none.
TARGET_NADS = [
    _nad("tenant-blue", {"name": "b", "type": OVN, "topology": "layer2", "subnets": "10.1.0.0/16"}),
    _nad("bare", {"name": "bare", "type": OVN, "topology": "layer2"}),
    _nad("phys", {"name": "phys", "type": OVN, "topology": "localnet"}),
    _nad("l3", {"name": "l3", "type": OVN, "topology": "layer3", "subnets": "10.128.0.0/16/24"}),
    _nad("mac", {"name": "mac", "type": "macvlan", "topology": "layer2", "subnets": "10.9.0.0/24"}),
    _nad("broken", "{not json"),
    _nad("layer9", {"name": "x", "type": OVN, "topology": "layer9", "subnets": "10.2.0.0/24"}),
]

nad_configs = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["net", ""]),
        "type": st.sampled_from([OVN, OVN, "macvlan"]),
        "topology": st.sampled_from(["layer2", "layer3", "localnet", "layer9"]),
    },
    optional={
        "subnets": st.sampled_from(["10.1.0.0/16", "10.128.0.0/16/24", "", "bad", "fd00::/64"]),
        "netAttachDefName": st.sampled_from(["default/tenant-blue", "a/b"]),
    },
).map(json.dumps) | st.sampled_from(["{not json", "[]", ""])
nad_sets = st.lists(
    st.builds(_nad, st.sampled_from(NAD_NAMES), nad_configs), max_size=4
)  # random NADs, for the IPAM-less rule and the NAD guard

# Policies an author could have written: well typed, mostly valid, aimed at TARGET_NADS, so
# that admitted policies, warnings, defaults and the IPAM-less rule all come up often.
plausible_selectors = st.fixed_dictionaries(
    {},
    optional={
        "matchLabels": st.dictionaries(
            st.sampled_from(["app", "role", "k8s.io/name"]),
            st.sampled_from(["web", "db", ""]),
            max_size=2,
        ),
        "matchExpressions": st.lists(
            st.fixed_dictionaries(
                {
                    "key": st.sampled_from(["app", "tier"]),
                    "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
                },
                optional={"values": st.lists(st.sampled_from(["a", "b"]), max_size=2)},
            ),
            max_size=2,
        ),
    },
)
plausible_ip_blocks = st.fixed_dictionaries(
    {
        "cidr": st.sampled_from(
            ["10.0.0.0/8", "10.0.0.1/8", "fd00::/64", "FD00::/64", "192.168.1.0/24", "0.0.0.0/0"]
        )
    },
    optional={
        "except": st.lists(
            st.sampled_from(["10.1.0.0/16", "10.0.0.0/8", "fd00::/80", "192.168.1.128/25"]),
            max_size=2,
        )
    },
)
plausible_peers = st.fixed_dictionaries({"ipBlock": plausible_ip_blocks}) | st.fixed_dictionaries(
    {}, optional={"podSelector": plausible_selectors, "namespaceSelector": plausible_selectors}
)
plausible_ports = st.fixed_dictionaries(
    {},
    optional={
        "protocol": st.sampled_from(["TCP", "UDP", "SCTP", None]),
        "port": st.integers(1, 65535) | st.sampled_from([80, 443, "http", "dns-udp"]),
        "endPort": st.sampled_from([80, 1000, 65535]),
    },
)


def plausible_rules(peer_field: str) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {},
        optional={
            "ports": st.lists(plausible_ports, max_size=2),
            peer_field: st.lists(plausible_peers, max_size=2),
        },
    )


plausible_policies = st.fixed_dictionaries(
    {
        "apiVersion": st.just("k8s.cni.cncf.io/v1beta1"),
        "kind": st.just("MultiNetworkPolicy"),
        "metadata": st.fixed_dictionaries(
            {
                "name": st.sampled_from(["p", "allow-web"]),
                "namespace": st.just("default"),
                "annotations": st.fixed_dictionaries({"k8s.v1.cni.cncf.io/policy-for": policy_for}),
            }
        ),
        "spec": st.fixed_dictionaries(
            {"podSelector": plausible_selectors},
            optional={
                "ingress": st.lists(plausible_rules("from"), max_size=2),
                "egress": st.lists(plausible_rules("to"), max_size=2),
                "policyTypes": st.sampled_from(
                    [None, [], ["Ingress"], ["Egress"], ["Ingress", "Egress"]]
                ),
            },
        ),
    }
)
