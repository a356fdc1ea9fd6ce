"""``mnp lab up|trace|down`` end to end on files, with the real OVN."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mnp_lab.command import main
from mnp_lab.ovn import OvnSandbox, pid_alive
from tests.support.k8s_objects import K8sObjects


def write(path: Path, objects: list[dict[str, Any]]) -> str:
    path.write_text(yaml.safe_dump_all(objects))
    return str(path)


def test_up_trace_down(
    tmp_path: Path, k8s: type[K8sObjects], capsys: pytest.CaptureFixture[str]
) -> None:
    lab_dir = tmp_path / "lab"
    objects = [
        k8s.nad("x", "net", "layer2", "10.1.0.0/24"),
        k8s.pod("x", "a", "x/net"),
        k8s.pod("x", "b", "x/net"),
    ]
    plain = write(tmp_path / "plain.yaml", objects)
    deny = k8s.policy("x", "deny-a", "x/net", {"podSelector": {"matchLabels": {"pod": "a"}}})
    with_policy = write(tmp_path / "policy.yaml", [*objects, deny])
    try:
        assert main(["up", "--dir", str(lab_dir), "-f", plain]) == 0
        lab = json.loads((lab_dir / "lab.json").read_text())
        assert lab["manifests"] == [plain] and lab["pids"] == []
        assert OvnSandbox.attach(lab_dir).is_running()

        capsys.readouterr()
        assert main(["trace", "--dir", str(lab_dir), "--output", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["agree"] is True and report["networks"][0]["probes"] == 2

        # A policy the lab has no enforcer for: OVN still delivers, the model says blocked.
        assert main(["trace", "--dir", str(lab_dir), "-f", with_policy, "--port", "80/TCP"]) == 1
        text = capsys.readouterr().out
        assert "! x/b -> x/a 80/TCP" in text and "expected blocked, ovn-trace allowed" in text

        # down also stops processes other lab parts recorded in lab.json.
        sleeper = subprocess.Popen(["sleep", "60"])
        lab["pids"] = [sleeper.pid]
        (lab_dir / "lab.json").write_text(json.dumps(lab))
        pids = list(OvnSandbox(lab_dir).pids().values())
        assert main(["down", "--dir", str(lab_dir)]) == 0
        assert sleeper.wait(timeout=10) is not None
        assert not any(pid_alive(p) for p in pids)
    finally:
        OvnSandbox(lab_dir).stop()


def test_trace_without_a_running_lab_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", "--dir", str(tmp_path)]) == 2
    assert "no running OVN sandbox" in capsys.readouterr().err


def test_bad_port_argument_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["trace", "--dir", "/nonexistent", "--port", "80/ICMP"])
    assert "PORT/PROTO" in capsys.readouterr().err
