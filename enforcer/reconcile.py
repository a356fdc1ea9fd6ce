"""One reconcile: snapshot -> fail-safe -> compile -> owned NB rows -> diff -> at most one
transaction.

``reconcile`` reads the owned rows over a fresh connection (``mnp enforcer --once``);
``Reconciler`` with an ``NbReplica`` plans against the live replica instead, so a reconcile
that changes nothing reads nothing from the server and writes nothing. Also the loop that
reconciles whenever a source (or the replica, on drift) reports a change, debounced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from enforcer.compile import compile
from enforcer.desired import DesiredState
from enforcer.diff import ACL, AS, PG, ReconcileResult, plan, read_state, rows_for_keys
from enforcer.fail_safe import FailSafe
from enforcer.incremental import IncrementalCompiler
from enforcer.nb_replica import NbReplica
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

__all__ = [
    "NbTarget",
    "ReconcileResult",
    "Reconciler",
    "reconcile",
    "reconcile_against",
    "run_loop",
]

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


def report(observers: list[Observer], result: ReconcileResult, elapsed: float) -> None:
    """Tell the observers (metrics, events) about one reconcile, and log it in one line."""
    for observe in observers:
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


def reconcile_against(
    replica: NbReplica,
    desired: DesiredState,
    *,
    before_write: Callable[[], None] | None = None,
) -> ReconcileResult:
    """Plan from the replica and write one transaction guarded by the replica's row versions.

    When another writer got in first (the guard fails, nothing is written), wait for the
    monitor to deliver that change and plan again; a lost connection waits for the replica's
    resync. Up to ``ATTEMPTS`` plans."""
    return _plan_and_write(replica, desired, before_write)[0]


def _plan_and_write(
    replica: NbReplica,
    desired: DesiredState,
    before_write: Callable[[], None] | None,
    keep: frozenset[str] = frozenset(),
    keys: frozenset[str] | None = None,
) -> tuple[ReconcileResult, int]:
    """``reconcile_against``, also giving the replica generation the last plan saw. With
    ``keys``, only those rows are planned (an incremental step; the rest is as planned)."""
    for attempt in range(1, ATTEMPTS + 1):
        view = replica.view()
        if keys is None:
            p = plan(desired, view.state, keep)
            replica.watch_ports(p.result.missing_ports)
        else:  # the replica's echo of this write brings a full replan, and its ports
            p = plan(*rows_for_keys(desired, view.state, keys), keep)
        if not p.ops:
            return p.result, view.generation
        if before_write is not None:
            before_write()
        try:
            replica.transact(view.guard() + p.ops)
        except OvsdbConflictError as e:
            if attempt == ATTEMPTS:
                raise
            log.warning("%s; replanning (attempt %d of %d)", e, attempt + 1, ATTEMPTS)
            replica.wait_past(view.generation, replica.timeout)
            continue
        except OvsdbConnectionError as e:
            if attempt == ATTEMPTS:
                raise
            log.warning(
                "lost the NB connection mid-reconcile (%s); replanning once the replica is "
                "back (attempt %d of %d)",
                e,
                attempt + 1,
                ATTEMPTS,
            )
            continue
        p.result.transacted = True
        log.debug("reconciled against %s", replica.connected_to)
        return p.result, view.generation
    raise AssertionError("unreachable")


class Reconciler:
    """``reconcile`` behind the fail-safe (a policy whose input turns bad keeps what it
    enforced), plus observers (metrics, events) told about each result and its duration.

    With a ``replica`` it plans against it, and compiles incrementally: a changed snapshot is
    turned into the events between it and the last one, the ``IncrementalCompiler``
    recomputes the rows they affect, and only those rows are planned and written. A reconcile
    caused by drift, or by the replica's own echo of a write, replans every row against the
    last compile. A plan is a pure function of the compile and the replica: when neither
    changed since a plan that wrote nothing, the answer is known without planning."""

    def __init__(
        self,
        target: NbTarget,
        observers: list[Observer] | None = None,
        replica: NbReplica | None = None,
        before_write: Callable[[], None] | None = None,
        fail_safe: FailSafe | None = None,
    ) -> None:
        self.target = target
        self.observers = list(observers or [])
        self.replica = replica
        # The write gate (leader election): raises to withhold a write, right before transact.
        self.before_write = before_write
        self.fail_safe = fail_safe or FailSafe()
        self._incremental = IncrementalCompiler()
        # The last snapshot compiled, its rows, and the fail-safe's keep set then.
        self._compiled: tuple[Snapshot, DesiredState, frozenset[str]] | None = None
        self._clean: tuple[DesiredState, frozenset[str], int, ReconcileResult] | None = None

    def _desired(
        self, snapshot: Snapshot, keep: frozenset[str]
    ) -> tuple[DesiredState, frozenset[str] | None]:
        """The desired rows, and the keys of the rows this step changed (None: plan all)."""
        last = self._compiled
        if last is not None and last[0] == snapshot:
            return last[1], None
        delta = self._incremental.load(snapshot)
        desired = self._incremental.desired()
        self._compiled = (snapshot, desired, keep)
        if last is None or last[2] != keep:
            return desired, None  # the first compile, or other rows to hold: plan them all
        return desired, frozenset(delta.keys)

    def _against_replica(
        self,
        replica: NbReplica,
        desired: DesiredState,
        keep: frozenset[str],
        keys: frozenset[str] | None,
    ) -> ReconcileResult:
        if keys is not None:
            self._clean = None  # the rows outside ``keys`` were not planned this time
            return _plan_and_write(replica, desired, self.before_write, keep, keys)[0]
        clean = self._clean
        if (
            clean is not None
            and clean[0] is desired
            and clean[1] == keep
            and clean[2] == replica.generation
            and replica.synced
        ):
            return replace(clean[3], counts=Counter())
        result, generation = _plan_and_write(replica, desired, self.before_write, keep)
        self._clean = None if result.transacted else (desired, keep, generation, result)
        return result

    def __call__(self, snapshot: Snapshot) -> ReconcileResult:
        start = time.perf_counter()
        guarded = self.fail_safe.guard(snapshot)
        if self.replica is None:
            result = reconcile(
                self.target, guarded.snapshot, before_write=self.before_write, keep=guarded.keep
            )
        else:
            desired, keys = self._desired(guarded.snapshot, guarded.keep)
            result = self._against_replica(self.replica, desired, guarded.keep, keys)
        result.statuses = self.fail_safe.statuses(guarded, result)
        elapsed = time.perf_counter() - start
        report(self.observers, result, elapsed)
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
    ``max_retry`` while it keeps failing; a NB that comes back is picked up by the next
    attempt (the replica reconnects on its own; without one, each reconcile connects).

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
        time.sleep(debounce)  # coalesce a burst of watch events into one reconcile
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
