"""Small helpers over kubectl for the e2e tests: render config/, apply and read objects."""

from __future__ import annotations

import json
import time
from typing import Any

import yaml

from mnp_lab.kube import KubeControlPlane, KubeControlPlaneError
from tests.support.paths import CONFIG_DIR, REPO_ROOT

FIXTURES_DIR = REPO_ROOT / "tests" / "e2e" / "fixtures"


def wait_established(kube: KubeControlPlane, *crd_names: str) -> None:
    kube.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        *(f"customresourcedefinition/{name}" for name in crd_names),
    )


def crds_established(kube: KubeControlPlane, attempts: int = 20) -> None:
    """Both mnp CRDs Established; ``kubectl wait`` fails outright (rather than waiting)
    when it runs before the CRD has any status, so that case is retried."""
    names = (
        "network-attachment-definitions.k8s.cni.cncf.io",
        "multi-networkpolicies.k8s.cni.cncf.io",
    )
    for attempt in range(attempts):
        try:
            wait_established(kube, *names)
            return
        except KubeControlPlaneError as e:
            if "accessor error" not in str(e) or attempt == attempts - 1:
                raise
            time.sleep(0.2)


def rendered_config(kube: KubeControlPlane) -> list[dict[str, Any]]:
    """``kubectl kustomize config/`` as a list of objects."""
    out = kube.kubectl("kustomize", str(CONFIG_DIR)).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def apply_objects(kube: KubeControlPlane, *objects: dict[str, Any]) -> str:
    """``kubectl apply`` of the given objects (as a JSON List on stdin); returns stdout."""
    doc = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    return kube.kubectl("apply", "-f", "-", input=json.dumps(doc)).stdout


def get_object(kube: KubeControlPlane, resource: str, name: str, namespace: str) -> Any:
    return json.loads(kube.kubectl("get", resource, name, "-n", namespace, "-o", "json").stdout)


def create_namespace(kube: KubeControlPlane, name: str) -> None:
    apply_objects(kube, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
