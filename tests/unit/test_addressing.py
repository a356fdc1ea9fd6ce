"""Deterministic pod addresses standing in for OVN-Kubernetes' IPAM."""

from __future__ import annotations

import copy
import json
from typing import Any

from mnp_lab.addressing import fill_pod_networks

ANNOTATION = "k8s.ovn.org/pod-networks"


def nad(
    name: str, topology: str, subnets: str | None, net: str = "", **extra: Any
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "cniVersion": "0.4.0",
        "name": net or name,
        "type": "ovn-k8s-cni-overlay",
        "topology": topology,
        "netAttachDefName": f"ns1/{name}",
        **extra,
    }
    if subnets:
        config["subnets"] = subnets
    return {
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"namespace": "ns1", "name": name},
        "spec": {"config": json.dumps(config)},
    }


def pod(name: str, networks: str, node: str = "", pod_networks: Any = None) -> dict[str, Any]:
    annotations = {"k8s.v1.cni.cncf.io/networks": networks}
    if pod_networks is not None:
        annotations[ANNOTATION] = json.dumps(pod_networks)
    return {
        "kind": "Pod",
        "metadata": {"namespace": "ns1", "name": name, "annotations": annotations},
        "spec": {"nodeName": node},
    }


def entry(objs: list[dict[str, Any]], name: str, nad_key: str = "ns1/net") -> dict[str, Any]:
    for o in objs:
        if o["kind"] == "Pod" and o["metadata"]["name"] == name:
            result: dict[str, Any] = json.loads(o["metadata"]["annotations"][ANNOTATION])[nad_key]
            return result
    raise AssertionError(name)


def test_layer2_dual_stack_in_name_order_with_ovn_style_mac() -> None:
    objs = [pod("b", "net"), pod("a", "net"), nad("net", "layer2", "10.1.0.0/24,fd00:1::/64")]
    out = fill_pod_networks(objs)
    assert entry(out, "a")["ip_addresses"] == ["10.1.0.1/24", "fd00:1::1/64"]
    assert entry(out, "b")["ip_addresses"] == ["10.1.0.2/24", "fd00:1::2/64"]
    assert entry(out, "a")["mac_address"] == "0a:58:0a:01:00:01"


def test_inputs_untouched_and_result_independent_of_order() -> None:
    objs = [pod("b", "net"), pod("a", "net"), nad("net", "layer2", "10.1.0.0/24")]
    before = copy.deepcopy(objs)
    out1 = fill_pod_networks(objs)
    out2 = fill_pod_networks(list(reversed(objs)))
    assert objs == before
    assert entry(out1, "a") == entry(out2, "a") and entry(out1, "b") == entry(out2, "b")


def test_existing_addresses_are_kept_and_never_reused() -> None:
    taken = {"ns1/net": {"ip_addresses": ["10.1.0.1/24"], "mac_address": "0a:58:0a:01:00:01"}}
    objs = [
        nad("net", "layer2", "10.1.0.0/24"),
        pod("z", "net", pod_networks=taken),
        pod("a", "net"),
    ]
    out = fill_pod_networks(objs)
    assert out[1] is objs[1]  # nothing to fill: the same object
    assert entry(out, "a")["ip_addresses"] == ["10.1.0.2/24"]


def test_exclude_subnets_are_skipped() -> None:
    objs = [nad("net", "localnet", "10.1.0.0/24", excludeSubnets="10.1.0.0/29"), pod("a", "net")]
    assert entry(fill_pod_networks(objs), "a")["ip_addresses"] == ["10.1.0.8/24"]


def test_layer3_host_subnets_per_node_sorted_with_gateway_reserved() -> None:
    objs = [
        nad("net", "layer3", "10.128.0.0/16/24,fd00:10::/48"),
        pod("a", "net", node="worker-b"),
        pod("b", "net", node="worker-a"),
        pod("c", "net", node="worker-b"),
    ]
    out = fill_pod_networks(objs)
    assert entry(out, "b")["ip_addresses"] == ["10.128.0.2/24", "fd00:10::2/64"]
    assert entry(out, "b")["gateway_ips"] == ["10.128.0.1", "fd00:10::1"]
    assert entry(out, "a")["ip_addresses"] == ["10.128.1.2/24", "fd00:10:0:1::2/64"]
    assert entry(out, "c")["ip_addresses"] == ["10.128.1.3/24", "fd00:10:0:1::3/64"]


def test_ipv6_only_gets_hashed_mac_and_ipam_less_gets_mac_only() -> None:
    objs = [
        nad("v6", "layer2", "fd00:2::/64"),
        nad("bare", "layer2", None),
        pod("a", "v6,bare"),
        pod("b", "v6,bare"),
    ]
    out = fill_pod_networks(objs)
    a6, b6 = entry(out, "a", "ns1/v6"), entry(out, "b", "ns1/v6")
    assert a6["ip_addresses"] == ["fd00:2::1/64"]
    assert a6["mac_address"].startswith("0a:58:") and a6["mac_address"] != b6["mac_address"]
    assert entry(out, "a", "ns1/bare")["ip_addresses"] == []


def test_nads_sharing_a_network_share_its_address_space() -> None:
    objs = [
        nad("one", "layer2", "10.5.0.0/24", net="shared"),
        nad("two", "layer2", "10.5.0.0/24", net="shared"),
        pod("a", "one"),
        pod("b", "two"),
    ]
    out = fill_pod_networks(objs)
    assert entry(out, "a", "ns1/one")["ip_addresses"] == ["10.5.0.1/24"]
    assert entry(out, "b", "ns1/two")["ip_addresses"] == ["10.5.0.2/24"]


def test_unknown_nad_and_broken_annotation_are_left_alone() -> None:
    broken = pod("b", "net")
    broken["metadata"]["annotations"][ANNOTATION] = "{nope"
    objs = [nad("net", "layer2", "10.1.0.0/24"), pod("a", "missing-nad"), broken]
    out = fill_pod_networks(objs)
    assert out[1] is objs[1] and out[2] is objs[2]


def test_each_allocation_examines_a_constant_number_of_addresses() -> None:
    """Work, not time: the candidates looked at per pod do not grow with the pod count."""
    from mnp.pods import parse_pod
    from mnp_lab.addressing import LabIpam

    per_pod: dict[int, int] = {}
    for count in (50, 2000):
        objs = [nad("net", "layer2", "10.0.0.0/16", excludeSubnets="10.0.0.16/28")]
        objs += [pod(f"p{i:05d}", "net") for i in range(count)]
        ipam = LabIpam.for_objects(objs)
        filled = ipam.fill(objs)
        # One jump over the excluded block, then one candidate per pod.
        assert ipam.addresses_examined == count + 1
        assert ipam.pods_addressed == count

        gone, _ = parse_pod(filled[1])
        assert gone is not None
        ipam.release(gone)
        before = ipam.addresses_examined
        new = pod("new", "net")
        parsed, _ = parse_pod(new)
        assert parsed is not None
        assert entry([ipam.assign(new, parsed)], "new") == entry(filled, "p00000")
        per_pod[count] = ipam.addresses_examined - before
    assert per_pod == {50: 1, 2000: 1}
