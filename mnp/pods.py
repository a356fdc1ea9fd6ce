"""Pods and namespaces as the policy model sees them.

``parse_pod`` never raises: a bad field is dropped and reported as a message naming the
pod and the field, so one odd pod does not hide the others.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any, cast

from mnp.model import (
    NETWORKS_ANNOTATION,
    POD_NETWORKS_ANNOTATION,
    Attachment,
    ContainerPort,
    NadKey,
    Namespace,
    Pod,
    Protocol,
)

PROTOCOLS: tuple[Protocol, ...] = ("TCP", "UDP", "SCTP")
# The API server labels every namespace with its own name (Kubernetes >= 1.21).
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _mapping(value: Any) -> Mapping[str, Any]:
    return cast(Mapping[str, Any], value) if isinstance(value, Mapping) else {}


def _string_map(value: Any, where: str, problems: list[str]) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        problems.append(f"{where}: must be a map of strings, got {type(value).__name__}")
        return ()
    out: list[tuple[str, str]] = []
    for k, v in value.items():
        if isinstance(k, str) and isinstance(v, str):
            out.append((k, v))
        else:
            problems.append(f"{where}[{k}]: must be a string, got {type(v).__name__}; ignored")
    return tuple(sorted(out))


def parse_network_selection(text: str, pod_namespace: str) -> tuple[list[NadKey], list[str]]:
    """The ``k8s.v1.cni.cncf.io/networks`` annotation: a JSON list or a comma list.

    Comma form: ``name``, ``ns/name``, optionally ``@interface``. JSON form: objects with
    ``name`` and optional ``namespace``. A missing namespace means the pod's own.
    """
    text = text.strip()
    if not text:
        return [], []
    keys: list[NadKey] = []
    problems: list[str] = []
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError as e:
            return [], [f"invalid JSON ({e}); write a JSON list of {{'name', 'namespace'}}"]
        if not isinstance(items, list):
            return [], ["must be a JSON list"]
        for i, item in enumerate(items):
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                problems.append(f"[{i}]: needs a string 'name'; ignored")
                continue
            ns = item.get("namespace")
            ns = ns if isinstance(ns, str) and ns else pod_namespace
            keys.append(NadKey(ns, item["name"]))
        return keys, problems
    for raw in text.split(","):
        entry = raw.strip().split("@", 1)[0]
        if not entry:
            continue
        ns, sep, name = entry.partition("/")
        if not sep:
            ns, name = pod_namespace, entry
        if not ns or not name or "/" in name:
            problems.append(f"entry {raw.strip()!r} is not 'name' or 'namespace/name'; ignored")
            continue
        keys.append(NadKey(ns, name))
    return keys, problems


def parse_pod_networks(text: str) -> tuple[list[tuple[NadKey, Attachment]], list[str]]:
    """The ``k8s.ovn.org/pod-networks`` annotation, keyed ``"<nad ns>/<nad name>"``."""
    try:
        data = json.loads(text)
    except ValueError as e:
        return [], [f"invalid JSON ({e})"]
    if not isinstance(data, Mapping):
        return [], ["must be a JSON object keyed by 'namespace/name'"]
    out: list[tuple[NadKey, Attachment]] = []
    problems: list[str] = []
    for key, entry in data.items():
        ns, sep, name = str(key).partition("/")
        if not sep or not ns or not name:
            # OVN-Kubernetes also writes "default" for the primary network: not a NAD.
            continue
        if not isinstance(entry, Mapping):
            problems.append(f"[{key}]: must be an object; ignored")
            continue
        raw_ips = entry.get("ip_addresses")
        if raw_ips is None and isinstance(entry.get("ip_address"), str):
            raw_ips = [entry["ip_address"]]  # older single-address form
        ips: list[str] = []
        for ip in raw_ips or []:
            try:
                ips.append(str(ipaddress.ip_interface(str(ip))))
            except ValueError:
                problems.append(f"[{key}].ip_addresses: {ip!r} is not an address/prefix; ignored")
        mac = entry.get("mac_address")
        if not isinstance(mac, str) or not mac:
            problems.append(f"[{key}].mac_address: required; attachment ignored")
            continue
        out.append((NadKey(ns, name), Attachment(ips=tuple(ips), mac=mac.lower())))
    return sorted(out), problems


def _container_ports(spec: Mapping[str, Any], problems: list[str]) -> tuple[ContainerPort, ...]:
    ports: list[ContainerPort] = []
    containers = spec.get("containers")
    if not isinstance(containers, list):
        return ()
    for ci, container in enumerate(containers):
        for pi, p in enumerate(_mapping(container).get("ports") or []):
            where = f"spec.containers[{ci}].ports[{pi}]"
            p = _mapping(p)
            number = p.get("containerPort")
            protocol = p.get("protocol", "TCP")
            if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 65536:
                problems.append(f"{where}.containerPort: must be 1..65535, got {number!r}; ignored")
                continue
            if protocol not in PROTOCOLS:
                problems.append(f"{where}.protocol: {protocol!r} is not TCP, UDP or SCTP; ignored")
                continue
            name = p.get("name", "")
            ports.append(
                ContainerPort(
                    name=name if isinstance(name, str) else "",
                    port=number,
                    protocol=cast(Protocol, protocol),
                )
            )
    return tuple(ports)


def parse_pod(obj: Any) -> tuple[Pod | None, list[str]]:
    """A Pod object as the model's ``Pod``; problems name the pod and the field."""
    meta = _mapping(_mapping(obj).get("metadata"))
    name = meta.get("name")
    namespace = meta.get("namespace") or "default"
    if not isinstance(name, str) or not name or not isinstance(namespace, str):
        return None, ["pod without metadata.name: ignored; give every Pod a name"]
    who = f"pod {namespace}/{name}"
    local: list[str] = []
    labels = _string_map(meta.get("labels"), "metadata.labels", local)
    annotations = _mapping(meta.get("annotations"))
    spec = _mapping(_mapping(obj).get("spec"))
    node = spec.get("nodeName") or ""
    if not isinstance(node, str):
        local.append(f"spec.nodeName: must be a string, got {type(node).__name__}; ignored")
        node = ""

    networks: list[NadKey] = []
    selection = annotations.get(NETWORKS_ANNOTATION)
    if isinstance(selection, str):
        networks, msgs = parse_network_selection(selection, namespace)
        local += [f"metadata.annotations[{NETWORKS_ANNOTATION}]: {m}" for m in msgs]
    elif selection is not None:
        local.append(f"metadata.annotations[{NETWORKS_ANNOTATION}]: must be a string; ignored")

    attachments: list[tuple[NadKey, Attachment]] = []
    pod_networks = annotations.get(POD_NETWORKS_ANNOTATION)
    if isinstance(pod_networks, str):
        attachments, msgs = parse_pod_networks(pod_networks)
        field = f"metadata.annotations[{POD_NETWORKS_ANNOTATION}]"
        # Entry problems start with "[<nad key>]", which continues the field path.
        local += [f"{field}{m}" if m.startswith("[") else f"{field}: {m}" for m in msgs]
    elif pod_networks is not None:
        local.append(f"metadata.annotations[{POD_NETWORKS_ANNOTATION}]: must be a string; ignored")

    ports = _container_ports(spec, local)
    problems = [f"{who}: {m}" for m in local]
    pod = Pod(
        namespace=namespace,
        name=name,
        labels=labels,
        node=node,
        networks=tuple(networks),
        attachments=tuple(attachments),
        ports=ports,
    )
    return pod, problems


def parse_namespace(obj: Any) -> Namespace:
    """A Namespace object; the API server's ``kubernetes.io/metadata.name`` label is added."""
    meta = _mapping(_mapping(obj).get("metadata"))
    name = meta.get("name")
    name = name if isinstance(name, str) else ""
    labels = dict(_string_map(meta.get("labels"), "metadata.labels", []))
    if name:
        labels.setdefault(NAMESPACE_NAME_LABEL, name)
    return Namespace(name=name, labels=tuple(sorted(labels.items())))


def implicit_namespace(name: str) -> Namespace:
    """A namespace known only by name (its object was not supplied)."""
    return Namespace(name=name, labels=((NAMESPACE_NAME_LABEL, name),))
