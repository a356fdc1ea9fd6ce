"""Run mnp's processes as their own ServiceAccounts in e2e, and catch a 403 they logged.

A process given the admin kubeconfig passes its tests whatever config/'s RBAC says; given a
token of its ServiceAccount (bound by the shipped RBAC only), a permission the role lacks
makes the test fail, and ``assert_no_forbidden`` keeps a retried 403 from hiding.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from mnp_lab.kube import KubeControlPlane
from tests.support.paths import CONFIG_DIR

SYSTEM_NAMESPACE = "mnp-system"
WEBHOOK_SA = "mnp-webhook"
ENFORCER_SA = "mnp-enforcer"
WEBHOOK_RBAC = CONFIG_DIR / "webhook" / "rbac.yaml"
ENFORCER_RBAC = CONFIG_DIR / "enforcer" / "rbac.yaml"
_TOKEN_DURATION = "2h"  # longer than any e2e module runs

# How the API server's RBAC denial reaches a log: kubewatch's "HTTP 403 Forbidden: ...",
# an ApiException's "(403)\nReason: Forbidden", and the Status message itself
# ('pods is forbidden: User "system:serviceaccount:..." cannot list resource ...').
# Not a bare "Forbidden": that is also a field error type in the webhook's denials.
_FORBIDDEN = re.compile(r"HTTP 403\b|\(403\)|Reason: Forbidden|\bis forbidden: User\b")


def service_account_user(namespace: str, name: str) -> str:
    """The user name the API server authenticates a ServiceAccount token as."""
    return f"system:serviceaccount:{namespace}:{name}"


def _ensure_namespace(kube: KubeControlPlane, namespace: str) -> None:
    """An existing namespace is left as it is; a missing one is created from
    config/namespace.yaml when that is the one (with its labels), else bare."""
    if kube.kubectl("get", "namespace", namespace, check=False).returncode == 0:
        return
    shipped = yaml.safe_load((CONFIG_DIR / "namespace.yaml").read_text())
    if shipped["metadata"]["name"] == namespace:
        kube.kubectl("apply", "-f", str(CONFIG_DIR / "namespace.yaml"))
    else:
        kube.kubectl("create", "namespace", namespace)


def service_account_kubeconfig(
    kube: KubeControlPlane, namespace: str, name: str, rbac_files: Sequence[Path]
) -> Path:
    """Apply ``rbac_files`` (which define the ServiceAccount and what it may do), then write
    a kubeconfig that authenticates with a ``kubectl create token`` token of it."""
    _ensure_namespace(kube, namespace)
    for path in rbac_files:
        kube.kubectl("apply", "-f", str(path))
    token = kube.kubectl(
        "create", "token", name, "-n", namespace, f"--duration={_TOKEN_DURATION}"
    ).stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "lab",
                "cluster": {
                    "server": kube.url,
                    "certificate-authority-data": base64.b64encode(
                        kube.ca_file.read_bytes()
                    ).decode(),
                },
            }
        ],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": name}}],
        "current-context": "lab",
    }
    path = kube.dir / f"{namespace}.{name}.kubeconfig"
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path


def webhook_kubeconfig(kube: KubeControlPlane) -> Path:
    """The ``mnp-webhook`` ServiceAccount of config/webhook/rbac.yaml."""
    return service_account_kubeconfig(kube, SYSTEM_NAMESPACE, WEBHOOK_SA, [WEBHOOK_RBAC])


def forbidden_lines(text: str) -> list[str]:
    """The lines of a process log that carry an API server 403."""
    return [line for line in text.splitlines() if _FORBIDDEN.search(line)]


def assert_no_forbidden(log: Path, process: str) -> None:
    """Fail when ``log`` shows a 403: a permission missing from the role, even if retried."""
    found = forbidden_lines(log.read_text(errors="replace"))
    assert not found, (
        f"{process} was refused by the API server (its role in config/ lacks a permission); "
        f"{len(found)} lines of {log}, the first:\n" + "\n".join(found[:5])
    )
