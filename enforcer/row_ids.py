"""The identity of every Northbound row mnp owns: one id type per kind of row.

An id builds the row's ``external_ids`` (owner marker, ``key`` and the readable policy,
network, NAD and direction ids) and its OVN ``name``, and parses back from a row's
``external_ids``, so the diff works on typed identities rather than on strings (in the
spirit of OVN-Kubernetes' ``libovsdb/ops/db_object_ids.go``). The keys are the exact
strings earlier versions wrote, so an NB they wrote is recognised without churn:

====================  ========================================================
policy port group     ``pg|policy|<net>|<ns>/<policy>``
named-port group      ``pg|named|<net>|<ns>/<policy>|ingress|<rule>|<proto>-<port>``
deny port group       ``pg|deny|<net>|<ns>|<direction>``
peer address set      ``as|<net>|<ns>/<policy>|<direction>|<rule>|peer<peer>|v<family>``
named-port addr. set  ``as|<net>|<ns>/<policy>|egress|<rule>|named-<proto>-<port>|v<family>``
rule ACL              ``acl|<net>|<ns>/<policy>|<direction>|<rule>|<any|proto|named-proto-port>``
deny ACL              ``acl|deny|<net>|<ns>|<direction>|<drop|arp>``
====================  ========================================================

Keys are read from the right: every field but the network is a Kubernetes name or a
token without ``|``, so a network name may hold any character. Parsing accepts exactly
the keys building produces (it rebuilds and compares); anything else is "not ours".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

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

Way = Literal["ingress", "egress"]
DenyPurpose = Literal["drop", "arp"]

_NAME = re.compile(r"[^|/]+")  # a Kubernetes name as it appears in a key
_POLICY = re.compile(r"[^|/]+/[^|/]+")  # namespace/name
_PROTOCOL = re.compile(r"[a-z0-9]+")  # lowercase, as keys carry it
_NUMBER = re.compile(r"0|[1-9][0-9]*")


def object_name(key: str) -> str:
    """An OVN identifier (usable after ``@``/``$``) derived from a row's stable key."""
    return "mnp_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def acl_name(text: str) -> str:
    """ACL names are for people reading the NB; OVN caps them at 63 characters."""
    return text if len(text) <= 63 else text[:62] + "~"


def _ids(key: str, **extra: str) -> ExternalIds:
    return tuple(sorted({OWNER: OWNER_VALUE, KEY: key, **extra}.items()))


def _number(text: str) -> int | None:
    return int(text) if _NUMBER.fullmatch(text) else None


def _way(text: str) -> Way | None:
    return "ingress" if text == "ingress" else "egress" if text == "egress" else None


def _head(key: str, prefix: str, fields: int) -> tuple[str, list[str]] | None:
    """``prefix<network>|f1|...|fN`` -> (network, [f1..fN]), reading fields from the right."""
    if not key.startswith(prefix):
        return None
    parts = key[len(prefix) :].rsplit("|", fields)
    if len(parts) != fields + 1:
        return None
    return parts[0], parts[1:]


def _named_port(token: str, tag: str) -> tuple[str, int] | None:
    """``<tag><proto>-<port>`` (``named-tcp-80``; the named-port group uses no tag)."""
    if not token.startswith(tag):
        return None
    proto, _, port = token[len(tag) :].partition("-")
    number = _number(port)
    if not _PROTOCOL.fullmatch(proto) or number is None:
        return None
    return proto, number


@dataclass(frozen=True)
class PolicyScope:
    """One policy on one network: what every row compiled for it shares."""

    network: str
    policy: str  # namespace/name
    nads: str = ""  # the policy's NADs on this network, comma-separated (recorded, not keyed)

    @property
    def namespace(self) -> str:
        return self.policy.partition("/")[0]

    def external_ids(self, key: str, **extra: str) -> ExternalIds:
        return _ids(key, **{POLICY: self.policy, NETWORK: self.network, NAD: self.nads}, **extra)

    @staticmethod
    def parse(network: str, policy: str, ids: Mapping[str, str]) -> PolicyScope | None:
        if not _POLICY.fullmatch(policy):
            return None
        return PolicyScope(network, policy, ids.get(NAD, ""))


# -- port groups ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyPortGroupId:
    """The pods a policy selects on a network; its rule ACLs hang off this group."""

    table: ClassVar[str] = "Port_Group"
    scope: PolicyScope

    @property
    def key(self) -> str:
        return f"pg|policy|{self.scope.network}|{self.scope.policy}"

    @property
    def name(self) -> str:
        return object_name(self.key)

    def external_ids(self) -> ExternalIds:
        return self.scope.external_ids(self.key)

    @staticmethod
    def parse(key: str, ids: Mapping[str, str]) -> PolicyPortGroupId | None:
        head = _head(key, "pg|policy|", 1)
        if head is None:
            return None
        scope = PolicyScope.parse(head[0], head[1][0], ids)
        return PolicyPortGroupId(scope) if scope else None


@dataclass(frozen=True)
class NamedPortGroupId:
    """For an ingress rule with named ports: the selected pods whose name resolves to
    ``port`` (one group per number, as the same name may mean different numbers)."""

    table: ClassVar[str] = "Port_Group"
    scope: PolicyScope
    rule: int
    protocol: str  # lowercase
    port: int

    @property
    def key(self) -> str:
        s = self.scope
        return f"pg|named|{s.network}|{s.policy}|ingress|{self.rule}|{self.protocol}-{self.port}"

    @property
    def name(self) -> str:
        return object_name(self.key)

    def external_ids(self) -> ExternalIds:
        return self.scope.external_ids(self.key)

    @staticmethod
    def parse(key: str, ids: Mapping[str, str]) -> NamedPortGroupId | None:
        head = _head(key, "pg|named|", 4)
        if head is None:
            return None
        network, (policy, way, rule, tag) = head
        scope = PolicyScope.parse(network, policy, ids)
        number, named = _number(rule), _named_port(tag, "")
        if scope is None or way != "ingress" or number is None or named is None:
            return None
        return NamedPortGroupId(scope, number, *named)


@dataclass(frozen=True)
class DenyPortGroupId:
    """The pods of a namespace isolated in one direction on a network (default deny)."""

    table: ClassVar[str] = "Port_Group"
    network: str
    namespace: str
    direction: Way

    @property
    def key(self) -> str:
        return f"pg|deny|{self.network}|{self.namespace}|{self.direction}"

    @property
    def name(self) -> str:
        return object_name(self.key)

    def external_ids(self) -> ExternalIds:
        return _ids(self.key, **{NETWORK: self.network, DIRECTION: self.direction})

    @staticmethod
    def parse(key: str, ids: Mapping[str, str]) -> DenyPortGroupId | None:
        head = _head(key, "pg|deny|", 2)
        if head is None:
            return None
        network, (namespace, way) = head
        direction = _way(way)
        if not _NAME.fullmatch(namespace) or direction is None:
            return None
        return DenyPortGroupId(network, namespace, direction)


# -- address sets -----------------------------------------------------------------------------


class _PerFamilyAddressSet:
    """Address sets come one per IP family: key and name derive from a family-less base
    (both families share the hash, so ``$<name>_v4`` and ``$<name>_v6`` read as a pair)."""

    scope: PolicyScope
    family: int  # 4 | 6

    @property
    def base(self) -> str:
        raise NotImplementedError

    @property
    def key(self) -> str:
        return f"{self.base}|v{self.family}"

    @property
    def name(self) -> str:
        return f"{object_name(self.base)}_v{self.family}"

    def external_ids(self) -> ExternalIds:
        return self.scope.external_ids(self.key)


@dataclass(frozen=True)
class PeerAddressSetId(_PerFamilyAddressSet):
    """The addresses of one selector peer of a rule, in one IP family."""

    table: ClassVar[str] = "Address_Set"
    scope: PolicyScope
    direction: Way
    rule: int
    peer: int
    family: int  # 4 | 6

    @property
    def base(self) -> str:
        s = self.scope
        return f"as|{s.network}|{s.policy}|{self.direction}|{self.rule}|peer{self.peer}"

    @staticmethod
    def parse(key: str, ids: Mapping[str, str]) -> PeerAddressSetId | None:
        head = _head(key, "as|", 5)
        if head is None:
            return None
        network, (policy, way, rule, peer, family) = head
        scope = PolicyScope.parse(network, policy, ids)
        direction, number = _way(way), _number(rule)
        peer_number = _number(peer[4:]) if peer.startswith("peer") else None
        fam = {"v4": 4, "v6": 6}.get(family)
        if scope is None or direction is None or number is None or peer_number is None:
            return None
        return PeerAddressSetId(scope, direction, number, peer_number, fam) if fam else None


@dataclass(frozen=True)
class NamedPortAddressSetId(_PerFamilyAddressSet):
    """For an egress rule with named ports: the peer addresses whose name resolves to
    ``port``, in one IP family."""

    table: ClassVar[str] = "Address_Set"
    scope: PolicyScope
    rule: int
    protocol: str  # lowercase
    port: int
    family: int  # 4 | 6

    @property
    def base(self) -> str:
        s = self.scope
        return f"as|{s.network}|{s.policy}|egress|{self.rule}|named-{self.protocol}-{self.port}"

    @staticmethod
    def parse(key: str, ids: Mapping[str, str]) -> NamedPortAddressSetId | None:
        head = _head(key, "as|", 5)
        if head is None:
            return None
        network, (policy, way, rule, tag, family) = head
        scope = PolicyScope.parse(network, policy, ids)
        number, named = _number(rule), _named_port(tag, "named-")
        fam = {"v4": 4, "v6": 6}.get(family)
        if scope is None or way != "egress" or number is None or named is None or not fam:
            return None
        return NamedPortAddressSetId(scope, number, *named, fam)


# -- ACLs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleAclId:
    """One allow ACL of a policy rule: for any port (``protocol`` None), for one protocol's
    numeric ports, or for one number a named port resolved to (``named_port``)."""

    table: ClassVar[str] = "ACL"
    scope: PolicyScope
    direction: Way
    rule: int
    protocol: str | None = None  # lowercase
    named_port: int | None = None  # needs ``protocol``

    @property
    def variant(self) -> str:
        if self.protocol is None:
            return "any"
        if self.named_port is None:
            return self.protocol
        return f"named-{self.protocol}-{self.named_port}"

    @property
    def key(self) -> str:
        s = self.scope
        return f"acl|{s.network}|{s.policy}|{self.direction}|{self.rule}|{self.variant}"

    @property
    def name(self) -> str:
        label = f"{self.scope.policy}:{self.direction}{self.rule}"
        if self.protocol is not None:
            label += f":{self.protocol}"
            if self.named_port is not None:
                label += f"-{self.named_port}"
        return acl_name(label)

    @property
    def port_group(self) -> PolicyPortGroupId:
        """The group whose ``acls`` holds this ACL (for named ports too: the match names
        the named-port group, the reference lives on the policy's group)."""
        return PolicyPortGroupId(self.scope)

    def external_ids(self) -> ExternalIds:
        return self.scope.external_ids(self.key, **{DIRECTION: self.direction})

    @staticmethod
    def parse(key: str, ids: Mapping[str, str]) -> RuleAclId | None:
        head = _head(key, "acl|", 4)
        if head is None:
            return None
        network, (policy, way, rule, variant) = head
        scope = PolicyScope.parse(network, policy, ids)
        direction, number = _way(way), _number(rule)
        if scope is None or direction is None or number is None:
            return None
        if variant == "any":
            return RuleAclId(scope, direction, number)
        named = _named_port(variant, "named-")
        if named is not None:
            return RuleAclId(scope, direction, number, *named)
        if _PROTOCOL.fullmatch(variant):
            return RuleAclId(scope, direction, number, variant)
        return None


@dataclass(frozen=True)
class DenyAclId:
    """The default-deny of an isolated namespace: ``drop`` (priority 1000) or the ``arp``
    allow (ARP and ND pass, priority 1001)."""

    table: ClassVar[str] = "ACL"
    network: str
    namespace: str
    direction: Way
    purpose: DenyPurpose

    @property
    def key(self) -> str:
        return f"acl|deny|{self.network}|{self.namespace}|{self.direction}|{self.purpose}"

    @property
    def name(self) -> str:
        return acl_name(f"{self.namespace}:{self.network}:{self.direction}-default-{self.purpose}")

    @property
    def port_group(self) -> DenyPortGroupId:
        return DenyPortGroupId(self.network, self.namespace, self.direction)

    def external_ids(self) -> ExternalIds:
        return _ids(self.key, **{NETWORK: self.network, DIRECTION: self.direction})

    @staticmethod
    def parse(key: str, ids: Mapping[str, str]) -> DenyAclId | None:
        head = _head(key, "acl|deny|", 3)
        if head is None:
            return None
        network, (namespace, way, purpose) = head
        direction = _way(way)
        if not _NAME.fullmatch(namespace) or direction is None:
            return None
        deny: DenyPurpose | None = (
            "drop" if purpose == "drop" else "arp" if purpose == "arp" else None
        )
        return DenyAclId(network, namespace, direction, deny) if deny else None


PortGroupId = PolicyPortGroupId | NamedPortGroupId | DenyPortGroupId
AddressSetId = PeerAddressSetId | NamedPortAddressSetId
AclId = RuleAclId | DenyAclId
RowId = PortGroupId | AddressSetId | AclId


class _Kind(Protocol):
    @staticmethod
    def parse(key: str, ids: Mapping[str, str]) -> RowId | None: ...


def _owned_key(external_ids: Mapping[str, str]) -> str | None:
    return external_ids.get(KEY, "") if external_ids.get(OWNER) == OWNER_VALUE else None


def _first_parse(external_ids: Mapping[str, str], kinds: tuple[_Kind, ...]) -> RowId | None:
    """The id of the first kind that parses the key and rebuilds it exactly."""
    key = _owned_key(external_ids)
    if key is None:
        return None
    for kind in kinds:
        found = kind.parse(key, external_ids)
        if found is not None:
            return found if found.key == key else None
    return None


def parse_port_group_id(external_ids: Mapping[str, str]) -> PortGroupId | None:
    found = _first_parse(external_ids, (PolicyPortGroupId, NamedPortGroupId, DenyPortGroupId))
    return found if isinstance(found, PortGroupId) else None


def parse_address_set_id(external_ids: Mapping[str, str]) -> AddressSetId | None:
    found = _first_parse(external_ids, (PeerAddressSetId, NamedPortAddressSetId))
    return found if isinstance(found, AddressSetId) else None


def parse_acl_id(external_ids: Mapping[str, str]) -> AclId | None:
    found = _first_parse(external_ids, (RuleAclId, DenyAclId))
    return found if isinstance(found, AclId) else None


def parse_row_id(table: str, external_ids: Mapping[str, str]) -> RowId | None:
    """The id of a ``table`` row from its ``external_ids``; None when the row is not ours
    (no owner marker) or its key is of no kind this version builds."""
    parse = {
        "Port_Group": parse_port_group_id,
        "Address_Set": parse_address_set_id,
        "ACL": parse_acl_id,
    }.get(table)
    return parse(external_ids) if parse is not None else None
