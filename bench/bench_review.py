"""In-process cost of one admission decision, without HTTP: median and p99 over many runs.

Two figures per policy: ``review`` alone (the core's decision for /validate, the goal is at
most 50 µs median for the seed's policy) and the webhook's whole decision as its route runs
it without the network: JSON parse and envelope checks, the review, the answer's JSON.

    .venv/bin/python bench/bench_review.py [--runs 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.policies import HEAVY_POLICY, SEED_NAD, SEED_POLICY
from mnp import admission
from mnp.model import NadKey
from tests.support.webhook_process import admission_review
from webhook.admission_http import parse_review, review_response

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=20000)
    args = ap.parse_args()
    rows = [
        *measure("seed policy", SEED_POLICY, args.runs),
        *measure("heavier policy", HEAVY_POLICY, args.runs),
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
