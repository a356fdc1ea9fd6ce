"""Drift is repaired within seconds, not at the next resync: a running ``mnp enforcer`` (files
source, resync an hour away) sees changes to its own rows through its NB replica's monitor
and restores them: a tampered ACL (proved with ovn-trace to open traffic, and to drop it
again once repaired), a deleted port group, a junk row carrying the owner marker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mnp_lab.ovn import OvnSandbox
from tests.support.ovn_enforcement import (
    expected_keys,
    lab,
    layer2_objects,
    nb_owned_keys,
    observed_matrix,
    snapshot_of,
    write_manifests,
)
from tests.support.paths import REPO_ROOT

_CEILING_S = 30.0  # for polling only: fail instead of hanging
OWNED = 'external_ids:"mnp.k8s.cni.cncf.io/owner"=mnp'
INGRESS_DROP = 'external_ids:"mnp.k8s.cni.cncf.io/key"="acl|deny|vms-flat-l2|vms|ingress|drop"'
INGRESS_DENY_GROUP = 'external_ids:"mnp.k8s.cni.cncf.io/key"="pg|deny|vms-flat-l2|vms|ingress"'
A, B = "virt-launcher-vma", "virt-launcher-vmb"  # only VMC may reach VMA


class Enforcer:
    def __init__(self, proc: subprocess.Popen[str], log: Path) -> None:
        self.proc = proc
        self.log = log

    def wait_for(self, what: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + _CEILING_S
        while not ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"the enforcer exited:\n{self.log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} after {_CEILING_S:.0f}s:\n{self.log.read_text()}")
            time.sleep(0.05)


@pytest.fixture
def enforcer(ovn: OvnSandbox, tmp_path: Path) -> Iterator[Enforcer]:
    lab(ovn, snapshot_of(layer2_objects()))  # the switch ports, as OVN-Kubernetes makes them
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    write_manifests(manifests / "objects.json", layer2_objects())
    log = tmp_path / "enforcer.log"
    cmd = [sys.executable, "-m", "enforcer.command", "--ovn-nb", ovn.nb_remote]
    cmd += ["--source", "files", "-f", str(manifests), "--resync", "3600", "--debounce", "0.05"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        yield Enforcer(proc, log)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=_CEILING_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def acl_verdict(ovn: OvnSandbox) -> tuple[str, str]:
    rows = json.loads(
        ovn.nbctl("--format=json", "--columns=match,action", "find", "ACL", INGRESS_DROP)
    )["data"]
    assert len(rows) <= 1, rows
    return (rows[0][0], rows[0][1]) if rows else ("", "")


def test_tampering_with_owned_rows_is_repaired_without_a_resync(
    ovn: OvnSandbox, enforcer: Enforcer
) -> None:
    snap = snapshot_of(layer2_objects())
    lab(ovn, snap)
    want = expected_keys(snap)
    enforcer.wait_for("first convergence", lambda: nb_owned_keys(ovn.nb_remote) == want)
    enforcer.wait_for(
        "the ports in place", lambda: "reconciled: no changes" in enforcer.log.read_text()
    )
    original = acl_verdict(ovn)
    assert original[1] == "drop"
    assert observed_matrix(ovn, snap)[(B, A, "80/TCP")] is False

    # An ACL rewritten to allow everything. The enforcer is frozen while ovn-trace shows what
    # the tampering would do: open VMA to VMB.
    os.kill(enforcer.proc.pid, signal.SIGSTOP)
    try:
        uuid = ovn.nbctl("--bare", "--columns=_uuid", "find", "ACL", INGRESS_DROP).strip()
        ovn.nbctl("set", "ACL", uuid, 'match="1"', "action=allow")
        assert observed_matrix(ovn, snap)[(B, A, "80/TCP")] is True
    finally:
        os.kill(enforcer.proc.pid, signal.SIGCONT)
    enforcer.wait_for("the ACL restored", lambda: acl_verdict(ovn) == original)
    assert observed_matrix(ovn, snap)[(B, A, "80/TCP")] is False

    # A deleted port group (its ACLs go with it): recreated, with its ports.
    group = ovn.nbctl("--bare", "--columns=_uuid", "find", "Port_Group", INGRESS_DENY_GROUP)
    ovn.nbctl("destroy", "Port_Group", group.strip())
    enforcer.wait_for(
        "the port group recreated",
        lambda: bool(
            ovn.nbctl("--bare", "--columns=ports", "find", "Port_Group", INGRESS_DENY_GROUP).strip()
        ),
    )
    enforcer.wait_for("all owned rows back", lambda: nb_owned_keys(ovn.nb_remote) == want)
    assert acl_verdict(ovn) == original
    assert observed_matrix(ovn, snap)[(B, A, "80/TCP")] is False

    # A junk row carrying the owner marker: deleted.
    ovn.nbctl("create", "Address_Set", "name=junk", OWNED)
    enforcer.wait_for(
        "the junk row deleted",
        lambda: not ovn.nbctl("--bare", "--columns=_uuid", "find", "Address_Set", "name=junk"),
    )
    assert nb_owned_keys(ovn.nb_remote) == want

    log = enforcer.log.read_text()
    assert "manifest files changed" not in log  # no input changed: the monitor caused these
    assert "Traceback" not in log
