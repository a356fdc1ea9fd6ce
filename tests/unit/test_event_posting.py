"""Policy Events are posted off the reconcile loop: newest per policy, failures retried
then dropped, and ``--once`` can wait for them."""

from __future__ import annotations

import threading

from enforcer.events import BackgroundSink

Posted = tuple[str, str, str, str, str]


def test_the_loop_never_waits_and_only_the_newest_per_policy_is_posted() -> None:
    release = threading.Event()
    posted: list[Posted] = []

    def slow_sink(namespace: str, name: str, reason: str, message: str, type_: str) -> None:
        release.wait(10)  # the API server, slow
        posted.append((namespace, name, reason, message, type_))

    sink = BackgroundSink(slow_sink, per_second=1000.0).start()
    try:
        sink("ns", "first", "Applied", "m0", "Normal")  # taken by the thread, held up
        for n in range(1, 100):  # the loop goes on: each call returns at once
            sink("ns", "p", "Applied", f"m{n}", "Normal")
        assert not sink.idle()
        release.set()
        assert sink.flush(10)
    finally:
        sink.stop()
    assert posted[0][1] == "first"
    assert [p[3] for p in posted if p[1] == "p"] == ["m99"]


def test_a_failing_post_is_retried_then_dropped() -> None:
    calls: list[str] = []

    def failing_sink(namespace: str, name: str, reason: str, message: str, type_: str) -> None:
        calls.append(name)
        if name == "bad":
            raise RuntimeError("the API server says no")

    sink = BackgroundSink(failing_sink, per_second=1000.0, attempts=3).start()
    try:
        sink("ns", "bad", "Skipped", "m", "Warning")
        sink("ns", "good", "Applied", "m", "Normal")
        assert sink.flush(10)
    finally:
        sink.stop()
    assert calls == ["bad", "bad", "bad", "good"]
    assert (sink.posted, sink.dropped) == (1, 1)
