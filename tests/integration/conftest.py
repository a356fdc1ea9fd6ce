"""Shared fixtures for integration tests: a real OVN sandbox per test, in tmp_path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mnp_lab.ovn import OvnSandbox


@pytest.fixture
def ovn(tmp_path: Path) -> Iterator[OvnSandbox]:
    """A started OvnSandbox (NB, SB, ovn-northd) in ``tmp_path/ovn``; stopped afterwards.

    A missing OVN binary fails the test with OvnMissingError naming the Debian packages.
    """
    sandbox = OvnSandbox(tmp_path / "ovn").start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


class K8sObjects:
    """Builders for the Kubernetes objects the lab tests feed to ``mnp`` (plain dicts)."""

    @staticmethod
    def namespace(name: str, **labels: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels},
        }

    @staticmethod
    def nad(
        namespace: str,
        name: str,
        topology: str,
        subnets: str | None,
        network: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        config: dict[str, Any] = {
            "cniVersion": "0.4.0",
            "name": network or name,
            "type": "ovn-k8s-cni-overlay",
            "topology": topology,
            "netAttachDefName": f"{namespace}/{name}",
            **extra,
        }
        if subnets:
            config["subnets"] = subnets
        return {
            "apiVersion": "k8s.cni.cncf.io/v1",
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"namespace": namespace, "name": name},
            "spec": {"config": json.dumps(config)},
        }

    @staticmethod
    def pod(
        namespace: str,
        name: str,
        networks: str,
        node: str = "",
        ports: list[dict[str, Any]] | None = None,
        **labels: str,
    ) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "namespace": namespace,
                "name": name,
                "labels": {"pod": name, **labels},
                "annotations": {"k8s.v1.cni.cncf.io/networks": networks},
            },
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": ports or []}]},
        }

    @staticmethod
    def policy(namespace: str, name: str, policy_for: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "k8s.cni.cncf.io/v1beta1",
            "kind": "MultiNetworkPolicy",
            "metadata": {
                "namespace": namespace,
                "name": name,
                "annotations": {"k8s.v1.cni.cncf.io/policy-for": policy_for},
            },
            "spec": spec,
        }


@pytest.fixture
def k8s() -> type[K8sObjects]:
    return K8sObjects
