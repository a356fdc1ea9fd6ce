"""Where the enforcer's view of the cluster comes from: manifest files or a live API server.

A source gives ``snapshot()`` (the current Snapshot: start, periodic resync, fail-safe
decisions), sets ``changed`` when it may differ, and queues what changed on ``events``
(the running enforcer's input between snapshots).
"""

from __future__ import annotations

import threading
from typing import Protocol

from enforcer.incremental import (
    Event,
    NamespaceEvent,
    NetworkEvent,
    PodEvent,
)
from mnp.model import Snapshot

__all__ = ["EventQueue", "Source", "event_key"]


def event_key(event: Event) -> tuple[str, object]:
    """Which object an event is about: a later event about it makes this one moot."""
    if isinstance(event, PodEvent):
        return ("Pod", event.key)
    if isinstance(event, NamespaceEvent):
        return ("Namespace", event.name)
    if isinstance(event, NetworkEvent):
        return ("NAD", event.nad)
    return ("Policy", event.key)


class EventQueue:
    """Events from a source's threads to the loop; thread-safe.

    Every event carries its object as it is now, so only the newest per object is kept
    (at the place of that newest one): a burst of updates to one pod is one event, and
    while the loop is stuck (the NB down) the queue holds at most one event per object,
    never a history."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, object], Event] = {}

    def put(self, event: Event) -> None:
        key = event_key(event)
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = event

    def drain(self) -> list[Event]:
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
            return items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class Source(Protocol):
    changed: threading.Event
    events: EventQueue

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def snapshot(self) -> Snapshot: ...

    def policy_uid(self, namespace: str, name: str) -> str | None: ...
