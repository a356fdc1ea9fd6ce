"""Snapshot from a live API server: ``kubewatch`` watches of policies, NADs, pods, namespaces.

Every change the watches report sets ``changed`` and is queued on ``events`` as an
``enforcer.incremental`` event (a policy admitted as the webhook would, a NAD parsed into
its network); the loop debounces and reconciles. A relist after 410 Gone reports what
changed while the watch was gone as ordinary changes, which is what repairs it. Each watch
keeps only what compile reads (``transform``s below): with ``lean``, a pod is stored as the
model's ``Pod`` and a namespace as its ``Namespace``, one copy each, so an update that
changes none of labels, network annotations, container ports or node compares equal and
wakes nobody.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from enforcer.incremental import NamespaceEvent, NetworkEvent, PodEvent, PolicyEvent
from enforcer.sources import EventQueue
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
from mnp.admission import NadLookup, Verdict, admit_policy
from mnp.model import MNP_GROUP, MNP_KIND, NAD_KIND, NadKey, Namespace, Pod, Policy, Snapshot
from mnp.nad import parse_nad
from mnp.pods import implicit_namespace, parse_namespace, parse_pod
from mnp.snapshot import ObjectNads, build_snapshot
from mnp.validation import DEFAULT_RULES, ValidationRules

log = logging.getLogger("mnp.enforcer.kube")

Admitted = tuple[Verdict, Policy | None]


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


def lean_pod(obj: dict[str, Any]) -> Pod | None:
    """The model's ``Pod`` straight from the API object (None without a name)."""
    pod, problems = parse_pod(obj)
    for problem in problems:
        log.debug("%s", problem)
    return pod


def _split_key(key: str) -> tuple[str, str]:
    ns, _, name = key.rpartition("/")
    return ns, name


class KubeSource:
    """Four watches, one ``changed`` event and the ``events`` queue; ``snapshot()`` builds
    from their stores. ``lean`` stores pods and namespaces as models (the enforcer);
    without it, as trimmed dicts (``objects()`` for the lab's pod-network controller)."""

    def __init__(
        self,
        api: Any,
        hooks: WatchHooks | None = None,
        settings: WatchSettings | None = None,
        *,
        lean: bool = False,
        rules: ValidationRules = DEFAULT_RULES,
    ) -> None:
        self.api = api
        self.lean = lean
        self.settings = settings or WatchSettings()
        # policy key -> ((resourceVersion, NAD events seen), its admission or its error)
        self._admitted: dict[str, tuple[tuple[Any, int], Admitted | ValueError]] = {}
        self._nads_seen = 0
        self.rules = rules  # the cluster's release: admitted exactly as its webhook admits
        self.changed = threading.Event()
        self.events = EventQueue()
        pod_transform: Callable[[dict[str, Any]], Any] = lean_pod if lean else pod_essentials
        ns_transform: Callable[[dict[str, Any]], Any] = (
            parse_namespace if lean else namespace_essentials
        )
        watched: list[tuple[Any, Callable[[dict[str, Any]], Any], Callable[[str, Any], None]]] = [
            (
                custom_resource(api, MNP_KIND, MNP_GROUP, "v1beta1", "multi-networkpolicies"),
                without_managed_fields,
                self._on_policy,
            ),
            (
                custom_resource(api, NAD_KIND, MNP_GROUP, "v1", "network-attachment-definitions"),
                without_managed_fields,
                self._on_nad,
            ),
            (core_resource(api, "Pod"), pod_transform, self._on_pod),
            (core_resource(api, "Namespace"), ns_transform, self._on_namespace),
        ]
        self.watchers: dict[str, Watcher[Any]] = {
            resource.kind: Watcher(resource, transform, _handlers(on, self), self.settings, hooks)
            for resource, transform, on in watched
        }

    # -- events: each handler gets the key and the value now (None: deleted) ------------------

    def _on_pod(self, key: str, value: Pod | None) -> None:
        self.events.put(PodEvent(_split_key(key), value))

    def _on_namespace(self, key: str, value: Namespace | None) -> None:
        # A deleted namespace's pods (while they go) still match on its name label, as
        # ``snapshot()``'s implicit namespaces do; a namespace without pods changes no row.
        self.events.put(
            NamespaceEvent(key, value if value is not None else implicit_namespace(key))
        )

    def _on_nad(self, key: str, value: dict[str, Any] | None) -> None:
        self._nads_seen += 1  # every memoized admission is of the NADs before this one
        network = parse_nad(value)[0] if value is not None else None
        self.events.put(NetworkEvent(NadKey(*_split_key(key)), network))
        # Admission reads NADs (the IPAM-less rule): decide every policy again; the
        # compiler ignores the ones whose model did not change.
        for policy_key, obj in self.watchers[MNP_KIND].store.items():
            self._on_policy(policy_key, obj)

    def _on_policy(self, key: str, value: dict[str, Any] | None) -> None:
        if value is None:
            self._admitted.pop(key, None)
            self.events.put(PolicyEvent(key, None))
            return
        try:
            verdict, policy = self._admit(dict(value), self._nad_lookup(), self.rules)
        except ValueError as e:
            self.events.put(PolicyEvent(key, None, (str(e),)))
            return
        if policy is not None:
            self.events.put(PolicyEvent(key, policy))
        else:
            messages = tuple(str(e) for e in verdict.errors) or (verdict.message,)
            self.events.put(PolicyEvent(key, None, messages))

    def _admit(
        self, obj: dict[str, Any], nads: NadLookup, rules: ValidationRules
    ) -> tuple[Verdict, Policy | None]:
        """``admit_policy``, once per policy version and NAD set: the snapshot admits what
        the watch events admitted already (10,000 policies are seconds of work)."""
        meta = obj.get("metadata") or {}
        version = (meta.get("resourceVersion"), self._nads_seen)
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if version[0] is None:
            return admit_policy(obj, nads, rules)
        cached = self._admitted.get(key)
        if cached is not None and cached[0] == version:
            outcome = cached[1]
        else:
            try:
                outcome = admit_policy(obj, nads, rules)
            except ValueError as e:
                outcome = e
            self._admitted[key] = (version, outcome)
        if isinstance(outcome, ValueError):
            raise outcome
        return outcome

    def _nad_lookup(self) -> ObjectNads:
        nads = self.watchers[NAD_KIND].store.items()
        return ObjectNads({NadKey(*_split_key(k)): v for k, v in nads})

    def _on_change(self, *_: Any) -> None:
        self.changed.set()

    def start(self) -> None:
        """Start the watches and wait for every first list (a clear error if one never ends)."""
        for watcher in self.watchers.values():
            watcher.start()
        limit = self.settings.first_sync_timeout_s
        deadline = time.monotonic() + limit
        for kind, watcher in self.watchers.items():
            if not watcher.synced.wait(max(0.0, deadline - time.monotonic())):
                self.stop()
                raise RuntimeError(
                    f"the {kind} watch did not finish its first list in"
                    f" {limit:.0f}s; check the API server address, that the"
                    " MultiNetworkPolicy and NetworkAttachmentDefinition CRDs are installed,"
                    " and RBAC (list/watch on pods, namespaces, multi-networkpolicies and"
                    " network-attachment-definitions)"
                )
        self.changed.set()

    def stop(self) -> None:
        for watcher in self.watchers.values():
            watcher.stop()

    def objects(self) -> list[dict[str, Any]]:
        """Every kept object, as the plain dicts ``build_snapshot`` reads (not ``lean``)."""
        if self.lean:
            raise RuntimeError("a lean KubeSource keeps pods and namespaces as models only")
        return [obj for watcher in self.watchers.values() for obj in watcher.store.values()]

    def snapshot(self) -> Snapshot:
        if not self.lean:
            build = build_snapshot(self.objects(), self.rules, self._admit)
            for problem in build.problems:
                log.debug("%s", problem)
            return build.snapshot
        kinds = (MNP_KIND, NAD_KIND)
        build = build_snapshot(
            (obj for k in kinds for obj in self.watchers[k].store.values()),
            self.rules,
            self._admit,
        )
        for problem in build.problems:
            log.debug("%s", problem)
        pods: list[Pod] = [p for p in self.watchers["Pod"].store.values() if p is not None]
        namespaces = {n.name: n for n in self.watchers["Namespace"].store.values() if n.name}
        for ns in {p.namespace for p in pods} | {p.namespace for p in build.snapshot.policies}:
            namespaces.setdefault(ns, implicit_namespace(ns))
        return replace(
            build.snapshot,
            namespaces=tuple(namespaces[k] for k in sorted(namespaces)),
            pods=tuple(sorted(pods, key=lambda p: (p.namespace, p.name))),
        )

    def policy_uid(self, namespace: str, name: str) -> str | None:
        obj = self.watchers[MNP_KIND].store.get(f"{namespace}/{name}")
        uid = ((obj or {}).get("metadata") or {}).get("uid")
        return uid if isinstance(uid, str) else None


def _handlers(on: Callable[[str, Any], None], source: KubeSource) -> Handlers[Any]:
    """Every change as ``on(key, value now)`` (lean sources only: the events are the
    incremental loop's), then ``changed`` set."""

    def changed(key: str, value: Any) -> None:
        if source.lean:
            on(key, value)
        source.changed.set()

    def added(key: str, value: Any) -> None:
        changed(key, value)

    def updated(key: str, old: Any, new: Any) -> None:
        changed(key, new)

    def deleted(key: str, value: Any) -> None:
        changed(key, None)

    return Handlers(added=added, updated=updated, deleted=deleted, synced=source._on_change)
