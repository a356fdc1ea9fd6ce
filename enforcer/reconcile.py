"""One reconcile: snapshot or events -> fail-safe -> compile -> owned NB rows -> diff -> at
most one transaction.

``reconcile`` reads the owned rows over a fresh connection (``mnp enforcer --once``);
``Reconciler`` with an ``NbReplica`` plans against the live replica instead, so a reconcile
that changes nothing reads nothing from the server and writes nothing, and a source's
events are compiled and planned one burst at a time. ``run_loop`` is the running enforcer:
events as they come, the replica's changes, a full resync now and then.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from enforcer.compile import compile
from enforcer.desired import DesiredState, PolicyStatus
from enforcer.diff import ACL, AS, PG, ReconcileResult, desired_of_keys, plan, read_state
from enforcer.fail_safe import FailSafe, Guarded
from enforcer.incremental import Delta, Event, IncrementalCompiler, NetworkEvent, PolicyEvent
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
from enforcer.sources import EventQueue
from mnp.model import Snapshot

__all__ = [
    "LoopSettings",
    "NbTarget",
    "ReconcileResult",
    "Reconciler",
    "WriteWithheldError",
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
    desired_for: Callable[[frozenset[str]], DesiredState] | None = None,
) -> tuple[ReconcileResult, int]:
    """``reconcile_against``, also giving the replica generation the last plan saw. With
    ``keys``, only those rows are planned (an incremental step; the rest is as planned),
    from ``desired_for`` (``IncrementalCompiler.desired_for``: no scan of ``desired``)."""
    for attempt in range(1, ATTEMPTS + 1):
        if keys is None:
            view = replica.view()
            p = plan(desired, view.state, keep)
        else:
            lookup = desired_for or desired_of_keys(desired)
            touched, view = replica.view_of_keys(keys, lookup)
            p = plan(touched, view.state, keep)
        if p.result.missing_ports:
            replica.watch_ports(p.result.missing_ports)
        if not p.ops:
            return p.result, view.generation
        if before_write is not None:
            before_write()
        try:
            replica.transact(view.guard(p.ops) + p.ops)
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


class WriteWithheldError(Exception):
    """Raised by a write gate (``before_write``): nothing may be written now (a standby)."""


@dataclass
class _Reported:
    """What the last full reconcile decided for the policies the fail-safe handles."""

    guarded: Guarded
    rejected_statuses: dict[str, PolicyStatus]


class Reconciler:
    """The enforcer's state between reconciles: the fail-safe, the ``IncrementalCompiler``,
    and (with a ``replica``) what was last planned against the live NB.

    Three entry points, one per cause:

    - ``full(snapshot)`` (start, periodic resync, anything the fail-safe must decide):
      the snapshot goes through the fail-safe, the compiler is brought to it, and every
      row is planned (the repair path; known without planning when neither the compile
      nor the replica changed since a plan that wrote nothing).
    - ``apply(events)`` (a source's events in between): the events go straight into the
      compiler, and only the rows they changed are planned and written; the cost follows
      the event, not the cluster. ``needs_snapshot(events)`` says when that is not allowed
      (a policy turned bad or was bad, a NAD changed while the fail-safe holds something).
    - ``replan()`` (the replica changed: drift, the echo of a write, a reload): the rows
      the replica says changed, against the last compile (every row after a reload).

    A write gate (``before_write`` raising ``WriteWithheldError``; ``may_write`` to skip the
    plan) keeps a standby's compiler warm without writing; whatever was withheld or failed
    is replanned whole by the next step that may write. Observers (metrics, Events) see
    every result with its duration; ``statuses`` is the same tuple object while no policy's
    status changed, so they can skip the comparison."""

    def __init__(
        self,
        target: NbTarget,
        observers: list[Observer] | None = None,
        replica: NbReplica | None = None,
        before_write: Callable[[], None] | None = None,
        fail_safe: FailSafe | None = None,
        may_write: Callable[[], bool] | None = None,
        on_withheld: Callable[[], None] | None = None,
        sweep_chunk: int = 500,
    ) -> None:
        self.target = target
        self.observers = list(observers or [])
        self.replica = replica
        self.before_write = before_write
        self.may_write = may_write
        self.on_withheld = on_withheld
        self.fail_safe = fail_safe or FailSafe()
        self._incremental = IncrementalCompiler()
        self._reported: _Reported | None = None  # None: no full reconcile yet
        self._keep: frozenset[str] = frozenset()
        self._statuses: tuple[PolicyStatus, ...] = ()
        self._stale = True  # rows may differ from the compile beyond the next delta
        self._waiting: dict[str, set[str]] = {}  # missing switch port -> port-group keys
        self.sweep_chunk = sweep_chunk
        self._sweep: list[str] = []  # a resync's keys still to plan, the next one last
        self._clean: tuple[DesiredState, frozenset[str], int, ReconcileResult] | None = None
        # The last compile's delta and its time (rows computed per event: metrics, bench).
        self.last_delta = Delta()
        self.last_compile_s = 0.0

    # -- the three entry points ---------------------------------------------------------

    def full(self, snapshot: Snapshot) -> ReconcileResult:
        start = time.perf_counter()
        guarded = self.fail_safe.guard(snapshot)
        if self.replica is None:
            result = self._gated(
                lambda: reconcile(
                    self.target,
                    guarded.snapshot,
                    before_write=self.before_write,
                    keep=guarded.keep,
                )
            )
        else:
            self._compiled(lambda: self._incremental.load(guarded.snapshot))
            if guarded.keep != self._keep or self._reported is None:
                self._stale = True  # the first, or other rows to hold: all in one plan
            self._keep = guarded.keep
            result = self._resync()
            # Compile's statuses, whether or not this replica may write (a standby's are
            # current when it takes over).
            result.statuses = self._compiled_statuses()
        result.statuses = self.fail_safe.statuses(guarded, result)
        self._remember_statuses(guarded, result.statuses)
        result.statuses = self._statuses
        return self._report(result, start)

    __call__ = full

    def needs_snapshot(self, events: Sequence[Event]) -> bool:
        """Whether these events need the fail-safe's decision on a whole snapshot."""
        reported = self._reported
        if self.replica is None or reported is None:
            return True
        rejected = reported.guarded.rejected
        for event in events:
            if isinstance(event, PolicyEvent) and (event.rejected or event.key in rejected):
                return True
            if isinstance(event, NetworkEvent) and rejected:
                return True
        return False

    def apply(self, events: Sequence[Event]) -> ReconcileResult | None:
        """Compile ``events`` and write the rows they changed; None when nothing changed
        (and nothing is owed from before). Call only when ``needs_snapshot`` is False."""
        start = time.perf_counter()
        delta = self._compiled(lambda: self._compile_events(events))
        if not delta and not self._stale:
            return None
        result = self._write(frozenset(delta.keys))
        if delta.statuses_changed:
            self._merge_statuses()
        result.statuses = self._statuses
        return self._report(result, start)

    def replan(self, missing_ports: bool = False) -> ReconcileResult | None:
        """Plan again what the replica says changed since the last plan (the echo of a
        write, drift; every row after a reload) and the port groups whose missing switch
        ports appeared; with ``missing_ports``, every port group still waiting for one
        (a port can appear before the plan that missed it asks to be told). None when
        there is nothing to plan, or before the first full reconcile."""
        replica = self.replica
        if replica is None or self._reported is None:
            return None
        changed = replica.take_changed_keys()
        if changed is None:
            self._stale = True
            changed = frozenset()
        keys = changed | self._waiting_for(replica.take_appeared_ports())
        if missing_ports:
            keys |= {key for waiting in self._waiting.values() for key in waiting}
        if not keys and not self._stale:
            return None
        start = time.perf_counter()
        result = self._write(keys)
        result.statuses = self._statuses
        return self._report(result, start)

    @property
    def sweeping(self) -> bool:
        """A resync's sweep has keys left to plan (the loop gives it the rounds without
        events)."""
        return bool(self._sweep)

    def sweep_step(self) -> ReconcileResult | None:
        """Plan and write the next ``sweep_chunk`` keys of the sweep."""
        if not self._sweep:
            return None
        start = time.perf_counter()
        result = self._sweep_chunk()
        result.statuses = self._statuses
        return self._report(result, start)

    def _resync(self) -> ReconcileResult:
        """Every row against the replica: in one plan when stale (the first reconcile, a
        failed or withheld write: the NB may be far from the compile), when the fail-safe
        holds some policy's rows, or when nothing changed since a plan that wrote nothing;
        else as a sweep of ``sweep_chunk`` keys at a time, the first chunk now, so that the
        events arriving meanwhile wait for one chunk, not for the whole cluster (1.4-1.9 s
        at 50,000 pods)."""
        replica = self.replica
        assert replica is not None
        desired = self._incremental.desired()
        # Rows held for the fail-safe are told apart by a plan of every row (``held``).
        if self._stale or self._keep or self._clean_for(replica, desired):
            self._sweep.clear()
            self._stale = True
            return self._write(frozenset(), desired)
        keys = {r.key for rows in (desired.port_groups, desired.address_sets) for r in rows}
        keys |= {r.key for r in desired.acls}
        self._sweep = sorted(keys | replica.owned_keys(), reverse=True)
        return self._sweep_chunk()

    def _sweep_chunk(self) -> ReconcileResult:
        chunk = [self._sweep.pop() for _ in range(min(self.sweep_chunk, len(self._sweep)))]
        result = self._write(frozenset(chunk))
        if self._stale:
            self._sweep.clear()  # the write failed or was withheld: all rows are planned next
        return result

    def _compile_events(self, events: Sequence[Event]) -> Delta:
        for event in events:
            if isinstance(event, PolicyEvent):
                self.fail_safe.admitted(event.key, event.policy)
            self._incremental.apply(event)
        return self._incremental.flush()

    def _compiled(self, run: Callable[[], Delta]) -> Delta:
        start = time.perf_counter()
        self.last_delta = run()
        self.last_compile_s = time.perf_counter() - start
        return self.last_delta

    # -- planning and writing -------------------------------------------------------------

    def _write(
        self, keys: frozenset[str], desired_all: DesiredState | None = None
    ) -> ReconcileResult:
        """Plan ``keys`` (every row when stale, from ``desired_all`` when the caller has
        built it already) against the replica and write them."""
        replica = self.replica
        assert replica is not None
        if self.may_write is not None and not self.may_write():
            self._stale = True
            self._clean = None
            return self._withheld()
        if self._stale:
            return self._gated(lambda: self._plan_all(replica, desired_all))
        keys |= self._waiting_for(replica.take_appeared_ports())
        if not keys:
            return ReconcileResult()
        self._clean = None  # the rows outside ``keys`` were not planned this time
        desired = self._incremental.desired_for(keys)

        def plan_keys() -> ReconcileResult:
            compiler = self._incremental
            result = _plan_and_write(
                replica, desired, self.before_write, self._keep, keys, compiler.desired_for
            )[0]
            self._wait_for(result, desired)
            return result

        return self._gated(plan_keys)

    def _clean_for(self, replica: NbReplica, desired: DesiredState) -> bool:
        """Whether a plan of every row wrote nothing, and neither the compile nor the
        replica changed since: then the answer is known without planning."""
        clean = self._clean
        return (
            clean is not None
            and clean[1] == self._keep
            and clean[2] == replica.generation
            and replica.synced
            and clean[0] == desired
        )

    def _plan_all(self, replica: NbReplica, desired: DesiredState | None) -> ReconcileResult:
        if desired is None:
            desired = self._incremental.desired()
        clean = self._clean
        replica.take_appeared_ports()  # every row is planned: so are theirs
        self._waiting.clear()
        if clean is not None and self._clean_for(replica, desired):
            result = replace(clean[3], counts=Counter())
        else:
            result, generation = _plan_and_write(replica, desired, self.before_write, self._keep)
            self._clean = None if result.transacted else (desired, self._keep, generation, result)
        self._wait_for(result, desired)
        self._stale = False
        return result

    def _wait_for(self, result: ReconcileResult, desired: DesiredState) -> None:
        """Remember which port groups wait for the switch ports the plan left out, so the
        port's appearance replans those rows only."""
        missing = set(result.missing_ports)
        if not missing:
            return
        for pg in desired.port_groups:
            for port in missing.intersection(pg.ports):
                self._waiting.setdefault(port, set()).add(pg.key)

    def _waiting_for(self, ports: frozenset[str]) -> frozenset[str]:
        keys: set[str] = set()
        for port in ports:
            keys |= self._waiting.pop(port, set())
        return frozenset(keys)

    def _gated(self, run: Callable[[], ReconcileResult]) -> ReconcileResult:
        """Run a plan-and-write; a withheld or failed write leaves every row to replan."""
        try:
            return run()
        except WriteWithheldError as e:
            log.debug("write withheld: %s", e)
            self._stale = True
            return self._withheld()
        except Exception:
            self._stale = True
            raise

    def _withheld(self) -> ReconcileResult:
        if self.on_withheld is not None:
            self.on_withheld()
        return ReconcileResult()

    # -- statuses -------------------------------------------------------------------------

    def _remember_statuses(self, guarded: Guarded, statuses: tuple[PolicyStatus, ...]) -> None:
        rejected = {s.policy: s for s in statuses if s.policy in guarded.rejected}
        self._reported = _Reported(guarded, rejected)
        if statuses != self._statuses:
            self._statuses = statuses

    def _merge_statuses(self) -> None:
        """The compiler's statuses, with the fail-safe's for the policies it handles (those
        did not change: events about them go through ``full``)."""
        reported = self._reported
        assert reported is not None
        compiled = self._compiled_statuses()
        if not reported.rejected_statuses:
            self._statuses = compiled  # the compiler's own sorted tuple, kept between changes
            return
        merged = {s.policy: s for s in compiled}
        merged.update(reported.rejected_statuses)
        statuses = tuple(merged[k] for k in sorted(merged))
        if statuses != self._statuses:
            self._statuses = statuses

    def _compiled_statuses(self) -> tuple[PolicyStatus, ...]:
        return self._incremental.all_statuses()

    def _report(self, result: ReconcileResult, start: float) -> ReconcileResult:
        report(self.observers, result, time.perf_counter() - start)
        return result


@dataclass(frozen=True)
class LoopSettings:
    """Every timing knob of the running enforcer's loop, in seconds.

    ``debounce`` is how long the loop waits, after the first event of a quiet spell, for
    the rest of a burst; events that arrive while a reconcile runs are taken together by
    the next round without waiting again."""

    debounce: float = 0.005
    resync: float = 300.0
    retry: float = 2.0
    max_retry: float = 30.0

    def failure_delay(self, failures: int) -> float:
        return float(min(self.retry * 2 ** (failures - 1), max(self.retry, self.max_retry)))

    def missing_ports_delay(self, rounds: int) -> float:
        return float(min(self.retry / 4 * 2**rounds, max(self.retry, self.max_retry)))


class _LoopSource(Protocol):
    changed: threading.Event
    events: EventQueue

    def snapshot(self) -> Snapshot: ...


@dataclass
class _LoopClock:
    """When the loop must act without being woken, and how its failures and waits for
    missing switch ports back off."""

    settings: LoopSettings
    next_full: float = 0.0  # start with a full reconcile
    next_replan: float | None = None
    failures: int = 0
    missing_rounds: int = 0

    def due(self) -> float:
        return self.next_full if self.next_replan is None else min(self.next_full, self.next_replan)

    def failed(self, error: Exception) -> None:
        self.failures += 1
        delay = self.settings.failure_delay(self.failures)
        log.error(
            "reconcile failed (%d in a row), retrying in %.1fs: %s", self.failures, delay, error
        )
        self.next_full = time.monotonic() + delay

    def succeeded(self, full: bool, replanned: bool, result: ReconcileResult | None) -> None:
        if self.failures:
            log.info("reconcile succeeded again after %d failed attempts", self.failures)
            self.failures = 0
        now = time.monotonic()
        if full:
            self.next_full = now + self.settings.resync
        if result is not None and result.missing_ports:
            self.next_replan = now + self.settings.missing_ports_delay(self.missing_rounds)
            self.missing_rounds += 1
        elif full or replanned:
            self.next_replan = None  # every waiting port group was planned: no port missing
            self.missing_rounds = 0


def _round(
    source: _LoopSource, reconciler: Reconciler, clock: _LoopClock
) -> tuple[bool, bool, ReconcileResult | None]:
    """One round: a full reconcile when due or when the events need one, else the events
    alone, else (woken without events: the replica changed, or ports may have appeared)
    a replan. Says whether it was full, and whether it replanned every port group still
    waiting for a switch port."""
    now = time.monotonic()
    events = source.events.drain()
    if now >= clock.next_full or reconciler.needs_snapshot(events):
        # The snapshot is taken after the drain: it holds everything the events said.
        return True, False, reconciler.full(source.snapshot())
    if events:
        return False, False, reconciler.apply(events)
    if reconciler.sweeping:
        return False, False, reconciler.sweep_step()
    missing_ports = clock.next_replan is not None and now >= clock.next_replan
    if missing_ports:
        clock.next_replan = None
    return False, missing_ports, reconciler.replan(missing_ports)


def run_loop(
    source: _LoopSource,
    reconciler: Reconciler,
    stop: threading.Event,
    settings: LoopSettings = LoopSettings(),
) -> None:
    """Reconcile the source's snapshot now and every ``resync`` seconds (the repair path);
    in between, each round applies the events queued since the last one, or replans what
    the replica says changed. A failure (the NB down, a cluster without leader, a bad
    snapshot) is logged and followed by a full reconcile after ``retry`` seconds, doubling
    up to ``max_retry`` while it keeps failing.

    Pods whose switch ports are not in the NB yet (OVN-Kubernetes annotates a pod before it
    creates the port, and no event tells us when the port appears) are looked for again
    after ``retry / 4`` seconds, doubling up to ``max_retry``, until they are all there."""
    clock = _LoopClock(settings)
    frozen = False
    while not stop.is_set():
        now = time.monotonic()
        if not source.changed.is_set() and now < clock.due() and not reconciler.sweeping:
            source.changed.wait(timeout=clock.due() - now)
            if stop.is_set():
                return
            stop.wait(settings.debounce)  # let the rest of a burst arrive
        source.changed.clear()
        try:
            full, replanned, result = _round(source, reconciler, clock)
        except Exception as e:
            clock.failed(e)
            continue
        clock.succeeded(full, replanned, result)
        if full and not frozen:
            _freeze_survivors()
            frozen = True


def _freeze_survivors() -> None:
    """After the first full reconcile, collect once and move what survives (the compiler's
    state: millions of objects at 50,000 pods) out of the collector's reach, so the full
    collections that later land on an event scan only what changed since (a full
    collection of that state costs 100 ms or more, on the event that triggers it). Once:
    a collection at every resync would cost as much, on the loop."""
    gc.collect()
    gc.freeze()
