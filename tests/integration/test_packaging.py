"""The shipped wheel holds the product only; the lab extra brings the sandbox, data and all.

Each install goes into a fresh virtualenv outside the checkout. The dependencies come from
the running venv (a directory of links to its packages, minus mnp and mnp-lab), so nothing
is downloaded; the wheels are built from this checkout with hatchling.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Entries of the running venv's site-packages that a fresh venv must not see.
OWN_DISTRIBUTIONS = ("mnp", "_editable_impl_", "__editable__", "pip", "_distutils_hack")


def run(*argv: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if check:
        assert proc.returncode == 0, f"{argv}: {proc.stdout}\n{proc.stderr}"
    return proc


def fresh_venv(where: Path) -> Path:
    """A new venv whose only extra path entry links the running venv's dependencies."""
    run(sys.executable, "-m", "venv", where, cwd=where.parent)
    deps = where / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(OWN_DISTRIBUTIONS) and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    site = Path(
        run(
            where / "bin/python",
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            cwd=where,
        ).stdout.strip()
    )
    (site / "running-venv-deps.pth").write_text(f"{deps}\n")
    return where / "bin"


def pip_install(bin_dir: Path, *args: str | Path) -> None:
    run(
        bin_dir / "python",
        "-m",
        "pip",
        "install",
        "-q",
        "--no-index",
        "--no-build-isolation",
        *args,
        cwd=bin_dir.parent,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    run(*pip, "-w", out, REPO, cwd=out)
    (built,) = out.glob("mnp-*.whl")
    return built


def test_the_wheel_holds_the_product_and_no_sandbox(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(zf.read(metadata_name).decode())
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"mnp", "webhook", "enforcer", "kubewatch"}
    assert not [n for n in names if "lab" in n.split("/")[-1] or n.endswith((".sh", ".yaml"))]
    requires = metadata.get_all("Requires-Dist") or []
    unconditional = [r for r in requires if "extra ==" not in r]
    assert not [r for r in unconditional if r.startswith(("ovs", "mnp-lab"))], requires
    assert "lab" in (metadata.get_all("Provides-Extra") or [])


def test_installed_wheel_runs_without_the_lab(wheel: Path, tmp_path: Path) -> None:
    bin_dir = fresh_venv(tmp_path / "venv")
    pip_install(bin_dir, "--find-links", wheel.parent, "mnp")
    work = tmp_path / "work"
    shutil.copytree(REPO / "examples" / "layer2", work / "layer2")

    assert "--ovn-nb" in run(bin_dir / "mnp", "enforcer", "--help", cwd=work).stdout
    assert "--cert-dir" in run(bin_dir / "mnp", "webhook", "--help", cwd=work).stdout
    checked = run(bin_dir / "mnp", "check", "-f", "layer2", "-o", "json", cwd=work)
    verdicts = {j["name"]: j["allowed"] for j in json.loads(checked.stdout)}
    assert len(verdicts) >= 2 and all(verdicts.values()), verdicts

    imported = run(bin_dir / "python", "-c", "import mnp_lab", cwd=work, check=False)
    assert imported.returncode != 0 and "No module named 'mnp_lab'" in imported.stderr
    lab = run(bin_dir / "mnp", "lab", "up", "--dir", "x", cwd=work, check=False)
    assert lab.returncode == 2
    assert "lab extra" in lab.stderr and "pip install '.[lab]'" in lab.stderr
    assert not (work / "x").exists()


def test_the_lab_extra_installs_the_sandbox_with_its_files(tmp_path: Path) -> None:
    bin_dir = fresh_venv(tmp_path / "venv")
    pip_install(bin_dir, f"{REPO}[lab]")
    work = tmp_path / "work"
    work.mkdir()

    assert "pod-controller" in run(bin_dir / "mnp", "lab", "--help", cwd=work).stdout
    where = run(
        bin_dir / "python",
        "-c",
        "from mnp_lab.lab_files import BUILD_SCRIPT, CONFIG_DIR; print(CONFIG_DIR, BUILD_SCRIPT)",
        cwd=work,
    ).stdout.split()
    config, script = Path(where[0]), Path(where[1])
    # Copies inside the venv, not links back into the checkout.
    assert config.is_relative_to(tmp_path / "venv") and not config.is_symlink()
    assert (config / "crd" / "multi-networkpolicies.yaml").is_file()
    assert (config / "kustomization.yaml").is_file()
    assert (script.parent / "kube-binaries" / "go.mod").is_file()
    printed = run("bash", script, "--print-bin-dir", cwd=work).stdout.strip()
    assert (
        printed
        == run(
            "bash", REPO / "hack/build-kube-binaries.sh", "--print-bin-dir", cwd=work
        ).stdout.strip()
    )
