"""Play OVN-Kubernetes' part: the switches, routers and pod ports of secondary networks.

``plan_topology`` is the pure description (also used by the tracer to build microflows);
``build_topology`` makes the NB database match it with one ``ovn-nbctl`` transaction.
Every row the lab writes carries ``external_ids:mnp-lab=true``, so a rebuild can find and
delete the rows of pods that are gone without touching anything else.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mnp.model import OVN_CNI_TYPE, NadKey, Network, Pod, Snapshot
from mnp.ovn_names import (
    NAD_EXTERNAL_ID,
    NETWORK_EXTERNAL_ID,
    TOPOLOGY_EXTERNAL_ID,
    localnet_port_name,
    lsp_name,
    router_name,
    router_to_switch_port,
    switch_name,
    switch_to_router_port,
)
from mnp_lab.addressing import mac_for, pod_node
from mnp_lab.ovn import OvnSandbox

LAB_MARK = "mnp-lab"


@dataclass(frozen=True)
class PodPort:
    """One pod attachment as a logical switch port."""

    name: str
    switch: str
    network: str
    nad: NadKey
    pod_namespace: str
    pod_name: str
    mac: str
    ips: tuple[str, ...]  # interface CIDRs
    node: str

    @property
    def addresses(self) -> str:
        return " ".join([self.mac, *(str(ipaddress.ip_interface(i).ip) for i in self.ips)])


@dataclass(frozen=True)
class RouterPort:
    name: str  # rtos-<switch>
    peer: str  # stor-<switch>, the switch side
    switch: str
    mac: str
    networks: tuple[str, ...]  # gateway/prefix per family


@dataclass
class NetworkLayout:
    network: Network  # the first NAD of the network, for names and topology
    switches: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> external_ids
    ports: list[PodPort] = field(default_factory=list)
    router: str | None = None
    router_ports: dict[str, RouterPort] = field(default_factory=dict)  # by switch name
    localnet_port: str | None = None


def _ids(**items: str) -> dict[str, str]:
    return {LAB_MARK: "true", **items}


def pod_ports(
    pod: Pod, network_of: Mapping[NadKey, Network], first_of_name: Mapping[str, Network]
) -> list[PodPort]:
    """The switch ports of one pod's addressed attachments to OVN networks. ``network_of``
    maps NADs to their networks, ``first_of_name`` a network name to the NAD that names its
    switches (the first in NAD order)."""
    ports: list[PodPort] = []
    for key, att in pod.attachments:
        attached = network_of.get(key)
        if attached is None:
            continue
        node = pod_node(pod)
        layer3 = attached.topology == "layer3"
        ports.append(
            PodPort(
                name=lsp_name(key, pod.namespace, pod.name),
                switch=switch_name(first_of_name[attached.name], node if layer3 else None),
                network=attached.name,
                nad=key,
                pod_namespace=pod.namespace,
                pod_name=pod.name,
                mac=att.mac,
                ips=att.ips,
                node=node,
            )
        )
    return ports


def plan_topology(snapshot: Snapshot) -> dict[str, NetworkLayout]:
    """What OVN-Kubernetes would create for the snapshot's secondary networks, by network name."""
    layouts: dict[str, NetworkLayout] = {}
    network_of: dict[NadKey, Network] = {}
    for net in sorted(snapshot.networks, key=lambda n: n.nad):
        if net.cni_type != OVN_CNI_TYPE:
            continue
        network_of[net.nad] = net
        layout = layouts.setdefault(net.name, NetworkLayout(net))
        net_ids = {NETWORK_EXTERNAL_ID: net.name, TOPOLOGY_EXTERNAL_ID: net.topology}
        if net.topology in ("layer2", "localnet"):
            layout.switches[switch_name(net)] = _ids(**net_ids)
        if net.topology == "localnet":
            layout.localnet_port = localnet_port_name(net)
        if net.topology == "layer3":
            layout.router = router_name(net)

    first_of_name = {name: layout.network for name, layout in layouts.items()}
    for pod in sorted(snapshot.pods, key=lambda p: (p.namespace, p.name)):
        for port in pod_ports(pod, network_of, first_of_name):
            layout = layouts[port.network]
            if port.switch not in layout.switches:  # a layer3 node switch
                layout.switches[port.switch] = _ids(
                    **{NETWORK_EXTERNAL_ID: port.network, TOPOLOGY_EXTERNAL_ID: "layer3"}
                )
            layout.ports.append(port)

    for layout in layouts.values():
        if layout.router is None:
            continue
        # The node subnet is the prefix of the node's pod addresses; its .1 is the gateway.
        subnets: dict[tuple[str, str], set[str]] = {}  # (switch, node) -> CIDRs
        for port in layout.ports:
            for ip in port.ips:
                subnets.setdefault((port.switch, port.node), set()).add(
                    str(ipaddress.ip_interface(ip).network)
                )
        for (sw, node), node_subnets in sorted(subnets.items()):
            gateways = []
            for cidr in sorted(node_subnets):
                subnet = ipaddress.ip_network(cidr)
                gateway = subnet.network_address + 1
                gateways.append(ipaddress.ip_interface((gateway, subnet.prefixlen)))
            mac = mac_for([g.ip for g in gateways], f"{layout.router}/{sw}", set())
            layout.router_ports[sw] = RouterPort(
                name=router_to_switch_port(layout.network, node),
                peer=switch_to_router_port(layout.network, node),
                switch=sw,
                mac=mac,
                networks=tuple(str(g) for g in gateways),
            )
    return layouts


# --- writing the NB ---------------------------------------------------------------------


def _ovsdb_map(items: Mapping[str, str]) -> str:
    """An OVSDB map literal with every key and value quoted (keys contain ``/`` and ``.``)."""
    return (
        "{" + ",".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in sorted(items.items())) + "}"
    )


def _ovsdb_set(items: list[str]) -> str:
    return "[" + ",".join(json.dumps(i) for i in items) + "]"


def _existing(sandbox: OvnSandbox, table: str, columns: str) -> list[dict[str, Any]]:
    """Rows of ``table`` as dicts, decoding ovn-nbctl's JSON (maps, sets and uuids)."""
    out = json.loads(sandbox.nbctl("--format=json", f"--columns={columns}", "list", table))
    rows: list[dict[str, Any]] = []
    for data in out["data"]:
        rows.append({h: _decode(v) for h, v in zip(out["headings"], data, strict=True)})
    return rows


def _decode(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        kind, body = value
        if kind == "map":
            return {k: _decode(v) for k, v in body}
        if kind == "set":
            return [_decode(v) for v in body]
        if kind in ("uuid", "named-uuid"):
            return body
    return value


def build_topology(sandbox: OvnSandbox, snapshot: Snapshot) -> dict[str, NetworkLayout]:
    """Make the NB hold exactly the lab rows ``snapshot`` needs; return the layout.

    Creates what is missing, rewrites every lab row's columns (a no-op when equal) and
    deletes lab rows that are no longer wanted, all in one ovn-nbctl transaction.
    """
    layouts = plan_topology(snapshot)
    switches = _existing(sandbox, "Logical_Switch", "_uuid,name,ports,external_ids")
    lsps = _existing(sandbox, "Logical_Switch_Port", "_uuid,name,external_ids")
    routers = _existing(sandbox, "Logical_Router", "_uuid,name,ports,external_ids")
    lrps = _existing(sandbox, "Logical_Router_Port", "_uuid,name,external_ids")

    lsp_by_uuid = {r["_uuid"]: r for r in lsps}
    switch_of_port = {
        lsp_by_uuid[u]["name"]: s["name"] for s in switches for u in _as_list(s["ports"])
    }
    existing_lrps = {r["name"] for r in lrps}

    want_switches = {sw for lay in layouts.values() for sw in lay.switches}
    want_routers = {lay.router for lay in layouts.values() if lay.router}
    want_lsps: dict[str, str] = {}  # name -> switch
    for lay in layouts.values():
        want_lsps.update({p.name: p.switch for p in lay.ports})
        if lay.localnet_port:
            want_lsps[lay.localnet_port] = next(iter(lay.switches))
        want_lsps.update({rp.peer: rp.switch for rp in lay.router_ports.values()})
    want_lrps = {rp.name for lay in layouts.values() for rp in lay.router_ports.values()}

    cmds: list[list[str]] = []
    # Deletions first: stale or moved ports, then stale switches and routers.
    for r in lsps:
        name = r["name"]
        on = switch_of_port.get(name)
        if r["external_ids"].get(LAB_MARK) != "true" or on is None:
            continue
        if want_lsps.get(name) != on:
            # Gone, or moved (a layer3 pod on another node): delete it before any ls-del,
            # which would leave a moved port orphaned for the lsp-add below.
            cmds.append(["lsp-del", name])
            switch_of_port.pop(name)
    for s in switches:
        if s["external_ids"].get(LAB_MARK) == "true" and s["name"] not in want_switches:
            cmds.append(["ls-del", s["name"]])
    lrp_by_uuid = {r["_uuid"]: r for r in lrps}
    for r in routers:
        if r["external_ids"].get(LAB_MARK) != "true":
            continue
        if r["name"] not in want_routers:
            cmds.append(["lr-del", r["name"]])
            continue
        for uuid in _as_list(r["ports"]):
            lrp = lrp_by_uuid[uuid]
            if lrp["name"] not in want_lrps:
                cmds.append(["lrp-del", lrp["name"]])
                existing_lrps.discard(lrp["name"])

    for lay in layouts.values():
        for sw, ids in lay.switches.items():
            cmds.append(["--may-exist", "ls-add", sw])
            cmds.append(["set", "Logical_Switch", sw, f"external_ids={_ovsdb_map(ids)}"])
        net = lay.network
        net_ids = {NETWORK_EXTERNAL_ID: net.name, TOPOLOGY_EXTERNAL_ID: net.topology}
        if lay.localnet_port:
            sw = next(iter(lay.switches))
            name = lay.localnet_port
            cmds.append(["--may-exist", "lsp-add", sw, name])
            cmds.append(["lsp-set-type", name, "localnet"])
            cmds.append(["lsp-set-addresses", name, "unknown"])
            cmds.append(["lsp-set-options", name, f"network_name={net.name}"])
            cmds.append(
                ["set", "Logical_Switch_Port", name, f"external_ids={_ovsdb_map(_ids(**net_ids))}"]
            )
            if net.vlan_id is not None:
                cmds.append(["set", "Logical_Switch_Port", name, f"tag_request={net.vlan_id}"])
        if lay.router:
            cmds.append(["--may-exist", "lr-add", lay.router])
            cmds.append(
                ["set", "Logical_Router", lay.router, f"external_ids={_ovsdb_map(_ids(**net_ids))}"]
            )
            for rp in lay.router_ports.values():
                if rp.name in existing_lrps:
                    cmds.append(
                        [
                            "set",
                            "Logical_Router_Port",
                            rp.name,
                            f"mac={json.dumps(rp.mac)}",
                            f"networks={_ovsdb_set(list(rp.networks))}",
                        ]
                    )
                else:
                    cmds.append(["lrp-add", lay.router, rp.name, rp.mac, *rp.networks])
                cmds.append(
                    ["set", "Logical_Router_Port", rp.name, f"external_ids={_ovsdb_map(_ids())}"]
                )
                cmds.append(["--may-exist", "lsp-add", rp.switch, rp.peer])
                cmds.append(["lsp-set-type", rp.peer, "router"])
                cmds.append(["lsp-set-addresses", rp.peer, "router"])
                cmds.append(["lsp-set-options", rp.peer, f"router-port={rp.name}"])
                cmds.append(
                    ["set", "Logical_Switch_Port", rp.peer, f"external_ids={_ovsdb_map(_ids())}"]
                )
        for p in lay.ports:
            on = switch_of_port.get(p.name)
            if on is not None and on != p.switch:
                cmds.append(["lsp-del", p.name])  # the pod moved (layer3: another node)
            cmds += pod_port_commands(p, net.topology)

    run_transaction(sandbox, cmds)
    return layouts


def pod_port_commands(port: PodPort, topology: str) -> list[list[str]]:
    """ovn-nbctl commands creating (or rewriting) one pod's switch port."""
    ids = _ids(
        namespace=port.pod_namespace,
        pod="true",
        **{
            NETWORK_EXTERNAL_ID: port.network,
            NAD_EXTERNAL_ID: str(port.nad),
            TOPOLOGY_EXTERNAL_ID: topology,
        },
    )
    return [
        ["--may-exist", "lsp-add", port.switch, port.name],
        ["lsp-set-addresses", port.name, port.addresses],
        ["lsp-set-port-security", port.name, port.addresses],
        ["set", "Logical_Switch_Port", port.name, f"external_ids={_ovsdb_map(ids)}"],
    ]


# Commands per ovn-nbctl run when packing independent groups: keeps argv far below ARG_MAX.
MAX_COMMANDS_PER_RUN = 2000


def run_transactions(sandbox: OvnSandbox, groups: list[list[list[str]]]) -> None:
    """Groups of commands (each one pod's, say) packed into as few ovn-nbctl transactions as
    keep each run's argv bounded; a group is never split."""
    pending: list[list[str]] = []
    for group in groups:
        if pending and len(pending) + len(group) > MAX_COMMANDS_PER_RUN:
            run_transaction(sandbox, pending)
            pending = []
        pending += group
    run_transaction(sandbox, pending)


def run_transaction(sandbox: OvnSandbox, cmds: list[list[str]]) -> None:
    """All of ``cmds`` as one ovn-nbctl transaction (nothing when empty)."""
    if cmds:
        argv: list[str] = []
        for c in cmds:
            argv += ["--", *c]
        sandbox.nbctl(*argv[1:])


def _as_list(value: Any) -> list[str]:
    """A set column: ovn-nbctl prints a one-element set as the bare element."""
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)] if value else []
