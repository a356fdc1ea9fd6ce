"""Every limit and deadline the webhook puts on a client, in one place.

The only legitimate client is the API server: it sends one request at a time per
connection, a body of at most ~3 MiB of object (twice that for an UPDATE, which carries the
old object too), and gives up after its webhook timeout (10 s by default, 30 s at most).
Anything slower or bigger than that is not the API server, so the defaults below can be
strict without ever refusing it.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024

# The API server refuses request bodies over 3 MiB (apiserver's MaxRequestBodyBytes), so one
# object is at most 3 MiB of JSON; an UPDATE's AdmissionReview carries object AND oldObject,
# plus an envelope (userInfo with its groups and extra, options, names) well under 1 MiB.
# 3 + 3 + 1 MiB: nothing the API server can send is refused, nothing much bigger is read.
MAX_BODY_BYTES = 7 * MIB


@dataclass(frozen=True)
class ServerLimits:
    # The API server writes its request head in one go: 10 s (its own default timeout) is
    # generous, and it is also the TLS handshake deadline.
    header_timeout_s: float = 10.0
    # From the end of the head to the last body byte. 30 s is the longest webhook timeout the
    # API server can be configured with; after that nobody is waiting for the answer.
    body_timeout_s: float = 30.0
    # Longer than the API server's pooled idle connections (Go's transport keeps them 90 s,
    # 75 s is the common floor), so the server never closes one under it.
    keep_alive_s: float = 90.0
    # Open connections, TLS done. A few API server replicas need tens; each idle TLS
    # connection costs tens of KiB, so 512 of them stay far below the pod's memory limit.
    max_connections: int = 512
    # Past this share of max_connections every new connection first closes one that never
    # sent a request, else the one idle longest (the API server's transport sees the close
    # and dials anew).
    reap_idle_fraction: float = 0.75
    # Reaping and the cap only take connections this long in their phase: a client between
    # two back-to-back requests, or just connected, is about to send; a stalled one is not.
    reap_min_age_s: float = 1.0
    # Reviews being decided at once (body received). Decisions run on the event loop, so
    # more never makes anything faster; past it the answer is an immediate 503.
    max_inflight_reviews: int = 64
    # A review whose body is at least this big is decided on one worker thread instead of
    # the event loop: it can cost seconds of CPU (a legal 3 MiB policy), and the loop must
    # keep answering the small reviews beside it. Small ones stay on the loop (no thread
    # hop), and big ones queue behind each other rather than contend.
    offload_review_bytes: int = 256 * 1024
    # A request head: the API server's is well under 4 KiB (no cookies, no bearer token:
    # it authenticates with a client certificate or a small token).
    max_head_bytes: int = 64 * 1024
    max_body_bytes: int = MAX_BODY_BYTES
    # Bytes of request bodies received but not yet answered, over all connections. Past it
    # the oldest unfinished upload is cut off: a real review arrives in milliseconds, so
    # the oldest unfinished ones are the stalled ones. Room for four maximal reviews.
    body_budget_bytes: int = 32 * MIB
    # After a request body this big is freed, give the freed heap back to the system
    # (glibc keeps it otherwise, and RSS would stay at its high-water mark).
    trim_after_bytes: int = 1 * MIB
    # On SIGTERM: keep serving (with /readyz 503 and ``Connection: close`` on every answer)
    # for drain, so endpoints drop the pod before its listener closes; then finish what is
    # in flight. The whole shutdown ends by grace, well under the pod's 30 s
    # terminationGracePeriodSeconds.
    shutdown_drain_s: float = 5.0
    shutdown_grace_s: float = 15.0

    def __post_init__(self) -> None:
        if self.body_budget_bytes < self.max_body_bytes:
            raise ValueError("body_budget_bytes must hold at least one maximal body")
        if not 0 < self.reap_idle_fraction <= 1:
            raise ValueError("reap_idle_fraction must be in (0, 1]")
        if self.shutdown_drain_s > self.shutdown_grace_s:
            raise ValueError("shutdown_drain_s must not exceed shutdown_grace_s")
        for name in ("header_timeout_s", "body_timeout_s", "keep_alive_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_connections < 1 or self.max_inflight_reviews < 1:
            raise ValueError("max_connections and max_inflight_reviews must be at least 1")

    @property
    def reap_idle_above(self) -> int:
        return max(1, int(self.max_connections * self.reap_idle_fraction))
