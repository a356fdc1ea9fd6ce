"""etcd's v3 JSON gateway, for tests that force what a real cluster does rarely (a 410)."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

from mnp_lab.kube import KubeControlPlane


def _post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def compact_etcd(kube: KubeControlPlane) -> int:
    """Compact etcd up to its current revision (etcd's v3 JSON gateway); returns it."""
    base = f"http://127.0.0.1:{kube.etcd_port}/v3"

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    # Any range answers with the store's revision in its header.
    head = _post_json(f"{base}/kv/range", {"key": b64("/"), "count_only": True})
    revision = int(head["header"]["revision"])
    _post_json(f"{base}/kv/compaction", {"revision": str(revision), "physical": True})
    return revision
