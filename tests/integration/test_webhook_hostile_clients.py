"""The real ``mnp webhook`` over real TLS against clients that hold resources: stalled uploads,
slowloris heads, idle connections and more connections than the cap, while a normal review
loop runs. Every normal review is answered, every hostile connection is closed by the
server, and memory stays bounded."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.webhook_process import (
    WebhookProcess,
    admission_review,
    allow_all_policy,
    closed_by_peer,
    metric,
    open_tls,
    post_head,
    rss_kib,
    snapshot_webhook,
)
from webhook.limits import MIB, ServerLimits

pytestmark = pytest.mark.timeout(300)

BODY_LIMIT = ServerLimits().max_body_bytes
BODY_BUDGET_MIB = ServerLimits().body_budget_bytes // MIB  # the default, not a flag
STALLED_UPLOADS = 30
SLOWLORIS = 300
IDLE = 300  # with the uploads, past the cap of 512
# Generous bounds, far from what one unbounded stalled upload per connection costs
# (30 x 7 MiB is 210 MiB; measured: +230 MiB at the peak, +78 MiB after, without the
# budget and the heap trim): the budget, plus room for 512 TLS connections and copies.
PEAK_GROWTH_KIB = (BODY_BUDGET_MIB + 80) * 1024
AFTER_GROWTH_KIB = 40 * 1024
# Only so that a broken server fails the test instead of hanging it.
GIVE_UP_S = 90.0


@dataclass
class Webhook:
    proc: WebhookProcess
    ctx: ssl.SSLContext

    def metrics(self) -> str:
        return httpx.get(f"{self.proc.url}/metrics", verify=self.ctx, timeout=30).text


def start_webhook(tmp: Path, *extra: str) -> Webhook:
    proc, ctx = snapshot_webhook(tmp, *extra)
    proc.wait_ready(ctx)
    return Webhook(proc, ctx)


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[Webhook]:
    # The shipped limits; only the body deadline is shortened, so that the last uploads
    # (the budget cuts the others) end soon.
    hook = start_webhook(tmp_path, "--body-timeout", "3")
    try:
        yield hook
    finally:
        hook.proc.stop()
    assert "Traceback" not in hook.proc.log(), hook.proc.log()


@dataclass
class ReviewLoop:
    """The API server's part: reviews one after another on a kept-alive connection."""

    webhook: Webhook
    answered: int = 0
    wrong: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.webhook.proc.url, verify=self.webhook.ctx, timeout=30) as c:
            n = 0
            while not self.stop.is_set():
                n += 1
                uid = f"normal-{n}"
                try:
                    r = c.post(
                        "/validate", json=admission_review(allow_all_policy(f"p{n}"), uid=uid)
                    )
                    response = r.json()["response"]
                    if r.status_code != 200 or response != {"uid": uid, "allowed": True}:
                        self.wrong.append(f"{r.status_code} {r.text[:200]}")
                    else:
                        self.answered += 1
                except (httpx.HTTPError, ValueError, KeyError) as e:
                    self.wrong.append(repr(e))


def in_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def stalled_upload(webhook: Webhook, outcome: list[str]) -> None:
    """All but the last byte of a maximal body, then nothing."""
    try:
        sock = open_tls(webhook.proc.port, webhook.ctx)
    except OSError:
        outcome.append("refused")
        return
    try:
        sock.sendall(post_head("/validate", BODY_LIMIT))
        sock.sendall(b" " * (BODY_LIMIT - 1))
    except OSError:
        outcome.append("closed")  # cut off while sending: the body budget at work
        return
    end = time.monotonic() + GIVE_UP_S
    while time.monotonic() < end:
        if closed_by_peer(sock):
            outcome.append("closed")
            return
        time.sleep(0.2)
    outcome.append("still open")


def slowloris(webhook: Webhook, count: int) -> list[ssl.SSLSocket]:
    socks = [open_tls(webhook.proc.port, webhook.ctx) for _ in range(count)]
    for sock in socks:
        sock.sendall(b"P")
    return socks


def drip_until_closed(socks: list[ssl.SSLSocket], head: bytes) -> int:
    """One more head byte per connection per round, until the server closed them all."""
    open_socks = {id(s): s for s in socks}
    offset = 1
    end = time.monotonic() + GIVE_UP_S
    while open_socks and time.monotonic() < end:
        for key, sock in list(open_socks.items()):
            try:
                if closed_by_peer(sock):
                    del open_socks[key]
                    continue
                sock.sendall(head[offset % len(head) : offset % len(head) + 1])
            except OSError:
                del open_socks[key]
        offset += 1
        time.sleep(0.2)
    return len(socks) - len(open_socks)


def wait_closed(socks: list[ssl.SSLSocket]) -> int:
    pending = list(socks)
    end = time.monotonic() + GIVE_UP_S
    while pending and time.monotonic() < end:
        pending = [s for s in pending if not closed_by_peer(s)]
        time.sleep(0.2)
    return len(socks) - len(pending)


def test_hostile_clients_are_cut_off_while_reviews_flow(webhook: Webhook) -> None:
    pid = webhook.proc.proc.pid
    baseline = rss_kib(pid)
    loop = ReviewLoop(webhook)
    loop_thread = in_thread(loop.run)

    peak = [baseline]
    sampling = threading.Event()

    def sample_rss() -> None:
        while not sampling.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.05)

    sampler = in_thread(sample_rss)
    upload_outcomes: list[str] = []
    uploads = [
        in_thread(lambda: stalled_upload(webhook, upload_outcomes)) for _ in range(STALLED_UPLOADS)
    ]
    idle = [open_tls(webhook.proc.port, webhook.ctx) for _ in range(IDLE)]
    loris = slowloris(webhook, SLOWLORIS)
    head = post_head("/validate", 100)

    loris_closed = drip_until_closed(loris, head)
    idle_closed = wait_closed(idle)
    for thread in uploads:
        thread.join(GIVE_UP_S)
    answered_during_attack = loop.answered
    loop.stop.set()
    loop_thread.join(60)
    sampling.set()
    sampler.join(10)

    assert loop.wrong == []
    assert answered_during_attack > 0
    assert loris_closed == SLOWLORIS
    assert idle_closed == IDLE
    assert sorted(upload_outcomes) == ["closed"] * STALLED_UPLOADS
    text = webhook.metrics()
    cut = "mnp_webhook_connections_cut_total"
    # Past 75% of the cap, new connections first close the oldest that never sent a byte;
    # at the cap, the oldest stalled one; the rest miss their head deadline.
    reasons = ("header_timeout", "idle_reaped", "connection_cap")
    assert sum(metric(text, cut, listener="https", reason=r) for r in reasons) >= SLOWLORIS + IDLE
    assert (
        metric(text, cut, listener="https", reason="body_budget")
        + metric(text, cut, listener="https", reason="body_timeout")
        == STALLED_UPLOADS
    )
    assert metric(text, "mnp_webhook_connections_open", listener="https") <= 2
    # Memory: bounded while the attack ran, and back near the baseline once it is over.
    assert peak[0] - baseline < PEAK_GROWTH_KIB, (baseline, peak[0])
    after = wait_for_rss_below(pid, baseline + AFTER_GROWTH_KIB)
    assert after - baseline < AFTER_GROWTH_KIB, (baseline, after)


def wait_for_rss_below(pid: int, bound_kib: int) -> int:
    """RSS once it drops under ``bound_kib`` (the heap is trimmed shortly after large
    bodies are freed), or the last reading when it does not."""
    end = time.monotonic() + 30
    rss = rss_kib(pid)
    while rss >= bound_kib and time.monotonic() < end:
        time.sleep(0.2)
        rss = rss_kib(pid)
    return rss


def test_over_the_connection_cap_the_stalled_make_room(tmp_path: Path) -> None:
    """Past the cap, each new connection closes the oldest connection that sent nothing
    (never one in the middle of an answer, nor one that just connected), so the API server
    still gets through."""
    hook = start_webhook(tmp_path, "--max-connections", "50", "--header-timeout", "60")
    try:
        held = [open_tls(hook.proc.port, hook.ctx) for _ in range(80)]
        # Only connections settled in their phase make room; a fresh one might be about to
        # send (these never will).
        time.sleep(ServerLimits().reap_min_age_s * 2)
        with httpx.Client(base_url=hook.proc.url, verify=hook.ctx, timeout=30) as c:
            answers = [
                c.post("/validate", json=admission_review(allow_all_policy(f"p{n}"), uid=f"u{n}"))
                for n in range(20)
            ]
        assert [r.json()["response"]["uid"] for r in answers] == [f"u{n}" for n in range(20)]
        closed = sum(closed_by_peer(s) for s in held)
        text = hook.metrics()
        cut = "mnp_webhook_connections_cut_total"
        assert metric(text, "mnp_webhook_connections_open", listener="https") <= 50
        # Opened at once, the 30 held past the cap were refused (none was settled enough to
        # make room); settled, one made room for the review client (and one for /metrics).
        assert metric(text, cut, listener="https", reason="connection_cap") == 80 - 50
        assert metric(text, cut, listener="https", reason="idle_reaped") >= 1
        assert closed >= 80 - 50 + 1
        for s in held:
            s.close()
    finally:
        hook.proc.stop()
    assert "Traceback" not in hook.proc.log(), hook.proc.log()


def test_a_body_over_the_limit_is_refused_before_it_is_read(webhook: Webhook) -> None:
    sock = open_tls(webhook.proc.port, webhook.ctx)
    sock.sendall(post_head("/validate", BODY_LIMIT + 1))
    reply = b""
    while chunk := sock.recv(65536):  # the server closes after its answer
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 413 "), reply
    assert b"connection: close" in reply.lower()
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1]) == {
        "error": f"request body of {BODY_LIMIT + 1} bytes exceeds the limit of {BODY_LIMIT} bytes"
    }


def test_an_endless_head_is_cut_off(webhook: Webhook) -> None:
    """httptools buffers a header until it ends: one that never does must not grow memory."""
    sock = open_tls(webhook.proc.port, webhook.ctx)
    sent = 0
    try:
        sock.sendall(b"POST /validate HTTP/1.1\r\nX-Endless: ")
        while sent < 64 * MIB:
            sock.sendall(b"a" * 65536)
            sent += 65536
    except OSError:
        pass
    assert sent < 64 * MIB
    assert wait_closed([sock]) == 1
    text = webhook.metrics()
    assert metric(text, "mnp_webhook_connections_cut_total", reason="head_too_large") == 1
