"""SIGTERM to the real ``mnp webhook`` over real TLS: /readyz fails first (HTTPS and
--health-port), requests on kept-alive connections are answered with ``Connection: close``
instead of being dropped, in-flight requests finish, clients holding partial requests are
cut off, and the process exits 0."""

from __future__ import annotations

import http.client
import json
import signal
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mnp_lab.processes import free_port
from tests.support.webhook_process import (
    WebhookProcess,
    admission_review,
    allow_all_policy,
    closed_by_peer,
    open_tls,
    post_head,
    snapshot_webhook,
)

pytestmark = pytest.mark.timeout(180)

CLIENTS = 4
# Only so that a broken server fails the test instead of hanging it.
GIVE_UP_S = 60.0


@dataclass
class Started:
    proc: WebhookProcess
    ctx: ssl.SSLContext
    health_port: int


@pytest.fixture
def start(tmp_path: Path) -> Iterator[list[Started]]:
    started: list[Started] = []
    yield started
    for hook in started:
        hook.proc.stop()
        assert "Traceback" not in hook.proc.log(), hook.proc.log()


def start_webhook(tmp: Path, started: list[Started], *extra: str) -> Started:
    health_port = free_port()
    proc, ctx = snapshot_webhook(tmp, "--health-port", str(health_port), *extra)
    hook = Started(proc, ctx, health_port)
    started.append(hook)
    proc.wait_ready(hook.ctx)
    return hook


@dataclass
class Client:
    """Reviews back to back, as the API server sends them: one connection, kept alive until an
    answer says ``Connection: close``, then a new one. A connection that cannot be made means
    the endpoint is gone (the API server would use another); a request sent on an open
    connection that gets no answer is a failure."""

    hook: Started
    name: str
    signalled: threading.Event
    answered: int = 0
    answered_after_signal: int = 0
    told_to_close: int = 0
    failures: list[str] = field(default_factory=list)

    def run(self) -> None:
        n = 0
        while True:
            conn = http.client.HTTPSConnection(
                "localhost", self.hook.proc.port, context=self.hook.ctx, timeout=30
            )
            try:
                conn.connect()
            except OSError:
                conn.close()
                return
            while True:
                n += 1
                uid = f"{self.name}-{n}"
                after_signal = self.signalled.is_set()
                body = json.dumps(admission_review(allow_all_policy(f"p{n}"), uid=uid)).encode()
                try:
                    conn.request("POST", "/validate", body, {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    answer = json.loads(r.read())
                except (OSError, http.client.HTTPException, ValueError) as e:
                    self.failures.append(f"{uid}: {e!r}")
                    conn.close()
                    return
                if r.status != 200 or answer["response"] != {"uid": uid, "allowed": True}:
                    self.failures.append(f"{uid}: {r.status} {answer}")
                self.answered += 1
                self.answered_after_signal += after_signal
                if (r.getheader("connection") or "").lower() == "close":
                    self.told_to_close += after_signal
                    conn.close()
                    break


def poll_readyz(hook: Started, seen: list[tuple[str, int]], until: threading.Event) -> None:
    """Append (listener, status) of /readyz on both listeners until ``until`` or the exit."""
    urls = {
        "https": f"{hook.proc.url}/readyz",
        "probes": f"http://127.0.0.1:{hook.health_port}/readyz",
    }
    while not until.is_set() and hook.proc.proc.poll() is None:
        for listener, url in urls.items():
            try:
                r = httpx.get(url, verify=hook.ctx, timeout=5)
                seen.append((listener, r.status_code))
            except httpx.HTTPError:
                pass
        time.sleep(0.05)


def wait_exit(hook: Started) -> int | None:
    end = time.monotonic() + GIVE_UP_S
    while hook.proc.proc.poll() is None and time.monotonic() < end:
        time.sleep(0.1)
    return hook.proc.proc.poll()


def test_sigterm_under_load_fails_no_request_and_exits_0(
    tmp_path: Path, start: list[Started]
) -> None:
    hook = start_webhook(tmp_path, start, "--shutdown-drain", "2", "--shutdown-grace", "10")
    signalled = threading.Event()
    clients = [Client(hook, f"c{i}", signalled) for i in range(CLIENTS)]
    threads = [threading.Thread(target=c.run, daemon=True) for c in clients]
    for t in threads:
        t.start()
    # One request in flight at the signal: its head and half its body are sent before it.
    body = json.dumps(admission_review(allow_all_policy("inflight"), uid="inflight")).encode()
    inflight = open_tls(hook.proc.port, hook.ctx)
    inflight.sendall(post_head("/validate", len(body)) + body[: len(body) // 2])

    codes: list[tuple[str, int]] = []
    stop_polling = threading.Event()
    poller = threading.Thread(target=poll_readyz, args=(hook, codes, stop_polling), daemon=True)
    while not all(c.answered >= 5 for c in clients):  # the load is on
        assert hook.proc.proc.poll() is None and all(t.is_alive() for t in threads), clients
        time.sleep(0.05)
    hook.proc.proc.send_signal(signal.SIGTERM)
    signalled.set()
    poller.start()
    while not any(code == 503 for _, code in list(codes)) and hook.proc.proc.poll() is None:
        time.sleep(0.05)
    inflight.sendall(body[len(body) // 2 :])
    reply = b""
    while chunk := inflight.recv(65536):
        reply += chunk

    status = wait_exit(hook)
    stop_polling.set()
    for t in [*threads, poller]:
        t.join(GIVE_UP_S)

    assert status == 0, hook.proc.log()
    assert [c.failures for c in clients] == [[]] * CLIENTS
    assert all(c.answered_after_signal > 0 for c in clients), clients
    assert all(c.told_to_close > 0 for c in clients), clients
    assert ("https", 503) in codes and ("probes", 503) in codes, codes
    head, _, answer = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), reply
    assert b"connection: close" in head.lower()
    assert json.loads(answer)["response"] == {"uid": "inflight", "allowed": True}
    log = hook.proc.log()
    for phase in ("/readyz answers 503", "listeners closed", "shutdown: done"):
        assert phase in log, log


def test_partial_request_at_sigterm_is_cut_off_by_the_grace(
    tmp_path: Path, start: list[Started]
) -> None:
    # Deadlines far beyond the grace: only the grace can end these clients.
    hook = start_webhook(
        tmp_path,
        start,
        "--shutdown-drain",
        "1",
        "--shutdown-grace",
        "3",
        "--header-timeout",
        "120",
        "--body-timeout",
        "120",
    )
    partial_body = open_tls(hook.proc.port, hook.ctx)
    partial_body.sendall(post_head("/validate", 10_000) + b'{"apiVersion":')
    partial_head = open_tls(hook.proc.port, hook.ctx)
    partial_head.sendall(b"POST /validate HTTP/1.1\r\nHost: loc")
    hook.proc.proc.send_signal(signal.SIGTERM)

    assert wait_exit(hook) == 0, hook.proc.log()
    assert closed_by_peer(partial_body) and closed_by_peer(partial_head)
    assert "shutdown: grace over, cut off 2 connections" in hook.proc.log(), hook.proc.log()
