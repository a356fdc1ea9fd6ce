"""The long-running enforcer (``mnp enforcer`` without ``--once``) survives its NB going away:
stopped, then hung; it logs the failures, keeps retrying, and converges when the NB is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_enforcer_ovsdb_remotes import (
    expected_keys,
    nb_owned_keys,
    without_policy,
    write_manifests,
)
from test_enforcer_support import REPO, layer2_objects, snapshot_of

from enforcer.lab.ovsdb_cluster import StandaloneNb

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
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log_out, stderr=subprocess.STDOUT, text=True)
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
