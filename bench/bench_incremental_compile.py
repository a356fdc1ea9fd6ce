"""The incremental compiler alone at 5k/20k/50k pods: what one event costs, and what the
compiler holds in memory.

A synthetic cluster on 3 networks (layer2, layer3 and localnet NADs), 10 namespaces
(labelled by team), pods on one to three networks, and mixed policy shapes (pod-selector
peers with ports, namespace-selector peers, ipBlocks with except, named ports, egress).
App groups hold ~20 pods and ~4 policies at every scale, so the work an event *should*
cost is the same at every scale: what grows with the cluster is overhead to remove.

On one ``IncrementalCompiler``: ``load`` of the whole snapshot (time; RSS growth and, in a
second load under tracemalloc, the peak and retained bytes), then per event kind
``apply`` + ``flush`` + ``desired_for(delta.keys, delta.statuses)`` p50/p99 (wall and CPU),
with rows computed and changed, and the older-generation GCs that landed on them.

Run: .venv/bin/python bench/bench_incremental_compile.py [--scales 5000,20000] [--events N]
     [--profile KIND] (cProfile of that event kind at the last scale)
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import inspect
import io
import pstats
import random
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field, replace

from enforcer.incremental import (
    Event,
    IncrementalCompiler,
    NamespaceEvent,
    PodEvent,
    PolicyEvent,
)
from mnp.model import (
    OVN_CNI_TYPE,
    Attachment,
    ContainerPort,
    IPBlock,
    LabelSelector,
    NadKey,
    Namespace,
    Network,
    Peer,
    Pod,
    Policy,
    Port,
    Rule,
    Snapshot,
)
from mnp.pods import NAMESPACE_NAME_LABEL

NAMESPACES = 10
PODS_PER_GROUP = 20
L2 = NadKey("nets", "l2")
L3 = NadKey("nets", "l3")
LOCALNET = NadKey("nets", "physnet")
NETWORKS = (
    Network(L2, "tenant-l2", "layer2", OVN_CNI_TYPE, ("10.64.0.0/14",)),
    Network(L3, "tenant-l3", "layer3", OVN_CNI_TYPE, ("10.128.0.0/14",)),
    Network(LOCALNET, "phys", "localnet", OVN_CNI_TYPE, ("172.16.0.0/12",), vlan_id=100),
)
SUBNET_BASE = {L2: (10, 64), L3: (10, 128), LOCALNET: (172, 16)}
TEAMS = ("red", "blue")
EVENT_KINDS = (
    "pod relabel",
    "pod add",
    "pod delete",
    "pod network change",
    "namespace relabel",
    "policy add",
    "policy change",
    "policy delete",
)


@dataclass(frozen=True)
class Scale:
    pods: int
    policies: int

    @property
    def groups(self) -> int:
        return max(NAMESPACES, self.pods // PODS_PER_GROUP // NAMESPACES * NAMESPACES)


def _address(nad: NadKey, i: int) -> str:
    a, b = SUBNET_BASE[nad]
    return f"{a}.{b + i // 65536}.{i // 256 % 256}.{i % 256}"


def pod_nads(i: int) -> tuple[NadKey, ...]:
    """Every pod on layer2; a third also on layer3; a fifth also on the localnet."""
    nads = [L2]
    if i % 3 == 0:
        nads.append(L3)
    if i % 5 == 0:
        nads.append(LOCALNET)
    return tuple(nads)


def make_pod(scale: Scale, i: int, group: int | None = None, nads: tuple[NadKey, ...] = ()) -> Pod:
    """Pod ``i`` of group ``i % groups``; group g lives in namespace ``g % NAMESPACES``."""
    g = i % scale.groups if group is None else group
    nads = nads or pod_nads(i)
    attachments = tuple(
        (n, Attachment((f"{_address(n, i)}/14",), f"0a:58:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}"))
        for n in sorted(nads)
    )
    return Pod(
        f"ns{g % NAMESPACES}",
        f"pod-{i}",
        (("app", f"g{g}"), ("tier", "web" if i % 2 else "db")),
        f"node{i % 50}",
        tuple(sorted(nads)),
        attachments,
        (ContainerPort("http", 8080 + i % 2),),
    )


def _shape(j: int, g: int, next_g: int) -> tuple[tuple[Rule, ...], tuple[Rule, ...]]:
    """Ingress and egress rules of policy ``j`` (one of five shapes)."""
    peer = Peer(pod_selector=LabelSelector((("app", f"g{next_g}"),)))
    shape = j % 5
    if shape == 0:  # bench_enforcer's shape: a pod-selector peer with ports
        return (Rule((Port("TCP", 80 + j % 100),), (peer,)),), (Rule((Port("UDP", 53),), (peer,)),)
    if shape == 1:  # the next group, but only in namespaces of a team
        team = LabelSelector((("team", TEAMS[j % 2]),))
        both = Peer(pod_selector=peer.pod_selector, namespace_selector=team)
        return (Rule((Port("TCP", 443),), (both,)),), ()
    if shape == 2:  # ipBlock with except, and egress to the next group's named port
        block = Peer(ip_block=IPBlock("10.64.0.0/16", ("10.64.1.0/24",)))
        return (Rule((), (block,)),), (Rule((Port("TCP", "http"),), (peer,)),)
    if shape == 3:  # named port on the policy's own pods, from a tier in its namespace
        tier = Peer(pod_selector=LabelSelector((("tier", "web"), ("app", f"g{g}"))))
        return (Rule((Port("TCP", "http"),), (tier, peer)),), ()
    # a named namespace's next group (namespaceSelector by the API server's name label)
    ns = LabelSelector(((NAMESPACE_NAME_LABEL, f"ns{next_g % NAMESPACES}"),))
    return (Rule((Port("TCP", 8000, 8100),), (Peer(peer.pod_selector, ns),)),), ()


def make_policy(scale: Scale, j: int, version: int = 0) -> Policy:
    """Policy ``j`` selects group ``j % groups`` and peers with group ``+NAMESPACES`` (same
    namespace) or ``+1`` (the next namespace), on one or two networks."""
    g = j % scale.groups
    next_g = (g + (NAMESPACES if j % 2 else 1) + version) % scale.groups
    ingress, egress = _shape(j, g, next_g)
    nads = (L2,) if j % 4 else (L2, L3 if j % 8 else LOCALNET)
    types = frozenset({"Ingress", "Egress"}) if egress else frozenset({"Ingress"})
    return Policy(
        f"ns{g % NAMESPACES}",
        f"pol-{j}",
        nads,
        LabelSelector((("app", f"g{g}"),)),
        ingress,
        egress,
        types,  # type: ignore[arg-type]
    )


def make_namespace(k: int, team: str | None = None) -> Namespace:
    name = f"ns{k}"
    labels = {NAMESPACE_NAME_LABEL: name, "team": team or TEAMS[k % 2]}
    return Namespace(name, tuple(sorted(labels.items())))


def synthetic_cluster(scale: Scale) -> Snapshot:
    return Snapshot(
        namespaces=tuple(make_namespace(k) for k in range(NAMESPACES)),
        pods=tuple(make_pod(scale, i) for i in range(scale.pods)),
        networks=NETWORKS,
        policies=tuple(make_policy(scale, j) for j in range(scale.policies)),
    )


class EventSource:
    """Events of one kind against the cluster as it is now (tracked here)."""

    def __init__(self, scale: Scale, snapshot: Snapshot, seed: int = 7) -> None:
        self.scale = scale
        self.rng = random.Random(seed)
        self.pods = {(p.namespace, p.name): p for p in snapshot.pods}
        self.next_pod = scale.pods
        self.next_policy = scale.policies
        self.added: list[tuple[str, str]] = []
        self.keys = list(self.pods)  # every key ever seen (a pod keeps its namespace)
        self.policy_versions = {j: 0 for j in range(scale.policies)}
        self.ns_teams = {k: TEAMS[k % 2] for k in range(NAMESPACES)}

    def _some_pod(self) -> Pod:
        while (pod := self.pods.get(self.rng.choice(self.keys))) is None:
            pass
        return pod

    def make(self, kind: str) -> Event:
        if kind == "pod relabel":  # to another group of its namespace
            pod = self._some_pod()
            g = int(dict(pod.labels)["app"][1:])
            moved = (g + NAMESPACES * self.rng.randint(1, 5)) % self.scale.groups
            return self._pod(replace(pod, labels=(("app", f"g{moved}"), *pod.labels[1:])))
        if kind == "pod add":
            i, self.next_pod = self.next_pod, self.next_pod + 1
            pod = make_pod(self.scale, i, group=self.rng.randrange(self.scale.groups))
            self.added.append((pod.namespace, pod.name))
            self.keys.append((pod.namespace, pod.name))
            return self._pod(pod)
        if kind == "pod delete":
            key = self.added.pop() if self.added else self._some_pod_key()
            del self.pods[key]
            return PodEvent(key, None)
        if kind == "pod network change":  # joins or leaves the localnet
            pod = self._some_pod()
            i = int(pod.name.split("-")[1])
            nads = tuple(n for n in pod.networks if n != LOCALNET)
            nads = nads if LOCALNET in pod.networks else (*nads, LOCALNET)
            g = int(dict(pod.labels)["app"][1:])
            return self._pod(replace(make_pod(self.scale, i, g, nads), labels=pod.labels))
        if kind == "namespace relabel":
            k = self.rng.randrange(NAMESPACES)
            self.ns_teams[k] = "blue" if self.ns_teams[k] == "red" else "red"
            return NamespaceEvent(f"ns{k}", make_namespace(k, self.ns_teams[k]))
        return self._policy_event(kind)

    def _some_pod_key(self) -> tuple[str, str]:
        pod = self._some_pod()
        return (pod.namespace, pod.name)

    def _pod(self, pod: Pod) -> PodEvent:
        self.pods[(pod.namespace, pod.name)] = pod
        return PodEvent((pod.namespace, pod.name), pod)

    def _policy_event(self, kind: str) -> PolicyEvent:
        if kind == "policy add":
            j, self.next_policy = self.next_policy, self.next_policy + 1
            self.policy_versions[j] = 0
        elif kind == "policy change":  # peers with another group
            j = self.rng.choice(list(self.policy_versions))
            self.policy_versions[j] += 1
        else:
            j = max(self.policy_versions)  # the newest (an added one, while there are)
            del self.policy_versions[j]
            policy = make_policy(self.scale, j)
            return PolicyEvent(policy.key, None)
        policy = make_policy(self.scale, j, self.policy_versions[j])
        return PolicyEvent(policy.key, policy)


@dataclass
class EventFigures:
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    rows_computed: list[int] = field(default_factory=list)
    rows_changed: list[int] = field(default_factory=list)
    old_gcs: int = 0
    old_gc_seconds: float = 0.0


class OldGcWatch:
    """Counts the interpreter's collections of generations 1 and 2, and their time: with
    a heap of hundreds of megabytes even a generation-1 collection took 5-40 ms here (its
    young objects point into the old heap, each a cache miss), on whichever event runs."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] < 1:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.count += 1
            self.seconds += time.perf_counter() - self._start


@dataclass
class LoadFigures:
    seconds: float
    rss_growth: int
    traced_peak: int
    traced_retained: int
    snapshot_bytes: int
    rows: int


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# Whether desired_for takes the policies whose statuses to give (so this bench also runs
# against an older checkout, for the before/after table).
_CHANGED_STATUSES = "policies" in inspect.signature(IncrementalCompiler.desired_for).parameters


def timed_event(compiler: IncrementalCompiler, event: Event) -> tuple[float, float, int, int]:
    """One event the way the loop handles it: apply, flush, the desired rows of its keys.
    Wall and CPU time (on a shared machine, the CPU time is the steadier figure)."""
    start, cpu = time.perf_counter(), time.process_time()
    compiler.apply(event)
    delta = compiler.flush()
    if _CHANGED_STATUSES:
        compiler.desired_for(delta.keys, delta.statuses)
    else:  # a compiler from before ``desired_for(keys, policies)``: all statuses
        compiler.desired_for(delta.keys)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall, cpu, delta.rows_computed, len(delta.keys)


def measure_load(scale: Scale, trace: bool) -> tuple[IncrementalCompiler, Snapshot, LoadFigures]:
    """``load`` untraced (time, RSS growth), then again under tracemalloc (peak, retained)."""
    tracemalloc.start()
    snapshot = synthetic_cluster(scale)
    snapshot_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    peak = retained = 0
    if trace:
        gc.collect()
        tracemalloc.start()
        traced = IncrementalCompiler()
        traced.load(snapshot)
        retained, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del traced
    gc.collect()
    rss_before = _rss()
    compiler = IncrementalCompiler()
    start = time.perf_counter()
    compiler.load(snapshot)
    seconds = time.perf_counter() - start
    gc.collect()
    figures = LoadFigures(
        seconds, _rss() - rss_before, peak, retained, snapshot_bytes, len(compiler.rows)
    )
    return compiler, snapshot, figures


def run_events(
    compiler: IncrementalCompiler, source: EventSource, kind: str, count: int
) -> EventFigures:
    figures = EventFigures()
    watch = OldGcWatch()
    gc.callbacks.append(watch)
    try:
        for _ in range(count):
            seconds, cpu, computed, changed = timed_event(compiler, source.make(kind))
            figures.seconds.append(seconds)
            figures.cpu_seconds.append(cpu)
            figures.rows_computed.append(computed)
            figures.rows_changed.append(changed)
    finally:
        gc.callbacks.remove(watch)
    figures.old_gcs, figures.old_gc_seconds = watch.count, watch.seconds
    return figures


def profile_events(
    compiler: IncrementalCompiler, source: EventSource, kind: str, count: int
) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    run_events(compiler, source, kind, count)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(22)
    return out.getvalue()


def report_scale(scale: Scale, load: LoadFigures, events: dict[str, EventFigures]) -> list[str]:
    lines = [
        f"### {scale.pods:,} pods / {scale.policies:,} policies ({load.rows:,} rows)",
        "",
        f"- load: {load.seconds:.2f} s; RSS growth {load.rss_growth / 2**20:.0f} MiB "
        f"({load.rss_growth / scale.pods:,.0f} B/pod); tracemalloc peak "
        f"{load.traced_peak / 2**20:.0f} MiB, retained {load.traced_retained / 2**20:.0f} MiB "
        f"({load.traced_retained / scale.pods:,.0f} B/pod); the snapshot's models "
        f"{load.snapshot_bytes / 2**20:.0f} MiB ({load.snapshot_bytes / scale.pods:,.0f} B/pod)",
        "",
        "| event | p50 ms | p99 ms | max ms | CPU p50 / p99 ms | rows computed p50 / max "
        "| rows changed p50 / max | gen-1/2 GCs (ms each) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, f in events.items():
        ms = [s * 1000 for s in f.seconds]
        cpu = [s * 1000 for s in f.cpu_seconds]
        lines.append(
            f"| {kind} | {statistics.median(ms):.2f} | {_percentile(ms, 0.99):.2f} | "
            f"{max(ms):.2f} | {statistics.median(cpu):.2f} / {_percentile(cpu, 0.99):.2f} | "
            f"{statistics.median(f.rows_computed):.0f} / "
            f"{max(f.rows_computed)} | {statistics.median(f.rows_changed):.0f} / "
            f"{max(f.rows_changed)} | {f.old_gcs} "
            f"({f.old_gc_seconds * 1000 / max(1, f.old_gcs):.0f}) |"
        )
    return lines


def bench_scale(
    scale: Scale, count: int, trace: bool, profile: str | None, freeze: bool
) -> tuple[list[str], str]:
    compiler, snapshot, load = measure_load(scale, trace)
    if freeze:  # what a long-running enforcer can do after its initial load
        gc.freeze()
    source = EventSource(scale, snapshot)
    del snapshot
    events: dict[str, EventFigures] = {}
    for kind in EVENT_KINDS:  # adds before deletes: the deletes remove what was added
        n = max(5, count // 5) if kind == "namespace relabel" else count
        events[kind] = run_events(compiler, source, kind, n)
    text = profile_events(compiler, source, profile, count) if profile else ""
    return report_scale(scale, load, events), text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", default="5000,20000,50000", help="pod counts (policies: /5)")
    ap.add_argument("--events", type=int, default=200, help="events per kind")
    ap.add_argument("--no-trace", action="store_true", help="skip the tracemalloc load")
    ap.add_argument("--profile", choices=EVENT_KINDS, help="cProfile this kind at each scale")
    ap.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after the load")
    args = ap.parse_args()
    for pods in (int(s) for s in args.scales.split(",")):
        lines, profile = bench_scale(
            Scale(pods, pods // 5), args.events, not args.no_trace, args.profile, args.gc_freeze
        )
        if args.gc_freeze:
            gc.unfreeze()
        print("\n".join(lines), flush=True)
        if profile:
            print(f"\ncProfile of {args.events} x {args.profile} (tottime):\n{profile}")
        print(flush=True)


if __name__ == "__main__":
    main()
