"""Snapshots from objects: admitted policies modelled, rejected ones listed, problems reported."""

from __future__ import annotations

import json
from typing import Any

from mnp.model import NadKey
from mnp.snapshot import build_snapshot, snapshot_from_objects


def nad(ns: str, name: str, config: Any) -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"namespace": ns, "name": name},
        "spec": {"config": config if isinstance(config, str) else json.dumps(config)},
    }


BLUE = nad(
    "x",
    "blue",
    {
        "cniVersion": "0.4.0",
        "name": "blue",
        "type": "ovn-k8s-cni-overlay",
        "topology": "layer2",
        "subnets": "10.0.0.0/24",
        "netAttachDefName": "x/blue",
    },
)


def mnp(name: str, spec: dict[str, Any], policy_for: str = "x/blue") -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "namespace": "x",
            "name": name,
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": policy_for},
        },
        "spec": spec,
    }


def pod(ns: str, name: str) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"namespace": ns, "name": name, "labels": {"pod": name}}}


def test_admitted_policy_is_defaulted_and_rejected_one_is_listed() -> None:
    good = mnp("good", {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]})
    bad = mnp("bad", {"podSelector": {}, "ingress": [{"ports": [{"port": 0}]}]})
    s = snapshot_from_objects([bad, good, BLUE])
    assert [p.key for p in s.policies] == ["x/good"]
    policy = s.policies[0]
    assert policy.policy_types == frozenset({"Ingress"})
    assert policy.ingress[0].ports[0].protocol == "TCP"
    assert policy.policy_for == (NadKey("x", "blue"),)
    assert [key for key, _ in s.rejected] == ["x/bad"]
    assert any("spec.ingress[0].ports[0].port" in e for e in s.rejected[0][1])


def test_policy_for_missing_nad_is_rejected() -> None:
    s = snapshot_from_objects([mnp("p", {"podSelector": {}}, policy_for="x/nope")])
    assert s.policies == ()
    assert s.rejected and s.rejected[0][0] == "x/p"


def test_unparseable_nad_is_left_out_and_reported() -> None:
    build = build_snapshot([BLUE, nad("x", "broken", "{not json")])
    assert [n.nad for n in build.snapshot.networks] == [NadKey("x", "blue")]
    assert any(p.startswith("NetworkAttachmentDefinition x/broken:") for p in build.problems)


def test_namespaces_pods_sorted_and_missing_namespaces_supplied() -> None:
    ns_obj = {"kind": "Namespace", "metadata": {"name": "y", "labels": {"team": "b"}}}
    s = snapshot_from_objects([pod("y", "b"), pod("x", "z"), pod("x", "a"), ns_obj, BLUE])
    assert [(p.namespace, p.name) for p in s.pods] == [("x", "a"), ("x", "z"), ("y", "b")]
    assert [n.name for n in s.namespaces] == ["x", "y"]
    assert dict(s.namespaces[0].labels) == {"kubernetes.io/metadata.name": "x"}
    assert dict(s.namespaces[1].labels)["team"] == "b"


def test_bad_pod_is_reported_not_raised() -> None:
    build = build_snapshot([{"kind": "Pod", "metadata": {}}, "junk", pod("x", "a")])  # type: ignore[list-item]
    assert [p.name for p in build.snapshot.pods] == ["a"]
    assert any("metadata.name" in p for p in build.problems)
