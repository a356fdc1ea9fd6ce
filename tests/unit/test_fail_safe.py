"""The fail-safe step (enforcer.fail_safe) and its hook in plan(): pure, no NB."""

from __future__ import annotations

from dataclasses import replace

from enforcer.compile import compile
from enforcer.desired import PolicyStatus
from enforcer.diff import PG, ReconcileResult, plan
from enforcer.events import PolicyEvents
from enforcer.fail_safe import FailSafe
from enforcer.metrics import EnforcerMetrics
from mnp.model import Namespace, Snapshot
from tests.unit.test_diff import DESIRED, NET, PODS, POLICY, state_of

WHY = (
    'spec.ingress[0].ports[0].protocol: Unsupported value: "tcp": supported values: '
    '"TCP", "UDP", "SCTP"'
)
VALID = Snapshot((Namespace("ns1"),), PODS, (NET,), (POLICY,))
ISOLATION = replace(POLICY, ingress=())
INVALID = replace(VALID, policies=(), rejected=((POLICY.key, (WHY,)),), isolation=(ISOLATION,))


def _reconciled(
    fail_safe: FailSafe, snapshot: Snapshot, held: tuple[str, ...] = ()
) -> dict[str, PolicyStatus]:
    guarded = fail_safe.guard(snapshot)
    result = ReconcileResult(statuses=compile(guarded.snapshot).statuses, held=held)
    return {s.policy: s for s in fail_safe.statuses(guarded, result)}


def test_a_rejected_policy_compiles_its_last_valid_model() -> None:
    fail_safe = FailSafe(now=lambda: "2026-12-01T10:00:00Z")
    assert _reconciled(fail_safe, VALID)[POLICY.key].state == "applied"
    guarded = fail_safe.guard(INVALID)
    assert guarded.snapshot.policies == (POLICY,) and guarded.keep == frozenset()
    assert compile(guarded.snapshot).acls == DESIRED.acls  # the same rows as before
    status = _reconciled(fail_safe, INVALID)[POLICY.key]
    assert status.state == "held"
    assert status.reasons == (
        WHY,
        "still enforcing the last valid version (as stored at 2026-12-01T10:00:00Z)",
    )


def test_without_memory_the_rows_are_kept_else_the_selected_pods_isolated() -> None:
    restarted = FailSafe()
    guarded = restarted.guard(INVALID)
    assert guarded.keep == {POLICY.key}
    assert guarded.snapshot.policies == (ISOLATION,)
    assert _reconciled(restarted, INVALID, held=(POLICY.key,))[POLICY.key].state == "held"

    never_valid = FailSafe()
    status = _reconciled(never_valid, INVALID, held=())[POLICY.key]
    assert status.state == "isolated"
    assert status.reasons[-1] == (
        "isolating the selected pods with no allows until the policy is fixed"
    )
    # From then on this process isolates whomever the selector selects (no rows kept).
    assert never_valid.guard(INVALID).keep == frozenset()


def test_a_deleted_policy_is_forgotten() -> None:
    fail_safe = FailSafe()
    _reconciled(fail_safe, VALID)
    assert fail_safe.guard(replace(VALID, policies=())).snapshot.policies == ()
    assert fail_safe.guard(INVALID).keep == {POLICY.key}  # no memory of it any more


def test_a_policy_with_an_invalid_selector_isolates_nothing() -> None:
    no_selector = replace(INVALID, isolation=())
    status = _reconciled(FailSafe(), no_selector)[POLICY.key]
    assert status.state == "skipped"
    assert status.reasons[-1] == "nothing to isolate: its podSelector is not valid"


def test_plan_leaves_the_kept_policys_rows_and_their_isolation_untouched() -> None:
    state = state_of(DESIRED)
    nothing = compile(replace(VALID, policies=()))
    deleting = plan(nothing, state)
    assert deleting.result.count(PG, "delete") == 2  # what happens without the hook

    kept = plan(nothing, state, keep=frozenset({POLICY.key}))
    assert kept.ops == [] and kept.result.held == (POLICY.key,)

    # Another policy in the namespace isolating another pod: the deny group gets that pod
    # and keeps the kept policy's pod.
    other = replace(
        POLICY,
        name="q",
        pod_selector=replace(POLICY.pod_selector, match_labels=(("app", "client"),)),
    )
    desired = compile(replace(VALID, policies=(other,)))
    p = plan(desired, state, keep=frozenset({POLICY.key}))
    deny = [op for op in p.ops if op["table"] == PG and op["op"] in ("update", "mutate")]
    assert len(deny) == 1  # the ports' change: the client in, the server not taken out
    assert deny[0]["mutations"] == [["ports", "insert", ["set", [["uuid", "u-lsp-client"]]]]]
    assert not [op for op in p.ops if op["op"] == "delete"]


def test_rows_that_allow_nothing_are_not_held_when_the_isolation_is_desired() -> None:
    isolating = compile(replace(VALID, policies=(ISOLATION,)))
    assert isolating.acls and all("deny" in a.key for a in isolating.acls)
    state = state_of(isolating)
    p = plan(isolating, state, keep=frozenset({POLICY.key}))
    assert p.result.held == () and p.ops == []  # applied as desired: follows pod changes
    gone = plan(compile(replace(VALID, policies=())), state, keep=frozenset({POLICY.key}))
    assert gone.result.held == (POLICY.key,) and gone.ops == []  # nothing desired: kept


def test_events_and_the_state_gauge_say_what_is_enforced() -> None:
    fail_safe = FailSafe(now=lambda: "2026-12-01T10:00:00Z")
    _reconciled(fail_safe, VALID)
    guarded = fail_safe.guard(INVALID)
    result = ReconcileResult(statuses=compile(guarded.snapshot).statuses)
    result.statuses = fail_safe.statuses(guarded, result)
    sent: list[tuple[str, str, str, str, str]] = []
    PolicyEvents(lambda *event: sent.append(event)).observe(result, 0.0)
    assert sent == [
        (
            "ns1",
            "p",
            "HeldLastValid",
            f"{WHY}; still enforcing the last valid version (as stored at 2026-12-01T10:00:00Z)",
            "Warning",
        )
    ]
    metrics = EnforcerMetrics()
    metrics.observe(result, 0.0)
    by_state = {
        s: metrics.registry.get_sample_value("mnp_enforcer_policies", {"state": s})
        for s in ("applied", "skipped", "held", "isolated")
    }
    assert by_state == {"applied": 0, "skipped": 0, "held": 1, "isolated": 0}
