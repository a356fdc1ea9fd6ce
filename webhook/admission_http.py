"""AdmissionReview ``admission.k8s.io/v1`` in and out: the only place HTTP plumbing lives.

Everything here is defensive: the body comes from the network, so every field is checked
for presence and type before use, and a problem becomes ``BadRequest`` with a message that
says what was wrong and what the sender should send instead.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from mnp.admission import DENIAL_CODE, DENIAL_REASON, Verdict
from mnp.field_errors import aggregate
from webhook.limits import MAX_BODY_BYTES

ADMISSION_API_VERSION = "admission.k8s.io/v1"
# Bounds on what one answer carries, whatever the object: kubectl prints the message whole,
# and the API server keeps only the first 4 KiB of warnings in its response headers anyway.
MAX_MESSAGE_CHARS = 64 * 1024
MAX_WARNINGS = 64
MAX_WARNING_CHARS = 2048
# A log line names the request and its verdict; the rest of a long message is in the answer.
MAX_LOGGED_CHARS = 2048
MAX_NESTING = 100
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")


class BadRequest(Exception):
    """The HTTP request is not an AdmissionReview we can answer; ``status`` is 400 or 413."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class AdmissionRequest:
    uid: str
    operation: str
    group: str
    kind: str
    namespace: str
    name: str
    obj: Any  # request.object: whatever JSON the sender put there
    old_obj: Any  # request.oldObject

    def describe(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.operation} {self.kind} {where or '<unnamed>'}"


async def read_body(
    content_length: str | None, chunks: AsyncIterator[bytes], limit: int = MAX_BODY_BYTES
) -> bytes:
    """The whole body, refusing more than ``limit`` bytes by header AND by count."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise BadRequest(f"Content-Length {content_length!r} is not a number") from None
        if declared > limit:
            raise BadRequest(
                f"request body of {declared} bytes exceeds the limit of {limit} bytes", 413
            )
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BadRequest(f"request body exceeds the limit of {limit} bytes", 413)
        parts.append(chunk)
    return b"".join(parts)


_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def check_nesting(body: bytes, max_depth: int = MAX_NESTING) -> None:
    """Reject JSON nested deeper than ``max_depth`` before any parser or walker recurses."""
    # Cheap exit for ordinary requests: too few brackets to reach the limit at all.
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return
    skeleton = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in skeleton:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > max_depth:
                raise BadRequest(
                    f"JSON nests deeper than {max_depth} levels; an AdmissionReview never does"
                )
        else:
            depth -= 1


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder for every request: json.loads with any keyword builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json(body: bytes) -> Any:
    check_nesting(body)
    try:
        # What json.loads does with bytes: detect UTF-8/16/32, keep lone surrogates.
        return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except RecursionError:
        raise BadRequest(f"JSON nests deeper than {MAX_NESTING} levels") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, too-long integers
        raise BadRequest(f"request body is not JSON: {e}") from None


def _field(obj: dict[str, Any], name: str, where: str, kind: type, required: bool = True) -> Any:
    value = obj.get(name)
    if value is None:
        if required:
            raise BadRequest(f"{where}.{name} is required in an AdmissionReview")
        return None
    if not isinstance(value, kind):
        raise BadRequest(f"{where}.{name} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def parse_review(body: bytes) -> AdmissionRequest:
    """An AdmissionReview ``admission.k8s.io/v1`` request, or BadRequest saying what is wrong."""
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise BadRequest(
            f"request body must be an AdmissionReview object, got {type(doc).__name__}"
        )
    api_version = doc.get("apiVersion")
    if doc.get("kind") != "AdmissionReview" or api_version != ADMISSION_API_VERSION:
        raise BadRequest(
            f"request body must be kind AdmissionReview, apiVersion {ADMISSION_API_VERSION}; got "
            f"kind {json.dumps(doc.get('kind'))}, apiVersion {json.dumps(api_version)} "
            "(set admissionReviewVersions: [v1] in the webhook configuration)"
        )
    request = _field(doc, "request", "AdmissionReview", dict)
    uid = _field(request, "uid", "request", str)
    if not uid:
        raise BadRequest("request.uid must not be empty")
    operation = _field(request, "operation", "request", str)
    if operation not in OPERATIONS:
        raise BadRequest(
            f"request.operation {json.dumps(operation)} is not one of {', '.join(OPERATIONS)}"
        )
    kind = _field(request, "kind", "request", dict)
    namespace = _field(request, "namespace", "request", str, required=False) or ""
    name = _field(request, "name", "request", str, required=False) or ""
    return AdmissionRequest(
        uid=uid,
        operation=operation,
        group=_field(kind, "group", "request.kind", str, required=False) or "",
        kind=_field(kind, "kind", "request.kind", str),
        namespace=namespace,
        name=name,
        obj=_with_request_identity(request.get("object"), namespace, name),
        old_obj=_with_request_identity(request.get("oldObject"), namespace, name),
    )


def _with_request_identity(obj: Any, namespace: str, name: str) -> Any:
    """Fill an object's empty namespace/name from the request.

    A bare policy-for name means the policy's own namespace, which a create may carry only in
    the request (and a generateName create has its name only there). Filling it before the
    mutating review also keeps it out of the JSON Patch.
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        return obj
    meta = obj["metadata"]
    for key, value in (("namespace", namespace), ("name", name)):
        if value and not meta.get(key):
            meta[key] = value
    return obj


def truncated(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def loggable(text: str, limit: int = MAX_LOGGED_CHARS) -> str:
    """Bounded, and printable by any log handler: lone surrogates (from JSON escapes such as
    ``\\ud800``) become backslash escapes instead of failing the handler's encoder."""
    bounded = truncated(text, limit)
    return bounded.encode("utf-8", "backslashreplace").decode("utf-8")


def denial_message(verdict: Verdict) -> str:
    if verdict.message:
        message = verdict.message
    elif verdict.errors:
        message = aggregate(verdict.errors)
    else:
        message = "denied by the mnp webhook"
    return truncated(message, MAX_MESSAGE_CHARS)


# json.dumps with separators builds an encoder per call; this is the same encoder, kept.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def review_response(
    uid: str,
    verdict: Verdict,
    *,
    with_patch: bool = False,
    status_code: int = DENIAL_CODE,
    reason: str = DENIAL_REASON,
) -> bytes:
    """The AdmissionReview answer; a denial carries a Status so kubectl prints the reason."""
    response: dict[str, Any] = {"uid": uid, "allowed": verdict.allowed}
    if verdict.warnings:
        warnings = [truncated(w, MAX_WARNING_CHARS) for w in verdict.warnings[:MAX_WARNINGS]]
        if len(verdict.warnings) > MAX_WARNINGS:
            warnings.append(f"{len(verdict.warnings) - MAX_WARNINGS} more warnings not shown")
        response["warnings"] = warnings
    if not verdict.allowed:
        response["status"] = {
            "status": "Failure",
            "code": status_code,
            "reason": reason,
            "message": denial_message(verdict),
        }
    elif with_patch and verdict.patch:
        patch = _COMPACT.encode(verdict.patch).encode()
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(patch).decode("ascii")
    review = {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response}
    # ASCII escapes, not UTF-8: a string from the request may hold a lone surrogate (a JSON
    # "\ud800" decodes to one), which has no UTF-8 encoding but has a JSON escape.
    return _COMPACT.encode(review).encode("ascii")


def error_body(message: str) -> bytes:
    return json.dumps({"error": truncated(message, MAX_MESSAGE_CHARS)}).encode("ascii")
