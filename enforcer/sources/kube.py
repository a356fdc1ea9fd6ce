"""Snapshot from a live API server: ``kubewatch`` watches of policies, NADs, pods, namespaces.

Every change the watches report sets ``changed``; the loop (``enforcer.reconcile.run_loop``)
debounces and reconciles. A relist after 410 Gone reports what changed while the watch was
gone as ordinary changes, which is what repairs it. Each watch keeps only what the snapshot
builder reads (``transform``s below), so a pod's status updates change nothing and wake
nobody.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubewatch import (
    Handlers,
    Watcher,
    WatchHooks,
    WatchSettings,
    core_resource,
    custom_resource,
    essential_metadata,
    without_managed_fields,
)
from mnp.model import MNP_GROUP, MNP_KIND, NAD_KIND, Snapshot
from mnp.snapshot import build_snapshot

log = logging.getLogger("mnp.enforcer.kube")

_SYNC_TIMEOUT_S = 60.0


def pod_essentials(obj: dict[str, Any]) -> dict[str, Any]:
    """What a pod means to policy: identity, labels, annotations (network selection and
    OVN-Kubernetes' addresses), node and container ports. Never managedFields or status."""
    spec = obj.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    containers = spec.get("containers")
    kept_spec: dict[str, Any] = {
        "containers": [
            {"ports": c.get("ports") or []}
            for c in (containers if isinstance(containers, list) else [])
            if isinstance(c, dict)
        ]
    }
    if spec.get("nodeName"):
        kept_spec["nodeName"] = spec["nodeName"]
    return {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": "Pod",
        "metadata": essential_metadata(obj),
        "spec": kept_spec,
    }


def namespace_essentials(obj: dict[str, Any]) -> dict[str, Any]:
    """A namespace's name and labels (namespaceSelectors match those)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": essential_metadata(obj, keep=("name", "uid", "labels")),
    }


class KubeSource:
    """Four watches and one ``changed`` event; ``snapshot()`` builds from their stores."""

    def __init__(
        self,
        api: Any,
        hooks: WatchHooks | None = None,
        settings: WatchSettings | None = None,
    ) -> None:
        self.api = api
        self.changed = threading.Event()
        handlers: Handlers[dict[str, Any]] = Handlers(
            added=self._on_change,
            updated=self._on_change,
            deleted=self._on_change,
            synced=self._on_change,
        )
        transforms: list[tuple[Any, Callable[[dict[str, Any]], dict[str, Any]]]] = [
            (
                custom_resource(api, MNP_KIND, MNP_GROUP, "v1beta1", "multi-networkpolicies"),
                without_managed_fields,
            ),
            (
                custom_resource(api, NAD_KIND, MNP_GROUP, "v1", "network-attachment-definitions"),
                without_managed_fields,
            ),
            (core_resource(api, "Pod"), pod_essentials),
            (core_resource(api, "Namespace"), namespace_essentials),
        ]
        self.watchers: dict[str, Watcher[dict[str, Any]]] = {
            resource.kind: Watcher(resource, transform, handlers, settings, hooks)
            for resource, transform in transforms
        }

    def _on_change(self, *_: Any) -> None:
        self.changed.set()

    def start(self) -> None:
        """Start the watches and wait for every first list (a clear error if one never ends)."""
        for watcher in self.watchers.values():
            watcher.start()
        deadline = time.monotonic() + _SYNC_TIMEOUT_S
        for kind, watcher in self.watchers.items():
            if not watcher.synced.wait(max(0.0, deadline - time.monotonic())):
                self.stop()
                raise RuntimeError(
                    f"the {kind} watch did not finish its first list in"
                    f" {_SYNC_TIMEOUT_S:.0f}s; check the API server address, that the"
                    " MultiNetworkPolicy and NetworkAttachmentDefinition CRDs are installed,"
                    " and RBAC (list/watch on pods, namespaces, multi-networkpolicies and"
                    " network-attachment-definitions)"
                )
        self.changed.set()

    def stop(self) -> None:
        for watcher in self.watchers.values():
            watcher.stop()

    def objects(self) -> list[dict[str, Any]]:
        """Every kept object, as the plain dicts ``build_snapshot`` reads."""
        return [obj for watcher in self.watchers.values() for obj in watcher.store.values()]

    def snapshot(self) -> Snapshot:
        build = build_snapshot(self.objects())
        for problem in build.problems:
            log.debug("%s", problem)
        return build.snapshot

    def policy_uid(self, namespace: str, name: str) -> str | None:
        obj = self.watchers[MNP_KIND].store.get(f"{namespace}/{name}")
        uid = ((obj or {}).get("metadata") or {}).get("uid")
        return uid if isinstance(uid, str) else None
