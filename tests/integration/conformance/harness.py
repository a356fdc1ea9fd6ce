"""Run scenarios against a real OVN: reconcile the step's objects, ovn-trace, compare.

The EXPECTED side is always a hand-written table from the scenario. The OBSERVED side
is only ``Cell.observed`` from ``mnp_lab.trace.trace_matrix`` (what ovn-trace saw);
the tracer's own reference verdicts (``Cell.expected``) are never used here.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Literal

from enforcer.desired import PolicyStatus
from enforcer.diff import ReconcileResult
from enforcer.fail_safe import FailSafe, Guarded
from enforcer.incremental import events_between
from enforcer.nb_replica import NbReplica
from enforcer.reconcile import NbTarget, Reconciler, reconcile
from mnp.model import Snapshot
from mnp.snapshot import SnapshotBuild, build_snapshot
from mnp_lab.connectivity import ProbePort
from mnp_lab.ovn import OvnSandbox
from mnp_lab.topology import build_topology
from mnp_lab.trace import NetworkMatrix, trace_matrix

from .cluster import NetworkSpec, cluster_objects, step_objects
from .scenarios_layer2 import Scenario, Step
from .truth_table import Probe, TruthTable, TruthTableError, compare, parse_table, render_diff

Observed = dict[Probe, dict[tuple[str, str], bool]]


def observed_cells(matrices: list[NetworkMatrix], network: str) -> Observed:
    """``trace_matrix`` results as probe -> (source label, destination label) -> delivered."""
    out: Observed = defaultdict(dict)
    for matrix in matrices:
        if matrix.network != network:
            continue
        for cell in matrix.cells:
            p = cell.probe
            probe = Probe(p.port.port, p.port.protocol, p.src.family)
            out[probe][(p.src.label, p.dst.label)] = cell.observed
    return out


def is_external(label: str) -> bool:
    """External endpoints are labelled by their address; pods by ``namespace/name``."""
    try:
        ipaddress.ip_address(label)
    except ValueError:
        return False
    return True


def observed_table(expected: TruthTable, cells: dict[tuple[str, str], bool]) -> TruthTable:
    """The observed verdicts for exactly the expected table's cells.

    ovn-trace does not probe a pod towards itself (loopback is ignored, as upstream
    does) nor an external address towards another (neither end is in the cluster), so
    those cells copy the expected value; any other missing cell is an error. A table
    that names an external address as a column must name it as a row too, when
    ovn-trace probed it as a source (on localnet, from outside through the localnet port).
    """
    sent = {s for s, _ in cells if is_external(s)}
    rowless = [d for d in expected.destinations if d in sent and d not in expected.sources]
    if rowless:
        raise TruthTableError(
            f"the table has column(s) {rowless} but no row for them, and ovn-trace probed "
            "them as sources: add a row per external address (what it may reach)"
        )
    values: dict[tuple[str, str], bool] = {}
    missing: list[str] = []
    for s in expected.sources:
        for d in expected.destinations:
            if (s, d) in cells:
                values[(s, d)] = cells[(s, d)]
            elif s == d or (is_external(s) and is_external(d)):
                values[(s, d)] = expected.cells[(s, d)]
            else:
                missing.append(f"{s} -> {d}")
    if missing:
        raise TruthTableError(
            f"ovn-trace did not probe {len(missing)} expected pair(s), e.g. {missing[:4]}: "
            "is the pod on the traced network, and does the probe's family match its addresses?"
        )
    return TruthTable(expected.sources, expected.destinations, values)


@dataclass
class StepReport:
    label: str
    result: ReconcileResult
    failures: list[str]


class CompileAsIs(FailSafe):
    """No fail-safe: a rejected policy is simply not enforced, as in ``compile`` (what the
    scenarios' tables are written for; the fail-safe has its own tests)."""

    def guard(self, snapshot: Snapshot) -> Guarded:
        return Guarded(snapshot, frozenset(), dict(snapshot.rejected), {}, frozenset())

    def statuses(self, guarded: Guarded, result: ReconcileResult) -> tuple[PolicyStatus, ...]:
        return result.statuses


class ConformanceLab:
    """One OVN sandbox with the model's topology built once; scenarios run one after another.

    Each step only reconciles (the enforcer removes the previous scenario's rows) and traces.
    Mode ``snapshot`` reconciles each step's snapshot afresh (full compile); mode
    ``incremental`` feeds one running ``Reconciler`` (with its NB replica, as the running
    enforcer has) the events between the last step and this one, one event and one
    reconcile at a time, taking the step's snapshot where the loop would (an event about a
    rejected policy).
    """

    def __init__(
        self,
        sandbox: OvnSandbox,
        spec: NetworkSpec,
        mode: Literal["snapshot", "incremental"] = "snapshot",
    ) -> None:
        self.sandbox = sandbox
        self.spec = spec
        self.mode = mode
        self.target = NbTarget(sandbox.nb_remote)
        self.replica: NbReplica | None = None
        self.enforcer: Reconciler | None = None
        self._last = Snapshot()
        if mode == "incremental":
            self.replica = NbReplica(sandbox.nb_remote).start()
            self.enforcer = Reconciler(self.target, replica=self.replica, fail_safe=CompileAsIs())
            self.enforcer.full(self._last)
        base = build_snapshot(cluster_objects(spec))
        if base.problems:
            raise AssertionError(f"the base model has problems: {list(base.problems)}")
        self.layout = build_topology(sandbox, base.snapshot)

    def admit(self, label: str, step: Step) -> SnapshotBuild:
        """The step's snapshot; fails unless exactly the expected policies were rejected."""
        build = build_snapshot(step_objects(self.spec, step))
        if build.problems:
            raise AssertionError(f"{label}: the objects have problems: {list(build.problems)}")
        rejected = dict(build.snapshot.rejected)
        unexpected = {k: v for k, v in rejected.items() if k not in step.rejected}
        if unexpected:
            raise AssertionError(f"{label}: policies rejected by admission: {unexpected}")
        for key, phrase in step.rejected.items():
            if key not in rejected:
                raise AssertionError(f"{label}: policy {key} should be rejected, but was admitted")
            if not any(phrase in message for message in rejected[key]):
                raise AssertionError(
                    f"{label}: policy {key} was rejected without {phrase!r}: {rejected[key]}"
                )
        return build

    def close(self) -> None:
        if self.replica is not None:
            self.replica.stop()

    def reconcile(self, snapshot: Snapshot) -> ReconcileResult:
        if self.enforcer is None:
            return reconcile(self.target, snapshot)
        total = ReconcileResult()
        for event in events_between(self._last, snapshot):
            if self.enforcer.needs_snapshot([event]):
                result: ReconcileResult | None = self.enforcer.full(snapshot)
            else:
                result = self.enforcer.apply([event])
            if result is not None:
                total.counts.update(result.counts)
                total.ops += result.ops
                total.transacted |= result.transacted
                total.statuses = result.statuses
            if self.enforcer.needs_snapshot([event]):
                break  # the snapshot held the rest of the step
        self._last = snapshot
        return total

    def run_step(self, label: str, step: Step) -> StepReport:
        build = self.admit(label, step)
        result = self.reconcile(build.snapshot)
        # Trace over the full layout, so pods whose NAD is missing at this step are probed too.
        layout_snapshot = build_snapshot(step_objects(self.spec, step, with_all_nads=True)).snapshot
        ports = sorted({ProbePort(p.protocol, p.port) for p in step.expect}, key=str)
        matrices = trace_matrix(self.sandbox, layout_snapshot, ports)
        observed = observed_cells(matrices, self.spec.network_name)
        failures: list[str] = []
        for probe, text in step.expect.items():
            expected = parse_table(text)
            got = observed_table(expected, observed.get(probe, {}))
            if compare(expected, got):
                failures.append(render_diff(expected, got, title=f"{label} {probe}"))
        return StepReport(label, result, failures)

    def run(self, scenario: Scenario) -> None:
        """Every step in order; one assertion listing every differing table."""
        failures: list[str] = []
        for i, step in enumerate(scenario.steps, start=1):
            what = f" ({step.what})" if step.what else ""
            label = f"{scenario.id} step {i}/{len(scenario.steps)}{what}"
            report = self.run_step(label, step)
            if report.failures:
                failures.append(f"reconcile wrote: {report.result.summary()}")
                failures += report.failures
        assert not failures, f"upstream: {scenario.upstream}\n" + "\n\n".join(failures)


def for_family(scenario: Scenario, family: int) -> Scenario:
    """The scenario with every probe moved to ``family`` (same hand tables, same policies)."""
    steps = tuple(
        replace(
            step,
            expect={Probe(p.port, p.protocol, family): t for p, t in step.expect.items()},
        )
        for step in scenario.steps
    )
    return replace(scenario, id=f"{scenario.id}-ipv{family}", steps=steps)
