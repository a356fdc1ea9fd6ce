"""Serve the apps with uvicorn's httptools protocol (guarded, see ``connection_guard``) on
uvloop, and shut down the way controller-runtime's webhook server does.

uvicorn's own ``Server`` is not used: it closes its listener the moment SIGTERM arrives,
re-raises the signal afterwards (exit status 143), has no TLS handshake deadline and waits
for ever on a client holding a partial body. ``ListeningServer`` keeps uvicorn's protocol
and config and owns the listener; ``run_servers`` owns the signals and the shutdown:

1. SIGTERM: /readyz answers 503 on every listener, every answer carries
   ``Connection: close``, and the listeners stay open for ``shutdown_drain_s``, so the
   endpoints drop this pod while requests routed to it still get answers;
2. the listeners close, connections between requests close;
3. in-flight requests finish, until ``shutdown_grace_s`` after the signal;
4. whatever is left (a partial head or body) is cut off, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from uvicorn.server import ServerState

from webhook.connection_guard import ConnectionGuard, protocol_factory
from webhook.limits import ServerLimits
from webhook.metrics import WebhookMetrics

log = logging.getLogger("mnp.webhook")

POLL_SECONDS = 0.05
# TLS close_notify to a client that no longer reads is not worth waiting for long.
TLS_SHUTDOWN_SECONDS = 2.0


@dataclass(frozen=True)
class Listen:
    host: str = "0.0.0.0"
    port: int = 8443


class Lifecycle:
    """What the apps need to know about the server's life: whether shutdown has begun."""

    def __init__(self) -> None:
        self.draining = False

    def is_draining(self) -> bool:
        return self.draining


class ListeningServer:
    """One listener: an app behind the guarded protocol, HTTPS when given a TLS context."""

    def __init__(
        self,
        app: FastAPI,
        listen: Listen,
        limits: ServerLimits,
        *,
        name: str,
        log_level: str,
        ssl_context: ssl.SSLContext | None = None,
        metrics: WebhookMetrics | None = None,
    ) -> None:
        self.name = name
        self.listen = listen
        self.limits = limits
        self.ssl_context = ssl_context
        self.config = uvicorn.Config(
            app,
            host=listen.host,
            port=listen.port,
            loop="uvloop",
            http="httptools",
            lifespan="off",
            timeout_keep_alive=int(limits.keep_alive_s) or 1,
            log_level=log_level,
            access_log=False,
            server_header=False,
            date_header=False,
        )
        self.config.load()
        self.state = ServerState()
        self.guard = ConnectionGuard(limits, name, metrics)
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        tls = self.ssl_context is not None
        self._server = await asyncio.get_running_loop().create_server(
            protocol_factory(self.config, self.state, self.guard),
            host=self.listen.host,
            port=self.listen.port,
            ssl=self.ssl_context,
            backlog=self.config.backlog,
            # The handshake comes before the head: the same deadline covers it.
            ssl_handshake_timeout=self.limits.header_timeout_s if tls else None,
            ssl_shutdown_timeout=TLS_SHUTDOWN_SECONDS if tls else None,
        )
        scheme = "https" if tls else "http"
        log.info(
            "%s: listening on %s://%s:%d", self.name, scheme, self.listen.host, self.listen.port
        )

    def begin_drain(self) -> None:
        self.guard.begin_drain()

    def close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
        self.guard.close_between_requests()

    def busy(self) -> int:
        """Connections still open or in their handshake, plus requests being answered: a
        client whose handshake the listener accepted before it closed sends its request
        next, and gets its answer."""
        return len(self.guard) + self.guard.handshaking() + len(self.state.tasks)

    def cut_all(self) -> int:
        return self.guard.cut_all()


def build_server(
    app: FastAPI,
    ssl_context: ssl.SSLContext,
    listen: Listen,
    limits: ServerLimits,
    metrics: WebhookMetrics,
    log_level: str,
) -> ListeningServer:
    """The HTTPS listener. The context is the reloader's: its sni_callback hands every new
    handshake the newest certificate (see webhook.tls)."""
    return ListeningServer(
        app,
        listen,
        limits,
        name="https",
        log_level=log_level,
        ssl_context=ssl_context,
        metrics=metrics,
    )


def build_probe_server(
    app: FastAPI, listen: Listen, limits: ServerLimits, metrics: WebhookMetrics, log_level: str
) -> ListeningServer:
    """Plain HTTP for the kubelet's probes and Prometheus, which carry no client certificate."""
    return ListeningServer(app, listen, limits, name="probes", log_level=log_level, metrics=metrics)


def run_servers(servers: list[ListeningServer], lifecycle: Lifecycle, limits: ServerLimits) -> bool:
    """Serve until SIGTERM or SIGINT, then shut down gracefully; False if a listener could not
    start (the port is taken, say)."""
    loop_factory = servers[0].config.get_loop_factory()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_serve(servers, lifecycle, limits))


async def _serve(
    servers: list[ListeningServer], lifecycle: Lifecycle, limits: ServerLimits
) -> bool:
    # Signals are ours from before the first listener opens: never the default exit (143).
    loop = asyncio.get_running_loop()
    signals = asyncio.Queue[signal.Signals]()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, signals.put_nowait, sig)
    try:
        for server in servers:
            await server.start()
    except OSError as e:
        log.error("cannot listen: %s", e)
        return False
    received = await signals.get()
    await _shut_down(servers, lifecycle, limits, received, signals)
    return True


async def _shut_down(
    servers: list[ListeningServer],
    lifecycle: Lifecycle,
    limits: ServerLimits,
    received: signal.Signals,
    signals: asyncio.Queue[signal.Signals],
) -> None:
    started = time.monotonic()
    deadline = started + limits.shutdown_grace_s
    lifecycle.draining = True
    for server in servers:
        server.begin_drain()
    log.info(
        "shutdown (%s): /readyz answers 503 and answers close their connections; "
        "still accepting for %.1f s",
        received.name,
        limits.shutdown_drain_s,
    )
    # A second signal skips the waiting: the operator means it.
    hurry = asyncio.ensure_future(signals.get())
    await asyncio.wait([hurry], timeout=limits.shutdown_drain_s)
    for server in servers:
        server.close_listener()
    busy = sum(server.busy() for server in servers)
    log.info("shutdown: listeners closed; waiting for %d busy connections and requests", busy)
    while not hurry.done() and time.monotonic() < deadline:
        if all(server.busy() == 0 for server in servers):
            break
        await asyncio.sleep(POLL_SECONDS)
    why = "second signal" if hurry.done() else "grace over"
    hurry.cancel()
    cut = sum(server.cut_all() for server in servers)
    if cut:
        log.info("shutdown: %s, cut off %d connections (partial requests)", why, cut)
        # Let the aborted requests' tasks see their disconnect and end.
        await asyncio.sleep(POLL_SECONDS)
    log.info("shutdown: done after %.1f s", time.monotonic() - started)
