"""NetworkPolicy validation for MultiNetworkPolicy objects, as the API server does it.

Everything works on raw JSON-like values and never raises: a value of the wrong
JSON type is reported with its field path, the way a CRD's structural schema
reports it (``<path> in body must be of type array: "string"``), and the
NetworkPolicy rules from ``pkg/apis/networking/validation`` are reproduced with
their field paths and wording. One deliberate difference: an ipBlock CIDR with
bits set beyond the prefix length (``10.0.0.1/24``) is admitted with a warning
naming the masked network, which is what gets enforced.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mnp.field_errors import (
    ErrorList,
    ErrorType,
    FieldError,
    Path,
    forbidden,
    invalid,
    not_supported,
    required,
    type_invalid,
)

PROTOCOLS = ["TCP", "UDP", "SCTP"]
POLICY_TYPES = ["Ingress", "Egress"]
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

# ---------------------------------------------------------------------------
# apimachinery string checks (util/validation and api/validate/content)
# ---------------------------------------------------------------------------

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY_RE = re.compile(_LABEL_KEY_FMT)
_LABEL_VALUE_FMT = "(" + _LABEL_KEY_FMT + ")?"
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_PORT_NAME_CHARSET_RE = re.compile("[-a-z0-9]+")
_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _fullmatch(pattern: re.Pattern[str], value: str) -> bool:
    # fullmatch, not ^...$: Python's $ also matches before a trailing newline, Go's does not.
    return pattern.fullmatch(value) is not None


def _nbytes(value: str) -> int:
    return len(value.encode("utf-8", "surrogatepass"))


def dns1123_label_errors(value: str) -> list[str]:
    errs: list[str] = []
    if _nbytes(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _fullmatch(_DNS1123_LABEL_RE, value):
        if _fullmatch(_DNS1123_SUBDOMAIN_RE, value):
            errs.append("must not contain dots")
        else:
            errs.append(
                _regex_error(
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric "
                    "characters or '-', and must start and end with an alphanumeric character",
                    _DNS1123_LABEL_FMT,
                    "my-name",
                    "123-abc",
                )
            )
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    errs: list[str] = []
    if _nbytes(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _fullmatch(_DNS1123_SUBDOMAIN_RE, value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character",
                _DNS1123_SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return errs


def qualified_name_errors(value: str) -> list[str]:
    """IsQualifiedName / content.IsLabelKey."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain_errors(prefix))
    else:
        return [
            "a valid label key "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif _nbytes(name) > 63:
        errs.append("name part must be no more than 63 bytes")
    if not _fullmatch(_LABEL_KEY_RE, name):
        errs.append(
            "name part "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def label_value_errors(value: str) -> list[str]:
    errs: list[str] = []
    if _nbytes(value) > 63:
        errs.append("must be no more than 63 bytes")
    if not _fullmatch(_LABEL_VALUE_RE, value):
        errs.append(
            _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errs


def port_name_errors(value: str) -> list[str]:
    """IsValidPortName (IANA_SVC_NAME)."""
    errs: list[str] = []
    if _nbytes(value) > 15:
        errs.append("must be no more than 15 characters")
    if not _fullmatch(_PORT_NAME_CHARSET_RE, value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def port_num_errors(value: int) -> list[str]:
    return [] if 1 <= value <= 65535 else ["must be between 1 and 65535, inclusive"]


# ---------------------------------------------------------------------------
# CIDRs: netutils.ParseCIDRSloppy, then the strict checks of Kubernetes 1.36
# ---------------------------------------------------------------------------

_DIGITS = re.compile("[0-9]+")


@dataclass(frozen=True)
class ParsedCidr:
    version: int  # 4 or 6
    address: int  # the address as written, host bits included
    prefix: int
    leading_zeros: bool  # in an IPv4 octet or in the prefix length
    ipv4_mapped: bool

    @property
    def bits(self) -> int:
        return 32 if self.version == 4 else 128

    @property
    def network(self) -> int:
        host = self.bits - self.prefix
        return (self.address >> host) << host

    def network_text(self) -> str:
        """The masked network, as Go's ``IPNet.String()`` prints it."""
        return f"{_ip_text(self.version, self.network)}/{self.prefix}"

    def contains_strictly(self, other: ParsedCidr) -> bool:
        if other.version != self.version or other.prefix <= self.prefix:
            return False
        shift = self.bits - self.prefix
        return other.network >> shift == self.network >> shift


def _ip_text(version: int, value: int) -> str:
    if version == 4:
        return str(ipaddress.IPv4Address(value))
    return ipaddress.IPv6Address(value).compressed


def _parse_ipv4_sloppy(text: str) -> tuple[int, bool] | None:
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    zeros = False
    for part in parts:
        if not _DIGITS.fullmatch(part) or int(part) > 255:
            return None
        zeros = zeros or (len(part) > 1 and part[0] == "0")
        value = value << 8 | int(part)
    return value, zeros


@functools.lru_cache(maxsize=4096)
def parse_cidr_sloppy(text: str) -> ParsedCidr | None:
    """Parse like k8s.io/utils/net ParseCIDRSloppy (leading zeros tolerated); None if invalid."""
    addr, slash, mask = text.partition("/")
    if not slash or not _DIGITS.fullmatch(mask):
        return None
    zeros = len(mask) > 1 and mask[0] == "0"
    if ":" in addr:
        if "%" in addr:
            return None
        head, _, tail = addr.rpartition(":")
        if "." in tail:
            v4 = _parse_ipv4_sloppy(tail)
            if v4 is None:
                return None
            zeros = zeros or v4[1]
            addr = f"{head}:{v4[0] >> 16:x}:{v4[0] & 0xFFFF:x}"
        try:
            address = int(ipaddress.IPv6Address(addr))
        except ValueError:
            return None
        version = 6
    else:
        v4 = _parse_ipv4_sloppy(addr)
        if v4 is None:
            return None
        address, v4_zeros = v4
        zeros = zeros or v4_zeros
        version = 4
    prefix = int(mask) if len(mask) < 6 else 1 << 20
    if prefix > (32 if version == 4 else 128):
        return None
    mapped = version == 6 and address >> 32 == 0xFFFF
    return ParsedCidr(version, address, prefix, zeros, mapped)


def cidr_errors(path: Path, value: str) -> ErrorList:
    """IsValidCIDRForLegacyField with strict validation, host bits excepted (see module doc)."""
    parsed = parse_cidr_sloppy(value)
    if parsed is None:
        return [
            invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")
        ]
    if parsed.leading_zeros:
        return [invalid(path, value, "must not have leading 0s in IP or prefix length")]
    if parsed.ipv4_mapped:
        return [invalid(path, value, "must not have an IPv4-mapped IPv6 address")]
    return []


def cidr_warnings(path: Path, value: str) -> list[str]:
    parsed = parse_cidr_sloppy(value)
    if parsed is None or parsed.leading_zeros or parsed.ipv4_mapped:
        return []
    if parsed.address != parsed.network:
        single = f"{_ip_text(parsed.version, parsed.address)}/{parsed.bits}"
        masked = parsed.network_text()
        return [
            f"{path}: CIDR value {json.dumps(value)} is ambiguous in this context "
            f"(should be {json.dumps(masked)} or {json.dumps(single)}?); "
            f"it is enforced as {json.dumps(masked)}"
        ]
    if parsed.version == 6 and parsed.network_text() != value:
        return [
            f"{path}: IPv6 CIDR value {json.dumps(value)} should be in RFC 5952 canonical "
            f"format ({json.dumps(parsed.network_text())})"
        ]
    return []


def canonical_cidr(value: str) -> str | None:
    """The masked network of a CIDR accepted by validation (``10.0.0.1/24`` -> ``10.0.0.0/24``)."""
    parsed = parse_cidr_sloppy(value)
    return None if parsed is None else parsed.network_text()


# ---------------------------------------------------------------------------
# JSON types, reported like a CRD structural schema reports them
# ---------------------------------------------------------------------------


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def wrong_type(path: Path, value: Any, expected: str) -> FieldError:
    got = json_type(value)
    return type_invalid(path, got, f"{path} in body must be of type {expected}: {json.dumps(got)}")


def as_object(value: Any, path: Path, errs: ErrorList) -> dict[str, Any] | None:
    """The value if it is an object; None (absent, as the schema prunes nulls) or an error."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    errs.append(wrong_type(path, value, "object"))
    return None


def as_array(value: Any, path: Path, errs: ErrorList) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return value
    errs.append(wrong_type(path, value, "array"))
    return None


def as_string(value: Any, path: Path, errs: ErrorList) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    errs.append(wrong_type(path, value, "string"))
    return None


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def items(values: list[Any], path: Path, errs: ErrorList) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The object items of an array, reporting non-objects (a null item is not pruned)."""
    for i, item in enumerate(values):
        item_path = path.index(i)
        if isinstance(item, dict):
            yield item_path, item
        else:
            errs.append(wrong_type(item_path, item, "object"))


def _string_map(value: Any, path: Path, errs: ErrorList) -> dict[str, str]:
    obj = as_object(value, path, errs)
    out: dict[str, str] = {}
    for k, v in (obj or {}).items():
        if not isinstance(k, str):
            errs.append(invalid(path, k, "keys must be strings"))
        elif not isinstance(v, str):
            errs.append(wrong_type(path.key(k), v, "string"))
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------------------
# The policy
# ---------------------------------------------------------------------------


def validate_labels(labels: dict[str, str], path: Path) -> ErrorList:
    errs: ErrorList = []
    for k, v in labels.items():
        errs.extend(invalid(path, k, m) for m in qualified_name_errors(k))
        errs.extend(invalid(path, v, m) for m in label_value_errors(v))
    return errs


def validate_label_selector(value: Any, path: Path) -> ErrorList:
    """ValidateLabelSelector (AllowInvalidLabelValueInSelector=false)."""
    errs: ErrorList = []
    sel = as_object(value, path, errs)
    if sel is None:
        return errs
    labels_path = path.child("matchLabels")
    errs.extend(
        validate_labels(_string_map(sel.get("matchLabels"), labels_path, errs), labels_path)
    )
    exprs_path = path.child("matchExpressions")
    for expr_path, expr in items(
        as_array(sel.get("matchExpressions"), exprs_path, errs) or [], exprs_path, errs
    ):
        errs.extend(_validate_requirement(expr, expr_path))
    return errs


def _validate_requirement(expr: dict[str, Any], path: Path) -> ErrorList:
    errs: ErrorList = []
    values_path = path.child("values")
    values = as_array(expr.get("values"), values_path, errs)
    operator = expr.get("operator")
    if operator is None:
        errs.append(required(path.child("operator")))
    elif not isinstance(operator, str):
        errs.append(wrong_type(path.child("operator"), operator, "string"))
    elif operator in ("In", "NotIn"):
        if not values:
            errs.append(
                required(values_path, "must be specified when `operator` is 'In' or 'NotIn'")
            )
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errs.append(
                forbidden(
                    values_path,
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
    else:
        errs.append(invalid(path.child("operator"), operator, "not a valid selector operator"))
    key = expr.get("key")
    if key is None:
        errs.append(required(path.child("key")))
    else:
        key_str = as_string(key, path.child("key"), errs)
        if key_str is not None:
            errs.extend(
                invalid(path.child("key"), key_str, m) for m in qualified_name_errors(key_str)
            )
    for i, v in enumerate(values or []):
        if not isinstance(v, str):
            errs.append(wrong_type(values_path.index(i), v, "string"))
        else:
            errs.extend(invalid(values_path.index(i), v, m) for m in label_value_errors(v))
    return errs


def validate_port(port: dict[str, Any], path: Path) -> ErrorList:
    """ValidateNetworkPolicyPort."""
    errs: ErrorList = []
    protocol = as_string(port.get("protocol"), path.child("protocol"), errs)
    if protocol is not None and protocol not in PROTOCOLS:
        errs.append(not_supported(path.child("protocol"), protocol, PROTOCOLS))
    end_port = port.get("endPort")
    if end_port is not None and not is_integer(end_port):
        errs.append(wrong_type(path.child("endPort"), end_port, "integer"))
        end_port = None
    number = port.get("port")
    if number is None:
        if end_port is not None:
            errs.append(
                invalid(
                    path.child("endPort"),
                    end_port,
                    "may not be specified when `port` is not specified",
                )
            )
    elif is_integer(number):
        errs.extend(invalid(path.child("port"), number, m) for m in port_num_errors(number))
        if end_port is not None:
            if end_port < number:
                errs.append(
                    invalid(
                        path.child("endPort"), end_port, "must be greater than or equal to `port`"
                    )
                )
            errs.extend(
                invalid(path.child("endPort"), end_port, m) for m in port_num_errors(end_port)
            )
    elif isinstance(number, str):
        if end_port is not None:
            errs.append(
                invalid(
                    path.child("endPort"),
                    end_port,
                    "may not be specified when `port` is non-numeric",
                )
            )
        errs.extend(invalid(path.child("port"), number, m) for m in port_name_errors(number))
    else:
        errs.append(wrong_type(path.child("port"), number, "integer or string"))
    return errs


def validate_ip_block(block: dict[str, Any], path: Path) -> ErrorList:
    """ValidateIPBlock."""
    errs: ErrorList = []
    cidr_path = path.child("cidr")
    except_path = path.child("except")
    excepts = as_array(block.get("except"), except_path, errs)
    raw_cidr = block.get("cidr")
    if raw_cidr is not None and not isinstance(raw_cidr, str):
        return [*errs, wrong_type(cidr_path, raw_cidr, "string")]
    cidr = raw_cidr or ""
    if not cidr:
        return [*errs, required(cidr_path)]
    errs.extend(cidr_errors(cidr_path, cidr))
    outer = parse_cidr_sloppy(cidr)
    if outer is None:
        return errs
    for i, item in enumerate(excepts or []):
        item_path = except_path.index(i)
        if not isinstance(item, str):
            errs.append(wrong_type(item_path, item, "string"))
            continue
        errs.extend(cidr_errors(item_path, item))
        inner = parse_cidr_sloppy(item)
        if inner is not None and not outer.contains_strictly(inner):
            errs.append(invalid(item_path, item, "must be a strict subset of `cidr`"))
    return errs


def validate_peer(peer: dict[str, Any], path: Path) -> ErrorList:
    """ValidateNetworkPolicyPeer."""
    errs: ErrorList = []
    count = 0
    for name in ("podSelector", "namespaceSelector"):
        if peer.get(name) is not None:
            count += 1
            errs.extend(validate_label_selector(peer[name], path.child(name)))
    has_block = peer.get("ipBlock") is not None
    if has_block:
        count += 1
        block = as_object(peer["ipBlock"], path.child("ipBlock"), errs)
        if block is not None:
            errs.extend(validate_ip_block(block, path.child("ipBlock")))
    if count == 0:
        errs.append(required(path, "must specify a peer"))
    elif count > 1 and has_block:
        errs.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


def rules(spec: dict[str, Any], errs: ErrorList) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    """(direction, path, rule) for every well-typed ingress and egress rule."""
    for direction, field in (("Ingress", "ingress"), ("Egress", "egress")):
        path = Path("spec").child(field)
        for rule_path, rule in items(as_array(spec.get(field), path, errs) or [], path, errs):
            yield direction, rule_path, rule


def peer_field(direction: str) -> str:
    return "from" if direction == "Ingress" else "to"


def validate_spec(spec: dict[str, Any]) -> ErrorList:
    """ValidateNetworkPolicySpec, plus the CRD's required spec.podSelector."""
    errs: ErrorList = []
    spec_path = Path("spec")
    if spec.get("podSelector") is None:
        errs.append(required(spec_path.child("podSelector")))
    else:
        errs.extend(validate_label_selector(spec["podSelector"], spec_path.child("podSelector")))
    for direction, rule_path, rule in rules(spec, errs):
        ports_path = rule_path.child("ports")
        for port_path, port in items(
            as_array(rule.get("ports"), ports_path, errs) or [], ports_path, errs
        ):
            errs.extend(validate_port(port, port_path))
        peers_path = rule_path.child(peer_field(direction))
        for peer_path, peer in items(
            as_array(rule.get(peer_field(direction)), peers_path, errs) or [], peers_path, errs
        ):
            errs.extend(validate_peer(peer, peer_path))
    types_path = spec_path.child("policyTypes")
    types = as_array(spec.get("policyTypes"), types_path, errs)
    if types is not None:
        if len(types) > len(POLICY_TYPES):
            errs.append(invalid(types_path, types, "may not specify more than two policyTypes"))
            return errs
        for i, t in enumerate(types):
            if not isinstance(t, str):
                errs.append(wrong_type(types_path.index(i), t, "string"))
            elif t not in POLICY_TYPES:
                errs.append(not_supported(types_path.index(i), t, POLICY_TYPES))
    return errs


def validate_metadata(meta: dict[str, Any]) -> ErrorList:
    """The ObjectMeta rules the API server applies to every namespaced object."""
    errs: ErrorList = []
    path = Path("metadata")
    name = meta.get("name")
    if name is None or name == "":
        errs.append(required(path.child("name"), "name or generateName is required"))
    elif (name_str := as_string(name, path.child("name"), errs)) is not None:
        errs.extend(
            invalid(path.child("name"), name_str, m) for m in dns1123_subdomain_errors(name_str)
        )
    # A manifest may omit the namespace: the API server takes it from the request (kubectl's
    # "default") before validating, and policy-for resolves bare names the same way.
    namespace = meta.get("namespace")
    if namespace is not None and (ns := as_string(namespace, path.child("namespace"), errs)):
        errs.extend(invalid(path.child("namespace"), ns, m) for m in dns1123_label_errors(ns))
    labels_path = path.child("labels")
    errs.extend(validate_labels(_string_map(meta.get("labels"), labels_path, errs), labels_path))
    ann_path = path.child("annotations")
    annotations = _string_map(meta.get("annotations"), ann_path, errs)
    size = 0
    for k, v in annotations.items():
        errs.extend(invalid(ann_path, k, m) for m in qualified_name_errors(k.lower()))
        size += _nbytes(k) + _nbytes(v)
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(
            FieldError(
                ErrorType.TOO_LONG,
                str(ann_path),
                detail=f"may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes",
            )
        )
    return errs


def validate_policy(obj: Any) -> ErrorList:
    """Every error the API server would report for this object as a NetworkPolicy."""
    errs: ErrorList = []
    if not isinstance(obj, dict):
        return [wrong_type(Path("<root>"), obj, "object")]
    meta = as_object(obj.get("metadata"), Path("metadata"), errs)
    errs.extend(validate_metadata(meta or {}))
    spec = as_object(obj.get("spec"), Path("spec"), errs)
    errs.extend(validate_spec(spec or {}))
    return errs


def policy_warnings(obj: Any) -> list[str]:
    """Admitted-but-suspicious things in a (defaulted) policy; never raises."""
    if not isinstance(obj, dict) or not isinstance(obj.get("spec"), dict):
        return []
    spec = obj["spec"]
    sink: ErrorList = []
    warnings: list[str] = []
    for direction, rule_path, rule in rules(spec, sink):
        peers_path = rule_path.child(peer_field(direction))
        peers = rule.get(peer_field(direction))
        for peer_path, peer in items(peers if isinstance(peers, list) else [], peers_path, sink):
            block = peer.get("ipBlock")
            if not isinstance(block, dict):
                continue
            block_path = peer_path.child("ipBlock")
            if isinstance(block.get("cidr"), str):
                warnings.extend(cidr_warnings(block_path.child("cidr"), block["cidr"]))
            excepts = block.get("except")
            for i, item in enumerate(excepts if isinstance(excepts, list) else []):
                if isinstance(item, str):
                    warnings.extend(cidr_warnings(block_path.child("except").index(i), item))
    types = spec.get("policyTypes")
    if isinstance(types, list) and types:
        for direction, field in (("Ingress", "ingress"), ("Egress", "egress")):
            listed = spec.get(field)
            if isinstance(listed, list) and listed and direction not in types:
                warnings.append(
                    f"spec.{field}: {len(listed)} {field} rule(s) have no effect because "
                    f"spec.policyTypes {json.dumps(types)} does not include "
                    f"{json.dumps(direction)}: "
                    f"add {json.dumps(direction)} to spec.policyTypes, or remove spec.{field}"
                )
    return warnings
