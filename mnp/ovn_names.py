"""OVN-Kubernetes' names for secondary-network objects (FACTS §4).

Pure functions shared by the lab (which plays OVN-Kubernetes' part) and the enforcer
(which must find the switch ports OVN-Kubernetes created).
"""

from __future__ import annotations

from mnp.model import NadKey, Network

# external_ids keys OVN-Kubernetes puts on secondary-network rows.
NETWORK_EXTERNAL_ID = "k8s.ovn.org/network"
TOPOLOGY_EXTERNAL_ID = "k8s.ovn.org/topology"
NAD_EXTERNAL_ID = "k8s.ovn.org/nad"


def network_prefix(name: str) -> str:
    """The network name with ``-`` and ``/`` replaced by ``.`` (no trailing ``_``)."""
    return name.replace("-", ".").replace("/", ".")


def switch_name(network: Network, node: str | None = None) -> str:
    """The logical switch of ``network``; layer3 has one per node, so ``node`` is required."""
    prefix = network_prefix(network.name)
    if network.topology == "layer2":
        return f"{prefix}_ovn_layer2_switch"
    if network.topology == "localnet":
        return f"{prefix}_ovn_localnet_switch"
    if not node:
        raise ValueError(f"layer3 network {network.name!r} has one switch per node: name the node")
    return f"{prefix}_{node}"


def lsp_name(nad: NadKey, pod_ns: str, pod_name: str) -> str:
    """Logical switch port of a pod's attachment, e.g. ``ns1.l2.network_ns1_client``."""
    return f"{network_prefix(str(nad))}_{pod_ns}_{pod_name}"


def localnet_port_name(network: Network) -> str:
    return f"{network_prefix(network.name)}_ovn_localnet_port"


def router_name(network: Network) -> str:
    """The cluster router of a layer3 network."""
    return f"{network_prefix(network.name)}_ovn_cluster_router"


def router_to_switch_port(network: Network, node: str) -> str:
    """Router side of the link between the cluster router and a node switch (``rtos-``)."""
    return f"rtos-{switch_name(network, node)}"


def switch_to_router_port(network: Network, node: str) -> str:
    """Switch side of that link (``stor-``)."""
    return f"stor-{switch_name(network, node)}"
