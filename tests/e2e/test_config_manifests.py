"""config/ renders with kustomize and a real kube-apiserver accepts every manifest in it."""

from __future__ import annotations

from typing import Any

import pytest

from mnp.admission import MUTATING_WEBHOOK_NAME, NAD_WEBHOOK_NAME, VALIDATING_WEBHOOK_NAME
from mnp_lab.kube import KubeControlPlane
from tests.e2e.kubeobjects import CONFIG_DIR, FIXTURES_DIR, rendered_config, wait_established

pytestmark = pytest.mark.e2e

EXPECTED_OBJECTS = {
    ("CustomResourceDefinition", "network-attachment-definitions.k8s.cni.cncf.io"),
    ("CustomResourceDefinition", "multi-networkpolicies.k8s.cni.cncf.io"),
    ("Namespace", "mnp-system"),
    ("Issuer", "mnp-selfsigned"),
    ("Certificate", "mnp-webhook"),
    ("ServiceAccount", "mnp-webhook"),
    ("ClusterRole", "mnp-webhook"),
    ("ClusterRoleBinding", "mnp-webhook"),
    ("Deployment", "mnp-webhook"),
    ("Service", "mnp-webhook"),
    ("ValidatingWebhookConfiguration", "mnp-validating"),
    ("MutatingWebhookConfiguration", "mnp-mutating"),
    ("ServiceAccount", "mnp-enforcer"),
    ("ClusterRole", "mnp-enforcer"),
    ("ClusterRoleBinding", "mnp-enforcer"),
    ("Deployment", "mnp-enforcer"),
}


def _by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


def test_kustomize_renders_the_expected_objects(kube: KubeControlPlane) -> None:
    objects = rendered_config(kube)
    assert {(o["kind"], o["metadata"]["name"]) for o in objects} == EXPECTED_OBJECTS


def test_webhook_configurations_match_the_admission_contract(kube: KubeControlPlane) -> None:
    objects = rendered_config(kube)
    validating = _by_kind(objects, "ValidatingWebhookConfiguration")
    mutating = _by_kind(objects, "MutatingWebhookConfiguration")
    hooks = {h["name"]: h for h in validating["webhooks"] + mutating["webhooks"]}
    assert set(hooks) == {VALIDATING_WEBHOOK_NAME, NAD_WEBHOOK_NAME, MUTATING_WEBHOOK_NAME}

    expected = {
        VALIDATING_WEBHOOK_NAME: ("/validate", "multi-networkpolicies", ["CREATE", "UPDATE"]),
        NAD_WEBHOOK_NAME: ("/validate", "network-attachment-definitions", ["UPDATE", "DELETE"]),
        MUTATING_WEBHOOK_NAME: ("/mutate", "multi-networkpolicies", ["CREATE", "UPDATE"]),
    }
    for name, (path, resource, operations) in expected.items():
        hook = hooks[name]
        assert hook["clientConfig"]["service"] == {
            "name": "mnp-webhook",
            "namespace": "mnp-system",
            "path": path,
            "port": 443,
        }, name
        [rule] = hook["rules"]
        assert (rule["resources"], rule["operations"]) == ([resource], operations), name
        assert hook["failurePolicy"] == "Fail", name
        assert hook["sideEffects"] == "None", name
        assert hook["admissionReviewVersions"] == ["v1"], name
        assert hook["namespaceSelector"] == {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "NotIn",
                    "values": ["kube-system", "mnp-system"],
                }
            ]
        }, name
    for config in (validating, mutating):
        assert config["metadata"]["annotations"] == {
            "cert-manager.io/inject-ca-from": "mnp-system/mnp-webhook"
        }


def test_deployments_run_non_root_with_a_read_only_root(kube: KubeControlPlane) -> None:
    deployments = [o for o in rendered_config(kube) if o["kind"] == "Deployment"]
    assert len(deployments) == 2
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
    webhook = next(d for d in deployments if d["metadata"]["name"] == "mnp-webhook")
    [container] = webhook["spec"]["template"]["spec"]["containers"]
    assert container["args"][:3] == ["webhook", "--cert-dir", "/tls"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_server_dry_run_accepts_every_manifest(mnp_crds: KubeControlPlane) -> None:
    kube = mnp_crds
    # A bare API server knows no cert-manager types; stand-in CRDs give it Issuer/Certificate.
    kube.kubectl("apply", "-f", str(FIXTURES_DIR / "cert-manager-crds.yaml"))
    wait_established(kube, "issuers.cert-manager.io", "certificates.cert-manager.io")
    # A server-side dry run creates nothing, so namespaced objects need their namespace.
    kube.kubectl("apply", "-f", str(CONFIG_DIR / "namespace.yaml"))

    result = kube.kubectl("apply", "--dry-run=server", "-k", str(CONFIG_DIR), check=False)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == len(EXPECTED_OBJECTS), result.stdout
    assert all(line.endswith("(server dry run)") for line in lines), result.stdout
    # kubectl names each object as <resource>.<group>/<name>; every name shows up.
    applied_names = {line.split()[0].split("/", 1)[1] for line in lines}
    assert applied_names == {name for _, name in EXPECTED_OBJECTS}
