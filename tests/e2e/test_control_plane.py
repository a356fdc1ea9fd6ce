"""The local control plane itself: pinned versions, pid bookkeeping in lab.json, clean stop."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from mnp_lab.kube import KubeControlPlane
from mnp_lab.kube_binaries import KubeBinaries, ensure_binaries
from mnp_lab.lab_files import BUILD_SCRIPT
from tests.support.paths import REPO_ROOT


def _pinned(go_mod: Path, module: str) -> str:
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)", go_mod.read_text(), re.M)
    assert match is not None, f"{module} is not pinned in {go_mod}"
    return match.group(1)


K8S_VERSION = _pinned(REPO_ROOT / "hack/kube-binaries/go.mod", "k8s.io/kubernetes")
ETCD_VERSION = _pinned(REPO_ROOT / "hack/kube-binaries/etcd/go.mod", "go.etcd.io/etcd/server/v3")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][:1] != "Z"


def test_binaries_are_the_pinned_versions(kube: KubeControlPlane) -> None:
    assert kube.binaries.versions["kubernetes"] == K8S_VERSION
    assert kube.binaries.versions["etcd"] == ETCD_VERSION
    assert kube.binaries.bin_dir.parent.name == f"{K8S_VERSION}-etcd{ETCD_VERSION[1:]}"

    version = json.loads(kube.kubectl("version", "-o", "json").stdout)

    assert version["clientVersion"]["gitVersion"] == K8S_VERSION
    assert version["serverVersion"]["gitVersion"] == K8S_VERSION
    etcd = subprocess.run(
        [str(kube.binaries.etcd), "--version"], capture_output=True, text=True, check=True
    )
    assert f"etcd Version: {ETCD_VERSION[1:]}" in etcd.stdout


def test_build_is_skipped_when_versions_match(kube: KubeControlPlane) -> None:
    progress = io.StringIO()

    binaries = ensure_binaries(progress=progress)

    assert binaries == kube.binaries
    assert progress.getvalue().startswith("[build-kube-binaries] up to date: ")


def test_build_script_names_a_bad_argument() -> None:
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--bogus"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "[build-kube-binaries] ERROR: unknown argument '--bogus' "
        "(expected --print-bin-dir or --force)"
    )


def test_cache_dir_follows_mnp_cache_dir(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--print-bin-dir"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MNP_CACHE_DIR": str(tmp_path)},
    )
    expected = tmp_path / "kube" / f"{K8S_VERSION}-etcd{ETCD_VERSION[1:]}" / "bin"
    assert result.stdout.strip() == str(expected)


def test_a_failed_build_says_why_and_leaves_no_binaries(tmp_path: Path) -> None:
    # A copy of the build inputs with go.sum emptied: go refuses to build, quickly.
    hack = tmp_path / "hack"
    hack.mkdir()
    shutil.copy(BUILD_SCRIPT, hack)
    shutil.copytree(BUILD_SCRIPT.parent / "lib", hack / "lib")
    shutil.copytree(BUILD_SCRIPT.parent / "kube-binaries", hack / "kube-binaries")
    (hack / "kube-binaries" / "go.sum").write_text("")
    cache = tmp_path / "cache"

    result = subprocess.run(
        ["bash", str(hack / BUILD_SCRIPT.name)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MNP_CACHE_DIR": str(cache)},
    )

    go_version = subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert result.returncode == 1
    assert "missing go.sum entry" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"[build-kube-binaries] ERROR: kubernetes {K8S_VERSION} did not build with "
        f"{go_version}; fix the error above (no fallback binaries are used)"
    )
    target = cache / "kube" / f"{K8S_VERSION}-etcd{ETCD_VERSION[1:]}"
    assert not (target / "bin").exists()
    assert [p.name for p in target.iterdir() if p.name.startswith(".build.")] == []


def test_pids_are_recorded_in_lab_json_and_removed_on_stop(
    kube: KubeControlPlane, tmp_path: Path
) -> None:
    # Another tool's keys in lab.json survive; only "pids" is ours to extend.
    lab_file = tmp_path / "lab.json"
    lab_file.write_text(json.dumps({"manifests": ["a.yaml"], "pids": [999999999]}))
    plane = KubeControlPlane(tmp_path, KubeBinaries(kube.binaries.bin_dir)).start()
    try:
        state = json.loads(lab_file.read_text())
        assert state["manifests"] == ["a.yaml"]
        assert state["pids"][0] == 999999999
        assert sorted(state["pids"][1:]) == sorted(plane.pids)
        assert len(plane.pids) == 2
        assert all(_alive(pid) for pid in plane.pids)
        namespaces = plane.kubectl("get", "namespaces", "-o", "name").stdout.split()
        assert "namespace/kube-system" in namespaces
    finally:
        pids = plane.pids
        plane.stop()
    assert not any(_alive(pid) for pid in pids)
    assert json.loads(lab_file.read_text()) == {"manifests": ["a.yaml"], "pids": [999999999]}
