"""A local Kubernetes control plane (etcd + kube-apiserver) on loopback, envtest style.

Everything lives in one directory: certificates, etcd's data, logs, and ``kubeconfig`` for
an admin user (a client certificate in ``system:masters``). There are no nodes, no
controller-manager and no scheduler: enough to install CRDs and webhook configurations,
and to run admission against real objects.

The pids go into ``DIR/lab.json`` under ``"pids"`` so that ``mnp lab down --dir DIR`` can stop
them too.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mnp_lab.kube_binaries import KubeBinaries, ensure_binaries
from mnp_lab.lab_state import LAB_FILE, update_lab_pids
from mnp_lab.pki import CertificateAuthority, write_private
from mnp_lab.processes import free_port, log_tail

# Ceilings for polling, not expectations: a warm start takes a few seconds, but the machine
# may be busy compiling or running other tests.
_READY_TIMEOUT_S = 180.0
_STOP_TIMEOUT_S = 15.0

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


class KubeControlPlaneError(RuntimeError):
    """The control plane did not start, or a kubectl command failed."""


# --- processes --------------------------------------------------------------------------


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait, then SIGKILL; always reaps."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- the control plane ------------------------------------------------------------------


class KubeControlPlane:
    """etcd + kube-apiserver in ``dir``; ``start()``, ``stop()``, ``kubectl(...)``.

    Use as a context manager, or ``start()``/``stop()``.
    """

    def __init__(self, dir: Path, binaries: KubeBinaries | None = None) -> None:
        self.dir = Path(dir).resolve()
        self._binaries = binaries
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None
        self.etcd_port = 0
        self.apiserver_port = 0

    # --- paths ------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        """The CA that signed the API server's serving certificate and the admin client."""
        return self.dir / "pki" / "ca.crt"

    @property
    def lab_file(self) -> Path:
        return self.dir / LAB_FILE

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def binaries(self) -> KubeBinaries:
        if self._binaries is None:
            self._binaries = ensure_binaries()
        return self._binaries

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in (self._apiserver, self._etcd) if p is not None]

    # --- lifecycle --------------------------------------------------------------------
    def start(self) -> KubeControlPlane:
        """Start etcd and kube-apiserver and wait until /readyz answers.

        Builds the binaries first when the cache lacks them (see ``ensure_binaries``). On any
        failure both processes are stopped and the error carries the failing one's log tail.
        """
        if self._apiserver is not None:
            raise KubeControlPlaneError(f"the control plane in {self.dir} is already started")
        binaries = self.binaries
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_pki()
        try:
            self._start_etcd(binaries)
            self._start_apiserver(binaries)
            self._write_kubeconfig()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd (by pid), and drop them from lab.json."""
        stopped = self.pids
        for proc in (self._apiserver, self._etcd):
            if proc is not None:
                _terminate(proc)
        self._apiserver = None
        self._etcd = None
        if stopped and self.lab_file.exists():
            update_lab_pids(self.lab_file, add=[], remove=stopped)

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again on the same etcd, port and certificates.

        Clients keep working with the same kubeconfig once it is ready again; their open
        watches break, and the new server's watch cache starts from etcd's current revision.
        """
        if self._apiserver is None or self._etcd is None:
            raise KubeControlPlaneError(f"the control plane in {self.dir} is not started")
        old = self._apiserver
        _terminate(old)
        self._apiserver = None
        if self.lab_file.exists():
            update_lab_pids(self.lab_file, add=[], remove=[old.pid])
        try:
            self._start_apiserver(self.binaries, port=self.apiserver_port)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> KubeControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- kubectl ----------------------------------------------------------------------
    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this control plane; with ``check``, a failure raises with stderr."""
        argv = [str(self.binaries.kubectl), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(
            argv, input=input, capture_output=True, text=True, check=False, timeout=timeout
        )
        if check and result.returncode != 0:
            raise KubeControlPlaneError(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr.strip()}"
            )
        return result

    # --- steps ------------------------------------------------------------------------
    def _write_pki(self) -> None:
        pki = self.dir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority()
        self.ca_file.write_bytes(ca.cert_pem)
        serving = ca.issue_server(
            [
                "127.0.0.1",
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                str(next(ipaddress.ip_network(SERVICE_CLUSTER_IP_RANGE).hosts())),
            ]
        )
        (pki / "apiserver.crt").write_bytes(serving.cert_pem)
        write_private(pki / "apiserver.key", serving.key_pem)
        admin = ca.issue_client("mnp-lab-admin", organization="system:masters")
        (pki / "admin.crt").write_bytes(admin.cert_pem)
        write_private(pki / "admin.key", admin.key_pem)
        # Service-account tokens are signed with this key (ES256) and verified with it.
        sa_key = ec.generate_private_key(ec.SECP256R1())
        write_private(
            pki / "sa.key",
            sa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,  # "EC PRIVATE KEY"
                serialization.NoEncryption(),
            ),
        )
        (pki / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.dir / f"{name}.log", "wb")  # noqa: SIM115 - handed to the child
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                # Its own session: a Ctrl-C meant for the caller does not kill it mid-write.
                start_new_session=True,
            )
        except OSError as e:
            raise KubeControlPlaneError(f"cannot start {name} ({argv[0]}): {e}") from e
        finally:
            log.close()

    def _record(self, proc: subprocess.Popen[bytes]) -> None:
        update_lab_pids(self.lab_file, add=[proc.pid], remove=[])

    def _start_etcd(self, binaries: KubeBinaries) -> None:
        self.etcd_port = free_port()
        peer_port = free_port()
        peer_url = f"http://127.0.0.1:{peer_port}"
        client_url = f"http://127.0.0.1:{self.etcd_port}"
        self._etcd = self._spawn(
            "etcd",
            [
                str(binaries.etcd),
                "--name=lab",
                f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=lab={peer_url}",
                "--initial-cluster-state=new",
                # A throwaway test store: durability buys nothing and fsync costs seconds.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._record(self._etcd)

    def _start_apiserver(self, binaries: KubeBinaries, port: int = 0) -> None:
        self.apiserver_port = port or free_port()
        pki = self.dir / "pki"
        self._apiserver = self._spawn(
            "kube-apiserver",
            [
                str(binaries.kube_apiserver),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # Nothing here needs the `kubernetes` Service's endpoints, and from 1.37 the
                # server refuses a loopback advertise address unless their reconciler is off.
                "--endpoint-reconciler-type=none",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={self.ca_file}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                # The admin user is in system:masters, which RBAC always allows.
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                # No controller-manager issues service-account tokens here.
                "--disable-admission-plugins=ServiceAccount",
                # Fewer moving parts at start-up; nothing here needs fairness.
                "--enable-priority-and-fairness=false",
                # Close open watches on SIGTERM after 2 s; without it a connected informer
                # holds the shutdown until the SIGKILL ceiling (15 s) in stop and restart.
                "--shutdown-watch-termination-grace-period=2s",
                "--v=0",
            ],
        )
        self._record(self._apiserver)

    def _write_kubeconfig(self) -> None:
        pki = self.dir / "pki"

        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode("ascii")

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "mnp-lab",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": b64(self.ca_file),
                    },
                }
            ],
            "users": [
                {
                    "name": "mnp-lab-admin",
                    "user": {
                        "client-certificate-data": b64(pki / "admin.crt"),
                        "client-key-data": b64(pki / "admin.key"),
                    },
                }
            ],
            "contexts": [
                {"name": "mnp-lab", "context": {"cluster": "mnp-lab", "user": "mnp-lab-admin"}}
            ],
            "current-context": "mnp-lab",
        }
        # JSON is YAML, and kubectl reads either.
        write_private(self.kubeconfig, (json.dumps(config, indent=2) + "\n").encode())

    def _client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        pki = self.dir / "pki"
        ctx.load_cert_chain(pki / "admin.crt", pki / "admin.key")
        return ctx

    def _wait_ready(self) -> None:
        ctx = self._client_context()
        deadline = time.monotonic() + _READY_TIMEOUT_S
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            for name, proc in (("etcd", self._etcd), ("kube-apiserver", self._apiserver)):
                if proc is not None and proc.poll() is not None:
                    raise KubeControlPlaneError(
                        f"{name} exited with {proc.returncode} during start-up; "
                        f"the end of {self.dir / (name + '.log')}:\n"
                        f"{log_tail(self.dir / (name + '.log'))}"
                    )
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", context=ctx, timeout=5) as r:
                    if r.status == 200:
                        return
                    last_error = f"HTTP {r.status}"
            except urllib.error.HTTPError as e:
                last_error = f"HTTP {e.code}: {e.read()[:500].decode(errors='replace')}"
            except (urllib.error.URLError, OSError) as e:
                last_error = str(e)
            time.sleep(0.2)
        raise KubeControlPlaneError(
            f"kube-apiserver at {self.url} was not ready after {_READY_TIMEOUT_S:.0f} s "
            f"(last answer: {last_error}); the end of {self.dir / 'kube-apiserver.log'}:\n"
            f"{log_tail(self.dir / 'kube-apiserver.log')}"
        )
