"""Prometheus metrics of the enforcer: reconcile time, rows written, policies by state,
leadership."""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server
from prometheus_client import Counter as PromCounter

from enforcer.desired import PolicyStatus
from enforcer.diff import ReconcileResult
from kubewatch.hooks import prometheus_hooks

# "held": a rejected policy whose last enforced version stays; "isolated": a policy never
# valid whose selected pods are isolated with no allows (enforcer.fail_safe).
STATES = ("applied", "skipped", "held", "isolated")


class EnforcerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reconcile_seconds = Histogram(
            "mnp_enforcer_reconcile_duration_seconds",
            "Time of one reconcile: compile, read NB, diff and transact",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.rows_written = PromCounter(
            "mnp_enforcer_nb_rows_written",
            "OVN Northbound rows written by the enforcer",
            ["table", "op"],
            registry=self.registry,
        )
        self.policies = Gauge(
            "mnp_enforcer_policies",
            "MultiNetworkPolicies by enforcement state",
            ["state"],
            registry=self.registry,
        )
        self.failures = PromCounter(
            "mnp_enforcer_reconcile_failures",
            "Reconciles that failed (the NB was left unchanged)",
            registry=self.registry,
        )
        self.transactions = PromCounter(
            "mnp_enforcer_nb_transactions",
            "OVN Northbound transactions committed by the enforcer",
            registry=self.registry,
        )
        self.leader = Gauge(
            "mnp_enforcer_leader",
            "1 while this replica holds the leader Lease (or runs without leader election)",
            registry=self.registry,
        )
        self.writes_withheld = PromCounter(
            "mnp_enforcer_writes_withheld",
            "Reconciles that wrote nothing because this replica is not the leader",
            registry=self.registry,
        )
        # Kubernetes source only: mnp_enforcer_kube_{list_attempts,lists,watch_attempts,
        # watch_errors,relists,events}, counted by the kubewatch watchers.
        self.kube_watch = prometheus_hooks(self.registry, "mnp_enforcer_kube")
        self._counted: tuple[PolicyStatus, ...] | None = None

    def observe(self, result: ReconcileResult, elapsed: float) -> None:
        self.reconcile_seconds.observe(elapsed)
        if result.transacted:
            self.transactions.inc()
        for (table, op), n in result.counts.items():
            self.rows_written.labels(table=table, op=op).inc(n)
        if result.statuses is self._counted:
            return  # the same statuses as last time (the reconciler keeps the tuple)
        self._counted = result.statuses
        by_state = Counter(s.state for s in result.statuses)
        for state in STATES:
            self.policies.labels(state=state).set(by_state.get(state, 0))

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        start_http_server(port, addr=addr, registry=self.registry)
