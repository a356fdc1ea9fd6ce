"""The end-to-end enforcer benchmark's plumbing at a tiny scale (no timings asserted): its
loader puts every object into a real kube-apiserver and every switch port into a real NB,
and its second NB client follows owned rows through inserts and ``update2`` diffs."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from bench.bench_enforcer_cluster import load_cluster
from bench.cluster_load import ApiSession, create_ports, create_switches
from bench.cluster_workload import NETWORKS_NAMESPACE, build_workload
from bench.nb_observer import OWNER, POLICY, NbObserver
from enforcer.ovsdb import NB_DB, OvsdbConnection
from mnp_lab.kube import KubeControlPlane
from mnp_lab.kube_binaries import ensure_binaries
from mnp_lab.ovsdb_cluster import StandaloneNb


def _names(session: ApiSession, path: str) -> set[str]:
    items: list[dict[str, Any]] = session.get(path)["items"]
    return {f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in items}


def test_loader_creates_every_object_and_switch_port(tmp_path: Path) -> None:
    work = build_workload(600, 30)
    with (
        KubeControlPlane(tmp_path / "kube", ensure_binaries()) as plane,
        StandaloneNb(tmp_path / "nb", method="unix") as nb,
        OvsdbConnection(nb.remote) as conn,
    ):
        create_switches(conn)
        lsps = create_ports(conn, work.pods)
        load_cluster(plane, work, threads=4)
        session = ApiSession(plane)
        try:
            pods = _names(session, "/api/v1/pods")
            policies = _names(session, "/apis/k8s.cni.cncf.io/v1beta1/multi-networkpolicies")
            nads = _names(session, "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions")
        finally:
            session.close()
        assert pods == {f"{p.namespace}/{p.name}" for p in work.pods}
        assert policies == {p.key for p in work.policies}
        assert nads == {f"{NETWORKS_NAMESPACE}/{n}" for n in ("l2", "l3", "ln")}
        assert len(work.namespaces) == 2 and {p.network.topology for p in work.pods} == {
            "layer2",
            "layer3",
            "localnet",
        }
        ports = conn.select(NB_DB, "Logical_Switch_Port", [], ["name", "_uuid"])
        by_name = {r["name"]: r["_uuid"][1] for r in ports}
        assert {p.lsp: lsps[p.lsp] for p in work.pods} == {p.lsp: by_name[p.lsp] for p in work.pods}


def test_observer_follows_owned_rows(tmp_path: Path) -> None:
    work = build_workload(3, 0)
    with (
        StandaloneNb(tmp_path / "nb", method="unix") as nb,
        OvsdbConnection(nb.remote) as conn,
    ):
        create_switches(conn)
        lsps = create_ports(conn, work.pods)
        port = lsps[work.pods[0].lsp]
        observer = NbObserver(nb.remote).start()
        try:
            ready = observer.when(partial(NbObserver.policy_group_ready, policy="t000/p"))
            ids = ["map", [[OWNER, "mnp"], [POLICY, "t000/p"]]]
            conn.transact(
                NB_DB,
                [
                    {
                        "op": "insert",
                        "table": "ACL",
                        "uuid-name": "a",
                        "row": {
                            "direction": "to-lport",
                            "priority": 1001,
                            "action": "allow-related",
                            "match": "ip4",
                            "external_ids": ids,
                        },
                    },
                    {
                        "op": "insert",
                        "table": "Address_Set",
                        "row": {"name": "as", "addresses": "10.0.0.1", "external_ids": ids},
                    },
                    {
                        "op": "insert",
                        "table": "Port_Group",
                        "row": {
                            "name": "pg",
                            "ports": ["uuid", port],
                            "acls": ["named-uuid", "a"],
                            "external_ids": ids,
                        },
                    },
                    # OVN-Kubernetes' own rows (no owner marker) are not followed.
                    {"op": "insert", "table": "Address_Set", "row": {"name": "theirs"}},
                ],
            )
            assert observer.wait(ready, 30) > 0
            assert observer.counts() == {"Port_Group": 1, "Address_Set": 1, "ACL": 1}
            assert observer.groups_holding(port) and observer.sets_holding("10.0.0.1")

            emptied = observer.when(lambda o: not o.groups_holding(port))
            conn.transact(
                NB_DB,
                [
                    {
                        "op": "mutate",
                        "table": "Port_Group",
                        "where": [["name", "==", "pg"]],
                        "mutations": [["ports", "delete", ["uuid", port]]],
                    },
                    {
                        "op": "mutate",
                        "table": "Address_Set",
                        "where": [["name", "==", "as"]],
                        "mutations": [["addresses", "insert", ["set", ["10.0.0.2", "10.0.0.3"]]]],
                    },
                ],
            )
            observer.wait(emptied, 30)
            assert observer.sets_holding("10.0.0.3") and observer.sets_holding("10.0.0.1")
            assert not observer.policy_group_ready("t000/p")  # no ports any more
        finally:
            observer.stop()
