"""Creates through a real kube-apiserver, with both mnp webhooks called and without them.

A real etcd and kube-apiserver (``KubeControlPlane``, as ``tests/e2e/conftest.py`` starts
them), config/'s CRDs, and ``mnp webhook`` reading NADs from that API server, registered with
config/'s webhook configurations (only ``clientConfig`` changed to a loopback URL, and one
namespace added to their ``NotIn`` list), and the same two registrations calling
``bench/floor_app.py`` (a canned ``allowed``: what any Python webhook costs) for a third
namespace. The creates rotate between the three namespaces on one kept-alive HTTPS
connection, so the series share the same moments, the same etcd size and the same client:
the differences are the webhooks' round trips (mutating, then validating).

    .venv/bin/python bench/bench_apiserver.py [--creates 1000]
"""

from __future__ import annotations

import argparse
import base64
import copy
import http.client
import json
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_webhook import FloorProcess
from bench.policies import SEED_NAD, SEED_POLICY
from mnp.admission import VALIDATING_WEBHOOK_NAME
from mnp_lab.kube import KubeControlPlane
from mnp_lab.kube_binaries import ensure_binaries
from tests.support.certs import CertificateAuthority
from tests.support.kubectl import apply_objects, rendered_config, wait_established
from tests.support.paths import CONFIG_DIR
from tests.support.webhook_process import WebhookProcess, client_context

HOOKED = "bench-hooked"  # both mnp webhooks are called
FLOORED = "bench-floor-hooked"  # the same two webhook registrations, calling the floor app
PLAIN = "bench-plain"  # no webhook is called
NAMESPACES = (PLAIN, FLOORED, HOOKED)
POLICIES = "/apis/k8s.cni.cncf.io/v1beta1/namespaces/{ns}/multi-networkpolicies"
NADS = "/apis/k8s.cni.cncf.io/v1/namespaces/{ns}/network-attachment-definitions"
READY_TIMEOUT_S = 60.0


class ApiClient:
    """One kept-alive HTTPS connection to the API server, as the admin user."""

    def __init__(self, plane: KubeControlPlane) -> None:
        ctx = ssl.create_default_context(cafile=str(plane.ca_file))
        pki = plane.dir / "pki"
        ctx.load_cert_chain(pki / "admin.crt", pki / "admin.key")
        self._conn = http.client.HTTPSConnection("127.0.0.1", plane.apiserver_port, context=ctx)

    def post(self, path: str, obj: dict[str, Any]) -> tuple[int, bytes]:
        body = json.dumps(obj).encode()
        self._conn.request("POST", path, body, {"Content-Type": "application/json"})
        answer = self._conn.getresponse()
        return answer.status, answer.read()

    def close(self) -> None:
        self._conn.close()


def _policy(namespace: str, index: int) -> dict[str, Any]:
    meta = {
        "name": f"p-{index:05d}",
        "namespace": namespace,
        "annotations": {"k8s.v1.cni.cncf.io/policy-for": "tenant-blue"},
    }
    return {**SEED_POLICY, "metadata": meta}


def _nad(namespace: str) -> dict[str, Any]:
    """The seed's NAD in ``namespace`` (its config names it as namespace/name)."""
    config = json.loads(SEED_NAD["spec"]["config"])
    config["netAttachDefName"] = f"{namespace}/tenant-blue"
    return {
        **SEED_NAD,
        "metadata": {"name": "tenant-blue", "namespace": namespace},
        "spec": {"config": json.dumps(config)},
    }


def _webhook_configs(
    plane: KubeControlPlane, mnp_url: str, floor_url: str, ca_pem: bytes
) -> list[Any]:
    """config/'s two configurations calling ``mnp webhook`` for HOOKED only, and copies of
    them calling the floor app (canned allowed) for FLOORED only."""
    mnp = [
        o
        for o in rendered_config(plane)
        if o["kind"] in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
    ]
    floors = copy.deepcopy(mnp)
    ca_bundle = base64.b64encode(ca_pem).decode()
    for config in mnp:
        for hook in config["webhooks"]:
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"{mnp_url}{path}", "caBundle": ca_bundle}
            for expression in hook["namespaceSelector"]["matchExpressions"]:
                expression["values"].extend([PLAIN, FLOORED])
    for config in floors:
        config["metadata"] = {"name": f"bench-floor-{config['metadata']['name']}"}
        for hook in config["webhooks"]:
            hook["name"] = f"floor.{hook['name']}"
            hook["clientConfig"] = {"url": f"{floor_url}/floor", "caBundle": ca_bundle}
            hook["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": FLOORED}}
    return floors + mnp


def _prepare(plane: KubeControlPlane) -> None:
    plane.kubectl("apply", "-f", str(CONFIG_DIR / "crd"))
    wait_established(
        plane,
        "network-attachment-definitions.k8s.cni.cncf.io",
        "multi-networkpolicies.k8s.cni.cncf.io",
    )
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in NAMESPACES
    ]
    nads = [_nad(ns) for ns in NAMESPACES]
    apply_objects(plane, *namespaces)
    apply_objects(plane, *nads)


def _wait_webhooks_called(client: ApiClient) -> None:
    """Registrations reach the API server asynchronously: dry-run a bad policy until ours
    denies it (a dry run stores nothing)."""
    bad = _policy(HOOKED, 0)
    bad["spec"] = {"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        status, body = client.post(POLICIES.format(ns=HOOKED) + "?dryRun=All", bad)
        if status == 403 and VALIDATING_WEBHOOK_NAME.encode() in body:
            # The floor's registrations were applied first, in the same apply.
            time.sleep(1.0)
            return
        time.sleep(0.2)
    raise SystemExit("the API server never called the webhook")


def _create_alternating(client: ApiClient, creates: int) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {ns: [] for ns in NAMESPACES}
    clock = time.perf_counter
    for i in range(creates):
        # Rotate which goes first, so none always follows another.
        order = NAMESPACES[i % 3 :] + NAMESPACES[: i % 3]
        for ns in order:
            started = clock()
            status, body = client.post(POLICIES.format(ns=ns), _policy(ns, i + 1))
            seconds[ns].append(clock() - started)
            if status != 201:
                raise SystemExit(f"create {i} in {ns}: HTTP {status}: {body[:500]!r}")
    return seconds


def _quantile_ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3


def _report(seconds: dict[str, list[float]], creates: int) -> None:
    print(
        f"\n{creates:,} MultiNetworkPolicy creates (the seed's policy) in each of three "
        "namespaces, interleaved, on one kept-alive HTTPS client; kube-apiserver, etcd and "
        "the webhooks on this machine (goal: both webhooks ≤ 1.15x without, at p50 and p99)\n"
    )
    print("| creates | p50 (ms) | p99 (ms) | mean (ms) | p50 vs none | p99 vs none |")
    print("|---|---:|---:|---:|---:|---:|")
    names = {
        PLAIN: "no webhook called (floor)",
        FLOORED: "two floor webhooks (canned allowed, bench/floor_app.py)",
        HOOKED: "both mnp webhooks",
    }
    base50 = _quantile_ms(seconds[PLAIN], 0.5)
    base99 = _quantile_ms(seconds[PLAIN], 0.99)
    for ns in NAMESPACES:
        s = seconds[ns]
        p50, p99 = _quantile_ms(s, 0.5), _quantile_ms(s, 0.99)
        print(
            f"| {names[ns]} | {p50:.2f} | {p99:.2f} | {statistics.mean(s) * 1e3:.2f} "
            f"| {p50 / base50:.2f}x | {p99 / base99:.2f}x |"
        )
    hooked, floored = seconds[HOOKED], seconds[FLOORED]
    print(
        f"\nmnp's webhooks vs the floor webhooks: p50 "
        f"{_quantile_ms(hooked, 0.5) / _quantile_ms(floored, 0.5):.2f}x, p99 "
        f"{_quantile_ms(hooked, 0.99) / _quantile_ms(floored, 0.99):.2f}x"
    )


def _report_webhook_side(metrics: str) -> None:
    """The webhook's own view (its latency histogram): body read to answer, per endpoint."""
    print("\nthe webhook's side of the hooked creates (`mnp_webhook_request_duration_seconds`):\n")
    print("| endpoint | requests | mean (ms) | connections cut |")
    print("|---|---:|---:|---:|")
    cut = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("mnp_webhook_connections_cut_total{")
    )
    for endpoint in ("/mutate", "/validate"):
        label = f'{{endpoint="{endpoint}"}}'
        total = count = 0.0
        for line in metrics.splitlines():
            if line.startswith(f"mnp_webhook_request_duration_seconds_sum{label}"):
                total = float(line.rsplit(" ", 1)[1])
            if line.startswith(f"mnp_webhook_request_duration_seconds_count{label}"):
                count = float(line.rsplit(" ", 1)[1])
        mean = total / count * 1e3 if count else float("nan")
        print(f"| {endpoint} | {count:,.0f} | {mean:.2f} | {cut:.0f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--creates", type=int, default=1000)
    args = ap.parse_args()
    binaries = ensure_binaries(progress=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="mnp-bench-apiserver-") as tmp_name:
        tmp = Path(tmp_name)
        plane = KubeControlPlane(tmp / "kube", binaries).start()
        webhook: WebhookProcess | None = None
        floor: FloorProcess | None = None
        client: ApiClient | None = None
        try:
            _prepare(plane)
            ca = CertificateAuthority("mnp bench webhook CA")
            ca.issue_server(["127.0.0.1", "localhost"]).write(tmp / "certs")
            webhook = WebhookProcess(
                [
                    f"--kubeconfig={plane.kubeconfig}",
                    *("--cert-dir", str(tmp / "certs"), "--log-level", "warning"),
                ],
                tmp / "webhook.log",
            )
            floor = FloorProcess(tmp / "certs", tmp / "floor.log")
            webhook.wait_ready(client_context(ca.cert_pem))
            floor.wait_ready(ca.cert_pem)
            mnp_url = f"https://127.0.0.1:{webhook.port}"
            floor_url = f"https://127.0.0.1:{floor.port}"
            apply_objects(plane, *_webhook_configs(plane, mnp_url, floor_url, ca.cert_pem))
            client = ApiClient(plane)
            _wait_webhooks_called(client)
            seconds = _create_alternating(client, args.creates)
            metrics = httpx.get(
                f"{webhook.url}/metrics", verify=client_context(ca.cert_pem), timeout=10
            ).text
        finally:
            if client is not None:
                client.close()
            if webhook is not None:
                webhook.stop()
            if floor is not None:
                floor.stop()
            plane.stop()
    _report(seconds, args.creates)
    _report_webhook_side(metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
