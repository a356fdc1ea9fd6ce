"""Render traced connectivity matrices as text (one table per network, port and family) or JSON.

In the text form each table shows what ovn-trace observed and, beside it, what the policy
model expects; a cell is ``.`` (delivered) or ``X`` (dropped), rows send and columns receive,
``!`` flags a disagreement, and ``-`` is a pair not probed (a pod to itself, an
external address to another).
"""

from __future__ import annotations

import json
from typing import Any

from mnp_lab.connectivity import Endpoint, ProbePort
from mnp_lab.trace import Cell, NetworkMatrix

_GREEN, _RED, _YELLOW, _BOLD, _RESET = "\033[32m", "\033[31m", "\033[33m", "\033[1m", "\033[0m"


def _verdict(allowed: bool) -> str:
    return "allowed" if allowed else "blocked"


def _family_name(family: int) -> str:
    return "IPv4" if family == 4 else "IPv6"


def _mark(allowed: bool, color: bool) -> str:
    mark = "." if allowed else "X"
    return f"{_GREEN if allowed else _RED}{mark}{_RESET}" if color else mark


def _cell_text(cell: Cell | None, color: bool, observed: bool) -> str:
    """One cell: the verdict, then ``!`` when ovn-trace and the model disagree."""
    if cell is None:
        return "- "
    flag = " " if cell.agrees else (f"{_BOLD}{_YELLOW}!{_RESET}" if color else "!")
    return _mark(cell.observed if observed else cell.expected, color) + flag


def _table(cells: list[Cell], color: bool) -> list[str]:
    """The ovn-trace matrix with the policy model's beside it; rows send, columns receive."""
    sources = list(dict.fromkeys(c.probe.src for c in cells))
    # Columns in the same order as rows (a square matrix; on localnet the external
    # addresses send too, as the last rows), then any destination that never sends.
    dsts = set(c.probe.dst for c in cells)
    targets = [s for s in sources if s in dsts]
    targets += list(dict.fromkeys(c.probe.dst for c in cells if c.probe.dst not in targets))
    by_pair = {(c.probe.src, c.probe.dst): c for c in cells}
    width = max(len(s.label) for s in sources)
    grid_width = max(3 * len(targets) - 1, len("ovn-trace"))
    numbers = " ".join(f"{i:<2}" for i in range(len(targets)))
    lines = [
        " " * (width + 4) + f"{'ovn-trace':<{grid_width}}    policy model",
        " " * (width + 4) + f"{numbers:<{grid_width}}    {numbers}",
    ]
    for s in sources:
        seen = " ".join(_cell_text(by_pair.get((s, t)), color, observed=True) for t in targets)
        want = " ".join(_cell_text(by_pair.get((s, t)), color, observed=False) for t in targets)
        pad = " " * (grid_width - (3 * len(targets) - 1))  # colour codes have no width
        lines.append(f"  {s.label:<{width}}  {seen}{pad}    {want}")
    lines.append("  columns: " + ", ".join(f"{i}={t.label}" for i, t in enumerate(targets)))
    return lines


def render_text(matrices: list[NetworkMatrix], color: bool = False) -> str:
    out: list[str] = []
    for m in matrices:
        bad = len(m.disagreements)
        out.append(
            f"network {m.network} ({m.topology}): {len(m.cells)} probes, {bad} disagreement"
            + ("" if bad == 1 else "s")
        )
        groups: dict[tuple[ProbePort, int], list[Cell]] = {}
        for c in m.cells:
            groups.setdefault((c.probe.port, c.probe.src.family), []).append(c)
        if not groups:
            out.append("  (no pod pairs to probe)")
        for (port, family), cells in groups.items():
            legend = "rows send, columns receive; . delivered, X dropped"
            out.append(f" {port} {_family_name(family)}  ({legend})")
            out += _table(cells, color)
        for c in m.disagreements:
            p = c.probe
            out.append(
                f"  ! {p.src.label} -> {p.dst.label} {p.port} ({p.src.ip} -> {p.dst.ip}): "
                f"expected {_verdict(c.expected)}, ovn-trace {_verdict(c.observed)}"
            )
        out.append("")
    total = sum(len(m.disagreements) for m in matrices)
    if total == 0:
        out.append("OVN agrees with the reference model")
    else:
        out.append(f"{total} disagreement{'' if total == 1 else 's'} with the reference model")
    return "\n".join(out) + "\n"


def _endpoint(ep: Endpoint) -> dict[str, Any]:
    return {
        "label": ep.label,
        "ip": ep.ip,
        "external": ep.is_external,
        "nad": str(ep.nad) if ep.nad else None,
    }


def to_json(matrices: list[NetworkMatrix]) -> dict[str, Any]:
    return {
        "agree": all(not m.disagreements for m in matrices),
        "networks": [
            {
                "network": m.network,
                "topology": m.topology,
                "ports": [str(p) for p in m.ports],
                "probes": len(m.cells),
                "disagreements": len(m.disagreements),
                "cells": [
                    {
                        "src": _endpoint(c.probe.src),
                        "dst": _endpoint(c.probe.dst),
                        "port": c.probe.port.port,
                        "protocol": c.probe.port.protocol,
                        "expected": c.expected,
                        "observed": c.observed,
                    }
                    for c in m.cells
                ],
            }
            for m in matrices
        ],
    }


def render_json(matrices: list[NetworkMatrix]) -> str:
    return json.dumps(to_json(matrices), indent=2) + "\n"
