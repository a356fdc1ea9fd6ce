"""Every timing knob of a watch in one frozen object, and the backoff it drives."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class WatchSettings:
    """How a ``Watcher`` paces itself; the defaults suit a production API server.

    - ``backoff_*``: after the n-th consecutive failure the watcher waits
      ``min(initial * factor**(n-1), max)``, times a random factor in
      ``[1 - jitter, 1 + jitter]`` so that many clients do not retry in step.
    - ``watch_timeout_s``: the server-side ``timeoutSeconds`` of each watch request; the
      server ends the stream then and the watcher resumes from its last resourceVersion.
    - ``request_timeout_s``: connect timeout of every request and read timeout of a list.
      A watch's read timeout is ``watch_timeout_s + request_timeout_s``, so a connection
      that died without a FIN is noticed at the latest then.
    - ``list_page_size``: ``limit`` of each list page (large clusters list in pages).
    - ``first_sync_timeout_s``: how long a caller waits for the first lists before it
      gives up with a clear error (50,000 pods list in about 25 s on a busy server).
    """

    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    backoff_factor: float = 2.0
    backoff_jitter: float = 0.25
    watch_timeout_s: int = 300
    request_timeout_s: float = 10.0
    list_page_size: int = 500
    first_sync_timeout_s: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ValueError("need 0 < backoff_initial_s <= backoff_max_s")
        if self.backoff_factor < 1 or not 0 <= self.backoff_jitter < 1:
            raise ValueError("need backoff_factor >= 1 and 0 <= backoff_jitter < 1")
        if self.watch_timeout_s < 1 or self.request_timeout_s <= 0 or self.list_page_size < 1:
            raise ValueError("timeouts and list_page_size must be positive")
        if self.first_sync_timeout_s <= 0:
            raise ValueError("first_sync_timeout_s must be positive")

    @property
    def watch_read_timeout_s(self) -> float:
        return self.watch_timeout_s + self.request_timeout_s


class Backoff:
    """Consecutive failures -> the next delay; ``reset`` after a healthy watch."""

    def __init__(self, settings: WatchSettings, rng: Callable[[], float] = random.random) -> None:
        self._settings = settings
        self._rng = rng
        self.failures = 0

    def next_delay(self) -> float:
        s = self._settings
        base = min(s.backoff_initial_s * s.backoff_factor**self.failures, s.backoff_max_s)
        self.failures += 1
        return base * (1 - s.backoff_jitter + 2 * s.backoff_jitter * self._rng())

    def reset(self) -> None:
        self.failures = 0
