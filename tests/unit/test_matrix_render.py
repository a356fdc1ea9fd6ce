"""The lab's text rendering: ovn-trace's matrix with the policy model's beside it, and every
disagreement flagged (here on hand-made cells, no OVN needed)."""

from __future__ import annotations

import json

from mnp.model import NadKey, Pod
from mnp_lab.connectivity import Endpoint, Probe, ProbePort
from mnp_lab.matrix import render_json, render_text
from mnp_lab.trace import Cell, NetworkMatrix

NAD = NadKey("vms", "flat-l2")
A = Endpoint("10.0.0.1", Pod("vms", "a"), NAD)
B = Endpoint("10.0.0.2", Pod("vms", "b"), NAD)
DB = Endpoint("192.0.2.9")
TCP80 = ProbePort("TCP", 80)


def matrix() -> NetworkMatrix:
    cells = [
        Cell(Probe(A, B, TCP80), expected=True, observed=True),
        Cell(Probe(A, DB, TCP80), expected=False, observed=True),  # a hole OVN lets through
        Cell(Probe(B, A, TCP80), expected=False, observed=False),
        Cell(Probe(B, DB, TCP80), expected=True, observed=True),
        # From outside the cluster, through the localnet port.
        Cell(Probe(DB, A, TCP80), expected=True, observed=True),
        Cell(Probe(DB, B, TCP80), expected=False, observed=True),  # a hole into b
    ]
    return NetworkMatrix("net", "localnet", (TCP80,), cells)


def test_text_shows_both_matrices_and_flags_the_disagreement() -> None:
    assert render_text([matrix()]) == (
        "network net (localnet): 6 probes, 2 disagreements\n"
        " 80/TCP IPv4  (rows send, columns receive; . delivered, X dropped)\n"
        "             ovn-trace    policy model\n"
        "             0  1  2      0  1  2 \n"
        "  vms/a      -  .  .!     -  .  X!\n"
        "  vms/b      X  -  .      X  -  . \n"
        "  192.0.2.9  .  .! -      .  X! - \n"
        "  columns: 0=vms/a, 1=vms/b, 2=192.0.2.9\n"
        "  ! vms/a -> 192.0.2.9 80/TCP (10.0.0.1 -> 192.0.2.9): expected blocked, "
        "ovn-trace allowed\n"
        "  ! 192.0.2.9 -> vms/b 80/TCP (192.0.2.9 -> 10.0.0.2): expected blocked, "
        "ovn-trace allowed\n"
        "\n"
        "2 disagreements with the reference model\n"
    )


def test_json_reports_disagreement_and_both_verdicts() -> None:
    report = json.loads(render_json([matrix()]))
    assert report["agree"] is False
    [net] = report["networks"]
    assert net["disagreements"] == 2
    hole = [c for c in net["cells"] if c["expected"] != c["observed"]]
    assert [(c["src"]["label"], c["src"]["external"], c["dst"]["label"]) for c in hole] == [
        ("vms/a", False, "192.0.2.9"),
        ("192.0.2.9", True, "vms/b"),
    ]
