"""Callbacks a ``Watcher`` calls as it works, so each process counts them in its own metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter


def _ignore(*_: str) -> None:
    pass


@dataclass(frozen=True)
class WatchHooks:
    """Each callback gets the resource's kind first.

    ``error`` gets a short reason: ``expired`` (410 Gone), ``http_<status>``,
    ``connection``, ``timeout``, ``closed`` (a watch ended early with nothing in it),
    ``decode`` (a line that is not JSON) or ``handler`` (a handler raised).
    """

    list_attempt: Callable[[str], None] = _ignore
    listed: Callable[[str], None] = _ignore  # a complete list: the first, then each relist
    watch_attempt: Callable[[str], None] = _ignore
    error: Callable[[str, str], None] = _ignore
    relist: Callable[[str], None] = _ignore  # a relist begun after 410 Gone
    event: Callable[[str, str], None] = _ignore  # kind, ADDED/MODIFIED/DELETED/BOOKMARK


def prometheus_hooks(registry: CollectorRegistry, prefix: str) -> WatchHooks:
    """Counters ``<prefix>_list_attempts``, ``_lists``, ``_watch_attempts``,
    ``_watch_errors``, ``_relists`` and ``_events`` in ``registry``."""

    def counter(name: str, doc: str, *labels: str) -> Counter:
        return Counter(f"{prefix}_{name}", doc, ["kind", *labels], registry=registry)

    list_attempts = counter("list_attempts", "List requests begun (each page counts once)")
    lists = counter("lists", "Complete lists: the first one, then one per relist")
    watch_attempts = counter("watch_attempts", "Watch requests begun")
    errors = counter(
        "watch_errors",
        "Failed lists or watches by reason (expired = 410 Gone, then a relist)",
        "reason",
    )
    relists = counter("relists", "Relists begun after 410 Gone")
    events = counter("events", "Watch events received, by type", "type")
    return WatchHooks(
        list_attempt=lambda kind: list_attempts.labels(kind=kind).inc(),
        listed=lambda kind: lists.labels(kind=kind).inc(),
        watch_attempt=lambda kind: watch_attempts.labels(kind=kind).inc(),
        error=lambda kind, reason: errors.labels(kind=kind, reason=reason).inc(),
        relist=lambda kind: relists.labels(kind=kind).inc(),
        event=lambda kind, type_: events.labels(kind=kind, type=type_).inc(),
    )
