"""Per-client bounds that uvicorn lacks: head and body deadlines, a connection cap, a budget
for buffered bodies, and closing between requests on shutdown.

uvicorn's httptools protocol has a keep-alive timer but no deadline for a request that has
begun, and no cap on connections, so a client sending one byte a second, or all but the last
byte of a large body, holds its connection and its buffer for ever. ``GuardedHttpProtocol``
is that protocol plus a phase and one timer per connection:

    HEAD      from connection (or the first byte of a request) to the end of its head, which
              may not exceed ``max_head_bytes`` (httptools has no limit of its own)
    BODY      from the end of the head to the last body byte
    ANSWERING the request is complete; the app is deciding (no deadline: the app is ours)
    IDLE      between requests, for the keep-alive time

A missed deadline aborts the connection (IDLE just closes). ``ConnectionGuard`` holds every
open connection of one listener and decides which to cut:

- past ``reap_idle_fraction`` of the cap, each new connection closes the oldest one that
  never sent a byte, else the one idle longest;
- at the cap, it closes the oldest one still in HEAD or BODY; with none, the new one is
  refused (closed at once): nothing queues;
- both only take connections at least ``reap_min_age_s`` in their phase, so that a client
  sending its requests back to back never loses its connection between two of them (Go's
  transport does not retry a POST written to a connection the server just closed);
- past the body budget, the oldest unfinished uploads are cut until it fits again.

The TLS handshake, before any of this, has the head deadline (``ssl_handshake_timeout``).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import enum
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from webhook.limits import ServerLimits
from webhook.metrics import WebhookMetrics

log = logging.getLogger(__name__)

# Cuts are counted in metrics and summed up in one log line per this many seconds, so a
# flood of hostile connections does not become a flood of log lines.
CUT_SUMMARY_SECONDS = 10.0


class Phase(enum.Enum):
    HEAD = "head"
    BODY = "body"
    ANSWERING = "answering"
    IDLE = "idle"


def _malloc_trim() -> Callable[[], None]:
    """glibc's malloc_trim(0), or nothing where there is no glibc."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def trim_heap() -> None:
        trim(0)

    return trim_heap


class ConnectionGuard:
    """The open connections of one listener, oldest first, and the bytes their bodies hold."""

    def __init__(
        self, limits: ServerLimits, listener: str, metrics: WebhookMetrics | None = None
    ) -> None:
        self.limits = limits
        self.listener = listener
        self.metrics = metrics
        self.draining = False  # set on SIGTERM: every answer from now on closes its connection
        self.body_bytes = 0
        self._open: dict[GuardedHttpProtocol, None] = {}  # insertion order: oldest first
        # Accepted, TLS handshake under way (no transport for us yet): when each began.
        self._handshaking: dict[GuardedHttpProtocol, float] = {}
        self._trim = _malloc_trim()
        self._trim_pending = False
        self._recent_cuts: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._open)

    def handshaking(self) -> int:
        """Handshakes that may still complete. A failed one never tells the protocol, so
        entries past the handshake deadline are dropped (oldest first: insertion order)."""
        stale = time.monotonic() - self.limits.header_timeout_s
        while self._handshaking:
            conn, began = next(iter(self._handshaking.items()))
            if began > stale:
                break
            del self._handshaking[conn]
        return len(self._handshaking)

    def accepted(self, conn: GuardedHttpProtocol) -> None:
        self.handshaking()
        self._handshaking[conn] = time.monotonic()

    def admit(self, conn: GuardedHttpProtocol) -> bool:
        """Register a new connection; False when it must be refused (the cap is full of
        connections that are busy for good reasons)."""
        self._handshaking.pop(conn, None)
        # Only connections in their phase for a while: a client between two requests, or
        # about to send its first, must not lose its connection under its request.
        settled_since = time.monotonic() - self.limits.reap_min_age_s
        if len(self._open) >= self.limits.reap_idle_above:
            # Connections that never sent a request first, then those between requests.
            idle = self._oldest(lambda c: c.never_used(), settled_since) or self._oldest(
                lambda c: c.phase is Phase.IDLE, settled_since
            )
            if idle is not None:
                idle.cut("idle_reaped")
        if len(self._open) >= self.limits.max_connections:
            stalled = self._oldest(lambda c: c.phase in (Phase.HEAD, Phase.BODY), settled_since)
            if stalled is None:
                return False
            stalled.cut("connection_cap")
        self._open[conn] = None
        self._update_gauge()
        return True

    def forget(self, conn: GuardedHttpProtocol) -> None:
        self._handshaking.pop(conn, None)
        if conn in self._open:
            del self._open[conn]
            self._update_gauge()
        self.release_body(conn)

    def hold_body(self, conn: GuardedHttpProtocol, size: int) -> None:
        """Count body bytes a connection received; over budget, cut the oldest uploads."""
        conn.body_held += size
        self.body_bytes += size
        while self.body_bytes > self.limits.body_budget_bytes:
            victim = self._oldest(lambda c: c.phase is Phase.BODY)
            if victim is None:
                break
            victim.cut("body_budget")

    def release_body(self, conn: GuardedHttpProtocol) -> None:
        held, conn.body_held = conn.body_held, 0
        self.body_bytes -= held
        if held >= self.limits.trim_after_bytes and not self._trim_pending:
            # Later, so the request's task has dropped its copies of the body by then.
            self._trim_pending = True
            asyncio.get_running_loop().call_later(0.5, self._trim_now)

    def _trim_now(self) -> None:
        self._trim_pending = False
        self._trim()

    def counted_cut(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.connections_cut.labels(self.listener, reason).inc()
        if not self._recent_cuts:
            asyncio.get_running_loop().call_later(CUT_SUMMARY_SECONDS, self._log_cuts)
        self._recent_cuts[reason] += 1

    def _log_cuts(self) -> None:
        summary = ", ".join(f"{reason} {n}" for reason, n in sorted(self._recent_cuts.items()))
        log.info(
            "%s: closed on their clients in the last %.0f s: %s",
            self.listener,
            CUT_SUMMARY_SECONDS,
            summary,
        )
        self._recent_cuts.clear()

    def begin_drain(self) -> None:
        """Shutdown begins: every answer from now on, those in progress included, says
        ``Connection: close``."""
        self.draining = True
        for conn in self._open:
            if conn.cycle is not None and not conn.cycle.response_complete:
                conn.cycle.keep_alive = False

    def close_between_requests(self) -> None:
        """Shutdown: close the connections idle after an answer (a client retries a request
        that meets a closed reused connection); busy ones close after their answer
        (``draining`` makes it ``Connection: close``). A fresh connection keeps its head
        deadline: its client may be sending its first request right now, and would not
        retry it."""
        self.draining = True
        for conn in list(self._open):
            if conn.phase is Phase.IDLE:
                conn.close_quietly()

    def cut_all(self) -> int:
        remaining = list(self._open)
        for conn in remaining:
            conn.cut("shutdown")
        return len(remaining)

    def _oldest(
        self, wanted: Callable[[GuardedHttpProtocol], bool], since: float = float("inf")
    ) -> GuardedHttpProtocol | None:
        """The wanted connection longest in its phase, if it entered it before ``since``."""
        candidates = [c for c in self._open if c.phase_since <= since and wanted(c)]
        return min(candidates, key=lambda c: c.phase_since, default=None)

    def _update_gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.connections_open.labels(self.listener).set(len(self._open))


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline per phase (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        guard: ConnectionGuard,
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state={}, _loop=_loop)
        self.guard = guard
        self.phase = Phase.HEAD
        self.phase_since = time.monotonic()
        self.body_held = 0
        self._request_begun = False
        self._head_bytes = 0
        self.requests = 0
        self._deadline: asyncio.TimerHandle | None = None
        guard.accepted(self)  # the loop builds the protocol on accept, before the handshake

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self.phase_since = time.monotonic()
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        limits = self.guard.limits
        seconds = {
            Phase.HEAD: limits.header_timeout_s,
            Phase.BODY: limits.body_timeout_s,
            Phase.IDLE: limits.keep_alive_s,
        }.get(phase)
        if seconds is not None:
            self._deadline = self.loop.call_later(seconds, self._deadline_missed)

    def _deadline_missed(self) -> None:
        self._deadline = None
        if self.phase is Phase.IDLE:
            self.close_quietly()
        else:
            self.cut("header_timeout" if self.phase is Phase.HEAD else "body_timeout")

    def cut(self, reason: str) -> None:
        """Abort at once (no TLS close_notify to wait for) and count why."""
        if self.transport is None or self.transport.is_closing():
            self.guard.forget(self)
            return
        self.guard.counted_cut(reason)
        self.guard.forget(self)
        self.transport.abort()

    def close_quietly(self) -> None:
        self.guard.forget(self)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def never_used(self) -> bool:
        return self.phase is Phase.HEAD and not self._request_begun and self.requests == 0

    # asyncio.Protocol and httptools parser callbacks

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # The parser buffers a header until its end: count what a head has sent so far.
        if self.phase is Phase.HEAD and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.guard.limits.max_head_bytes:
                self.cut("head_too_large")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.admit(self):
            self.cut("connection_cap")
            return
        self._enter(Phase.HEAD)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.guard.forget(self)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True
        self._enter(Phase.HEAD)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._head_bytes = 0
        if self.guard.draining and self.cycle is not None:
            self.cycle.keep_alive = False  # the answer says Connection: close
        self._enter(Phase.BODY)

    def on_body(self, body: bytes) -> None:
        answered = self.cycle is not None and self.cycle.response_complete
        super().on_body(body)
        if not answered:  # after an early answer (413), uvicorn drops the rest unbuffered
            self.guard.hold_body(self, len(body))

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete:
            self._request_finished()
        else:
            self._enter(Phase.ANSWERING)

    def on_response_complete(self) -> None:
        if self.phase is Phase.ANSWERING:
            self._request_finished()
        super().on_response_complete()

    def _request_finished(self) -> None:
        self.guard.release_body(self)
        self.requests += 1
        self._request_begun = False
        self._enter(Phase.IDLE)


def protocol_factory(
    config: Config, server_state: ServerState, guard: ConnectionGuard
) -> Callable[[], Any]:
    def build() -> GuardedHttpProtocol:
        return GuardedHttpProtocol(config, server_state, guard)

    return build
