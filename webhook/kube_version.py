"""Which Kubernetes release the webhook answers as: ``--kube-version``, else the API server's.

The API server's own answer for a NetworkPolicy depends on its release (strict CIDRs from
1.36, the value an ``endPort`` error shows), so the webhook reads ``/version`` once at start.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kubernetes.client import VersionApi

from kubewatch import api_client
from mnp.validation import ValidationRules, rules_for_version

log = logging.getLogger("mnp.webhook")


def server_rules(kubeconfig: Path | None) -> ValidationRules:
    """The rules of the API server's reported ``gitVersion``.

    An unreadable ``/version`` is logged and answered with the newest supported release's
    rules rather than keeping the webhook down; ``--kube-version`` chooses explicitly.
    """
    try:
        info = VersionApi(api_client(kubeconfig)).get_code()
        return rules_for_version(str(info.git_version))
    except Exception as e:
        log.warning(
            "cannot read the API server's version (%s); validating as the newest supported "
            "Kubernetes release; give --kube-version to choose",
            e,
        )
        return ValidationRules()


def validation_rules(
    kube_version: str | None, kubeconfig: Path | None, from_cluster: bool
) -> ValidationRules:
    """``--kube-version`` when given (ValueError if it is not a version), else the API
    server's when serving from the cluster, else (``--snapshot``) the newest supported."""
    if kube_version is not None:
        return rules_for_version(kube_version)
    return server_rules(kubeconfig) if from_cluster else ValidationRules()
