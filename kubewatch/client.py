"""The one way mnp builds a ``kubernetes.client.ApiClient``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config

# The kubernetes package is only partly typed.
_client: Any = kubernetes.client
_config: Any = kubernetes.config


def api_client(kubeconfig: str | Path | None = None) -> Any:
    """An ``ApiClient`` from, in this order:

    1. ``kubeconfig``, when given (``--kubeconfig``);
    2. the in-cluster service account, when running in a pod
       (``KUBERNETES_SERVICE_HOST`` is set);
    3. ``$KUBECONFIG``, else ``~/.kube/config``, as kubectl reads it.

    urllib3's own retries are turned off (``retries=0``): retrying is the watcher's job,
    with backoff, and urllib3 would retry at once and log a warning each time.
    Raises ``kubernetes.config.ConfigException`` (or ``OSError``) when nothing is usable.
    """
    configuration = _client.Configuration()
    if kubeconfig is not None:
        _config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        _config.load_incluster_config(client_configuration=configuration)
    else:
        _config.load_kube_config(client_configuration=configuration)
    configuration.retries = 0
    return _client.ApiClient(configuration)
