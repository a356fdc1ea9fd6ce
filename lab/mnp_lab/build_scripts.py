"""Running one of ``hack/``'s Go build scripts from Python: found or a clear error, asked for
its cache directory, and run with progress relayed as it comes (a cold build takes minutes on
2 cores) and, on failure, the tail of its output in the error."""

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


def require_script(script: Path, error: type[Exception]) -> Path:
    """``script``, or ``error`` saying the lab installation is incomplete."""
    if not script.is_file():
        raise error(
            f"{script} not found: the mnp-lab installation is incomplete; "
            "reinstall it with `pip install '.[lab]'` from the mnp repository"
        )
    return script


def print_bin_dir(script: Path, error: type[Exception]) -> Path:
    """The script's cache directory for its pinned versions (built or not)."""
    result = subprocess.run(
        ["bash", str(require_script(script, error)), "--print-bin-dir"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise error(f"{script} --print-bin-dir failed: {result.stderr.strip()}")
    return Path(result.stdout.strip())
