"""One Kubernetes watch layer for mnp's webhook, enforcer and lab, on public APIs only.

A ``Watcher`` lists a resource, says it is synced, then watches from the list's
resourceVersion (with bookmarks), relists on 410 Gone, and backs off with jitter on every
other failure. What it keeps is what the caller's transform returns, as plain data in a
``Store`` keyed by ``namespace/name``. It knows nothing of policies or OVN.
"""

from kubewatch.client import api_client
from kubewatch.hooks import WatchHooks, prometheus_hooks
from kubewatch.resources import Resource, core_resource, custom_resource
from kubewatch.settings import WatchSettings
from kubewatch.store import Handlers, Store, object_key
from kubewatch.transforms import essential_metadata, without_managed_fields
from kubewatch.watcher import Watcher

__all__ = [
    "Handlers",
    "Resource",
    "Store",
    "WatchHooks",
    "WatchSettings",
    "Watcher",
    "api_client",
    "core_resource",
    "custom_resource",
    "essential_metadata",
    "object_key",
    "prometheus_hooks",
    "without_managed_fields",
]
