"""The FastAPI app: /validate, /mutate, /healthz, /readyz, /metrics (and /bench/floor)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from fastapi.telemetry import TelemetryConfig
from prometheus_client import Counter as CounterChild
from prometheus_client import Histogram as HistogramChild
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from mnp.admission import Verdict
from mnp.model import MNP_KIND, NAD_KIND, NadKey
from mnp.validation import DEFAULT_RULES, ValidationRules
from webhook import handlers
from webhook.admission_http import (
    OPERATIONS,
    AdmissionRequest,
    BadRequest,
    denial_message,
    error_body,
    loggable,
    parse_json,
    parse_review,
    read_body,
    review_response,
)
from webhook.limits import ServerLimits
from webhook.metrics import CONTENT_TYPE, WebhookMetrics
from webhook.nad_cache import ObjectSource, ResolvedNads

T = TypeVar("T")

log = logging.getLogger(__name__)

JSON = "application/json"
# A policy naming many unknown NADs must not turn one review into many API round trips.
MAX_MISS_GETS = 16


class NadLookupFailed(Exception):
    pass


def _resolve_missing(source: ObjectSource, keys: list[NadKey]) -> dict[NadKey, Any]:
    fetched: dict[NadKey, Any] = {}
    for key in keys[:MAX_MISS_GETS]:
        try:
            fetched[key] = source.get(key)
        except Exception as e:
            raise NadLookupFailed(
                f"cannot look up NetworkAttachmentDefinition {key} in the API server ({e}); "
                "the request was not reviewed, retry it"
            ) from e
    return fetched


class _CacheLookup:
    """The NAD cache as the review's ``NadLookup``, noting the keys the cache has never
    seen: a review that asked for one is redone once they are fetched. A policy's NADs are
    nearly always cached, and then the request's policy-for is read once, by the review."""

    def __init__(self, source: ObjectSource) -> None:
        self._source = source
        self.unknown: list[NadKey] = []

    def get(self, key: NadKey) -> dict[str, Any] | None:
        known, nad = self._source.cached_nad(key)
        if not known:
            self.unknown.append(key)
        return nad


async def _validate(
    source: ObjectSource,
    request: AdmissionRequest,
    run: Callable[[Callable[[], Verdict]], Awaitable[Verdict]],
    rules: ValidationRules,
) -> Verdict:
    """The review against the NAD cache; ``run`` decides where the CPU work happens."""
    cached = _CacheLookup(source)
    verdict = await run(lambda: handlers.validate(request, cached, source, rules))
    if not cached.unknown:
        return verdict
    # Cache misses need a GET; it blocks, so it runs off the event loop.
    missing = list(dict.fromkeys(cached.unknown))
    fetched = await run_in_threadpool(_resolve_missing, source, missing)
    resolved = ResolvedNads(fetched, source)
    return await run(lambda: handlers.validate(request, resolved, source, rules))


# FastAPI's native OpenTelemetry, all off.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class _LabelledChildren:
    """The labelled series each request counts in, looked up once per label set:
    prometheus_client's ``labels()`` checks and locks on every call. The label values are
    bounded (endpoint, operation, kind and verdict each from a short list)."""

    def __init__(self, metrics: WebhookMetrics) -> None:
        self._metrics = metrics
        self._requests: dict[tuple[str, str, str, str], CounterChild] = {}
        self._latency: dict[str, HistogramChild] = {}

    def request(self, endpoint: str, operation: str, kind: str, verdict: str) -> CounterChild:
        key = (endpoint, operation, kind, verdict)
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = self._metrics.requests.labels(*key)
        return child

    def latency(self, endpoint: str) -> HistogramChild:
        child = self._latency.get(endpoint)
        if child is None:
            child = self._latency[endpoint] = self._metrics.latency.labels(endpoint)
        return child


def _label(value: str, known: tuple[str, ...]) -> str:
    return value if value in known else "other"


def _not_draining() -> bool:
    return False


def create_app(
    source: ObjectSource,
    metrics: WebhookMetrics,
    certificate_loaded: Callable[[], bool],
    bench_floor: bool = False,
    *,
    limits: ServerLimits | None = None,
    draining: Callable[[], bool] = _not_draining,
    rules: ValidationRules = DEFAULT_RULES,
) -> FastAPI:
    """The HTTPS app; ``draining`` turns /readyz to 503 once shutdown has begun; policies
    are validated as the API server of ``rules``' release would (default: newest)."""
    app = FastAPI(
        title="mnp webhook",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # No OpenTelemetry here (Prometheus is): FastAPI would look for its providers on
        # every request.
        telemetry=NO_TELEMETRY,
    )
    limits = limits or ServerLimits()
    deciding = 0  # reviews past their body read
    # Large reviews are decided here, one at a time, so the loop keeps serving small ones.
    large_reviews = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mnp-large-review")

    async def run_decision(decide: Callable[[], T], offload: bool) -> T:
        if not offload:
            return decide()
        return await asyncio.get_running_loop().run_in_executor(large_reviews, decide)

    counted = _LabelledChildren(metrics)

    async def admit(request: Request, endpoint: str) -> Response:
        nonlocal deciding
        started = time.perf_counter()
        operation = kind = "other"
        verdict_label = "error"
        try:
            body = await read_body(
                request.headers.get("content-length"), request.stream(), limits.max_body_bytes
            )
            if deciding >= limits.max_inflight_reviews:
                metrics.reviews_refused.inc()
                message = f"{deciding} reviews in progress, the most this webhook takes; retry"
                return Response(error_body(message), status_code=503, media_type=JSON)
            deciding += 1
            try:
                offload = len(body) >= limits.offload_review_bytes
                review = parse_review(body)
                del body  # a large body is garbage as soon as it is parsed
                operation = _label(review.operation, OPERATIONS)
                kind = _label(review.kind, (MNP_KIND, NAD_KIND))
                content, verdict_label = await _decide(review, endpoint, offload)
            finally:
                deciding -= 1
            return Response(content, media_type=JSON)
        except BadRequest as e:
            log.info("%s: %d %s", endpoint, e.status, loggable(e.message))
            # After a 413 the rest of the body is not worth reading: close the connection.
            headers = {"Connection": "close"} if e.status == 413 else None
            return Response(
                error_body(e.message), status_code=e.status, headers=headers, media_type=JSON
            )
        except ClientDisconnect:
            return Response(error_body("client disconnected"), status_code=400, media_type=JSON)
        except Exception:
            # Designed not to happen: everything above validates its input. If it does, the
            # caller still gets an answer and we get a traceback.
            log.exception("%s: unexpected error before the request was parsed", endpoint)
            return Response(
                error_body("the webhook failed to read this request; see the webhook log"),
                status_code=400,
                media_type=JSON,
            )
        finally:
            counted.request(endpoint, operation, kind, verdict_label).inc()
            counted.latency(endpoint).observe(time.perf_counter() - started)

    async def _decide(request: AdmissionRequest, endpoint: str, offload: bool) -> tuple[bytes, str]:
        mutating = endpoint == "/mutate"
        try:
            if mutating:
                verdict = await run_decision(lambda: handlers.mutate(request), offload)
            else:
                verdict = await _validate(
                    source, request, lambda decide: run_decision(decide, offload), rules
                )
        except handlers.UnhandledKind as e:
            log.warning("%s: %s", endpoint, loggable(str(e)))
            denial = Verdict(allowed=False, message=str(e))
            return review_response(request.uid, denial, status_code=400, reason="BadRequest"), (
                "denied"
            )
        except NadLookupFailed as e:
            log.warning("%s %s: %s", endpoint, loggable(request.describe()), loggable(str(e)))
            denial = Verdict(allowed=False, message=str(e))
            content = review_response(
                request.uid, denial, status_code=503, reason="ServiceUnavailable"
            )
            return content, "error"
        except Exception:
            log.exception("%s %s: admission code failed", endpoint, loggable(request.describe()))
            denial = Verdict(
                allowed=False,
                message=f"internal error in the mnp webhook reviewing {request.describe()}; "
                "the webhook log has the traceback",
            )
            content = review_response(request.uid, denial, status_code=500, reason="InternalError")
            return content, "error"
        if not verdict.allowed:
            log.info(
                "%s denied %s: %s",
                endpoint,
                loggable(request.describe()),
                loggable(denial_message(verdict)),
            )
            label = "denied"
        elif mutating and verdict.patch:
            label = "patched"
        else:
            label = "allowed"
        answer = await run_decision(
            lambda: review_response(request.uid, verdict, with_patch=mutating), offload
        )
        return answer, label

    async def validate(request: Request) -> Response:
        return await admit(request, "/validate")

    async def mutate(request: Request) -> Response:
        return await admit(request, "/mutate")

    # Plain Starlette routes: the handlers read the raw body themselves, and FastAPI's
    # dependency and validation machinery would double the per-request overhead.
    app.add_route("/validate", validate, methods=["POST"])
    app.add_route("/mutate", mutate, methods=["POST"])

    add_probes(app, source, metrics, certificate_loaded, draining)

    if bench_floor:
        # The benchmark's floor: same app, same TLS, parse and answer a canned allowed.
        async def floor(request: Request) -> Response:
            try:
                uid = str(parse_json(await request.body())["request"]["uid"])
            except (BadRequest, LookupError, TypeError):
                return Response(error_body("not an AdmissionReview"), 400, media_type=JSON)
            return Response(review_response(uid, Verdict(allowed=True)), media_type=JSON)

        app.add_route("/bench/floor", floor, methods=["POST"])

    return app


def add_probes(
    app: FastAPI,
    source: ObjectSource,
    metrics: WebhookMetrics,
    certificate_loaded: Callable[[], bool],
    draining: Callable[[], bool] = _not_draining,
) -> None:
    """/healthz, /readyz and /metrics: on the HTTPS app, and on the plain --health-port app."""

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    @app.get("/readyz")
    async def readyz() -> Response:
        waiting = []
        if draining():
            waiting.append("shutting down")
        if not source.ready:
            waiting.append("NAD and policy caches have not synced")
        if not certificate_loaded():
            waiting.append("no serving certificate loaded")
        if waiting:
            body = json.dumps({"status": "not ready", "waiting": waiting}).encode()
            return Response(body, status_code=503, media_type=JSON)
        return Response(b'{"status":"ready"}', media_type=JSON)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        metrics.nad_cache_size.set(source.nad_count())
        metrics.policy_cache_size.set(source.policy_count())
        return Response(metrics.render(), media_type=CONTENT_TYPE)


def create_probe_app(
    source: ObjectSource,
    metrics: WebhookMetrics,
    certificate_loaded: Callable[[], bool],
    draining: Callable[[], bool] = _not_draining,
) -> FastAPI:
    """The probes alone, for a plain-HTTP port: kubelet probes carry no client certificate."""
    app = FastAPI(
        title="mnp webhook probes",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=NO_TELEMETRY,
    )
    add_probes(app, source, metrics, certificate_loaded, draining)
    return app
