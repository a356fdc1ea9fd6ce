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

from enforcer.incremental import events_between
from enforcer.incremental_loop import EventQueue
from mnp.addressing import fill_pod_networks
from mnp.manifests import load_manifests
from mnp.model import Snapshot
from mnp.snapshot import build_snapshot

log = logging.getLogger("mnp.enforcer.files")


def objects_from_files(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    return [dict(m.obj) for m in load_manifests([Path(p) for p in paths])]


def snapshot_from_files(paths: Sequence[str | Path]) -> Snapshot:
    build = build_snapshot(fill_pod_networks(objects_from_files(paths)))
    for problem in build.problems:
        log.warning("%s", problem)
    return build.snapshot


MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def files_signature(paths: Sequence[str | Path]) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime, size) of every manifest file under ``paths``: changes when one does."""
    seen: list[tuple[str, int, int]] = []
    for root in map(Path, paths):
        candidates = sorted(root.rglob("*")) if root.is_dir() else [root]
        for f in candidates:
            if f.is_file() and (f == root or f.suffix in MANIFEST_SUFFIXES):
                try:
                    st = f.stat()
                except OSError:
                    continue  # removed while we looked; the next poll sees it gone
                seen.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(seen)


class FilesSource:
    """Re-reads the files on every snapshot; ``changed`` is set at start and whenever a
    manifest file under the paths is added, removed or modified (polled every ``interval``),
    and ``events`` gets what changed between the last snapshot and the new one."""

    def __init__(self, paths: Sequence[str | Path], interval: float = 1.0) -> None:
        if not paths:
            raise ValueError("--source files needs at least one -f FILE_OR_DIR")
        self.paths = list(paths)
        self.interval = interval
        self.changed = threading.Event()
        self.events = EventQueue()
        self._last = Snapshot()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        self._publish()
        self.changed.set()
        self._watcher = threading.Thread(target=self._watch, name="mnp-files", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        last = files_signature(self.paths)
        while not self._stop.wait(self.interval):
            now = files_signature(self.paths)
            if now != last:
                log.info("manifest files changed; reconciling")
                last = now
                self._publish()
                self.changed.set()

    def _publish(self) -> None:
        try:
            now = self.snapshot()
        except Exception as e:  # a half-written file: the next poll reads it again
            log.warning("cannot read the manifests: %s", e)
            return
        for event in events_between(self._last, now):
            self.events.put(event)
        self._last = now

    def snapshot(self) -> Snapshot:
        return snapshot_from_files(self.paths)

    def policy_uid(self, namespace: str, name: str) -> str | None:
        return None
