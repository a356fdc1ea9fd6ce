"""Where the enforcer's view of the cluster comes from: manifest files or a live API server.

A source gives ``snapshot()`` (the current Snapshot) and sets ``changed`` when it may differ.
"""

from __future__ import annotations

import threading
from typing import Protocol

from mnp.model import Snapshot


class Source(Protocol):
    changed: threading.Event

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def snapshot(self) -> Snapshot: ...

    def policy_uid(self, namespace: str, name: str) -> str | None: ...
