"""A private OVN (NB + SB ovsdb-server and ovn-northd) living in one directory.

Everything the daemons write (databases, sockets, pid files, logs) stays in that
directory, so several sandboxes can run side by side and tests clean up by
deleting a tmp dir after ``stop()``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

OVN_SCHEMA_DIR = Path("/usr/share/ovn")
DEBIAN_PACKAGES = "ovn-central ovn-common openvswitch-common"
REQUIRED_BINARIES = ("ovsdb-tool", "ovsdb-server", "ovn-northd", "ovn-nbctl")

# Generous ceilings for polling; startup normally takes a few tens of milliseconds.
_START_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 10.0


class OvnError(RuntimeError):
    """An OVN tool failed or the sandbox is not in the expected state."""


class OvnMissingError(OvnError):
    """An OVN binary or schema is not installed."""


def require_binary(name: str) -> str:
    """Absolute path of an OVN/OVS tool, or a clear error naming the packages to install."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise OvnMissingError(
            f"{name} not found on PATH: install the Debian packages {DEBIAN_PACKAGES} "
            f"(apt-get install {DEBIAN_PACKAGES})"
        )
    return found


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def read_pid(pidfile: Path) -> int | None:
    try:
        text = pidfile.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def stop_pid(pid: int, timeout: float = _STOP_TIMEOUT_S) -> None:
    """SIGTERM, wait, then SIGKILL. Silent when the process is already gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.01)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


class OvnSandbox:
    """NB and SB databases plus ovn-northd, all in ``dir``.

    Use as a context manager, or ``start()``/``stop()``; ``OvnSandbox.attach(dir)``
    re-opens one that another process started.
    """

    DAEMONS = ("nb", "sb", "northd")

    def __init__(self, dir: Path) -> None:
        self.dir = Path(dir).resolve()

    # --- paths -----------------------------------------------------------------
    def _p(self, name: str) -> Path:
        return self.dir / name

    @property
    def nb_remote(self) -> str:
        return f"unix:{self._p('nb.sock')}"

    @property
    def sb_remote(self) -> str:
        return f"unix:{self._p('sb.sock')}"

    def pidfile(self, daemon: str) -> Path:
        return self._p(f"{daemon}.pid")

    def logfile(self, daemon: str) -> Path:
        return self._p(f"{daemon}.log")

    def ctl_socket(self, daemon: str) -> Path:
        return self._p(f"{daemon}.ctl")

    def env(self) -> dict[str, str]:
        """Environment for OVN tools: keep their run/log/db dirs inside the sandbox."""
        env = dict(os.environ)
        for var in (
            "OVS_RUNDIR",
            "OVN_RUNDIR",
            "OVS_LOGDIR",
            "OVN_LOGDIR",
            "OVS_DBDIR",
            "OVN_DBDIR",
        ):
            env[var] = str(self.dir)
        return env

    # --- lifecycle ---------------------------------------------------------------
    def pids(self) -> dict[str, int]:
        """The recorded daemon pids that are still alive."""
        out: dict[str, int] = {}
        for d in self.DAEMONS:
            pid = read_pid(self.pidfile(d))
            if pid is not None and pid_alive(pid):
                out[d] = pid
        return out

    def is_running(self) -> bool:
        return len(self.pids()) == len(self.DAEMONS)

    def start(self) -> OvnSandbox:
        """Create fresh NB/SB databases and start the three daemons."""
        for b in REQUIRED_BINARIES:
            require_binary(b)
        schemas = {db: OVN_SCHEMA_DIR / f"ovn-{db}.ovsschema" for db in ("nb", "sb")}
        for path in schemas.values():
            if not path.exists():
                raise OvnMissingError(
                    f"OVN schema {path} is missing: install the Debian packages {DEBIAN_PACKAGES}"
                )
        if self.pids():
            raise OvnError(
                f"an OVN sandbox is already running in {self.dir} "
                f"(pids {self.pids()}); stop it first or use OvnSandbox.attach()"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        for db, schema in schemas.items():
            for stale in (f"{db}.db", f".{db}.db.~lock~", f"{db}.sock", f"{db}.ctl"):
                self._p(stale).unlink(missing_ok=True)
            self._run(
                [require_binary("ovsdb-tool"), "create", str(self._p(f"{db}.db")), str(schema)]
            )
        try:
            for db in ("nb", "sb"):
                self._run(
                    [
                        require_binary("ovsdb-server"),
                        f"--remote=punix:{self._p(f'{db}.sock')}",
                        f"--unixctl={self.ctl_socket(db)}",
                        f"--pidfile={self.pidfile(db)}",
                        f"--log-file={self.logfile(db)}",
                        "--detach",
                        "--no-chdir",
                        str(self._p(f"{db}.db")),
                    ]
                )
            self._wait_for_socket(self._p("nb.sock"))
            self._wait_for_socket(self._p("sb.sock"))
            self._p("northd.ctl").unlink(missing_ok=True)
            self._run(
                [
                    require_binary("ovn-northd"),
                    f"--ovnnb-db={self.nb_remote}",
                    f"--ovnsb-db={self.sb_remote}",
                    f"--unixctl={self.ctl_socket('northd')}",
                    f"--pidfile={self.pidfile('northd')}",
                    f"--log-file={self.logfile('northd')}",
                    "--detach",
                    "--no-chdir",
                ]
            )
            self._wait_for_socket(self.ctl_socket("northd"))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the daemons by pid (northd first). Safe to call twice."""
        for d in reversed(self.DAEMONS):
            pid = read_pid(self.pidfile(d))
            if pid is not None:
                stop_pid(pid)
                self.pidfile(d).unlink(missing_ok=True)

    @classmethod
    def attach(cls, dir: Path) -> OvnSandbox:
        """Re-open a sandbox started earlier (maybe by another process) in ``dir``."""
        sandbox = cls(dir)
        alive = sandbox.pids()
        missing = [d for d in cls.DAEMONS if d not in alive]
        if missing:
            raise OvnError(
                f"no running OVN sandbox in {sandbox.dir}: {', '.join(missing)} not running "
                f"(see the .pid and .log files there); start one with `mnp lab up --dir {dir}`"
            )
        return sandbox

    def __enter__(self) -> OvnSandbox:
        if not self.is_running():
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- tools -------------------------------------------------------------------
    def nbctl(self, *args: str, stdin: str | None = None) -> str:
        """Run ``ovn-nbctl --db=<nb> ARGS``; return stdout, raise OvnError with stderr."""
        return self._run([require_binary("ovn-nbctl"), f"--db={self.nb_remote}", *args], stdin)

    def sbctl(self, *args: str) -> str:
        return self._run([require_binary("ovn-sbctl"), f"--db={self.sb_remote}", *args])

    def sync(self) -> None:
        """Wait until ovn-northd has compiled the current NB contents into the SB."""
        self.nbctl("--timeout=30", "--wait=sb", "sync")

    def _run(self, argv: list[str], stdin: str | None = None) -> str:
        try:
            proc = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                text=True,
                env=self.env(),
                check=False,
            )
        except FileNotFoundError as e:
            raise OvnMissingError(
                f"{argv[0]} not found: install the Debian packages {DEBIAN_PACKAGES}"
            ) from e
        if proc.returncode != 0:
            shown = " ".join(argv[:6]) + (" ..." if len(argv) > 6 else "")
            why = proc.stderr.strip() or proc.stdout.strip()
            raise OvnError(f"{shown} failed (exit {proc.returncode}): {why}")
        return proc.stdout

    def _wait_for_socket(self, path: Path) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not path.exists():
            if time.monotonic() > deadline:
                logs = ", ".join(str(self.logfile(d)) for d in self.DAEMONS)
                raise OvnError(f"{path} did not appear within {_START_TIMEOUT_S:.0f}s; see {logs}")
            time.sleep(0.005)
