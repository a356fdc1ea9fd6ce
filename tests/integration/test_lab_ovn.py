"""The OVN sandbox: real ovsdb-server and ovn-northd in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnp_lab.ovn import OvnError, OvnMissingError, OvnSandbox, pid_alive, require_binary


def test_started_sandbox_compiles_nb_into_sb(ovn: OvnSandbox) -> None:
    ovn.nbctl("ls-add", "sw0")
    ovn.sync()
    # ovn-northd turned the logical switch into a datapath binding in the SB.
    assert "name=sw0" in ovn.sbctl("--columns=external_ids", "list", "Datapath_Binding")
    assert ovn.nb_remote == f"unix:{ovn.dir / 'nb.sock'}"
    assert ovn.sb_remote == f"unix:{ovn.dir / 'sb.sock'}"
    assert set(ovn.pids()) == {"nb", "sb", "northd"}


def test_attach_reopens_running_sandbox(ovn: OvnSandbox) -> None:
    ovn.nbctl("ls-add", "sw-attach")
    again = OvnSandbox.attach(ovn.dir)
    assert again.pids() == ovn.pids()
    assert "sw-attach" in again.nbctl("ls-list")


def test_stop_ends_every_daemon(tmp_path: Path) -> None:
    sandbox = OvnSandbox(tmp_path / "s").start()
    pids = list(sandbox.pids().values())
    assert len(pids) == 3
    sandbox.stop()
    assert not any(pid_alive(p) for p in pids)
    assert not sandbox.is_running()
    sandbox.stop()  # second stop is harmless
    with pytest.raises(OvnError, match="no running OVN sandbox"):
        OvnSandbox.attach(tmp_path / "s")


def test_context_manager_and_restart_gives_fresh_db(tmp_path: Path) -> None:
    with OvnSandbox(tmp_path / "cm") as sandbox:
        sandbox.nbctl("ls-add", "old")
    with OvnSandbox(tmp_path / "cm") as sandbox:
        assert "old" not in sandbox.nbctl("ls-list")


def test_second_start_in_same_dir_is_refused(ovn: OvnSandbox) -> None:
    with pytest.raises(OvnError, match="already running"):
        OvnSandbox(ovn.dir).start()


def test_failing_command_reports_stderr(ovn: OvnSandbox) -> None:
    with pytest.raises(OvnError, match="no-such-switch"):
        ovn.nbctl("ls-del", "no-such-switch")


def test_missing_binary_names_debian_packages() -> None:
    with pytest.raises(OvnMissingError, match="ovn-central ovn-common"):
        require_binary("ovn-no-such-tool")
