"""The elector's timing rules with a hand-driven monotonic clock and an in-memory Lease that
keeps the API server's optimistic concurrency (resourceVersion, 409, 404). The real API
server runs in tests/e2e/test_enforcer_failover.py; here each rule is pinned exactly."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from enforcer.command import _leader_elect, build_parser
from enforcer.leader import ElectionSettings, LeaseElector, NotLeaderError

SETTINGS = ElectionSettings()  # 15 s / 10 s / 2 s


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Leases:
    """One namespace's Leases as CoordinationV1Api serves them; ``down`` fails every call."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise OSError("connection refused")

    def _as_model(self, body: dict[str, Any]) -> Any:
        spec = body["spec"]
        return SimpleNamespace(
            metadata=SimpleNamespace(resource_version=body["metadata"]["resourceVersion"]),
            spec=SimpleNamespace(
                holder_identity=spec.get("holderIdentity"),
                lease_duration_seconds=spec.get("leaseDurationSeconds"),
                lease_transitions=spec.get("leaseTransitions"),
            ),
        )

    def _store(self, name: str, body: dict[str, Any]) -> Any:
        self.version += 1
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = str(self.version)
        self.stored[name] = body
        return self._as_model(body)

    def read_namespaced_lease(self, name: str, namespace: str, **_: Any) -> Any:
        self._check()
        if name not in self.stored:
            raise ApiException(status=404)
        return self._as_model(self.stored[name])

    def create_namespaced_lease(self, namespace: str, body: dict[str, Any], **_: Any) -> Any:
        self._check()
        if body["metadata"]["name"] in self.stored:
            raise ApiException(status=409)
        return self._store(body["metadata"]["name"], body)

    def replace_namespaced_lease(
        self, name: str, namespace: str, body: dict[str, Any], **_: Any
    ) -> Any:
        self._check()
        current = self.stored[name]["metadata"]["resourceVersion"]
        if body["metadata"].get("resourceVersion") != current:
            raise ApiException(status=409)
        return self._store(name, body)

    def holder(self) -> str | None:
        holder: str | None = self.stored[SETTINGS.name]["spec"]["holderIdentity"]
        return holder


def elector(identity: str, leases: Leases, clock: Clock) -> LeaseElector:
    e = LeaseElector(None, identity, SETTINGS, clock=clock)
    e._api = leases  # type: ignore[assignment]
    return e


def test_settings_need_retry_below_renew_deadline_below_lease_duration() -> None:
    for lease, renew, retry in ((10, 10, 2), (15, 10, 10), (15, 16, 2), (15, 10, 0)):
        with pytest.raises(ValueError):
            ElectionSettings(lease_duration=lease, renew_deadline=renew, retry_period=retry)


def test_leader_stops_writing_at_its_renew_deadline_before_the_lease_can_be_taken() -> None:
    leases, clock = Leases(), Clock()
    a, b = elector("a", leases, clock), elector("b", leases, clock)
    a._attempt()
    assert a.is_leader() and leases.holder() == "a"
    a.check_write()
    b._attempt()  # b sees a's record now
    assert not b.is_leader()
    with pytest.raises(NotLeaderError):
        b.check_write()

    leases.down = True  # a can renew no more
    clock.now += SETTINGS.renew_deadline - 0.001
    a._attempt()
    assert a.is_leader()
    clock.now += 0.001
    assert not a.is_leader()
    with pytest.raises(NotLeaderError):
        a.check_write()

    # b may take over only once it has seen the same record for the whole lease duration.
    leases.down = False
    b._attempt()
    assert not b.is_leader() and leases.holder() == "a"
    clock.now += SETTINGS.lease_duration - SETTINGS.renew_deadline
    b._attempt()
    assert b.is_leader() and leases.holder() == "b"
    assert leases.stored[SETTINGS.name]["spec"]["leaseTransitions"] == 1
    # a, back, finds the lease is b's: it stays standby.
    a._attempt()
    assert not a.is_leader()


def test_renewing_keeps_the_lead_and_a_candidate_waiting() -> None:
    leases, clock = Leases(), Clock()
    a, b = elector("a", leases, clock), elector("b", leases, clock)
    a._attempt()
    for _ in range(20):  # 40 s of renews every retry period
        clock.now += SETTINGS.retry_period
        a._attempt()
        b._attempt()
        assert a.is_leader() and not b.is_leader()
    assert leases.holder() == "a"


def test_a_released_lease_is_taken_at_once() -> None:
    leases, clock = Leases(), Clock()
    a, b = elector("a", leases, clock), elector("b", leases, clock)
    a._attempt()
    b._attempt()
    a.stop(release=True)
    assert not a.is_leader() and leases.holder() is None
    b._attempt()  # no waiting for the lease duration
    assert b.is_leader() and leases.holder() == "b"


def test_leader_election_is_on_by_default_with_the_kube_source_only() -> None:
    def elect(*argv: str) -> bool:
        return _leader_elect(build_parser().parse_args(["--ovn-nb=unix:/nb", *argv]))

    assert elect("--source=kube")
    assert not elect("--source=kube", "--once")
    assert not elect("--source=files")
    assert elect("--source=files", "--leader-elect")
    assert not elect("--source=kube", "--no-leader-elect")
    with pytest.raises(SystemExit):
        elect("--once", "--leader-elect")
