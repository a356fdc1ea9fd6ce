"""Snapshot from a live API server: SharedInformers for policies, NADs, pods and namespaces.

Every informer event sets ``changed``; the loop debounces and reconciles. The informer
re-lists on 410 Gone by itself. Typed objects (pods, namespaces) are turned into plain
dicts, the shape the snapshot builder reads.
"""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace
from typing import Any

import kubernetes.client
import kubernetes.config
import kubernetes.informer.informer as informer

from mnp.model import MNP_GROUP, MNP_KIND, NAD_KIND, Snapshot
from mnp.snapshot import build_snapshot

log = logging.getLogger("mnp.enforcer.kube")

# The kubernetes package is only partly typed; treat it as dynamic here.
client: Any = kubernetes.client
config: Any = kubernetes.config
SharedInformer: Any = informer.SharedInformer
ADDED, MODIFIED, DELETED = informer.ADDED, informer.MODIFIED, informer.DELETED

_SYNC_TIMEOUT_S = 60.0


def api_client(kubeconfig: str | None) -> Any:
    """From ``--kubeconfig``, else in-cluster, else the default kubeconfig."""
    if kubeconfig:
        return config.new_client_from_config(config_file=kubeconfig)
    try:
        config.load_incluster_config()
        return client.ApiClient()
    except config.ConfigException:
        return config.new_client_from_config()


def _custom_lister(api: Any, version: str, plural: str) -> Any:
    """A list function the informer understands: ``.items``/``.metadata`` when listing,
    the raw custom-object call (dict events) when watching."""

    def list_func(**kw: Any) -> Any:
        if kw.get("watch"):
            return api.list_cluster_custom_object(MNP_GROUP, version, plural, **kw)
        resp: dict[str, Any] = api.list_cluster_custom_object(MNP_GROUP, version, plural, **kw)
        rv = (resp.get("metadata") or {}).get("resourceVersion")
        return SimpleNamespace(
            items=list(resp.get("items") or []), metadata=SimpleNamespace(resource_version=rv)
        )

    # The watch finds the item type from the docstring (``:return: object`` -> dicts).
    list_func.__doc__ = api.list_cluster_custom_object.__doc__
    return list_func


class KubeSource:
    def __init__(self, api: Any) -> None:
        self.api = api
        self.changed = threading.Event()
        core = client.CoreV1Api(api)
        custom = client.CustomObjectsApi(api)
        self.informers: dict[str, Any] = {
            MNP_KIND: SharedInformer(_custom_lister(custom, "v1beta1", "multi-networkpolicies")),
            NAD_KIND: SharedInformer(
                _custom_lister(custom, "v1", "network-attachment-definitions")
            ),
            "Pod": SharedInformer(core.list_pod_for_all_namespaces),
            "Namespace": SharedInformer(core.list_namespace),
        }
        self._dicts: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}

    def _on_event(self, obj: Any) -> None:
        self.changed.set()

    def start(self) -> None:
        for inf in self.informers.values():
            for ev in (ADDED, MODIFIED, DELETED):
                inf.add_event_handler(ev, self._on_event)
            inf.start()
        deadline = time.monotonic() + _SYNC_TIMEOUT_S
        # The informer has no public "synced" flag; its resource version is set after the list.
        while any(getattr(i, "_resource_version", "") is None for i in self.informers.values()):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"informers did not finish their first list in {_SYNC_TIMEOUT_S:.0f}s;"
                    " check the API server address and RBAC (list/watch on pods, namespaces,"
                    " multi-networkpolicies and network-attachment-definitions)"
                )
            time.sleep(0.05)
        self.changed.set()

    def stop(self) -> None:
        for inf in self.informers.values():
            inf.stop()

    def _as_dict(self, kind: str, obj: Any) -> dict[str, Any]:
        if isinstance(obj, dict):
            return obj
        meta = obj.metadata
        cache_key = (kind, f"{meta.namespace}/{meta.name}")
        rv = str(meta.resource_version)
        hit = self._dicts.get(cache_key)
        if hit is not None and hit[0] == rv:
            return hit[1]
        as_dict = dict(self.api.sanitize_for_serialization(obj))
        as_dict["kind"] = kind
        as_dict.setdefault("apiVersion", "v1")
        self._dicts[cache_key] = (rv, as_dict)
        return as_dict

    def objects(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for kind, inf in self.informers.items():
            for obj in inf.cache.list():
                d = self._as_dict(kind, obj)
                d.setdefault("kind", kind)
                out.append(d)
        return out

    def snapshot(self) -> Snapshot:
        build = build_snapshot(self.objects())
        for problem in build.problems:
            log.debug("%s", problem)
        return build.snapshot

    def policy_uid(self, namespace: str, name: str) -> str | None:
        obj = self.informers[MNP_KIND].cache.get_by_key(f"{namespace}/{name}")
        if isinstance(obj, dict):
            uid = (obj.get("metadata") or {}).get("uid")
            return uid if isinstance(uid, str) else None
        return None
