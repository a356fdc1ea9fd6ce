"""A TCP proxy in front of the API server that counts connection attempts (no tests here).

Clients are pointed at the proxy (a kubeconfig whose ``server`` is the proxy's port; the
API server's certificate names 127.0.0.1, so TLS still verifies). Each accepted connection
is counted, whether or not the API server behind it answers: that is the number of
list/watch attempts a client made, counted on the wire rather than by the client itself.
When the upstream refuses (the API server is stopped), the client's connection is reset,
as a refused connection would be. ``cut()`` also closes every open tunnel, so watches
break now rather than when the server gets round to it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from mnp_lab.processes import free_port

_BUFFER = 65536


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a refused or broken connection looks to a client."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class CountingProxy:
    """127.0.0.1:``port`` -> 127.0.0.1:``upstream_port``; ``connections`` counts accepts."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._lock = threading.Lock()
        self._connections = 0
        self._open: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._closed = threading.Event()
        self._refusing = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def refuse(self) -> None:
        """From now on reset every connection at once (still counted), and cut open ones."""
        self._refusing.set()
        self.cut()

    def allow(self) -> None:
        self._refusing.clear()

    def cut(self) -> None:
        """Close every open tunnel (open watches break at once)."""
        with self._lock:
            sockets, self._open = set(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the pumps, which then close it

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut()
        self._thread.join(5)

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections += 1
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        if self._refusing.is_set():
            _reset(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._open.update((client, upstream))
        pump = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        pump.start()
        self._pump(client, upstream)
        pump.join()
        with self._lock:
            self._open.difference_update((client, upstream))
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.close()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(_BUFFER):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
