"""OVN Northbound ovsdb-servers for testing the enforcer's connection code: a standalone NB
listening on ``ptcp:``/``pssl:``/``punix:`` (stoppable and restartable on the same database
file), and a RAFT-clustered NB of several members on 127.0.0.1.

Every file (databases, pid files, logs, unixctl sockets) stays in the given directory.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from enforcer.ovsdb import NB_DB, SslFiles
from mnp_lab.ovn import (
    DEBIAN_PACKAGES,
    OVN_SCHEMA_DIR,
    OvnError,
    OvnMissingError,
    read_pid,
    require_binary,
    stop_pid,
)
from mnp_lab.processes import free_port

NB_SCHEMA = OVN_SCHEMA_DIR / "ovn-nb.ovsschema"
_START_TIMEOUT_S = 20.0


def _nb_schema() -> Path:
    if not NB_SCHEMA.exists():
        raise OvnMissingError(
            f"OVN schema {NB_SCHEMA} is missing: install the Debian packages {DEBIAN_PACKAGES}"
        )
    return NB_SCHEMA


def _run(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        why = proc.stderr.strip() or proc.stdout.strip()
        raise OvnError(f"{' '.join(argv[:4])} ... failed (exit {proc.returncode}): {why}")
    return proc.stdout


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class OvsdbDaemon:
    """One ``ovsdb-server`` process serving one database file, with its files named
    ``<dir>/<name>.{pid,log,ctl}``."""

    def __init__(self, dir: Path, name: str, db: Path, remote_args: list[str]) -> None:
        self.dir, self.name, self.db = dir, name, db
        self.remote_args = remote_args
        self.pidfile = dir / f"{name}.pid"
        self.logfile = dir / f"{name}.log"
        self.ctl = dir / f"{name}.ctl"

    @property
    def pid(self) -> int | None:
        pid = read_pid(self.pidfile)
        return pid if pid is not None and not _pid_gone(pid) else None

    def start(self) -> None:
        if self.pid is not None:
            raise OvnError(f"{self.name}: ovsdb-server already runs as pid {self.pid}")
        self.ctl.unlink(missing_ok=True)
        _run(
            [
                require_binary("ovsdb-server"),
                *self.remote_args,
                f"--unixctl={self.ctl}",
                f"--pidfile={self.pidfile}",
                f"--log-file={self.logfile}",
                "--detach",
                "--no-chdir",
                str(self.db),
            ]
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self.ctl.exists():
            if time.monotonic() > deadline:
                raise OvnError(f"{self.name}: ovsdb-server did not start; see {self.logfile}")
            time.sleep(0.005)

    def stop(self) -> None:
        """SIGTERM (then SIGKILL); the database file stays for a restart."""
        pid = self.pid
        if pid is not None:
            stop_pid(pid)
        self.pidfile.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL: a crash, as a member of a cluster may suffer."""
        pid = self.pid
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _pid_gone(pid) and time.monotonic() < deadline:
            time.sleep(0.005)
        self.pidfile.unlink(missing_ok=True)

    def appctl(self, *args: str) -> str:
        return _run([require_binary("ovs-appctl"), "-t", str(self.ctl), *args])


class StandaloneNb:
    """A standalone NB database served on one remote: ``tcp`` (``ptcp:PORT:127.0.0.1``),
    ``ssl`` (``pssl:``, with the server's key, certificate and CA) or ``unix``."""

    def __init__(self, dir: Path, method: str = "tcp", server_tls: SslFiles | None = None) -> None:
        if method not in ("tcp", "ssl", "unix"):
            raise ValueError(f"method must be tcp, ssl or unix, not {method!r}")
        if (method == "ssl") != (server_tls is not None):
            raise ValueError("server_tls is needed for ssl, and only for ssl")
        self.dir = Path(dir).resolve()
        self.method = method
        self.port = free_port() if method != "unix" else 0
        args: list[str]
        if method == "unix":
            args = [f"--remote=punix:{self.dir / 'nb.sock'}"]
        else:
            args = [f"--remote=p{method}:{self.port}:127.0.0.1"]
        if server_tls is not None:
            args += [
                f"--private-key={server_tls.private_key}",
                f"--certificate={server_tls.certificate}",
                f"--ca-cert={server_tls.ca_cert}",
            ]
        self.daemon = OvsdbDaemon(self.dir, "nb", self.dir / "nb.db", args)

    @property
    def remote(self) -> str:
        if self.method == "unix":
            return f"unix:{self.dir / 'nb.sock'}"
        return f"{self.method}:127.0.0.1:{self.port}"

    def start(self) -> StandaloneNb:
        """Create the database if it does not exist yet, then serve it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.daemon.db.exists():
            _run([require_binary("ovsdb-tool"), "create", str(self.daemon.db), str(_nb_schema())])
        self.daemon.start()
        return self

    def stop(self) -> None:
        self.daemon.stop()

    def __enter__(self) -> StandaloneNb:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class MemberStatus:
    """What ``cluster/status`` says about one member."""

    status: str  # "cluster member", "joining cluster", ...
    role: str  # leader | follower | candidate
    leader: str  # server id of the leader, "self", or "unknown"


_STATUS_LINE = re.compile(r"^(Status|Role|Leader): (.*)$", re.M)


class NbCluster:
    """A RAFT-clustered NB of ``size`` members on 127.0.0.1, each with its own client port
    (``ptcp:``) and RAFT port; member 0 creates the cluster, the others join it."""

    def __init__(self, dir: Path, size: int = 3) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one member")
        self.dir = Path(dir).resolve()
        self.client_ports = [free_port() for _ in range(size)]
        self.raft_ports = [free_port() for _ in range(size)]
        self.members = [
            OvsdbDaemon(
                self.dir,
                f"nb{i}",
                self.dir / f"nb{i}.db",
                [f"--remote=ptcp:{self.client_ports[i]}:127.0.0.1"],
            )
            for i in range(size)
        ]

    def remote_of(self, i: int) -> str:
        return f"tcp:127.0.0.1:{self.client_ports[i]}"

    @property
    def remotes(self) -> list[str]:
        return [self.remote_of(i) for i in range(len(self.members))]

    def _raft(self, i: int) -> str:
        return f"tcp:127.0.0.1:{self.raft_ports[i]}"

    def start(self) -> NbCluster:
        self.dir.mkdir(parents=True, exist_ok=True)
        tool = require_binary("ovsdb-tool")
        require_binary("ovs-appctl")
        for i, member in enumerate(self.members):
            member.db.unlink(missing_ok=True)
            if i == 0:
                _run([tool, "create-cluster", str(member.db), str(_nb_schema()), self._raft(0)])
            else:
                _run([tool, "join-cluster", str(member.db), NB_DB, self._raft(i), self._raft(0)])
        try:
            for member in self.members:
                member.start()
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def status(self, i: int) -> MemberStatus:
        text = self.members[i].appctl("cluster/status", NB_DB)
        fields = dict(_STATUS_LINE.findall(text))
        return MemberStatus(
            fields.get("Status", ""), fields.get("Role", ""), fields.get("Leader", "")
        )

    def leader(self) -> int | None:
        """The index of the running member that says it is the leader."""
        for i, member in enumerate(self.members):
            if member.pid is None:
                continue
            try:
                if self.status(i).role == "leader":
                    return i
            except OvnError:
                continue
        return None

    def wait_healthy(self, timeout: float = _START_TIMEOUT_S) -> int:
        """Wait until every running member is a cluster member and one leads; its index."""
        deadline = time.monotonic() + timeout
        last: dict[int, MemberStatus | str] = {}
        while time.monotonic() < deadline:
            last.clear()
            for i, member in enumerate(self.members):
                if member.pid is None:
                    continue
                try:
                    last[i] = self.status(i)
                except OvnError as e:
                    last[i] = str(e)
            settled = {
                i: s
                for i, s in last.items()
                if isinstance(s, MemberStatus)
                and s.status == "cluster member"
                and s.leader != "unknown"
            }
            leaders = [i for i, s in settled.items() if s.role == "leader"]
            if len(settled) == len(last) and len(leaders) == 1:
                return leaders[0]
            time.sleep(0.05)
        logs = ", ".join(str(m.logfile) for m in self.members)
        raise OvnError(f"the NB cluster did not settle within {timeout:.0f}s: {last}; see {logs}")

    def stop(self) -> None:
        for member in self.members:
            member.stop()

    def __enter__(self) -> NbCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
