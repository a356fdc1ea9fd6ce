"""Fail-safe enforcement: a policy whose input turns bad never opens the pods it isolated.

A pure step between a source's snapshot and compile, with a memory per policy (in this
process only). For every policy the snapshot lists as rejected (it fails validation, its NAD
is missing or unusable; a files source keeps an unreadable file's last objects itself):

- **held**: the last admitted model is remembered, so it is compiled instead (its allows and
  its isolation stay exactly as last enforced). When one of its NADs is gone, compiling it
  would find no pods, so its owned rows in the NB are left untouched instead.
- no memory (the enforcer restarted, or first saw the policy invalid): the diff is told to
  leave the policy's owned rows untouched (``plan(keep=...)``); when it has none, the policy
  was **never valid** and its isolation-only model (``Snapshot.isolation``: the pods its
  podSelector selects, no allows) is written: **isolated**.

A deleted policy is forgotten and its rows go, as before. Each policy's state is reported
as its status (``held``/``isolated``), so Events and the state gauge say what is enforced.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, replace

from enforcer.desired import PolicyStatus
from enforcer.diff import ReconcileResult
from mnp.model import Policy, Snapshot

HELD = "held"
ISOLATED = "isolated"

STILL_LAST_VALID = "still enforcing the last valid version (as stored at {since})"
STILL_LAST_ROWS = (
    "still enforcing the rows it last had in OVN (its NAD is gone, or the enforcer "
    "restarted since it was last valid)"
)
ISOLATING = "isolating the selected pods with no allows until the policy is fixed"
NOTHING_TO_ISOLATE = "nothing to isolate: {why}"


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class LastGood:
    """A policy's last admitted model and when it was first seen in that form."""

    policy: Policy
    stored_at: str


@dataclass(frozen=True)
class Guarded:
    """What to compile and what the diff must leave alone, for one reconcile."""

    snapshot: Snapshot  # admitted policies, plus held and isolation models; no rejected
    keep: frozenset[str]  # policies whose owned NB rows the diff leaves untouched (if any)
    rejected: dict[str, tuple[str, ...]]  # policy -> why its input is unusable
    held: dict[str, str]  # policy -> since when its last valid version is compiled
    isolation: frozenset[str]  # rejected policies with an isolation model to write


class FailSafe:
    """Remembers each policy's last good model; ``guard`` before compile, ``statuses``
    after the reconcile succeeded."""

    def __init__(self, now: Callable[[], str] = _utc_now) -> None:
        self._now = now
        self._last_good: dict[str, LastGood] = {}
        self._isolating: set[str] = set()

    def _remember(self, snapshot: Snapshot) -> None:
        present = {p.key for p in snapshot.policies} | {k for k, _ in snapshot.rejected}
        for policy in snapshot.policies:
            last = self._last_good.get(policy.key)
            if last is None or last.policy != policy:
                self._last_good[policy.key] = LastGood(policy, self._now())
        for gone in set(self._last_good) - present:
            del self._last_good[gone]
        self._isolating = {k for k, _ in snapshot.rejected if k in self._isolating}

    def admitted(self, key: str, policy: Policy | None) -> None:
        """An event's admitted policy (None: deleted), remembered as ``guard`` would have
        (the events path between snapshots; events about rejected policies take a
        snapshot)."""
        if policy is None:
            self._last_good.pop(key, None)
            self._isolating.discard(key)
            return
        last = self._last_good.get(key)
        if last is None or last.policy != policy:
            self._last_good[key] = LastGood(policy, self._now())

    def guard(self, snapshot: Snapshot) -> Guarded:
        self._remember(snapshot)
        nads = {n.nad for n in snapshot.networks}
        isolation = {p.key: p for p in snapshot.isolation}
        compiled: list[Policy] = list(snapshot.policies)
        keep: set[str] = set()
        held: dict[str, str] = {}
        for key, _ in snapshot.rejected:
            last = self._last_good.get(key)
            if last is not None and all(n in nads for n in last.policy.policy_for):
                compiled.append(last.policy)
                held[key] = last.stored_at
                continue
            if last is None and key in isolation:
                compiled.append(isolation[key])
                if key in self._isolating:
                    continue  # isolated by this process: keep isolating whom it selects
            keep.add(key)  # rows from before (a restart, a NAD gone): leave them as they are
        guarded = replace(
            snapshot, policies=tuple(sorted(compiled, key=lambda p: p.key)), rejected=()
        )
        return Guarded(
            snapshot=guarded,
            keep=frozenset(keep),
            rejected=dict(snapshot.rejected),
            held=held,
            isolation=frozenset(k for k in isolation if k not in self._last_good),
        )

    def statuses(self, guarded: Guarded, result: ReconcileResult) -> tuple[PolicyStatus, ...]:
        """Compile's statuses for admitted policies, and the fail-safe state of each
        rejected one; remembers which policies are now isolated (their rows are written)."""
        out = {s.policy: s for s in result.statuses if s.policy not in guarded.rejected}
        kept_in_nb = set(result.held)
        for key, why in guarded.rejected.items():
            if key in guarded.held:
                tail = STILL_LAST_VALID.format(since=guarded.held[key])
                out[key] = PolicyStatus(key, HELD, (*why, tail))
            elif key in kept_in_nb:
                out[key] = PolicyStatus(key, HELD, (*why, STILL_LAST_ROWS))
            elif key in guarded.isolation and _compiled(result, key):
                self._isolating.add(key)
                out[key] = PolicyStatus(key, ISOLATED, (*why, ISOLATING))
            else:
                reason = "its podSelector is not valid"
                if key in guarded.isolation:
                    reason = "none of the NADs it names exists"
                out[key] = PolicyStatus(
                    key, "skipped", (*why, NOTHING_TO_ISOLATE.format(why=reason))
                )
        return tuple(out[k] for k in sorted(out))


def _compiled(result: ReconcileResult, key: str) -> bool:
    """Whether compile enforced the isolation model of ``key`` on some network."""
    return any(s.policy == key and s.state == "applied" for s in result.statuses)
