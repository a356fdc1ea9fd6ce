"""Semantics through real OVN: named ports resolving to different numbers per pod, a UDP-only
policy that still isolates TCP, ipBlock with except matching pod IPs, on a dual-stack layer2."""

from __future__ import annotations

import json
from typing import Any

from enforcer.reconcile import NbTarget, reconcile
from mnp_lab.connectivity import ProbePort
from mnp_lab.ovn import OvnSandbox
from mnp_lab.trace import trace_matrix
from tests.support.ovn_enforcement import lab, observed_matrix, pod_manifest, snapshot_of


def _policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": "t",
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": "net"},
        },
        "spec": spec,
    }


def objects() -> list[dict[str, Any]]:
    config = {
        "cniVersion": "0.4.0",
        "name": "t-net",
        "netAttachDefName": "t/net",
        "topology": "layer2",
        "type": "ovn-k8s-cni-overlay",
        "subnets": "10.90.0.0/24,fd00:90::/64",
    }
    web = [{"name": "web", "containerPort": 80, "protocol": "TCP"}]
    web81 = [{"name": "web", "containerPort": 81, "protocol": "TCP"}]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t"}},
        {
            "apiVersion": "k8s.cni.cncf.io/v1",
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "net", "namespace": "t"},
            "spec": {"config": json.dumps(config)},
        },
        pod_manifest("s80", "t", "t/net", {"role": "server"}, web),
        pod_manifest("s81", "t", "t/net", {"role": "server"}, web81),
        pod_manifest("dns", "t", "t/net", {"role": "dns"}),
        pod_manifest("client", "t", "t/net", {"role": "client"}),
        # servers: only the named port "web" (80 on s80, 81 on s81), from anyone
        _policy(
            "servers-web",
            {
                "podSelector": {"matchLabels": {"role": "server"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"port": "web"}]}],
            },
        ),
        # dns: UDP 53 only; TCP must stay closed
        _policy(
            "dns-udp",
            {
                "podSelector": {"matchLabels": {"role": "dns"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"protocol": "UDP", "port": 53}]}],
            },
        ),
        # client: egress to the whole IPv4 subnet except s81's address block
        _policy(
            "client-egress",
            {
                "podSelector": {"matchLabels": {"role": "client"}},
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"ipBlock": {"cidr": "10.90.0.0/24", "except": ["10.90.0.4/32"]}}]}
                ],
            },
        ),
    ]


def test_named_ports_udp_only_and_ip_block_except(ovn: OvnSandbox) -> None:
    objs = objects()
    snap = snapshot_of(objs)
    ips = {p.name: p.attachments[0][1].ips for p in snap.pods}
    assert ips["s81"][0] == "10.90.0.4/24", ips  # the except above targets s81 (lab addresses)
    lab(ovn, snap)
    result = reconcile(NbTarget(ovn.nb_remote), snap)
    assert [s.state for s in result.statuses] == ["applied"] * 3
    ports = [ProbePort("TCP", 80), ProbePort("TCP", 81), ProbePort("UDP", 53)]
    seen = observed_matrix(ovn, snap, ports=ports)
    v4 = {k: v for k, v in seen.items() if not k[0].endswith("@v6")}
    # named port: 80 reaches s80 only, 81 reaches s81 only
    assert v4[("dns", "s80", "80/TCP")] is True
    assert v4[("dns", "s80", "81/TCP")] is False
    assert v4[("dns", "s81", "81/TCP")] is True
    assert v4[("dns", "s81", "80/TCP")] is False
    # UDP-only policy: UDP 53 in, TCP not
    assert v4[("s80", "dns", "53/UDP")] is True
    assert v4[("s80", "dns", "80/TCP")] is False
    # ipBlock except applies to a pod IP; the IPv4 block does not open IPv6
    assert v4[("client", "s80", "80/TCP")] is True
    assert v4[("client", "s81", "81/TCP")] is False
    assert seen[("client@v6", "s80@v6", "80/TCP")] is False
    assert seen[("dns@v6", "s80@v6", "80/TCP")] is True
    # and every traced cell agrees with the reference model (both families)
    disagreements = [c for m in trace_matrix(ovn, snap, ports=ports) for c in m.disagreements]
    assert disagreements == []
