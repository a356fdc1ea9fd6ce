"""The conformance scenarios through the incremental path: each step reaches one running
``Reconciler`` with its NB replica as the events between the previous step and it (one
events reconcile per event, across scenarios without a restart), and ovn-trace must agree.

All layer2 scenarios, plus a few of the IPAM-less, dual-stack, layer3, localnet and update
suites (the full-snapshot mode runs all of those already).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from . import test_conformance_ipamless as ipamless
from . import test_conformance_ipv6 as ipv6
from . import test_conformance_layer2 as layer2
from . import test_conformance_layer3 as layer3
from . import test_conformance_localnet as localnet
from . import test_conformance_updates as updates
from .cluster import NetworkSpec
from .conftest import start_lab
from .harness import ConformanceLab
from .scenarios_layer2 import SCENARIOS, Scenario

SUITES: dict[str, tuple[NetworkSpec, tuple[Scenario, ...]]] = {
    "ipamless": (ipamless.NETWORK, ipamless.SCENARIOS[:3]),
    "dual-stack": (ipv6.DUAL_STACK, ipv6.DUAL_STACK_SCENARIOS[:3]),
    "layer3": (layer3.NETWORK, layer3.SUBSET[:3]),
    "localnet": (localnet.NETWORK, (localnet.EXTERNAL_DATABASE, localnet.CLIENTS_TO_DATABASE)),
    "updates": (updates.NETWORK, updates.SCENARIOS),
}


@pytest.fixture(scope="module")
def layer2_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConformanceLab]:
    yield from start_lab(layer2.NETWORK, tmp_path_factory, mode="incremental")


@pytest.fixture(scope="module")
def other_labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ConformanceLab]]:
    lab = contextmanager(start_lab)
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(lab(spec, tmp_path_factory, "incremental"))
            for name, (spec, _) in SUITES.items()
        }


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_layer2_incremental(layer2_lab: ConformanceLab, scenario: Scenario) -> None:
    layer2_lab.run(scenario)


@pytest.mark.parametrize(
    ("suite", "scenario"),
    [(name, s) for name, (_, scenarios) in SUITES.items() for s in scenarios],
    ids=lambda v: v if isinstance(v, str) else v.id,
)
def test_other_suites_incremental(
    other_labs: dict[str, ConformanceLab], suite: str, scenario: Scenario
) -> None:
    other_labs[suite].run(scenario)


def test_incremental_reconciles_write_only_changed_rows(layer2_lab: ConformanceLab) -> None:
    """Re-applying the same step is no event at all: nothing compiled, nothing written."""
    step = SCENARIOS[0].steps[0]
    layer2_lab.run_step("first", step)
    again = layer2_lab.run_step("again", step)
    assert again.result.ops == 0
    assert not again.failures
