"""Start ``mnp webhook`` as a real process over real TLS, for the webhook's tests and bench."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from mnp_lab.processes import free_port
from tests.support.paths import REPO_ROOT

REPO = Path(__file__).resolve().parent.parent

NAD_CONFIG = {
    "cniVersion": "0.4.0",
    "name": "tenant-blue-net",
    "netAttachDefName": "default/tenant-blue",
    "topology": "layer2",
    "type": "ovn-k8s-cni-overlay",
    "subnets": "192.168.100.0/24",
}

SNAPSHOT_YAML = f"""\
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: tenant-blue
  namespace: default
spec:
  config: '{json.dumps(NAD_CONFIG)}'
---
apiVersion: k8s.cni.cncf.io/v1beta1
kind: MultiNetworkPolicy
metadata:
  name: allow-ports-same-ns
  namespace: default
  annotations:
    k8s.v1.cni.cncf.io/policy-for: default/tenant-blue
spec:
  podSelector:
    matchLabels:
      app: stuff-doer
  ingress:
  - ports:
    - port: 9000
      protocol: TCP
    from:
    - namespaceSelector:
        matchLabels:
          role: trusted
  policyTypes:
  - Ingress
"""


def webhook_command() -> list[str]:
    """``mnp webhook``, through the same interpreter as the tests."""
    return [sys.executable, "-m", "mnp", "webhook"]


def client_context(ca_pem: bytes, client_pair: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    if client_pair is not None:
        ctx.load_cert_chain(str(client_pair[0]), str(client_pair[1]))
    return ctx


class WebhookProcess:
    """``mnp webhook`` on a free port; stopped (and its log kept) by ``stop``."""

    def __init__(self, args: Sequence[str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"https://localhost:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [*webhook_command(), *args, "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, ctx: ssl.SSLContext, deadline_s: float = 30.0) -> None:
        """Poll /readyz until 200; fails with the process log when it dies or never gets ready."""
        end = time.monotonic() + deadline_s
        last = ""
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"webhook exited with {self.proc.returncode} before ready:\n{self.log()}"
                )
            try:
                r = httpx.get(f"{self.url}/readyz", verify=ctx, timeout=2)
                if r.status_code == 200:
                    return
                last = f"{r.status_code} {r.text}"
            except httpx.HTTPError as e:
                last = repr(e)
            time.sleep(0.1)
        raise AssertionError(f"webhook not ready: {last}\n{self.log()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def admission_review(
    obj: Any,
    *,
    operation: str = "CREATE",
    kind: str = "MultiNetworkPolicy",
    old: Any = None,
    uid: str | None = None,
) -> dict[str, Any]:
    group = "k8s.cni.cncf.io"
    version = "v1" if kind == "NetworkAttachmentDefinition" else "v1beta1"
    meta = obj.get("metadata", {}) if isinstance(obj, dict) else {}
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name")  # the API server always sends request.name as a string
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid or str(uuid.uuid4()),
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": kind.lower() + "s"},
            "namespace": "default",
            "name": name if isinstance(name, str) else "",
            "operation": operation,
            "userInfo": {"username": "test"},
            "object": obj,
            "oldObject": old,
            "dryRun": False,
        },
    }


# --- raw clients for the hostile-client and shutdown tests ------------------------------


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def open_tls(port: int, ctx: ssl.SSLContext, timeout: float = 30.0) -> ssl.SSLSocket:
    """A TLS connection to the webhook, handshake done, nothing sent."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def post_head(path: str, content_length: int, *, close: bool = False) -> bytes:
    """An HTTP/1.1 POST head as the API server sends it (its body follows separately)."""
    lines = [
        f"POST {path}?timeout=10s HTTP/1.1",
        "Host: localhost",
        "Content-Type: application/json",
        "Accept: application/json",
        f"Content-Length: {content_length}",
    ]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def closed_by_peer(sock: ssl.SSLSocket) -> bool:
    """Whether the other end closed or reset the connection (reads whatever is pending)."""
    sock.setblocking(False)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        return False
    except (OSError, ssl.SSLError):
        return True
    finally:
        sock.setblocking(True)


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus text-format sample over the series matching ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        head, _, label_text = series.partition("{")
        if head != name:
            continue
        found = dict(
            (k, v.strip('"'))
            for k, v in (p.split("=", 1) for p in label_text.rstrip("}").split(",") if p)
        )
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


def snapshot_webhook(tmp: Path, *extra: str) -> tuple[WebhookProcess, ssl.SSLContext]:
    """``mnp webhook`` on ``SNAPSHOT_YAML`` with a fresh CA's serving certificate (in
    ``tmp``), and a client context trusting it; not waited for (``wait_ready``)."""
    from tests.support.certs import CertificateAuthority

    ca = CertificateAuthority()
    ca.issue_server().write(tmp / "certs")
    (tmp / "snapshot.yaml").write_text(SNAPSHOT_YAML)
    proc = WebhookProcess(
        ["--snapshot", str(tmp / "snapshot.yaml"), "--cert-dir", str(tmp / "certs"), *extra],
        tmp / "webhook.log",
    )
    return proc, client_context(ca.cert_pem)


def allow_all_policy(name: str) -> dict[str, object]:
    """An admissible policy for ``SNAPSHOT_YAML``'s tenant-blue NAD: ingress from anywhere."""
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": "default/tenant-blue"},
        },
        "spec": {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]},
    }
