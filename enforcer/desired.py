"""The rows the enforcer wants in the OVN Northbound database, as plain frozen values.

Compile produces them (pure); the diff stage compares them with what the NB holds. Every
row carries a stable identity in ``external_ids[KEY]`` so the diff never depends on UUIDs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# external_ids keys. The owner marker is what makes a row "ours": nothing without it is touched.
PREFIX = "mnp.k8s.cni.cncf.io"
OWNER = f"{PREFIX}/owner"
OWNER_VALUE = "mnp"
KEY = f"{PREFIX}/key"
POLICY = f"{PREFIX}/policy"
NETWORK = f"{PREFIX}/network"
NAD = f"{PREFIX}/nad"
DIRECTION = f"{PREFIX}/direction"

ExternalIds = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class AddressSetRow:
    key: str
    name: str
    addresses: tuple[str, ...]  # sorted IPs without prefix length
    external_ids: ExternalIds


@dataclass(frozen=True)
class AclRow:
    key: str
    port_group: str  # key of the port group whose ``acls`` holds this ACL
    name: str  # readable, at most 63 characters
    direction: str  # "to-lport" | "from-lport"
    priority: int
    match: str
    action: str  # "allow-related" | "allow" | "drop"
    options: tuple[tuple[str, str], ...]
    external_ids: ExternalIds


@dataclass(frozen=True)
class PortGroupRow:
    key: str
    name: str
    ports: tuple[str, ...]  # sorted logical switch port NAMES; the diff resolves UUIDs
    external_ids: ExternalIds


@dataclass(frozen=True)
class PolicyStatus:
    """What happened to one policy: ``applied`` or ``skipped`` with the reason."""

    policy: str  # namespace/name
    state: str  # "applied" | "skipped"
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class DesiredState:
    port_groups: tuple[PortGroupRow, ...] = ()
    address_sets: tuple[AddressSetRow, ...] = ()
    acls: tuple[AclRow, ...] = ()
    statuses: tuple[PolicyStatus, ...] = field(default=())

    def row_count(self) -> int:
        return len(self.port_groups) + len(self.address_sets) + len(self.acls)
