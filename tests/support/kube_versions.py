"""Control-plane binaries per tested Kubernetes release.

The default release (hack/kube-binaries/go.mod) has kube-apiserver, kubectl and etcd; every
other pinned minor (hack/kube-binaries/v1.NN/) has only kube-apiserver, run with the default
etcd and kubectl (kubectl v1.35 talks to kube-apiserver v1.37 for what the tests use).

``KubeControlPlane`` starts every release the same way (its arguments hold what 1.37 needs:
``--endpoint-reconciler-type=none`` with a loopback advertise address).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mnp_lab.kube_binaries import KubeBinaries, ensure_binaries
from mnp_lab.lab_files import BUILD_SCRIPT

DEFAULT_MINOR = "1.35"
OTHER_MINORS = ("1.37",)
TESTED_MINORS = (DEFAULT_MINOR, *OTHER_MINORS)


@dataclass(frozen=True)
class OtherApiServer(KubeBinaries):
    """The default binaries, with another release's kube-apiserver."""

    apiserver: Path = Path()

    @property
    def kube_apiserver(self) -> Path:
        return self.apiserver


def binaries_for(minor: str) -> KubeBinaries:
    """Build (unless cached) and return the binaries for one tested minor release."""
    default = ensure_binaries(progress=sys.stderr)
    if minor == DEFAULT_MINOR:
        return default
    build = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--minor", minor],
        stdout=sys.stderr,
        stderr=subprocess.STDOUT,
        check=False,
    )
    if build.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} --minor {minor} failed (exit {build.returncode})")
    bin_dir = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--minor", minor, "--print-bin-dir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return OtherApiServer(default.bin_dir, Path(bin_dir) / "kube-apiserver")
