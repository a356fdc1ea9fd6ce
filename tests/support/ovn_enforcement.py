"""Helpers shared by the enforcer integration tests (no tests here): manifests, snapshots,
and ovn-trace matrices keyed by pod name."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from enforcer.compile import compile
from enforcer.sources.files import objects_from_files
from mnp.model import Snapshot
from mnp.snapshot import build_snapshot
from mnp_lab.addressing import fill_pod_networks
from mnp_lab.ovn import OvnSandbox, require_binary
from mnp_lab.topology import build_topology
from mnp_lab.trace import trace_matrix
from tests.support.paths import REPO_ROOT

LAYER2_EXAMPLE = REPO_ROOT / "examples" / "layer2"


def layer2_objects() -> list[dict[str, Any]]:
    """The seed layer2 use case (VMA, VMB, VMC) from examples/layer2."""
    if not LAYER2_EXAMPLE.is_dir():
        raise AssertionError(f"{LAYER2_EXAMPLE} is missing: the seed layer2 example is needed")
    return objects_from_files([LAYER2_EXAMPLE])


def snapshot_of(objects: list[dict[str, Any]]) -> Snapshot:
    build = build_snapshot(fill_pod_networks(copy.deepcopy(objects)))
    assert not build.snapshot.rejected, build.snapshot.rejected
    return build.snapshot


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for o in objects:
        if o.get("kind") == kind and o["metadata"]["name"] == name:
            return o
    raise AssertionError(f"no {kind} {name} among the objects")


def pod_manifest(
    name: str,
    namespace: str,
    nad: str,
    labels: dict[str, str],
    ports: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    nad_ns, nad_name = nad.split("/")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                "k8s.v1.cni.cncf.io/networks": json.dumps([{"name": nad_name, "namespace": nad_ns}])
            },
        },
        "spec": {
            "nodeName": "node-a",
            "containers": [{"name": "c", "image": "x", "ports": list(ports)}],
        },
    }


def observed_matrix(
    sandbox: OvnSandbox, snapshot: Snapshot, **kw: Any
) -> dict[tuple[str, str, str], bool]:
    """(src, dst, port) -> delivered, as ovn-trace sees it. Pods by name (``name@v6`` for
    IPv6 probes), addresses outside the cluster by IP."""
    out: dict[tuple[str, str, str], bool] = {}
    for matrix in trace_matrix(sandbox, snapshot, **kw):
        for cell in matrix.cells:
            ends = []
            for ep in (cell.probe.src, cell.probe.dst):
                if ep.pod is None:
                    ends.append(ep.ip)
                else:
                    ends.append(ep.pod.name + ("@v6" if ":" in ep.ip else ""))
            out[(ends[0], ends[1], str(cell.probe.port))] = cell.observed
    return out


def lab(sandbox: OvnSandbox, snapshot: Snapshot) -> None:
    """Play OVN-Kubernetes: switches and pod ports for the snapshot."""
    build_topology(sandbox, snapshot)


def synthetic_objects(n_policies: int, n_pods: int, ns: str = "load") -> list[dict[str, Any]]:
    """A namespace, one layer2 NAD, ``n_pods`` pods in ten app groups, and policies that each
    select one group and allow TCP 80 from the next group (deterministic)."""
    nad_config = {
        "cniVersion": "0.4.0",
        "name": f"{ns}-net",
        "netAttachDefName": f"{ns}/net",
        "topology": "layer2",
        "type": "ovn-k8s-cni-overlay",
        "subnets": "10.64.0.0/16",
    }
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "k8s.cni.cncf.io/v1",
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "net", "namespace": ns},
            "spec": {"config": json.dumps(nad_config)},
        },
    ]
    groups = 10
    for i in range(n_pods):
        objects.append(pod_manifest(f"pod-{i}", ns, f"{ns}/net", {"app": f"g{i % groups}"}))
    for j in range(n_policies):
        objects.append(
            {
                "apiVersion": "k8s.cni.cncf.io/v1beta1",
                "kind": "MultiNetworkPolicy",
                "metadata": {
                    "name": f"pol-{j}",
                    "namespace": ns,
                    "annotations": {"k8s.v1.cni.cncf.io/policy-for": "net"},
                },
                "spec": {
                    "podSelector": {"matchLabels": {"app": f"g{j % groups}"}},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [
                                {"podSelector": {"matchLabels": {"app": f"g{(j + 1) % groups}"}}}
                            ],
                            "ports": [{"protocol": "TCP", "port": 80 + j}],
                        }
                    ],
                },
            }
        )
    return objects


def owned_keys(sandbox: OvnSandbox) -> dict[str, list[str]]:
    """table -> the mnp keys of its owned rows (duplicates kept, sorted)."""
    out: dict[str, list[str]] = {}
    for table in ("Port_Group", "Address_Set", "ACL"):
        text = sandbox.nbctl(
            "--format=json",
            "--columns=external_ids",
            "find",
            table,
            'external_ids:"mnp.k8s.cni.cncf.io/owner"=mnp',
        )
        rows = json.loads(text)["data"]
        out[table] = sorted(dict(r[0][1])["mnp.k8s.cni.cncf.io/key"] for r in rows)
    return out


OWNED_TABLES = ("Port_Group", "Address_Set", "ACL")


def expected_keys(snapshot: Snapshot) -> dict[str, list[str]]:
    desired = compile(snapshot)
    return {
        "Port_Group": sorted(r.key for r in desired.port_groups),
        "Address_Set": sorted(r.key for r in desired.address_sets),
        "ACL": sorted(r.key for r in desired.acls),
    }


def nb_owned_keys(remote: str, *tls_args: str) -> dict[str, list[str]]:
    """table -> mnp keys of the owned rows, read with ovn-nbctl (not with mnp's client)."""
    out: dict[str, list[str]] = {}
    for table in OWNED_TABLES:
        proc = subprocess.run(
            [
                require_binary("ovn-nbctl"),
                f"--db={remote}",
                *tls_args,
                "--format=json",
                "--columns=external_ids",
                "find",
                table,
                'external_ids:"mnp.k8s.cni.cncf.io/owner"=mnp',
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        rows = json.loads(proc.stdout)["data"]
        out[table] = sorted(dict(r[0][1])["mnp.k8s.cni.cncf.io/key"] for r in rows)
    return out


def write_manifests(path: Path, objects: list[dict[str, Any]]) -> Path:
    """The objects as a List file for ``--source files``, with the addresses the lab's IPAM
    gives (the files source reads pod addresses as written)."""
    items = fill_pod_networks(copy.deepcopy(objects))
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return path


def enforce_once(remote: str, manifests: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "enforcer.command", "--ovn-nb", remote, *extra]
    cmd += ["--source", "files", "-f", str(manifests), "--once"]
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)


def without_policy(objects: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    find(objects, "MultiNetworkPolicy", name)  # it must be there to be removed
    return [o for o in objects if o["metadata"]["name"] != name]
