"""Where the enforcer's view of the cluster comes from: manifest files or a live API server.

A source gives ``snapshot()`` (the current Snapshot), sets ``changed`` when it may differ
and queues what changed on ``events`` (the incremental loop's input).
"""

from __future__ import annotations

import threading
from typing import Protocol

from enforcer.incremental_loop import EventQueue
from mnp.model import Snapshot


class Source(Protocol):
    changed: threading.Event
    events: EventQueue

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def snapshot(self) -> Snapshot: ...

    def policy_uid(self, namespace: str, name: str) -> str | None: ...
