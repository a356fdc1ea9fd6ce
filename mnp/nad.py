"""NetworkAttachmentDefinitions: the parts of ``spec.config`` that matter for policy."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from mnp.field_errors import ErrorList, FieldError, Path, invalid, json_type, required
from mnp.model import OVN_CNI_TYPE, NadKey, Network, Topology
from mnp.validation import parse_cidr_sloppy

TOPOLOGIES: tuple[Topology, ...] = ("layer2", "layer3", "localnet")
CONFIG_PATH = Path("spec").child("config")


class DictNadLookup:
    """A NadLookup over raw NAD objects kept in a dict (``mnp check``, tests)."""

    def __init__(self, nads: Mapping[NadKey, dict[str, Any]] | None = None) -> None:
        self._nads: dict[NadKey, dict[str, Any]] = dict(nads or {})

    def add(self, obj: dict[str, Any]) -> NadKey | None:
        key = nad_key(obj)
        if key is not None:
            self._nads[key] = obj
        return key

    def objects(self) -> list[dict[str, Any]]:
        return list(self._nads.values())

    def get(self, key: NadKey) -> dict[str, Any] | None:
        return self._nads.get(key)


def nad_key(obj: Any) -> NadKey | None:
    """``namespace/name`` of a raw NAD object, when both are strings."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return None
    ns, name = meta.get("namespace"), meta.get("name")
    if isinstance(ns, str) and isinstance(name, str) and ns and name:
        return NadKey(ns, name)
    return None


def _cidr_list(
    value: str, field: str, nad: str, topology: str, errs: ErrorList, allow_host_length: bool
) -> tuple[str, ...]:
    out: list[str] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            continue
        cidr = entry
        if allow_host_length and entry.count("/") == 2:
            cidr, _, host_len = entry.rpartition("/")
            parsed = parse_cidr_sloppy(cidr)
            bits = 0 if parsed is None else parsed.bits
            if parsed is not None and not (
                host_len.isdecimal() and parsed.prefix < int(host_len) <= bits
            ):
                errs.append(
                    invalid(
                        CONFIG_PATH,
                        entry,
                        f"NetworkAttachmentDefinition {nad}: {field} entry {json.dumps(entry)} "
                        f"has a host subnet length that is not between the prefix length "
                        f"{parsed.prefix} (exclusive) and {bits}",
                    )
                )
                continue
        parsed = parse_cidr_sloppy(cidr)
        if parsed is None or parsed.leading_zeros or parsed.ipv4_mapped:
            hint = (
                " (a per-node host subnet length like `10.128.0.0/16/24` is only valid for layer3)"
                if entry.count("/") == 2
                else ""
            )
            errs.append(
                invalid(
                    CONFIG_PATH,
                    entry,
                    f"NetworkAttachmentDefinition {nad}: {field} entry {json.dumps(entry)} is not "
                    f"a valid CIDR on a {topology} network{hint}",
                )
            )
            continue
        out.append(parsed.network_text())
    return tuple(out)


def _int_field(
    conf: dict[str, Any], field: str, lo: int, hi: int, nad: str, errs: ErrorList
) -> int | None:
    value = conf.get(field)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        errs.append(
            invalid(
                CONFIG_PATH,
                value,
                f"NetworkAttachmentDefinition {nad}: {json.dumps(field)} must be an integer "
                f"between {lo} and {hi}",
            )
        )
        return None
    return value


def parse_nad(obj: Any) -> tuple[Network | None, ErrorList, list[str]]:
    """The Network a raw NAD describes, the errors that make it unusable, and warnings."""
    if not isinstance(obj, dict):
        return (
            None,
            [invalid("<root>", json_type(obj), "a NetworkAttachmentDefinition must be an object")],
            [],
        )
    key = nad_key(obj)
    if key is None:
        return (
            None,
            [
                required(
                    "metadata",
                    "a NetworkAttachmentDefinition needs metadata.namespace and metadata.name",
                )
            ],
            [],
        )
    nad = str(key)
    spec = obj.get("spec")
    raw = spec.get("config") if isinstance(spec, dict) else None
    if not isinstance(raw, str) or not raw.strip():
        return (
            None,
            [
                required(
                    CONFIG_PATH,
                    f"NetworkAttachmentDefinition {nad} has no spec.config (a JSON string)",
                )
            ],
            [],
        )
    network, errs, warnings = _parse_config(key, raw)
    return network, list(errs), list(warnings)


@functools.lru_cache(maxsize=1024)
def _parse_config(
    key: NadKey, raw: str
) -> tuple[Network | None, tuple[FieldError, ...], tuple[str, ...]]:
    """``spec.config`` of one NAD, parsed once per content: every admission of a policy
    reads its target NADs, and their configs rarely change."""
    network, errs, warnings = _parse_config_text(key, raw)
    return network, tuple(errs), tuple(warnings)


def _parse_config_text(key: NadKey, raw: str) -> tuple[Network | None, ErrorList, list[str]]:
    nad = str(key)
    try:
        conf = json.loads(raw)
    except (ValueError, RecursionError) as e:
        return (
            None,
            [
                invalid(
                    CONFIG_PATH,
                    raw,
                    f"NetworkAttachmentDefinition {nad}: spec.config is not valid JSON: {e}",
                )
            ],
            [],
        )
    if not isinstance(conf, dict):
        return (
            None,
            [
                invalid(
                    CONFIG_PATH,
                    raw,
                    f"NetworkAttachmentDefinition {nad}: spec.config must be a JSON object",
                )
            ],
            [],
        )
    errs: ErrorList = []
    warnings: list[str] = []

    cni_type = conf.get("type")
    if cni_type != OVN_CNI_TYPE:
        warnings.append(
            f"NetworkAttachmentDefinition {nad}: spec.config type is {json.dumps(cni_type)}, not "
            f"{json.dumps(OVN_CNI_TYPE)}: its pods are not on an OVN-Kubernetes network, so "
            "this policy cannot be enforced there"
        )

    net_name = conf.get("name")
    if not isinstance(net_name, str) or not net_name:
        errs.append(
            invalid(
                CONFIG_PATH,
                net_name,
                f"NetworkAttachmentDefinition {nad}: "
                f'"name" (the network name) must be a non-empty string',
            )
        )

    declared = conf.get("netAttachDefName")
    if declared is not None and declared != nad:
        errs.append(
            invalid(
                CONFIG_PATH,
                declared,
                f"NetworkAttachmentDefinition {nad}: "
                f'"netAttachDefName" must equal {json.dumps(nad)}',
            )
        )

    topology = conf.get("topology")
    if topology not in TOPOLOGIES:
        errs.append(
            invalid(
                CONFIG_PATH,
                topology,
                f'NetworkAttachmentDefinition {nad}: "topology" must be one of '
                + ", ".join(json.dumps(t) for t in TOPOLOGIES),
            )
        )
        topology = None

    subnets: tuple[str, ...] = ()
    raw_subnets = conf.get("subnets")
    if raw_subnets is not None and not isinstance(raw_subnets, str):
        errs.append(
            invalid(
                CONFIG_PATH,
                raw_subnets,
                f"NetworkAttachmentDefinition {nad}: "
                f'"subnets" must be a string of comma-separated CIDRs',
            )
        )
    elif raw_subnets:
        subnets = _cidr_list(
            raw_subnets, "subnets", nad, topology or "?", errs, topology == "layer3"
        )
    if topology == "layer3" and not subnets and not errs:
        errs.append(
            required(
                CONFIG_PATH, f'NetworkAttachmentDefinition {nad}: a layer3 network needs "subnets"'
            )
        )

    excludes: tuple[str, ...] = ()
    raw_excludes = conf.get("excludeSubnets")
    if raw_excludes is not None and not isinstance(raw_excludes, str):
        errs.append(
            invalid(
                CONFIG_PATH,
                raw_excludes,
                f"NetworkAttachmentDefinition {nad}: "
                f'"excludeSubnets" must be a string of comma-separated CIDRs',
            )
        )
    elif raw_excludes:
        excludes = _cidr_list(raw_excludes, "excludeSubnets", nad, topology or "?", errs, False)
        parsed_subnets = [parse_cidr_sloppy(s) for s in subnets]
        for ex in excludes:
            inner = parse_cidr_sloppy(ex)
            if inner is not None and not any(
                p is not None and (p.contains_strictly(inner) or p.network_text() == ex)
                for p in parsed_subnets
            ):
                errs.append(
                    invalid(
                        CONFIG_PATH,
                        ex,
                        f"NetworkAttachmentDefinition {nad}: "
                        f'excludeSubnets entry is not inside any of "subnets"',
                    )
                )

    vlan = _int_field(conf, "vlanID", 1, 4094, nad, errs)
    if vlan is not None and topology not in (None, "localnet"):
        warnings.append(
            f'NetworkAttachmentDefinition {nad}: "vlanID" is only used by localnet networks; '
            f"it is ignored on a {topology} network"
        )
    mtu = _int_field(conf, "mtu", 576, 65536, nad, errs)

    if errs or topology is None or not isinstance(net_name, str):
        return None, errs, warnings
    return (
        Network(
            nad=key,
            name=net_name,
            topology=topology,
            cni_type=cni_type if isinstance(cni_type, str) else "",
            subnets=subnets,
            exclude_subnets=excludes,
            vlan_id=vlan,
            mtu=mtu,
        ),
        errs,
        warnings,
    )
