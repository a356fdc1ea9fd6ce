"""List, then watch, one resource; relist on 410 Gone; back off on everything else.

The loop has kopf's ``continuous_watch`` shape: a full list (in pages) gives the store and
a resourceVersion; watches resume from the last resourceVersion seen (bookmarks included)
for as long as the server keeps it. 410 Gone, as an HTTP status or as an ERROR event,
means the server no longer has that history: list again and report the difference. Every
other failure (connection refused, TLS, 5xx, a read timeout, a stream closed at once)
waits a jittered, growing delay, reset by a healthy watch.

Logging is one line per state change (synced, failing with the reason, working again,
relisting after 410), never one per attempt, and no traceback for a network error.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import kubernetes.client
import urllib3

from kubewatch.hooks import WatchHooks
from kubewatch.resources import Resource
from kubewatch.settings import Backoff, WatchSettings
from kubewatch.store import Handlers, Store, object_key

T = TypeVar("T")

log = logging.getLogger("kubewatch")

ApiException: Any = kubernetes.client.exceptions.ApiException

_CHUNK_BYTES = 64 * 1024


class Expired(Exception):
    """410 Gone: the resourceVersion (or list continue token) is too old; list again."""


class WatchFailure(Exception):
    """A failure the server told us about in the stream, or a stream that ended at once."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


# Failures of the network or the server: back off and retry, log without a traceback.
_EXPECTED = (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError, WatchFailure)


def failure_reason(exc: BaseException) -> str:
    """A short label for a metric: ``http_503``, ``connection``, ``timeout``, ``decode``..."""
    if isinstance(exc, WatchFailure):
        return exc.reason
    if isinstance(exc, ApiException):
        return f"http_{exc.status}" if exc.status else "connection"
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return failure_reason(exc.reason)
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "connection"  # a subclass of ConnectTimeoutError, for urllib3's history
    if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, ValueError):
        return "decode"
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return "connection"
    return "handler"


def describe_failure(exc: BaseException) -> str:
    """One short line: the API server's Status message, or the socket's complaint."""
    if isinstance(exc, ApiException) and exc.status:
        try:
            message = json.loads(exc.body or "{}").get("message")
        except (ValueError, AttributeError):
            message = None
        return f"HTTP {exc.status} {exc.reason}" + (f": {message}" if message else "")
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return describe_failure(exc.reason)
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return str(exc).rsplit(": ", 1)[-1]  # "[Errno 111] Connection refused"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def json_lines(response: Any) -> Iterator[bytes]:
    """The non-empty lines of a streamed (chunked) watch response, however long."""
    buffer = bytearray()
    for data in response.stream(_CHUNK_BYTES, decode_content=True):
        buffer.extend(data)
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            if end > start:
                yield bytes(buffer[start:end])
            start = end + 1
        del buffer[:start]
    if buffer.strip():
        yield bytes(buffer)


class Watcher(Generic[T]):
    """One resource, listed and watched in a daemon thread, kept in ``store``.

    ``transform`` turns each API object (a dict, with ``kind`` and ``apiVersion`` filled
    in) into what the store keeps; it decides how much memory a cluster's objects cost.
    """

    def __init__(
        self,
        resource: Resource,
        transform: Callable[[dict[str, Any]], T],
        handlers: Handlers[T] | None = None,
        settings: WatchSettings | None = None,
        hooks: WatchHooks | None = None,
    ) -> None:
        self.resource = resource
        self.kind = resource.kind
        self.store: Store[T] = Store()
        self.synced = threading.Event()
        self._transform = transform
        self._handlers: Handlers[T] = handlers or Handlers()
        self._settings = settings or WatchSettings()
        self._hooks = hooks or WatchHooks()
        self._backoff = Backoff(self._settings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: Any = None
        self._failing = False
        self._expired_without_events = False  # a 410, then no event yet

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"kubewatch-{self.kind}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and close an open watch, so its thread ends now."""
        self._stop.set()
        response = self._response
        if response is not None:
            response.shutdown()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def run(self) -> None:
        """The loop; ``start`` runs it in a thread, a test may call it directly."""
        resource_version: str | None = None
        while not self._stop.is_set():
            try:
                if resource_version is None:
                    resource_version = self._list()
                resource_version = self._watch(resource_version)
            except Expired:
                if self._stop.is_set():
                    return
                self._hooks.error(self.kind, "expired")
                self._hooks.relist(self.kind)
                log.info("%s: watch expired (410 Gone); relisting", self.kind)
                resource_version = None
                if self._expired_without_events:  # 410 again, nothing in between: no spin
                    self._stop.wait(self._backoff.next_delay())
                self._expired_without_events = True
            except _EXPECTED as e:
                if self._stop.is_set():
                    return  # stop() closed the stream: not a failure
                self._failed(failure_reason(e), describe_failure(e))
            except Exception as e:  # a bug in a transform or handler: relist, never die
                if self._stop.is_set():
                    return
                self._failed("handler", describe_failure(e), exc_info=True)
                resource_version = None

    # --- list -------------------------------------------------------------------------
    def _list(self) -> str:
        """A full list in pages; swaps the store and reports the difference."""
        items: dict[str, T] = {}
        continue_token: str | None = None
        while True:
            self._hooks.list_attempt(self.kind)
            body = self._list_page(continue_token)
            for raw in body.get("items") or []:
                if isinstance(raw, dict) and (key := object_key(raw)) is not None:
                    items[key] = self._transform(self._typed(raw))
            meta = body.get("metadata") or {}
            continue_token = meta.get("continue") or None
            if continue_token is None:
                break
        resource_version = str(meta.get("resourceVersion") or "")
        self._recovered()
        self._backoff.reset()  # the server answers: the next failure starts afresh
        added, updated, deleted = self.store.replace(items)
        self._hooks.listed(self.kind)
        for key, value in added:
            self._handlers.added(key, value)
        for key, old, new in updated:
            self._handlers.updated(key, old, new)
        for key, value in deleted:
            self._handlers.deleted(key, value)
        if self.synced.is_set():
            log.info(
                "%s: relisted, %d objects (%d added, %d changed, %d deleted)",
                self.kind,
                len(items),
                len(added),
                len(updated),
                len(deleted),
            )
        else:
            log.info("%s: synced, %d objects", self.kind, len(items))
        self.synced.set()
        self._handlers.synced(len(items))
        return resource_version

    def _list_page(self, continue_token: str | None) -> dict[str, Any]:
        timeout = self._settings.request_timeout_s
        try:
            response = self.resource.list_call(
                limit=self._settings.list_page_size,
                _continue=continue_token,
                _preload_content=False,
                _request_timeout=(timeout, timeout),
            )
        except ApiException as e:
            if e.status == 410:  # the continue token expired: start over
                raise Expired from e
            raise
        try:
            body = json.loads(response.data)
        finally:
            response.release_conn()
        if not isinstance(body, dict):
            raise ValueError(f"a {self.kind} list that is not a JSON object")
        return body

    # --- watch ------------------------------------------------------------------------
    def _watch(self, resource_version: str) -> str:
        """One watch request; returns the resourceVersion to resume from."""
        self._hooks.watch_attempt(self.kind)
        settings = self._settings
        began = time.monotonic()
        try:
            response = self.resource.list_call(
                watch=True,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=settings.watch_timeout_s,
                _preload_content=False,
                _request_timeout=(settings.request_timeout_s, settings.watch_read_timeout_s),
            )
        except ApiException as e:
            if e.status == 410:
                raise Expired from e
            raise
        self._response = response
        events = 0
        try:
            self._recovered()
            if self._stop.is_set():
                return resource_version
            for line in json_lines(response):
                resource_version = self._on_event(json.loads(line), resource_version)
                if events == 0:
                    self._backoff.reset()  # the stream works: the next failure starts afresh
                    self._expired_without_events = False
                events += 1
        finally:
            self._response = None
            response.release_conn()
        # A stream the server ends at once, again and again, would be a tight loop.
        if events == 0 and time.monotonic() - began < settings.watch_timeout_s / 2:
            raise WatchFailure("closed", "the watch ended at once, with no events")
        self._backoff.reset()
        return resource_version

    def _on_event(self, event: Any, resource_version: str) -> str:
        if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
            raise ValueError(f"a {self.kind} watch line that is not an event")
        type_, obj = event.get("type"), event["object"]
        if type_ == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise Expired
            raise WatchFailure(f"http_{code}", f"HTTP {code}: {obj.get('message')}")
        self._hooks.event(self.kind, str(type_))
        meta = obj.get("metadata")
        new_version = meta.get("resourceVersion") if isinstance(meta, dict) else None
        if type_ in ("ADDED", "MODIFIED", "DELETED"):
            self._apply(str(type_), self._typed(obj))
        return str(new_version) if new_version else resource_version

    def _apply(self, type_: str, obj: dict[str, Any]) -> None:
        key = object_key(obj)
        if key is None:
            return
        if type_ == "DELETED":
            gone = self.store.pop(key)
            if gone is not None:
                self._handlers.deleted(key, gone)
            return
        value = self._transform(obj)
        old = self.store.put(key, value)
        if old is None:
            self._handlers.added(key, value)
        elif old != value:
            self._handlers.updated(key, old, value)

    # --- helpers ----------------------------------------------------------------------
    def _typed(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Core list items carry no ``kind``/``apiVersion``; give every object both."""
        if "kind" not in obj or "apiVersion" not in obj:
            obj = {**obj, "kind": self.kind, "apiVersion": self.resource.api_version}
        return obj

    def _failed(self, reason: str, detail: str, exc_info: bool = False) -> None:
        self._hooks.error(self.kind, reason)
        delay = self._backoff.next_delay()
        if not self._failing:
            self._failing = True
            log.warning(
                "%s: list/watch failing (%s); retrying with backoff up to %.0fs",
                self.kind,
                detail,
                self._settings.backoff_max_s,
                exc_info=exc_info,
            )
        else:
            log.debug("%s: still failing (%s); next try in %.1fs", self.kind, detail, delay)
        self._stop.wait(delay)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("%s: reconnected after %d failed attempts", self.kind, self._backoff.failures)
