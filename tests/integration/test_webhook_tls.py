"""TLS of the real webhook process: rotation under load, kubelet symlink swap, bad pairs,
SNI and no SNI, client certificates."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from mnp_lab.processes import free_port
from tests.support.certs import CertificateAuthority, Issued
from tests.support.webhook_process import (
    SNAPSHOT_YAML,
    WebhookProcess,
    admission_review,
    client_context,
)

pytestmark = pytest.mark.timeout(120)

POLICY = {
    "apiVersion": "k8s.cni.cncf.io/v1beta1",
    "kind": "MultiNetworkPolicy",
    "metadata": {
        "name": "p",
        "namespace": "default",
        "annotations": {"k8s.v1.cni.cncf.io/policy-for": "default/tenant-blue"},
    },
    "spec": {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]},
}


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def peer_serial(port: int, ctx: ssl.SSLContext, server_hostname: str) -> int:
    """Serial of the certificate a NEW handshake gets (server_hostname an IP: no SNI sent)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def wait_for_serial(port: int, ctx: ssl.SSLContext, serial: int, proc: WebhookProcess) -> None:
    for _ in range(300):
        if peer_serial(port, ctx, "localhost") == serial:
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"certificate serial {serial:x} never served:\n{proc.log()}")


def metric(proc: WebhookProcess, ctx: ssl.SSLContext, name: str) -> float:
    text = httpx.get(f"{proc.url}/metrics", verify=ctx, timeout=5).text
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m, f"{name} not in /metrics:\n{text}"
    return float(m.group(1))


def wait_for_metric(proc: WebhookProcess, ctx: ssl.SSLContext, name: str, at_least: float) -> None:
    for _ in range(300):
        if metric(proc, ctx, name) >= at_least:
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"{name} never reached {at_least}:\n{proc.log()}")


class KeepAlive:
    """One HTTP/1.1 connection held open across the rotation, spoken by hand."""

    def __init__(self, port: int, ctx: ssl.SSLContext) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.file = self.sock.makefile("rb")

    def serial(self) -> int:
        der = self.sock.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der).serial_number

    def post(self, path: str, doc: object) -> tuple[int, dict[str, object]]:
        body = json.dumps(doc).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.sock.sendall(head + body)
        status = int(self.file.readline().split()[1])
        length = 0
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, json.loads(self.file.read(length))

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    path = tmp_path / "snapshot.yaml"
    path.write_text(SNAPSHOT_YAML)
    return path


@pytest.fixture
def start(tmp_path: Path, snapshot: Path) -> Iterator[Callable[..., WebhookProcess]]:
    started: list[WebhookProcess] = []

    def run(*args: str) -> WebhookProcess:
        proc = WebhookProcess(
            ["--snapshot", str(snapshot), "--cert-poll-interval", "0.2", *args],
            tmp_path / f"webhook-{len(started)}.log",
        )
        started.append(proc)
        return proc

    yield run
    for proc in started:
        proc.stop()


def test_rotation_under_load_drops_nothing(
    tmp_path: Path, ca: CertificateAuthority, start: Callable[..., WebhookProcess]
) -> None:
    first, second = ca.issue_server(), ca.issue_server()
    first.write(tmp_path / "certs")
    ctx = client_context(ca.cert_pem)
    proc = start(
        "--cert-file",
        str(tmp_path / "certs/tls.crt"),
        "--key-file",
        str(tmp_path / "certs/tls.key"),
    )
    proc.wait_ready(ctx)
    assert peer_serial(proc.port, ctx, "localhost") == first.serial
    held = KeepAlive(proc.port, ctx)
    status, reply = held.post("/validate", admission_review(POLICY, uid="held-1"))
    assert (status, reply["response"]["uid"]) == (200, "held-1")  # type: ignore[index]

    stop = threading.Event()
    failures: list[str] = []
    answered = [0]

    def hammer() -> None:
        # A new connection (and handshake) for every request.
        while not stop.is_set():
            try:
                with httpx.Client(verify=ctx, timeout=10) as c:
                    r = c.post(f"{proc.url}/validate", json=admission_review(POLICY))
                if r.status_code != 200 or "response" not in r.json():
                    failures.append(f"{r.status_code} {r.text}")
                answered[0] += 1
            except Exception as e:
                failures.append(repr(e))

    workers = [threading.Thread(target=hammer) for _ in range(2)]
    for w in workers:
        w.start()
    threading.Event().wait(0.5)
    # Rotate the way a naive writer does: cert, then key (a mismatched pair in between).
    _write_atomic(tmp_path / "certs/tls.crt", second.cert_pem)
    _write_atomic(tmp_path / "certs/tls.key", second.key_pem)
    wait_for_serial(proc.port, ctx, second.serial, proc)
    count_at_swap = answered[0]
    while answered[0] < count_at_swap + 20 and not failures:
        threading.Event().wait(0.05)
    stop.set()
    for w in workers:
        w.join()

    assert failures == []
    assert answered[0] >= count_at_swap + 20
    # No SNI (an IP as server_hostname) gets the new certificate as well.
    no_sni = client_context(ca.cert_pem)
    no_sni.check_hostname = False
    assert peer_serial(proc.port, no_sni, "127.0.0.1") == second.serial
    # The connection opened before the rotation still works, on its original certificate.
    status, reply = held.post("/validate", admission_review(POLICY, uid="held-2"))
    assert (status, reply["response"]["uid"]) == (200, "held-2")  # type: ignore[index]
    assert held.serial() == first.serial
    held.close()
    assert metric(proc, ctx, "mnp_webhook_certificate_reloads_total") == 1.0


def _kubelet_dir(root: Path, stamp: str, pair: Issued) -> None:
    """The kubelet's atomic writer: a timestamped dir, ``..data`` -> it, files via ``..data``."""
    pair.write(root / stamp)
    tmp_link = root / "..data_tmp"
    tmp_link.symlink_to(stamp)
    os.replace(tmp_link, root / "..data")
    for name in ("tls.crt", "tls.key"):
        if not (root / name).is_symlink():
            (root / name).symlink_to(f"..data/{name}")


def test_kubelet_symlink_swap_is_picked_up(
    tmp_path: Path, ca: CertificateAuthority, start: Callable[..., WebhookProcess]
) -> None:
    root = tmp_path / "secret"
    root.mkdir()
    first, second = ca.issue_server(), ca.issue_server()
    _kubelet_dir(root, "..2025_01_01_00_00_00.1", first)
    ctx = client_context(ca.cert_pem)
    proc = start("--cert-dir", str(root))
    proc.wait_ready(ctx)
    assert peer_serial(proc.port, ctx, "localhost") == first.serial
    _kubelet_dir(root, "..2025_01_02_00_00_00.2", second)
    wait_for_serial(proc.port, ctx, second.serial, proc)
    assert metric(proc, ctx, "mnp_webhook_certificate_reload_failures_total") == 0.0


def test_half_written_pairs_are_not_loaded(
    tmp_path: Path, ca: CertificateAuthority, start: Callable[..., WebhookProcess]
) -> None:
    first, second = ca.issue_server(), ca.issue_server()
    first.write(tmp_path / "certs")
    ctx = client_context(ca.cert_pem)
    proc = start("--cert-dir", str(tmp_path / "certs"))
    proc.wait_ready(ctx)
    # New certificate, old key: they do not match.
    _write_atomic(tmp_path / "certs/tls.crt", second.cert_pem)
    wait_for_metric(proc, ctx, "mnp_webhook_certificate_reload_failures_total", 1)
    assert peer_serial(proc.port, ctx, "localhost") == first.serial
    # Matching key, truncated certificate.
    _write_atomic(tmp_path / "certs/tls.crt", second.cert_pem[: len(second.cert_pem) // 2])
    _write_atomic(tmp_path / "certs/tls.key", second.key_pem)
    wait_for_metric(proc, ctx, "mnp_webhook_certificate_reload_failures_total", 2)
    assert peer_serial(proc.port, ctx, "localhost") == first.serial
    r = httpx.get(f"{proc.url}/readyz", verify=ctx, timeout=5)
    assert r.status_code == 200
    # The whole certificate arrives: now it is served.
    _write_atomic(tmp_path / "certs/tls.crt", second.cert_pem)
    wait_for_serial(proc.port, ctx, second.serial, proc)
    assert "not loading certificate" in proc.log()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_tls_below_1_2_is_refused(
    tmp_path: Path, ca: CertificateAuthority, start: Callable[..., WebhookProcess]
) -> None:
    ca.issue_server().write(tmp_path / "certs")
    ctx = client_context(ca.cert_pem)
    proc = start("--cert-dir", str(tmp_path / "certs"))
    proc.wait_ready(ctx)
    old = client_context(ca.cert_pem)
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError):
        peer_serial(proc.port, old, "localhost")
    tls12 = client_context(ca.cert_pem)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    assert peer_serial(proc.port, tls12, "localhost") > 0


def test_client_certificates_are_enforced(
    tmp_path: Path, ca: CertificateAuthority, start: Callable[..., WebhookProcess]
) -> None:
    ca.issue_server().write(tmp_path / "certs")
    client_ca = CertificateAuthority("apiserver client CA")
    other_ca = CertificateAuthority("someone else")
    client_ca.write(tmp_path / "client-ca.crt")
    client_ca.issue_client().write(tmp_path / "good", "client.crt", "client.key")
    other_ca.issue_client().write(tmp_path / "bad", "client.crt", "client.key")
    health_port = free_port()
    proc = start(
        "--cert-dir",
        str(tmp_path / "certs"),
        "--client-ca-file",
        str(tmp_path / "client-ca.crt"),
        "--health-port",
        str(health_port),
    )
    good = client_context(ca.cert_pem, (tmp_path / "good/client.crt", tmp_path / "good/client.key"))
    bad = client_context(ca.cert_pem, (tmp_path / "bad/client.crt", tmp_path / "bad/client.key"))
    anonymous = client_context(ca.cert_pem)
    proc.wait_ready(good)
    r = httpx.post(f"{proc.url}/validate", json=admission_review(POLICY, uid="u1"), verify=good)
    assert r.status_code == 200 and r.json()["response"]["uid"] == "u1"
    for ctx in (anonymous, bad):
        # TLS 1.3 reports the server's rejection of the client certificate on first read.
        with pytest.raises(httpx.HTTPError):
            httpx.post(f"{proc.url}/validate", json=admission_review(POLICY), verify=ctx)
    # With TLS 1.2 the handshake itself fails (1.3 defers the verdict to the first read).
    for ctx in (anonymous, bad):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            peer_serial(proc.port, ctx, "localhost")
    good.maximum_version = ssl.TLSVersion.TLSv1_2
    assert peer_serial(proc.port, good, "localhost") > 0
    # The kubelet's probes carry no client certificate: they use the plain --health-port,
    # which serves the probes and metrics but never the admission endpoints.
    plain = f"http://127.0.0.1:{health_port}"
    assert httpx.get(f"{plain}/readyz").json() == {"status": "ready"}
    assert "mnp_webhook" in httpx.get(f"{plain}/metrics").text
    assert httpx.post(f"{plain}/validate", json=admission_review(POLICY)).status_code == 404
