"""``kubewatch.Watcher`` against a real kube-apiserver: list, watch, transform, 410 relist.

The module runs its own control plane because the relist test restarts the API server.
The watcher reaches it through a ``CountingProxy``, which can refuse connections while
the test changes things behind the watcher's back.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubewatch import (
    Handlers,
    Watcher,
    WatchHooks,
    WatchSettings,
    api_client,
    custom_resource,
    essential_metadata,
    without_managed_fields,
)
from mnp.model import MNP_GROUP, NAD_KIND
from mnp_lab.kube import KubeControlPlane
from mnp_lab.kube_binaries import ensure_binaries
from tests.support.etcd import compact_etcd
from tests.support.kubectl import apply_objects, crds_established
from tests.support.paths import CONFIG_DIR
from tests.support.tcp_proxy import CountingProxy

NAMESPACE = "kubewatch"
NAD_PATH = "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"
_WAIT_S = 60.0  # a ceiling for polling, not an expectation
# Short backoff so the test does not sit out a long one; the loop is the same.
FAST = WatchSettings(backoff_initial_s=0.1, backoff_max_s=1.0, watch_timeout_s=60)


def nad(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": NAD_KIND,
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels or {}},
        "spec": {"config": json.dumps({"cniVersion": "0.4.0", "name": name, "type": "bridge"})},
    }


class Recorder:
    """Handlers and hooks that write down what they were told."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.hooks_seen: Counter[str] = Counter()
        self.events: Counter[str] = Counter()

    def record(self, what: str) -> Callable[..., None]:
        def handler(key: Any, *_: Any) -> None:
            with self.lock:
                self.calls.append((what, str(key)))

        return handler

    def count(self, what: str) -> Callable[..., None]:
        def hook(kind: str, *rest: str) -> None:
            with self.lock:
                self.hooks_seen[what] += 1
                if what == "event":
                    self.events[rest[0]] += 1

        return hook

    def handlers(self) -> Handlers[Any]:
        return Handlers(
            added=self.record("added"),
            updated=self.record("updated"),
            deleted=self.record("deleted"),
            synced=self.record("synced"),
        )

    def hooks(self) -> WatchHooks:
        return WatchHooks(
            list_attempt=self.count("list_attempt"),
            listed=self.count("listed"),
            watch_attempt=self.count("watch_attempt"),
            error=self.count("error"),
            relist=self.count("relist"),
            event=self.count("event"),
        )

    def seen(self, call: tuple[str, str]) -> bool:
        with self.lock:
            return call in self.calls


def wait_until(what: str, ok: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _WAIT_S
    while not ok():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.05)


def proxied_kubeconfig(kube: KubeControlPlane, proxy: CountingProxy, path: Path) -> Path:
    """The admin kubeconfig, pointed at the proxy."""
    config = json.loads(kube.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = proxy.url
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeControlPlane]:
    kube = KubeControlPlane(tmp_path_factory.mktemp("kubewatch"), ensure_binaries(sys.stderr))
    kube.start()
    try:
        kube.kubectl("apply", "-f", str(CONFIG_DIR / "crd"))
        crds_established(kube)
        kube.kubectl("create", "namespace", NAMESPACE)
        yield kube
    finally:
        kube.stop()


@pytest.fixture()
def proxy(plane: KubeControlPlane) -> Iterator[CountingProxy]:
    p = CountingProxy(plane.apiserver_port)
    yield p
    p.close()


def nad_watcher(
    kube: KubeControlPlane, proxy: CountingProxy, recorder: Recorder, transform: Any
) -> Watcher[Any]:
    api = api_client(proxied_kubeconfig(kube, proxy, kube.dir / f"proxy-{proxy.port}.kubeconfig"))
    resource = custom_resource(api, NAD_KIND, MNP_GROUP, "v1", "network-attachment-definitions")
    return Watcher(resource, transform, recorder.handlers(), FAST, recorder.hooks())


def test_list_watch_and_transform(plane: KubeControlPlane, proxy: CountingProxy) -> None:
    apply_objects(plane, nad("listed", {"app": "a"}))
    recorder = Recorder()

    def names_and_labels(obj: dict[str, Any]) -> dict[str, Any]:
        return {"metadata": essential_metadata(obj, keep=("name", "labels"))}

    watcher = nad_watcher(plane, proxy, recorder, names_and_labels)
    watcher.start()
    try:
        assert watcher.synced.wait(_WAIT_S)
        key = f"{NAMESPACE}/listed"
        assert recorder.seen(("added", key))
        assert watcher.store.get(key) == {"metadata": {"name": "listed", "labels": {"app": "a"}}}

        apply_objects(plane, nad("watched"))
        wait_until(
            "ADDED through the watch", lambda: recorder.seen(("added", f"{NAMESPACE}/watched"))
        )
        # An annotation is dropped by the transform: the event arrives, no handler fires.
        plane.kubectl("annotate", "net-attach-def", "listed", "-n", NAMESPACE, "x=1")
        plane.kubectl("label", "net-attach-def", "listed", "-n", NAMESPACE, "app=b", "--overwrite")
        wait_until("the label change", lambda: recorder.seen(("updated", key)))
        with recorder.lock:
            assert [c for c in recorder.calls if c[0] == "updated"] == [("updated", key)]
            assert recorder.events["MODIFIED"] >= 2
        assert watcher.store.get(key) == {"metadata": {"name": "listed", "labels": {"app": "b"}}}

        plane.kubectl("delete", "net-attach-def", "watched", "-n", NAMESPACE)
        wait_until("DELETED", lambda: recorder.seen(("deleted", f"{NAMESPACE}/watched")))
        assert watcher.store.get(f"{NAMESPACE}/watched") is None
        with recorder.lock:
            assert recorder.hooks_seen["listed"] == 1
            assert recorder.hooks_seen["error"] == 0
    finally:
        watcher.stop()
    plane.kubectl("delete", "net-attach-def", "listed", "-n", NAMESPACE)


def test_keeps_no_managed_fields(plane: KubeControlPlane, proxy: CountingProxy) -> None:
    apply_objects(plane, nad("plain"))
    recorder = Recorder()
    watcher = nad_watcher(plane, proxy, recorder, without_managed_fields)
    watcher.start()
    try:
        assert watcher.synced.wait(_WAIT_S)
        kept = watcher.store.get(f"{NAMESPACE}/plain")
        assert kept is not None and kept["kind"] == NAD_KIND
        assert kept["metadata"]["name"] == "plain"
        assert "managedFields" not in kept["metadata"]
    finally:
        watcher.stop()
    plane.kubectl("delete", "net-attach-def", "plain", "-n", NAMESPACE)


def _watch_events_from(kube: KubeControlPlane, resource_version: str) -> list[dict[str, Any]]:
    out = kube.kubectl(
        "get", "--raw", f"{NAD_PATH}?watch=1&resourceVersion={resource_version}&timeoutSeconds=1"
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_relists_after_410_and_reports_what_changed(
    plane: KubeControlPlane, proxy: CountingProxy
) -> None:
    apply_objects(plane, nad("before"))
    recorder = Recorder()
    watcher = nad_watcher(plane, proxy, recorder, without_managed_fields)
    watcher.start()
    try:
        assert watcher.synced.wait(_WAIT_S)
        seen_rv = json.loads(plane.kubectl("get", "--raw", NAD_PATH).stdout)["metadata"][
            "resourceVersion"
        ]
        proxy.refuse()
        # Behind the watcher's back: a write, a restart (a fresh watch cache), changes, and
        # a compaction, so nothing can serve a watch from where the watcher stopped.
        plane.kubectl("annotate", "namespace", NAMESPACE, f"kubewatch/at={seen_rv}")
        plane.restart_apiserver()
        plane.kubectl("delete", "net-attach-def", "before", "-n", NAMESPACE)
        apply_objects(plane, nad("after"))
        compact_etcd(plane)
        events = _watch_events_from(plane, seen_rv)
        assert events and events[0]["type"] == "ERROR", events
        assert events[0]["object"]["code"] == 410, events
        with recorder.lock:
            relists_before = recorder.hooks_seen["relist"]
        proxy.allow()

        wait_until("the relist", lambda: recorder.seen(("deleted", f"{NAMESPACE}/before")))
        wait_until("the relist", lambda: recorder.seen(("added", f"{NAMESPACE}/after")))
        with recorder.lock:
            assert recorder.hooks_seen["relist"] == relists_before + 1
            assert recorder.hooks_seen["listed"] == 2
        assert [k for k, _ in watcher.store.items()] == [f"{NAMESPACE}/after"]
    finally:
        watcher.stop()
    plane.kubectl("delete", "net-attach-def", "after", "-n", NAMESPACE)
