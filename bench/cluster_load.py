"""Getting a benchmark cluster's objects into a real kube-apiserver fast, its switch ports into
a real NB, and watching the API server as a plain client does (the API-side floor).

Creates go over several kept-alive HTTPS connections, one per thread (the admin client
certificate of ``KubeControlPlane``), because one kubectl per object would measure kubectl.
Switch ports go in a few big raw ``transact``s, as OVN-Kubernetes' own rows would be there
before the enforcer looks.
"""

from __future__ import annotations

import http.client
import json
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.cluster_workload import NETWORKS, NODES, BenchNetwork, BenchPod
from enforcer.ovsdb import NB_DB, OvsdbConnection, ovsdb_map, ovsdb_set
from mnp.model import OVN_CNI_TYPE, Network
from mnp.ovn_names import (
    NAD_EXTERNAL_ID,
    NETWORK_EXTERNAL_ID,
    TOPOLOGY_EXTERNAL_ID,
    localnet_port_name,
    switch_name,
)
from mnp_lab.kube import KubeControlPlane

_RETRIES = 5
LSP_BATCH = 5000


class ApiSession:
    """One kept-alive HTTPS connection to the API server, as the admin user."""

    def __init__(self, plane: KubeControlPlane, timeout: float = 60.0) -> None:
        self._ctx = ssl.create_default_context(cafile=str(plane.ca_file))
        pki = plane.dir / "pki"
        self._ctx.load_cert_chain(pki / "admin.crt", pki / "admin.key")
        self._port = plane.apiserver_port
        self._timeout = timeout
        self._conn = self._open()

    def _open(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            "127.0.0.1", self._port, context=self._ctx, timeout=self._timeout
        )

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type or "application/json", "Accept": "application/json"}
        for attempt in range(_RETRIES):
            try:
                self._conn.request(method, path, body, headers)
                answer = self._conn.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = self._open()
                if attempt == _RETRIES - 1:
                    raise
                continue
            if answer.status in (429, 500, 503, 504) and attempt < _RETRIES - 1:
                time.sleep(0.2 * (attempt + 1))
                continue
            return answer.status, data
        raise AssertionError("unreachable")

    def create(self, obj: dict[str, Any]) -> None:
        status, data = self.request("POST", collection_path(obj), json.dumps(obj).encode())
        if status != 201:
            raise RuntimeError(f"create {object_path(obj)}: HTTP {status}: {data[:300]!r}")

    def merge_patch(self, path: str, patch: dict[str, Any]) -> None:
        status, data = self.request(
            "PATCH", path, json.dumps(patch).encode(), "application/merge-patch+json"
        )
        if status != 200:
            raise RuntimeError(f"patch {path}: HTTP {status}: {data[:300]!r}")

    def get(self, path: str) -> Any:
        status, data = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"get {path}: HTTP {status}: {data[:300]!r}")
        return json.loads(data)

    def close(self) -> None:
        self._conn.close()


_PLURALS = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Pod": ("/api/v1", "pods", True),
    "NetworkAttachmentDefinition": (
        "/apis/k8s.cni.cncf.io/v1",
        "network-attachment-definitions",
        True,
    ),
    "MultiNetworkPolicy": ("/apis/k8s.cni.cncf.io/v1beta1", "multi-networkpolicies", True),
}


def collection_path(obj: dict[str, Any]) -> str:
    base, plural, namespaced = _PLURALS[obj["kind"]]
    if namespaced:
        return f"{base}/namespaces/{obj['metadata']['namespace']}/{plural}"
    return f"{base}/{plural}"


def object_path(obj: dict[str, Any]) -> str:
    return f"{collection_path(obj)}/{obj['metadata']['name']}"


def create_all(
    plane: KubeControlPlane, objects: Iterable[dict[str, Any]], threads: int = 8
) -> tuple[int, float]:
    """Create ``objects`` over ``threads`` kept-alive connections; (count, seconds). The
    first failure stops the load and is raised."""
    work: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=threads * 64)
    errors: list[BaseException] = []
    counted = [0] * threads

    def worker(slot: int) -> None:
        session = ApiSession(plane)
        try:
            while (obj := work.get()) is not None:
                if errors:
                    continue
                try:
                    session.create(obj)
                    counted[slot] += 1
                except BaseException as e:
                    errors.append(e)
        finally:
            session.close()

    start = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    for obj in objects:
        if errors:
            break
        work.put(obj)
    for _ in pool:
        work.put(None)
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return sum(counted), time.monotonic() - start


# -- the switches and switch ports OVN-Kubernetes would have made -----------------------------


def _model(net: BenchNetwork) -> Network:
    return Network(net.key, net.name, net.topology, OVN_CNI_TYPE, (net.subnets,))


def _switch_of(pod: BenchPod) -> str:
    net = _model(pod.network)
    return switch_name(net, pod.node if pod.network.topology == "layer3" else None)


def create_switches(conn: OvsdbConnection) -> None:
    """Each network's switches (layer3: one per node), and the localnet port."""
    ops: list[dict[str, Any]] = []
    for bench_net in NETWORKS:
        net = _model(bench_net)
        ids = ovsdb_map({NETWORK_EXTERNAL_ID: net.name, TOPOLOGY_EXTERNAL_ID: net.topology})
        nodes = [f"node-{m}" for m in range(NODES)] if net.topology == "layer3" else [None]
        for node in nodes:
            row: dict[str, Any] = {"name": switch_name(net, node), "external_ids": ids}
            if net.topology == "localnet":
                ops.append(
                    {
                        "op": "insert",
                        "table": "Logical_Switch_Port",
                        "uuid-name": "lnport",
                        "row": {
                            "name": localnet_port_name(net),
                            "type": "localnet",
                            "addresses": "unknown",
                            "options": ovsdb_map({"network_name": net.name}),
                        },
                    }
                )
                row["ports"] = ovsdb_set([["named-uuid", "lnport"]])
            ops.append({"op": "insert", "table": "Logical_Switch", "row": row})
    conn.transact(NB_DB, ops)


def create_ports(conn: OvsdbConnection, pods: Sequence[BenchPod]) -> dict[str, str]:
    """The pods' switch ports, LSP_BATCH per transact; LSP name -> uuid."""
    uuids: dict[str, str] = {}
    for start in range(0, len(pods), LSP_BATCH):
        batch = pods[start : start + LSP_BATCH]
        ops: list[dict[str, Any]] = []
        by_switch: dict[str, list[str]] = {}
        for i, pod in enumerate(batch):
            ids = {
                "namespace": pod.namespace,
                "pod": "true",
                NETWORK_EXTERNAL_ID: pod.network.name,
                NAD_EXTERNAL_ID: str(pod.network.key),
                TOPOLOGY_EXTERNAL_ID: pod.network.topology,
            }
            ops.append(
                {
                    "op": "insert",
                    "table": "Logical_Switch_Port",
                    "uuid-name": f"p{i}",
                    "row": {
                        "name": pod.lsp,
                        "addresses": f"{pod.mac} {pod.ip}",
                        "external_ids": ovsdb_map(ids),
                    },
                }
            )
            by_switch.setdefault(_switch_of(pod), []).append(f"p{i}")
        for switch, names in by_switch.items():
            ops.append(
                {
                    "op": "mutate",
                    "table": "Logical_Switch",
                    "where": [["name", "==", switch]],
                    "mutations": [
                        ["ports", "insert", ovsdb_set([["named-uuid", n] for n in names])]
                    ],
                }
            )
        results = conn.transact(NB_DB, ops)
        for pod, result in zip(batch, results, strict=False):
            uuids[pod.lsp] = result["uuid"][1]
    return uuids


# -- a plain watcher: what any client of the API server sees, and when ------------------------


@dataclass(frozen=True)
class WatchEvent:
    at: float  # time.monotonic() when the event line arrived
    type: str
    namespace: str
    name: str
    labels: dict[str, str]
    reason: str  # Events only


class ApiWatch:
    """Watches of ``paths`` (from "now"), each in its own thread; every event is kept with
    its arrival time, and ``wait`` finds the first one after a mark that matches."""

    def __init__(self, plane: KubeControlPlane, paths: Sequence[str]) -> None:
        self.plane = plane
        self.paths = list(paths)
        self.events: list[WatchEvent] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sessions: list[http.client.HTTPSConnection] = []

    def start(self) -> ApiWatch:
        session = ApiSession(self.plane)
        try:
            for path in self.paths:
                rv = session.get(f"{path}?limit=1")["metadata"]["resourceVersion"]
                t = threading.Thread(target=self._run, args=(path, rv), daemon=True)
                t.start()
                self._threads.append(t)
        finally:
            session.close()
        return self

    def _run(self, path: str, rv: str) -> None:
        while not self._stop.is_set():
            session = ApiSession(self.plane, timeout=3600)
            conn = session._conn
            self._sessions.append(conn)
            try:
                conn.request("GET", f"{path}?watch=1&resourceVersion={rv}&timeoutSeconds=3000")
                answer = conn.getresponse()
                while not self._stop.is_set():
                    line = answer.readline()
                    if not line:
                        break
                    rv = self._record(json.loads(line)) or rv
            except (OSError, http.client.HTTPException, ValueError):
                if self._stop.is_set():
                    return
                time.sleep(0.5)
            finally:
                session.close()

    def _record(self, event: dict[str, Any]) -> str | None:
        at = time.monotonic()
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        if event.get("type") in ("BOOKMARK", "ERROR"):
            return None
        with self._cond:
            self.events.append(
                WatchEvent(
                    at,
                    str(event.get("type")),
                    str(meta.get("namespace", "")),
                    str(meta.get("name", "")),
                    dict(meta.get("labels") or {}),
                    str(obj.get("reason", "")),
                )
            )
            self._cond.notify_all()
        rv = meta.get("resourceVersion")
        return str(rv) if rv else None

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def wait(self, mark: int, match: Callable[[WatchEvent], bool], timeout: float) -> WatchEvent:
        """The first event at or after ``mark`` that ``match``es."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = mark
            while True:
                while i < len(self.events):
                    if match(self.events[i]):
                        return self.events[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching watch event within {timeout:.0f}s")
                self._cond.wait(left)

    def count(self, match: Callable[[WatchEvent], bool]) -> int:
        with self._cond:
            return sum(1 for e in self.events if match(e))

    def stop(self) -> None:
        self._stop.set()
        for conn in self._sessions:
            try:
                if conn.sock is not None:
                    conn.sock.shutdown(2)
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=5)
