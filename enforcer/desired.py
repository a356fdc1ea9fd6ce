"""One model per Northbound table for the rows mnp owns, as plain frozen values.

Compile builds them from typed ids (``enforcer.row_ids``); the diff reads the NB into the
same models, so a desired row and the row the NB holds compare column by column. A row's
``row_id`` is its identity (parsed back from ``external_ids`` when read from the NB; None
for an owned row of no known kind) and takes no part in comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from enforcer.row_ids import (
    AclId,
    AddressSetId,
    ExternalIds,
    PortGroupId,
    RowId,
)


def _key(row_id: RowId | None) -> str:
    return row_id.key if row_id is not None else ""


@dataclass(frozen=True)
class AddressSetRow:
    name: str
    addresses: tuple[str, ...]  # sorted IPs without prefix length
    external_ids: ExternalIds  # sorted pairs
    row_id: AddressSetId | None = field(default=None, compare=False)

    @staticmethod
    def of(row_id: AddressSetId, addresses: tuple[str, ...]) -> AddressSetRow:
        return AddressSetRow(row_id.name, addresses, row_id.external_ids(), row_id)

    @property
    def key(self) -> str:
        return _key(self.row_id)


@dataclass(frozen=True)
class AclRow:
    """Every ACL column mnp sets; those it leaves at OVN's defaults are compared too, so a
    row someone edited is put back."""

    name: str | None  # readable, at most 63 characters
    direction: str  # "to-lport" | "from-lport"
    priority: int
    match: str
    action: str  # "allow-related" | "allow" | "drop"
    options: tuple[tuple[str, str], ...]  # sorted pairs
    external_ids: ExternalIds  # sorted pairs
    log: bool = False
    severity: str | None = None
    meter: str | None = None
    label: int = 0
    row_id: AclId | None = field(default=None, compare=False)

    @staticmethod
    def of(
        row_id: AclId,
        *,
        direction: str,
        priority: int,
        match: str,
        action: str,
        options: tuple[tuple[str, str], ...] = (),
    ) -> AclRow:
        return AclRow(
            name=row_id.name,
            direction=direction,
            priority=priority,
            match=match,
            action=action,
            options=tuple(sorted(options)),
            external_ids=row_id.external_ids(),
            row_id=row_id,
        )

    @property
    def key(self) -> str:
        return _key(self.row_id)

    @property
    def port_group(self) -> PortGroupId | None:
        """The port group whose ``acls`` holds this ACL."""
        return self.row_id.port_group if self.row_id is not None else None


@dataclass(frozen=True)
class PortGroupRow:
    """A port group's own columns; its ``acls`` references are the diff's to fill in."""

    name: str
    ports: tuple[str, ...]  # sorted logical switch port NAMES; the diff resolves UUIDs
    external_ids: ExternalIds  # sorted pairs
    row_id: PortGroupId | None = field(default=None, compare=False)

    @staticmethod
    def of(row_id: PortGroupId, ports: tuple[str, ...]) -> PortGroupRow:
        return PortGroupRow(row_id.name, ports, row_id.external_ids(), row_id)

    @property
    def key(self) -> str:
        return _key(self.row_id)


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
