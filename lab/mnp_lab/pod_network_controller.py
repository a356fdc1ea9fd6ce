"""``mnp lab pod-controller``: the lab's stand-in for OVN-Kubernetes in a Kubernetes lab.

It watches pods and NADs and, for every pod attached to an OVN NAD
(``k8s.v1.cni.cncf.io/networks``):

- gives it addresses with ``mnp_lab.addressing.LabIpam`` (deterministic; what a pod
  already has is kept) and creates its logical switch port in the lab's OVN, *before*
  patching ``k8s.ovn.org/pod-networks`` on the pod, so whoever reacts to the annotation
  finds the port;
- deletes the ports of pods that are gone and gives their addresses back.

Work is proportional to the change: a pod event costs that pod's addresses, its port's
four ovn-nbctl commands and one patch; a relabel costs nothing (labels are the enforcer's
business). Only a NAD change, a layer3 pod on a node without a switch yet, or a failure
rebuilds everything (``full_sync``: ``LabIpam.fill`` and ``build_topology`` over the cache).

There is no kubelet: pods are never scheduled or run. A pod bound to a node (``nodeName``)
is deleted gracefully by the API server, which waits for the kubelet's confirmation; the
controller gives it (a delete with grace period 0), as a kubelet would once the containers
stopped.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from kubewatch import (
    Handlers,
    Watcher,
    api_client,
    core_resource,
    custom_resource,
    without_managed_fields,
)
from mnp.model import (
    MNP_GROUP,
    MNP_KIND,
    NAD_KIND,
    OVN_CNI_TYPE,
    POD_NETWORKS_ANNOTATION,
    NadKey,
    Network,
)
from mnp.model import Pod as ParsedPod
from mnp.pods import parse_pod
from mnp.snapshot import build_snapshot
from mnp_lab.addressing import LabIpam
from mnp_lab.ovn import OvnError, OvnSandbox
from mnp_lab.topology import PodPort, build_topology, pod_port_commands, pod_ports, run_transactions

log = logging.getLogger("mnp.lab.pod-controller")

_DEBOUNCE_S = 0.05
_IDLE_WAIT_S = 30.0
_RETRY_S = 1.0

PodKey = tuple[str, str, str]  # namespace, name, uid
# What the controller's work for a pod depends on: its networks annotation, its
# pod-networks annotation and its node. Labels, for one, are not part of it.
PodView = tuple[str | None, str | None, str | None]


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _pod_key(obj: dict[str, Any]) -> PodKey:
    meta = _meta(obj)
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""), str(meta.get("uid")))


def _annotation(obj: dict[str, Any], name: str) -> str | None:
    annotations = _meta(obj).get("annotations")
    value = annotations.get(name) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) else None


def _pod_networks(obj: dict[str, Any]) -> str | None:
    return _annotation(obj, POD_NETWORKS_ANNOTATION)


def _view(obj: dict[str, Any]) -> PodView:
    spec = obj.get("spec")
    node = spec.get("nodeName") if isinstance(spec, dict) else None
    return (
        _annotation(obj, "k8s.v1.cni.cncf.io/networks"),
        _pod_networks(obj),
        node if isinstance(node, str) else None,
    )


def _with_pod_networks(obj: dict[str, Any], value: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    if not isinstance(meta.get("annotations"), dict):
        meta["annotations"] = {}
    meta["annotations"][POD_NETWORKS_ANNOTATION] = value
    return out


@dataclass
class PodRecord:
    """What the controller did for one pod: the view it acted on, the addresses it holds
    (to give back) and the switch ports it wrote."""

    view: PodView
    pod: ParsedPod
    ports: dict[str, PodPort]


@dataclass
class ControllerWork:
    """Counters of the work done, so tests can check it stays proportional to the change."""

    pods_synced: int = 0  # pods whose addresses and ports were (re)computed one by one
    ovn_commands: int = 0  # ovn-nbctl commands issued by per-pod work
    patches: int = 0  # pod-networks annotations patched
    full_syncs: int = 0


@dataclass
class _Batch:
    # One group of ovn-nbctl commands per pod, never split across transactions.
    groups: list[list[list[str]]] = field(default_factory=list)
    patches: list[tuple[PodKey, str]] = field(default_factory=list)
    needs_full_sync: bool = False


class PodNetworkController:
    """``full_sync()`` makes OVN and the pods' annotations match the whole cache;
    ``apply(changes)`` does the same for the pods that changed, and only for them."""

    def __init__(
        self, sandbox: OvnSandbox, core_v1: Any, objects: Callable[[], list[dict[str, Any]]]
    ) -> None:
        self.sandbox = sandbox
        self.core = core_v1
        self.objects = objects  # the watches' stores: pods, NADs, namespaces
        self.ipam = LabIpam([])
        self.network_of: dict[NadKey, Network] = {}
        self.first_of_name: dict[str, Network] = {}
        self.switches: set[str] = set()
        self.pods: dict[PodKey, PodRecord] = {}
        # Annotations patched but maybe not seen by the watch yet: reusing them keeps a
        # second allocation from moving a pod to another address.
        self._assigned: dict[PodKey, str] = {}
        self._finalized: set[PodKey] = set()
        self.work = ControllerWork()

    # --- everything at once: at start, on NAD changes, after failures ------------------
    def full_sync(self) -> None:
        objects: list[dict[str, Any]] = []
        live: set[PodKey] = set()
        deleting: set[PodKey] = set()
        for obj in self.objects():
            kind = obj.get("kind")
            if kind == MNP_KIND:
                continue  # topology only: policies are the enforcer's
            if kind == "Pod":
                key = _pod_key(obj)
                if _meta(obj).get("deletionTimestamp"):
                    deleting.add(key)
                    self._finish_delete(key)
                    continue  # its port goes now, as when OVN-Kubernetes tears a pod down
                live.add(key)
                obj = self._as_assigned(key, obj)
            objects.append(obj)
        self._assigned = {k: v for k, v in self._assigned.items() if k in live}
        self._finalized &= deleting

        self.ipam = LabIpam.for_objects(objects, self.ipam.node_index)
        filled = self.ipam.fill(objects)
        build = build_snapshot(filled)
        # Ports first, then the annotation; the enforcer also copes with the other order
        # (OVN-Kubernetes' own) by looking again for ports it did not find.
        layouts = build_topology(self.sandbox, build.snapshot)
        self._learn_networks(build.snapshot.networks)
        self.switches = {sw for layout in layouts.values() for sw in layout.switches}
        ports_of: dict[tuple[str, str], dict[str, PodPort]] = {}
        for layout in layouts.values():
            for port in layout.ports:
                ports_of.setdefault((port.pod_namespace, port.pod_name), {})[port.name] = port
        self.pods = {}
        for before, after in zip(objects, filled, strict=True):
            if after.get("kind") != "Pod":
                continue
            key = _pod_key(after)
            pod, _problems = parse_pod(after)
            if pod is not None:
                self.pods[key] = PodRecord(_view(after), pod, ports_of.get(key[:2], {}))
            value = _pod_networks(after)
            if after is not before and value is not None:
                self._assigned[key] = value
                self._patch(key, {POD_NETWORKS_ANNOTATION: value})
        self.work.full_syncs += 1

    def _learn_networks(self, networks: tuple[Network, ...] | list[Network]) -> None:
        self.network_of, self.first_of_name = {}, {}
        for net in sorted(networks, key=lambda n: n.nad):
            if net.cni_type == OVN_CNI_TYPE:
                self.network_of[net.nad] = net
                self.first_of_name.setdefault(net.name, net)

    # --- one pod at a time ----------------------------------------------------------
    def apply(self, changes: Mapping[PodKey, dict[str, Any] | None]) -> None:
        """Act on pods added, changed (a dict) or gone (None), in namespace/name order;
        every pod's ports in one ovn-nbctl transaction, then the annotations."""
        batch = _Batch()
        updates: list[tuple[PodKey, dict[str, Any], ParsedPod, dict[str, PodPort]]] = []
        for key in sorted(changes):
            obj = changes[key]
            if obj is None:
                self._finalized.discard(key)  # gone from the API server for good
            elif _meta(obj).get("deletionTimestamp"):
                self._finish_delete(key)
                obj = None
            if obj is None:
                batch.groups.append(self._forget(key))
                continue
            obj = self._as_assigned(key, obj)
            record = self.pods.get(key)
            if record is not None and record.view == _view(obj):
                continue  # nothing the topology depends on changed (a relabel, say)
            old_ports: dict[str, PodPort] = {}
            if record is not None:
                del self.pods[key]
                self.ipam.release(record.pod)
                old_ports = record.ports
            pod, _problems = parse_pod(obj)
            if pod is None:
                batch.groups.append([["--if-exists", "lsp-del", n] for n in sorted(old_ports)])
                continue
            self.ipam.reserve(pod)  # before any allocation: the batch's own addresses are taken
            updates.append((key, obj, pod, old_ports))
        for key, obj, pod, old_ports in updates:
            self._update(key, obj, pod, old_ports, batch)
        run_transactions(self.sandbox, batch.groups)
        self.work.ovn_commands += sum(len(group) for group in batch.groups)
        for key, value in batch.patches:
            self._patch(key, {POD_NETWORKS_ANNOTATION: value})
        if batch.needs_full_sync:
            self.full_sync()

    def _as_assigned(self, key: PodKey, obj: dict[str, Any]) -> dict[str, Any]:
        assigned = self._assigned.get(key)
        if assigned is not None and _pod_networks(obj) != assigned:
            return _with_pod_networks(obj, assigned)
        return obj

    def _update(
        self,
        key: PodKey,
        obj: dict[str, Any],
        pod: ParsedPod,
        old_ports: Mapping[str, PodPort],
        batch: _Batch,
    ) -> None:
        """Addresses for what the pod lacks; commands for the ports that differ."""
        filled = self.ipam.assign(obj, pod)
        if filled is not obj:
            value = _pod_networks(filled)
            assert value is not None
            self._assigned[key] = value
            batch.patches.append((key, value))
            parsed, _problems = parse_pod(filled)
            assert parsed is not None
            pod = parsed
        ports = {p.name: p for p in pod_ports(pod, self.network_of, self.first_of_name)}
        gone = sorted(old_ports.keys() - ports.keys())
        commands = [["--if-exists", "lsp-del", name] for name in gone]
        for port in ports.values():
            before = old_ports.get(port.name)
            if port.switch not in self.switches:
                batch.needs_full_sync = True  # a layer3 node switch and router port to make
            elif before != port:
                if before is not None and before.switch != port.switch:
                    commands.append(["lsp-del", port.name])  # layer3: another node
                topology = self.first_of_name[port.network].topology
                commands += pod_port_commands(port, topology)
        batch.groups.append(commands)
        self.pods[key] = PodRecord(_view(filled), pod, ports)
        self.work.pods_synced += 1

    def _forget(self, key: PodKey) -> list[list[str]]:
        """Give back a pod's addresses; the commands deleting its ports."""
        record = self.pods.pop(key, None)
        if record is None:
            return []
        self.ipam.release(record.pod)
        return [["--if-exists", "lsp-del", name] for name in sorted(record.ports)]

    # --- the API server ---------------------------------------------------------------
    def _patch(self, key: PodKey, annotations: dict[str, str]) -> None:
        from kubernetes.client.exceptions import ApiException

        namespace, name, _ = key
        body = {"metadata": {"annotations": annotations}}
        try:
            self.core.patch_namespaced_pod(name, namespace, body)
            self.work.patches += 1
            log.info("pod %s/%s: %s", namespace, name, json.dumps(annotations, sort_keys=True))
        except ApiException as e:
            if e.status != 404:  # a pod deleted meanwhile needs nothing
                raise

    def _finish_delete(self, key: PodKey) -> None:
        from kubernetes.client.exceptions import ApiException

        if key in self._finalized:
            return
        namespace, name, uid = key
        try:
            self.core.delete_namespaced_pod(
                name,
                namespace,
                grace_period_seconds=0,
                body={"gracePeriodSeconds": 0, "preconditions": {"uid": uid}},
            )
            log.info("pod %s/%s: deleted (no kubelet here to wait for)", namespace, name)
        except ApiException as e:
            if e.status not in (404, 409):
                raise
        self._finalized.add(key)


class PodEvents:
    """Pod events from the watches' threads, coalesced per pod until the loop takes them;
    a NAD event asks for a full sync instead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changes: dict[PodKey, dict[str, Any] | None] = {}
        self._full_sync = True  # the first round always is one
        self.ready = threading.Event()

    def pod(self, key: PodKey, obj: dict[str, Any] | None) -> None:
        with self._lock:
            self._changes[key] = obj
        self.ready.set()

    def full_sync(self) -> None:
        with self._lock:
            self._full_sync = True
        self.ready.set()

    def take(self) -> tuple[dict[PodKey, dict[str, Any] | None], bool]:
        with self._lock:
            self.ready.clear()
            changes, self._changes = self._changes, {}
            full, self._full_sync = self._full_sync, False
        return changes, full


def _watchers(api: Any, events: PodEvents) -> list[Watcher[dict[str, Any]]]:
    """Pods (per-object events), NADs (any change: a full sync) and namespaces (read at a
    full sync), on the same ``kubewatch`` layer and transforms as the enforcer."""
    from enforcer.sources.kube import namespace_essentials, pod_essentials

    def on_pod(_key: str, obj: dict[str, Any], *_new: dict[str, Any]) -> None:
        current = _new[0] if _new else obj
        events.pod(_pod_key(current), current)

    def on_pod_gone(_key: str, obj: dict[str, Any]) -> None:
        events.pod(_pod_key(obj), None)

    def on_nad(*_: Any) -> None:
        events.full_sync()

    pods = Handlers(added=on_pod, updated=on_pod, deleted=on_pod_gone)
    nads: Handlers[dict[str, Any]] = Handlers(
        added=on_nad, updated=on_nad, deleted=on_nad, synced=on_nad
    )
    nad_resource = custom_resource(api, NAD_KIND, MNP_GROUP, "v1", "network-attachment-definitions")
    return [
        Watcher(core_resource(api, "Pod"), pod_essentials, pods),
        Watcher(nad_resource, without_managed_fields, nads),
        Watcher(core_resource(api, "Namespace"), namespace_essentials),
    ]


def run(dir: Path, kubeconfig: Path, stop: threading.Event) -> None:
    from kubernetes import client

    sandbox = OvnSandbox.attach(dir)
    api = api_client(kubeconfig)
    events = PodEvents()
    watchers = _watchers(api, events)
    for watcher in watchers:
        watcher.start()

    def objects() -> list[dict[str, Any]]:
        return [obj for watcher in watchers for obj in watcher.store.values()]

    controller = PodNetworkController(sandbox, client.CoreV1Api(api), objects)
    log.info("watching pods and NADs; OVN NB %s", sandbox.nb_remote)
    try:
        for watcher in watchers:
            while not watcher.synced.wait(timeout=_IDLE_WAIT_S):
                if stop.is_set():
                    return
        while not stop.is_set():
            if not events.ready.wait(timeout=_IDLE_WAIT_S):
                continue
            if stop.is_set():
                return
            stop.wait(_DEBOUNCE_S)
            changes, full = events.take()
            try:
                if full:
                    controller.full_sync()
                else:
                    controller.apply(changes)
            except Exception as e:  # keep serving: a full sync repairs it
                log.error("sync failed, retrying in %.0f s: %s", _RETRY_S, e)
                stop.wait(_RETRY_S)
                events.full_sync()
    finally:
        for watcher in watchers:
            watcher.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="mnp lab pod-controller",
        description="Play OVN-Kubernetes for a Kubernetes lab: pod addresses and switch ports.",
    )
    parser.add_argument("--dir", required=True, type=Path, help="the lab directory")
    parser.add_argument("--kubeconfig", type=Path, help="default: DIR/kubeconfig")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    kubeconfig = args.kubeconfig or args.dir / "kubeconfig"
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        run(args.dir, kubeconfig, stop)
    except (OvnError, OSError, RuntimeError) as e:
        print(f"mnp lab pod-controller: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
