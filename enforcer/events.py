"""Per-policy outcome reporting: ``Applied`` / ``Skipped`` Kubernetes Events, on change only;
``HeldLastValid`` / ``Isolated`` Warnings when the fail-safe enforces something else."""

from __future__ import annotations

import datetime
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from enforcer.desired import PolicyStatus
from enforcer.diff import ReconcileResult
from mnp.model import MNP_GROUP, MNP_KIND

log = logging.getLogger("mnp.enforcer.events")

# (namespace, name, reason, message, type) -> None
EventSink = Callable[[str, str, str, str, str], None]
COMPONENT = "mnp-enforcer"


# Fail-safe states (enforcer.fail_safe): the reasons end with what is enforced instead.
_FAIL_SAFE_REASONS = {"held": "HeldLastValid", "isolated": "Isolated"}
_MAX_WHY_CHARS = 800


def _describe(status: PolicyStatus) -> tuple[str, str, str]:
    if status.state in _FAIL_SAFE_REASONS:
        # What is enforced comes last; shorten why, so an Event's 1 KiB still says it.
        *why, enforced = status.reasons or ("",)
        text = "; ".join(why)
        if len(text) > _MAX_WHY_CHARS:
            text = text[: _MAX_WHY_CHARS - 3] + "..."
        return _FAIL_SAFE_REASONS[status.state], f"{text}; {enforced}", "Warning"
    if status.state == "applied":
        msg = "enforced in OVN"
        if status.reasons:
            msg += "; partly skipped: " + "; ".join(status.reasons)
        return "Applied", msg, "Normal" if not status.reasons else "Warning"
    return (
        "Skipped",
        "not enforced: " + "; ".join(status.reasons or ("no reason given",)),
        "Warning",
    )


class PolicyEvents:
    """Remembers each policy's last reported state and reports only changes."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink
        self.last: dict[str, PolicyStatus] = {}
        self._seen: tuple[PolicyStatus, ...] | None = None

    def observe(self, result: ReconcileResult, elapsed: float) -> None:
        if result.statuses is self._seen:
            return  # the same statuses as last time, all reported (the reconciler keeps them)
        current = {s.policy: s for s in result.statuses}
        failed = False
        for key, status in sorted(current.items()):
            if self.last.get(key) == status:
                continue
            namespace, _, name = key.partition("/")
            reason, message, type_ = _describe(status)
            try:
                self.sink(namespace, name, reason, message, type_)
            except Exception as e:  # reporting must never block enforcement
                log.warning("cannot report %s for %s: %s", reason, key, e)
                failed = True  # tried again with the next result
                continue
            self.last[key] = status
        for gone in set(self.last) - set(current):
            del self.last[gone]
        self._seen = None if failed else result.statuses


class BackgroundSink:
    """An ``EventSink`` that returns at once: Events are posted by one thread of their own,
    so the reconcile loop never waits on the API server (10,000 policies' first
    ``Applied`` are 10,000 calls: 81 s at 50,000 pods when they were made in the loop).

    Only the newest Event per policy waits (a policy's older outcome is moot), so the
    queue holds at most one per policy; posts are spaced to at most ``per_second``, and a
    post that fails is tried ``attempts`` times, then dropped with a warning (an Event is
    a report, not state: the next change reports again)."""

    def __init__(self, sink: EventSink, per_second: float = 50.0, attempts: int = 3) -> None:
        self._sink = sink
        self._interval = 1.0 / per_second
        self._attempts = attempts
        self._pending: dict[tuple[str, str], tuple[str, str, str]] = {}
        self._cond = threading.Condition()
        self._stopped = False
        self._busy = False  # an Event taken but not yet posted, or queued but not yet taken
        self._thread = threading.Thread(target=self._run, name="mnp-events", daemon=True)
        self.posted = 0
        self.dropped = 0

    def start(self) -> BackgroundSink:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop; what is not posted by then is dropped (shutdown does not wait on it)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            if self._pending:
                log.info("%d policy Events not posted at shutdown", len(self._pending))

    def __call__(self, namespace: str, name: str, reason: str, message: str, type_: str) -> None:
        with self._cond:
            self._pending.pop((namespace, name), None)
            self._pending[(namespace, name)] = (reason, message, type_)
            self._busy = True  # until the thread has taken it (``idle`` must not say done)
            self._cond.notify_all()

    def idle(self) -> bool:
        """Nothing waiting to be posted, nothing being posted."""
        with self._cond:
            return not self._pending and not self._busy

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for everything queued to be posted (``--once`` exits
        after its one reconcile); whether it was."""
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _next(self) -> tuple[tuple[str, str], tuple[str, str, str]] | None:
        with self._cond:
            while not self._pending and not self._stopped:
                self._busy = False
                self._cond.wait()
            if self._stopped:
                return None
            key = next(iter(self._pending))
            self._busy = True
            return key, self._pending.pop(key)

    def _run(self) -> None:
        while (item := self._next()) is not None:
            (namespace, name), (reason, message, type_) = item
            for attempt in range(1, self._attempts + 1):
                try:
                    self._sink(namespace, name, reason, message, type_)
                    self.posted += 1
                    break
                except Exception as e:
                    if attempt == self._attempts:
                        self.dropped += 1
                        log.warning("cannot report %s for %s/%s: %s", reason, namespace, name, e)
                    else:
                        time.sleep(self._interval * 2**attempt)
            time.sleep(self._interval)
        with self._cond:
            self._busy = False


def log_sink(namespace: str, name: str, reason: str, message: str, type_: str) -> None:
    log.info("%s %s/%s %s: %s", type_, namespace, name, reason, message)


def event_name(policy: str, uid: str | None, reason: str, message: str) -> str:
    """One Event object per policy and outcome: a restarted enforcer that reports the same
    outcome again bumps its count instead of adding a copy (as client-go's correlator does)."""
    digest = hashlib.sha256(f"{uid}|{reason}|{message}".encode()).hexdigest()[:16]
    return f"{policy[:200]}.{digest}"


def kube_event_sink(core_v1: Any, policy_uid: Callable[[str, str], str | None]) -> EventSink:
    """Create (or bump) a core/v1 Event whose involvedObject is the policy."""
    from kubernetes.client.exceptions import ApiException

    def sink(namespace: str, name: str, reason: str, message: str, type_: str) -> None:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        involved: dict[str, Any] = {
            "apiVersion": f"{MNP_GROUP}/v1beta1",
            "kind": MNP_KIND,
            "namespace": namespace,
            "name": name,
        }
        uid = policy_uid(namespace, name)
        if uid:
            involved["uid"] = uid
        message = message[:1024]
        event = event_name(name, uid, reason, message)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": event, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            core_v1.create_namespaced_event(namespace, body)
        except ApiException as e:
            if e.status != 409:
                raise
            seen = core_v1.read_namespaced_event(event, namespace)
            count = (seen.count or 1) + 1
            core_v1.patch_namespaced_event(event, namespace, {"count": count, "lastTimestamp": now})

    return sink
