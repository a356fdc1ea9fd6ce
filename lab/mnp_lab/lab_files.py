"""The files the lab reads besides its code: ``config/`` and the binaries' builds.

They are package data of ``mnp_lab``, found next to this module rather than at a guessed
repository root. A wheel carries copies (hatch ``force-include`` in ``lab/pyproject.toml``);
in a checkout (an editable install, or pytest's ``pythonpath``) ``mnp_lab/data/`` holds
symlinks to the repository's ``config/`` and ``hack/``, so edits there are live.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
# CRDs, webhook configurations, Deployments and RBAC, as `kubectl kustomize` renders them.
CONFIG_DIR = DATA_DIR / "config"
# Builds kube-apiserver, kubectl and etcd at the versions pinned next to it.
BUILD_SCRIPT = DATA_DIR / "hack" / "build-kube-binaries.sh"
# Builds cert-manager's controller and cainjector (and copies its CRDs) at the pinned version.
CERT_MANAGER_BUILD_SCRIPT = DATA_DIR / "hack" / "build-cert-manager-binaries.sh"
