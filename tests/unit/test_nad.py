# ruff: noqa: E501  (the expected messages are literal table entries)
"""NetworkAttachmentDefinition parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mnp.model import NadKey
from mnp.nad import DictNadLookup, parse_nad

OVN = "ovn-k8s-cni-overlay"


def nad(config: Any, name: str = "net1", namespace: str = "ns1") -> dict[str, Any]:
    raw = config if isinstance(config, str) else json.dumps(config)
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"config": raw}}


def test_layer2_with_subnets() -> None:
    net, errors, warnings = parse_nad(
        nad(
            {
                "name": "blue",
                "type": OVN,
                "topology": "layer2",
                "netAttachDefName": "ns1/net1",
                "subnets": "10.1.0.0/16, fd00::/64",
                "excludeSubnets": "10.1.0.1/32",
                "mtu": 1400,
            }
        )
    )
    assert errors == [] and warnings == []
    assert net is not None
    assert net.nad == NadKey("ns1", "net1") and net.name == "blue" and net.topology == "layer2"
    assert net.subnets == ("10.1.0.0/16", "fd00::/64")
    assert net.exclude_subnets == ("10.1.0.1/32",)
    assert net.mtu == 1400 and not net.ipam_less


def test_layer3_host_subnet_suffix_is_stripped() -> None:
    net, errors, _ = parse_nad(
        nad(
            {
                "name": "l3",
                "type": OVN,
                "topology": "layer3",
                "subnets": "10.128.0.0/16/24,fd01::/48/64",
            }
        )
    )
    assert errors == []
    assert net is not None and net.subnets == ("10.128.0.0/16", "fd01::/48")


def test_host_subnet_suffix_only_on_layer3() -> None:
    net, errors, _ = parse_nad(
        nad({"name": "l2", "type": OVN, "topology": "layer2", "subnets": "10.128.0.0/16/24"})
    )
    assert net is None
    assert [str(e) for e in errors] == [
        'spec.config: Invalid value: "10.128.0.0/16/24": NetworkAttachmentDefinition ns1/net1: '
        'subnets entry "10.128.0.0/16/24" is not a valid CIDR on a layer2 network (a per-node '
        "host subnet length like `10.128.0.0/16/24` is only valid for layer3)"
    ]


def test_bad_host_subnet_length() -> None:
    _, errors, _ = parse_nad(
        nad({"name": "l3", "type": OVN, "topology": "layer3", "subnets": "10.128.0.0/16/8"})
    )
    assert [str(e) for e in errors] == [
        'spec.config: Invalid value: "10.128.0.0/16/8": NetworkAttachmentDefinition ns1/net1: '
        'subnets entry "10.128.0.0/16/8" has a host subnet length that is not between the '
        "prefix length 16 (exclusive) and 32"
    ]


def test_localnet_ipamless_with_vlan() -> None:
    net, errors, warnings = parse_nad(
        nad({"name": "phys", "type": OVN, "topology": "localnet", "vlanID": 200})
    )
    assert errors == [] and warnings == []
    assert net is not None and net.ipam_less and net.vlan_id == 200


@pytest.mark.parametrize(
    ("config", "error"),
    [
        (
            "{",
            'spec.config: Invalid value: "{": NetworkAttachmentDefinition ns1/net1: spec.config is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)',
        ),
        (
            "[]",
            'spec.config: Invalid value: "[]": NetworkAttachmentDefinition ns1/net1: spec.config must be a JSON object',
        ),
        (
            {"name": "x", "type": OVN, "topology": "l2"},
            'spec.config: Invalid value: "l2": NetworkAttachmentDefinition ns1/net1: "topology" must be one of "layer2", "layer3", "localnet"',
        ),
        (
            {"name": "x", "type": OVN},
            'spec.config: Invalid value: null: NetworkAttachmentDefinition ns1/net1: "topology" must be one of "layer2", "layer3", "localnet"',
        ),
        (
            {"name": "x", "type": OVN, "topology": "layer2", "netAttachDefName": "ns1/other"},
            'spec.config: Invalid value: "ns1/other": NetworkAttachmentDefinition ns1/net1: "netAttachDefName" must equal "ns1/net1"',
        ),
        (
            {"name": "x", "type": OVN, "topology": "layer2", "subnets": "10.0.0.0/33"},
            'spec.config: Invalid value: "10.0.0.0/33": NetworkAttachmentDefinition ns1/net1: subnets entry "10.0.0.0/33" is not a valid CIDR on a layer2 network',
        ),
        (
            {"name": "x", "type": OVN, "topology": "layer2", "subnets": 5},
            'spec.config: Invalid value: 5: NetworkAttachmentDefinition ns1/net1: "subnets" must be a string of comma-separated CIDRs',
        ),
        (
            {
                "name": "x",
                "type": OVN,
                "topology": "layer2",
                "subnets": "10.0.0.0/24",
                "excludeSubnets": "10.9.0.0/24",
            },
            'spec.config: Invalid value: "10.9.0.0/24": NetworkAttachmentDefinition ns1/net1: excludeSubnets entry is not inside any of "subnets"',
        ),
        (
            {"name": "x", "type": OVN, "topology": "localnet", "vlanID": 5000},
            'spec.config: Invalid value: 5000: NetworkAttachmentDefinition ns1/net1: "vlanID" must be an integer between 1 and 4094',
        ),
        (
            {"name": "x", "type": OVN, "topology": "layer2", "mtu": "big"},
            'spec.config: Invalid value: "big": NetworkAttachmentDefinition ns1/net1: "mtu" must be an integer between 576 and 65536',
        ),
        (
            {"type": OVN, "topology": "layer2"},
            'spec.config: Invalid value: null: NetworkAttachmentDefinition ns1/net1: "name" (the network name) must be a non-empty string',
        ),
        (
            {"name": "x", "type": OVN, "topology": "layer3"},
            'spec.config: Required value: NetworkAttachmentDefinition ns1/net1: a layer3 network needs "subnets"',
        ),
    ],
)
def test_faults_name_the_nad(config: Any, error: str) -> None:
    net, errors, _ = parse_nad(nad(config))
    assert net is None
    assert [str(e) for e in errors] == [error]


def test_non_ovn_type_is_a_warning() -> None:
    net, errors, warnings = parse_nad(nad({"name": "m", "type": "macvlan", "topology": "layer2"}))
    assert net is not None and errors == []
    assert warnings == [
        'NetworkAttachmentDefinition ns1/net1: spec.config type is "macvlan", not '
        '"ovn-k8s-cni-overlay": its pods are not on an OVN-Kubernetes network, so this policy '
        "cannot be enforced there"
    ]


@pytest.mark.parametrize(
    "obj",
    [
        None,
        1,
        "x",
        [],
        {},
        {"metadata": {"name": "a"}},
        {"metadata": {"name": "a", "namespace": "b"}, "spec": []},
        {"metadata": {"name": "a", "namespace": "b"}, "spec": {"config": 1}},
    ],
)
def test_garbage_never_raises(obj: Any) -> None:
    net, errors, _ = parse_nad(obj)
    assert net is None and errors


def test_dict_lookup() -> None:
    lookup = DictNadLookup()
    assert lookup.add(nad({"name": "x"})) == NadKey("ns1", "net1")
    assert lookup.get(NadKey("ns1", "net1")) is not None
    assert lookup.get(NadKey("ns1", "nope")) is None
    assert lookup.add({"metadata": {}}) is None
