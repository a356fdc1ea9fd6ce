"""Render traced connectivity matrices as text (one table per network, port and family) or JSON.

In the text form a cell is ``.`` (delivered) or ``X`` (dropped), as observed by ovn-trace;
``!`` after it flags a disagreement with the reference model.
"""

from __future__ import annotations

import json
from typing import Any

from enforcer.lab.trace import Cell, NetworkMatrix
from mnp.connectivity import Endpoint, ProbePort

_GREEN, _RED, _YELLOW, _BOLD, _RESET = "\033[32m", "\033[31m", "\033[33m", "\033[1m", "\033[0m"


def _verdict(allowed: bool) -> str:
    return "allowed" if allowed else "blocked"


def _family_name(family: int) -> str:
    return "IPv4" if family == 4 else "IPv6"


def _cell_text(cell: Cell | None, color: bool) -> str:
    if cell is None:
        return "- "
    mark = "." if cell.observed else "X"
    flag = " " if cell.agrees else "!"
    if not color:
        return mark + flag
    body = f"{_GREEN if cell.observed else _RED}{mark}{_RESET}"
    return body + (f"{_BOLD}{_YELLOW}!{_RESET}" if not cell.agrees else " ")


def _table(cells: list[Cell], color: bool) -> list[str]:
    sources = list(dict.fromkeys(c.probe.src for c in cells))
    # Columns in the same order as rows (a square matrix), then external addresses.
    dsts = set(c.probe.dst for c in cells)
    targets = [s for s in sources if s in dsts]
    targets += list(dict.fromkeys(c.probe.dst for c in cells if c.probe.dst not in targets))
    by_pair = {(c.probe.src, c.probe.dst): c for c in cells}
    width = max(len(s.label) for s in sources)
    lines = [" " * (width + 4) + " ".join(f"{i:<2}" for i in range(len(targets)))]
    for s in sources:
        row = " ".join(_cell_text(by_pair.get((s, t)), color) for t in targets)
        lines.append(f"  {s.label:<{width}}  {row}")
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
            out.append(f" {port} {_family_name(family)}")
            out += _table(cells, color)
        for c in m.disagreements:
            p = c.probe
            out.append(
                f"  ! {p.src.label} -> {p.dst.label} {p.port} ({p.src.ip} -> {p.dst.ip}): "
                f"expected {_verdict(c.expected)}, ovn-trace {_verdict(c.observed)}"
            )
        out.append("")
    total = sum(len(m.disagreements) for m in matrices)
    out.append("OVN agrees with the reference model" if total == 0 else f"{total} disagreements")
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
