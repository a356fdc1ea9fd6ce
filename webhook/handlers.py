"""Admission decisions for one parsed request: small functions from request to verdict.

No HTTP here (see ``admission_http``) and no I/O: NADs are resolved before these run. The
validation rules are those of the API server the webhook serves (``mnp webhook``'s version
lookup or ``--kube-version``), given to the app at start.
"""

from __future__ import annotations

from typing import Any

from mnp import admission
from mnp.admission import NadLookup, ValidationRules, Verdict
from mnp.model import MNP_GROUP, MNP_KIND, NAD_KIND, NadKey
from webhook.admission_http import AdmissionRequest
from webhook.nad_cache import ObjectSource, object_key


class UnhandledKind(Exception):
    """The webhook configuration sent us a kind we do not review."""

    def __init__(self, request: AdmissionRequest, endpoint: str) -> None:
        super().__init__(
            f"the mnp webhook's {endpoint} does not handle {request.group or 'core'}/"
            f"{request.kind}; it reviews {MNP_GROUP} {MNP_KIND}"
            + (f" and {NAD_KIND}" if endpoint == "/validate" else "")
            + ": fix the rules of the webhook configuration"
        )


def _is_kind(request: AdmissionRequest, kind: str) -> bool:
    return request.kind == kind and request.group in ("", MNP_GROUP)


def _nad_key(request: AdmissionRequest) -> NadKey | None:
    for obj in (request.obj, request.old_obj):
        if isinstance(obj, dict) and (key := object_key(obj)) is not None and key[0]:
            return NadKey(*key)
    if request.namespace and request.name:
        return NadKey(request.namespace, request.name)
    return None


def validate(
    request: AdmissionRequest, nads: NadLookup, source: ObjectSource, rules: ValidationRules
) -> Verdict:
    if _is_kind(request, MNP_KIND):
        return admission.review(request.operation, request.obj, request.old_obj, nads, rules)
    if _is_kind(request, NAD_KIND):
        key = _nad_key(request)
        policies: list[Any] = source.policies_targeting(key) if key is not None else []
        return admission.review_nad(request.operation, request.old_obj, request.obj, policies)
    raise UnhandledKind(request, "/validate")


def mutate(request: AdmissionRequest) -> Verdict:
    if not _is_kind(request, MNP_KIND):
        raise UnhandledKind(request, "/mutate")
    if request.operation not in ("CREATE", "UPDATE"):
        return Verdict(allowed=True)
    return admission.mutate_policy(request.obj)
