"""The verified connectivity table: ovn-trace every probe and compare with the reference model.

On localnet networks the probes include addresses outside the cluster (one per ipBlock of
the policies): a pod sending to one is delivered when the packet leaves through the
localnet port; one sending to a pod enters through the localnet port, from a host MAC
outside the cluster, and is delivered when it reaches the pod's port.

One ``ovn-trace --detach`` daemon answers all traces of a run over its unixctl socket,
which is far cheaper than a process per trace.

Two facts about ovn-trace 23.03 shape the daemon handling:
- it reads the SB once, when it connects, so it must start after ``sandbox.sync()``;
- ``--ct`` can only be given at start-up, and the states are consumed across traces
  (the index is never reset), after which every ``ct_next`` sees ``est|trk`` and
  established traffic bypasses the ACLs. So the daemon gets a large supply of
  ``--ct=new``, the traces count what they consume, and the daemon is restarted before
  the supply runs low (and a trace that saw the default state is redone).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnp.model import Snapshot
from mnp_lab.connectivity import (
    Endpoint,
    Probe,
    ProbePort,
    applies_to,
    expected_matrix,
    network_nads,
    policy_ports,
)
from mnp_lab.ovn import OvnError, OvnSandbox, read_pid, require_binary, stop_pid
from mnp_lab.topology import NetworkLayout, PodPort, plan_topology

# Each stateful pipeline stage consumes one --ct: two per switch, more on a routed path.
CT_STAGES_PER_TRACE = 8
CT_SUPPLY = 16_000  # ~140 KB of argv; about 2,000 traces between restarts
_CT_DEFAULT_MARK = "default (use --ct to customize)"
SOURCE_PORT = 33_333
EXTERNAL_MAC = "02:00:00:00:ee:01"  # a host outside the cluster, reached via the localnet port


class TraceError(OvnError):
    """ovn-trace could not answer."""


class TraceDaemon:
    """``ovn-trace --detach`` on the sandbox's SB, driven through its unixctl socket."""

    def __init__(self, sandbox: OvnSandbox, supply: int = CT_SUPPLY) -> None:
        self.sandbox = sandbox
        self.supply = supply
        self.remaining = 0
        self.restarts = 0
        self._client: Any = None

    @property
    def ctl(self) -> Path:
        return self.sandbox.dir / "trace.ctl"

    @property
    def pidfile(self) -> Path:
        return self.sandbox.dir / "trace.pid"

    def start(self) -> TraceDaemon:
        import ovs.unixctl.client  # type: ignore[import-untyped]  # the python "ovs" package; only the tracer needs it

        self.stop()
        self.ctl.unlink(missing_ok=True)
        argv = [
            require_binary("ovn-trace"),
            f"--db={self.sandbox.sb_remote}",
            f"--unixctl={self.ctl}",
            f"--pidfile={self.pidfile}",
            f"--log-file={self.sandbox.dir / 'trace.log'}",
            "--detach",
            "--no-chdir",
            *(["--ct=new"] * self.supply),
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.sandbox.env())
        if proc.returncode != 0:
            raise TraceError(f"ovn-trace --detach failed: {proc.stderr.strip()}")
        deadline = time.monotonic() + 20
        while not self.ctl.exists():
            if time.monotonic() > deadline:
                raise TraceError(f"ovn-trace did not create {self.ctl}; see trace.log")
            time.sleep(0.005)
        error, client = ovs.unixctl.client.UnixctlClient.create(str(self.ctl))
        if error:
            raise TraceError(f"cannot connect to {self.ctl}: {os.strerror(error)}")
        self._client = client
        self.remaining = self.supply
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        pid = read_pid(self.pidfile)
        if pid is not None:
            stop_pid(pid)
            self.pidfile.unlink(missing_ok=True)

    def __enter__(self) -> TraceDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def trace(self, datapath: str, microflow: str) -> str:
        """The ``--minimal`` trace of a first packet (every conntrack stage sees ``new``)."""
        for _attempt in range(2):
            if self._client is None or self.remaining < CT_STAGES_PER_TRACE:
                self.restarts += self._client is not None
                self.start()
            assert self._client is not None
            error, err, out = self._client.transact("trace", ["--minimal", datapath, microflow])
            if error:
                raise TraceError(f"ovn-trace daemon: {os.strerror(error)}")
            if err is not None:
                raise TraceError(f"ovn-trace {datapath} {microflow!r}: {err}")
            text = str(out)
            self.remaining -= text.count("ct_next(")
            if _CT_DEFAULT_MARK not in text:
                if text.startswith(("unknown datapath", "error parsing flow")):
                    raise TraceError(f"ovn-trace {datapath} {microflow!r}: {text.strip()}")
                return text
            self.remaining = 0  # the supply ran out mid-trace: restart and redo it
        raise TraceError(f"ovn-trace kept running out of --ct states on {microflow!r}")


def delivered(trace_output: str, port: str) -> bool:
    return f'output("{port}");' in trace_output or f'output("{port}")' in trace_output


# --- microflows ------------------------------------------------------------------------


def microflow(
    inport: str,
    eth_src: str,
    eth_dst: str,
    src_ip: str,
    dst_ip: str,
    protocol: str,
    port: int,
) -> str:
    family = "ip4" if ipaddress.ip_address(src_ip).version == 4 else "ip6"
    l4 = protocol.lower()
    return (
        f'inport == "{inport}" && eth.src == {eth_src} && eth.dst == {eth_dst} && '
        f"{family}.src == {src_ip} && {family}.dst == {dst_ip} && ip.ttl == 64 && "
        f"{l4}.src == {SOURCE_PORT} && {l4}.dst == {port}"
    )


def representative_address(cidr: str, excepts: Sequence[str], avoid: set[str]) -> str | None:
    """An address inside ``cidr``, outside every except and not a pod's address."""
    net = ipaddress.ip_network(cidr, strict=False)
    holes = [ipaddress.ip_network(e, strict=False) for e in excepts]
    n = int(net.network_address) + (1 if net.num_addresses > 2 else 0)
    last = int(net.broadcast_address)
    for _ in range(4096):
        if n > last:
            return None
        ip = ipaddress.ip_address(n)
        hole = next((h for h in holes if h.version == ip.version and ip in h), None)
        if hole is not None:
            n = int(hole.broadcast_address) + 1
            continue
        if str(ip) not in avoid:
            return str(ip)
        n += 1
    return None


def external_addresses(snapshot: Snapshot, network: str) -> list[str]:
    """One representative address per ipBlock of the policies applied to ``network``."""
    nads = network_nads(snapshot, network)
    avoid = {
        str(ipaddress.ip_interface(ip).ip)
        for pod in snapshot.pods
        for _, att in pod.attachments
        for ip in att.ips
    }
    found: list[str] = []
    for policy in snapshot.policies:
        if not applies_to(policy, nads):
            continue
        for rule in (*policy.ingress, *policy.egress):
            for peer in rule.peers:
                if peer.ip_block is None:
                    continue
                ip = representative_address(peer.ip_block.cidr, peer.ip_block.except_, avoid)
                if ip is not None and ip not in found:
                    found.append(ip)
    return found


# --- matrices --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    probe: Probe
    expected: bool
    observed: bool

    @property
    def agrees(self) -> bool:
        return self.expected == self.observed


@dataclass
class NetworkMatrix:
    network: str
    topology: str
    ports: tuple[ProbePort, ...]
    cells: list[Cell] = field(default_factory=list)

    @property
    def disagreements(self) -> list[Cell]:
        return [c for c in self.cells if not c.agrees]


PortIndex = dict[tuple[str, str, str], PodPort]


def _port_index(layout: NetworkLayout) -> PortIndex:
    return {(str(p.nad), p.pod_namespace, p.pod_name): p for p in layout.ports}


def _port_for(ports: PortIndex, ep: Endpoint) -> PodPort | None:
    if ep.pod is None:
        return None
    return ports.get((str(ep.nad), ep.pod.namespace, ep.pod.name))


def _trace_probe(
    daemon: TraceDaemon, layout: NetworkLayout, ports: PortIndex, probe: Probe
) -> bool:
    src, dst = probe.src, probe.dst
    if src.pod is None:
        return _trace_from_outside(daemon, layout, ports, probe)
    sport = _port_for(ports, src)
    assert sport is not None
    if dst.pod is None:
        assert layout.localnet_port is not None
        target, dst_mac = layout.localnet_port, EXTERNAL_MAC
    else:
        dport = _port_for(ports, dst)
        assert dport is not None
        target, dst_mac = dport.name, dport.mac
        if dport.switch != sport.switch:
            dst_mac = layout.router_ports[sport.switch].mac  # routed: send to the gateway
    flow = microflow(
        sport.name, sport.mac, dst_mac, src.ip, dst.ip, probe.port.protocol, probe.port.port
    )
    return delivered(daemon.trace(sport.switch, flow), target)


def _trace_from_outside(
    daemon: TraceDaemon, layout: NetworkLayout, ports: PortIndex, probe: Probe
) -> bool:
    """A packet from a host outside the cluster, entering through the localnet port."""
    dport = _port_for(ports, probe.dst)
    assert dport is not None and layout.localnet_port is not None
    flow = microflow(
        layout.localnet_port,
        EXTERNAL_MAC,
        dport.mac,
        probe.src.ip,
        probe.dst.ip,
        probe.port.protocol,
        probe.port.port,
    )
    return delivered(daemon.trace(dport.switch, flow), dport.name)


def _traceable(layout: NetworkLayout, ports: PortIndex, ep: Endpoint) -> bool:
    if ep.pod is None:
        return layout.localnet_port is not None
    return _port_for(ports, ep) is not None


def trace_matrix(
    sandbox: OvnSandbox,
    snapshot: Snapshot,
    ports: Sequence[ProbePort] | None = None,
) -> list[NetworkMatrix]:
    """Trace every probe on every network of ``snapshot`` (topology already built).

    ``ports`` defaults, per network, to the ports its policies name (else 80/TCP).
    """
    sandbox.sync()
    layouts = plan_topology(snapshot)
    result: list[NetworkMatrix] = []
    with TraceDaemon(sandbox) as daemon:
        for name, layout in sorted(layouts.items()):
            probe_ports = list(ports) if ports else policy_ports(snapshot, name)
            externals = (
                external_addresses(snapshot, name) if layout.localnet_port is not None else []
            )
            expected = expected_matrix(snapshot, name, probe_ports, externals)
            matrix = NetworkMatrix(name, layout.network.topology, tuple(probe_ports))
            index = _port_index(layout)
            for probe, allowed in expected.cells:
                if not (
                    _traceable(layout, index, probe.src) and _traceable(layout, index, probe.dst)
                ):
                    continue
                observed = _trace_probe(daemon, layout, index, probe)
                matrix.cells.append(Cell(probe, allowed, observed))
            result.append(matrix)
    return result
