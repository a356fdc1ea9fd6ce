"""kubewatch's pure parts: backoff, settings, the store's diff, the line reader, transforms,
and how failures are named. The loop itself is tested against a real API server
(tests/e2e/test_kubewatch.py, tests/e2e/test_api_server_outage.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import urllib3
import urllib3.connection
from kubernetes.client.exceptions import ApiException

from enforcer.sources.kube import namespace_essentials, pod_essentials
from kubewatch import Store, WatchSettings, essential_metadata, object_key, without_managed_fields
from kubewatch.settings import Backoff
from kubewatch.watcher import WatchFailure, describe_failure, failure_reason, json_lines


def test_backoff_grows_caps_and_resets() -> None:
    settings = WatchSettings(backoff_initial_s=0.5, backoff_max_s=4.0, backoff_factor=2.0)
    backoff = Backoff(settings, rng=lambda: 0.5)  # the middle of the jitter: no jitter
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_jitter_spans_the_configured_band() -> None:
    settings = WatchSettings(backoff_initial_s=1.0, backoff_jitter=0.25)
    assert Backoff(settings, rng=lambda: 0.0).next_delay() == 0.75
    assert Backoff(settings, rng=lambda: 1.0).next_delay() == 1.25


@pytest.mark.parametrize(
    "bad",
    [
        {"backoff_initial_s": 0},
        {"backoff_initial_s": 5, "backoff_max_s": 1},
        {"backoff_factor": 0.5},
        {"backoff_jitter": 1.0},
        {"watch_timeout_s": 0},
        {"list_page_size": 0},
    ],
)
def test_settings_refuse_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        WatchSettings(**bad)  # type: ignore[arg-type]


def test_watch_read_timeout_outlasts_the_server_side_timeout() -> None:
    settings = WatchSettings(watch_timeout_s=300, request_timeout_s=10)
    assert settings.watch_read_timeout_s == 310


def test_store_replace_reports_the_difference() -> None:
    store: Store[int] = Store()
    assert store.replace({"a": 1, "b": 2}) == ([("a", 1), ("b", 2)], [], [])
    added, updated, deleted = store.replace({"b": 3, "c": 4, "a": 1})
    assert (added, updated, deleted) == ([("c", 4)], [("b", 2, 3)], [])
    assert store.replace({"c": 4}) == ([], [], [("b", 3), ("a", 1)])
    assert (store.get("c"), store.get("a"), len(store)) == (4, None, 1)


def test_object_key_is_namespace_slash_name() -> None:
    assert object_key({"metadata": {"namespace": "ns", "name": "a"}}) == "ns/a"
    assert object_key({"metadata": {"name": "cluster-wide"}}) == "cluster-wide"
    assert object_key({"metadata": {"namespace": "ns"}}) is None
    assert object_key({}) is None


class ChunkedResponse:
    """What ``json_lines`` reads: ``stream()`` yielding the body in arbitrary pieces."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def stream(self, amt: int, decode_content: bool) -> Iterator[bytes]:
        yield from self.chunks


def test_json_lines_joins_split_lines_and_skips_blank_ones() -> None:
    big = json.dumps({"type": "ADDED", "object": {"data": "x" * 200_000}}).encode()
    body = b'{"a": 1}\n\n' + big + b"\n" + b'{"b": 2}'
    pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    lines = list(json_lines(ChunkedResponse(pieces)))
    assert [json.loads(line) for line in lines] == [{"a": 1}, json.loads(big), {"b": 2}]


def test_transforms_never_keep_managed_fields() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "u",
            "resourceVersion": "7",
            "labels": {"app": "web"},
            "annotations": {"k8s.v1.cni.cncf.io/networks": "ns/net"},
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {
            "nodeName": "n1",
            "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}],
        },
        "status": {"phase": "Running"},
    }
    assert pod_essentials(pod) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "u",
            "labels": {"app": "web"},
            "annotations": {"k8s.v1.cni.cncf.io/networks": "ns/net"},
        },
        "spec": {"nodeName": "n1", "containers": [{"ports": [{"containerPort": 80}]}]},
    }
    namespace = {"metadata": {"name": "ns", "labels": {"a": "b"}, "managedFields": []}}
    assert namespace_essentials(namespace)["metadata"] == {"name": "ns", "labels": {"a": "b"}}
    kept = without_managed_fields(pod)
    assert "managedFields" not in kept["metadata"] and kept["status"] == {"phase": "Running"}
    assert "managedFields" in pod["metadata"]  # the input is not changed
    assert essential_metadata({"metadata": "garbage"}) == {}


def test_failures_are_named_in_one_short_line() -> None:
    gone = ApiException(status=503, reason="Service Unavailable")
    gone.body = json.dumps({"message": "the server is shutting down"})
    assert failure_reason(gone) == "http_503"
    assert describe_failure(gone) == "HTTP 503 Service Unavailable: the server is shutting down"

    refused = urllib3.exceptions.NewConnectionError(
        urllib3.connection.HTTPSConnection("127.0.0.1", 1),
        "HTTPSConnection(host='127.0.0.1', port=1): Failed to establish a new "
        "connection: [Errno 111] Connection refused",
    )
    wrapped = urllib3.exceptions.MaxRetryError(None, "/api/v1/pods", refused)  # type: ignore[arg-type]
    assert failure_reason(wrapped) == "connection"
    assert describe_failure(wrapped) == "[Errno 111] Connection refused"

    timeout = urllib3.exceptions.ReadTimeoutError(None, "/api/v1/pods", "Read timed out.")  # type: ignore[arg-type]
    assert failure_reason(timeout) == "timeout"
    assert failure_reason(WatchFailure("closed", "the watch ended at once")) == "closed"
    assert failure_reason(ValueError("not JSON")) == "decode"
    assert failure_reason(RuntimeError("a bug")) == "handler"
