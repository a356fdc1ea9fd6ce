"""Project a Secret into a directory the way the kubelet does for a secret volume.

The kubelet's atomic writer puts every key of the Secret into a fresh timestamped directory
``..<timestamp>``, points a ``..data`` symlink at it by renaming a temporary symlink over the
old one (one atomic step, so a reader never sees half a rotation), and exposes each key as a
symlink ``<key> -> ..data/<key>``. Then it removes the old timestamped directory. The
webhook's certificate reload relies on exactly this, so sandboxes and tests that serve the
webhook from a cert-manager Secret project it with :class:`SecretProjector`.

The kubelet also lags: it notices a changed Secret on its next sync, up to a minute or more
later. ``delay`` mimics that lag, so a rotation is seen by the API server (through the
caBundle) before it reaches the webhook's files, as in a cluster.

``mnp lab secret-projector`` (``main``) runs one as a lab process: ``mnp lab up --kube
--cert-manager`` starts it for the webhook's certificate directory and ``mnp lab down`` stops it.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

DATA_LINK = "..data"
_DATA_LINK_TMP = "..data_tmp"

SecretReader = Callable[[], Mapping[str, bytes] | None]
"""Returns the Secret's decoded data, or None while it does not exist (yet)."""


def kubernetes_secret_reader(api_client: Any, namespace: str, name: str) -> SecretReader:
    """A reader over an ``ApiClient`` (``kubewatch.api_client``): GET the Secret, decode it."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api_client)

    def read() -> Mapping[str, bytes] | None:
        try:
            secret = core.read_namespaced_secret(name, namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}

    return read


def _timestamped_dir_name() -> str:
    # The kubelet's layout: ..2006_01_02_15_04_05.<random suffix>, unique per write.
    stamp = datetime.now(UTC).strftime("%Y_%m_%d_%H_%M_%S")
    return f"..{stamp}.{secrets.token_hex(5)}"


def project(directory: Path, data: Mapping[str, bytes]) -> None:
    """Write ``data`` into ``directory`` as one atomic update, as the kubelet does."""
    directory.mkdir(parents=True, exist_ok=True)
    data_link = directory / DATA_LINK
    old_target = os.readlink(data_link) if data_link.is_symlink() else None
    old_keys = set(os.listdir(directory / old_target)) if old_target else set()

    # 1. A fresh timestamped directory holding every key (files 0644 in the kubelet).
    new_dir = directory / _timestamped_dir_name()
    new_dir.mkdir(mode=0o755)
    for key, value in data.items():
        (new_dir / key).write_bytes(value)
        (new_dir / key).chmod(0o644)
    # 2. Swap ..data: a temporary symlink renamed over the old one (rename is atomic).
    tmp_link = directory / _DATA_LINK_TMP
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(new_dir.name)
    tmp_link.rename(data_link)
    # 3. User-visible symlinks <key> -> ..data/<key>; the ones for removed keys go.
    for key in data:
        visible = directory / key
        if not visible.is_symlink():
            visible.symlink_to(f"{DATA_LINK}/{key}")
    for key in old_keys - set(data):
        (directory / key).unlink(missing_ok=True)
    # 4. The previous timestamped directory is no longer reachable.
    if old_target:
        shutil.rmtree(directory / old_target, ignore_errors=True)


class SecretProjector:
    """Polls a Secret and projects each new version into ``directory`` after ``delay``.

    ``start()`` runs the loop in a daemon thread; ``stop()`` ends it. ``versions`` counts the
    projections written, and ``projected`` is the data of the latest one.
    """

    def __init__(
        self,
        read_secret: SecretReader,
        directory: Path,
        *,
        poll_interval: float = 0.5,
        delay: float = 0.0,
    ) -> None:
        self.read_secret = read_secret
        self.directory = Path(directory)
        self.poll_interval = poll_interval
        self.delay = delay
        self.versions = 0
        self.projected: dict[str, bytes] | None = None
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sync_once(self) -> bool:
        """Read the Secret; project it if it changed (after the delay). True if written."""
        data = self.read_secret()
        if data is None or dict(data) == self.projected:
            return False
        if self.delay and self._stop.wait(self.delay):
            return False
        project(self.directory, data)
        self.projected = dict(data)
        self.versions += 1
        log.info("projected version %d of the Secret into %s", self.versions, self.directory)
        return True

    @property
    def stop_requested(self) -> threading.Event:
        """Set by ``stop()``, or by a signal handler that wants the loop to end."""
        return self._stop

    def start(self) -> SecretProjector:
        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.sync_once()
                except Exception as e:  # the API server may be briefly away; keep polling
                    self.last_error = repr(e)
                    log.warning("cannot project the Secret into %s: %r", self.directory, e)
                self._stop.wait(self.poll_interval)

        self._thread = threading.Thread(target=run, name="secret-projector", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def wait_projected(self, versions: int, timeout: float = 120.0) -> dict[str, bytes]:
        """Block until at least ``versions`` projections were written; return the latest.

        The timeout is a ceiling for a busy machine, not an expectation.
        """
        deadline = time.monotonic() + timeout
        while self.versions < versions or self.projected is None:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Secret projected {self.versions} times into {self.directory}, "
                    f"not {versions}; last error: {self.last_error or 'none'}"
                )
            time.sleep(0.1)
        return self.projected


def main(argv: list[str]) -> int:
    """``mnp lab secret-projector``: project one Secret until SIGTERM (what a kubelet does for
    a pod's secret volume, in a lab that has no kubelet)."""
    parser = argparse.ArgumentParser(
        prog="mnp lab secret-projector",
        description="Project a Secret into a directory the way the kubelet does (..data swap).",
    )
    parser.add_argument("--kubeconfig", required=True, type=Path)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--name", required=True, help="the Secret")
    parser.add_argument("--dir", required=True, type=Path, help="where to project it")
    parser.add_argument("--poll-interval", type=float, default=0.5, help="seconds")
    parser.add_argument("--delay", type=float, default=0.0, help="the kubelet's lag, seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from kubewatch import api_client

    try:
        client = api_client(args.kubeconfig)
    except Exception as e:  # ConfigException or OSError: say which file, not a traceback
        print(f"mnp lab secret-projector: cannot read {args.kubeconfig}: {e}", file=sys.stderr)
        return 2
    reader = kubernetes_secret_reader(client, args.namespace, args.name)
    projector = SecretProjector(
        reader, args.dir, poll_interval=args.poll_interval, delay=args.delay
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        projector.stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    projector.start()
    while not projector.stop_requested.wait(1.0):
        pass
    projector.stop()
    return 0
