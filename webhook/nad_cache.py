"""Where the webhook gets NetworkAttachmentDefinitions and MultiNetworkPolicies from.

Two sources with one interface: ``kubewatch`` watches over the API server, or manifest
files (``--snapshot``) that are ready at once. Objects are kept as plain dicts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from kubewatch import Watcher, WatchHooks, WatchSettings, custom_resource
from kubewatch.transforms import without_managed_fields
from mnp.model import MNP_GROUP, MNP_KIND, NAD_KIND, NadKey
from mnp.policy_for import policy_for_of

NAD_VERSION = "v1"
NAD_PLURAL = "network-attachment-definitions"
MNP_VERSION = "v1beta1"
MNP_PLURAL = "multi-networkpolicies"
# A cache-miss GET runs while the API server waits for our answer (10 s by default).
MISS_GET_TIMEOUT_SECONDS = 2.0


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
    """NADs and policies by key, for the snapshot source."""

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


def _keep_object(obj: dict[str, Any]) -> dict[str, Any]:
    """NADs and policies are small and read whole by admission; only managedFields goes."""
    return without_managed_fields(obj)


class ClusterSource:
    """NADs and policies watched through ``kubewatch``, with a direct GET on a NAD miss.

    Ready once both kinds have completed their first list.
    """

    def __init__(
        self,
        api_client: Any,
        hooks: WatchHooks | None = None,
        settings: WatchSettings | None = None,
    ) -> None:
        from kubernetes import client

        self._api = client.CustomObjectsApi(api_client)

        def watcher(kind: str, version: str, plural: str) -> Watcher[dict[str, Any]]:
            resource = custom_resource(api_client, kind, MNP_GROUP, version, plural)
            return Watcher(resource, _keep_object, settings=settings, hooks=hooks)

        self._nads = watcher(NAD_KIND, NAD_VERSION, NAD_PLURAL)
        self._policies = watcher(MNP_KIND, MNP_VERSION, MNP_PLURAL)

    def start(self) -> None:
        self._nads.start()
        self._policies.start()

    def stop(self) -> None:
        self._nads.stop()
        self._policies.stop()

    @property
    def ready(self) -> bool:
        return self._nads.synced.is_set() and self._policies.synced.is_set()

    def cached_nad(self, key: NadKey) -> tuple[bool, dict[str, Any] | None]:
        nad = self._nads.store.get(f"{key.namespace}/{key.name}")
        return nad is not None, nad

    def get(self, key: NadKey) -> dict[str, Any] | None:
        known, nad = self.cached_nad(key)
        if known:
            return nad
        # The watch may lag a NAD created just before the policy: ask before rejecting. The
        # answer is not stored: only the watch writes the store, so a delete is never undone.
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
            return obj
        return None

    def policies_targeting(self, key: NadKey) -> list[dict[str, Any]]:
        return [p for p in self._policies.store.values() if key in policy_targets(p)]

    def nad_count(self) -> int:
        return len(self._nads.store)

    def policy_count(self) -> int:
        return len(self._policies.store)


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
