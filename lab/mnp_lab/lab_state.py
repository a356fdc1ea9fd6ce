"""``DIR/lab.json``: what a lab started (pids, manifests, the kube section), kept in one file
that ``mnp lab down`` reads. Every write replaces the file atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LAB_FILE = "lab.json"


def read_lab_state(lab_file: Path) -> dict[str, Any]:
    """The state, or ``{}`` when the file is missing or unreadable."""
    try:
        data = json.loads(lab_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_lab_state(lab_file: Path, **sections: Any) -> None:
    """Set top-level keys (``None`` removes one), keeping the others."""
    state = read_lab_state(lab_file)
    for key, value in sections.items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    tmp = lab_file.with_name(lab_file.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(lab_file)


def update_lab_pids(lab_file: Path, add: list[int], remove: list[int]) -> None:
    """Add and remove pids in the "pids" list, keeping every other key."""
    existing = read_lab_state(lab_file).get("pids")
    pids = [p for p in existing if isinstance(p, int)] if isinstance(existing, list) else []
    pids = [p for p in pids if p not in remove]
    pids.extend(p for p in add if p not in pids)
    write_lab_state(lab_file, pids=pids)
