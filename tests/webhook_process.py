"""Start ``mnp webhook`` as a real process over real TLS, for the webhook's tests and bench."""

from __future__ import annotations

import json
import os
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
            cwd=REPO,
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
