"""The ``k8s.v1.cni.cncf.io/policy-for`` annotation: which NADs a policy applies to.

Entries are comma-separated ``namespace/name`` or ``name`` (the policy's own
namespace). Like OVN-Kubernetes, only ASCII spaces around entries are stripped.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from mnp.decode import POLICY_FOR_PATH, Meta, WrongType, decode_metadata
from mnp.field_errors import ErrorList, FieldError, invalid, required, wrong_type
from mnp.model import POLICY_FOR_ANNOTATION, NadKey
from mnp.validation import dns1123_label_errors, dns1123_subdomain_errors

__all__ = [
    "DEFAULT_NAMESPACE",
    "POLICY_FOR_PATH",
    "canonical_policy_for",
    "parse_policy_for",
    "policy_for_of",
    "policy_targets",
]

DEFAULT_NAMESPACE = "default"  # where kubectl puts an object whose manifest names none

_HOW_TO = (
    f"set the annotation {POLICY_FOR_ANNOTATION} to the NetworkAttachmentDefinitions this "
    "policy applies to, as comma-separated `namespace/name` or `name` entries "
    '(a bare name means the policy\'s own namespace), e.g. "tenant-blue" or '
    '"default/tenant-blue,other/tenant-red"'
)


def parse_policy_for(value: Any, namespace: str) -> tuple[list[NadKey], ErrorList]:
    """The target NADs in annotation order (duplicates kept), and every fault found."""
    if value is None or (isinstance(value, str) and not value.strip(" ")):
        return [], [required(POLICY_FOR_PATH, f"the policy applies to no network: {_HOW_TO}")]
    if not isinstance(value, str):
        return [], [wrong_type(POLICY_FOR_PATH, value, "string")]
    keys, errs = _parse_entries(value, namespace)
    return list(keys), list(errs)


@functools.lru_cache(maxsize=4096)
def _parse_entries(value: str, namespace: str) -> tuple[tuple[NadKey, ...], tuple[FieldError, ...]]:
    """The entries of one annotation value, parsed once per value: defaulting and the target
    check both read it, and the same value comes back with every update of a policy."""
    keys: list[NadKey] = []
    errs: ErrorList = []
    entries = value.split(",")
    for n, raw in enumerate(entries, start=1):
        entry = raw.strip(" ")
        where = f"entry {n} of {len(entries)}"
        if not entry:
            errs.append(
                invalid(
                    POLICY_FOR_PATH,
                    value,
                    f"{where} is empty: remove the extra comma; {_HOW_TO}",
                )
            )
            continue
        parts = entry.split("/")
        if len(parts) > 2:
            errs.append(
                invalid(
                    POLICY_FOR_PATH,
                    entry,
                    f"{where} must be `name` or `namespace/name`, with at most one '/'",
                )
            )
            continue
        ns, name = (namespace, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        entry_errs = len(errs)
        if len(parts) == 2:
            if not ns:
                errs.append(invalid(POLICY_FOR_PATH, entry, f"{where} has an empty namespace"))
            else:
                errs.extend(
                    invalid(POLICY_FOR_PATH, entry, f"{where}: namespace {json.dumps(ns)}: {m}")
                    for m in dns1123_label_errors(ns)
                )
        if not name:
            errs.append(invalid(POLICY_FOR_PATH, entry, f"{where} has an empty name"))
        else:
            errs.extend(
                invalid(POLICY_FOR_PATH, entry, f"{where}: name {json.dumps(name)}: {m}")
                for m in dns1123_subdomain_errors(name)
            )
        if len(errs) == entry_errs:
            keys.append(NadKey(ns, name))
    return tuple(keys), tuple(errs)


def canonical_policy_for(keys: list[NadKey]) -> str:
    """``ns/name,ns/name`` with duplicates dropped, first occurrence order kept."""
    return ",".join(str(k) for k in dict.fromkeys(keys))


def policy_targets(meta: Meta | WrongType | None) -> tuple[list[NadKey], ErrorList]:
    """parse_policy_for on decoded metadata (its annotation; its namespace, or "default")."""
    if not isinstance(meta, Meta):
        return parse_policy_for(None, DEFAULT_NAMESPACE)
    if isinstance(meta.policy_for, WrongType):
        return [], [meta.policy_for.error]
    namespace = meta.namespace if isinstance(meta.namespace, str) and meta.namespace else None
    return parse_policy_for(meta.policy_for, namespace or DEFAULT_NAMESPACE)


def policy_for_of(obj: Any) -> tuple[list[NadKey], ErrorList]:
    """policy_targets of a raw policy object (for caches that keep raw objects)."""
    return policy_targets(decode_metadata(obj.get("metadata") if isinstance(obj, dict) else None))
