"""Hypothesis strategies for MultiNetworkPolicies: mostly schema-shaped, with garbage of any
JSON type mixed in at every level (the webhook fuzz and the defaulting properties use them)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
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
    ["app", "role", "k8s.io/name", "example.com/tier", "", "a" * 64, "-bad", "x/y/z"]
) | st.text(max_size=10)
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
        "matchLabels": maybe_junk(
            st.dictionaries(label_keys, maybe_junk(label_values), max_size=3)
        ),
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
policy_for = st.sampled_from(
    [
        "default/tenant-blue",
        "tenant-blue",
        " default/tenant-blue , tenant-blue",
        "nope",
        "a/b/c",
        "",
        ",,",
        "Default/Tenant",
    ]
) | st.text(max_size=20)
metadata = st.fixed_dictionaries(
    {
        "name": maybe_junk(st.sampled_from(["p", "a" * 254, "Bad_Name", ""])),
        "namespace": st.just("default"),
    },
    optional={
        "annotations": maybe_junk(
            st.fixed_dictionaries({"k8s.v1.cni.cncf.io/policy-for": maybe_junk(policy_for)})
        ),
        "deletionTimestamp": st.just("2025-01-01T00:00:00Z"),
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
