"""A real ``mnp enforcer --source kube`` process against a real kube-apiserver and a lab OVN,
shared by the enforcer e2e tests (no tests here).

Objects are created and changed with kubectl. The harness plays OVN-Kubernetes' part by hand:
each pod carries its ``k8s.ovn.org/pod-networks`` annotation (from ``fill_pod_networks``) and
has its switch port in the lab OVN (``build_topology``) before it is created. The enforcer runs
as the ServiceAccount of ``config/enforcer/rbac.yaml`` (a token kubeconfig), so the RBAC that
ships is what lists, watches and creates Events; a 403 in an enforcer's log fails the fixture
at teardown (``assert_no_forbidden``), so a missing permission cannot hide behind a retry.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mnp.model import NETWORKS_ANNOTATION, POLICY_FOR_ANNOTATION, Snapshot
from mnp.snapshot import snapshot_from_objects
from mnp_lab.addressing import fill_pod_networks
from mnp_lab.connectivity import ProbePort
from mnp_lab.kube import KubeControlPlane
from mnp_lab.kube_binaries import ensure_binaries
from mnp_lab.ovn import OvnSandbox
from mnp_lab.processes import free_port
from mnp_lab.topology import build_topology
from mnp_lab.trace import trace_matrix
from tests.integration.conformance.harness import observed_cells, observed_table
from tests.integration.conformance.truth_table import (
    Probe,
    TruthTable,
    compare,
    parse_table,
    render_diff,
)
from tests.support.kubectl import apply_objects, wait_established
from tests.support.paths import CONFIG_DIR, REPO_ROOT
from tests.support.service_accounts import (
    ENFORCER_RBAC,
    SYSTEM_NAMESPACE,
    assert_no_forbidden,
    service_account_kubeconfig,
)
from tests.support.service_accounts import ENFORCER_SA as ENFORCER_SA_NAME

NETWORK = "e2e-l2"
NAD_NAME = "l2net"
SUBNET = "10.231.0.0/24"
NAMESPACE_LABELS = {"blue": {"team": "blue"}, "red": {"team": "red"}}
POD_LABELS = {
    "blue/a": {"app": "web"},
    "blue/b": {"app": "db"},
    "red/a": {"app": "web"},
    "red/b": {"app": "client"},
}
TCP80 = ProbePort("TCP", 80)
ENFORCER_SA = "system:serviceaccount:mnp-system:mnp-enforcer"
# Ceilings for polling; the enforcer normally converges well within a second.
CONVERGE_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.2
_STOP_TIMEOUT_S = 15.0


# --- objects ----------------------------------------------------------------------------


def namespace_object(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": dict(NAMESPACE_LABELS[name])},
    }


def nad_object(namespace: str) -> dict[str, Any]:
    config = {
        "cniVersion": "0.4.0",
        "name": NETWORK,
        "type": "ovn-k8s-cni-overlay",
        "topology": "layer2",
        "subnets": SUBNET,
        "netAttachDefName": f"{namespace}/{NAD_NAME}",
    }
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"namespace": namespace, "name": NAD_NAME},
        "spec": {"config": json.dumps(config)},
    }


def pod_object(key: str) -> dict[str, Any]:
    namespace, name = key.split("/")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "namespace": namespace,
            "name": name,
            "labels": dict(POD_LABELS[key]),
            "annotations": {NETWORKS_ANNOTATION: f"{namespace}/{NAD_NAME}"},
        },
        "spec": {
            "containers": [
                {
                    "name": "server",
                    "image": "registry.k8s.io/pause:3.10",
                    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                }
            ]
        },
    }


def policy_object(namespace: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "namespace": namespace,
            "name": name,
            "annotations": {POLICY_FOR_ANNOTATION: NAD_NAME},
        },
        "spec": dict(spec),
    }


def cluster_objects() -> list[dict[str, Any]]:
    """Namespaces, then NADs, then pods with their OVN-Kubernetes address annotation."""
    return fill_pod_networks(
        [
            *(namespace_object(ns) for ns in NAMESPACE_LABELS),
            *(nad_object(ns) for ns in NAMESPACE_LABELS),
            *(pod_object(key) for key in POD_LABELS),
        ]
    )


# --- the enforcer process ---------------------------------------------------------------


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class EnforcerProcess:
    """``mnp enforcer --source kube`` in its own session, log in ``dir/enforcer.log``."""

    def __init__(
        self,
        dir: Path,
        kubeconfig: Path,
        nb_remote: str,
        *,
        name: str = "enforcer",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.dir = dir
        self.kubeconfig = kubeconfig
        self.nb_remote = nb_remote
        self.metrics_port = free_port()
        self.name = name  # also its POD_NAME, the stem of its leader identity
        self.extra_args = list(extra_args)
        self.log = dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> EnforcerProcess:
        argv = [
            sys.executable,
            "-m",
            "mnp",
            "enforcer",
            "--source=kube",
            f"--kubeconfig={self.kubeconfig}",
            f"--ovn-nb={self.nb_remote}",
            f"--metrics-port={self.metrics_port}",
            "--debounce=0.05",
            *self.extra_args,
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                start_new_session=True,
                env={**os.environ, "POD_NAME": self.name},
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup at all (the lease is left to expire)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGCONT)  # a paused process cannot handle SIGTERM
        proc.terminate()
        try:
            proc.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def assert_running(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, (
            f"mnp enforcer exited with {self.proc.returncode if self.proc else None}; "
            f"the end of {self.log}:\n{self.log_tail()}"
        )

    def metrics_text(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text: str = response.read().decode()
            return text

    def metrics(self) -> Samples:
        """Every sample as (name, labels) -> value."""
        samples: Samples = {}
        for family in text_string_to_metric_families(self.metrics_text()):
            for s in family.samples:
                samples[(s.name, frozenset(s.labels.items()))] = s.value
        return samples


def sample(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- the cluster ------------------------------------------------------------------------


def enforcer_kubeconfig(kube: KubeControlPlane) -> Path:
    """A kubeconfig with a token of the ``mnp-enforcer`` ServiceAccount from config/."""
    return service_account_kubeconfig(kube, SYSTEM_NAMESPACE, ENFORCER_SA_NAME, [ENFORCER_RBAC])


@dataclass
class EnforcerCluster:
    kube: KubeControlPlane
    ovn: OvnSandbox
    enforcer: EnforcerProcess
    # Pods and their ports for the tracer (policies play no part in what is traced).
    trace_snapshot: Snapshot

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return self.kube.kubectl(*args, input=input).stdout

    def apply(self, *objects: dict[str, Any]) -> None:
        apply_objects(self.kube, *objects)

    def observed(self, expected: TruthTable) -> TruthTable:
        matrices = trace_matrix(self.ovn, self.trace_snapshot, [TCP80])
        return observed_table(expected, observed_cells(matrices, NETWORK)[Probe(80)])

    def wait_for_table(self, step: str, table: str) -> None:
        """Poll ovn-trace until the matrix equals ``table``; fail with the diff at the deadline."""
        expected = parse_table(table)
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        while True:
            self.enforcer.assert_running()
            observed = self.observed(expected)
            if not compare(expected, observed):
                return
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{render_diff(expected, observed, title=step)}\n"
                    f"the end of {self.enforcer.log}:\n{self.enforcer.log_tail()}"
                )
            time.sleep(POLL_INTERVAL_S)

    def wait_for_metrics(self, step: str, ok: Any) -> Samples:
        """Poll the metrics endpoint until ``ok(samples)``; fail with the text at the deadline."""
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        while True:
            self.enforcer.assert_running()
            samples = self.enforcer.metrics()
            if ok(samples):
                return samples
            if time.monotonic() > deadline:
                pytest.fail(f"{step}: metrics never matched:\n{self.enforcer.metrics_text()}")
            time.sleep(POLL_INTERVAL_S)


def start_cluster(dir: Path) -> Iterator[EnforcerCluster]:
    kube = KubeControlPlane(dir / "kube", ensure_binaries(progress=sys.stderr)).start()
    ovn: OvnSandbox | None = None
    enforcer: EnforcerProcess | None = None
    try:
        kube.kubectl("apply", "-f", str(CONFIG_DIR / "crd"))
        wait_established(
            kube,
            "network-attachment-definitions.k8s.cni.cncf.io",
            "multi-networkpolicies.k8s.cni.cncf.io",
        )
        kubeconfig = enforcer_kubeconfig(kube)
        ovn = OvnSandbox(dir / "ovn").start()
        objects = cluster_objects()
        snapshot = snapshot_from_objects(objects)
        build_topology(ovn, snapshot)  # switch ports exist before their pods are created
        apply_objects(kube, *objects)
        enforcer = EnforcerProcess(dir, kubeconfig, ovn.nb_remote).start()
        cluster = EnforcerCluster(kube, ovn, enforcer, snapshot)
        cluster.wait_for_table("no policies yet", ALL_ALLOWED)
        yield cluster
    finally:
        if enforcer is not None:
            enforcer.stop()
        if ovn is not None:
            ovn.stop()
        kube.stop()
    assert enforcer is not None  # reached only when all went well
    assert_no_forbidden(enforcer.log, "mnp enforcer")


ALL_ALLOWED = """
        blue/a blue/b red/a red/b
blue/a    .      .     .     .
blue/b    .      .     .     .
red/a     .      .     .     .
red/b     .      .     .     .
"""


# --- several enforcers and their leader election ----------------------------------------

LEASE_NAMESPACE = "mnp-system"
LEASE_NAME = "mnp-enforcer"
_STATE_RESOURCES = "namespaces,network-attachment-definitions,pods,multi-networkpolicies"


def total(samples: Samples, name: str) -> float:
    """The sum of a metric over every label combination (0 when it does not exist yet)."""
    return sum(v for (n, _), v in samples.items() if n == name)


def lease_spec(kube: KubeControlPlane) -> dict[str, Any]:
    """The spec of the enforcer's Lease ({} when there is none)."""
    result = kube.kubectl(
        "get", "lease", LEASE_NAME, "-n", LEASE_NAMESPACE, "-o", "json", check=False
    )
    if result.returncode != 0:
        return {}
    spec: dict[str, Any] = json.loads(result.stdout).get("spec") or {}
    return spec


def delete_lease(kube: KubeControlPlane) -> None:
    kube.kubectl("delete", "lease", LEASE_NAME, "-n", LEASE_NAMESPACE, "--ignore-not-found")


def proxied_kubeconfig(kubeconfig: Path, server: str, path: Path) -> Path:
    """A copy of ``kubeconfig`` that reaches the API server at ``server`` (e.g. a proxy)."""
    config = json.loads(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = server
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def cluster_state_objects(kube: KubeControlPlane) -> list[dict[str, Any]]:
    """Everything the enforcer reads, as the API server holds it now."""
    listed = json.loads(kube.kubectl("get", _STATE_RESOURCES, "-A", "-o", "json").stdout)
    items: list[dict[str, Any]] = listed["items"]
    return items


@dataclass
class EnforcerLab:
    """A control plane and a lab OVN with the cluster's pods, and no enforcer yet: tests
    start as many as they need (``enforcer``), each with its own name and log."""

    kube: KubeControlPlane
    ovn: OvnSandbox
    dir: Path
    kubeconfig: Path  # the mnp-enforcer ServiceAccount's
    # "namespace/name" -> a pod with its address and switch port, not created yet.
    spare_pods: dict[str, dict[str, Any]]
    started: list[EnforcerProcess] = field(default_factory=list)  # their logs are checked

    def apply(self, *objects: dict[str, Any]) -> None:
        apply_objects(self.kube, *objects)

    def kubectl(self, *args: str) -> str:
        return self.kube.kubectl(*args).stdout

    def enforcer(
        self, name: str, *extra_args: str, kubeconfig: Path | None = None
    ) -> EnforcerProcess:
        process = EnforcerProcess(
            self.dir,
            kubeconfig or self.kubeconfig,
            self.ovn.nb_remote,
            name=name,
            extra_args=extra_args,
        ).start()
        self.started.append(process)
        return process


def start_enforcer_lab(
    dir: Path, spare_pods: Sequence[dict[str, Any]] = ()
) -> Iterator[EnforcerLab]:
    """The objects of ``cluster_objects`` applied, with their switch ports; ``spare_pods``
    get addresses and switch ports too but are not created (tests create and delete them)."""
    kube = KubeControlPlane(dir / "kube", ensure_binaries(progress=sys.stderr)).start()
    ovn: OvnSandbox | None = None
    try:
        kube.kubectl("apply", "-f", str(CONFIG_DIR / "crd"))
        wait_established(
            kube,
            "network-attachment-definitions.k8s.cni.cncf.io",
            "multi-networkpolicies.k8s.cni.cncf.io",
        )
        kubeconfig = enforcer_kubeconfig(kube)
        ovn = OvnSandbox(dir / "ovn").start()
        objects = fill_pod_networks(
            [
                *(namespace_object(ns) for ns in NAMESPACE_LABELS),
                *(nad_object(ns) for ns in NAMESPACE_LABELS),
                *(pod_object(key) for key in POD_LABELS),
                *spare_pods,
            ]
        )
        build_topology(ovn, snapshot_from_objects(objects))
        wanted = {f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in spare_pods}
        spare: dict[str, dict[str, Any]] = {}
        created: list[dict[str, Any]] = []
        for obj in objects:
            key = f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"
            if obj["kind"] == "Pod" and key in wanted:
                spare[key] = obj
            else:
                created.append(obj)
        apply_objects(kube, *created)
        lab = EnforcerLab(kube, ovn, dir, kubeconfig, spare)
        yield lab
    finally:
        if ovn is not None:
            ovn.stop()
        kube.stop()
    for process in lab.started:  # reached only when all went well
        assert_no_forbidden(process.log, f"mnp enforcer {process.name}")
