"""Serving certificate loading and hot reload.

cert-manager and the kubelet rotate certificates by rewriting files (the kubelet swaps a
``..data`` symlink). We poll the files, build a fresh ``SSLContext`` from what we read and
swap it in only when certificate and key load and match. Every TLS handshake starts on the
server context whose ``sni_callback`` points the connection at the current context, so new
handshakes see the new certificate while open connections keep theirs.
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from webhook.metrics import WebhookMetrics

log = logging.getLogger(__name__)


class CertificateError(Exception):
    """The certificate files cannot be turned into a serving context."""


@dataclass(frozen=True)
class CertificateFiles:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    @classmethod
    def from_dir(cls, cert_dir: Path, client_ca_file: Path | None = None) -> CertificateFiles:
        """cert-manager's secret layout: ``tls.crt`` and ``tls.key`` in one directory."""
        return cls(cert_dir / "tls.crt", cert_dir / "tls.key", client_ca_file)

    def read(self) -> tuple[bytes, bytes, bytes | None]:
        """The current bytes, read through symlinks (so a swapped ``..data`` link is seen)."""
        try:
            cert = self.cert_file.resolve().read_bytes()
            key = self.key_file.resolve().read_bytes()
            ca = self.client_ca_file.resolve().read_bytes() if self.client_ca_file else None
        except OSError as e:
            raise CertificateError(f"cannot read certificate files: {e}") from e
        return cert, key, ca


@dataclass(frozen=True)
class LoadedCertificate:
    context: ssl.SSLContext
    serial: int
    not_after: float  # unix time
    subject: str


def build_context(
    cert_pem: bytes, key_pem: bytes, client_ca_pem: bytes | None
) -> LoadedCertificate:
    """A TLS >= 1.2 server context from PEM bytes; raises CertificateError on any mismatch."""
    try:
        parsed = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as e:
        raise CertificateError(f"certificate is not valid PEM: {e}") from e
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # load_cert_chain only takes paths; load exactly the bytes we read (and hashed), so a
    # file rewritten between our read and the load cannot produce a mixed pair.
    with tempfile.TemporaryDirectory(prefix="mnp-tls-") as tmp:
        cert_path = os.path.join(tmp, "tls.crt")
        key_path = os.path.join(tmp, "tls.key")
        with open(cert_path, "wb") as f:
            f.write(cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        try:
            ctx.load_cert_chain(cert_path, key_path)  # checks that the key matches
        except (ssl.SSLError, OSError) as e:
            raise CertificateError(f"certificate and key do not load as a pair: {e}") from e
    if client_ca_pem is not None:
        try:
            ctx.load_verify_locations(cadata=client_ca_pem.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as e:
            raise CertificateError(f"client CA bundle does not load: {e}") from e
        ctx.verify_mode = ssl.CERT_REQUIRED
    return LoadedCertificate(
        context=ctx,
        serial=parsed.serial_number,
        not_after=parsed.not_valid_after_utc.timestamp(),
        subject=parsed.subject.rfc4514_string(),
    )


class CertificateReloader:
    """Owns the current serving context and replaces it when the files change."""

    def __init__(self, files: CertificateFiles, metrics: WebhookMetrics | None = None) -> None:
        self._files = files
        self._metrics = metrics
        self._lock = threading.Lock()
        self._current: LoadedCertificate | None = None
        self._seen: tuple[bytes, bytes, bytes | None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server_context: ssl.SSLContext | None = None
        self._last_error = ""

    @property
    def current(self) -> LoadedCertificate | None:
        return self._current

    @property
    def loaded(self) -> bool:
        return self._current is not None

    def load_initial(self) -> LoadedCertificate:
        """The first load; failing here is fatal, so the error names the files."""
        if not self.poll():
            raise CertificateError(
                f"cannot serve with certificate {self._files.cert_file} and key "
                f"{self._files.key_file}: {self._last_error}; fix the files and restart"
            )
        assert self._current is not None
        return self._current

    def poll(self) -> bool:
        """Load the files if they changed. True when a new certificate was swapped in."""
        try:
            contents = self._files.read()
        except CertificateError as e:
            self._last_error = str(e)
            # A rotation in progress can briefly remove files; keep serving the old pair.
            if self._seen is not None and self._seen != (b"", b"", None):
                log.warning("%s; keeping the current certificate", e)
                self._seen = (b"", b"", None)
                self._count_failure()
            return False
        if contents == self._seen:
            return False
        self._seen = contents
        try:
            loaded = build_context(*contents)
        except CertificateError as e:
            self._last_error = str(e)
            log.warning(
                "not loading certificate %s / key %s: %s; keeping the current certificate",
                self._files.cert_file,
                self._files.key_file,
                e,
            )
            self._count_failure()
            return False
        loaded.context.sni_callback = self._on_client_hello
        with self._lock:
            first = self._current is None
            self._current = loaded
        log.info(
            "%s certificate serial %x subject %s",
            "loaded" if first else "reloaded",
            loaded.serial,
            loaded.subject,
        )
        if self._metrics is not None:
            if not first:
                self._metrics.cert_reloads.inc()
            self._metrics.cert_expiry.set(loaded.not_after)
        return True

    def _count_failure(self) -> None:
        if self._metrics is not None:
            self._metrics.cert_reload_failures.inc()

    def _on_client_hello(
        self, conn: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, ctx: ssl.SSLContext
    ) -> None:
        # OpenSSL calls this for every ClientHello, with or without SNI: point the handshake
        # at the newest certificate. Connections already established keep their context.
        current = self._current
        if current is not None and current.context is not ctx:
            conn.context = current.context

    def server_context(self) -> ssl.SSLContext:
        """The context handed to the server; it forwards every handshake to the current one."""
        if self._server_context is None:
            if self._current is None:
                raise CertificateError("no certificate loaded yet")
            self._server_context = self._current.context
        return self._server_context

    def start(self, interval: float = 1.0) -> None:
        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.poll()
                except Exception:  # a reload bug must not kill the poller
                    log.exception("certificate poll failed")
                    self._count_failure()

        self._thread = threading.Thread(target=run, name="cert-reloader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
