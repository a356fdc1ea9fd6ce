"""The enforcer end to end: the real ``mnp enforcer --source kube`` process against a real
kube-apiserver + etcd and a real NB ovsdb-server, at 5k/20k/50k pods on three networks.

Only the product's outside is used: the CLI, its metrics endpoint, the Kubernetes API and the
NB (a second NB client with a ``monitor_cond`` of its own, ``bench/nb_observer.py``), so the
figures stay comparable while the enforcer's insides change. Every figure has its floor from
the same run: cold sync against one raw ``transact`` of exactly the rows the enforcer wrote
(into a fresh NB with the same switch ports), each event against the time a plain watcher in
this process sees the same change arrive from the API server.

    .venv/bin/python bench/bench_enforcer_cluster.py [--short] [--scales 5k,20k,50k]
        [--relabels N] [--adds N] [--profile]

``--profile`` samples the enforcer with py-spy (``pip install py-spy``) during the relabels.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cluster_load import (
    ApiSession,
    ApiWatch,
    WatchEvent,
    create_all,
    create_ports,
    create_switches,
    object_path,
)
from bench.cluster_workload import (
    GROUPS,
    BenchPod,
    Workload,
    build_workload,
    nad_manifests,
    policy_shape,
)
from bench.nb_observer import NbObserver
from enforcer.ovsdb import NB_DB, OvsdbConnection
from mnp_lab.kube import KubeControlPlane
from mnp_lab.kube_binaries import ensure_binaries
from mnp_lab.ovsdb_cluster import StandaloneNb
from mnp_lab.processes import free_port
from tests.support.kubectl import wait_established
from tests.support.paths import CONFIG_DIR

ROOT = Path(__file__).resolve().parent.parent
SCALES = {"5k": (5000, 1000), "20k": (20000, 4000), "50k": (50000, 10000)}
EVENT_TIMEOUT_S = 300.0
COLD_SYNC_TIMEOUT_S = 3600.0
QUIET_S = 3.0  # no owned-row update for this long (and every policy reported): converged
WATCHED = (
    "/api/v1/pods",
    "/apis/k8s.cni.cncf.io/v1beta1/multi-networkpolicies",
    "/api/v1/events",
)


# -- the enforcer process ---------------------------------------------------------------------


class Enforcer:
    """``mnp enforcer --source kube`` as a user runs it; log in ``dir/enforcer.log``."""

    def __init__(self, dir: Path, kubeconfig: Path, nb_remote: str, args: argparse.Namespace):
        self.log = dir / "enforcer.log"
        self.metrics_port = free_port()
        mnp = Path(sys.executable).parent / "mnp"
        self.argv = [
            *([str(mnp)] if mnp.exists() else [sys.executable, "-m", "mnp"]),
            "enforcer",
            "--source=kube",
            f"--kubeconfig={kubeconfig}",
            f"--ovn-nb={nb_remote}",
            f"--metrics-port={self.metrics_port}",
            "--no-leader-elect",
            f"--debounce={args.debounce}",
            f"--resync={args.resync}",
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        with open(self.log, "ab") as log:
            started = time.monotonic()
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
            )
        return started

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check_running(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"mnp enforcer exited with {self.proc.returncode}:\n{tail}")

    def metrics(self) -> dict[str, float]:
        """Each sample's value summed over its labels, by sample name."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=30) as answer:
            text = answer.read().decode()
        out: dict[str, float] = defaultdict(float)
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out[s.name] += s.value
        return out

    def memory(self) -> dict[str, int]:
        """VmHWM and VmRSS in kB."""
        out = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    name, value = line.split(":", 1)
                    out[name] = int(value.split()[0])
        return out

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


ROWS = "mnp_enforcer_nb_rows_written_total"
RECONCILES = "mnp_enforcer_reconcile_duration_seconds_count"
RECONCILE_S = "mnp_enforcer_reconcile_duration_seconds_sum"


# -- figures ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


@dataclass
class EventFigures:
    """One kind of event, each sample from just before the API call."""

    committed: list[float] = field(default_factory=list)  # NB change seen by the observer
    api: list[float] = field(default_factory=list)  # the watch event seen by a plain watcher
    rows: list[float] = field(default_factory=list)  # rows written (enforcer metrics)
    reconciles: list[float] = field(default_factory=list)
    reconcile_s: list[float] = field(default_factory=list)  # enforcer's own time per event

    def add(
        self, t0: float, api: float, nb: float, before: dict[str, float], after: dict[str, float]
    ) -> None:
        self.committed.append(nb - t0)
        self.api.append(api - t0)
        self.rows.append(after[ROWS] - before[ROWS])
        self.reconciles.append(after[RECONCILES] - before[RECONCILES])
        self.reconcile_s.append(after[RECONCILE_S] - before[RECONCILE_S])

    def latency(self) -> str:
        if not self.committed:
            return "-"
        c, a = self.committed, self.api
        share = [x - y for x, y in zip(c, a, strict=True)]
        return (
            f"{ms(statistics.median(c))} / {ms(percentile(c, 0.99))} "
            f"(API {ms(statistics.median(a))} / {ms(percentile(a, 0.99))}; "
            f"enforcer {ms(statistics.median(share))} / {ms(percentile(share, 0.99))})"
        )

    def work(self) -> str:
        if not self.rows:
            return "-"
        return (
            f"{statistics.median(self.rows):.0f} [{max(self.rows):.0f}] rows, "
            f"{statistics.median(self.reconciles):.0f} reconciles, "
            f"{ms(statistics.median(self.reconcile_s))} reconciling"
        )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


@dataclass
class ScaleResult:
    label: str
    pods: int
    policies: int
    load: str = "-"
    lsps_s: float = math.nan
    rows: dict[str, int] = field(default_factory=dict)
    floor_s: float = math.nan
    cold_s: float = math.nan
    first_reconcile_s: float = math.nan
    first_reconciles: int = 0
    events_after_s: float = math.nan
    missing_policies: int = 0
    status_noop: str = "-"
    resync_noop: str = "-"
    relabel: EventFigures = field(default_factory=EventFigures)
    pod_add: EventFigures = field(default_factory=EventFigures)
    policy_add: EventFigures = field(default_factory=EventFigures)
    hwm_mb: float = math.nan
    profile: str = ""
    note: str = ""


# -- phases -----------------------------------------------------------------------------------


def load_cluster(plane: KubeControlPlane, work: Workload, threads: int) -> str:
    plane.kubectl("apply", "-f", str(CONFIG_DIR / "crd"))
    wait_established(
        plane,
        "network-attachment-definitions.k8s.cni.cncf.io",
        "multi-networkpolicies.k8s.cni.cncf.io",
    )
    n1, t1 = create_all(plane, [*work.namespace_manifests(), *nad_manifests()], threads)

    def interleaved() -> Iterator[dict[str, Any]]:
        every = max(1, len(work.pods) // max(1, len(work.policies)))
        policies = iter(work.policies)
        for i, pod in enumerate(work.pods):
            yield pod.manifest()
            if i % every == every - 1:
                policy = next(policies, None)
                if policy is not None:
                    yield policy.manifest()
        for policy in policies:
            yield policy.manifest()

    n2, t2 = create_all(plane, interleaved(), threads)
    return (
        f"{n1 + n2} objects in {t1 + t2:.1f} s ({n2 / t2:.0f}/s pods and policies, "
        f"{threads} connections)"
    )


def wait_converged(
    enforcer: Enforcer, nb: NbObserver, work: Workload, started: float
) -> dict[str, float]:
    """Until every policy is reported, a reconcile is done and the NB has been quiet."""
    deadline = time.monotonic() + COLD_SYNC_TIMEOUT_S
    while time.monotonic() < deadline:
        enforcer.check_running()
        try:
            m = enforcer.metrics()
        except OSError:
            time.sleep(0.5)
            continue
        quiet = time.monotonic() - nb.last_update
        if (
            m["mnp_enforcer_policies"] >= len(work.policies)
            and m[RECONCILES] >= 1
            and nb.last_update > started
            and quiet >= QUIET_S
        ):
            return m
        time.sleep(0.5)
    raise TimeoutError(f"the enforcer did not converge within {COLD_SYNC_TIMEOUT_S:.0f}s")


def wait_idle(enforcer: Enforcer, quiet: float) -> None:
    """Until the enforcer has not reconciled for ``quiet`` seconds (the echo of its last
    write, Events still being posted)."""
    deadline = time.monotonic() + COLD_SYNC_TIMEOUT_S
    last = enforcer.metrics()[RECONCILES]
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = enforcer.metrics()[RECONCILES]
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise TimeoutError("the enforcer never went quiet")


def status_noop(
    session: ApiSession, api: ApiWatch, enforcer: Enforcer, pod: BenchPod, n: int, settle: float
) -> str:
    """Status-only pod updates: nothing the enforcer reads changes, so no work."""
    before = enforcer.metrics()
    path = object_path(pod.manifest()) + "/status"
    for k in range(n):
        mark = api.mark()
        condition = {"type": "BenchProbe", "status": "True", "reason": f"probe{k}"}
        session.merge_patch(path, {"status": {"conditions": [condition]}})
        api.wait(mark, lambda e: e.type == "MODIFIED" and e.name == pod.name, EVENT_TIMEOUT_S)
    time.sleep(settle)
    after = enforcer.metrics()
    return (
        f"{n} status updates: {after[RECONCILES] - before[RECONCILES]:.0f} reconciles, "
        f"{after[ROWS] - before[ROWS]:.0f} rows written"
    )


@dataclass(frozen=True)
class PodChange:
    """The NB changes one pod event must cause, as any NB client sees them: its IP into
    and out of address sets, its switch port into and out of port groups."""

    ip: str
    port: str
    sets_before: frozenset[str]
    groups_before: frozenset[str]
    into_sets: bool
    out_of_sets: bool
    into_groups: bool
    out_of_groups: bool

    def seen(self, nb: NbObserver) -> bool:
        sets, groups = nb.sets_holding(self.ip), nb.groups_holding(self.port)
        return (
            (not self.into_sets or bool(sets - self.sets_before))
            and (not self.out_of_sets or bool(self.sets_before - sets))
            and (not self.into_groups or bool(groups - self.groups_before))
            and (not self.out_of_groups or bool(self.groups_before - groups))
        )


@dataclass
class EventRig:
    """What every timed event uses: the enforcer's metrics, the NB observer, the plain
    watcher, one API connection, and the pause between events."""

    enforcer: Enforcer
    nb: NbObserver
    api: ApiWatch
    session: ApiSession
    pause: float

    def timed(
        self,
        committed: Callable[[NbObserver], bool],
        act: Callable[[], None],
        arrived: Callable[[WatchEvent], bool],
        figures: EventFigures,
    ) -> None:
        """From just before ``act`` to the plain watcher's event and to the NB update that
        makes ``committed`` true; then the pause, and the enforcer's metrics around it."""
        before = self.enforcer.metrics()
        waiter = self.nb.when(committed)
        mark = self.api.mark()
        t0 = time.monotonic()
        act()
        seen = self.api.wait(mark, arrived, EVENT_TIMEOUT_S)
        done = self.nb.wait(waiter, EVENT_TIMEOUT_S)
        time.sleep(self.pause)
        figures.add(t0, seen.at, done, before, self.enforcer.metrics())


def relabels(
    rig: EventRig, work: Workload, lsps: dict[str, str], count: int, figures: EventFigures
) -> None:
    """Move pods between app groups, one at a time."""
    for k in range(count):
        pod = work.pods[(k * 7919 + 13) % len(work.pods)]
        old, new = pod.app, f"g{(int(pod.app[1:]) + 7) % GROUPS}"
        old_peers, new_peers = work.peers_selecting(pod, old), work.peers_selecting(pod, new)
        old_pg, new_pg = work.policies_targeting(pod, old), work.policies_targeting(pod, new)
        with rig.nb.locked():
            change = PodChange(
                pod.ip,
                lsps[pod.lsp],
                frozenset(rig.nb.sets_holding(pod.ip)),
                frozenset(rig.nb.groups_holding(lsps[pod.lsp])),
                bool(new_peers - old_peers),
                bool(old_peers - new_peers),
                bool(new_pg - old_pg),
                bool(old_pg - new_pg),
            )
        path = object_path(pod.manifest())
        rig.timed(
            change.seen,
            partial(rig.session.merge_patch, path, {"metadata": {"labels": {"app": new}}}),
            _pod_event("MODIFIED", pod, new),
            figures,
        )
        pod.app = new


def _pod_event(kind: str, pod: BenchPod, app: str) -> Callable[[WatchEvent], bool]:
    def match(e: WatchEvent) -> bool:
        return (
            e.type == kind
            and e.name == pod.name
            and e.namespace == pod.namespace
            and e.labels.get("app") == app
        )

    return match


def pod_adds(
    rig: EventRig,
    work: Workload,
    conn: OvsdbConnection,
    lsps: dict[str, str],
    figures: EventFigures,
) -> None:
    """New pods (their switch port first, as OVN-Kubernetes makes it) until their port
    groups and address sets hold them."""
    for pod in work.spare_pods:
        port = lsps[pod.lsp] = create_ports(conn, [pod])[pod.lsp]
        time.sleep(rig.pause / 2)
        into_sets = bool(work.peers_selecting(pod, pod.app))
        into_groups = bool(work.policies_targeting(pod, pod.app))
        change = PodChange(
            pod.ip, port, frozenset(), frozenset(), into_sets, False, into_groups, False
        )
        manifest = pod.manifest()
        rig.timed(
            change.seen,
            partial(rig.session.create, manifest),
            _pod_event("ADDED", pod, pod.app),
            figures,
        )


def policy_adds(rig: EventRig, work: Workload, count: int, figures: EventFigures) -> None:
    """New policies (pod peers both ways) until their port group holds ports and ACLs."""
    for x in range(count):
        a = x % len(work.namespaces)
        policy = policy_shape(work.namespaces[a], a, 1000 + x, name=f"added-{x:03d}", shape=0)
        manifest = policy.manifest()
        rig.timed(
            partial(NbObserver.policy_group_ready, policy=policy.key),
            partial(rig.session.create, manifest),
            partial(_added_named, name=policy.name),
            figures,
        )


def _added_named(e: WatchEvent, name: str) -> bool:
    return e.type == "ADDED" and e.name == name


def resync_noop(enforcer: Enforcer, resync: float) -> str:
    """The enforcer's own periodic resyncs with nothing changed: the first one after the
    events, then the next; rows written and time of each (from its metrics)."""
    out = []
    for _ in range(2):
        before = enforcer.metrics()
        deadline = time.monotonic() + 2 * resync + 60
        while enforcer.metrics()[RECONCILES] == before[RECONCILES]:
            if time.monotonic() > deadline:
                return f"no resync within {2 * resync + 60:.0f} s"
            time.sleep(0.5)
        time.sleep(0.5)
        now = enforcer.metrics()
        n = now[RECONCILES] - before[RECONCILES]
        spent = (now[RECONCILE_S] - before[RECONCILE_S]) / n
        out.append(f"{now[ROWS] - before[ROWS]:.0f} rows in {ms(spent)}")
    return ", then ".join(out)


# -- the floor --------------------------------------------------------------------------------


def floor_transact(
    dir: Path, work: Workload, rows: dict[str, dict[str, dict[str, Any]]], lsps: dict[str, str]
) -> float:
    """One raw transact inserting exactly the owned rows the enforcer wrote, into a fresh NB
    holding the same switch ports."""
    with StandaloneNb(dir, method="unix") as floor_nb, OvsdbConnection(floor_nb.remote) as conn:
        create_switches(conn)
        fresh = create_ports(conn, [*work.pods, *work.spare_pods])
        name_of = {uuid: name for name, uuid in lsps.items()}
        ops: list[dict[str, Any]] = []
        for row in rows["Address_Set"].values():
            ops.append({"op": "insert", "table": "Address_Set", "row": row})
        acl_names = {}
        for i, (uuid, row) in enumerate(rows["ACL"].items()):
            acl_names[uuid] = f"acl{i}"
            ops.append({"op": "insert", "table": "ACL", "uuid-name": f"acl{i}", "row": row})
        for row in rows["Port_Group"].values():
            copy = dict(row)
            ports = [a for a in _atoms(row.get("ports")) if isinstance(a, list)]
            copy["ports"] = ["set", [["uuid", fresh[name_of[a[1]]]] for a in ports]]
            acls = [a for a in _atoms(row.get("acls")) if isinstance(a, list)]
            copy["acls"] = ["set", [["named-uuid", acl_names[a[1]]] for a in acls]]
            ops.append({"op": "insert", "table": "Port_Group", "row": copy})
        start = time.perf_counter()
        conn.transact(NB_DB, ops)
        return time.perf_counter() - start


def _atoms(value: Any) -> list[Any]:
    if isinstance(value, list) and value and value[0] == "set":
        return list(value[1])
    return [] if value is None else [value]


# -- py-spy -----------------------------------------------------------------------------------


class Sampler:
    """py-spy sampling one process from ``start`` to ``stop`` (collapsed stacks)."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.proc: subprocess.Popen[bytes] | None = None
        if Path(spy).exists():
            self.proc = subprocess.Popen(
                [
                    spy,
                    "record",
                    "--gil",  # the thread holding the GIL: where the enforcer's CPU goes
                    "--nonblocking",  # never pause the enforcer to sample it
                    "--pid",
                    str(pid),
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)

    def stop(self) -> str:
        if self.proc is None:
            return "(py-spy not found: pip install py-spy)"
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        return top_functions(self.out)


def top_functions(path: Path, top: int = 24) -> str:
    """Inclusive share of samples per function (each counted once per stack), top ones."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";") if f and "(threading.py" not in f]
        for name in set(frames):
            inclusive[name] += n
        if frames:
            own[frames[-1]] += n
    if not total:
        return "(no samples)"
    rows = [f"    {'incl':>5} {'self':>5}  function ({total} samples)"]
    for name, n in inclusive.most_common(top):
        rows.append(f"    {100 * n / total:4.0f}% {100 * own[name] / total:4.0f}%  {name}")
    return "\n".join(rows)


def _frame(text: str) -> str:
    func, _, where = text.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    return f"{func} ({where.replace(str(ROOT) + '/', '')[-50:]})"


# -- one scale --------------------------------------------------------------------------------


def scale_of(label: str) -> tuple[int, int]:
    """A named scale, or PODS:POLICIES."""
    if label in SCALES:
        return SCALES[label]
    pods, _, policies = label.partition(":")
    return int(pods), int(policies)


def run_scale(label: str, args: argparse.Namespace, base: Path) -> ScaleResult:
    n_pods, n_policies = scale_of(label)
    result = ScaleResult(label, n_pods, n_policies)
    work = build_workload(n_pods, n_policies, n_spare=args.adds)
    dir = base / label.replace(":", "-")  # a colon would split the kubeconfig path
    plane = KubeControlPlane(dir / "kube", ensure_binaries(progress=sys.stderr)).start()
    stack: list[Callable[[], None]] = [plane.stop]
    try:
        nb_server = StandaloneNb(dir / "nb", method="unix").start()
        stack.append(nb_server.stop)
        conn = OvsdbConnection(nb_server.remote, timeout=600)
        stack.append(conn.close)
        start = time.monotonic()
        create_switches(conn)
        lsps = create_ports(conn, work.pods)
        result.lsps_s = time.monotonic() - start
        result.load = load_cluster(plane, work, args.threads)
        progress(f"{label}: loaded: {result.load}; LSPs {result.lsps_s:.1f} s")
        api = ApiWatch(plane, WATCHED).start()
        stack.append(api.stop)
        nb = NbObserver(nb_server.remote).start()
        stack.append(nb.stop)
        enforcer = Enforcer(dir, plane.kubeconfig, nb_server.remote, args)
        stack.append(enforcer.stop)
        measure(result, work, plane, api, nb, enforcer, conn, lsps, args, dir)
        rows = nb.snapshot_rows()
        result.rows = {t: len(r) for t, r in rows.items()}
        enforcer.stop()
        result.floor_s = floor_transact(dir / "floor", work, rows, lsps)
    except Exception as e:  # report how far it got
        result.note = f"stopped: {type(e).__name__}: {str(e)[:400]}"
        progress(f"{label}: {result.note}")
    finally:
        for undo in reversed(stack):
            try:
                undo()
            except Exception as e:
                progress(f"cleanup: {e}")
    return result


def measure(
    result: ScaleResult,
    work: Workload,
    plane: KubeControlPlane,
    api: ApiWatch,
    nb: NbObserver,
    enforcer: Enforcer,
    conn: OvsdbConnection,
    lsps: dict[str, str],
    args: argparse.Namespace,
    dir: Path,
) -> None:
    t0 = enforcer.start()
    m = wait_converged(enforcer, nb, work, t0)
    result.cold_s = nb.last_update - t0
    result.first_reconcile_s = m[RECONCILE_S]
    result.first_reconciles = int(m[RECONCILES])
    result.missing_policies = len({p.key for p in work.policies} - nb.policies_with_groups())
    progress(f"{result.label}: cold sync {result.cold_s:.1f} s; waiting for policy Events")
    applied = api.wait(0, _nth_applied(len(work.policies)), COLD_SYNC_TIMEOUT_S)
    result.events_after_s = applied.at - nb.last_update
    session = ApiSession(plane)
    try:
        wait_idle(enforcer, max(2.0, 4 * args.debounce))
        result.status_noop = status_noop(
            session, api, enforcer, work.pods[1], 3, max(1.0, 4 * args.debounce)
        )
        sampler = Sampler(enforcer.pid, dir / "relabel.pyspy") if args.profile else None
        rig = EventRig(enforcer, nb, api, session, args.pause)
        relabels(rig, work, lsps, args.relabels, result.relabel)
        if sampler is not None:
            result.profile = sampler.stop()
        progress(f"{result.label}: relabels {result.relabel.latency()}")
        pod_adds(rig, work, conn, lsps, result.pod_add)
        policy_adds(rig, work, args.adds, result.policy_add)
        result.resync_noop = resync_noop(enforcer, args.resync)
        result.hwm_mb = enforcer.memory()["VmHWM"] / 1024
    finally:
        session.close()


def _nth_applied(n: int) -> Callable[[WatchEvent], bool]:
    """Matches the event with which the n-th ``Applied`` policy Event arrived."""
    seen = [0]

    def match(e: WatchEvent) -> bool:
        if e.type == "ADDED" and e.reason == "Applied":
            seen[0] += 1
        return seen[0] >= n

    return match


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- the report -------------------------------------------------------------------------------


def report(results: list[ScaleResult], args: argparse.Namespace) -> None:
    head = " | ".join(f"{r.pods:,} pods / {r.policies:,} policies" for r in results)
    print(f"| figure | {head} |")
    print("|---|" + "---|" * len(results))

    def row(name: str, cell: Callable[[ScaleResult], str]) -> None:
        print(f"| {name} | " + " | ".join(cell(r) for r in results) + " |")

    row("load: creates through the API server", lambda r: r.load)
    row("load: switch ports into the NB (raw transacts)", lambda r: f"{r.lsps_s:.1f} s")
    row(
        "owned rows at the end (port groups / address sets / ACLs)",
        lambda r: " / ".join(str(r.rows.get(t, "-")) for t in ("Port_Group", "Address_Set", "ACL")),
    )
    row("floor: one raw transact of those rows", lambda r: f"{r.floor_s:.2f} s")
    row(
        "cold sync: process start to NB converged (ratio to floor)",
        lambda r: f"{r.cold_s:.1f} s ({r.cold_s / r.floor_s:.0f}x)",
    )
    row(
        "  of which reconciling (the enforcer's metrics, by then)",
        lambda r: f"{r.first_reconcile_s:.1f} s in {r.first_reconciles} reconciles",
    )
    row("  policies without a port group after it", lambda r: str(r.missing_policies))
    row("policy Events: the last one after the NB converged", lambda r: f"{r.events_after_s:.1f} s")
    row(
        "pod relabel -> committed, p50 / p99 (API watch floor; enforcer's share)",
        lambda r: r.relabel.latency(),
    )
    row("pod add -> committed, p50 / p99", lambda r: r.pod_add.latency())
    row("policy add -> committed, p50 / p99", lambda r: r.policy_add.latency())
    row(
        "per relabel: rows written, reconciles, reconcile time (median [max rows])",
        lambda r: r.relabel.work(),
    )
    row("per pod add", lambda r: r.pod_add.work())
    row("per policy add", lambda r: r.policy_add.work())
    row("no-op: pod status updates", lambda r: r.status_noop)
    row(
        f"no-op: periodic resyncs (--resync {args.resync:g}): the first after the events, the next",
        lambda r: r.resync_noop,
    )
    row("peak RSS of the enforcer (VmHWM)", lambda r: f"{r.hwm_mb:.0f} MB")
    print()
    print(
        f"Events: {args.relabels} relabels, {args.adds} pod adds and {args.adds} policy adds, "
        f"sequential, {args.pause:g} s apart; enforcer `--debounce {args.debounce:g}` "
        f"(included in every event figure), leader election off."
    )
    for r in results:
        if r.note:
            print(f"\n{r.label}: {r.note}")
        if r.profile:
            print(
                f"\npy-spy of the enforcer during the {r.label} relabels:\n\n```\n{r.profile}\n```"
            )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true", help="5k only, few events (< 3 minutes)")
    ap.add_argument("--scales", default=None, help="comma-separated: 5k,20k,50k")
    ap.add_argument("--relabels", type=int, default=None)
    ap.add_argument("--adds", type=int, default=None, help="pod adds and policy adds each")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds between events")
    ap.add_argument(
        "--debounce", type=float, default=0.005, help="the enforcer's --debounce (its default)"
    )
    ap.add_argument("--resync", type=float, default=15.0, help="the enforcer's --resync")
    ap.add_argument("--threads", type=int, default=8, help="API connections for loading")
    ap.add_argument("--profile", action="store_true", help="py-spy during the relabels")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (logs)")
    args = ap.parse_args()
    # A SIGTERM (a timeout, make's Ctrl-C) still stops every process this run started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    scales = (args.scales or ("5k" if args.short else "5k,20k,50k")).split(",")
    try:
        for s in scales:
            scale_of(s)
    except ValueError:
        ap.error(f"--scales: each one of {', '.join(SCALES)} or PODS:POLICIES")
    if args.relabels is None:
        args.relabels = 10 if args.short else 50
    if args.adds is None:
        args.adds = 5 if args.short else 20
    if args.keep:
        base = Path(args.keep)
        base.mkdir(parents=True, exist_ok=True)
        results = [run_scale(s, args, base) for s in scales]
    else:
        with tempfile.TemporaryDirectory(prefix="mnp-bench-") as tmp:
            results = [run_scale(s, args, Path(tmp)) for s in scales]
    report(results, args)
    return 1 if any(r.note for r in results) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
