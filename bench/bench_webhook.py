"""Webhook throughput (wrk) and open-loop p99 over real TLS, against floors in the same run.

Two floors, both TLS on one worker with uvloop and httptools, both parsing the AdmissionReview
and answering a canned ``allowed: true``:

- the webhook's own ``/bench/floor`` (``mnp webhook --bench-floor``: same server stack);
- a separate minimal FastAPI app on plain ``uvicorn[standard]`` (``bench/floor_app.py``).

Ratios use the stricter floor (the one with more requests/s, or the lower p99) and say which.
Cases: /validate and /mutate with the seed's policy (``examples/seed/tenant-blue.yaml``),
/validate with a heavier policy and a denied one, /mutate adding defaults. Then the p99 at a
fixed 1,000 requests/s (``bench/open_loop.py``).

    .venv/bin/python bench/bench_webhook.py [--seconds 5] [--rounds 3] [--connections 8] [--short]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# Run as a script from anywhere: the test helpers (certificates, process runner) live in tests/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.floor_app import __file__ as FLOOR_APP
from bench.open_loop import OpenLoopResult, run_open_loop
from bench.policies import HEAVY_POLICY, SEED_POLICY, denied_policy, policy_to_default
from mnp_lab.processes import free_port
from tests.support.certs import CertificateAuthority
from tests.support.webhook_process import (
    SNAPSHOT_YAML,
    WebhookProcess,
    admission_review,
    client_context,
)

OWN_FLOOR = "floor: webhook's /bench/floor"
FASTAPI_FLOOR = "floor: minimal FastAPI app"
# (name, which server, path, object)
CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    (OWN_FLOOR, "webhook", "/bench/floor", SEED_POLICY),
    (FASTAPI_FLOOR, "fastapi", "/floor", SEED_POLICY),
    ("/validate, seed policy", "webhook", "/validate", SEED_POLICY),
    ("/mutate, seed policy", "webhook", "/mutate", SEED_POLICY),
    ("/validate, heavier policy", "webhook", "/validate", HEAVY_POLICY),
    ("/validate, denied policy", "webhook", "/validate", denied_policy()),
    ("/mutate, defaults added", "webhook", "/mutate", policy_to_default()),
]
OPEN_LOOP_CASES = [CASES[0], CASES[1], CASES[2], CASES[3], CASES[4]]
OPEN_LOOP_RATE = 1000.0

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


@dataclass(frozen=True)
class Result:
    name: str
    rps: float
    p99_ms: float
    errors: int


def _lua(body: bytes) -> str:
    text = body.decode()
    assert "]==]" not in text
    return (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [==[{text}]==]\n"
    )


def run_wrk(wrk: str, url: str, body: bytes, seconds: int, connections: int, tmp: Path) -> str:
    script = tmp / "post.lua"
    script.write_text(_lua(body))
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    return subprocess.run(
        cmd, check=True, capture_output=True, text=True, timeout=seconds + 30
    ).stdout


def parse_wrk(name: str, out: str) -> Result:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if rps is None or p99 is None:
        raise SystemExit(f"cannot read wrk output for {name}:\n{out}")
    errors = 0
    for m in re.finditer(r"(?:connect|read|write|timeout) (\d+)", out):
        errors += int(m.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    return Result(
        name, float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)] * 1e3, errors
    )


class FloorProcess:
    """``bench/floor_app.py`` on a free port, ready once its /readyz answers."""

    def __init__(self, certs: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"https://localhost:{self.port}"
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                FLOOR_APP,
                "--port",
                str(self.port),
                "--cert-file",
                str(certs / "tls.crt"),
                "--key-file",
                str(certs / "tls.key"),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, ca_pem: bytes) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the floor app exited with {self.proc.returncode}")
            try:
                ctx = client_context(ca_pem)
                if httpx.get(f"{self.url}/readyz", verify=ctx).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit("the floor app never got ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _body(obj: dict[str, Any]) -> bytes:
    return json.dumps(admission_review(obj, uid="bench")).encode()


def _stricter_floor(results: list[Result]) -> tuple[Result, Result]:
    """The floor with more requests/s, and the one with the lower p99 (maybe the other)."""
    own, fastapi = results[0], results[1]
    return max(own, fastapi, key=lambda r: r.rps), min(own, fastapi, key=lambda r: r.p99_ms)


def _table(rounds: list[list[Result]], connections: int, seconds: int) -> None:
    """Each figure is the median over rounds; each ratio is taken to the stricter floor of
    its own round first, so a neighbour's load that comes and goes moves both sides."""
    print(
        f"\nthroughput over TLS, wrk -t1 -c{connections} -d{seconds}s, one worker, "
        f"{len(rounds)} rounds of every case (goal ≥ 0.8x)\n"
    )
    floors = [_stricter_floor(r) for r in rounds]
    names = [f[0].name.removeprefix("floor: ") for f in floors]
    print(f"stricter floor by req/s in each round: {', '.join(names)}\n")
    print("| case | req/s | p99 (ms) | req/s vs floor | p99 vs floor | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for i, name in enumerate(r.name for r in rounds[0]):
        runs = [r[i] for r in rounds]
        rps_ratio = statistics.median(
            r[i].rps / f[0].rps for r, f in zip(rounds, floors, strict=True)
        )
        p99_ratio = statistics.median(
            r[i].p99_ms / f[1].p99_ms for r, f in zip(rounds, floors, strict=True)
        )
        print(
            f"| {name} | {statistics.median(r.rps for r in runs):,.0f} "
            f"| {statistics.median(r.p99_ms for r in runs):.2f} | {rps_ratio:.2f}x "
            f"| {p99_ratio:.2f}x | {sum(r.errors for r in runs)} |"
        )


def _open_loop_table(rows: list[tuple[str, OpenLoopResult]], seconds: float) -> None:
    floor_p99 = min(rows[0][1].percentile_ms(99), rows[1][1].percentile_ms(99))
    print(
        f"\nlatency at a fixed {OPEN_LOOP_RATE:,.0f} requests/s for {seconds:g} s, open loop "
        "(`bench/open_loop.py`, 8 kept-alive TLS connections, latency from each request's "
        "due time; goal p99 ≤ 2 ms)\n"
    )
    print("| case | p50 (ms) | p99 (ms) | max (ms) | p99 vs floor | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(
            f"| {name} | {r.percentile_ms(50):.2f} | {r.percentile_ms(99):.2f} "
            f"| {r.percentile_ms(100):.2f} | {r.percentile_ms(99) / floor_p99:.2f}x "
            f"| {r.errors} |"
        )


def _measure(
    urls: dict[str, str], ca_pem: bytes, args: argparse.Namespace, tmp: Path
) -> tuple[list[list[Result]], list[tuple[str, OpenLoopResult]]]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench_webhook: wrk is not installed (Debian package wrk)")
    rounds = []
    for _ in range(args.rounds):
        results = []
        for name, server, path, obj in CASES:
            out = run_wrk(wrk, urls[server] + path, _body(obj), args.seconds, args.connections, tmp)
            results.append(parse_wrk(name, out))
        rounds.append(results)
    open_loop = []
    for name, server, path, obj in OPEN_LOOP_CASES:
        result = run_open_loop(
            urls[server] + path,
            _body(obj),
            client_context(ca_pem),
            rate=OPEN_LOOP_RATE,
            seconds=args.seconds,
        )
        open_loop.append((name, result))
    return rounds, open_loop


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--short", action="store_true", help="3 rounds of 2 s per case")
    args = ap.parse_args()
    if args.short:
        args.seconds, args.rounds = 2, 3
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mnp-bench-webhook-") as tmp_name:
        tmp = Path(tmp_name)
        ca = CertificateAuthority()
        ca.issue_server().write(tmp / "certs")
        (tmp / "snapshot.yaml").write_text(SNAPSHOT_YAML)
        webhook = WebhookProcess(
            [
                *("--snapshot", str(tmp / "snapshot.yaml"), "--cert-dir", str(tmp / "certs")),
                *("--bench-floor", "--log-level", "warning"),
            ],
            tmp / "webhook.log",
        )
        floor = FloorProcess(tmp / "certs", tmp / "floor.log")
        try:
            webhook.wait_ready(client_context(ca.cert_pem))
            floor.wait_ready(ca.cert_pem)
            urls = {"webhook": webhook.url, "fastapi": floor.url}
            rounds, open_loop = _measure(urls, ca.cert_pem, args, tmp)
        finally:
            webhook.stop()
            floor.stop()
    print(
        f"\nload average (1 min) of this shared machine: {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs"
    )
    _table(rounds, args.connections, args.seconds)
    _open_loop_table(open_loop, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
