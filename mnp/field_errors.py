"""Field errors rendered exactly as apimachinery's ``field.Error`` renders them.

One type serves webhook messages, ``mnp check`` and tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any


class ErrorType(Enum):
    NOT_FOUND = "Not found"
    REQUIRED = "Required value"
    DUPLICATE = "Duplicate value"
    INVALID = "Invalid value"
    NOT_SUPPORTED = "Unsupported value"
    FORBIDDEN = "Forbidden"
    TOO_LONG = "Too long"
    TOO_MANY = "Too many"
    INTERNAL = "Internal error"
    TYPE_INVALID = "Invalid value"  # apimachinery's TypeInvalid prints the same words


_OMIT = object()
# Types whose body never shows the bad value (apimachinery ErrorBody).
_NO_VALUE = {ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL}


class Path:
    """A field path such as ``spec.ingress[0].ports[1].endPort``."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def child(self, name: str, *more: str) -> Path:
        text = f"{self._text}.{name}" if self._text else name
        for m in more:
            text = f"{text}.{m}"
        return Path(text)

    def index(self, i: int) -> Path:
        return Path(f"{self._text}[{i}]")

    def key(self, k: str) -> Path:
        return Path(f"{self._text}[{k}]")

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Path({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Path) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)


def _go_value(value: Any) -> str:
    """Render a bad value the way ErrorBody does (%v for scalars, %q for strings, else JSON)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


@dataclass(frozen=True)
class FieldError:
    type: ErrorType
    field: str
    bad_value: Any = _OMIT
    detail: str = ""

    def body(self) -> str:
        if self.type in _NO_VALUE or self.bad_value is _OMIT:
            s = self.type.value
        else:
            s = f"{self.type.value}: {_go_value(self.bad_value)}"
        if self.detail:
            s += f": {self.detail}"
        return s

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


ErrorList = list[FieldError]


def required(path: Path | str, detail: str = "") -> FieldError:
    return FieldError(ErrorType.REQUIRED, str(path), detail=detail)


def forbidden(path: Path | str, detail: str) -> FieldError:
    return FieldError(ErrorType.FORBIDDEN, str(path), detail=detail)


def invalid(path: Path | str, value: Any, detail: str) -> FieldError:
    return FieldError(ErrorType.INVALID, str(path), value, detail)


def not_found(path: Path | str, value: Any, detail: str = "") -> FieldError:
    return FieldError(ErrorType.NOT_FOUND, str(path), value, detail)


def duplicate(path: Path | str, value: Any) -> FieldError:
    return FieldError(ErrorType.DUPLICATE, str(path), value)


def too_many(path: Path | str, actual: int, limit: int) -> FieldError:
    return FieldError(ErrorType.TOO_MANY, str(path), actual, f"must have at most {limit} items")


def not_supported(path: Path | str, value: Any, supported: list[str]) -> FieldError:
    quoted = ", ".join(json.dumps(s) for s in supported)
    return FieldError(ErrorType.NOT_SUPPORTED, str(path), value, f"supported values: {quoted}")


def type_invalid(path: Path | str, value: Any, detail: str) -> FieldError:
    return FieldError(ErrorType.TYPE_INVALID, str(path), value, detail)


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value, as a CRD structural schema names it."""
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


def wrong_type(path: Path | str, value: Any, expected: str) -> FieldError:
    """A value of the wrong JSON type: ``<path> in body must be of type <expected>: "<got>"``."""
    got = json_type(value)
    return type_invalid(path, got, f"{path} in body must be of type {expected}: {json.dumps(got)}")


# At most this many field errors are rendered into one message (a denial, an Event, a log
# line); the rest are counted in a final entry. apimachinery's ToAggregate has no cap, so an
# object with thousands of bad labels made a 12 MB denial; the first errors say what to fix.
MAX_RENDERED_ERRORS = 64
# And each rendered message at most this long (a bad value can be most of a 3 MiB object).
MAX_RENDERED_ERROR_CHARS = 4096


def more_errors(n: int) -> str:
    """The final entry standing for the ``n`` errors not rendered."""
    return f"... and {n} more error{'s' if n != 1 else ''}"


def rendered(errors: ErrorList, limit: int = MAX_RENDERED_ERRORS) -> list[str]:
    """The distinct messages of ``errors`` in order, at most ``limit`` of them, then one
    ``... and N more errors`` entry counting the distinct ones left out."""
    msgs: list[str] = []
    seen: set[str] = set()
    left_out = 0
    for e in errors:
        m = str(e)
        if m in seen:
            continue
        seen.add(m)
        if len(msgs) < limit:
            if len(m) > MAX_RENDERED_ERROR_CHARS:
                m = m[: MAX_RENDERED_ERROR_CHARS - 3] + "..."
            msgs.append(m)
        else:
            left_out += 1
    if left_out:
        msgs.append(more_errors(left_out))
    return msgs


def aggregate(errors: ErrorList) -> str:
    """utilerrors.NewAggregate(...).Error(): one message, or ``[a, b]``, duplicates dropped;
    bounded to ``MAX_RENDERED_ERRORS`` messages (see ``rendered``)."""
    msgs = rendered(errors)
    if len(msgs) == 1:
        return msgs[0]
    return "[" + ", ".join(msgs) + "]"


def invalid_message(kind: str, name: str, errors: ErrorList) -> str:
    """apierrors.NewInvalid's message: ``Kind.group "name" is invalid: ...``."""
    return f"{kind} {json.dumps(name)} is invalid: {aggregate(errors)}"
