"""Which client feeds the enforcer's NB replica: ``ovs.db.idl`` or the project's own.

Both monitor the same rows (the owned Port_Group, Address_Set and ACL rows of a converged
NB at 1,000 policies / 5,000 pods, and every Logical_Switch_Port's name) on the same
``ovsdb-server``. Measured: the initial load (connect to a replica ready to plan from), and
a small update (one ACL rewritten by another client, until the replica shows it; median of
``--updates``). The floor is one raw ``monitor_cond`` of the same rows parsed by the
standard library (the cheapest way to get them).

Run: .venv/bin/python bench/bench_nb_client.py [--policies N] [--pods N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ovs.db.idl  # type: ignore[import-untyped]  # measured against, not used
import ovs.poller  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_enforcer import create_ports, synthetic_snapshot
from enforcer.diff import ACL, LSP, READ_COLUMNS, read_queries
from enforcer.nb_replica import NbReplica
from enforcer.ovsdb import NB_DB, OvsdbConnection, connect
from enforcer.reconcile import NbTarget, reconcile
from mnp_lab.ovn import OVN_SCHEMA_DIR, OvnSandbox


def _rewrite_acl(conn: OvsdbConnection, uuid: str, n: int) -> None:
    where = [["_uuid", "==", ["uuid", uuid]]]
    row = {"match": f"ip4 && tcp.dst == {1000 + n}"}
    conn.transact(NB_DB, [{"op": "update", "table": ACL, "where": where, "row": row}])


def _median_update(rewrite: Callable[[int], None], seen: Callable[[int], bool], n: int) -> float:
    times = []
    for i in range(n):
        start = time.perf_counter()
        rewrite(i)
        while not seen(i):
            pass
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class _Idl:
    """``ovs.db.idl`` conditioned to the same rows and columns."""

    def __init__(self, remote: str) -> None:
        helper = ovs.db.idl.SchemaHelper(location=str(OVN_SCHEMA_DIR / "ovn-nb.ovsschema"))
        for table, (_, columns) in read_queries().items():
            helper.register_columns(table, columns)
        self.idl = ovs.db.idl.Idl(remote, helper, leader_only=False)
        for table, (where, _) in read_queries().items():
            if where != [True]:
                self.idl.cond_change(table, where)

    def run_until(self, done: Callable[[], bool]) -> None:
        while True:
            self.idl.run()
            if done():
                return
            poller = ovs.poller.Poller()
            self.idl.wait(poller)
            poller.block()

    def acl_match(self, uuid: str) -> str | None:
        for row in self.idl.tables[ACL].rows.values():
            if str(row.uuid) == uuid:
                return str(row.match)
        return None


def measure(args: argparse.Namespace, sandbox: OvnSandbox) -> dict[str, float]:
    snap = synthetic_snapshot(args.policies, args.pods)
    with connect(sandbox.nb_remote) as conn:
        create_ports(conn, args.pods)
    reconcile(NbTarget(sandbox.nb_remote), snap)
    out: dict[str, float] = {}
    with connect(sandbox.nb_remote) as conn:
        start = time.perf_counter()
        rows = conn.dump(NB_DB, read_queries())
        out["floor"] = time.perf_counter() - start
        start = time.perf_counter()
        conn.dump(NB_DB, {LSP: ([True], READ_COLUMNS[LSP])})
        out["lsp names"] = time.perf_counter() - start
    acl = sorted(rows[ACL])[0]
    writer = connect(sandbox.nb_remote)

    start = time.perf_counter()
    replica = NbReplica(sandbox.nb_remote).start()
    replica.view()
    out["own load"] = time.perf_counter() - start

    def own_seen(i: int) -> bool:
        generation = replica.generation
        if replica.view().state.acls[acl].row.match.endswith(f"{1000 + i}"):
            return True
        replica.wait_past(generation, 10.0)
        return False

    out["own update"] = _median_update(
        lambda i: _rewrite_acl(writer, acl, i), own_seen, args.updates
    )
    replica.stop()

    start = time.perf_counter()
    idl = _Idl(sandbox.nb_remote)
    idl.run_until(lambda: idl.idl.has_ever_connected() and bool(idl.idl.tables[ACL].rows))
    out["idl load"] = time.perf_counter() - start
    base = 100

    def idl_seen(i: int) -> bool:
        want = f"{1000 + base + i}"
        idl.run_until(lambda: (idl.acl_match(acl) or "").endswith(want))
        return True

    out["idl update"] = _median_update(
        lambda i: _rewrite_acl(writer, acl, base + i), idl_seen, args.updates
    )
    idl.idl.close()
    writer.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policies", type=int, default=1000)
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--updates", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, OvnSandbox(Path(tmp) / "nb") as sandbox:
        t = measure(args, sandbox)
    print(f"{args.pods} pods / {args.policies} policies; floor: one monitor_cond, stdlib json")
    print(f"floor (raw monitor_cond of the same rows): {t['floor']:8.3f} s")
    print(f"  of which every switch port's name       : {t['lsp names']:8.3f} s")
    for name in ("own", "idl"):
        label = "own client (NbReplica)" if name == "own" else "ovs.db.idl"
        load = t[f"{name} load"]
        print(
            f"{label:24s} initial load: {load:8.3f} s  ratio to floor {load / t['floor']:5.2f}; "
            f"one ACL update seen after {t[f'{name} update'] * 1000:6.2f} ms (median)"
        )


if __name__ == "__main__":
    main()
