"""Per-policy outcome reporting: ``Applied`` / ``Skipped`` Kubernetes Events, on change only;
``HeldLastValid`` / ``Isolated`` Warnings when the fail-safe enforces something else."""

from __future__ import annotations

import datetime
import hashlib
import logging
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
