"""A legal but large policy (about 2 MB: tens of thousands of ports) costs seconds of
CPU to review. The real webhook must keep answering small reviews meanwhile: the large one
is decided off the event loop, so the API server's other calls keep flowing.

Asserted by counts, not timings: small reviews answered while the large one is in flight.
"""

from __future__ import annotations

import json
import ssl
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.certs import CertificateAuthority
from tests.support.webhook_process import (
    SNAPSHOT_YAML,
    WebhookProcess,
    admission_review,
    client_context,
    open_tls,
    post_head,
)

pytestmark = pytest.mark.timeout(300)

LARGE_PORTS = 100_000  # about 1.7 MB of JSON; seconds of CPU on these machines
# A blocked event loop answers a handful (measured: 4, those sent while the large body was
# read and parsed); a free one answers dozens (measured: about 40 on a loaded 2-core machine).
SMALL_DURING_LARGE = 20


def policy(name: str, ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    ingress: dict[str, Any] = {"ports": ports} if ports else {}
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": "default/tenant-blue"},
        },
        "spec": {"podSelector": {}, "ingress": [ingress]},
    }


def read_response(sock: ssl.SSLSocket) -> dict[str, Any]:
    """The JSON body of one HTTP/1.1 response, read to its Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1 << 16)
        assert chunk, f"connection closed before an answer: {data[:200]!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    [length] = [
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    ]
    chunks = [body]
    received = len(body)
    while received < length:
        chunk = sock.recv(1 << 16)
        assert chunk, f"connection closed after {received} of {length} bytes"
        chunks.append(chunk)
        received += len(chunk)
    body = b"".join(chunks)
    answer: dict[str, Any] = json.loads(body)
    return answer


@pytest.mark.parametrize("endpoint", ["/mutate", "/validate"])
def test_small_reviews_are_answered_while_a_large_one_is_decided(
    tmp_path: Path, endpoint: str
) -> None:
    ca = CertificateAuthority()
    ca.issue_server().write(tmp_path / "certs")
    (tmp_path / "snapshot.yaml").write_text(SNAPSHOT_YAML)
    proc = WebhookProcess(
        ["--snapshot", str(tmp_path / "snapshot.yaml"), "--cert-dir", str(tmp_path / "certs")],
        tmp_path / "webhook.log",
    )
    ctx = client_context(ca.cert_pem)
    proc.wait_ready(ctx)
    try:
        # With protocols given the answer is small too (no patch), so the count below is of
        # small reviews answered while the large one was *decided*, not while it was sent.
        ports = [{"port": 1 + i % 65535, "protocol": "TCP"} for i in range(LARGE_PORTS)]
        large = json.dumps(admission_review(policy("large", ports))).encode()
        small = json.dumps(admission_review(policy("small"))).encode()
        assert len(large) > 1_500_000  # well under the API server's 3 MiB

        large_done = threading.Event()
        large_answer: list[dict[str, Any]] = []
        sock = open_tls(proc.port, ctx, timeout=120)

        failures: list[BaseException] = []

        def read_large() -> None:
            try:
                large_answer.append(read_response(sock))
            except BaseException as e:  # reported below, not lost in the thread
                failures.append(e)
            finally:
                large_done.set()

        with httpx.Client(verify=ctx, timeout=60) as client:
            assert client.post(f"{proc.url}{endpoint}", content=small).status_code == 200
            # sendall returns once the webhook has taken in (nearly) the whole body: from
            # here a blocked event loop would answer no small review until the large one.
            sock.sendall(post_head(endpoint, len(large), close=True) + large)
            reader = threading.Thread(target=read_large)
            reader.start()
            answered_during = answered = 0
            while not large_done.is_set() and answered < 2_000:
                reply = client.post(f"{proc.url}{endpoint}", content=small)
                assert reply.status_code == 200
                assert reply.json()["response"]["allowed"] is True
                answered += 1
                if not large_done.is_set():
                    answered_during += 1
            reader.join(timeout=120)
        sock.close()

        assert not failures, f"the large review's answer: {failures[0]!r}"
        [answer] = large_answer
        review = answer["response"]
        assert review["allowed"] is True
        if endpoint == "/mutate":
            assert review["patchType"] == "JSONPatch"  # policyTypes defaulted
        assert answered_during >= SMALL_DURING_LARGE, (
            f"only {answered_during} small reviews answered while the large one was decided"
        )
        assert "Traceback" not in proc.log()
    finally:
        proc.stop()
