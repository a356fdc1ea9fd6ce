"""One reconcile: snapshot -> compile -> read owned NB rows -> diff -> at most one transaction.

Also the loop that reconciles whenever a source reports a change, debounced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from enforcer.compile import compile
from enforcer.diff import ReconcileResult, plan, read_state
from enforcer.ovsdb import NB_DB, SslFiles, connect
from mnp.model import Snapshot

__all__ = ["NbTarget", "ReconcileResult", "Reconciler", "reconcile", "run_loop"]

log = logging.getLogger("mnp.enforcer")


@dataclass(frozen=True)
class NbTarget:
    """Where the OVN Northbound database is."""

    remote: str
    ssl: SslFiles | None = None


def reconcile(target: NbTarget, snapshot: Snapshot) -> ReconcileResult:
    """Make the NB's mnp-owned rows match ``snapshot``; write nothing when they already do."""
    desired = compile(snapshot)
    with connect(target.remote, target.ssl) as conn:
        state = read_state(conn)
        p = plan(desired, state)
        if p.ops:
            conn.transact(NB_DB, p.ops)
            p.result.transacted = True
    return p.result


Observer = Callable[[ReconcileResult, float], None]


class Reconciler:
    """``reconcile`` plus observers (metrics, events) told about each result and its duration."""

    def __init__(self, target: NbTarget, observers: list[Observer] | None = None) -> None:
        self.target = target
        self.observers = list(observers or [])

    def __call__(self, snapshot: Snapshot) -> ReconcileResult:
        start = time.perf_counter()
        result = reconcile(self.target, snapshot)
        elapsed = time.perf_counter() - start
        for observe in self.observers:
            try:
                observe(result, elapsed)
            except Exception:  # an observer (events, metrics) must never stop enforcement
                log.exception("reconcile observer failed")
        if result.missing_ports:
            log.info(
                "%d switch ports not in the NB yet (left out until they appear), e.g. %s",
                len(result.missing_ports),
                result.missing_ports[0],
            )
        log.info("reconciled: %s", result.summary())
        return result


def run_loop(
    snapshot: Callable[[], Snapshot],
    changed: threading.Event,
    reconciler: Callable[[Snapshot], ReconcileResult],
    stop: threading.Event,
    debounce: float = 0.2,
    resync: float = 300.0,
    retry: float = 2.0,
) -> None:
    """Reconcile now, then after every change (waiting ``debounce`` for the burst to end),
    and every ``resync`` seconds to repair drift; on failure retry after ``retry`` seconds."""
    changed.set()
    while not stop.is_set():
        changed.wait(timeout=resync)
        if stop.is_set():
            return
        time.sleep(debounce)  # coalesce a burst of informer events into one reconcile
        changed.clear()
        try:
            reconciler(snapshot())
        except Exception as e:
            log.error("reconcile failed, retrying in %.0fs: %s", retry, e)
            stop.wait(retry)
            changed.set()
