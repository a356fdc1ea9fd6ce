"""Shared fixtures for integration tests: a real OVN sandbox per test, in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mnp_lab.ovn import OvnSandbox
from tests.support.k8s_objects import K8sObjects


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


@pytest.fixture
def k8s() -> type[K8sObjects]:
    return K8sObjects
