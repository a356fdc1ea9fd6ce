"""One OVN sandbox and topology per network, built once and reused by all its scenarios.

A module declares ``NETWORK = NetworkSpec(...)`` and uses the ``lab`` fixture, or builds
its own module-scoped fixtures with ``start_lab`` (several networks in one module, or the
``incremental`` mode: each step as events to a running incremental enforcer). A
missing OVN binary fails with the Debian packages to install; the daemons are stopped
when the module is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import pytest

from mnp_lab.ovn import OvnSandbox

from .cluster import NetworkSpec
from .harness import ConformanceLab


def start_lab(
    spec: NetworkSpec,
    tmp_path_factory: pytest.TempPathFactory,
    mode: Literal["snapshot", "incremental"] = "snapshot",
) -> Iterator[ConformanceLab]:
    sandbox = OvnSandbox(tmp_path_factory.mktemp(f"ovn-{spec.network_name}")).start()
    try:
        lab = ConformanceLab(sandbox, spec, mode)
        try:
            yield lab
        finally:
            lab.close()
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def lab(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConformanceLab]:
    spec = getattr(request.module, "NETWORK", None)
    if not isinstance(spec, NetworkSpec):
        raise AssertionError(
            f"{request.module.__name__} uses the `lab` fixture but defines no "
            "NETWORK = NetworkSpec(...)"
        )
    yield from start_lab(spec, tmp_path_factory)
