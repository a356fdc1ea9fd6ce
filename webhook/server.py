"""Run the app under uvicorn (uvloop + httptools) with our hot-reloading TLS context."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from webhook.tls import CertificateReloader

# Longer than the API server's idle pooled connections (90 s in Go's net/http transport is
# the client side; 75 s is the common floor), so the server never closes one under it.
KEEP_ALIVE_SECONDS = 90


@dataclass(frozen=True)
class Listen:
    host: str = "0.0.0.0"
    port: int = 8443


def build_server(
    app: FastAPI, reloader: CertificateReloader, listen: Listen, log_level: str
) -> uvicorn.Server:
    def ssl_context(
        _config: uvicorn.Config, _default: Callable[[], ssl.SSLContext]
    ) -> ssl.SSLContext:
        # One server context for the life of the process; its sni_callback hands every new
        # handshake the newest certificate (see webhook.tls).
        return reloader.server_context()

    config = uvicorn.Config(
        app,
        host=listen.host,
        port=listen.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        ssl_context_factory=ssl_context,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        log_level=log_level,
        access_log=False,
        server_header=False,
    )
    return uvicorn.Server(config)


def build_probe_server(app: FastAPI, listen: Listen, log_level: str) -> uvicorn.Server:
    """Plain HTTP for the kubelet's probes and Prometheus, which carry no client certificate."""
    config = uvicorn.Config(
        app,
        host=listen.host,
        port=listen.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        log_level=log_level,
        access_log=False,
        server_header=False,
    )
    return uvicorn.Server(config)


def run_servers(main: uvicorn.Server, probes: uvicorn.Server | None) -> None:
    """Serve until a signal; when one server stops, the other is told to stop too."""
    if probes is None:
        main.run()
        return

    async def serve_both() -> None:
        tasks = [asyncio.create_task(main.serve()), asyncio.create_task(probes.serve())]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # Each server captures SIGTERM/SIGINT for itself; the first to stop ends the other.
        main.should_exit = probes.should_exit = True
        await asyncio.gather(*pending)

    with asyncio.Runner(loop_factory=main.config.get_loop_factory()) as runner:
        runner.run(serve_both())
