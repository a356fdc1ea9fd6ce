"""One reconcile: snapshot -> fail-safe -> compile -> read owned NB rows -> diff -> at most
one transaction.

Also the loop that reconciles whenever a source reports a change, debounced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from enforcer.compile import compile
from enforcer.desired import DesiredState
from enforcer.diff import ACL, AS, PG, ReconcileResult, plan, read_state
from enforcer.fail_safe import FailSafe
from enforcer.ovsdb import (
    IO_TIMEOUT_S,
    NB_DB,
    OvsdbConflictError,
    OvsdbConnectionError,
    OvsdbUnreachableError,
    SslFiles,
    connect,
)
from mnp.model import Snapshot

__all__ = ["NbTarget", "ReconcileResult", "Reconciler", "reconcile", "run_loop"]

log = logging.getLogger("mnp.enforcer")

# Owned rows whose versions the write depends on (switch ports belong to OVN-Kubernetes:
# their churn must not abort our transactions; a vanished port is dropped by OVSDB's weak
# reference from Port_Group.ports).
_GUARDED_TABLES = (PG, AS, ACL)
ATTEMPTS = 4
_CONNECTION_RETRY_S = 0.5


@dataclass(frozen=True)
class NbTarget:
    """Where the OVN Northbound database is."""

    remote: str
    ssl: SslFiles | None = None
    timeout: float = IO_TIMEOUT_S


def _reconcile_once(
    target: NbTarget,
    desired: DesiredState,
    before_write: Callable[[], None] | None,
    keep: frozenset[str],
) -> ReconcileResult:
    with connect(target.remote, target.ssl, timeout=target.timeout) as conn:
        conn.track_versions(_GUARDED_TABLES)
        state = read_state(conn)
        p = plan(desired, state, keep)
        if p.ops:
            if before_write is not None:
                before_write()
            # The plan is only right for the rows just read: abort if another writer changed
            # them in between (the wait ops fail and nothing is written), then plan again.
            conn.transact(NB_DB, conn.unchanged_since_read() + p.ops)
            p.result.transacted = True
        log.debug("reconciled against %s", conn.remote)
    return p.result


def reconcile(
    target: NbTarget,
    snapshot: Snapshot,
    *,
    before_write: Callable[[], None] | None = None,
    keep: frozenset[str] = frozenset(),
) -> ReconcileResult:
    """Make the NB's mnp-owned rows match ``snapshot``; write nothing when they already do.
    The owned rows of the ``keep`` policies are left as they are (the fail-safe's hook).

    The write is one transaction that holds only if the owned rows are still as read; when
    another writer got in between, or the connection (e.g. a cluster member) is lost midway,
    it reads again and retries, up to ``ATTEMPTS`` times. ``before_write`` runs between the
    read and the write (tests use it to race a change in).
    """
    desired = compile(snapshot)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _reconcile_once(target, desired, before_write, keep)
        except OvsdbUnreachableError:
            raise  # connect already tried every remote (and waited out an election)
        except OvsdbConflictError as e:
            if attempt == ATTEMPTS:
                raise
            log.warning("%s; reading again (attempt %d of %d)", e, attempt + 1, ATTEMPTS)
        except OvsdbConnectionError as e:
            if attempt == ATTEMPTS:
                raise
            log.warning(
                "lost the NB connection mid-reconcile (%s); reconnecting (attempt %d of %d)",
                e,
                attempt + 1,
                ATTEMPTS,
            )
            time.sleep(_CONNECTION_RETRY_S)
    raise AssertionError("unreachable")


Observer = Callable[[ReconcileResult, float], None]


class Reconciler:
    """``reconcile`` behind the fail-safe (a policy whose input turns bad keeps what it
    enforced), plus observers (metrics, events) told about each result and its duration."""

    def __init__(
        self,
        target: NbTarget,
        observers: list[Observer] | None = None,
        fail_safe: FailSafe | None = None,
    ) -> None:
        self.target = target
        self.observers = list(observers or [])
        self.fail_safe = fail_safe or FailSafe()

    def __call__(self, snapshot: Snapshot) -> ReconcileResult:
        start = time.perf_counter()
        guarded = self.fail_safe.guard(snapshot)
        result = reconcile(self.target, guarded.snapshot, keep=guarded.keep)
        result.statuses = self.fail_safe.statuses(guarded, result)
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
    max_retry: float = 30.0,
) -> None:
    """Reconcile now, then after every change (waiting ``debounce`` for the burst to end),
    and every ``resync`` seconds to repair drift. A failure (the NB down, a cluster without
    leader, a bad snapshot) is logged and retried after ``retry`` seconds, doubling up to
    ``max_retry`` while it keeps failing; each reconcile opens a fresh connection, so a NB
    that comes back is picked up by the next attempt.

    Pods whose switch ports are not in the NB yet (OVN-Kubernetes annotates a pod before it
    creates the port, and no event tells us when the port appears) are looked for again
    after ``retry / 4`` seconds, doubling up to ``max_retry``, until they are all there."""
    failures = 0
    missing_rounds = 0
    wait = resync
    changed.set()
    while not stop.is_set():
        changed.wait(timeout=wait)
        if stop.is_set():
            return
        time.sleep(debounce)  # coalesce a burst of informer events into one reconcile
        changed.clear()
        wait = resync
        try:
            result = reconciler(snapshot())
        except Exception as e:
            failures += 1
            delay = min(retry * 2 ** (failures - 1), max(retry, max_retry))
            log.error("reconcile failed (%d in a row), retrying in %.1fs: %s", failures, delay, e)
            stop.wait(delay)
            changed.set()
            continue
        if failures:
            log.info("reconcile succeeded again after %d failed attempts", failures)
            failures = 0
        if result.missing_ports:
            wait = min(retry / 4 * 2**missing_rounds, max(retry, max_retry))
            missing_rounds += 1
        else:
            missing_rounds = 0
