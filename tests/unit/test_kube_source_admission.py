"""The kube source admits each policy once per version and NAD set: its snapshots reuse
what its watch events admitted, and a NAD event decides every policy again."""

from __future__ import annotations

import copy
from typing import Any

from kubernetes.client import ApiClient

from enforcer.incremental import PolicyEvent
from enforcer.sources.kube import KubeSource
from mnp.model import MNP_KIND, NAD_KIND
from tests.support.k8s_objects import K8sObjects

NS = "tenants"


def _policy(resource_version: str) -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": MNP_KIND,
        "metadata": {
            "name": "p",
            "namespace": NS,
            "resourceVersion": resource_version,
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": f"{NS}/blue"},
        },
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def _source_with(policy: dict[str, Any]) -> KubeSource:
    source = KubeSource(ApiClient(), lean=True)
    source.watchers[MNP_KIND].store.put(f"{NS}/p", policy)
    return source


def _last_policy_event(source: KubeSource) -> PolicyEvent:
    events = [e for e in source.events.drain() if isinstance(e, PolicyEvent)]
    assert events, "no policy event"
    return events[-1]


def test_a_nad_event_admits_a_policy_that_waited_for_it() -> None:
    policy = _policy("1")
    source = _source_with(policy)
    source._on_policy(f"{NS}/p", policy)
    assert _last_policy_event(source).policy is None  # its NAD is missing
    assert [k for k, _ in source.snapshot().rejected] == [f"{NS}/p"]

    nad = K8sObjects.nad(NS, "blue", "layer2", "10.0.0.0/24")
    source.watchers[NAD_KIND].store.put(f"{NS}/blue", nad)
    source._on_nad(f"{NS}/blue", nad)
    assert _last_policy_event(source).policy is not None
    snap = source.snapshot()
    assert [p.key for p in snap.policies] == [f"{NS}/p"] and not snap.rejected


def test_a_new_version_of_the_policy_is_admitted_again() -> None:
    nad = K8sObjects.nad(NS, "blue", "layer2", "10.0.0.0/24")
    policy = _policy("1")
    source = _source_with(policy)
    source.watchers[NAD_KIND].store.put(f"{NS}/blue", nad)
    source._on_policy(f"{NS}/p", policy)
    assert _last_policy_event(source).policy is not None

    broken = copy.deepcopy(policy)
    broken["metadata"]["resourceVersion"] = "2"
    broken["spec"]["policyTypes"] = ["Sideways"]
    source.watchers[MNP_KIND].store.put(f"{NS}/p", broken)
    source._on_policy(f"{NS}/p", broken)
    assert _last_policy_event(source).rejected
    assert [k for k, _ in source.snapshot().rejected] == [f"{NS}/p"]
