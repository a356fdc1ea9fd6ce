"""The upstream netpol model as Kubernetes objects on one secondary network.

Namespaces x, y, z (labelled ``ns=<name>`` and ``kubernetes.io/metadata.name``), pods
a, b, c in each (``pod=<name>``), serving 80 and 81 over TCP, UDP and SCTP on container
ports named ``serve-<port>-<tcp|udp|sctp>`` (upstream's ``model.go``). Every namespace
has a NAD of the same network; every pod attaches to its own namespace's NAD.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mnp.model import NETWORKS_ANNOTATION, POD_NETWORKS_ANNOTATION, POLICY_FOR_ANNOTATION, NadKey
from mnp.snapshot import build_snapshot
from mnp_lab.addressing import fill_pod_networks

from .scenarios_layer2 import NAMESPACES, NS_NAME_LABEL, POD_NAMES, PolicyObject, Step

K8sObject = dict[str, Any]


@dataclass(frozen=True)
class NetworkSpec:
    """One secondary network shared by the NADs ``<ns>/<nad_name>`` of x, y and z."""

    topology: str
    network_name: str
    nad_name: str
    subnets: str | None  # the NAD's ``subnets``; None means IPAM-less
    # Pod "x/b" -> spec.nodeName (layer3 places pods on several nodes).
    nodes: Mapping[str, str] = field(default_factory=dict)
    # Pod "x/b" -> its pod-networks entry, written by hand (IPAM-less networks).
    addresses: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    vlan_id: int | None = None

    def nad_key(self, namespace: str) -> NadKey:
        return NadKey(namespace, self.nad_name)


def namespace_object(name: str, extra_labels: Mapping[str, str] = {}) -> K8sObject:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"ns": name, NS_NAME_LABEL: name, **extra_labels}},
    }


def nad_object(spec: NetworkSpec, namespace: str) -> K8sObject:
    config: dict[str, Any] = {
        "cniVersion": "0.4.0",
        "name": spec.network_name,
        "type": "ovn-k8s-cni-overlay",
        "topology": spec.topology,
        "netAttachDefName": f"{namespace}/{spec.nad_name}",
    }
    if spec.subnets is not None:
        config["subnets"] = spec.subnets
    if spec.vlan_id is not None:
        config["vlanID"] = spec.vlan_id
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"namespace": namespace, "name": spec.nad_name},
        "spec": {"config": json.dumps(config)},
    }


def container_ports() -> list[dict[str, Any]]:
    return [
        {"name": f"serve-{port}-{proto.lower()}", "containerPort": port, "protocol": proto}
        for port in (80, 81)
        for proto in ("TCP", "UDP", "SCTP")
    ]


def pod_object(
    spec: NetworkSpec, namespace: str, name: str, extra_labels: Mapping[str, str] = {}
) -> K8sObject:
    key = f"{namespace}/{name}"
    annotations = {NETWORKS_ANNOTATION: f"{namespace}/{spec.nad_name}"}
    if key in spec.addresses:
        entry = {f"{namespace}/{spec.nad_name}": dict(spec.addresses[key])}
        annotations[POD_NETWORKS_ANNOTATION] = json.dumps(entry)
    pod_spec: dict[str, Any] = {
        "containers": [{"name": "cont-80-81", "image": "agnhost", "ports": container_ports()}]
    }
    if key in spec.nodes:
        pod_spec["nodeName"] = spec.nodes[key]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "namespace": namespace,
            "name": name,
            "labels": {"pod": name, **extra_labels},
            "annotations": annotations,
        },
        "spec": pod_spec,
    }


def cluster_objects(
    spec: NetworkSpec,
    pod_labels: Mapping[str, Mapping[str, str]] = {},
    namespace_labels: Mapping[str, Mapping[str, str]] = {},
    nad_namespaces: tuple[str, ...] = NAMESPACES,
) -> list[K8sObject]:
    """Namespaces, NADs (only for ``nad_namespaces``) and the nine pods, addresses filled."""
    objects: list[K8sObject] = [
        namespace_object(ns, namespace_labels.get(ns, {})) for ns in NAMESPACES
    ]
    objects += [nad_object(spec, ns) for ns in nad_namespaces]
    # Addresses are allocated with every NAD present, so they do not move when a NAD is
    # absent in some step (pods keep their interface; only the NAD object is missing).
    addressing = [nad_object(spec, ns) for ns in NAMESPACES if ns not in nad_namespaces]
    for ns in NAMESPACES:
        for pod in POD_NAMES:
            objects.append(pod_object(spec, ns, pod, pod_labels.get(f"{ns}/{pod}", {})))
    filled = fill_pod_networks(objects + addressing)
    return filled[: len(objects)]


def pod_addresses(spec: NetworkSpec, objects: list[K8sObject]) -> dict[str, tuple[str, ...]]:
    """Pod "x/b" -> its interface addresses (CIDR form) on ``spec``'s network."""
    build = build_snapshot(objects)
    out: dict[str, tuple[str, ...]] = {}
    for pod in build.snapshot.pods:
        attachment = pod.attachment(spec.nad_key(pod.namespace))
        if attachment is not None:
            out[f"{pod.namespace}/{pod.name}"] = attachment.ips
    return out


_PLACEHOLDER = re.compile(r"\{(host|host4|host6|large):([a-z]/[a-z])\}")


def _address_of(
    addresses: Mapping[str, tuple[str, ...]], pod: str, family: int | None
) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    ifaces = [ipaddress.ip_interface(a) for a in addresses.get(pod, ())]
    chosen = [i for i in ifaces if family is None or i.version == family]
    if not chosen:
        raise AssertionError(
            f"pod {pod} has no IPv{family or ''} address on the test network: {ifaces}"
        )
    return chosen[0]


def resolve_addresses(obj: Any, addresses: Mapping[str, tuple[str, ...]]) -> Any:
    """Replace ``{host:x/b}`` / ``{host4:..}`` / ``{host6:..}`` / ``{large:x/b}`` in strings.

    ``host`` is the pod's first (primary) address with a host mask, as upstream builds
    from ``pod.Status.PodIP``; ``large`` is upstream's ``makeLargeCIDRForIP`` (the /4).
    """
    if isinstance(obj, str):

        def replace(m: re.Match[str]) -> str:
            kind, pod = m.group(1), m.group(2)
            family = {"host": None, "host4": 4, "host6": 6, "large": None}[kind]
            iface = _address_of(addresses, pod, family)
            if kind == "large":
                return str(ipaddress.ip_network(f"{iface.ip}/4", strict=False))
            return f"{iface.ip}/{iface.max_prefixlen}"

        return _PLACEHOLDER.sub(replace, obj)
    if isinstance(obj, list):
        return [resolve_addresses(v, addresses) for v in obj]
    if isinstance(obj, dict):
        return {k: resolve_addresses(v, addresses) for k, v in obj.items()}
    return obj


def policy_for(
    spec: NetworkSpec, obj: PolicyObject, addresses: Mapping[str, tuple[str, ...]]
) -> K8sObject:
    """The policy with its own namespace's NAD in policy-for and pod addresses filled in."""
    out: K8sObject = resolve_addresses(obj, addresses)
    meta = out["metadata"]
    annotations = dict(meta.get("annotations") or {})
    annotations.setdefault(POLICY_FOR_ANNOTATION, f"{meta['namespace']}/{spec.nad_name}")
    meta["annotations"] = annotations
    return out


def step_objects(spec: NetworkSpec, step: Step, with_all_nads: bool = False) -> list[K8sObject]:
    """Every object of the cluster at ``step``: the model, its label changes, its policies.

    ``with_all_nads`` keeps every namespace's NAD even where the step leaves it out (the
    tracer needs the full layout to probe pods whose NAD is missing from the step).
    """
    nads = NAMESPACES if with_all_nads else step.nad_namespaces
    objects = cluster_objects(spec, step.pod_labels, step.namespace_labels, nads)
    addresses = pod_addresses(spec, cluster_objects(spec))
    return objects + [policy_for(spec, p, addresses) for p in step.policies]
