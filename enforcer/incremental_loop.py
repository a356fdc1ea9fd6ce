"""The running enforcer on the incremental compiler: events in, only the changed rows out.

A source appends events to its ``EventQueue`` and sets ``changed``; the loop drains them
into the ``IncrementalCompiler``, flushes, and reconciles only the rows the delta names
(``rows_for_keys`` cuts the desired state and the NB state down to them). Every ``resync``
seconds it reloads the source's full snapshot and reconciles everything: the repair path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from enforcer.desired import DesiredState
from enforcer.diff import ACL, AS, PG, ReconcileResult, plan, read_state, rows_for_keys
from enforcer.incremental import Delta, Event, IncrementalCompiler
from enforcer.ovsdb import (
    NB_DB,
    OvsdbConflictError,
    OvsdbConnectionError,
    OvsdbUnreachableError,
    connect,
)
from enforcer.reconcile import ATTEMPTS, NbTarget, Observer, report
from mnp.model import Snapshot

log = logging.getLogger("mnp.enforcer")

_CONNECTION_RETRY_S = 0.5


class EventQueue:
    """Events from a source's threads to the loop, in order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[Event] = deque()

    def put(self, event: Event) -> None:
        with self._lock:
            self._items.append(event)

    def drain(self) -> list[Event]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
            return items


def _reconcile_once(
    target: NbTarget, desired: DesiredState, keys: set[str] | None
) -> ReconcileResult:
    with connect(target.remote, target.ssl, timeout=target.timeout) as conn:
        conn.track_versions((PG, AS, ACL))
        state = read_state(conn)
        if keys is not None:
            desired, state = rows_for_keys(desired, state, keys)
        p = plan(desired, state)
        if p.ops:
            conn.transact(NB_DB, conn.unchanged_since_read() + p.ops)
            p.result.transacted = True
    return p.result


def reconcile_rows(
    target: NbTarget, desired: DesiredState, keys: set[str] | None = None
) -> ReconcileResult:
    """Make the NB's owned rows of ``keys`` (all owned rows with None) match ``desired``;
    retried on a conflicting writer or a lost connection, as ``reconcile`` is."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _reconcile_once(target, desired, keys)
        except OvsdbUnreachableError:
            raise
        except (OvsdbConflictError, OvsdbConnectionError) as e:
            if attempt == ATTEMPTS:
                raise
            log.warning("%s; reading again (attempt %d of %d)", e, attempt + 1, ATTEMPTS)
            if isinstance(e, OvsdbConnectionError):
                time.sleep(_CONNECTION_RETRY_S)
    raise AssertionError("unreachable")


@dataclass
class IncrementalEnforcer:
    """The compiler plus the NB target; observers see every reconcile's result."""

    target: NbTarget
    observers: list[Observer] = field(default_factory=list)
    compiler: IncrementalCompiler = field(default_factory=IncrementalCompiler)
    last_delta: Delta = field(default_factory=Delta)

    def resync(self, snapshot: Snapshot) -> ReconcileResult:
        """Reload everything and reconcile every owned row (start, repair)."""
        self.last_delta = self.compiler.load(snapshot)
        return self._observed(lambda: reconcile_rows(self.target, self.compiler.desired()))

    def apply(self, events: Iterable[Event]) -> ReconcileResult | None:
        """Apply events; reconcile only the rows they changed (None: nothing changed)."""
        for event in events:
            self.compiler.apply(event)
        delta = self.last_delta = self.compiler.flush()
        if not delta:
            return None
        keys = delta.keys
        desired = self.compiler.desired_for(keys)
        return self._observed(lambda: reconcile_rows(self.target, desired, keys))

    def _observed(self, run: Callable[[], ReconcileResult]) -> ReconcileResult:
        start = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - start
        report(self.observers, result, elapsed)
        return result


def run_incremental_loop(
    enforcer: IncrementalEnforcer,
    snapshot: Callable[[], Snapshot],
    events: EventQueue,
    changed: threading.Event,
    stop: threading.Event,
    debounce: float = 0.05,
    resync: float = 300.0,
    retry: float = 2.0,
    max_retry: float = 30.0,
) -> None:
    """Full resync now and every ``resync`` seconds (and after a failure, or while switch
    ports are missing); in between, each burst of events reconciles only its rows."""
    failures = 0
    missing_rounds = 0
    next_full = 0.0
    while not stop.is_set():
        now = time.monotonic()
        if now < next_full:
            changed.wait(timeout=next_full - now)
            if stop.is_set():
                return
            time.sleep(debounce)  # coalesce a burst of events into one reconcile
        changed.clear()
        full = time.monotonic() >= next_full
        try:
            if full:
                events.drain()  # what they say is in the snapshot taken after
                result: ReconcileResult | None = enforcer.resync(snapshot())
            else:
                result = enforcer.apply(events.drain())
        except Exception as e:
            failures += 1
            delay = min(retry * 2 ** (failures - 1), max(retry, max_retry))
            log.error("reconcile failed (%d in a row), resyncing in %.1fs: %s", failures, delay, e)
            next_full = time.monotonic() + delay
            continue
        if failures:
            log.info("reconcile succeeded again after %d failed attempts", failures)
            failures = 0
        if full:
            next_full = time.monotonic() + resync
        if result is not None and result.missing_ports:
            wait = min(retry / 4 * 2**missing_rounds, max(retry, max_retry))
            missing_rounds += 1
            next_full = min(next_full, time.monotonic() + wait)
        elif result is not None:
            missing_rounds = 0
