"""In-process cost of one admission decision, without HTTP: median and p99 over many runs.

Two figures per policy: ``review`` alone (the core's decision for /validate, the goal is at
most 50 µs median for the seed's policy) and the decision with its JSON: parse and envelope
checks, the review, the answer. Then the webhook's ASGI app called directly for its floor
route, /validate and /mutate: what each route costs beyond the floor, network aside.

    .venv/bin/python bench/bench_review.py [--runs 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.policies import HEAVY_POLICY, SEED_NAD, SEED_POLICY
from mnp import admission
from mnp.model import NadKey
from tests.support.webhook_process import admission_review
from webhook.admission_http import parse_review, review_response
from webhook.app import create_app
from webhook.metrics import WebhookMetrics
from webhook.nad_cache import SnapshotSource

NADS = {NadKey("default", "tenant-blue"): SEED_NAD}


class DictNads:
    def get(self, key: NadKey) -> dict[str, Any] | None:
        return NADS.get(key)


def _timed(runs: int, call: Callable[[int], object]) -> list[float]:
    samples = []
    clock = time.perf_counter_ns
    for i in range(runs):
        started = clock()
        call(i)
        samples.append((clock() - started) / 1e3)
    samples.sort()
    return samples


def measure(name: str, obj: dict[str, Any], runs: int) -> list[tuple[str, list[float]]]:
    nads = DictNads()
    text = json.dumps(obj)
    # Fresh objects, as each request parses its own: the review may fill or share them.
    objects = [json.loads(text) for _ in range(runs)]
    body = json.dumps(admission_review(obj, uid="bench")).encode()

    def review(i: int) -> object:
        return admission.review("CREATE", objects[i], None, nads)

    def whole(_: int) -> object:
        request = parse_review(body)
        verdict = admission.review(request.operation, request.obj, request.old_obj, nads)
        return review_response(request.uid, verdict)

    verdict = admission.review("CREATE", json.loads(text), None, nads)
    assert verdict.allowed, verdict
    _timed(min(runs, 2000), review)  # warm-up
    return [
        (f"{name}: `admission.review`", _timed(runs, review)),
        (f"{name}: parse + review + answer", _timed(runs, whole)),
    ]


def _scope(path: str, length: int) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(length).encode())]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8443),
    }


def measure_app(runs: int) -> list[tuple[str, list[float]]]:
    """The webhook's ASGI app called directly (no TLS, no HTTP parsing, no uvicorn): what
    each route adds to the floor route, inside the same app."""
    app = create_app(
        SnapshotSource([SEED_NAD, SEED_POLICY]), WebhookMetrics(), lambda: True, bench_floor=True
    )
    body = json.dumps(admission_review(SEED_POLICY, uid="bench")).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    async def route(path: str) -> list[float]:
        scope = _scope(path, len(body))
        samples = []
        clock = time.perf_counter_ns
        for _ in range(runs):
            started = clock()
            await app(dict(scope), receive, send)
            samples.append((clock() - started) / 1e3)
        return sorted(samples)

    async def all_routes() -> list[tuple[str, list[float]]]:
        await route("/validate")  # warm-up
        return [
            (f"app, seed policy: {path}", await route(path))
            for path in ("/bench/floor", "/validate", "/mutate")
        ]

    return asyncio.run(all_routes())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=20000)
    args = ap.parse_args()
    rows = [
        *measure("seed policy", SEED_POLICY, args.runs),
        *measure("heavier policy", HEAVY_POLICY, args.runs),
        *measure_app(args.runs),
    ]
    print(f"\nin-process, {args.runs:,} runs each, one thread (goal: seed review ≤ 50 µs median)\n")
    print("| decision | median (µs) | p99 (µs) |")
    print("|---|---:|---:|")
    for name, samples in rows:
        p99 = samples[min(len(samples) - 1, int(0.99 * len(samples)))]
        print(f"| {name} | {statistics.median(samples):.1f} | {p99:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
