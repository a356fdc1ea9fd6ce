"""The policies the webhook benchmarks send: the seed's, and heavier ones."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SEED_FILE = Path(__file__).resolve().parent.parent / "examples" / "seed" / "tenant-blue.yaml"


def _seed(kind: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all(SEED_FILE.read_text()):
        if isinstance(doc, dict) and doc.get("kind") == kind:
            return doc
    raise LookupError(f"{SEED_FILE} has no {kind}")


# examples/seed/tenant-blue.yaml's policy and NAD (the NAD the webhook's snapshot holds too).
SEED_POLICY = _seed("MultiNetworkPolicy")
SEED_NAD = _seed("NetworkAttachmentDefinition")

# Both directions, an ipBlock with an except and a port range: more to decode and check.
HEAVY_POLICY: dict[str, Any] = {
    "apiVersion": "k8s.cni.cncf.io/v1beta1",
    "kind": "MultiNetworkPolicy",
    "metadata": {
        "name": "allow-web",
        "namespace": "default",
        "annotations": {"k8s.v1.cni.cncf.io/policy-for": "default/tenant-blue"},
    },
    "spec": {
        "podSelector": {"matchLabels": {"app": "web"}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [
                    {"namespaceSelector": {"matchLabels": {"role": "trusted"}}},
                    {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]}},
                ],
                "ports": [{"protocol": "TCP", "port": 80, "endPort": 90}],
            }
        ],
        "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}],
    },
}


def denied_policy() -> dict[str, Any]:
    """The heavier policy with a bad protocol and port: two errors to render."""
    obj: dict[str, Any] = copy.deepcopy(HEAVY_POLICY)
    obj["spec"]["ingress"][0]["ports"] = [{"protocol": "ICMP", "port": 70000}]
    return obj


def policy_to_default() -> dict[str, Any]:
    """The heavier policy without policyTypes and a port's protocol: /mutate patches both."""
    obj: dict[str, Any] = copy.deepcopy(HEAVY_POLICY)
    del obj["spec"]["policyTypes"]
    del obj["spec"]["ingress"][0]["ports"][0]["protocol"]
    return obj
