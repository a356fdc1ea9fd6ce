"""Raw MultiNetworkPolicy JSON into one typed tree, decoded once and read by everything else.

Kubernetes decodes a request into typed structs, then validates the typed value; this module
is that decoding step. A well-typed value is kept as given, valid or not (protocol ``tcp``,
port 0, a bad CIDR string, a bad label key), so the validators (``mnp.validation``) can report
it. A value of the wrong JSON type is replaced by a ``WrongType`` that carries its structural
error, with the path and wording a CRD's structural schema uses
(``<path> in body must be of type array: "string"``); the validation walk reports it where it
stands, so the error list keeps the API server's order. Fields whose absence matters to
defaulting (``protocol``, ``policyTypes``) record whether the key was there with ``null``.

A JSON ``null`` counts as absent, as the schema prunes it; a ``null`` item of an array does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mnp.field_errors import FieldError, Path, invalid, wrong_type
from mnp.model import POLICY_FOR_ANNOTATION

POLICY_FOR_PATH = Path("metadata").child("annotations").key(POLICY_FOR_ANNOTATION)
ROOT_PATH = Path("<root>")
META_PATH = Path("metadata")
SPEC_PATH = Path("spec")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WrongType:
    """A value of the wrong JSON type, in place of the field; ``error`` says so."""

    error: FieldError


@dataclass(frozen=True, slots=True)
class StringMap:
    """A ``map[string]string`` (labels, annotations, matchLabels): the well-typed pairs, and
    the structural errors of the rest (a non-object map, non-string keys or values)."""

    entries: tuple[tuple[str, str], ...] = ()
    problems: tuple[FieldError, ...] = ()


@dataclass(frozen=True, slots=True)
class RequirementSpec:
    """metav1.LabelSelectorRequirement."""

    path: Path
    key: str | WrongType | None
    operator: str | WrongType | None
    values: tuple[str | WrongType, ...] | WrongType | None


@dataclass(frozen=True, slots=True)
class SelectorSpec:
    """metav1.LabelSelector."""

    path: Path
    match_labels: StringMap
    match_expressions: tuple[RequirementSpec | WrongType, ...] | WrongType


@dataclass(frozen=True, slots=True)
class IPBlockSpec:
    path: Path
    cidr: str | WrongType | None
    except_: tuple[str | WrongType, ...] | WrongType | None


@dataclass(frozen=True, slots=True)
class PeerSpec:
    """NetworkPolicyPeer; a selector field of the wrong type still counts as given."""

    path: Path
    pod_selector: SelectorSpec | WrongType | None
    namespace_selector: SelectorSpec | WrongType | None
    ip_block: IPBlockSpec | WrongType | None


@dataclass(frozen=True, slots=True)
class PortSpec:
    """NetworkPolicyPort. ``protocol_null``: the key was there, with ``null``."""

    path: Path
    protocol: str | WrongType | None
    port: int | str | WrongType | None
    end_port: int | WrongType | None
    protocol_null: bool = False


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """An ingress or egress rule; ``peers`` is ``from`` or ``to``."""

    path: Path
    ports: tuple[PortSpec | WrongType, ...] | WrongType
    peers: tuple[PeerSpec | WrongType, ...] | WrongType


@dataclass(frozen=True, slots=True)
class PolicyTypes:
    """``spec.policyTypes``: the items as typed, and as given (for messages)."""

    items: tuple[str | WrongType, ...]
    raw: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Spec:
    """NetworkPolicySpec. ``policy_types_null``: the key was there, with ``null``."""

    pod_selector: SelectorSpec | WrongType | None
    ingress: tuple[RuleSpec | WrongType, ...] | WrongType
    egress: tuple[RuleSpec | WrongType, ...] | WrongType
    policy_types: PolicyTypes | WrongType | None
    policy_types_null: bool = False


@dataclass(frozen=True, slots=True)
class Meta:
    """The ObjectMeta fields admission reads; ``policy_for`` is the annotation's value."""

    name: str | WrongType | None = None
    namespace: str | WrongType | None = None
    labels: StringMap = StringMap()
    annotations: StringMap = StringMap()
    policy_for: str | WrongType | None = None
    being_deleted: bool = False


@dataclass(frozen=True, slots=True)
class PolicyObject:
    """A MultiNetworkPolicy; ``metadata``/``spec`` are None when absent."""

    metadata: Meta | WrongType | None
    spec: Spec | WrongType | None


Decoded = PolicyObject | WrongType
EMPTY_META = Meta()
EMPTY_SPEC = Spec(pod_selector=None, ingress=(), egress=(), policy_types=None)


# Paths of leaf fields are built only for an error: most policies have none, and the
# webhook's budget per review is tens of microseconds.


def _string(value: Any, parent: Path, name: str) -> str | WrongType | None:
    if value is None or isinstance(value, str):
        return value
    return WrongType(wrong_type(parent.child(name), value, "string"))


def _object_items(
    value: Any, parent: Path, name: str, decode_item: Callable[[dict[str, Any], Path], T]
) -> tuple[T | WrongType, ...] | WrongType:
    """An array of objects decoded in order (absent: empty); a non-array is one
    ``WrongType``, and so is each item that is not an object (a null item is not pruned)."""
    if value is None or value == []:
        return ()
    path = parent.child(name)
    if not isinstance(value, list):
        return WrongType(wrong_type(path, value, "array"))
    out: list[T | WrongType] = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            out.append(decode_item(item, path.index(i)))
        else:
            out.append(WrongType(wrong_type(path.index(i), item, "object")))
    return tuple(out)


def _string_items(value: Any, parent: Path, name: str) -> tuple[str | WrongType, ...] | WrongType:
    """An array of strings; only a bad item's path is built."""
    if value == []:
        return ()
    if not isinstance(value, list):
        return WrongType(wrong_type(parent.child(name), value, "array"))
    return tuple(
        item
        if isinstance(item, str)
        else WrongType(wrong_type(parent.child(name).index(i), item, "string"))
        for i, item in enumerate(value)
    )


_EMPTY_MAP = StringMap()


def decode_string_map(value: Any, parent: Path, name: str) -> StringMap:
    if not value and (value is None or value == {}):
        return _EMPTY_MAP
    if not isinstance(value, dict):
        return StringMap(problems=(wrong_type(parent.child(name), value, "object"),))
    entries: list[tuple[str, str]] = []
    problems: list[FieldError] = []
    for k, v in value.items():
        if not isinstance(k, str):
            problems.append(invalid(parent.child(name), k, "keys must be strings"))
        elif not isinstance(v, str):
            problems.append(wrong_type(parent.child(name).key(k), v, "string"))
        else:
            entries.append((k, v))
    return StringMap(tuple(entries), tuple(problems))


def _requirement(raw: dict[str, Any], path: Path) -> RequirementSpec:
    values = raw.get("values")
    return RequirementSpec(
        path=path,
        key=_string(raw.get("key"), path, "key"),
        operator=_string(raw.get("operator"), path, "operator"),
        values=None if values is None else _string_items(values, path, "values"),
    )


def _selector(value: Any, path: Path) -> SelectorSpec | WrongType | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return WrongType(wrong_type(path, value, "object"))
    return SelectorSpec(
        path=path,
        match_labels=decode_string_map(value.get("matchLabels"), path, "matchLabels"),
        match_expressions=_object_items(
            value.get("matchExpressions"), path, "matchExpressions", _requirement
        ),
    )


def _ip_block(value: Any, path: Path) -> IPBlockSpec | WrongType | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return WrongType(wrong_type(path, value, "object"))
    excepts = value.get("except")
    return IPBlockSpec(
        path=path,
        cidr=_string(value.get("cidr"), path, "cidr"),
        except_=None if excepts is None else _string_items(excepts, path, "except"),
    )


def _peer(raw: dict[str, Any], path: Path) -> PeerSpec:
    pods, namespaces, block = (
        raw.get("podSelector"),
        raw.get("namespaceSelector"),
        raw.get("ipBlock"),
    )
    return PeerSpec(
        path=path,
        pod_selector=None if pods is None else _selector(pods, path.child("podSelector")),
        namespace_selector=None
        if namespaces is None
        else _selector(namespaces, path.child("namespaceSelector")),
        ip_block=None if block is None else _ip_block(block, path.child("ipBlock")),
    )


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _port(raw: dict[str, Any], path: Path) -> PortSpec:
    number = raw.get("port")
    if number is not None and not _is_integer(number) and not isinstance(number, str):
        number = WrongType(wrong_type(path.child("port"), number, "integer or string"))
    end = raw.get("endPort")
    if end is not None and not _is_integer(end):
        end = WrongType(wrong_type(path.child("endPort"), end, "integer"))
    protocol = raw.get("protocol")
    return PortSpec(
        path=path,
        protocol=_string(protocol, path, "protocol"),
        port=number,
        end_port=end,
        protocol_null=protocol is None and "protocol" in raw,
    )


def _rule(peers_field: str) -> Callable[[dict[str, Any], Path], RuleSpec]:
    def decode(raw: dict[str, Any], path: Path) -> RuleSpec:
        return RuleSpec(
            path=path,
            ports=_object_items(raw.get("ports"), path, "ports", _port),
            peers=_object_items(raw.get(peers_field), path, peers_field, _peer),
        )

    return decode


_ingress_rule = _rule("from")
_egress_rule = _rule("to")
_POD_SELECTOR_PATH = SPEC_PATH.child("podSelector")
_POLICY_TYPES_PATH = SPEC_PATH.child("policyTypes")


def _policy_types(value: Any) -> PolicyTypes | WrongType | None:
    if value is None:
        return None
    if not isinstance(value, list):
        return WrongType(wrong_type(_POLICY_TYPES_PATH, value, "array"))
    items = tuple(
        t if isinstance(t, str) else WrongType(wrong_type(_POLICY_TYPES_PATH.index(i), t, "string"))
        for i, t in enumerate(value)
    )
    return PolicyTypes(items, tuple(value))


def decode_spec(value: Any) -> Spec | WrongType | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return WrongType(wrong_type(SPEC_PATH, value, "object"))
    types = value.get("policyTypes")
    return Spec(
        pod_selector=_selector(value.get("podSelector"), _POD_SELECTOR_PATH),
        ingress=_object_items(value.get("ingress"), SPEC_PATH, "ingress", _ingress_rule),
        egress=_object_items(value.get("egress"), SPEC_PATH, "egress", _egress_rule),
        policy_types=_policy_types(types),
        policy_types_null=types is None and "policyTypes" in value,
    )


def decode_metadata(value: Any) -> Meta | WrongType | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return WrongType(wrong_type(META_PATH, value, "object"))
    annotations = value.get("annotations")
    policy_for = annotations.get(POLICY_FOR_ANNOTATION) if isinstance(annotations, dict) else None
    return Meta(
        name=_string(value.get("name"), META_PATH, "name"),
        namespace=_string(value.get("namespace"), META_PATH, "namespace"),
        labels=decode_string_map(value.get("labels"), META_PATH, "labels"),
        annotations=decode_string_map(annotations, META_PATH, "annotations"),
        policy_for=policy_for
        if policy_for is None or isinstance(policy_for, str)
        else WrongType(wrong_type(POLICY_FOR_PATH, policy_for, "string")),
        being_deleted=value.get("deletionTimestamp") is not None,
    )


def decode_policy(obj: Any) -> Decoded:
    """The typed tree of a raw MultiNetworkPolicy; never raises."""
    if not isinstance(obj, dict):
        return WrongType(wrong_type(ROOT_PATH, obj, "object"))
    return PolicyObject(
        metadata=decode_metadata(obj.get("metadata")), spec=decode_spec(obj.get("spec"))
    )


def known(value: T | WrongType | None, default: T) -> T:
    """The value when it is well typed and present, else ``default``."""
    return default if value is None or isinstance(value, WrongType) else value
