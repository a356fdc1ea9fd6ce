"""Leader election on a ``coordination.k8s.io/v1`` Lease, so that of several enforcer
replicas only one writes the OVN Northbound database.

This is a small elector of our own on ``CoordinationV1Api`` (get / create / replace of one
Lease, optimistic concurrency through ``metadata.resourceVersion``), not the ``kubernetes``
package's ``leaderelection`` with its ``LeaseLock`` (v37). That one does not give the
guarantees the enforcer needs:

- its ``LeaseLock`` talks through the package's global default client, not the
  ``ApiClient`` of ``--kubeconfig`` / the ServiceAccount token the watches use;
- its requests carry no timeout: a renew stuck on a dead connection outlasts the renew
  deadline, and the "leader" keeps believing it leads;
- it measures the renew deadline by the wall clock (``time.time``), which can jump;
- it cannot be asked "do I hold a still-valid lease right now?" before each write, it runs
  once (after losing the lease ``run()`` returns for good: no way back to standby), and it
  never releases the lease on shutdown.

The safety argument. A replica may write only while ``is_leader()``: it holds the lease and
``now < start of its last successful renew + renew_deadline``, by its own monotonic clock.
Another candidate takes the lease over only after it has *seen the same record* (the same
``resourceVersion``) for ``leaseDurationSeconds`` by its own clock, and it can only first see
a renew after the renew was sent. So the old leader's writes stop at least
``lease_duration - renew_deadline`` (5 s by default) before anyone else can start: that margin
absorbs clock-rate differences and the one transaction that passed the gate just in time.
No wall clock is compared across machines (``renewTime`` is written for humans and tools).
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from enforcer.reconcile import WriteWithheldError

log = logging.getLogger("mnp.enforcer.leader")

DEFAULT_NAMESPACE = "mnp-system"
DEFAULT_LEASE_NAME = "mnp-enforcer"
_NOT_FOUND = 404
_CONFLICT = 409
_RELEASED_LEASE_DURATION_S = 1
_CANDIDATE_JITTER = 1.2


@dataclass(frozen=True)
class ElectionSettings:
    """Where the Lease is and its timing (client-go's defaults: 15 s / 10 s / 2 s)."""

    namespace: str = DEFAULT_NAMESPACE
    name: str = DEFAULT_LEASE_NAME
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs 0 < retry period < renew deadline < lease duration "
                f"(got {self.retry_period}, {self.renew_deadline}, {self.lease_duration})"
            )
        if self.lease_duration != int(self.lease_duration):
            raise ValueError("the lease duration is whole seconds (leaseDurationSeconds)")


class NotLeaderError(WriteWithheldError):
    """Raised by the write gate: this replica does not hold a valid lease, nothing is written."""


def candidate_identity(pod_name: str | None = None) -> str:
    """The pod's name (downward API ``POD_NAME``, else the host name) plus a random suffix,
    so a restarted pod with the same name is a new candidate, never mistaken for the old."""
    base = pod_name or os.environ.get("POD_NAME") or socket.gethostname()
    return f"{base}_{secrets.token_hex(4)}"


def _micro_time(now: datetime) -> str:
    """RFC 3339 with microseconds, as the API server's MicroTime wants it."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class _Seen:
    """A Lease record as this candidate last saw it, and when (monotonic) it first saw it."""

    resource_version: str
    since: float
    expires: float | None = None  # monotonic; set when held by another candidate


class LeaseElector:
    """Campaigns for, renews and releases one Lease from a background thread.

    ``on_change(leading)`` is called once per transition (from the elector's thread), after
    the log line; the caller uses it to set the metric and to reconcile at once on taking over.
    """

    def __init__(
        self,
        api_client: Any,
        identity: str,
        settings: ElectionSettings,
        on_change: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.identity = identity
        self.settings = settings
        self._api = client.CoordinationV1Api(api_client)
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()
        self._valid_until: float | None = None  # monotonic; None: not holding the lease
        self._acquire_time: str | None = None  # our acquireTime, kept on renews
        self._seen: _Seen | None = None
        self._reported = False  # leadership as last logged / told to on_change
        self._failing = False  # the last attempt could not reach the Lease (logged once)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the gate -----------------------------------------------------------------------

    def is_leader(self) -> bool:
        """Holding the lease, and its last successful renew is within the renew deadline."""
        with self._lock:
            valid_until = self._valid_until
        return valid_until is not None and self._clock() < valid_until

    def check_write(self) -> None:
        """The reconciler's ``before_write``: raise ``NotLeaderError`` unless ``is_leader()``."""
        if not self.is_leader():
            raise NotLeaderError(f"{self.identity} does not hold lease {self._lease_ref}")

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> LeaseElector:
        log.info("leader election: %s campaigns for lease %s", self.identity, self._lease_ref)
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()
        return self

    def stop(self, release: bool = True) -> None:
        """Stop campaigning; a leader closes its gate, then releases the lease (when
        ``release``) so that a standby takes over without waiting for it to expire.
        Call it only once no write can be in flight any more."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._timeout * 3)
        with self._lock:
            self._valid_until = None  # the gate closes before the lease is given up
        if release:
            self._release()
        self._report()

    # --- the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._attempt()
            self._report()
            self._stop.wait(self._next_wait())

    def _next_wait(self) -> float:
        """The retry period; a leader also wakes when its validity ends (to report the loss),
        a candidate when the leader's lease expires by its clock (to take over then, not up
        to a retry period later). Candidates add jitter (up to 20%, as client-go) so that
        several do not poll in step."""
        now = self._clock()
        with self._lock:
            valid_until = self._valid_until
        if valid_until is not None and now < valid_until:
            return min(self.settings.retry_period, valid_until - now)
        wait = self.settings.retry_period * random.uniform(1.0, _CANDIDATE_JITTER)
        expires = self._seen.expires if self._seen is not None else None
        if expires is not None and now < expires:
            wait = min(wait, expires - now)
        return wait

    def _attempt(self) -> None:
        started = self._clock()
        try:
            held = self._acquire_or_renew()
        except (ApiException, HTTPError, OSError) as e:
            # Unreachable or refused: keep what we have; the validity runs out by itself.
            self._note_failure(e)
            if not self.is_leader():
                with self._lock:
                    self._valid_until = None  # expired: from now on a candidate's pace
            return
        if self._failing:
            self._failing = False
            log.info("leader election: lease %s reachable again", self._lease_ref)
        with self._lock:
            self._valid_until = started + self.settings.renew_deadline if held else None

    def _note_failure(self, e: Exception) -> None:
        """One warning when the Lease stops being reachable (e.g. the API server is down, RBAC
        or the namespace is missing), not one per attempt."""
        reason = f"{e.status} {e.reason}" if isinstance(e, ApiException) else f"{e}"
        log.debug("leader election: lease %s: %s", self._lease_ref, reason)
        if not self._failing:
            self._failing = True
            log.warning(
                "leader election: cannot get or write lease %s (%s); retrying every %.0fs",
                self._lease_ref,
                reason,
                self.settings.retry_period,
            )

    def _acquire_or_renew(self) -> bool:
        """One round trip or two: read the Lease, then create it, take it over (when free or
        expired), or renew it (when ours). True when this candidate holds it afterwards."""
        lease = self._read()
        # When the record was seen: after the read came back, never before it was sent (the
        # leader's validity counts from before its write, so this keeps the margin whole).
        seen_at = self._clock()
        wall = _micro_time(datetime.now(UTC))
        if lease is None:
            body = self._body(wall, wall, transitions=0, resource_version=None)
            return self._write(
                lambda: self._api.create_namespaced_lease(
                    self._ns, body, _request_timeout=self._timeout
                ),
                wall,
            )
        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity or ""
        version = lease.metadata.resource_version
        if self._seen is None or self._seen.resource_version != version:
            self._seen = _Seen(version, seen_at)
        transitions = spec.lease_transitions or 0
        if holder == self.identity:
            acquire = self._acquire_time or wall
        else:
            duration = spec.lease_duration_seconds or self.settings.lease_duration
            if holder and seen_at < self._seen.since + duration:
                self._seen = _Seen(version, self._seen.since, self._seen.since + duration)
                return False  # someone else's, and not seen unchanged for its duration yet
            acquire = wall
            transitions += 1
        body = self._body(acquire, wall, transitions, resource_version=version)
        return self._write(
            lambda: self._api.replace_namespaced_lease(
                self.settings.name, self._ns, body, _request_timeout=self._timeout
            ),
            acquire,
        )

    def _write(self, call: Callable[[], Any], acquire_time: str) -> bool:
        try:
            written = call()
        except ApiException as e:
            if e.status == _CONFLICT:
                return False  # another candidate wrote first; read again next round
            raise
        self._acquire_time = acquire_time
        self._seen = _Seen(written.metadata.resource_version, self._clock())
        return True

    def _read(self) -> Any:
        try:
            return self._api.read_namespaced_lease(
                self.settings.name, self._ns, _request_timeout=self._timeout
            )
        except ApiException as e:
            if e.status == _NOT_FOUND:
                return None
            raise

    def _body(
        self, acquire: str, renew: str, transitions: int, resource_version: str | None
    ) -> Any:
        """The Lease as a plain dict (sent as is): a ``V1Lease`` would serialize its times by
        ``isoformat()``, which leaves out zero microseconds; MicroTime wants them always."""
        metadata: dict[str, Any] = {"name": self.settings.name, "namespace": self._ns}
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.settings.lease_duration),
                "acquireTime": acquire,
                "renewTime": renew,
                "leaseTransitions": transitions,
            },
        }

    def _release(self) -> None:
        """As client-go's ``ReleaseOnCancel``: no holder, a 1 s duration, same transitions."""
        try:
            lease = self._read()
            if lease is None or (lease.spec and lease.spec.holder_identity) != self.identity:
                return
            wall = _micro_time(datetime.now(UTC))
            body = self._body(wall, wall, lease.spec.lease_transitions or 0, None)
            body["metadata"]["resourceVersion"] = lease.metadata.resource_version
            body["spec"]["holderIdentity"] = None
            body["spec"]["leaseDurationSeconds"] = _RELEASED_LEASE_DURATION_S
            self._api.replace_namespaced_lease(
                self.settings.name, self._ns, body, _request_timeout=self._timeout
            )
            log.info("leader election: %s released lease %s", self.identity, self._lease_ref)
        except (ApiException, HTTPError, OSError) as e:
            log.warning("leader election: could not release lease %s: %s", self._lease_ref, e)

    def _report(self) -> None:
        leading = self.is_leader()
        if leading == self._reported:
            return
        self._reported = leading
        if leading:
            log.info(
                "leader election: %s is now the leader (lease %s)", self.identity, self._lease_ref
            )
        else:
            log.warning(
                "leader election: %s is no longer the leader (lease %s): standing by, not writing",
                self.identity,
                self._lease_ref,
            )
        if self._on_change is not None:
            try:
                self._on_change(leading)
            except Exception:
                log.exception("leader election: transition callback failed")

    @property
    def _ns(self) -> str:
        return self.settings.namespace

    @property
    def _lease_ref(self) -> str:
        return f"{self.settings.namespace}/{self.settings.name}"

    @property
    def _timeout(self) -> float:
        return self.settings.retry_period
