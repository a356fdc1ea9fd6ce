"""Prometheus metrics of the enforcer: reconcile time, rows written, policies by state."""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server
from prometheus_client import Counter as PromCounter

from enforcer.diff import ReconcileResult

STATES = ("applied", "skipped")


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
        # Kubernetes source only: how often each informer listed (first list, then every
        # relist after a 410 Gone) and why its list/watch failed.
        self.kube_lists = PromCounter(
            "mnp_enforcer_kube_lists",
            "Full lists by the enforcer's informers: the first one, then one per relist",
            ["kind"],
            registry=self.registry,
        )
        self.kube_watch_errors = PromCounter(
            "mnp_enforcer_kube_watch_errors",
            "Failed lists or watches by kind and reason (expired = 410 Gone, then a relist)",
            ["kind", "reason"],
            registry=self.registry,
        )

    def listed(self, kind: str) -> None:
        self.kube_lists.labels(kind=kind).inc()

    def watch_failed(self, kind: str, reason: str) -> None:
        self.kube_watch_errors.labels(kind=kind, reason=reason).inc()

    def observe(self, result: ReconcileResult, elapsed: float) -> None:
        self.reconcile_seconds.observe(elapsed)
        for (table, op), n in result.counts.items():
            self.rows_written.labels(table=table, op=op).inc(n)
        by_state = Counter(s.state for s in result.statuses)
        for state in STATES:
            self.policies.labels(state=state).set(by_state.get(state, 0))

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        start_http_server(port, addr=addr, registry=self.registry)
