"""The rows compile builds for every conformance step are the ones the previous version built.

An NB written by an older enforcer must be recognised with zero churn, so the names and
``external_ids`` of every row are compared literally with a fixture recorded from the
code before typed row ids (``conformance_row_ids.json``); the other columns (matches,
ports, addresses, ...) are compared through one digest per step. No OVN needed: this is
pure compile over the conformance snapshots.

Regenerate (only on a deliberate change of row identity, which churns every NB):
``python -m tests.integration.conformance.test_conformance_row_ids``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from enforcer.compile import compile
from enforcer.desired import DesiredState
from mnp.snapshot import build_snapshot

from . import (
    test_conformance_ipamless,
    test_conformance_ipv6,
    test_conformance_layer2,
    test_conformance_layer3,
    test_conformance_localnet,
    test_conformance_updates,
)
from .cluster import NetworkSpec, step_objects
from .scenarios_layer2 import SCENARIOS, Scenario

FIXTURE = Path(__file__).with_name("conformance_row_ids.json")


def _suites() -> list[tuple[NetworkSpec, tuple[Scenario, ...]]]:
    localnet = test_conformance_localnet
    ipv6 = test_conformance_ipv6
    return [
        (test_conformance_layer2.NETWORK, SCENARIOS),
        (test_conformance_layer3.NETWORK, test_conformance_layer3.SUBSET),
        (
            localnet.NETWORK,
            (*localnet.SUBSET, localnet.EXTERNAL_DATABASE, localnet.CLIENTS_TO_DATABASE),
        ),
        (test_conformance_ipamless.NETWORK, test_conformance_ipamless.SCENARIOS),
        (ipv6.IPV6_ONLY, ipv6.IPV6_SUBSET),
        (ipv6.DUAL_STACK, ipv6.DUAL_STACK_SCENARIOS),
        (test_conformance_updates.NETWORK, test_conformance_updates.SCENARIOS),
    ]


def _identity(desired: DesiredState) -> list[list[Any]]:
    """Each row as [table, name, external_ids], in compile's order."""
    rows: list[list[Any]] = []
    for table, group in (
        ("Port_Group", desired.port_groups),
        ("Address_Set", desired.address_sets),
        ("ACL", desired.acls),
    ):
        rows += [[table, r.name, dict(r.external_ids)] for r in group]
    return rows


def _columns_digest(desired: DesiredState) -> str:
    """One digest of every other column (what the rows do, not what they are called)."""
    cols: list[Any] = [[p.ports for p in desired.port_groups]]
    cols.append([a.addresses for a in desired.address_sets])
    cols.append(
        [
            [a.direction, a.priority, a.match, a.action, list(a.options), dict(a.external_ids)]
            for a in desired.acls
        ]
    )
    return hashlib.sha256(json.dumps(cols, sort_keys=True).encode()).hexdigest()


def conformance_rows() -> dict[str, Any]:
    """Case id (network / scenario / step) -> the rows compile builds for that step."""
    out: dict[str, Any] = {}
    for spec, scenarios in _suites():
        for scenario in scenarios:
            for i, step in enumerate(scenario.steps, start=1):
                snapshot = build_snapshot(step_objects(spec, step)).snapshot
                desired = compile(snapshot)
                out[f"{spec.network_name}/{scenario.id}/{i}"] = {
                    "rows": _identity(desired),
                    "columns": _columns_digest(desired),
                }
    return out


def test_names_and_external_ids_are_those_the_previous_version_wrote() -> None:
    expected = json.loads(FIXTURE.read_text())
    got = conformance_rows()
    assert sorted(got) == sorted(expected)
    for case, want in expected.items():
        assert got[case]["rows"] == want["rows"], case
    assert sum(len(c["rows"]) for c in expected.values()) > 500  # the fixture is not empty


def test_every_other_column_is_the_same() -> None:
    expected = json.loads(FIXTURE.read_text())
    got = conformance_rows()
    assert {c: v["columns"] for c, v in got.items()} == {
        c: v["columns"] for c, v in expected.items()
    }


def _fixture_text(cases: dict[str, Any]) -> str:
    """One row per line, so a change of identity reads as a plain diff."""
    lines = ["{"]
    for n, (case, value) in enumerate(sorted(cases.items())):
        columns = json.dumps(value["columns"])
        lines.append(f'{json.dumps(case)}: {{"columns": {columns}, "rows": [')
        rows = [json.dumps(r, sort_keys=True) for r in value["rows"]]
        lines.append(",\n".join(rows))
        lines.append("]}" + ("," if n < len(cases) - 1 else ""))
    return "\n".join([*lines, "}"]) + "\n"


if __name__ == "__main__":
    FIXTURE.write_text(_fixture_text(conformance_rows()))
