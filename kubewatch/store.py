"""What a ``Watcher`` keeps: transformed objects by ``namespace/name``, and who to tell."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def object_key(obj: Mapping[str, Any]) -> str | None:
    """``namespace/name``, or ``name`` for cluster-scoped objects; None without a name."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return None
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not name:
        return None
    return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name


def _ignore(*_: Any) -> None:
    pass


@dataclass(frozen=True)
class Handlers(Generic[T]):
    """Called from the watcher's thread after the store has changed, outside its lock.

    ``updated`` fires only when the transformed value changed, so a pod's status churn
    reaches nobody whose transform drops the status. ``synced`` fires after each complete
    list (the first and every relist) with the number of objects, after the differences
    were reported as added/updated/deleted.
    """

    added: Callable[[str, T], None] = _ignore
    updated: Callable[[str, T, T], None] = _ignore
    deleted: Callable[[str, T], None] = _ignore
    synced: Callable[[int], None] = _ignore


class Store(Generic[T]):
    """A thread-safe map; the watcher writes, anyone reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, T] = {}

    def get(self, key: str) -> T | None:
        with self._lock:
            return self._items.get(key)

    def items(self) -> list[tuple[str, T]]:
        with self._lock:
            return list(self._items.items())

    def values(self) -> list[T]:
        with self._lock:
            return list(self._items.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def put(self, key: str, value: T) -> T | None:
        """Store ``value``; returns what it replaced."""
        with self._lock:
            old = self._items.get(key)
            self._items[key] = value
            return old

    def pop(self, key: str) -> T | None:
        with self._lock:
            return self._items.pop(key, None)

    def replace(
        self, items: dict[str, T]
    ) -> tuple[list[tuple[str, T]], list[tuple[str, T, T]], list[tuple[str, T]]]:
        """Swap in a full list; returns (added, updated, deleted) against what was kept."""
        with self._lock:
            old, self._items = self._items, dict(items)
        added = [(k, v) for k, v in items.items() if k not in old]
        updated = [(k, old[k], v) for k, v in items.items() if k in old and old[k] != v]
        deleted = [(k, v) for k, v in old.items() if k not in items]
        return added, updated, deleted
