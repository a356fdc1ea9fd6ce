"""The lab's text rendering: ovn-trace's matrix with the policy model's beside it, and every
disagreement flagged (here on hand-made cells, no OVN needed)."""

from __future__ import annotations

import json

from enforcer.lab.matrix import render_json, render_text
from enforcer.lab.trace import Cell, NetworkMatrix
from mnp.connectivity import Endpoint, Probe, ProbePort
from mnp.model import NadKey, Pod

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
    ]
    return NetworkMatrix("net", "localnet", (TCP80,), cells)


def test_text_shows_both_matrices_and_flags_the_disagreement() -> None:
    assert render_text([matrix()]) == (
        "network net (localnet): 4 probes, 1 disagreement\n"
        " 80/TCP IPv4  (rows send, columns receive; . delivered, X dropped)\n"
        "         ovn-trace    policy model\n"
        "         0  1  2      0  1  2 \n"
        "  vms/a  -  .  .!     -  .  X!\n"
        "  vms/b  X  -  .      X  -  . \n"
        "  columns: 0=vms/a, 1=vms/b, 2=192.0.2.9\n"
        "  ! vms/a -> 192.0.2.9 80/TCP (10.0.0.1 -> 192.0.2.9): expected blocked, "
        "ovn-trace allowed\n"
        "\n"
        "1 disagreement with the reference model\n"
    )


def test_json_reports_disagreement_and_both_verdicts() -> None:
    report = json.loads(render_json([matrix()]))
    assert report["agree"] is False
    [net] = report["networks"]
    assert net["disagreements"] == 1
    hole = [c for c in net["cells"] if c["expected"] != c["observed"]]
    assert [(c["src"]["label"], c["dst"]["ip"], c["dst"]["external"]) for c in hole] == [
        ("vms/a", "192.0.2.9", True)
    ]
