"""kube-apiserver, kubectl and etcd for the local control plane, built from Go modules.

``hack/build-kube-binaries.sh`` (shipped with the lab, see ``mnp_lab.lab_files``) owns the
versions (pinned in ``hack/kube-binaries/``), the cache directory and the decision to skip
an up-to-date build; this module only runs it, relays its progress, and hands back the
paths. A failed build raises with the build's own error: nothing falls back to binaries
found elsewhere on the machine.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from mnp_lab.build_scripts import print_bin_dir, require_script, run_build_script
from mnp_lab.lab_files import BUILD_SCRIPT

BINARY_NAMES = ("kube-apiserver", "kubectl", "etcd")

# How much of a failed build's output the exception carries.


class KubeBinariesError(RuntimeError):
    """The binaries could not be built or found; the message says why and what to do."""


@dataclass(frozen=True)
class KubeBinaries:
    """Where the built binaries are."""

    bin_dir: Path

    @property
    def kube_apiserver(self) -> Path:
        return self.bin_dir / "kube-apiserver"

    @property
    def kubectl(self) -> Path:
        return self.bin_dir / "kubectl"

    @property
    def etcd(self) -> Path:
        return self.bin_dir / "etcd"

    @property
    def versions(self) -> dict[str, str]:
        """The VERSIONS file the build wrote: kubernetes, etcd and go."""
        entries: dict[str, str] = {}
        for line in (self.bin_dir / "VERSIONS").read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                entries[key.strip()] = value.strip()
        return entries

    def missing(self) -> list[str]:
        return [name for name in BINARY_NAMES if not os.access(self.bin_dir / name, os.X_OK)]


def _require_script() -> Path:
    return require_script(BUILD_SCRIPT, KubeBinariesError)


def pinned_bin_dir() -> Path:
    """The cache directory for the pinned versions (whether or not it is built yet)."""
    return print_bin_dir(BUILD_SCRIPT, KubeBinariesError)


def ensure_binaries(progress: TextIO | None = sys.stderr) -> KubeBinaries:
    """Build the binaries unless the cache already holds the pinned versions.

    The build script's progress lines are copied to ``progress`` as they come (a cold build
    takes a long time on 2 cores). Raises KubeBinariesError with the tail of the build's
    output when it fails.
    """
    run_build_script(
        _require_script(), "kube-apiserver, kubectl and etcd", KubeBinariesError, progress
    )
    binaries = KubeBinaries(pinned_bin_dir())
    missing = binaries.missing()
    if missing:
        raise KubeBinariesError(
            f"{BUILD_SCRIPT} succeeded but {', '.join(missing)} is missing from "
            f"{binaries.bin_dir}; rerun it with --force"
        )
    return binaries
