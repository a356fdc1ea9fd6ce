"""Running one of ``hack/``'s Go build scripts from Python: progress relayed as it comes (a
cold build takes minutes on 2 cores), and on failure the tail of its output in the error."""

from __future__ import annotations

import collections
import subprocess
from pathlib import Path
from typing import TextIO

ERROR_TAIL_LINES = 40


def run_build_script(
    script: Path, what: str, error: type[Exception], progress: TextIO | None
) -> None:
    """Run ``bash script``; raise ``error`` naming ``what`` failed, with the output's tail."""
    tail: collections.deque[str] = collections.deque(maxlen=ERROR_TAIL_LINES)
    try:
        proc = subprocess.Popen(
            ["bash", str(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    except OSError as e:
        raise error(f"cannot run {script}: {e}") from e
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            tail.append(line.rstrip("\n"))
            if progress is not None:
                progress.write(line)
                progress.flush()
    returncode = proc.wait()
    if returncode != 0:
        output = "\n".join(tail)
        raise error(f"building {what} failed ({script} exited {returncode}):\n{output}")
