"""The CRDs from config/crd/ install on a real API server and objects round-trip with kubectl.

No webhook is installed here: these tests see the CRD schemas alone.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from mnp_lab.kube import KubeControlPlane
from tests.support.kubectl import apply_objects, create_namespace, get_object

NAMESPACE = "e2e-crds"

NAD: dict[str, Any] = {
    "apiVersion": "k8s.cni.cncf.io/v1",
    "kind": "NetworkAttachmentDefinition",
    "metadata": {"name": "tenant-blue", "namespace": NAMESPACE},
    "spec": {
        "config": json.dumps(
            {
                "cniVersion": "0.4.0",
                "name": "tenant-blue-net",
                "netAttachDefName": f"{NAMESPACE}/tenant-blue",
                "topology": "layer2",
                "type": "ovn-k8s-cni-overlay",
                "subnets": "192.168.100.0/24",
            }
        )
    },
}

POLICY_SPEC: dict[str, Any] = {
    "podSelector": {"matchLabels": {"app": "stuff-doer"}},
    "policyTypes": ["Ingress", "Egress"],
    "ingress": [
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"role": "trusted"}}},
                {"ipBlock": {"cidr": "192.168.100.0/24", "except": ["192.168.100.128/25"]}},
            ],
            "ports": [{"protocol": "TCP", "port": 9000, "endPort": 9100}],
        }
    ],
    "egress": [
        {
            "to": [
                {
                    "podSelector": {
                        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]
                    }
                }
            ],
            "ports": [{"protocol": "UDP", "port": "dns"}],
        }
    ],
}


def _policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": f"{NAMESPACE}/tenant-blue"},
        },
        "spec": spec,
    }


@pytest.fixture(scope="module")
def crds(mnp_crds: KubeControlPlane) -> KubeControlPlane:
    create_namespace(mnp_crds, NAMESPACE)
    return mnp_crds


def test_nad_round_trips(crds: KubeControlPlane) -> None:
    apply_objects(crds, NAD)
    stored = get_object(crds, "net-attach-def", "tenant-blue", NAMESPACE)
    assert stored["spec"] == NAD["spec"]
    assert json.loads(stored["spec"]["config"])["topology"] == "layer2"


def test_policy_with_end_port_round_trips(crds: KubeControlPlane) -> None:
    out = apply_objects(crds, _policy("allow-range", POLICY_SPEC))
    assert out.strip() == "multinetworkpolicy.k8s.cni.cncf.io/allow-range created"

    stored = get_object(crds, "multi-policy", "allow-range", NAMESPACE)

    assert stored["apiVersion"] == "k8s.cni.cncf.io/v1beta1"
    assert stored["spec"] == POLICY_SPEC  # endPort and the named port kept, nothing pruned
    assert stored["spec"]["ingress"][0]["ports"][0]["endPort"] == 9100
    assert stored["metadata"]["annotations"]["k8s.v1.cni.cncf.io/policy-for"] == (
        f"{NAMESPACE}/tenant-blue"
    )


def test_names_and_short_names_reach_the_same_objects(crds: KubeControlPlane) -> None:
    apply_objects(crds, _policy("by-name", {"podSelector": {}}))
    for resource in (
        "multi-policy",
        "multi-networkpolicy",
        "multi-networkpolicies",
        "multi-networkpolicies.v1beta1.k8s.cni.cncf.io",
    ):
        got = crds.kubectl("get", resource, "by-name", "-n", NAMESPACE, "-o", "name").stdout
        assert got.strip() == "multinetworkpolicy.k8s.cni.cncf.io/by-name", resource


def test_v1beta2_is_not_served(crds: KubeControlPlane) -> None:
    result = crds.kubectl(
        "get", "multi-networkpolicies.v1beta2.k8s.cni.cncf.io", "-n", NAMESPACE, check=False
    )
    assert result.returncode != 0
    assert "the server doesn't have a resource type" in result.stderr


def test_unknown_fields_are_rejected_or_pruned(crds: KubeControlPlane) -> None:
    spec = copy.deepcopy(POLICY_SPEC)
    spec["ingress"][0]["ports"][0]["bogus"] = 1
    policy = json.dumps(_policy("pruned", spec))

    strict = crds.kubectl("create", "-f", "-", input=policy, check=False)
    assert strict.returncode == 1
    assert strict.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": MultiNetworkPolicy in '
        'version "v1beta1" cannot be handled as a MultiNetworkPolicy: strict decoding error: '
        'unknown field "spec.ingress[0].ports[0].bogus"'
    )

    # Without field validation the structural schema prunes what it does not know.
    crds.kubectl("create", "--validate=false", "-f", "-", input=policy)
    stored = get_object(crds, "multi-policy", "pruned", NAMESPACE)
    assert stored["spec"] == POLICY_SPEC


def test_schema_requires_pod_selector(crds: KubeControlPlane) -> None:
    missing = _policy("no-pod-selector", {"ingress": [{}]})

    result = crds.kubectl("create", "-f", "-", input=json.dumps(missing), check=False)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        'The MultiNetworkPolicy "no-pod-selector" is invalid: spec.podSelector: Required value'
    )
