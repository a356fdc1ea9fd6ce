"""Prometheus metrics of the webhook, on a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from kubewatch.hooks import prometheus_hooks

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Admission latency is sub-millisecond normally; the API server times out at 10 s.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class WebhookMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mnp_webhook_requests",
            "Admission requests by endpoint, operation, kind and verdict "
            "(allowed, denied, patched, error).",
            ["endpoint", "operation", "kind", "verdict"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mnp_webhook_request_duration_seconds",
            "Time to answer an admission request, body read included.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cert_reloads = Counter(
            "mnp_webhook_certificate_reloads",
            "Serving certificates swapped in after a change on disk.",
            registry=self.registry,
        )
        self.cert_reload_failures = Counter(
            "mnp_webhook_certificate_reload_failures",
            "Changed certificate files that were not loaded (unreadable, mismatched, truncated).",
            registry=self.registry,
        )
        self.cert_expiry = Gauge(
            "mnp_webhook_certificate_expiry_timestamp_seconds",
            "notAfter of the serving certificate in use.",
            registry=self.registry,
        )
        self.nad_cache_size = Gauge(
            "mnp_webhook_nad_cache_size",
            "NetworkAttachmentDefinitions in the webhook's cache.",
            registry=self.registry,
        )
        self.policy_cache_size = Gauge(
            "mnp_webhook_policy_cache_size",
            "MultiNetworkPolicies in the webhook's cache (for the NAD guard).",
            registry=self.registry,
        )

        # mnp_webhook_kube_{list_attempts,lists,watch_attempts,watch_errors,relists,events}
        self.kube_watch = prometheus_hooks(self.registry, "mnp_webhook_kube")

        self.connections_open = Gauge(
            "mnp_webhook_connections_open",
            "Client connections open now (TLS done), by listener (https, probes).",
            ["listener"],
            registry=self.registry,
        )
        self.connections_cut = Counter(
            "mnp_webhook_connections_cut",
            "Connections the webhook closed on a client, by listener and reason (header_timeout, "
            "head_too_large, body_timeout, body_budget, connection_cap, idle_reaped, shutdown).",
            ["listener", "reason"],
            registry=self.registry,
        )
        self.reviews_refused = Counter(
            "mnp_webhook_reviews_refused",
            "Reviews answered 503 at once because max_inflight_reviews were being decided.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
