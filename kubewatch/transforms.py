"""Building blocks for the transforms users pass to a ``Watcher``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_METADATA_KEPT = (
    "name",
    "namespace",
    "uid",
    "labels",
    "annotations",
    "deletionTimestamp",
)


def essential_metadata(
    obj: Mapping[str, Any], keep: Iterable[str] = _METADATA_KEPT
) -> dict[str, Any]:
    """``metadata`` reduced to identity, labels and annotations: never ``managedFields``,
    nor ``resourceVersion`` (so an update that changes nothing kept fires no handler)."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return {}
    return {k: meta[k] for k in keep if k in meta}


def without_managed_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The whole object but ``metadata.managedFields`` (often most of its bytes)."""
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, Mapping) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out
