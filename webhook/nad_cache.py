"""Where the webhook gets NetworkAttachmentDefinitions and MultiNetworkPolicies from.

Two sources with one interface: informer caches over the API server, or manifest files
(``--snapshot``) that are ready at once. Objects are kept as the raw dicts the API returns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

from mnp.model import MNP_GROUP, MNP_KIND, NAD_KIND, NadKey
from mnp.policy_for import policy_for_of

log = logging.getLogger(__name__)

NAD_VERSION = "v1"
NAD_PLURAL = "network-attachment-definitions"
MNP_VERSION = "v1beta1"
MNP_PLURAL = "multi-networkpolicies"
# A cache-miss GET runs while the API server waits for our answer (10 s by default).
MISS_GET_TIMEOUT_SECONDS = 2.0
RESYNC_SECONDS = 300


def object_key(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return None
    ns, name = meta.get("namespace"), meta.get("name")
    if not isinstance(name, str) or not name:
        return None
    return (ns if isinstance(ns, str) else "", name)


def policy_targets(policy: Any) -> list[NadKey]:
    """The NADs a policy's ``policy-for`` annotation names; garbage names none."""
    keys, _ = policy_for_of(policy)
    return keys


class ObjectSource(Protocol):
    """What the handlers need; also a ``mnp.admission.NadLookup``."""

    @property
    def ready(self) -> bool: ...

    def get(self, key: NadKey) -> dict[str, Any] | None:
        """Cache first, then (for the cluster source) a direct GET."""
        ...

    def cached_nad(self, key: NadKey) -> tuple[bool, dict[str, Any] | None]:
        """(known, nad): known is False when only a GET could tell."""
        ...

    def policies_targeting(self, key: NadKey) -> list[dict[str, Any]]: ...

    def nad_count(self) -> int: ...

    def policy_count(self) -> int: ...


class _Store:
    """NADs and policies by key, guarded by one lock (informer threads write, handlers read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.nads: dict[NadKey, dict[str, Any]] = {}
        self.policies: dict[tuple[str, str], dict[str, Any]] = {}

    def put(self, obj: Any) -> None:
        if not isinstance(obj, dict) or (key := object_key(obj)) is None:
            return
        with self._lock:
            if obj.get("kind") == NAD_KIND:
                self.nads[NadKey(*key)] = obj
            elif obj.get("kind") == MNP_KIND:
                self.policies[key] = obj

    def remove(self, obj: Any) -> None:
        if not isinstance(obj, dict) or (key := object_key(obj)) is None:
            return
        with self._lock:
            if obj.get("kind") == NAD_KIND:
                self.nads.pop(NadKey(*key), None)
            elif obj.get("kind") == MNP_KIND:
                self.policies.pop(key, None)

    def replace(self, kind: str, objs: Iterable[Any]) -> None:
        with self._lock:
            if kind == NAD_KIND:
                self.nads = {}
            else:
                self.policies = {}
        for obj in objs:
            self.put(obj)

    def nad(self, key: NadKey) -> dict[str, Any] | None:
        with self._lock:
            return self.nads.get(key)

    def targeting(self, key: NadKey) -> list[dict[str, Any]]:
        with self._lock:
            policies = list(self.policies.values())
        return [p for p in policies if key in policy_targets(p)]


class SnapshotSource:
    """NADs and policies read once from manifest files; ready at once, never asks anyone."""

    def __init__(self, objects: Iterable[Any]) -> None:
        self._store = _Store()
        for obj in objects:
            self._store.put(obj)

    @classmethod
    def from_files(cls, paths: list[Path]) -> SnapshotSource:
        from mnp.manifests import load_manifests

        return cls(m.obj for m in load_manifests(paths))

    @property
    def ready(self) -> bool:
        return True

    def get(self, key: NadKey) -> dict[str, Any] | None:
        return self._store.nad(key)

    def cached_nad(self, key: NadKey) -> tuple[bool, dict[str, Any] | None]:
        return True, self._store.nad(key)

    def policies_targeting(self, key: NadKey) -> list[dict[str, Any]]:
        return self._store.targeting(key)

    def nad_count(self) -> int:
        return len(self._store.nads)

    def policy_count(self) -> int:
        return len(self._store.policies)


def _list_adapter(
    list_call: Callable[..., Any], kind: str, on_list: Callable[[list[Any]], None]
) -> Callable[..., object]:
    """Adapt ``CustomObjectsApi.list_cluster_custom_object`` to ``SharedInformer``.

    The informer reads ``resp.items`` and ``resp.metadata.resource_version`` as attributes,
    but custom-object lists are plain dicts (where ``.items`` is the dict method). Watch calls
    (``watch=True``) pass through untouched; their events are dicts already. ``on_list`` sees
    every full list: SharedInformer has no HasSynced, so that is where we learn we are synced.
    """

    def list_func(**kwargs: Any) -> object:
        """List or watch.

        :rtype: object
        """
        # (The :rtype: line tells kubernetes.watch.Watch to hand events over as dicts and to
        # track their resourceVersion.)
        if kwargs.get("watch"):
            return list_call(**kwargs)
        resp = list_call(**kwargs)
        items = resp.get("items") or [] if isinstance(resp, dict) else []
        meta = resp.get("metadata") or {} if isinstance(resp, dict) else {}
        for item in items:
            # List items carry no kind/apiVersion; the store keys on kind.
            if isinstance(item, dict):
                item.setdefault("kind", kind)
        on_list(items)
        return SimpleNamespace(
            items=items,
            metadata=SimpleNamespace(resource_version=meta.get("resourceVersion")),
        )

    return list_func


class ClusterSource:
    """Informer caches over the API server, with a direct GET on a NAD cache miss."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client
        from kubernetes.informer import informer as informer_module

        shared_informer: Any = informer_module.SharedInformer  # untyped upstream

        self._api = client.CustomObjectsApi(api_client)
        self._store = _Store()
        self._synced = {NAD_KIND: threading.Event(), MNP_KIND: threading.Event()}
        self._informers: list[Any] = []
        for kind, version, plural in (
            (NAD_KIND, NAD_VERSION, NAD_PLURAL),
            (MNP_KIND, MNP_VERSION, MNP_PLURAL),
        ):

            def call(_v: str = version, _p: str = plural, **kw: Any) -> Any:
                return self._api.list_cluster_custom_object(MNP_GROUP, _v, _p, **kw)

            # A periodic relist bounds how long a silently dead watch can leave the cache stale.
            informer = shared_informer(
                _list_adapter(call, kind, self._on_list(kind)), resync_period=RESYNC_SECONDS
            )
            for event in ("ADDED", "MODIFIED"):
                informer.add_event_handler(event, self._on_put(kind))
            informer.add_event_handler("DELETED", self._on_delete(kind))
            self._informers.append((kind, informer))

    def _on_list(self, kind: str) -> Callable[[list[Any]], None]:
        def handler(items: list[Any]) -> None:
            self._store.replace(kind, items)
            if not self._synced[kind].is_set():
                log.info("%s cache synced: %d objects", kind, len(items))
            self._synced[kind].set()

        return handler

    def _on_put(self, kind: str) -> Callable[[Any], None]:
        def handler(obj: Any) -> None:
            if isinstance(obj, dict):
                obj.setdefault("kind", kind)
            self._store.put(obj)

        return handler

    def _on_delete(self, kind: str) -> Callable[[Any], None]:
        def handler(obj: Any) -> None:
            if isinstance(obj, dict):
                obj.setdefault("kind", kind)
            self._store.remove(obj)

        return handler

    def start(self) -> None:
        for _, informer in self._informers:
            informer.start()

    def stop(self) -> None:
        for _, informer in self._informers:
            informer.stop()

    @property
    def ready(self) -> bool:
        return all(e.is_set() for e in self._synced.values())

    def cached_nad(self, key: NadKey) -> tuple[bool, dict[str, Any] | None]:
        nad = self._store.nad(key)
        return nad is not None, nad

    def get(self, key: NadKey) -> dict[str, Any] | None:
        nad = self._store.nad(key)
        if nad is not None:
            return nad
        # The informer may lag a NAD created just before the policy: ask before rejecting.
        from kubernetes.client.exceptions import ApiException

        try:
            obj = self._api.get_namespaced_custom_object(
                MNP_GROUP,
                NAD_VERSION,
                key.namespace,
                NAD_PLURAL,
                key.name,
                _request_timeout=MISS_GET_TIMEOUT_SECONDS,
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        if isinstance(obj, dict):
            obj.setdefault("kind", NAD_KIND)
            self._store.put(obj)
            return obj
        return None

    def policies_targeting(self, key: NadKey) -> list[dict[str, Any]]:
        return self._store.targeting(key)

    def nad_count(self) -> int:
        return len(self._store.nads)

    def policy_count(self) -> int:
        return len(self._store.policies)


class ResolvedNads:
    """A ``NadLookup`` over NADs fetched beforehand, then the cache: admission never blocks."""

    def __init__(
        self, fetched: Mapping[NadKey, dict[str, Any] | None], source: ObjectSource
    ) -> None:
        self._fetched = fetched
        self._source = source

    def get(self, key: NadKey) -> dict[str, Any] | None:
        if key in self._fetched:
            return self._fetched[key]
        return self._source.cached_nad(key)[1]
