"""NetworkPolicy validation for MultiNetworkPolicy objects, as the API server does it.

The validators run over the typed tree of ``mnp.decode``, one function per upstream
validator of ``pkg/apis/networking/validation`` (and metav1's label-selector validation),
with their field paths and wording; structural errors the decoder found are reported where
they stand. What differs between Kubernetes releases (strict CIDRs from 1.36, the value an
``endPort < port`` error shows) and what an UPDATE's stored object ratchets are in one
``ValidationRules`` value, so every caller answers as the API server it stands for would.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from dataclasses import dataclass, replace

from mnp.decode import (
    EMPTY_META,
    EMPTY_SPEC,
    META_PATH,
    SPEC_PATH,
    Decoded,
    IPBlockSpec,
    Meta,
    PeerSpec,
    PolicyObject,
    PolicyTypes,
    PortSpec,
    RequirementSpec,
    RuleSpec,
    SelectorSpec,
    Spec,
    StringMap,
    WrongType,
)
from mnp.field_errors import (
    ErrorList,
    ErrorType,
    FieldError,
    Path,
    forbidden,
    invalid,
    not_supported,
    required,
)

PROTOCOLS = ["TCP", "UDP", "SCTP"]
POLICY_TYPES = ["Ingress", "Egress"]
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

# The Kubernetes minor releases whose answers the differential e2e test checks.
OLDEST_SUPPORTED_MINOR = 35
NEWEST_SUPPORTED_MINOR = 37
_VERSION_RE = re.compile(r"v?1\.(\d+)(?:[.+-].*)?")


@dataclass(frozen=True, slots=True)
class ValidationRules:
    """What the target API server checks: its release, and on UPDATE what the stored object
    ratchets (upstream's NetworkPolicyValidationOptions, derived from the old object)."""

    kube_minor: int = NEWEST_SUPPORTED_MINOR
    # AllowCIDRsEvenIfInvalid: every ipBlock cidr/except string of the stored object.
    allowed_old_cidrs: frozenset[str] = frozenset()
    # AllowInvalidLabelValueInSelector: set when the stored spec.podSelector is invalid.
    allow_invalid_label_values: bool = False

    @property
    def strict_cidrs(self) -> bool:
        """KEP-4858's StrictIPCIDRValidation: beta and on by default from 1.36."""
        return self.kube_minor >= 36

    @property
    def end_port_error_shows_port(self) -> bool:
        """Up to 1.36 the ``endPort < port`` error carries ``port``'s value, from 1.37 its own."""
        return self.kube_minor <= 36

    @property
    def ratchets_old_cidrs(self) -> bool:
        """1.35's ValidateUpdate also runs the CREATE validation, so a stored invalid CIDR is
        refused again; from 1.36 only ValidateNetworkPolicyUpdate runs, which exempts them."""
        return self.kube_minor >= 36

    @property
    def ratchets(self) -> bool:
        return bool(self.allowed_old_cidrs) or self.allow_invalid_label_values

    def without_ratchet(self) -> ValidationRules:
        return ValidationRules(self.kube_minor)

    def version_text(self) -> str:
        return f"1.{self.kube_minor}"


DEFAULT_RULES = ValidationRules()


def rules_for_version(version: str) -> ValidationRules:
    """The rules of a Kubernetes version such as ``v1.35.4``, ``1.37`` or ``v1.36.2-gke.1``.

    Releases outside the supported range get the nearest supported release's rules. Raises
    ValueError for text that is not a Kubernetes 1.x version.
    """
    match = _VERSION_RE.fullmatch(version.strip())
    if match is None:
        raise ValueError(f"{version!r} is not a Kubernetes version (expected e.g. v1.35.4 or 1.37)")
    minor = min(max(int(match.group(1)), OLDEST_SUPPORTED_MINOR), NEWEST_SUPPORTED_MINOR)
    return ValidationRules(minor)


# ---------------------------------------------------------------------------
# apimachinery string checks (util/validation and api/validate/content); cached, as label
# keys, names and values repeat from one request to the next
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
    return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))


@functools.lru_cache(maxsize=4096)
def dns1123_label_errors(value: str) -> tuple[str, ...]:
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
    return tuple(errs)


@functools.lru_cache(maxsize=4096)
def dns1123_subdomain_errors(value: str, unit: str = "characters") -> tuple[str, ...]:
    """IsDNS1123Subdomain; util/validation says "characters", api/validate/content "bytes"."""
    errs: list[str] = []
    if _nbytes(value) > 253:
        errs.append(f"must be no more than 253 {unit}")
    if not _fullmatch(_DNS1123_SUBDOMAIN_RE, value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character",
                _DNS1123_SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return tuple(errs)


@functools.lru_cache(maxsize=4096)
def qualified_name_errors(value: str) -> tuple[str, ...]:
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
            errs.extend("prefix part " + m for m in dns1123_subdomain_errors(prefix, "bytes"))
    else:
        return (
            "a valid label key "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        )
    if not name:
        errs.append("name part must be non-empty")
    elif _nbytes(name) > 63:
        errs.append("name part must be no more than 63 bytes")
    if not _fullmatch(_LABEL_KEY_RE, name):
        errs.append(
            "name part "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return tuple(errs)


@functools.lru_cache(maxsize=4096)
def label_value_errors(value: str) -> tuple[str, ...]:
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
    return tuple(errs)


@functools.lru_cache(maxsize=4096)
def port_name_errors(value: str) -> tuple[str, ...]:
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
    return tuple(errs)


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
        """The masked network, as Go's ``IPNet.String()`` prints it (IPv4-mapped as IPv4)."""
        network = self.network
        if self.version == 6 and network >> 32 == 0xFFFF:
            return f"{ipaddress.IPv4Address(network & 0xFFFFFFFF)}/{self.prefix - 96}"
        return f"{_ip_text(self.version, network)}/{self.prefix}"

    def contains_strictly(self, other: ParsedCidr) -> bool:
        if other.version != self.version or other.prefix <= self.prefix:
            return False
        shift = self.bits - self.prefix
        return other.network >> shift == self.network >> shift


def _ip_text(version: int, value: int) -> str:
    """As Go's ``net.IP.String()``: an IPv4-mapped IPv6 address prints as IPv4."""
    if version == 4 or value >> 32 == 0xFFFF:
        return str(ipaddress.IPv4Address(value & 0xFFFFFFFF))
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


def cidr_problems(value: str, strict: bool = True) -> tuple[str, ...]:
    """IsValidCIDRForLegacyField: parseable sloppily, and with ``strict`` (1.36 and later)
    no leading zeros, no IPv4-mapped address and no bits set beyond the prefix length."""
    parsed = parse_cidr_sloppy(value)
    if parsed is None:
        return ("must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",)
    if not strict:
        return ()
    if parsed.leading_zeros:
        return ("must not have leading 0s in IP or prefix length",)
    if parsed.ipv4_mapped:
        return ("must not have an IPv4-mapped IPv6 address",)
    if parsed.address != parsed.network:
        return ("must not have bits set beyond the prefix length",)
    return ()


def cidr_warnings(path: Path, value: str, rules: ValidationRules = DEFAULT_RULES) -> list[str]:
    """GetWarningsForCIDR, in the wording of the rules' release."""
    parsed = parse_cidr_sloppy(value)
    if parsed is None:
        return []
    warnings: list[str] = []
    masked = parsed.network_text()
    if parsed.address != parsed.network:
        single = f"{_ip_text(parsed.version, parsed.address)}/{parsed.bits}"
        warnings.append(
            f"{path}: CIDR value {json.dumps(value)} is ambiguous in this context "
            f"(should be {json.dumps(masked)} or {json.dumps(single)}?)"
        )
    if parsed.leading_zeros or parsed.ipv4_mapped:
        fate = (
            "is invalid"
            if rules.strict_cidrs
            else "will be considered invalid in a future Kubernetes release"
        )
        warnings.append(
            f"{path}: non-standard CIDR value {json.dumps(value)} {fate}: use {json.dumps(masked)}"
        )
    if not warnings and parsed.version == 6 and masked != value:
        warnings.append(
            f"{path}: IPv6 CIDR value {json.dumps(value)} should be in RFC 5952 canonical "
            f"format ({json.dumps(masked)})"
        )
    return warnings


def canonical_cidr(value: str) -> str | None:
    """The masked network of a CIDR accepted by validation (``10.0.0.1/24`` -> ``10.0.0.0/24``)."""
    parsed = parse_cidr_sloppy(value)
    return None if parsed is None else parsed.network_text()


# ---------------------------------------------------------------------------
# The typed policy (mnp.decode), one function per upstream validator
# ---------------------------------------------------------------------------


def _wrong(value: object, errs: ErrorList) -> bool:
    """Report a ``WrongType`` where it stands; True when ``value`` was one."""
    if isinstance(value, WrongType):
        errs.append(value.error)
        return True
    return False


def validate_labels(labels: StringMap, parent: Path, name: str) -> ErrorList:
    """ValidateLabels, after the map's structural errors."""
    errs: ErrorList = list(labels.problems)
    for k, v in labels.entries:
        if messages := qualified_name_errors(k):
            errs.extend(invalid(parent.child(name), k, m) for m in messages)
        if messages := label_value_errors(v):
            errs.extend(invalid(parent.child(name), v, m) for m in messages)
    return errs


def validate_label_selector(
    selector: SelectorSpec | WrongType, allow_invalid_label_values: bool = False
) -> ErrorList:
    """metav1validation.ValidateLabelSelector."""
    errs: ErrorList = []
    if _wrong(selector, errs):
        return errs
    assert isinstance(selector, SelectorSpec)
    errs.extend(validate_labels(selector.match_labels, selector.path, "matchLabels"))
    exprs = selector.match_expressions
    if not _wrong(exprs, errs):
        assert isinstance(exprs, tuple)
        for expr in exprs:
            if not _wrong(expr, errs):
                assert isinstance(expr, RequirementSpec)
                errs.extend(validate_label_selector_requirement(expr, allow_invalid_label_values))
    return errs


def validate_label_selector_requirement(
    expr: RequirementSpec, allow_invalid_label_values: bool = False
) -> ErrorList:
    """metav1validation.ValidateLabelSelectorRequirement."""
    errs: ErrorList = []
    path = expr.path
    values = expr.values
    if _wrong(values, errs):
        values = None
    operator = expr.operator
    if operator is None:
        errs.append(required(path.child("operator")))
    elif _wrong(operator, errs):
        pass
    elif operator in ("In", "NotIn"):
        if not values:
            errs.append(
                required(
                    path.child("values"), "must be specified when `operator` is 'In' or 'NotIn'"
                )
            )
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errs.append(
                forbidden(
                    path.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
    else:
        errs.append(invalid(path.child("operator"), operator, "not a valid selector operator"))
    key = expr.key
    if key is None:
        errs.append(required(path.child("key")))
    elif not _wrong(key, errs):
        assert isinstance(key, str)
        if messages := qualified_name_errors(key):
            errs.extend(invalid(path.child("key"), key, m) for m in messages)
    for i, v in enumerate(values if isinstance(values, tuple) else ()):
        if not _wrong(v, errs) and not allow_invalid_label_values:
            assert isinstance(v, str)
            if messages := label_value_errors(v):
                errs.extend(invalid(path.child("values").index(i), v, m) for m in messages)
    return errs


def validate_network_policy_port(
    port: PortSpec, rules: ValidationRules = DEFAULT_RULES
) -> ErrorList:
    """ValidateNetworkPolicyPort."""
    errs: ErrorList = []
    path = port.path
    protocol = port.protocol
    if not _wrong(protocol, errs) and protocol is not None and protocol not in PROTOCOLS:
        errs.append(not_supported(path.child("protocol"), protocol, PROTOCOLS))
    end_port = port.end_port
    if _wrong(end_port, errs):
        end_port = None
    assert not isinstance(end_port, WrongType)
    number = port.port
    if number is None:
        if end_port is not None:
            errs.append(
                invalid(
                    path.child("endPort"),
                    end_port,
                    "may not be specified when `port` is not specified",
                )
            )
    elif isinstance(number, int):
        if not 1 <= number <= 65535:
            errs.extend(invalid(path.child("port"), number, m) for m in port_num_errors(number))
        if end_port is not None:
            if end_port < number:
                shown = number if rules.end_port_error_shows_port else end_port
                errs.append(
                    invalid(path.child("endPort"), shown, "must be greater than or equal to `port`")
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
        if messages := port_name_errors(number):
            errs.extend(invalid(path.child("port"), number, m) for m in messages)
    else:
        _wrong(number, errs)
    return errs


def _cidr_problems(value: str, rules: ValidationRules) -> tuple[str, ...]:
    """IsValidCIDRForLegacyField with the stored object's CIDRs exempt, as on UPDATE."""
    if value in rules.allowed_old_cidrs:
        return ()
    return cidr_problems(value, rules.strict_cidrs)


def validate_ip_block(block: IPBlockSpec, rules: ValidationRules = DEFAULT_RULES) -> ErrorList:
    """ValidateIPBlock."""
    errs: ErrorList = []
    excepts = block.except_
    if _wrong(excepts, errs):
        excepts = None
    if _wrong(block.cidr, errs):
        return errs
    cidr = block.cidr or ""
    assert isinstance(cidr, str)
    if not cidr:
        return [*errs, required(block.path.child("cidr"))]
    if messages := _cidr_problems(cidr, rules):
        errs.extend(invalid(block.path.child("cidr"), cidr, m) for m in messages)
    outer = parse_cidr_sloppy(cidr)
    if outer is None:
        return errs
    for i, item in enumerate(excepts if isinstance(excepts, tuple) else ()):
        if _wrong(item, errs):
            continue
        assert isinstance(item, str)
        messages = _cidr_problems(item, rules)
        inner = parse_cidr_sloppy(item)
        if inner is not None and not outer.contains_strictly(inner):
            messages = (*messages, "must be a strict subset of `cidr`")
        if messages:
            item_path = block.path.child("except").index(i)
            errs.extend(invalid(item_path, item, m) for m in messages)
    return errs


def validate_network_policy_peer(
    peer: PeerSpec, rules: ValidationRules = DEFAULT_RULES
) -> ErrorList:
    """ValidateNetworkPolicyPeer."""
    errs: ErrorList = []
    count = 0
    for selector in (peer.pod_selector, peer.namespace_selector):
        if selector is not None:
            count += 1
            errs.extend(validate_label_selector(selector, rules.allow_invalid_label_values))
    block = peer.ip_block
    if block is not None:
        count += 1
        if not _wrong(block, errs):
            assert isinstance(block, IPBlockSpec)
            errs.extend(validate_ip_block(block, rules))
    if count == 0:
        errs.append(required(peer.path, "must specify a peer"))
    elif count > 1 and block is not None:
        errs.append(forbidden(peer.path, "may not specify both ipBlock and another peer"))
    return errs


def _validate_rule(rule: RuleSpec, rules: ValidationRules) -> ErrorList:
    """The ports and peers of one ingress or egress rule."""
    errs: ErrorList = []
    if not _wrong(rule.ports, errs):
        assert isinstance(rule.ports, tuple)
        for port in rule.ports:
            if not _wrong(port, errs):
                assert isinstance(port, PortSpec)
                errs.extend(validate_network_policy_port(port, rules))
    if not _wrong(rule.peers, errs):
        assert isinstance(rule.peers, tuple)
        for peer in rule.peers:
            if not _wrong(peer, errs):
                assert isinstance(peer, PeerSpec)
                errs.extend(validate_network_policy_peer(peer, rules))
    return errs


_POD_SELECTOR_PATH = SPEC_PATH.child("podSelector")
_POLICY_TYPES_PATH = SPEC_PATH.child("policyTypes")


def validate_network_policy_spec(spec: Spec, rules: ValidationRules = DEFAULT_RULES) -> ErrorList:
    """ValidateNetworkPolicySpec, plus the CRD's required spec.podSelector."""
    errs: ErrorList = []
    if spec.pod_selector is None:
        errs.append(required(_POD_SELECTOR_PATH))
    else:
        errs.extend(validate_label_selector(spec.pod_selector, rules.allow_invalid_label_values))
    for direction in (spec.ingress, spec.egress):
        if not _wrong(direction, errs):
            assert isinstance(direction, tuple)
            for rule in direction:
                if not _wrong(rule, errs):
                    assert isinstance(rule, RuleSpec)
                    errs.extend(_validate_rule(rule, rules))
    types = spec.policy_types
    if types is None or _wrong(types, errs):
        return errs
    assert isinstance(types, PolicyTypes)
    if len(types.items) > len(POLICY_TYPES):
        errs.append(
            invalid(
                _POLICY_TYPES_PATH, list(types.raw), "may not specify more than two policyTypes"
            )
        )
        return errs
    for i, t in enumerate(types.items):
        if not _wrong(t, errs) and t not in POLICY_TYPES:
            errs.append(not_supported(_POLICY_TYPES_PATH.index(i), t, POLICY_TYPES))
    return errs


_NAME_PATH = META_PATH.child("name")
_NAMESPACE_PATH = META_PATH.child("namespace")
_ANNOTATIONS_PATH = META_PATH.child("annotations")


def validate_object_meta(meta: Meta) -> ErrorList:
    """ValidateObjectMeta: the rules the API server applies to every namespaced object."""
    errs: ErrorList = []
    name = meta.name
    if name is None or name == "":
        errs.append(required(_NAME_PATH, "name or generateName is required"))
    elif not _wrong(name, errs):
        assert isinstance(name, str)
        if messages := dns1123_subdomain_errors(name):
            errs.extend(invalid(_NAME_PATH, name, m) for m in messages)
    # A manifest may omit the namespace: the API server takes it from the request (kubectl's
    # "default") before validating, and policy-for resolves bare names the same way.
    namespace = meta.namespace
    if not _wrong(namespace, errs) and namespace:
        assert isinstance(namespace, str)
        if messages := dns1123_label_errors(namespace):
            errs.extend(invalid(_NAMESPACE_PATH, namespace, m) for m in messages)
    errs.extend(validate_labels(meta.labels, META_PATH, "labels"))
    errs.extend(meta.annotations.problems)
    size = 0
    for k, v in meta.annotations.entries:
        if messages := qualified_name_errors(k.lower()):
            errs.extend(invalid(_ANNOTATIONS_PATH, k, m) for m in messages)
        size += _nbytes(k) + _nbytes(v)
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(
            FieldError(
                ErrorType.TOO_LONG,
                str(_ANNOTATIONS_PATH),
                detail=f"may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes",
            )
        )
    return errs


def validate_network_policy(policy: Decoded, rules: ValidationRules = DEFAULT_RULES) -> ErrorList:
    """ValidateNetworkPolicy: every error the API server would report for this object."""
    if isinstance(policy, WrongType):
        return [policy.error]
    errs: ErrorList = []
    meta = policy.metadata
    if meta is None or _wrong(meta, errs):
        meta = EMPTY_META
    assert isinstance(meta, Meta)
    errs.extend(validate_object_meta(meta))
    spec = policy.spec
    if spec is None or _wrong(spec, errs):
        spec = EMPTY_SPEC
    assert isinstance(spec, Spec)
    errs.extend(validate_network_policy_spec(spec, rules))
    return errs


# ---------------------------------------------------------------------------
# Warnings: admitted but suspicious
# ---------------------------------------------------------------------------


def _ip_block_warnings(block: IPBlockSpec, rules: ValidationRules) -> list[str]:
    warnings: list[str] = []
    if isinstance(block.cidr, str):
        warnings.extend(cidr_warnings(block.path.child("cidr"), block.cidr, rules))
    if isinstance(block.except_, tuple):
        for i, item in enumerate(block.except_):
            if isinstance(item, str):
                warnings.extend(cidr_warnings(block.path.child("except").index(i), item, rules))
    return warnings


def _unlisted_direction_warnings(spec: Spec) -> list[str]:
    types = spec.policy_types
    if not isinstance(types, PolicyTypes) or not types.raw:
        return []
    warnings: list[str] = []
    for direction, field, rules in (
        ("Ingress", "ingress", spec.ingress),
        ("Egress", "egress", spec.egress),
    ):
        if isinstance(rules, tuple) and rules and direction not in types.raw:
            listed = json.dumps(list(types.raw))
            warnings.append(
                f"spec.{field}: {len(rules)} {field} rule(s) have no effect because "
                f"spec.policyTypes {listed} does not include {json.dumps(direction)}: "
                f"add {json.dumps(direction)} to spec.policyTypes, or remove spec.{field}"
            )
    return warnings


def policy_warnings(policy: Decoded, rules: ValidationRules = DEFAULT_RULES) -> list[str]:
    """Admitted-but-suspicious things in a (defaulted) policy: the API server's
    networkPolicyWarnings, then the ineffective-rules warning (an mnp extension)."""
    spec = policy.spec if isinstance(policy, PolicyObject) else None
    if not isinstance(spec, Spec):
        return []
    warnings: list[str] = []
    for direction in (spec.ingress, spec.egress):
        for rule in direction if isinstance(direction, tuple) else ():
            if not isinstance(rule, RuleSpec) or not isinstance(rule.peers, tuple):
                continue
            for peer in rule.peers:
                if isinstance(peer, PeerSpec) and isinstance(peer.ip_block, IPBlockSpec):
                    warnings.extend(_ip_block_warnings(peer.ip_block, rules))
    warnings.extend(_unlisted_direction_warnings(spec))
    return warnings


# ---------------------------------------------------------------------------
# Ratcheting: what an UPDATE's stored object lets through (ValidateNetworkPolicyUpdate)
# ---------------------------------------------------------------------------


def _ip_block_strings(spec: Spec) -> list[str]:
    found: list[str] = []
    for direction in (spec.ingress, spec.egress):
        for rule in direction if isinstance(direction, tuple) else ():
            if not isinstance(rule, RuleSpec) or not isinstance(rule.peers, tuple):
                continue
            for peer in rule.peers:
                block = peer.ip_block if isinstance(peer, PeerSpec) else None
                if not isinstance(block, IPBlockSpec):
                    continue
                if isinstance(block.cidr, str):
                    found.append(block.cidr)
                if isinstance(block.except_, tuple):
                    found.extend(e for e in block.except_ if isinstance(e, str))
    return found


def ratcheting_rules(rules: ValidationRules, old: Decoded) -> ValidationRules:
    """The rules for an UPDATE of ``old``: as upstream, every CIDR string the stored object
    has anywhere is exempt from CIDR validation (from 1.36), and an invalid stored
    spec.podSelector lets invalid label values through in every selector."""
    spec = old.spec if isinstance(old, PolicyObject) else None
    if not isinstance(spec, Spec):
        return rules
    selector = spec.pod_selector
    bad_selector = selector is not None and bool(validate_label_selector(selector))
    return replace(
        rules,
        allowed_old_cidrs=frozenset(_ip_block_strings(spec) if rules.ratchets_old_cidrs else ()),
        allow_invalid_label_values=bad_selector,
    )
