"""Enforcer benchmark: compile + read + diff + transact for 1000 policies / 5000 pods,
measured against the floor of one raw JSON-RPC transact writing as many rows (FACTS §6).

The read is timed twice: before any owned rows exist (what the first reconcile reads) and at
steady state (every owned row there: what a fresh-connection reconcile reads each time). The
no-op and relabel reconciles run both ways: over a fresh connection (``--once``) and against
the long-running enforcer's monitor-fed replica (``enforcer.nb_replica``), which reads nothing.

Run: .venv/bin/python bench/bench_enforcer.py [--policies N] [--pods N]
Needs the Debian OVN packages (ovsdb-server, ovn-northd).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from enforcer.compile import compile
from enforcer.diff import plan, read_state
from enforcer.incremental import PodEvent
from enforcer.nb_replica import NbReplica
from enforcer.ovsdb import NB_DB, OvsdbConnection, connect, ovsdb_map, ovsdb_set
from enforcer.reconcile import NbTarget, Reconciler, reconcile, reconcile_against
from mnp.model import (
    OVN_CNI_TYPE,
    Attachment,
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
from mnp.ovn_names import lsp_name
from mnp_lab.ovn import OvnSandbox

T = TypeVar("T")
REPO = str(Path(__file__).resolve().parent.parent)
NAD = NadKey("bench", "net")
GROUPS = 250  # pods per app group = pods / GROUPS


def synthetic_snapshot(n_policies: int, n_pods: int, relabel: int | None = None) -> Snapshot:
    net = Network(NAD, "bench-net", "layer2", OVN_CNI_TYPE, ("10.64.0.0/16",))
    pods = []
    for i in range(n_pods):
        app = "moved" if i == relabel else f"g{i % GROUPS}"
        ip = f"10.64.{i // 250}.{i % 250 + 2}/16"
        att = Attachment((ip,), f"0a:58:0a:40:{i // 250:02x}:{i % 250 + 2:02x}")
        pods.append(Pod("bench", f"pod-{i}", (("app", app),), "n1", (NAD,), ((NAD, att),)))
    policies = []
    for j in range(n_policies):
        peer = Peer(pod_selector=LabelSelector((("app", f"g{(j + 1) % GROUPS}"),)))
        policies.append(
            Policy(
                "bench",
                f"pol-{j}",
                (NAD,),
                LabelSelector((("app", f"g{j % GROUPS}"),)),
                (Rule((Port("TCP", 80 + j % 100),), (peer,)),),
                (Rule((Port("UDP", 53),), (peer,)),),
                frozenset({"Ingress", "Egress"}),
            )
        )
    return Snapshot((Namespace("bench"),), tuple(pods), (net,), tuple(policies))


def create_ports(conn: OvsdbConnection, n_pods: int) -> None:
    names = [lsp_name(NAD, "bench", f"pod-{i}") for i in range(n_pods)]
    ops: list[dict[str, Any]] = [
        {"op": "insert", "table": "Logical_Switch_Port", "row": {"name": n}, "uuid-name": f"p{i}"}
        for i, n in enumerate(names)
    ]
    ports = ovsdb_set([["named-uuid", f"p{i}"] for i in range(n_pods)])
    ops.append(
        {"op": "insert", "table": "Logical_Switch", "row": {"name": "bench", "ports": ports}}
    )
    conn.transact(NB_DB, ops)


def floor_ops(
    n_pg: int, n_acl: int, n_as: int, ips_per_as: int, lsp_uuids: list[str]
) -> list[dict[str, Any]]:
    """Rows of the same number and about the same size, with no compile and no diff."""
    ops: list[dict[str, Any]] = []
    for i in range(n_as):
        addrs = [f"10.{i % 250}.{k // 250}.{k % 250}" for k in range(ips_per_as)]
        ops.append(
            {
                "op": "insert",
                "table": "Address_Set",
                "row": {
                    "name": f"floor_as{i}",
                    "addresses": ovsdb_set(addrs),
                    "external_ids": ovsdb_map({"k": f"as{i}"}),
                },
            }
        )
    per_pg = max(1, n_acl // max(1, n_pg))
    for i in range(n_acl):
        ops.append(
            {
                "op": "insert",
                "table": "ACL",
                "uuid-name": f"a{i}",
                "row": {
                    "direction": "to-lport",
                    "priority": 1001,
                    "action": "allow-related",
                    "match": f"outport == @floor_pg{i // per_pg}"
                    f" && ip4.src == $floor_as{i % max(1, n_as)} && tcp && tcp.dst == 80",
                    "external_ids": ovsdb_map({"k": f"acl{i}"}),
                },
            }
        )
    ports_per_pg = max(1, len(lsp_uuids) // max(1, n_pg))
    for i in range(n_pg):
        acl_refs = [
            ["named-uuid", f"a{k}"] for k in range(i * per_pg, min(n_acl, (i + 1) * per_pg))
        ]
        ports = [
            ["uuid", u] for u in lsp_uuids[(i * ports_per_pg) % len(lsp_uuids) :][:ports_per_pg]
        ]
        ops.append(
            {
                "op": "insert",
                "table": "Port_Group",
                "row": {
                    "name": f"floor_pg{i}",
                    "ports": ovsdb_set(ports),
                    "acls": ovsdb_set(acl_refs),
                    "external_ids": ovsdb_map({"k": f"pg{i}"}),
                },
            }
        )
    return ops


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policies", type=int, default=1000)
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--relabels", type=int, default=20, help="incremental relabels to time")
    args = ap.parse_args()
    snap = synthetic_snapshot(args.policies, args.pods)
    desired, t_compile = timed(lambda: compile(snap))
    n_ips = sum(len(a.addresses) for a in desired.address_sets)
    print(
        f"desired: {len(desired.port_groups)} port groups, {len(desired.acls)} ACLs, "
        f"{len(desired.address_sets)} address sets ({n_ips} IPs) over {args.pods} ports"
    )

    with tempfile.TemporaryDirectory() as tmp:
        with OvnSandbox(Path(tmp) / "floor") as sb, connect(sb.nb_remote) as conn:
            create_ports(conn, args.pods)
            lsps = list(read_state(conn).lsp_uuids.values())
            ops = floor_ops(
                len(desired.port_groups),
                len(desired.acls),
                len(desired.address_sets),
                max(1, n_ips // max(1, len(desired.address_sets))),
                lsps,
            )
            _, t_floor = timed(lambda: conn.transact(NB_DB, ops))

        with OvnSandbox(Path(tmp) / "enforcer") as sb:
            with connect(sb.nb_remote) as conn:
                create_ports(conn, args.pods)
                state, t_read_empty = timed(lambda: read_state(conn))
                p, t_diff = timed(lambda: plan(desired, state))
                _, t_tx = timed(lambda: conn.transact(NB_DB, p.ops))
            with connect(sb.nb_remote) as conn:
                _, t_read = timed(lambda: read_state(conn))
            target = NbTarget(sb.nb_remote)
            noop, t_noop = timed(lambda: reconcile(target, snap))
            moved = synthetic_snapshot(args.policies, args.pods, relabel=7)
            inc, t_inc = timed(lambda: reconcile(target, moved))
            with NbReplica(sb.nb_remote) as replica:
                _, t_load = timed(replica.view)
                live = Reconciler(target, replica=replica)
                live(moved)  # compiles once; later reconciles of an equal snapshot replan only
                again = synthetic_snapshot(args.policies, args.pods, relabel=7)
                r_noop, t_r_noop = timed(lambda: live(again))
                _, t_view = timed(replica.view)
                compiled = compile(moved)
                r_replan, t_replan = timed(lambda: reconcile_against(replica, compiled))
                r_inc, t_r_inc = timed(lambda: live(snap))
                incremental = incremental_relabels(target, replica, snap, args.relabels)

    first = t_compile + t_read_empty + t_diff + t_tx
    rows = [
        ("floor (one raw transact, same row count)", t_floor, None),
        ("compile", t_compile, None),
        ("read before any owned row exists", t_read_empty, None),
        ("read at steady state (owned rows + port names)", t_read, None),
        ("diff", t_diff, None),
        (f"transact ({p.result.rows_written} rows)", t_tx, t_tx),
        ("first reconcile total", first, first),
        (f"no-op reconcile, fresh connection (writes {noop.rows_written})", t_noop, t_noop),
        (f"one pod relabelled, fresh connection (writes {inc.rows_written})", t_inc, t_inc),
        ("replica: initial load (once per connection)", t_load, t_load),
        (f"no-op reconcile against the replica (writes {r_noop.rows_written})", t_r_noop, t_r_noop),
        (f"replan after an NB update, nothing to write ({r_replan.ops} ops)", t_replan, t_replan),
        ("  of which the replica's view (state copy)", t_view, None),
        (f"one pod relabelled against the replica (writes {r_inc.rows_written})", t_r_inc, t_r_inc),
    ]
    for label, seconds, ratio in rows:
        tail = f"  ratio to floor {ratio / t_floor:5.2f}" if ratio is not None else ""
        print(f"{label:60s}: {seconds:8.3f} s{tail}")
    print(f"relabel writes: {r_inc.summary()}")
    incremental.report(t_floor, t_compile)


@dataclass
class RelabelFigures:
    """Pod relabels through the incremental path: compile (apply + flush) and end to end
    (compile, read the NB, plan the changed rows only, transact)."""

    rows_computed: list[int]
    rows_changed: list[int]
    rows_written: list[int]
    compile_s: list[float]
    total_s: list[float]
    profile: str

    def report(self, t_floor: float, t_full_compile: float) -> None:
        n = len(self.total_s)
        c50, t50 = statistics.median(self.compile_s), statistics.median(self.total_s)
        print(f"incremental pod relabel ({n} relabels, median; max in brackets):")
        print(
            f"  rows computed {statistics.median(self.rows_computed):.0f} "
            f"[{max(self.rows_computed)}], changed {statistics.median(self.rows_changed):.0f}, "
            f"written {statistics.median(self.rows_written):.0f}"
        )
        print(
            f"  compile (apply + flush)                : {c50:8.4f} s [{max(self.compile_s):.4f}]"
            f"  ratio to full compile {c50 / t_full_compile:6.4f}"
        )
        print(
            f"  end to end (compile, plan, write)      : {t50:8.4f} s [{max(self.total_s):.4f}]"
            f"  ratio to floor {t50 / t_floor:5.2f}"
        )
        print("  profile of one relabel end to end (cumulative s, top functions):")
        print(self.profile)


def incremental_relabels(
    target: NbTarget, replica: NbReplica, snap: Snapshot, count: int
) -> RelabelFigures:
    """Relabel ``count`` pods one after another (each to the next app group) on a running
    ``Reconciler`` with its replica that starts from ``snap`` (already in the NB): the
    events path of the running enforcer, compile to committed."""
    enforcer = Reconciler(target, replica=replica)
    enforcer.full(snap)
    pods = {p.name: p for p in snap.pods}
    figures = RelabelFigures([], [], [], [], [], "")
    for k in range(count):
        name = f"pod-{(k * 97) % len(pods)}"
        pod = replace(pods[name], labels=(("app", f"g{(k * 31 + 1) % GROUPS}"),))
        pods[name] = pod
        profiler = cProfile.Profile() if k == count - 1 else None
        if profiler is not None:
            profiler.enable()
        start = time.perf_counter()
        result = enforcer.apply([PodEvent((pod.namespace, pod.name), pod)])
        elapsed = time.perf_counter() - start
        if profiler is not None:
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(8)
            figures.profile = _profile_lines(out.getvalue())
        delta = enforcer.last_delta
        figures.compile_s.append(enforcer.last_compile_s)
        figures.total_s.append(elapsed)
        figures.rows_computed.append(delta.rows_computed)
        figures.rows_changed.append(len(delta.keys))
        figures.rows_written.append(result.rows_written if result is not None else 0)
    return figures


def _profile_lines(text: str) -> str:
    """The pstats table rows only, shortened to cumulative time and function."""
    rows = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[0].replace("/", "").isdigit() and "(" in parts[5]:
            try:
                where = parts[5].replace(f"{REPO}/", "")
                rows.append(f"    {float(parts[3]):7.4f}  {where[-70:]}")
            except ValueError:
                continue  # the "N function calls in S seconds" header
    return "\n".join(rows)


if __name__ == "__main__":
    main()
