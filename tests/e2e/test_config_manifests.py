"""config/ renders with kustomize and a real kube-apiserver accepts every manifest in it."""

from __future__ import annotations

from typing import Any

from mnp.admission import MUTATING_WEBHOOK_NAME, NAD_WEBHOOK_NAME, VALIDATING_WEBHOOK_NAME
from mnp_lab.kube import KubeControlPlane
from tests.support.kubectl import FIXTURES_DIR, rendered_config, wait_established
from tests.support.paths import CONFIG_DIR

EXPECTED_OBJECTS = {
    ("CustomResourceDefinition", "network-attachment-definitions.k8s.cni.cncf.io"),
    ("CustomResourceDefinition", "multi-networkpolicies.k8s.cni.cncf.io"),
    ("Namespace", "mnp-system"),
    ("Issuer", "mnp-selfsigned"),
    ("Certificate", "mnp-ca"),
    ("Issuer", "mnp-ca"),
    ("Certificate", "mnp-webhook"),
    ("ServiceAccount", "mnp-webhook"),
    ("ClusterRole", "mnp-webhook"),
    ("ClusterRoleBinding", "mnp-webhook"),
    ("Deployment", "mnp-webhook"),
    ("Service", "mnp-webhook"),
    ("PodDisruptionBudget", "mnp-webhook"),
    ("NetworkPolicy", "mnp-webhook"),
    ("ValidatingWebhookConfiguration", "mnp-validating"),
    ("MutatingWebhookConfiguration", "mnp-mutating"),
    ("ServiceAccount", "mnp-enforcer"),
    ("ClusterRole", "mnp-enforcer"),
    ("ClusterRoleBinding", "mnp-enforcer"),
    ("Role", "mnp-enforcer-leader-election"),
    ("RoleBinding", "mnp-enforcer-leader-election"),
    ("Deployment", "mnp-enforcer"),
    ("PodDisruptionBudget", "mnp-enforcer"),
}


def _by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


def _named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
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


def test_the_serving_certificate_is_signed_by_a_ca_that_renewals_keep(
    kube: KubeControlPlane,
) -> None:
    objects = rendered_config(kube)
    certificates = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "Certificate"}
    issuers = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "Issuer"}
    serving = certificates["mnp-webhook"]
    assert serving["secretName"] == "mnp-webhook-tls"
    assert serving["privateKey"]["rotationPolicy"] == "Always"
    # The serving Certificate's Issuer is a CA Issuer over the Secret of an isCA Certificate,
    # and that one is self-signed: renewing the serving certificate keeps ca.crt.
    ca_issuer = issuers[serving["issuerRef"]["name"]]
    [ca] = [c for c in certificates.values() if c["secretName"] == ca_issuer["ca"]["secretName"]]
    assert ca["isCA"] is True
    assert issuers[ca["issuerRef"]["name"]] == {"selfSigned": {}}
    assert not serving.get("isCA")
    # inject-ca-from names the serving Certificate (asserted above), whose ca.crt is the CA.
    assert "selfSigned" not in ca_issuer


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


def test_enforcer_runs_two_replicas_with_leader_election(kube: KubeControlPlane) -> None:
    objects = rendered_config(kube)
    deployment = _named(objects, "Deployment", "mnp-enforcer")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    pod = spec["template"]["spec"]
    [term] = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert (
        term["podAffinityTerm"]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    )
    [container] = pod["containers"]
    assert "--leader-elect" in container["args"]
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in (
        container["env"]
    )
    pdb = _named(objects, "PodDisruptionBudget", "mnp-enforcer")
    assert pdb["spec"] == {"minAvailable": 1, "selector": spec["selector"]}


def test_enforcer_lease_rbac_is_exactly_get_update_by_name_and_create(
    kube: KubeControlPlane,
) -> None:
    objects = rendered_config(kube)
    role = _named(objects, "Role", "mnp-enforcer-leader-election")
    assert role["metadata"]["namespace"] == "mnp-system"
    rules = sorted(
        (
            tuple(r["apiGroups"]),
            tuple(r["resources"]),
            tuple(r.get("resourceNames", ())),
            tuple(sorted(r["verbs"])),
        )
        for r in role["rules"]
    )
    assert rules == [
        (("coordination.k8s.io",), ("leases",), (), ("create",)),
        (("coordination.k8s.io",), ("leases",), ("mnp-enforcer",), ("get", "update")),
    ]
    binding = _named(objects, "RoleBinding", "mnp-enforcer-leader-election")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "mnp-enforcer", "namespace": "mnp-system"}
    ]
    # The enforcer's ClusterRole grants nothing on leases (no cluster-wide lease access).
    cluster_role = _named(objects, "ClusterRole", "mnp-enforcer")
    assert all("leases" not in r["resources"] for r in cluster_role["rules"])


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


def test_webhook_survives_disruptions_and_admits_only_its_clients(kube: KubeControlPlane) -> None:
    objects = rendered_config(kube)
    deployment = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "mnp-webhook"
    )
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # The webhook's own shutdown (15 s by default) ends well within the pod's grace.
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 30

    budget = _named(objects, "PodDisruptionBudget", "mnp-webhook")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    policy = _by_kind(objects, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    https, probes = policy["spec"]["ingress"]
    assert https["ports"] == [{"port": "https", "protocol": "TCP"}]
    assert https["from"] and all(set(peer) == {"ipBlock"} for peer in https["from"])
    assert probes == {"ports": [{"port": "probes", "protocol": "TCP"}]}  # the kubelet's
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert {p["name"] for p in container["ports"]} == {"https", "probes"}
