"""Admission decisions as pure functions: the webhook, ``mnp check`` and the enforcer call these.

STUB: the signatures are the contract; the bodies are being written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from mnp.field_errors import ErrorList
from mnp.model import NadKey


class NadLookup(Protocol):
    """Where the NADs come from: an informer cache, a snapshot file, or a dict in tests."""

    def get(self, key: NadKey) -> dict[str, Any] | None:
        """The raw NetworkAttachmentDefinition object, or None when it does not exist."""
        ...


@dataclass
class Verdict:
    allowed: bool
    errors: ErrorList = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    patch: list[dict[str, Any]] = field(default_factory=list)  # JSON Patch from defaulting
    message: str = ""  # the denial message, as the API server would render it
