"""``mnp lab pod-controller``: the lab's stand-in for OVN-Kubernetes in a Kubernetes lab.

It watches pods, NADs and namespaces and, for every pod attached to an OVN NAD
(``k8s.v1.cni.cncf.io/networks``):

- gives it addresses with ``mnp_lab.addressing.fill_pod_networks`` (deterministic; what a pod
  already has is kept) and creates its logical switch port (and the NADs' switches) in the
  lab's OVN with ``build_topology``, *before* patching ``k8s.ovn.org/pod-networks`` on the
  pod, so whoever reacts to the annotation finds the port;
- deletes the ports of pods that are gone.

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
from pathlib import Path
from types import FrameType
from typing import Any

from mnp.model import MNP_KIND, POD_NETWORKS_ANNOTATION
from mnp.snapshot import build_snapshot
from mnp_lab.addressing import fill_pod_networks
from mnp_lab.ovn import OvnError, OvnSandbox
from mnp_lab.topology import build_topology

log = logging.getLogger("mnp.lab.pod-controller")

_DEBOUNCE_S = 0.05
_RESYNC_S = 30.0
_RETRY_S = 1.0

PodKey = tuple[str, str, str]  # namespace, name, uid


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


def _with_pod_networks(obj: dict[str, Any], value: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    if not isinstance(meta.get("annotations"), dict):
        meta["annotations"] = {}
    meta["annotations"][POD_NETWORKS_ANNOTATION] = value
    return out


class PodNetworkController:
    """One ``sync()`` makes OVN and the pods' annotations match the informers' caches."""

    def __init__(self, sandbox: OvnSandbox, source: Any, core_v1: Any) -> None:
        self.sandbox = sandbox
        self.source = source  # enforcer.sources.kube.KubeSource (objects(), changed)
        self.core = core_v1
        # Annotations patched but maybe not seen by the informer yet: reusing them keeps a
        # second allocation (with other pods around) from moving a pod to another address.
        self._assigned: dict[PodKey, str] = {}
        self._finalized: set[PodKey] = set()

    def sync(self) -> None:
        objects: list[dict[str, Any]] = []
        live: set[PodKey] = set()
        deleting: set[PodKey] = set()
        for obj in self.source.objects():
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
                assigned = self._assigned.get(key)
                if assigned is not None and _pod_networks(obj) != assigned:
                    obj = _with_pod_networks(obj, assigned)
            objects.append(obj)
        self._assigned = {k: v for k, v in self._assigned.items() if k in live}
        self._finalized &= deleting

        filled = fill_pod_networks(objects)
        build = build_snapshot(filled)
        # Ports first, then the annotation; the enforcer also copes with the other order
        # (OVN-Kubernetes' own) by looking again for ports it did not find.
        build_topology(self.sandbox, build.snapshot)
        for before, after in zip(objects, filled, strict=True):
            if after.get("kind") != "Pod":
                continue
            value = _pod_networks(after)
            if after is not before and value is not None:
                key = _pod_key(after)
                self._assigned[key] = value
                self._patch(key, {POD_NETWORKS_ANNOTATION: value})

    def _patch(self, key: PodKey, annotations: dict[str, str]) -> None:
        from kubernetes.client.exceptions import ApiException

        namespace, name, _ = key
        body = {"metadata": {"annotations": annotations}}
        try:
            self.core.patch_namespaced_pod(name, namespace, body)
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


def run(dir: Path, kubeconfig: Path, stop: threading.Event) -> None:
    from kubernetes import client

    from enforcer.sources.kube import KubeSource, api_client

    sandbox = OvnSandbox.attach(dir)
    api = api_client(str(kubeconfig))
    source = KubeSource(api)
    source.start()
    controller = PodNetworkController(sandbox, source, client.CoreV1Api(api))
    log.info("watching pods, NADs and namespaces; OVN NB %s", sandbox.nb_remote)
    try:
        while not stop.is_set():
            source.changed.wait(timeout=_RESYNC_S)
            if stop.is_set():
                return
            stop.wait(_DEBOUNCE_S)
            source.changed.clear()
            try:
                controller.sync()
            except Exception as e:  # keep serving: the next event or the retry repairs it
                log.error("sync failed, retrying in %.0f s: %s", _RETRY_S, e)
                stop.wait(_RETRY_S)
                source.changed.set()
    finally:
        source.stop()


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
