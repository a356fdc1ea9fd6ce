"""End-to-end fixtures: one real etcd + kube-apiserver for the whole session.

When the binaries are not built yet, the fixture builds them (hack/build-kube-binaries.sh,
through ``ensure_binaries``); a failed build fails the tests with the build's error. Nothing
here skips.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from mnp_lab.kube import KubeControlPlane
from mnp_lab.kube_binaries import ensure_binaries
from tests.support.kubectl import wait_established
from tests.support.paths import CONFIG_DIR


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeControlPlane]:
    """A started control plane; its kubeconfig is ``kube.kubeconfig``."""
    binaries = ensure_binaries(progress=sys.stderr)
    plane = KubeControlPlane(tmp_path_factory.mktemp("kube"), binaries).start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def mnp_crds(kube: KubeControlPlane) -> KubeControlPlane:
    """config/crd/ applied for real and established."""
    kube.kubectl("apply", "-f", str(CONFIG_DIR / "crd"))
    wait_established(
        kube,
        "network-attachment-definitions.k8s.cni.cncf.io",
        "multi-networkpolicies.k8s.cni.cncf.io",
    )
    return kube
