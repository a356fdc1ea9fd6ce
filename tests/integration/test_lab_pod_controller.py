"""The lab's pod controller does work proportional to the change, in a real OVN NB.

The API server side is a recorder of the controller's patch and delete calls; OVN is real.
Work is counted (pods addressed, ovn-nbctl commands, patches), never timed.
"""

from __future__ import annotations

import copy
import json
from dataclasses import astuple, replace
from typing import Any

from mnp.model import NadKey
from mnp.ovn_names import lsp_name
from mnp_lab.ovn import OvnSandbox
from mnp_lab.pod_network_controller import ControllerWork, PodKey, PodNetworkController
from tests.support.k8s_objects import K8sObjects


class RecordedCore:
    """Stands for ``CoreV1Api``: keeps the pod-networks annotations the controller patches."""

    def __init__(self) -> None:
        self.patched: dict[tuple[str, str], dict[str, Any]] = {}

    def patch_namespaced_pod(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        value = body["metadata"]["annotations"]["k8s.ovn.org/pod-networks"]
        self.patched[(namespace, name)] = json.loads(value)

    def delete_namespaced_pod(self, name: str, namespace: str, **_: Any) -> None:
        raise AssertionError(f"no pod here is being deleted ({namespace}/{name})")


def pod(k8s: type[K8sObjects], namespace: str, name: str) -> dict[str, Any]:
    obj = k8s.pod(namespace, name, "net", app="a")
    meta: dict[str, Any] = obj["metadata"]
    meta["uid"] = f"uid-{name}"
    return obj


def key(obj: dict[str, Any]) -> PodKey:
    meta = obj["metadata"]
    return (meta["namespace"], meta["name"], meta["uid"])


def cost(before: ControllerWork, after: ControllerWork) -> tuple[int, ...]:
    return tuple(a - b for a, b in zip(astuple(after), astuple(before), strict=True))


def port_addresses(ovn: OvnSandbox, namespace: str, name: str) -> str | None:
    port = lsp_name(NadKey(namespace, "net"), namespace, name)
    out = ovn.nbctl("--if-exists", "get", "Logical_Switch_Port", port, "addresses")
    return out.strip() or None


def test_one_pod_event_costs_one_pods_work_whatever_the_pod_count(
    ovn: OvnSandbox, k8s: type[K8sObjects]
) -> None:
    costs: dict[int, list[tuple[int, ...]]] = {}
    for count in (10, 300):
        ns = f"ns{count}"
        objects = [k8s.namespace(ns), k8s.nad(ns, "net", "layer2", "10.0.0.0/16", f"n{count}")]
        objects += [pod(k8s, ns, f"p{i:04d}") for i in range(count)]
        core = RecordedCore()
        controller = PodNetworkController(ovn, core, objects.copy)
        controller.full_sync()
        assert len(core.patched) == count
        first = objects[2]
        held = core.patched[(ns, "p0000")][f"{ns}/net"]["ip_addresses"]
        costs[count] = []

        before = replace(controller.work)
        relabeled = copy.deepcopy(first)
        relabeled["metadata"]["labels"]["app"] = "b"
        controller.apply({key(first): relabeled})
        costs[count].append(cost(before, controller.work))

        before = replace(controller.work)
        controller.apply({key(first): None})  # deleted: its address goes back to the pool
        costs[count].append(cost(before, controller.work))
        assert port_addresses(ovn, ns, "p0000") is None

        before = replace(controller.work)
        added = pod(k8s, ns, "new")
        controller.apply({key(added): added})
        costs[count].append(cost(before, controller.work))
        # The lowest free address is the one the deleted pod gave back.
        assert core.patched[(ns, "new")][f"{ns}/net"]["ip_addresses"] == held
        assert port_addresses(ovn, ns, "new") == f'["0a:58:0a:00:00:01 {held[0].split("/")[0]}"]'

    # (pods synced, ovn-nbctl commands, patches, full syncs) for relabel, delete, add
    assert costs[10] == [(0, 0, 0, 0), (0, 1, 0, 0), (1, 4, 1, 0)]
    assert costs[300] == costs[10]
