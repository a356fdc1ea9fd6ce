"""The lab topology in a real OVN NB: OVN-K names, external_ids, idempotent rebuilds."""

from __future__ import annotations

import json
from typing import Any

from mnp.model import Snapshot
from mnp.snapshot import snapshot_from_objects
from mnp_lab.addressing import fill_pod_networks
from mnp_lab.ovn import OvnSandbox
from mnp_lab.topology import build_topology
from tests.support.k8s_objects import K8sObjects


def snapshot(objects: list[dict[str, Any]]) -> Snapshot:
    return snapshot_from_objects(fill_pod_networks(objects))


def row(ovn: OvnSandbox, table: str, name: str) -> dict[str, Any]:
    """One NB row as {column: value} with maps and sets decoded."""
    out = json.loads(ovn.nbctl("--format=json", "list", table, name))
    values = dict(zip(out["headings"], out["data"][0], strict=True))

    def decode(v: Any) -> Any:
        if isinstance(v, list) and v and v[0] == "map":
            return dict(v[1])
        if isinstance(v, list) and v and v[0] == "set":
            return [decode(x) for x in v[1]]
        if isinstance(v, list) and v and v[0] == "uuid":
            return v[1]
        return v

    return {k: decode(v) for k, v in values.items()}


def test_layer2_names_and_external_ids(ovn: OvnSandbox, k8s: type[K8sObjects]) -> None:
    objs = [
        k8s.nad("ns1", "l2-network", "layer2", "192.168.100.0/24", network="tenant-blue"),
        k8s.pod("ns1", "client", "ns1/l2-network"),
        k8s.pod("ns2", "server", "ns1/l2-network"),
    ]
    build_topology(ovn, snapshot(objs))
    switch = row(ovn, "Logical_Switch", "tenant.blue_ovn_layer2_switch")
    assert switch["external_ids"] == {
        "k8s.ovn.org/network": "tenant-blue",
        "k8s.ovn.org/topology": "layer2",
        "mnp-lab": "true",
    }
    lsp = row(ovn, "Logical_Switch_Port", "ns1.l2.network_ns1_client")
    assert lsp["addresses"] == "0a:58:c0:a8:64:01 192.168.100.1"
    assert lsp["port_security"] == "0a:58:c0:a8:64:01 192.168.100.1"
    assert lsp["external_ids"] == {
        "namespace": "ns1",
        "pod": "true",
        "k8s.ovn.org/network": "tenant-blue",
        "k8s.ovn.org/nad": "ns1/l2-network",
        "k8s.ovn.org/topology": "layer2",
        "mnp-lab": "true",
    }
    assert (
        row(ovn, "Logical_Switch_Port", "ns1.l2.network_ns2_server")["external_ids"]["namespace"]
        == "ns2"
    )


def test_localnet_switch_and_port(ovn: OvnSandbox, k8s: type[K8sObjects]) -> None:
    objs = [
        k8s.nad("ns1", "phys", "localnet", "10.20.0.0/24", network="phys-net", vlanID=20),
        k8s.pod("ns1", "vm", "phys"),
    ]
    build_topology(ovn, snapshot(objs))
    switch = row(ovn, "Logical_Switch", "phys.net_ovn_localnet_switch")
    assert switch["external_ids"]["k8s.ovn.org/topology"] == "localnet"
    port = row(ovn, "Logical_Switch_Port", "phys.net_ovn_localnet_port")
    assert port["type"] == "localnet"
    assert port["addresses"] == "unknown"
    assert port["options"] == {"network_name": "phys-net"}
    assert port["tag_request"] == 20
    assert row(ovn, "Logical_Switch_Port", "ns1.phys_ns1_vm")["addresses"].endswith(" 10.20.0.1")


def test_layer3_two_nodes_behind_a_router(ovn: OvnSandbox, k8s: type[K8sObjects]) -> None:
    objs = [
        k8s.nad("ns1", "l3", "layer3", "10.128.0.0/16/24", network="l3-net"),
        k8s.pod("ns1", "a", "l3", node="node-1"),
        k8s.pod("ns1", "b", "l3", node="node-2"),
    ]
    build_topology(ovn, snapshot(objs))
    for node, third in (("node-1", 0), ("node-2", 1)):
        switch = row(ovn, "Logical_Switch", f"l3.net_{node}")
        assert switch["external_ids"]["k8s.ovn.org/topology"] == "layer3"
        rtos = row(ovn, "Logical_Router_Port", f"rtos-l3.net_{node}")
        assert rtos["networks"] == f"10.128.{third}.1/24"
        assert rtos["mac"] == f"0a:58:0a:80:{third:02x}:01"
        stor = row(ovn, "Logical_Switch_Port", f"stor-l3.net_{node}")
        assert stor["type"] == "router"
        assert stor["options"] == {"router-port": f"rtos-l3.net_{node}"}
    assert "l3.net_ovn_cluster_router" in ovn.nbctl("lr-list")
    assert "ns1.l3_ns1_b" in ovn.nbctl("lsp-list", "l3.net_node-2")


def test_rebuild_is_idempotent_and_removes_only_lab_rows_of_gone_pods(
    ovn: OvnSandbox, k8s: type[K8sObjects]
) -> None:
    nad = k8s.nad("ns1", "net", "layer2", "10.1.0.0/24")
    a, b = k8s.pod("ns1", "a", "net"), k8s.pod("ns1", "b", "net")
    build_topology(ovn, snapshot([nad, a, b]))
    # Rows that are not the lab's, and a port group referencing a lab port (as the enforcer's).
    ovn.nbctl("ls-add", "not-lab")
    ovn.nbctl("pg-add", "pg1", "ns1.net_ns1_a")
    before = ovn.nbctl("--columns=_uuid,name,addresses,external_ids", "list", "Logical_Switch_Port")
    build_topology(ovn, snapshot([nad, a, b]))
    after = ovn.nbctl("--columns=_uuid,name,addresses,external_ids", "list", "Logical_Switch_Port")
    assert before == after  # same rows, same uuids
    build_topology(ovn, snapshot([nad, a]))
    ports = ovn.nbctl("lsp-list", "net_ovn_layer2_switch")
    assert "ns1.net_ns1_a" in ports and "ns1.net_ns1_b" not in ports
    assert "not-lab" in ovn.nbctl("ls-list")
    assert row(ovn, "Port_Group", "pg1")["ports"]  # still references a's port
    build_topology(ovn, Snapshot())
    assert ovn.nbctl("ls-list").strip().endswith("(not-lab)")
    assert len(ovn.nbctl("ls-list").strip().splitlines()) == 1


def test_layer3_pod_moving_node_moves_its_port(ovn: OvnSandbox, k8s: type[K8sObjects]) -> None:
    nad = k8s.nad("ns1", "l3", "layer3", "10.128.0.0/16/24")
    build_topology(ovn, snapshot([nad, k8s.pod("ns1", "a", "l3", node="n1")]))
    build_topology(ovn, snapshot([nad, k8s.pod("ns1", "a", "l3", node="n2")]))
    assert "ns1.l3_ns1_a" in ovn.nbctl("lsp-list", "l3_n2")
    assert "l3_n1" not in ovn.nbctl("ls-list")
    assert "rtos-l3_n1" not in ovn.nbctl("show")


def test_build_of_hundred_pods_is_one_transaction(ovn: OvnSandbox, k8s: type[K8sObjects]) -> None:
    objs = [k8s.nad("ns1", "net", "layer2", "10.2.0.0/16,fd00:2::/64")]
    objs += [k8s.pod("ns1", f"p{i}", "net") for i in range(150)]
    layouts = build_topology(ovn, snapshot(objs))
    assert len(layouts["net"].ports) == 150
    assert len(ovn.nbctl("lsp-list", "net_ovn_layer2_switch").splitlines()) == 150
