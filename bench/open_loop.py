"""An open-loop HTTPS load generator: requests at a fixed rate, latency from the intended send.

wrk measures closed-loop (a slow answer delays the next request, hiding queueing) and wrk2
is not packaged in Debian. Here request ``i`` is due at ``start + i / rate`` whatever came
before; its latency runs from that due time to the last byte of its answer, so time spent
waiting for a free connection counts (no coordinated omission). Keep-alive connections
over TLS, like the API server's client.

    .venv/bin/python bench/open_loop.py https://127.0.0.1:8443/validate body.json \
        --rate 1000 --seconds 5 --cafile ca.crt
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import uvloop

# Requests still unanswered this long after the run's end are counted as errors.
DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class OpenLoopResult:
    rate: float  # requests/s asked for
    sent: int
    errors: int  # non-200 answers, broken connections, unanswered at the end
    latencies_s: list[float]  # sorted, answered requests only

    def percentile_ms(self, q: float) -> float:
        if not self.latencies_s:
            return float("nan")
        index = min(len(self.latencies_s) - 1, int(q / 100 * len(self.latencies_s)))
        return self.latencies_s[index] * 1e3


def _request(host: str, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _answer_status(reader: asyncio.StreamReader) -> int:
    """Read one whole answer (Content-Length framed, as every answer of ours is)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _connection(
    host: str,
    port: int,
    ctx: ssl.SSLContext,
    request: bytes,
    due: asyncio.Queue[float | None],
    latencies: list[float],
    failures: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
    try:
        while (due_at := await due.get()) is not None:
            writer.write(request)
            try:
                status = await _answer_status(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                failures.append(1)
                return
            if status == 200:
                latencies.append(time.perf_counter() - due_at)
            else:
                failures.append(1)
    finally:
        writer.close()


async def _generate(
    url: str, body: bytes, ctx: ssl.SSLContext, rate: float, seconds: float, connections: int
) -> OpenLoopResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    request = _request(host, parts.path or "/", body)
    due: asyncio.Queue[float | None] = asyncio.Queue()
    latencies: list[float] = []
    failures: list[int] = []
    workers = [
        asyncio.create_task(_connection(host, port, ctx, request, due, latencies, failures))
        for _ in range(connections)
    ]
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    for i in range(total):
        due_at = start + i / rate
        delay = due_at - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        due.put_nowait(due_at)
    for _ in workers:
        due.put_nowait(None)
    done, pending = await asyncio.wait(workers, timeout=DRAIN_SECONDS)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            failures.append(1)
    errors = total - len(latencies)
    return OpenLoopResult(rate, total, max(errors, len(failures)), sorted(latencies))


def run_open_loop(
    url: str,
    body: bytes,
    ctx: ssl.SSLContext,
    *,
    rate: float = 1000.0,
    seconds: float = 5.0,
    connections: int = 8,
) -> OpenLoopResult:
    """``rate`` requests/s of ``body`` to ``url`` for ``seconds``, on uvloop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_generate(url, body, ctx, rate, seconds, connections))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("url")
    ap.add_argument("body", type=Path, help="file holding the request body")
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--cafile", required=True)
    args = ap.parse_args()
    ctx = ssl.create_default_context(cafile=args.cafile)
    result = run_open_loop(
        args.url,
        args.body.read_bytes(),
        ctx,
        rate=args.rate,
        seconds=args.seconds,
        connections=args.connections,
    )
    print(
        f"{result.sent} requests at {result.rate:.0f}/s: p50 {result.percentile_ms(50):.2f} ms, "
        f"p99 {result.percentile_ms(99):.2f} ms, max {result.percentile_ms(100):.2f} ms, "
        f"errors {result.errors}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
