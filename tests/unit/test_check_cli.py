"""``mnp check`` and the ``mnp`` command: exit codes, text and JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mnp.cli import main
from mnp.field_errors import MAX_RENDERED_ERRORS
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
EXAMPLES = ROOT / "examples"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("example", ["seed", "layer2", "localnet", "warnings"])
def test_admitted_examples_exit_0(capsys: pytest.CaptureFixture[str], example: str) -> None:
    # The warnings examples are admitted by Kubernetes 1.35; 1.36 rejects host bits (below).
    code, out, _ = run(capsys, "check", "--kube-version", "v1.35.4", "-f", str(EXAMPLES / example))
    assert code == 0
    assert "rejected" in out and " 0 rejected" in out


def test_the_kube_version_decides(capsys: pytest.CaptureFixture[str]) -> None:
    cidr = EXAMPLES / "warnings" / "non-canonical-cidr.yaml"
    assert run(capsys, "check", "--kube-version", "1.35", "-f", str(cidr))[0] == 0
    code, out, _ = run(capsys, "check", "-f", str(cidr))  # the newest supported: 1.37
    assert code == 1
    assert (
        'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.20.30.40/24": must not have '
        "bits set beyond the prefix length"
    ) in out
    backwards = EXAMPLES / "invalid" / "endport-below-port.yaml"
    _, out, _ = run(capsys, "check", "--kube-version", "v1.35.4", "-f", str(backwards))
    assert "endPort: Invalid value: 8080: must be greater than or equal to `port`" in out
    code, _, err = run(capsys, "check", "--kube-version", "latest", "-f", str(backwards))
    assert code == 2
    assert err == (
        "error: --kube-version: 'latest' is not a Kubernetes version "
        "(expected e.g. v1.35.4 or 1.37)\n"
    )


def test_every_invalid_example_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted((EXAMPLES / "invalid").glob("*.yaml"))
    assert 5 <= len(files) <= 8
    for f in files:
        code, out, _ = run(capsys, "check", "-f", str(f), "-o", "json")
        result = json.loads(out)
        assert code == 1, f
        assert len(result) == 1 and result[0]["allowed"] is False and result[0]["errors"], f


def test_text_output_is_kubectl_like(capsys: pytest.CaptureFixture[str]) -> None:
    f = EXAMPLES / "invalid" / "endport-below-port.yaml"
    code, out, _ = run(capsys, "check", "-f", str(f))
    assert code == 1
    assert out.splitlines()[0] == (
        f'Error from server (Forbidden): error when creating "{f}": admission webhook '
        '"multinetworkpolicy.mnp.k8s.cni.cncf.io" denied the request: '
        'MultiNetworkPolicy.k8s.cni.cncf.io "port-range-backwards" is invalid: '
        "spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to "
        "`port`"
    )
    code, out, _ = run(
        capsys,
        "check",
        "--kube-version=1.35",
        "-f",
        str(EXAMPLES / "warnings" / "non-canonical-cidr.yaml"),
    )
    assert code == 0
    assert out.splitlines()[:2] == [
        'Warning: spec.ingress[0].from[0].ipBlock.cidr: CIDR value "10.20.30.40/24" is ambiguous '
        'in this context (should be "10.20.30.0/24" or "10.20.30.40/32"?)',
        "multinetworkpolicy.k8s.cni.cncf.io/host-bits-in-cidr admitted in namespace default "
        "(dry run)",
    ]


def test_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "-f", str(EXAMPLES / "layer2"), "--output", "json")
    assert code == 0
    result = json.loads(out)
    assert [r["name"] for r in result] == [
        "vma-ingress-from-vmc",
        "vmb-ingress-from-vma",
        "vmc-egress-to-vma",
    ]
    for r in result:
        assert set(r) == {"namespace", "name", "allowed", "errors", "warnings", "patch"}
        assert r["namespace"] == "vms" and r["allowed"] is True and r["errors"] == []
        assert all(op["op"] in ("add", "replace") for op in r["patch"])
    assert {
        "op": "replace",
        "path": "/metadata/annotations/k8s.v1.cni.cncf.io~1policy-for",
        "value": "vms/flat-l2",
    } in result[0]["patch"]


def test_json_errors_are_bounded_as_a_denial_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    labels = {f"bad key {n}": "v" for n in range(500)}
    policy = {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {"name": "many", "namespace": "default"},
        "spec": {"podSelector": {"matchLabels": labels}},
    }
    path = tmp_path / "many.json"
    path.write_text(json.dumps(policy))
    code, out, _ = run(capsys, "check", "-f", str(path), "--output", "json")
    assert code == 1
    errors = json.loads(out)[0]["errors"]
    assert len(errors) == MAX_RENDERED_ERRORS + 1
    assert errors[-1].startswith("... and ") and errors[-1].endswith(" more errors")


def test_mixed_files_exit_1_and_errors_start_with_paths(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        "check",
        "-f",
        str(EXAMPLES / "seed"),
        "-f",
        str(EXAMPLES / "invalid" / "selector-peer-ipamless.yaml"),
        "-o",
        "json",
    )
    assert code == 1
    result = json.loads(out)
    assert [r["allowed"] for r in result] == [True, False]
    assert result[1]["errors"][0].startswith("spec.ingress[0].from[1]: Forbidden: ")
    assert "IPAM-less networks can only have `ipBlock` peers" in result[1]["errors"][0]


def test_unreadable_input_exits_2_naming_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: MultiNetworkPolicy\nmetadata:\n  name: [x\n")
    code, out, err = run(capsys, "check", "-f", str(bad))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {bad}:4:")
    code, _, err = run(capsys, "check", "-f", str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml: no such file or directory" in err


def test_namespace_defaults_like_kubectl(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(
        "kind: NetworkAttachmentDefinition\nmetadata: {name: n}\nspec:\n  config: "
        '\'{"name": "n", "type": "ovn-k8s-cni-overlay", "topology": "layer2", '
        '"subnets": "10.0.0.0/24"}\'\n'
        "---\nkind: MultiNetworkPolicy\nmetadata:\n  name: p\n  annotations:\n"
        "    k8s.v1.cni.cncf.io/policy-for: n\nspec:\n  podSelector: {}\n"
    )
    code, out, _ = run(capsys, "check", "-f", str(f), "-o", "json")
    assert code == 0
    assert json.loads(out)[0]["namespace"] == "default"


def test_help_lists_all_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in ("check", "webhook", "enforcer", "lab"):
        assert name in out


def test_console_script_in_a_subprocess() -> None:
    script = Path(sys.executable).parent / "mnp"
    assert script.exists(), f"console script missing: {script} (pip install -e .)"
    proc = subprocess.run(
        [
            str(script),
            "check",
            "-f",
            str(EXAMPLES / "invalid" / "lowercase-protocol.yaml"),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result[0]["errors"] == [
        'spec.ingress[0].ports[0].protocol: Unsupported value: "tcp": supported values: "TCP", '
        '"UDP", "SCTP"'
    ]
