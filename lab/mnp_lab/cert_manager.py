"""A real cert-manager (controller and cainjector) as local processes against a KubeControlPlane.

``hack/build-cert-manager-binaries.sh`` (shipped with the lab, see ``mnp_lab.lab_files``) owns
the pinned version, the cache directory and the CRDs beside the binaries; this module runs it,
installs the CRDs server-side, starts both processes with their logs in a directory, and stops
them. A process that exits early is reported with the tail of its log, whatever step was
waiting on it. ``mnp lab up --kube --cert-manager`` and the e2e tests both use it.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

from mnp_lab.build_scripts import print_bin_dir, require_script, run_build_script
from mnp_lab.kube import KubeControlPlane
from mnp_lab.lab_files import CERT_MANAGER_BUILD_SCRIPT
from mnp_lab.processes import log_tail

BUILD_SCRIPT = CERT_MANAGER_BUILD_SCRIPT

CONTROLLER = "cert-manager-controller"
CAINJECTOR = "cert-manager-cainjector"
CRD_NAMES = (
    "certificaterequests.cert-manager.io",
    "certificates.cert-manager.io",
    "clusterissuers.cert-manager.io",
    "issuers.cert-manager.io",
    "challenges.acme.cert-manager.io",
    "orders.acme.cert-manager.io",
)
# Each main logs this (through klog) once its informers and controllers are set up.
_STARTED_MARKERS = {CONTROLLER: "starting controllers", CAINJECTOR: "starting cainjector"}

# Ceilings for polling, not expectations: the machine may be busy compiling.
_START_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 15.0
_POLL_INTERVAL_S = 0.2

T = TypeVar("T")


@dataclass(frozen=True)
class LabCertManagerOptions:
    """What ``mnp lab up --kube --cert-manager`` asks of cert-manager: cainjector's feature
    gates (``CAInjectorMerging=false`` shows a renewal that changes the trusted CA set)."""

    cainjector_feature_gates: str = ""


class CertManagerError(RuntimeError):
    """cert-manager could not be built, started or waited on; the message says why."""


@dataclass(frozen=True)
class CertManagerBinaries:
    """Where the build put the binaries (``bin/``) and the CRDs (``crds/``, beside it)."""

    bin_dir: Path

    @property
    def controller(self) -> Path:
        return self.bin_dir / CONTROLLER

    @property
    def cainjector(self) -> Path:
        return self.bin_dir / CAINJECTOR

    @property
    def crd_dir(self) -> Path:
        return self.bin_dir.parent / "crds"

    @property
    def versions(self) -> dict[str, str]:
        """The VERSIONS file the build wrote: cert-manager and go."""
        lines = (self.bin_dir / "VERSIONS").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def missing(self) -> list[str]:
        """The binaries (and the CRD directory) the build should have left but did not."""
        absent = [p.name for p in (self.controller, self.cainjector) if not os.access(p, os.X_OK)]
        return absent + ([] if self.crd_dir.is_dir() else ["crds/"])


def _require_script() -> Path:
    return require_script(BUILD_SCRIPT, CertManagerError)


def pinned_bin_dir() -> Path:
    """The cache directory for the pinned version (whether or not it is built yet)."""
    return print_bin_dir(BUILD_SCRIPT, CertManagerError)


def ensure_cert_manager_binaries(progress: TextIO | None = sys.stderr) -> CertManagerBinaries:
    """Build the binaries unless the cache holds the pinned version; relay the progress.

    The build script's progress lines are copied to ``progress`` as they come (a cold build
    takes minutes on 2 cores). Raises CertManagerError with the tail of the build's output
    when it fails.
    """
    run_build_script(
        _require_script(), "cert-manager's controller and cainjector", CertManagerError, progress
    )
    binaries = CertManagerBinaries(pinned_bin_dir())
    missing = binaries.missing()
    if missing:
        raise CertManagerError(
            f"{BUILD_SCRIPT} succeeded but {', '.join(missing)} is missing from "
            f"{binaries.bin_dir}; rerun it with --force"
        )
    return binaries


def install_crds(kube: KubeControlPlane, binaries: CertManagerBinaries) -> None:
    """Apply the CRDs server-side (the largest are too big for the last-applied annotation)."""
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(binaries.crd_dir))
    kube.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        *(f"customresourcedefinition/{name}" for name in CRD_NAMES),
    )


class CertManager:
    """The controller and cainjector against ``kube``, with their logs in ``dir``.

    Use as a context manager, or ``start()``/``stop()``.
    """

    def __init__(
        self,
        kube: KubeControlPlane,
        dir: Path,
        binaries: CertManagerBinaries,
        *,
        cluster_resource_namespace: str = "kube-system",
        feature_gates: str = "",
        cainjector_feature_gates: str = "",
    ) -> None:
        self.kube = kube
        self.dir = Path(dir).resolve()
        self.binaries = binaries
        self.cluster_resource_namespace = cluster_resource_namespace
        self.feature_gates = feature_gates
        # cainjector's gates (CAInjectorMerging) are unknown to the controller, which
        # refuses them, so they are passed to cainjector alone.
        self.cainjector_feature_gates = cainjector_feature_gates
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def log_file(self, name: str) -> Path:
        return self.dir / f"{name}.log"

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self._procs.values()]

    @property
    def processes(self) -> dict[str, int]:
        """The running processes' pids by name (for a lab's ``lab.json``)."""
        return {name: proc.pid for name, proc in self._procs.items()}

    def start(self) -> CertManager:
        """Install the CRDs, then start both processes and wait until each says it started."""
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            install_crds(self.kube, self.binaries)
            common = [f"--kubeconfig={self.kube.kubeconfig}", "--leader-elect=false"]
            if self.feature_gates:
                common.append(f"--feature-gates={self.feature_gates}")
            self._spawn(
                CONTROLLER,
                [
                    str(self.binaries.controller),
                    *common,
                    f"--cluster-resource-namespace={self.cluster_resource_namespace}",
                ],
            )
            cainjector_gates = ",".join(
                gates for gates in (self.feature_gates, self.cainjector_feature_gates) if gates
            )
            cainjector_args = [f"--kubeconfig={self.kube.kubeconfig}", "--leader-elect=false"]
            if cainjector_gates:
                cainjector_args.append(f"--feature-gates={cainjector_gates}")
            self._spawn(CAINJECTOR, [str(self.binaries.cainjector), *cainjector_args])
            for name, marker in _STARTED_MARKERS.items():
                self.wait_for(
                    functools.partial(self._logged, name, marker),
                    f"{name} to log {marker!r}",
                    timeout=_START_TIMEOUT_S,
                )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> dict[str, int]:
        """SIGTERM each process, SIGKILL what still runs after a while; reap both.

        Returns each process's exit status (0 after a clean shutdown, -9 after a SIGKILL).
        """
        procs, self._procs = self._procs, {}
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return {name: proc.returncode for name, proc in procs.items()}

    def __enter__(self) -> CertManager:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def check_running(self) -> None:
        """Raise with the log's tail if either process has exited."""
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise CertManagerError(
                    f"{name} exited with {proc.returncode}; the end of "
                    f"{self.log_file(name)}:\n{log_tail(self.log_file(name))}"
                )

    def wait_for(self, probe: Callable[[], T | None], what: str, timeout: float = 120.0) -> T:
        """Poll ``probe`` until it returns something truthy; fail early if a process died.

        The timeout is a ceiling for a busy machine, not a performance expectation.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.check_running()
            result = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise CertManagerError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(_POLL_INTERVAL_S)

    def _logged(self, name: str, marker: str) -> bool:
        return marker in self.log_file(name).read_text(errors="replace")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.log_file(name), "wb")  # noqa: SIM115 - handed to the child
        try:
            self._procs[name] = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                # cainjector upstream reads only $KUBECONFIG; ours honours both.
                env={**os.environ, "KUBECONFIG": str(self.kube.kubeconfig)},
                # Its own session: a Ctrl-C meant for the caller does not kill it mid-write.
                start_new_session=True,
            )
        except OSError as e:
            raise CertManagerError(f"cannot start {name} ({argv[0]}): {e}") from e
        finally:
            log.close()


# --- config/'s cert-manager objects in a loopback sandbox ---------------------------------

CERT_MANAGER_KINDS = ("Issuer", "Certificate")
LOOPBACK_IP = "127.0.0.1"


def loopback_issuance(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """config/'s Issuers and Certificates, changed only where a loopback sandbox must be:
    every non-CA Certificate also names ``127.0.0.1``, the address the API server dials."""
    selected = [copy.deepcopy(o) for o in objects if o.get("kind") in CERT_MANAGER_KINDS]
    for obj in selected:
        spec = obj["spec"]
        if obj["kind"] == "Certificate" and not spec.get("isCA"):
            spec["ipAddresses"] = [*spec.get("ipAddresses", []), LOOPBACK_IP]
    return selected


def trigger_renewal(kube: KubeControlPlane, namespace: str, name: str) -> None:
    """Renew a Certificate now, as ``cmctl renew`` does: an ``Issuing=True`` condition with
    reason ``ManuallyTriggered``, added through the status subresource."""
    issuing = {
        "type": "Issuing",
        "status": "True",
        "reason": "ManuallyTriggered",
        "message": "Certificate re-issuance manually triggered",
        "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    patch = [{"op": "add", "path": "/status/conditions/-", "value": issuing}]
    kube.kubectl(
        "patch", "certificate", name, "-n", namespace,
        "--subresource=status", "--type=json", f"--patch={json.dumps(patch)}",
    )  # fmt: skip


def certificate_settled(
    kube: KubeControlPlane, namespace: str, name: str, revision: int
) -> dict[str, Any] | None:
    """The Certificate when it is Ready at ``revision`` with no issuance in progress."""
    result = kube.kubectl("get", "certificate", name, "-n", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    cert: dict[str, Any] = json.loads(result.stdout)
    status = cert.get("status", {})
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    settled = (
        conditions.get("Ready") == "True"
        and "Issuing" not in conditions
        and status.get("revision") == revision
    )
    return cert if settled else None
