"""One OVN sandbox and topology per test module, reused by all its scenarios.

A module declares ``NETWORK = NetworkSpec(...)``; the ``lab`` fixture starts a real
OVN (a missing binary fails with the Debian packages to install), builds the model's
switches and ports once, and stops the daemons when the module is done.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from enforcer.lab.ovn import OvnSandbox

from .cluster import NetworkSpec
from .harness import ConformanceLab


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConformanceLab]:
    spec = getattr(request.module, "NETWORK", None)
    if not isinstance(spec, NetworkSpec):
        raise AssertionError(
            f"{request.module.__name__} uses the `lab` fixture but defines no NETWORK = NetworkSpec(...)"
        )
    sandbox = OvnSandbox(tmp_path_factory.mktemp(f"ovn-{spec.topology}")).start()
    try:
        yield ConformanceLab(sandbox, spec)
    finally:
        sandbox.stop()
