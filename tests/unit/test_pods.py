"""Pod and namespace parsing: annotations, ports, and problems that never raise."""

from __future__ import annotations

import json
from typing import Any

from mnp.model import Attachment, ContainerPort, NadKey
from mnp.pods import parse_namespace, parse_pod


def pod_obj(annotations: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {
            "name": "client",
            "namespace": "ns1",
            "labels": {"app": "web"},
            "annotations": annotations or {},
        },
        "spec": spec,
    }


def test_comma_list_networks_default_to_the_pod_namespace() -> None:
    pod, problems = parse_pod(
        pod_obj({"k8s.v1.cni.cncf.io/networks": "l2-net, other/net2@eth1"}, nodeName="n1")
    )
    assert problems == []
    assert pod is not None
    assert pod.networks == (NadKey("ns1", "l2-net"), NadKey("other", "net2"))
    assert pod.node == "n1"
    assert pod.labels == (("app", "web"),)


def test_json_list_networks() -> None:
    text = json.dumps([{"name": "a"}, {"name": "b", "namespace": "ns2", "interface": "net1"}])
    pod, problems = parse_pod(pod_obj({"k8s.v1.cni.cncf.io/networks": text}))
    assert problems == []
    assert pod is not None and pod.networks == (NadKey("ns1", "a"), NadKey("ns2", "b"))


def test_pod_networks_annotation() -> None:
    annotation = {
        "ns1/l2-network": {
            "ip_addresses": ["192.168.100.10/24", "fd00::a/64"],
            "mac_address": "0A:58:C0:A8:64:0A",
        },
        "default": {"ip_addresses": ["10.244.0.5/24"], "mac_address": "0a:58:0a:f4:00:05"},
    }
    pod, problems = parse_pod(pod_obj({"k8s.ovn.org/pod-networks": json.dumps(annotation)}))
    assert problems == []
    assert pod is not None
    # The primary network ("default") is not a NAD and is left out.
    assert pod.attachments == (
        (
            NadKey("ns1", "l2-network"),
            Attachment(("192.168.100.10/24", "fd00::a/64"), "0a:58:c0:a8:64:0a"),
        ),
    )
    assert pod.attachment(NadKey("ns1", "l2-network")) is not None


def test_container_ports_default_to_tcp() -> None:
    pod, problems = parse_pod(
        pod_obj(
            containers=[
                {"name": "c", "ports": [{"name": "http", "containerPort": 80}]},
                {"name": "d", "ports": [{"containerPort": 53, "protocol": "UDP"}]},
            ]
        )
    )
    assert problems == []
    assert pod is not None
    assert pod.ports == (ContainerPort("http", 80, "TCP"), ContainerPort("", 53, "UDP"))


def test_bad_fields_are_reported_with_pod_and_field_and_dropped() -> None:
    pod, problems = parse_pod(
        pod_obj(
            {"k8s.ovn.org/pod-networks": "{not json", "k8s.v1.cni.cncf.io/networks": "a/b/c"},
            containers=[
                {"ports": [{"containerPort": 70000}, {"containerPort": 1, "protocol": "ICMP"}]}
            ],
        )
    )
    assert pod is not None and pod.attachments == () and pod.ports == () and pod.networks == ()
    text = "\n".join(problems)
    assert "pod ns1/client: metadata.annotations[k8s.ovn.org/pod-networks]: invalid JSON" in text
    assert "metadata.annotations[k8s.v1.cni.cncf.io/networks]: entry 'a/b/c'" in text
    assert "spec.containers[0].ports[0].containerPort: must be 1..65535" in text
    assert "spec.containers[0].ports[1].protocol" in text


def test_bad_attachment_entry_names_the_nad() -> None:
    annotation = {"ns1/x": {"ip_addresses": ["nope"], "mac_address": "0a:58:00:00:00:01"}}
    pod, problems = parse_pod(pod_obj({"k8s.ovn.org/pod-networks": json.dumps(annotation)}))
    assert pod is not None
    assert problems == [
        "pod ns1/client: metadata.annotations[k8s.ovn.org/pod-networks][ns1/x].ip_addresses: "
        "'nope' is not an address/prefix; ignored"
    ]


def test_garbage_never_raises() -> None:
    for obj in (None, 5, "x", {"metadata": "x"}, {"metadata": {"name": 3}}):
        pod, problems = parse_pod(obj)
        assert pod is None and problems
    pod, _ = parse_pod({"metadata": {"name": "p", "labels": ["x"]}, "spec": {"containers": "x"}})
    assert pod is not None and pod.namespace == "default"


def test_namespace_gets_its_name_label() -> None:
    ns = parse_namespace({"metadata": {"name": "x", "labels": {"team": "a"}}})
    assert ns.name == "x"
    assert dict(ns.labels) == {"team": "a", "kubernetes.io/metadata.name": "x"}
