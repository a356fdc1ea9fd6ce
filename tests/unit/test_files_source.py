"""The files source takes pod addresses from the manifests as written; it assigns none."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from enforcer.sources.files import snapshot_from_files
from mnp.model import NadKey

NAD = {
    "apiVersion": "k8s.cni.cncf.io/v1",
    "kind": "NetworkAttachmentDefinition",
    "metadata": {"name": "flat", "namespace": "vms"},
    "spec": {
        "config": json.dumps(
            {
                "cniVersion": "0.4.0",
                "name": "vms-flat",
                "netAttachDefName": "vms/flat",
                "topology": "layer2",
                "type": "ovn-k8s-cni-overlay",
                "subnets": "10.9.0.0/24",
            }
        )
    },
}


def pod(name: str, pod_networks: Mapping[str, object] | None) -> dict[str, object]:
    annotations = {"k8s.v1.cni.cncf.io/networks": "flat"}
    if pod_networks is not None:
        annotations["k8s.ovn.org/pod-networks"] = json.dumps(pod_networks)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "vms", "annotations": annotations},
    }


def test_addresses_come_from_the_annotations_and_are_never_invented(tmp_path: Path) -> None:
    given = {"vms/flat": {"ip_addresses": ["10.9.0.77/24"], "mac_address": "0a:58:0a:09:00:4d"}}
    items = [NAD, pod("written", given), pod("unaddressed", None)]
    path = tmp_path / "objects.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))

    pods = {p.name: p for p in snapshot_from_files([path]).pods}

    flat = NadKey("vms", "flat")
    written = pods["written"].attachment(flat)
    assert written is not None and written.ips == ("10.9.0.77/24",)
    # Still on the network (its switch port joins port groups), but with no address.
    assert flat in pods["unaddressed"].networks
    assert pods["unaddressed"].attachment(flat) is None
