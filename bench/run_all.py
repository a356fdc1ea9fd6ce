"""Run every benchmark and write BENCHMARKS.md: ratios to floors measured in the same run.

.venv/bin/python bench/run_all.py [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = [
    ("Webhook: admission over TLS (wrk)", ["bench/bench_webhook.py"]),
    ("Enforcer: compile, diff and one OVSDB transaction", ["bench/bench_enforcer.py"]),
    ("NB replica: `ovs.db.idl` or the project's own client", ["bench/bench_nb_client.py"]),
]

INTRO = """\
# Benchmarks

Produced by `make bench` (`bench/run_all.py`). Every figure that matters is a ratio to a
floor measured in the same run on the same machine, because absolute numbers on these shared
2-core machines move from run to run:

- **Webhook floor**: the same FastAPI app on the same uvicorn, TLS and worker, answering a
  canned `allowed: true` after parsing the AdmissionReview (`/bench/floor`).
- **Enforcer floor**: one raw JSON-RPC `transact` to the same `ovsdb-server`, inserting the same
  number of rows that the enforcer's first reconcile writes.

Where the time goes (from profiles, see the commit history): on `/validate`, the validation
itself in pure Python; on `/mutate`, `jsonpatch.make_patch` (kept, as controller-runtime diffs
that way, but fed only the subtrees defaulting changed); in the enforcer, a full compile of the
snapshot on every change (the diff then writes only the rows that changed) and ovsdb-server's
own commit of the transaction.
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    sections = [INTRO]
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections.append(
        f"Run: {stamp}, {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs.\n"
    )
    failed = False
    for title, cmd in BENCHES:
        print(f">> {title}", flush=True)
        proc = subprocess.run(
            [sys.executable, *cmd], cwd=ROOT, capture_output=True, text=True, check=False
        )
        print(proc.stdout, end="")
        if proc.returncode != 0:
            failed = True
            print(proc.stderr, file=sys.stderr)
        sections.append(f"## {title}\n\n`python {' '.join(cmd)}`\n\n{proc.stdout.strip()}\n")
    Path(args.out).write_text("\n".join(sections))
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
