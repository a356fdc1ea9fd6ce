"""Snapshot from manifest files: ``load_manifests`` -> ``fill_pod_networks`` -> snapshot.

``fill_pod_networks`` gives pods the same deterministic addresses the lab topology uses,
so the enforcer's address sets match the switch ports the lab created.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnp.addressing import fill_pod_networks
from mnp.model import Snapshot
from mnp.snapshot import build_snapshot

log = logging.getLogger("mnp.enforcer.files")


def objects_from_files(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    from mnp.manifests import load_manifests  # helper A's loader

    return [dict(m.obj) for m in load_manifests([Path(p) for p in paths])]


def snapshot_from_files(paths: Sequence[str | Path]) -> Snapshot:
    build = build_snapshot(fill_pod_networks(objects_from_files(paths)))
    for problem in build.problems:
        log.warning("%s", problem)
    return build.snapshot


class FilesSource:
    """Re-reads the files on every snapshot; ``changed`` is set only at start (and by resync)."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        if not paths:
            raise ValueError("--source files needs at least one -f FILE_OR_DIR")
        self.paths = list(paths)
        self.changed = threading.Event()
        self._uids: dict[tuple[str, str], str] = {}

    def start(self) -> None:
        self.changed.set()

    def stop(self) -> None:
        pass

    def snapshot(self) -> Snapshot:
        return snapshot_from_files(self.paths)

    def policy_uid(self, namespace: str, name: str) -> str | None:
        return None
