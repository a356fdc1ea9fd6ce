"""Crash safety: SIGKILL `mnp enforcer --once` during a large reconcile; because the write
is one transaction the NB holds either none or all of the rows; a restart converges."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from enforcer.compile import compile
from mnp_lab.ovn import OvnSandbox
from tests.support.ovn_enforcement import lab, owned_keys, snapshot_of, synthetic_objects
from tests.support.paths import REPO_ROOT


def test_sigkill_mid_reconcile_leaves_before_or_after_and_converges(
    ovn: OvnSandbox, tmp_path: Path
) -> None:
    objects = synthetic_objects(n_policies=300, n_pods=1500)
    snap = snapshot_of(objects)
    lab(ovn, snap)
    desired = compile(snap)
    complete = {
        "Port_Group": sorted(r.key for r in desired.port_groups),
        "Address_Set": sorted(r.key for r in desired.address_sets),
        "ACL": sorted(r.key for r in desired.acls),
    }
    empty: dict[str, list[str]] = {t: [] for t in complete}
    manifests = tmp_path / "objects.json"
    manifests.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    cmd = [
        sys.executable,
        "-m",
        "enforcer.command",
        "--ovn-nb",
        ovn.nb_remote,
        "--source",
        "files",
        "-f",
        str(manifests),
        "--once",
    ]

    killed = 0
    # Kill at increasing points of the run; whichever phase is hit, the NB must be whole.
    for delay in (0.5, 1.0, 1.5, 2.0, 3.0):
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.communicate()
        state = owned_keys(ovn)
        assert state in (empty, complete), {t: len(v) for t, v in state.items()}
        if state == complete:
            break
    assert killed >= 1, "the enforcer finished before any kill: the snapshot is too small"

    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert owned_keys(ovn) == complete  # no duplicates, nothing stale, nothing missing
    again = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "no changes" in again.stdout, again.stdout + again.stderr
