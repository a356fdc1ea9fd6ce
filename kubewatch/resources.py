"""What a ``Watcher`` lists and watches: a kind and one generated ``list_*`` function."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes.client

_client: Any = kubernetes.client


@dataclass(frozen=True)
class Resource:
    """``list_call`` is a generated list function of the ``kubernetes`` package (it takes
    ``watch``, ``resource_version``, ``limit``, ``_continue``, ``_preload_content``...).
    The watcher always calls it with ``_preload_content=False`` and parses the JSON itself,
    so objects stay plain dicts and no typed models are built."""

    kind: str
    api_version: str
    list_call: Callable[..., Any]


def core_resource(api: Any, kind: str) -> Resource:
    """A core/v1 kind across all namespaces: ``Pod`` or ``Namespace`` (what mnp watches)."""
    core = _client.CoreV1Api(api)
    calls: dict[str, Callable[..., Any]] = {
        "Pod": core.list_pod_for_all_namespaces,
        "Namespace": core.list_namespace,
    }
    if kind not in calls:
        raise ValueError(f"no core/v1 list function known for {kind}")
    return Resource(kind, "v1", calls[kind])


def custom_resource(api: Any, kind: str, group: str, version: str, plural: str) -> Resource:
    """A custom resource across all namespaces, through ``CustomObjectsApi``."""
    custom = _client.CustomObjectsApi(api)
    call = functools.partial(custom.list_cluster_custom_object, group, version, plural)
    return Resource(kind, f"{group}/{version}", call)
