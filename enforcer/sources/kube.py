"""Snapshot from a live API server: SharedInformers for policies, NADs, pods and namespaces.

Every informer event sets ``changed``; the loop debounces and reconciles.

What the ``kubernetes`` package's ``SharedInformer`` does and does not do, as checked
against a real kube-apiserver:
- It lists, then watches from the list's resourceVersion; on 410 Gone (watch expired, e.g.
  after an etcd compaction or an API server restart with a fresh watch cache) it re-lists
  and fires ADDED/MODIFIED/DELETED for the difference. That relist is what repairs what
  happened while the watch was gone.
- It retries a failed watch at once, in a tight loop, while the API server is down. The
  ``_PacedInformer`` below waits between failures (0.2 s doubling to 5 s).
- Custom resources come back as dicts, pods and namespaces as typed models; the typed ones
  are turned into plain dicts, the shape the snapshot builder reads.
- It has no public "synced" flag; ``_PacedInformer`` sets one after each completed list.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
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
ApiException: Any = kubernetes.client.exceptions.ApiException
SharedInformer: Any = informer.SharedInformer
ADDED, MODIFIED, DELETED, ERROR = (
    informer.ADDED,
    informer.MODIFIED,
    informer.DELETED,
    informer.ERROR,
)

_SYNC_TIMEOUT_S = 60.0
_BACKOFF_FIRST_S = 0.2
_BACKOFF_MAX_S = 5.0
# A failure this long after the previous one starts the backoff afresh.
_BACKOFF_FORGET_S = 30.0

# (kind, reason) -> None; reason is "expired" (410 Gone), "http_<status>" or "connection".
WatchErrorHook = Callable[[str, str], None]
# kind -> None, after each completed list (the first one, and each relist).
ListHook = Callable[[str], None]

API_VERSIONS = {MNP_KIND: f"{MNP_GROUP}/v1beta1", NAD_KIND: f"{MNP_GROUP}/v1"}


def api_client(kubeconfig: str | None) -> Any:
    """From ``--kubeconfig``, else in-cluster, else the default kubeconfig."""
    if kubeconfig:
        return config.new_client_from_config(config_file=kubeconfig)
    try:
        config.load_incluster_config()
        return client.ApiClient()
    except config.ConfigException:
        return config.new_client_from_config()


def _describe_failure(exc: Any) -> str:
    """One line: the API server's Status message, not the whole HTTP exchange."""
    if isinstance(exc, ApiException):
        try:
            message = json.loads(exc.body or "{}").get("message")
        except (ValueError, AttributeError):
            message = None
        return f"HTTP {exc.status} {exc.reason}" + (f": {message}" if message else "")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def watch_error_reason(exc: Any) -> str:
    """A short label for why a list or watch failed: ``expired`` for 410 Gone."""
    if isinstance(exc, ApiException):
        return "expired" if exc.status == 410 else f"http_{exc.status}"
    return "connection"


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

    # The watch picks the item type from the docstring's ``:rtype: object``: plain dicts.
    list_func.__doc__ = api.list_cluster_custom_object.__doc__
    return list_func


class _PacedInformer(SharedInformer):  # type: ignore[misc]
    """A SharedInformer that waits between failed lists/watches and says when it has listed.

    Both hooks override the informer's internals (``_initial_list``, ``_fire``,
    ``_stop_event``), as found in kubernetes 37; if a release renames them, the e2e tests
    (tests/e2e/test_enforcer_kube.py, test_enforcer_watch.py) fail on the lists metric.
    """

    def __init__(
        self, kind: str, list_func: Any, on_list: ListHook, on_error: WatchErrorHook
    ) -> None:
        super().__init__(list_func)
        self.kind = kind
        self.synced = threading.Event()
        self._on_list = on_list
        self._on_error = on_error
        self._failures = 0
        self._last_failure = 0.0

    def _initial_list(self) -> None:
        super()._initial_list()
        self._failures = 0
        self.synced.set()
        self._on_list(self.kind)

    def _fire(self, event_type: str, obj: Any) -> None:
        if event_type != ERROR:
            self._failures = 0
            super()._fire(event_type, obj)
            return
        if self._stop_event.is_set():
            return  # stop() closed the watch: not a failure
        reason = watch_error_reason(obj)
        self._on_error(self.kind, reason)
        now = time.monotonic()
        if now - self._last_failure > _BACKOFF_FORGET_S:
            self._failures = 0
        self._last_failure = now
        delay = min(_BACKOFF_FIRST_S * 2**self._failures, _BACKOFF_MAX_S)
        self._failures += 1
        if reason == "expired":
            log.info("%s watch expired (410 Gone): listing again", self.kind)
            return  # relist at once: the list itself is the recovery
        log.warning(
            "%s list/watch failed (%s); retrying in %.1fs", self.kind, _describe_failure(obj), delay
        )
        self._stop_event.wait(delay)


def _ignore(*_: Any) -> None:
    pass


class KubeSource:
    def __init__(
        self,
        api: Any,
        on_list: ListHook = _ignore,
        on_watch_error: WatchErrorHook = _ignore,
    ) -> None:
        self.api = api
        self.changed = threading.Event()
        core = client.CoreV1Api(api)
        custom = client.CustomObjectsApi(api)
        list_funcs: dict[str, Any] = {
            MNP_KIND: _custom_lister(custom, "v1beta1", "multi-networkpolicies"),
            NAD_KIND: _custom_lister(custom, "v1", "network-attachment-definitions"),
            "Pod": core.list_pod_for_all_namespaces,
            "Namespace": core.list_namespace,
        }
        self.informers: dict[str, _PacedInformer] = {
            kind: _PacedInformer(kind, func, on_list, on_watch_error)
            for kind, func in list_funcs.items()
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
        for kind, inf in self.informers.items():
            if not inf.synced.wait(max(0.0, deadline - time.monotonic())):
                self.stop()
                raise RuntimeError(
                    f"the {kind} informer did not finish its first list in"
                    f" {_SYNC_TIMEOUT_S:.0f}s; check the API server address, that the"
                    " MultiNetworkPolicy and NetworkAttachmentDefinition CRDs are installed,"
                    " and RBAC (list/watch on pods, namespaces, multi-networkpolicies and"
                    " network-attachment-definitions)"
                )
        self.changed.set()

    def stop(self) -> None:
        for inf in self.informers.values():
            inf.stop()

    def _as_dict(self, kind: str, obj: Any) -> dict[str, Any]:
        if isinstance(obj, dict):
            custom: dict[str, Any] = obj
            if "kind" not in custom:  # list items of custom resources carry it; be sure
                custom = {**custom, "kind": kind, "apiVersion": API_VERSIONS.get(kind, "v1")}
            return custom
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
        seen: set[tuple[str, str]] = set()
        for kind, inf in self.informers.items():
            for obj in inf.cache.list():
                out.append(self._as_dict(kind, obj))
                if not isinstance(obj, dict):
                    seen.add((kind, f"{obj.metadata.namespace}/{obj.metadata.name}"))
        for gone in set(self._dicts) - seen:  # deleted pods and namespaces
            del self._dicts[gone]
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
