"""Webhook throughput and p99 over real TLS with wrk, against a floor in the same app.

Starts ``mnp webhook --bench-floor`` (snapshot source, test certificates) and runs wrk for
(a) /bench/floor: parse the AdmissionReview, answer a canned allowed;
(b) /validate with a valid policy; (c) /validate with a denied one; (d) /mutate with defaults
to add. Prints a markdown table with each case's ratio to the floor.

    .venv/bin/python bench/bench_webhook.py [--seconds 5] [--connections 8]
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as a script from anywhere: the test helpers (certificates, process runner) live in tests/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.certs import CertificateAuthority
from tests.support.webhook_process import (
    SNAPSHOT_YAML,
    WebhookProcess,
    admission_review,
    client_context,
)

VALID = {
    "apiVersion": "k8s.cni.cncf.io/v1beta1",
    "kind": "MultiNetworkPolicy",
    "metadata": {
        "name": "allow-web",
        "namespace": "default",
        "annotations": {"k8s.v1.cni.cncf.io/policy-for": "default/tenant-blue"},
    },
    "spec": {
        "podSelector": {"matchLabels": {"app": "web"}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [
                    {"namespaceSelector": {"matchLabels": {"role": "trusted"}}},
                    {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]}},
                ],
                "ports": [{"protocol": "TCP", "port": 80, "endPort": 90}],
            }
        ],
        "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}],
    },
}


def _denied() -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(VALID)
    obj["spec"]["ingress"][0]["ports"] = [{"protocol": "ICMP", "port": 70000}]
    return obj


def _to_default() -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(VALID)
    del obj["spec"]["policyTypes"]
    del obj["spec"]["ingress"][0]["ports"][0]["protocol"]
    return obj


CASES = [
    ("floor (canned allowed)", "/bench/floor", VALID),
    ("/validate, valid policy", "/validate", VALID),
    ("/validate, denied policy", "/validate", _denied()),
    ("/mutate, defaults added", "/mutate", _to_default()),
]

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("bench_webhook: wrk is not installed (Debian package wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mnp-bench-webhook-") as tmp_name:
        tmp = Path(tmp_name)
        ca = CertificateAuthority()
        ca.issue_server().write(tmp / "certs")
        (tmp / "snapshot.yaml").write_text(SNAPSHOT_YAML)
        proc = WebhookProcess(
            [
                "--snapshot",
                str(tmp / "snapshot.yaml"),
                "--cert-dir",
                str(tmp / "certs"),
                "--bench-floor",
                "--log-level",
                "warning",
            ],
            tmp / "webhook.log",
        )
        try:
            proc.wait_ready(client_context(ca.cert_pem))
            results = []
            for name, path, obj in CASES:
                body = json.dumps(admission_review(obj, uid="bench")).encode()
                out = run_wrk(wrk, proc.url + path, body, args.seconds, args.connections, tmp)
                results.append(parse_wrk(name, out))
        finally:
            proc.stop()
    floor = results[0]
    print(f"\nwebhook over TLS, wrk -t1 -c{args.connections} -d{args.seconds}s, one worker\n")
    print("| case | req/s | p99 (ms) | req/s vs floor | p99 vs floor | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.name} | {r.rps:,.0f} | {r.p99_ms:.2f} | {r.rps / floor.rps:.2f}x "
            f"| {r.p99_ms / floor.p99_ms:.2f}x | {r.errors} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
