"""Small helpers for the processes the lab starts: a free loopback port, a log's tail."""

from __future__ import annotations

import socket
from pathlib import Path

LOG_TAIL_CHARS = 4000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def log_tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    """The end of a process log, for error messages."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"
