"""A full local sandbox: kube-apiserver + both webhooks + the enforcer + the lab's OVN.

``KubeLab(dir).start(manifests)`` brings up, all in ``dir``:

- the OVN sandbox (``OvnSandbox``) and etcd + kube-apiserver (``KubeControlPlane``);
- the CRDs from ``config/crd`` (the lab's package data, ``mnp_lab.lab_files``), established;
- ``mnp webhook`` with a lab CA, and the Validating and Mutating WebhookConfigurations
  from ``config/`` with only ``clientConfig`` patched (a loopback URL and the caBundle);
  or, with ``cert_manager``, as in a cluster: cert-manager's controller and cainjector,
  ``config/``'s Issuers and Certificates (plus a ``127.0.0.1`` SAN), the issued Secret
  projected into the webhook's certificate directory by ``mnp lab secret-projector`` (the
  kubelet's ``..data`` swap), and configurations without a caBundle, which cainjector fills;
- ``mnp enforcer --source kube`` writing into the sandbox's NB;
- ``mnp lab pod-controller``, the stand-in for OVN-Kubernetes (pod addresses and ports);
- then the manifests, with kubectl: Namespaces and NADs, then the rest, then policies.

Every process is detached (its own session, log in ``dir``) and its pid recorded in
``dir/lab.json``, so ``mnp lab down`` stops them even after the starting process is gone;
``KubeLab.attach(dir)`` re-opens a running lab from another process.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from enforcer.compile import compile as compile_desired
from enforcer.diff import plan, read_state
from enforcer.ovsdb import connect
from mnp.admission import VALIDATING_WEBHOOK_NAME
from mnp.manifests import Manifest, load_manifests
from mnp.model import MNP_KIND, NAD_KIND
from mnp.snapshot import SnapshotBuild, build_snapshot
from mnp_lab.addressing import fill_pod_networks
from mnp_lab.cert_manager import (
    CertManager,
    LabCertManagerOptions,
    certificate_settled,
    ensure_cert_manager_binaries,
    loopback_issuance,
)
from mnp_lab.connectivity import ProbePort
from mnp_lab.kube import KubeControlPlane, KubeControlPlaneError
from mnp_lab.kube_binaries import KubeBinaries, ensure_binaries
from mnp_lab.lab_files import CONFIG_DIR
from mnp_lab.lab_state import LAB_FILE, read_lab_state, update_lab_pids, write_lab_state
from mnp_lab.ovn import OvnSandbox, pid_alive, stop_pid
from mnp_lab.pki import CertificateAuthority
from mnp_lab.processes import free_port, log_tail
from mnp_lab.topology import LAB_MARK, plan_topology
from mnp_lab.trace import NetworkMatrix, TraceDaemon, trace_matrix

WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
CRD_NAMES = (
    "network-attachment-definitions.k8s.cni.cncf.io",
    "multi-networkpolicies.k8s.cni.cncf.io",
)
# Everything the lab reads back from the API server to model the cluster.
MODELLED_RESOURCES = (
    "namespaces,pods,network-attachment-definitions.k8s.cni.cncf.io,"
    "multi-networkpolicies.k8s.cni.cncf.io"
)
# During a CA rotation, objects with this label skip the webhooks once the API server has
# taken the new configuration: the one way to observe that it did (see rotate_webhook_ca).
ROTATION_PROBE_LABEL = "lab.mnp.k8s.cni.cncf.io/rotation-probe"
PROBE_NAMESPACE = "default"

# The lab's stand-in for the kubelet's secret volume: a lab process named like this.
SECRET_PROJECTOR = "secret-projector"

# Ceilings for polling, not expectations: on a busy 2-core machine things take longer.
_READY_TIMEOUT_S = 90.0
_CONVERGE_TIMEOUT_S = 90.0
_POLL_S = 0.1


class KubeLabError(RuntimeError):
    """The lab could not start, or is not in the state asked for; the message says why."""


@dataclass(frozen=True)
class KubectlFailure:
    """A kubectl command of the lab that failed (for example a denied policy in -f)."""

    command: str
    stderr: str


def mnp_command() -> list[str]:
    """``mnp`` through the interpreter running the lab (the venv's)."""
    return [sys.executable, "-m", "mnp"]


class KubeLab:
    """The whole sandbox in ``dir``. ``start(manifests)``, ``stop()``, ``kubectl(...)``,
    ``trace()``; ``attach(dir)`` for a lab another process started."""

    def __init__(
        self,
        dir: Path,
        binaries: KubeBinaries | None = None,
        progress: TextIO | None = sys.stderr,
        cert_manager: LabCertManagerOptions | None = None,
    ) -> None:
        self.dir = Path(dir).resolve()
        # With options, cert-manager issues the webhook's certificate and injects its CA.
        self.cert_manager_options = cert_manager
        self._cert_manager: CertManager | None = None
        self.serving_certificate: tuple[str, str] = ("", "")  # (namespace, name) if cert-manager
        self.progress = progress
        self._binaries = binaries
        self.sandbox = OvnSandbox(self.dir)
        self.plane = KubeControlPlane(self.dir, binaries)
        self.webhook_port = 0
        self.webhook_health_port = 0
        self._ca: CertificateAuthority | None = None
        self._ca_bundle = b""
        self._cert_generation = 0
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self.failures: list[KubectlFailure] = []  # kubectl failures while applying manifests

    # --- paths and facts ------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.plane.kubeconfig

    @property
    def lab_file(self) -> Path:
        return self.dir / LAB_FILE

    @property
    def webhook_url(self) -> str:
        return f"https://127.0.0.1:{self.webhook_port}"

    @property
    def webhook_cert_dir(self) -> Path:
        """What ``mnp webhook --cert-dir`` reads: ``tls.crt``/``tls.key`` via ``..data``,
        swapped atomically the way the kubelet updates a mounted Secret."""
        return self.dir / "webhook-tls"

    @property
    def ca_bundle(self) -> bytes:
        """The caBundle the lab installed in the webhook configurations (PEM); empty with
        cert-manager, whose cainjector sets it."""
        return self._ca_bundle

    @property
    def cert_manager_dir(self) -> Path:
        """cert-manager's working directory and logs."""
        return self.dir / "cert-manager"

    @property
    def binaries(self) -> KubeBinaries:
        if self._binaries is None:
            self._binaries = ensure_binaries(progress=self.progress)
        return self._binaries

    def pids(self) -> dict[str, int]:
        """The lab's own processes (not OVN's, not the control plane's) by name."""
        kube = read_lab_state(self.lab_file).get("kube") or {}
        procs = kube.get("processes") or {}
        return {k: v for k, v in procs.items() if isinstance(v, int)}

    def _say(self, text: str) -> None:
        if self.progress is not None:
            self.progress.write(f"[mnp lab] {text}\n")
            self.progress.flush()

    # --- lifecycle ------------------------------------------------------------------
    def start(self, manifests: Sequence[str | Path] = (), strict: bool = True) -> KubeLab:
        """Start everything, apply ``manifests`` and wait until pods have ports and the
        enforcer has caught up. With ``strict``, a failed kubectl apply raises (after
        stopping the lab); otherwise failures are kept in ``self.failures``."""
        load_manifests([str(p) for p in manifests])  # unreadable input fails before anything runs
        binaries = self.binaries
        self.plane = KubeControlPlane(self.dir, binaries)
        started = time.monotonic()
        try:
            self._start_all()
            self._say(f"ready in {time.monotonic() - started:.1f} s")
            if manifests:
                self.failures = self.apply(manifests)
                if strict and self.failures:
                    raise KubeLabError(
                        "applying the manifests failed:\n"
                        + "\n".join(f.stderr for f in self.failures)
                    )
                self.wait_converged()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_all(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if read_lab_state(self.lab_file).get("kube"):
            live = [p for p in read_lab_state(self.lab_file).get("pids") or [] if pid_alive(p)]
            if live:
                raise KubeLabError(
                    f"a lab is already running in {self.dir} (pids {live}); "
                    f"stop it with `mnp lab down --dir {self.dir}`"
                )
        write_lab_state(self.lab_file, manifests=None, kube={"kubeconfig": str(self.kubeconfig)})
        # A fresh NB: rows of an earlier lab in this directory would mislead the trace.
        self.sandbox.stop()
        self.sandbox.start()
        self._say("starting etcd and kube-apiserver")
        # A data dir left by a stopped lab belongs to another cluster id.
        _remove_tree(self.dir / "etcd")
        self.plane.start()
        self._say(f"kube-apiserver ready at {self.plane.url}; installing the CRDs")
        self.kubectl("apply", "-f", str(CONFIG_DIR / "crd"))
        self.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            *(f"customresourcedefinition/{n}" for n in CRD_NAMES),
        )
        _remove_tree(self.webhook_cert_dir)
        if self.cert_manager_options is not None:
            self._start_cert_manager(self.cert_manager_options)
        else:
            self._write_webhook_certificate(new_ca=True)
            assert self._ca is not None
            self._ca_bundle = self._ca.cert_pem
        self.webhook_port = free_port()
        self.webhook_health_port = free_port()
        self._save_kube_state()
        # The three Python processes import for a second or two each: start them together.
        self._spawn_webhook()
        self._spawn(
            "enforcer",
            [
                "enforcer",
                "--source=kube",
                f"--kubeconfig={self.kubeconfig}",
                f"--ovn-nb={self.sandbox.nb_remote}",
                "--no-leader-elect",  # the lab's only enforcer (and no mnp-system namespace)
            ],
        )
        self._spawn("pod-controller", ["lab", "pod-controller", f"--dir={self.dir}"])
        self._wait_webhook_ready()
        self._say("webhook ready; installing the webhook configurations")
        self.install_webhook_configurations()
        if self.cert_manager_options is not None:
            self._say("waiting for cainjector to fill the caBundle")
        self._wait_webhooks_called(mutating=True)

    def _start_cert_manager(self, options: LabCertManagerOptions) -> None:
        """cert-manager issues config/'s serving Certificate; once its Secret exists, a
        projector keeps it in the webhook's certificate directory, as a kubelet would."""
        binaries = ensure_cert_manager_binaries(progress=self.progress)
        self._say("starting cert-manager's controller and cainjector")
        self._cert_manager = CertManager(
            self.plane,
            self.cert_manager_dir,
            binaries,
            cainjector_feature_gates=options.cainjector_feature_gates,
        )
        try:
            self._cert_manager.start()
        finally:  # recorded even when it failed half-way: `mnp lab down` must find them
            update_lab_pids(self.lab_file, add=self._cert_manager.pids, remove=[])
            self._save_kube_state()
        config = self._rendered_config()
        issuance = loopback_issuance(config)
        namespaces = [o for o in config if o.get("kind") == "Namespace"]
        for group in (namespaces, issuance):
            doc = {"apiVersion": "v1", "kind": "List", "items": group}
            self.kubectl("apply", "-f", "-", input=json.dumps(doc))
        serving = [o for o in issuance if o["kind"] == "Certificate" and not o["spec"].get("isCA")]
        if len(serving) != 1:
            raise KubeLabError(f"{CONFIG_DIR} should hold one serving Certificate (not a CA)")
        meta, secret = serving[0]["metadata"], serving[0]["spec"]["secretName"]
        self.serving_certificate = (meta["namespace"], meta["name"])
        self._say(f"waiting for cert-manager to issue {meta['namespace']}/{meta['name']}")
        self._cert_manager.wait_for(
            lambda: certificate_settled(self.plane, meta["namespace"], meta["name"], 1),
            f"Certificate {meta['namespace']}/{meta['name']} to be issued",
            timeout=_READY_TIMEOUT_S * 2,
        )
        self._spawn(
            SECRET_PROJECTOR,
            [
                "lab",
                SECRET_PROJECTOR,
                f"--kubeconfig={self.kubeconfig}",
                f"--namespace={meta['namespace']}",
                f"--name={secret}",
                f"--dir={self.webhook_cert_dir}",
            ],
        )
        self._wait_projected()

    def _wait_projected(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not (self.webhook_cert_dir / "tls.key").exists():
            self._check_alive(SECRET_PROJECTOR)
            if time.monotonic() > deadline:
                raise KubeLabError(
                    f"the serving Secret never reached {self.webhook_cert_dir}; the end of "
                    f"{self.dir / (SECRET_PROJECTOR + '.log')}:\n"
                    f"{log_tail(self.dir / (SECRET_PROJECTOR + '.log'))}"
                )
            time.sleep(_POLL_S)

    def stop(self) -> None:
        """Stop every process of the lab (by pid, last started first) and OVN."""
        lab = read_lab_state(self.lab_file)
        for name, proc in list(self._children.items()):
            _stop_child(proc)
            self._children.pop(name)
        if self._cert_manager is not None:
            stopped = self._cert_manager.pids
            self._cert_manager.stop()
            self._cert_manager = None
            if self.lab_file.exists():
                update_lab_pids(self.lab_file, add=[], remove=stopped)
            lab = read_lab_state(self.lab_file)
        self.plane.stop()
        for pid in reversed([p for p in lab.get("pids") or [] if isinstance(p, int)]):
            stop_pid(pid)
        TraceDaemon(self.sandbox).stop()
        self.sandbox.stop()
        if self.lab_file.exists():
            write_lab_state(self.lab_file, pids=[], kube=None)

    @classmethod
    def attach(cls, dir: Path, progress: TextIO | None = sys.stderr) -> KubeLab:
        """Re-open a lab started by ``mnp lab up --kube`` (maybe in another process)."""
        lab = cls(dir, progress=progress)
        kube = read_lab_state(lab.lab_file).get("kube")
        if not isinstance(kube, dict):
            raise KubeLabError(
                f"no Kubernetes lab in {lab.dir}: start one with "
                f"`mnp lab up --dir {dir} --kube -f ...`"
            )
        lab.webhook_port = int(kube.get("webhook_port") or 0)
        lab.webhook_health_port = int(kube.get("webhook_health_port") or 0)
        lab._ca_bundle = base64.b64decode(kube.get("ca_bundle") or "")
        serving = kube.get("cert_manager_certificate")
        if isinstance(serving, list) and len(serving) == 2:
            lab.cert_manager_options = LabCertManagerOptions(
                str(kube.get("cert_manager_feature_gates") or "")
            )
            lab.serving_certificate = (str(serving[0]), str(serving[1]))
        return lab

    def __enter__(self) -> KubeLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- processes ------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log_path = self.dir / f"{name}.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with log_path.open("ab") as log:
            try:
                proc = subprocess.Popen(
                    [*mnp_command(), *args],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.dir,
                    env=env,
                    # Its own session: it outlives `mnp lab up` and a Ctrl-C meant for it.
                    start_new_session=True,
                )
            except OSError as e:
                raise KubeLabError(f"cannot start mnp {args[0]}: {e}") from e
        self._children[name] = proc
        update_lab_pids(self.lab_file, add=[proc.pid], remove=[])
        self._save_kube_state()
        return proc

    def _spawn_webhook(self) -> None:
        self._spawn(
            "webhook",
            [
                "webhook",
                f"--cert-dir={self.webhook_cert_dir}",
                f"--kubeconfig={self.kubeconfig}",
                "--host=127.0.0.1",
                f"--port={self.webhook_port}",
                f"--health-port={self.webhook_health_port}",
                "--cert-poll-interval=0.2",
            ],
        )

    def _save_kube_state(self) -> None:
        recorded = read_lab_state(self.lab_file).get("kube") or {}
        state = {
            "kubeconfig": str(self.kubeconfig),
            # An attached lab does not know the port; keep what the starter recorded.
            "apiserver": self.plane.url if self.plane.apiserver_port else recorded.get("apiserver"),
            "webhook_port": self.webhook_port,
            "webhook_health_port": self.webhook_health_port,
            "ca_bundle": base64.b64encode(self._ca_bundle).decode(),
            "processes": {
                **self.pids(),
                **(self._cert_manager.processes if self._cert_manager else {}),
                **{n: p.pid for n, p in self._children.items()},
            },
        }
        if self.cert_manager_options is not None:
            state["cert_manager_certificate"] = list(self.serving_certificate)
            state["cert_manager_feature_gates"] = self.cert_manager_options.cainjector_feature_gates
        write_lab_state(self.lab_file, kube=state)

    def _forget(self, name: str) -> None:
        pid = self.pids().get(name)
        if pid is not None:
            update_lab_pids(self.lab_file, add=[], remove=[pid])
            kube = read_lab_state(self.lab_file).get("kube") or {}
            kube.get("processes", {}).pop(name, None)
            write_lab_state(self.lab_file, kube=kube)

    def _check_alive(self, name: str) -> None:
        proc = self._children.get(name)
        if proc is not None and proc.poll() is not None:
            raise KubeLabError(
                f"mnp {name} exited with {proc.returncode}; the end of "
                f"{self.dir / (name + '.log')}:\n{log_tail(self.dir / (name + '.log'))}"
            )

    def stop_webhook(self) -> None:
        """Stop ``mnp webhook`` (the configurations stay: the API server's failurePolicy
        decides what happens to requests meanwhile)."""
        pid = self.pids().get("webhook")
        proc = self._children.pop("webhook", None)
        if proc is not None:
            _stop_child(proc)
        elif pid is not None:
            stop_pid(pid)
        self._forget("webhook")

    def start_webhook(self) -> None:
        """Start ``mnp webhook`` again on the same port and wait until the API server's
        calls reach it."""
        self._spawn_webhook()
        self._wait_webhook_ready()
        self._wait_webhooks_called(mutating=False)

    # --- certificates and webhook configurations --------------------------------------
    def _write_webhook_certificate(self, new_ca: bool) -> bytes:
        """A serving certificate for 127.0.0.1 (from a new CA if asked), swapped in
        atomically; returns the certificate PEM."""
        if new_ca or self._ca is None:
            self._ca = CertificateAuthority(f"mnp lab webhook CA {self._cert_generation}")
        pem = self._ca.issue_server(["127.0.0.1", "localhost"])
        self._cert_generation += 1
        certs = self.webhook_cert_dir
        certs.mkdir(parents=True, exist_ok=True)
        generation = certs / f"..{self._cert_generation}"
        generation.mkdir()
        (generation / "tls.crt").write_bytes(pem.cert_pem)
        fd = os.open(generation / "tls.key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem.key_pem)
        (generation / "ca.crt").write_bytes(self._ca.cert_pem)
        link = certs / "..data_tmp"
        link.unlink(missing_ok=True)
        link.symlink_to(generation.name)
        link.replace(certs / "..data")
        for name in ("tls.crt", "tls.key", "ca.crt"):
            if not (certs / name).is_symlink():
                (certs / name).symlink_to(f"..data/{name}")
        return pem.cert_pem

    def _rendered_config(self) -> list[dict[str, Any]]:
        """config/ as ``kubectl kustomize`` renders it."""
        rendered = self.kubectl("kustomize", str(CONFIG_DIR)).stdout
        return [doc for doc in yaml.safe_load_all(rendered) if isinstance(doc, dict)]

    def webhook_configurations(
        self, ca_bundle: bytes | None, probe_generation: str | None = None
    ) -> list[dict[str, Any]]:
        """config/'s webhook configurations with only ``clientConfig`` replaced (plus, during
        a CA rotation, an objectSelector that lets probe objects skip the webhook). With
        ``ca_bundle`` None there is no caBundle: cainjector sets it, as in a cluster."""
        configs = [doc for doc in self._rendered_config() if doc.get("kind") in WEBHOOK_KINDS]
        if len(configs) != len(WEBHOOK_KINDS):
            raise KubeLabError(f"{CONFIG_DIR} should render one of each of {WEBHOOK_KINDS}")
        for config in configs:
            for hook in config["webhooks"]:
                path = hook["clientConfig"]["service"].get("path", "/")
                hook["clientConfig"] = {"url": f"{self.webhook_url}{path}"}
                if ca_bundle is not None:
                    hook["clientConfig"]["caBundle"] = base64.b64encode(ca_bundle).decode()
                if probe_generation is not None:
                    hook["objectSelector"] = {
                        "matchExpressions": [
                            {
                                "key": ROTATION_PROBE_LABEL,
                                "operator": "NotIn",
                                "values": [probe_generation],
                            }
                        ]
                    }
        return configs

    def install_webhook_configurations(
        self, ca_bundle: bytes | None = None, probe_generation: str | None = None
    ) -> None:
        if self.cert_manager_options is not None:
            if ca_bundle is not None or probe_generation is not None:
                raise KubeLabError("with cert-manager, cainjector owns the caBundle")
            configs = self.webhook_configurations(None)
        else:
            ca_bundle = ca_bundle if ca_bundle is not None else self._ca_bundle
            configs = self.webhook_configurations(ca_bundle, probe_generation)
            self._ca_bundle = ca_bundle
        doc = {"apiVersion": "v1", "kind": "List", "items": configs}
        self.kubectl("apply", "-f", "-", input=json.dumps(doc))
        self._save_kube_state()

    def rotate_webhook_certificate(self) -> None:
        """A new serving certificate from the same CA; returns once the webhook serves it."""
        if self._ca is None:
            raise KubeLabError("only the KubeLab that started the lab holds its CA's key")
        cert = self._write_webhook_certificate(new_ca=False)
        self._wait_serving(cert)

    def rotate_webhook_ca(self, after_step: Callable[[str], None] | None = None) -> None:
        """Rotate the CA and the serving certificate with no failed request in between.

        1. "bundle": caBundle = old CA + new CA in both configurations (what a cainjector
           does when the CA Secret carries both), once the API server uses it;
        2. "serving": the webhook serves a certificate from the new CA;
        3. "new-ca": caBundle = the new CA alone (the shipped configuration again).

        ``after_step`` is called with each step's name once it is done (tests use it to
        see requests pass in every phase).
        """
        if self.cert_manager_options is not None:
            raise KubeLabError("with cert-manager, renew the Certificate instead")
        old_bundle = self._ca_bundle
        self._cert_generation += 1
        generation = str(self._cert_generation)
        new_ca = CertificateAuthority(f"mnp lab webhook CA {generation}")
        self.install_webhook_configurations(old_bundle + new_ca.cert_pem, generation)
        self._wait_configuration_taken(generation)
        if after_step is not None:
            after_step("bundle")
        self._ca = new_ca
        cert = self._write_webhook_certificate(new_ca=False)
        self._wait_serving(cert)
        if after_step is not None:
            after_step("serving")
        self.install_webhook_configurations(new_ca.cert_pem)
        if after_step is not None:
            after_step("new-ca")

    def served_certificate(self) -> bytes:
        """The DER certificate the webhook presents right now."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection(("127.0.0.1", self.webhook_port), timeout=5) as sock,
            ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        return der or b""

    def _wait_serving(self, cert_pem: bytes) -> None:
        want = ssl.PEM_cert_to_DER_cert(cert_pem.decode())
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while True:
            self._check_alive("webhook")
            try:
                if self.served_certificate() == want:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise KubeLabError(
                    "mnp webhook did not pick up the new certificate in "
                    f"{self.webhook_cert_dir}; see {self.dir / 'webhook.log'}"
                )
            time.sleep(_POLL_S)

    def _wait_configuration_taken(self, generation: str) -> None:
        """Until a dry-run create of a probe object skips both webhooks: the API server then
        runs the configurations installed with ``generation`` (and their caBundle)."""
        probe = _probe_policy({ROTATION_PROBE_LABEL: generation})
        deadline = time.monotonic() + _READY_TIMEOUT_S
        last = ""
        while True:
            result = self._dry_run_create(probe)
            if result.returncode == 0:
                created = json.loads(result.stdout)
                ports = created["spec"]["ingress"][0]["ports"]
                if "protocol" not in ports[0]:  # the mutating webhook was skipped too
                    return
            last = result.stderr.strip() or result.stdout[:300]
            if time.monotonic() > deadline:
                raise KubeLabError(
                    f"the API server did not take the webhook configurations of rotation "
                    f"{generation}; last answer: {last}"
                )
            time.sleep(_POLL_S)

    def _dry_run_create(self, obj: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return self.kubectl(
            "create",
            "--dry-run=server",
            "-o",
            "json",
            "-f",
            "-",
            input=json.dumps(obj),
            check=False,
        )

    def _wait_webhook_ready(self) -> None:
        url = f"http://127.0.0.1:{self.webhook_health_port}/readyz"
        deadline = time.monotonic() + _READY_TIMEOUT_S
        last = "no answer"
        while True:
            self._check_alive("webhook")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}: {e.read()[:300].decode(errors='replace')}"
            except OSError as e:
                last = str(e)
            if time.monotonic() > deadline:
                raise KubeLabError(
                    f"mnp webhook not ready at {url} ({last}); the end of its log:\n"
                    f"{log_tail(self.dir / 'webhook.log')}"
                )
            time.sleep(_POLL_S)

    def _mutate_requests(self) -> float:
        url = f"http://127.0.0.1:{self.webhook_health_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith("mnp_webhook_requests_total{") and 'endpoint="/mutate"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def _wait_webhooks_called(self, mutating: bool) -> None:
        """The API server picks up webhook configurations asynchronously: probe with
        server-side dry runs (which store nothing) until it calls the webhook."""
        probe = _probe_policy({})
        deadline = time.monotonic() + _READY_TIMEOUT_S
        last = ""
        while True:
            before = self._mutate_requests() if mutating else 0.0
            result = self._dry_run_create(probe)
            called = f'admission webhook "{VALIDATING_WEBHOOK_NAME}"' in result.stderr
            if called and (not mutating or self._mutate_requests() > before):
                return
            last = result.stderr.strip() or result.stdout[:300]
            self._check_alive("webhook")
            if time.monotonic() > deadline:
                raise KubeLabError(f"the API server never called the webhook; last answer: {last}")
            time.sleep(_POLL_S)

    # --- kubectl and manifests --------------------------------------------------------
    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """kubectl against the lab; with ``check``, a failure raises with kubectl's stderr."""
        try:
            return self.plane.kubectl(*args, check=check, input=input, timeout=timeout)
        except KubeControlPlaneError as e:
            raise KubeLabError(str(e)) from None

    def apply(self, manifests: Sequence[str | Path]) -> list[KubectlFailure]:
        """``kubectl apply`` the objects in ``manifests``: Namespaces and NADs first, then
        everything else, then MultiNetworkPolicies (the webhook checks a policy's NADs).

        kubectl reads each group from stdin, so its errors say "STDIN"; each error line is
        prefixed with the file and line of the object it names."""
        loaded = load_manifests([str(p) for p in manifests])
        rank = {"Namespace": 0, NAD_KIND: 0, MNP_KIND: 2}
        failures: list[KubectlFailure] = []
        for step in (0, 1, 2):
            group = [m for m in loaded if rank.get(str(m.obj.get("kind")), 1) == step]
            if not group:
                continue
            doc = {"apiVersion": "v1", "kind": "List", "items": [m.obj for m in group]}
            result = self.kubectl("apply", "-f", "-", input=json.dumps(doc), check=False)
            if self.progress is not None and result.stdout:
                self.progress.write(result.stdout)
            if result.returncode != 0:
                lines = [_locate(line, group) for line in result.stderr.strip().splitlines()]
                failures.append(KubectlFailure("kubectl apply", "\n".join(lines)))
            elif self.progress is not None and result.stderr:
                self.progress.write(result.stderr)  # warnings
        return failures

    def objects(self) -> list[dict[str, Any]]:
        """Namespaces, pods, NADs and policies as stored in the API server."""
        out = self.kubectl("get", MODELLED_RESOURCES, "-A", "-o", "json").stdout
        items = json.loads(out).get("items") or []
        return [i for i in items if isinstance(i, dict)]

    def snapshot(self) -> SnapshotBuild:
        return build_snapshot(self.objects())

    # --- convergence and tracing ------------------------------------------------------
    def converged(self) -> tuple[bool, str, SnapshotBuild]:
        """Whether every pod has its addresses and switch port and the enforcer's NB rows
        match what it would compile from the API server's objects; with the reason if not."""
        objects = self.objects()
        if fill_pod_networks(objects) != objects:
            return False, "pods still lack k8s.ovn.org/pod-networks entries", build_snapshot([])
        build = build_snapshot(objects)
        want = {
            p.name: p.addresses for lay in plan_topology(build.snapshot).values() for p in lay.ports
        }
        have = self._lab_pod_ports()
        if have != want:
            missing = sorted(set(want) - set(have))
            extra = sorted(set(have) - set(want))
            return False, f"switch ports differ (missing {missing}, extra {extra})", build
        with connect(self.sandbox.nb_remote) as conn:
            pending = plan(compile_desired(build.snapshot), read_state(conn))
        if pending.ops:
            return False, f"the enforcer has {len(pending.ops)} NB operations to go", build
        return True, "", build

    def _lab_pod_ports(self) -> dict[str, str]:
        out = json.loads(
            self.sandbox.nbctl(
                "--format=json",
                "--columns=name,addresses,external_ids",
                "list",
                "Logical_Switch_Port",
            )
        )
        ports: dict[str, str] = {}
        for name, addresses, ids in out["data"]:
            id_map = dict(ids[1]) if isinstance(ids, list) else {}
            if id_map.get(LAB_MARK) != "true" or id_map.get("pod") != "true":
                continue
            if isinstance(addresses, list) and addresses and addresses[0] == "set":
                addresses = " ".join(addresses[1])
            ports[name] = str(addresses)
        return ports

    def wait_converged(self, timeout: float = _CONVERGE_TIMEOUT_S) -> SnapshotBuild:
        """Poll ``converged`` until true; raise with the last reason after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            done, why, build = self.converged()
            if done:
                return build
            for name in ("enforcer", "pod-controller"):
                self._check_alive(name)
            if time.monotonic() > deadline:
                raise KubeLabError(
                    f"the lab did not converge in {timeout:.0f} s: {why}; see "
                    f"{self.dir / 'enforcer.log'} and {self.dir / 'pod-controller.log'}"
                )
            time.sleep(_POLL_S * 2)

    def trace(
        self, ports: Sequence[ProbePort] | None = None, wait: bool = True
    ) -> list[NetworkMatrix]:
        """The ovn-trace connectivity matrix of what the API server holds, once the lab
        has converged (``wait``)."""
        build = self.wait_converged() if wait else self.snapshot()
        return trace_matrix(self.sandbox, build.snapshot, ports)

    def describe(self) -> str:
        """What is running and how to use it, for ``mnp lab up --kube``."""
        pids = self.pids()
        apiserver = (read_lab_state(self.lab_file).get("kube") or {}).get("apiserver")
        lines = [
            f"lab up in {self.dir}",
            f"  kube-apiserver  {apiserver}",
            f"  mnp webhook     {self.webhook_url} (pid {pids.get('webhook')}, log webhook.log)",
            f"  mnp enforcer    NB {self.sandbox.nb_remote} (pid {pids.get('enforcer')}, "
            "log enforcer.log)",
            f"  pod controller  pid {pids.get('pod-controller')} (log pod-controller.log)",
            *self._describe_cert_manager(pids),
            "",
            f"  export KUBECONFIG={self.kubeconfig}",
            "  kubectl apply -f policy.yaml",
            f"  mnp lab trace --dir {self.dir}",
            f"  mnp lab down --dir {self.dir}",
        ]
        return "\n".join(lines) + "\n"

    def _describe_cert_manager(self, pids: dict[str, int]) -> list[str]:
        if self.cert_manager_options is None:
            return []
        namespace, name = self.serving_certificate
        logs = self.cert_manager_dir.relative_to(self.dir)
        return [
            f"  cert-manager    controller pid {pids.get('cert-manager-controller')}, "
            f"cainjector pid {pids.get('cert-manager-cainjector')} (logs {logs}/)",
            f"  webhook TLS     Certificate {namespace}/{name}, projected into "
            f"{self.webhook_cert_dir} (pid {pids.get(SECRET_PROJECTOR)}, "
            f"log {SECRET_PROJECTOR}.log)",
        ]


def _locate(line: str, manifests: Sequence[Manifest]) -> str:
    """``FILE:LINE: `` before a kubectl error line that names one of ``manifests``."""
    if not line.startswith("Error from server"):
        return line
    for m in manifests:
        meta = m.obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if isinstance(name, str) and f'"{name}"' in line:
            return f"{m.file}:{m.line}: {line}"
    return line


def _probe_policy(labels: dict[str, str]) -> dict[str, Any]:
    """An invalid policy (port 70000, no protocol) for server-side dry runs."""
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "name": "mnp-lab-probe",
            "namespace": PROBE_NAMESPACE,
            "labels": labels,
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": "mnp-lab-probe"},
        },
        "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]},
    }


def _stop_child(proc: subprocess.Popen[bytes]) -> None:
    stop_pid(proc.pid)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
