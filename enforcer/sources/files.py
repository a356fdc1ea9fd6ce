"""Snapshot from manifest files: ``load_manifests`` -> snapshot, pods as written.

Pod addresses come only from the ``k8s.ovn.org/pod-networks`` annotations in the files, as
OVN-Kubernetes would have written them: nothing here assigns addresses nobody assigned. A
pod without an address on a network is still enforced by its switch port (port group
membership); address sets simply lack it. (The lab's stand-in IPAM, ``mnp_lab.addressing``,
fills addresses in for sandboxes; it is not part of the product.)

One bad file never blocks the others: a file that cannot be read or parsed keeps the
objects it last gave (a warning names the file and line), and the changes in every other
file apply. A file that is empty (zero bytes, or only whitespace) counts as unreadable too,
since that is what a truncated write or a full disk leaves behind: it keeps its last
objects. A deliberate deletion is told apart by its form: **remove the file** (its objects
go), or remove the object from a file that still holds other content (write files by
renaming a complete new file into place, so no reader sees half of one).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from enforcer.incremental import events_between
from enforcer.sources import EventQueue
from mnp.manifests import ManifestError, load_manifests
from mnp.model import Snapshot
from mnp.snapshot import build_snapshot
from mnp.validation import DEFAULT_RULES, ValidationRules

log = logging.getLogger("mnp.enforcer.files")


def objects_from_files(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    return [dict(m.obj) for m in load_manifests([Path(p) for p in paths])]


def snapshot_from_files(
    paths: Sequence[str | Path], rules: ValidationRules = DEFAULT_RULES
) -> Snapshot:
    return _snapshot(objects_from_files(paths), rules)


def _snapshot(objects: list[dict[str, Any]], rules: ValidationRules) -> Snapshot:
    build = build_snapshot(objects, rules)
    for problem in build.problems:
        log.warning("%s", problem)
    return build.snapshot


MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def manifest_files(paths: Sequence[str | Path]) -> list[Path]:
    """Every manifest file under ``paths`` (a named file whatever its suffix), in order; a
    named path that does not exist is an error (a typo must not delete everything)."""
    found: list[Path] = []
    for root in map(Path, paths):
        if root.is_dir():
            found += [
                f for f in sorted(root.rglob("*")) if f.is_file() and f.suffix in MANIFEST_SUFFIXES
            ]
        elif root.exists():
            found.append(root)
        else:
            raise ManifestError(f"{root}: no such file or directory")
    return found


def load_file(path: Path) -> list[dict[str, Any]]:
    """The objects of one manifest file; an empty file is unreadable (see the module doc)."""
    try:
        blank = not path.read_bytes().strip()
    except OSError as e:
        raise ManifestError(f"{path}: cannot read: {e.strerror or e}") from e
    if blank:
        raise ManifestError(f"{path}:1: the file is empty (truncated?); remove it to delete")
    return [dict(m.obj) for m in load_manifests([path])]


class PerFileObjects:
    """Loads each file on its own and remembers each file's last good objects."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.paths = list(paths)
        self._last_good: dict[Path, list[dict[str, Any]]] = {}
        self.problems: dict[Path, str] = {}  # file -> why its last good objects are used

    def load(self) -> list[dict[str, Any]]:
        files = manifest_files(self.paths)
        objects: list[dict[str, Any]] = []
        problems: dict[Path, str] = {}
        for f in files:
            try:
                self._last_good[f] = load_file(f)
            except ManifestError as e:
                kept = len(self._last_good.get(f, []))
                problems[f] = f"{e}; " + (
                    f"keeping the {kept} objects it last gave" if kept else "it gave no objects yet"
                )
            objects += self._last_good.get(f, [])
        for f in set(self._last_good) - set(files):
            del self._last_good[f]  # removed: its objects go
        for f, problem in problems.items():
            if self.problems.get(f) != problem:
                log.warning("%s", problem)
        for f in set(self.problems) - set(problems):
            log.info("%s: readable again", f)
        self.problems = problems
        return objects


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

    def __init__(
        self,
        paths: Sequence[str | Path],
        interval: float = 1.0,
        rules: ValidationRules = DEFAULT_RULES,
    ) -> None:
        if not paths:
            raise ValueError("--source files needs at least one -f FILE_OR_DIR")
        self.paths = list(paths)
        self.interval = interval
        self.rules = rules  # the cluster's release: admitted exactly as its webhook admits
        self.objects = PerFileObjects(self.paths)
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
        return _snapshot(self.objects.load(), self.rules)

    def policy_uid(self, namespace: str, name: str) -> str | None:
        return None
