"""The long-running enforcer (``mnp enforcer`` without ``--once``) survives its NB going away:
stopped, then hung; it logs the failures, keeps retrying, and converges when the NB is back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mnp.ovn_names import lsp_name
from mnp_lab.ovsdb_cluster import StandaloneNb
from tests.support.ovn_enforcement import (
    expected_keys,
    layer2_objects,
    nb_owned_keys,
    snapshot_of,
    without_policy,
    write_manifests,
)
from tests.support.paths import REPO_ROOT

# A ceiling for polling only (to fail instead of hanging); the loop normally reacts within
# a fraction of a second.
_CEILING_S = 30.0


def wait_for(what: str, ready: Callable[[], bool], proc: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + _CEILING_S
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(
                f"the enforcer exited ({proc.returncode}) while waiting for "
                f"{what}:\n{log.read_text()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {_CEILING_S:.0f}s:\n{log.read_text()}")
        time.sleep(0.05)


@pytest.fixture
def nb(tmp_path: Path) -> Iterator[StandaloneNb]:
    server = StandaloneNb(tmp_path / "nb", "tcp").start()
    try:
        yield server
    finally:
        pid = server.daemon.pid
        if pid is not None:
            os.kill(pid, signal.SIGCONT)  # a stopped process would ignore SIGTERM
        server.stop()


def test_loop_reconnects_after_the_nb_restarts_and_after_it_hangs(
    nb: StandaloneNb, tmp_path: Path
) -> None:
    objects = layer2_objects()
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    objects_file = write_manifests(manifests / "objects.json", objects)
    log = tmp_path / "enforcer.log"
    cmd = [sys.executable, "-m", "enforcer.command", "--ovn-nb", nb.remote]
    cmd += ["--source", "files", "-f", str(manifests)]
    cmd += ["--resync", "0.3", "--debounce", "0.05", "--retry", "0.2", "--ovn-nb-timeout", "1"]
    with log.open("w") as log_out:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, stdout=log_out, stderr=subprocess.STDOUT, text=True
        )
    try:

        def converged_to(objs: list[dict[str, Any]]) -> Callable[[], bool]:
            want = expected_keys(snapshot_of(objs))
            return lambda: nb.daemon.pid is not None and nb_owned_keys(nb.remote) == want

        def failures() -> int:
            return log.read_text().count("reconcile failed")

        wait_for("first convergence", converged_to(objects), proc, log)

        # The NB goes away: the loop logs failures and keeps going.
        nb.stop()
        wait_for("failure log line", lambda: failures() >= 2, proc, log)
        assert "Connection refused" in log.read_text()
        fewer = without_policy(objects, "vmb-ingress-from-vma")
        write_manifests(objects_file, fewer)
        # ... and comes back on the same database: the change is written.
        nb.start()
        wait_for("convergence after the restart", converged_to(fewer), proc, log)
        assert "reconcile succeeded again" in log.read_text()

        # The NB hangs (SIGSTOP): reads time out instead of blocking the loop forever.
        pid = nb.daemon.pid
        assert pid is not None
        seen = failures()
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_for("timeout log line", lambda: failures() > seen, proc, log)
            assert "timed out" in log.read_text().split("reconcile succeeded again")[-1]
            write_manifests(objects_file, objects)
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for("convergence after the hang", converged_to(objects), proc, log)

        assert proc.poll() is None, log.read_text()
        assert "Traceback" not in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=_CEILING_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()


def _owned_port_group_sizes(remote: str) -> dict[str, int]:
    """mnp key -> number of switch ports, read with ovn-nbctl (not with mnp's client)."""
    owned = 'external_ids:"mnp.k8s.cni.cncf.io/owner"=mnp'
    out = subprocess.run(
        [
            "ovn-nbctl",
            f"--db={remote}",
            "--format=json",
            "--columns=external_ids,ports",
            "find",
            "Port_Group",
            owned,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    sizes: dict[str, int] = {}
    for ids, ports in json.loads(out.stdout)["data"]:
        key = dict(ids[1])["mnp.k8s.cni.cncf.io/key"]
        sizes[key] = len(ports[1]) if ports[0] == "set" else 1
    return sizes


def create_switch_ports(nb: StandaloneNb, objects: list[dict[str, Any]]) -> None:
    """The pods' switch ports, as OVN-Kubernetes would create them."""
    nbctl = ["ovn-nbctl", f"--db={nb.remote}", "ls-add", "flat_l2_switch"]
    for pod in snapshot_of(objects).pods:
        for nad, _ in pod.attachments:
            nbctl += ["--", "lsp-add", "flat_l2_switch", lsp_name(nad, pod.namespace, pod.name)]
    subprocess.run(nbctl, check=True, capture_output=True)


def test_loop_finds_switch_ports_that_appear_after_the_pods(
    nb: StandaloneNb, tmp_path: Path
) -> None:
    # OVN-Kubernetes annotates a pod before it creates the pod's switch port, and nothing
    # the enforcer watches changes when the port appears. With resync far away, only the
    # loop's own second look can put the ports into the port groups.
    objects = layer2_objects()
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    write_manifests(manifests / "objects.json", objects)
    log = tmp_path / "enforcer.log"
    cmd = [sys.executable, "-m", "enforcer.command", "--ovn-nb", nb.remote]
    cmd += ["--source", "files", "-f", str(manifests)]
    cmd += ["--resync", "3600", "--debounce", "0.05", "--retry", "0.4"]
    with log.open("w") as log_out:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, stdout=log_out, stderr=subprocess.STDOUT, text=True
        )
    try:
        want = expected_keys(snapshot_of(objects))
        wait_for("port groups", lambda: nb_owned_keys(nb.remote) == want, proc, log)
        assert set(_owned_port_group_sizes(nb.remote).values()) == {0}  # no ports exist yet
        assert "switch ports not in the NB yet" in log.read_text()

        # Now the ports appear, as OVN-Kubernetes would create them; no manifest changes.
        create_switch_ports(nb, objects)

        wait_for(
            "switch ports in every port group",
            lambda: 0 not in _owned_port_group_sizes(nb.remote).values(),
            proc,
            log,
        )
        assert _owned_port_group_sizes(nb.remote) == {
            "pg|deny|vms-flat-l2|vms|egress": 1,  # vmc
            "pg|deny|vms-flat-l2|vms|ingress": 2,  # vma, vmb
            "pg|policy|vms-flat-l2|vms/vma-ingress-from-vmc": 1,
            "pg|policy|vms-flat-l2|vms/vmb-ingress-from-vma": 1,
            "pg|policy|vms-flat-l2|vms/vmc-egress-to-vma": 1,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=_CEILING_S)


def test_loop_notices_changed_manifest_files(nb: StandaloneNb, tmp_path: Path) -> None:
    # With resync an hour away and every switch port in place (so no second look for missing
    # ports either), only the files source's own watch can pick up the edit.
    objects = layer2_objects()
    create_switch_ports(nb, objects)
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    objects_file = write_manifests(manifests / "objects.json", objects)
    log = tmp_path / "enforcer.log"
    cmd = [sys.executable, "-m", "enforcer.command", "--ovn-nb", nb.remote]
    cmd += ["--source", "files", "-f", str(manifests), "--resync", "3600", "--debounce", "0.05"]
    with log.open("w") as log_out:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, stdout=log_out, stderr=subprocess.STDOUT, text=True
        )
    try:
        want = expected_keys(snapshot_of(objects))
        wait_for("first convergence", lambda: nb_owned_keys(nb.remote) == want, proc, log)
        fewer = without_policy(objects, "vmb-ingress-from-vma")
        write_manifests(objects_file, fewer)
        want = expected_keys(snapshot_of(fewer))
        wait_for("the edit enforced", lambda: nb_owned_keys(nb.remote) == want, proc, log)
        # Any reconcile reads the files afresh (the replica's echo of the first write may get
        # there first); the watch must still notice the edit on its own.
        wait_for(
            "the watch noticed", lambda: "manifest files changed" in log.read_text(), proc, log
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=_CEILING_S)
