"""Hold one Tradovate WebSocket session: connect, authorize, heartbeat, correlate, reconnect.

Three threads per session, none of which runs user code for long:

* the **supervisor** connects, waits for ``o``, authorizes, then reads frames. Responses
  resolve their request's ``Future`` right there; events are handed to a bounded queue. It
  also enforces request timeouts and the silence watchdog, and reconnects with capped
  exponential back-off and jitter.
* the **heartbeat** thread sends ``[]`` every ``heartbeat_s`` on its own timer, whatever
  arrives (reference §4.4: answering only ``h`` frames fails while data streams).
* the **dispatcher** thread runs ``on_ready`` after each authorization and ``on_message``
  for each event, so a slow handler never stalls the socket. If the queue stays full for
  ``handoff_timeout_s`` the session reconnects (the worker then resyncs) rather than drop
  events silently.

States: NEW → CONNECTING → AUTHORIZING → READY → (RECONNECTING → CONNECTING …) → STOPPED,
or FAILED when authorization keeps failing or the token source raises ``AuthError``: no
hot loop, the error is surfaced through ``on_state`` and ``wait_ready``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.adapters.tradovate.auth import SessionToken
from shared.adapters.tradovate.errors import SocketClosed
from shared.adapters.tradovate.frames import (
    HEARTBEAT,
    CloseFrame,
    DataFrame,
    Event,
    FrameError,
    OpenFrame,
    Response,
    encode_authorize,
    parse_frame,
)
from shared.adapters.tradovate.wsconn import Connector, WsConnection, connect_websocket_client
from shared.adapters.tradovate.wsrequests import PendingRequests, Query
from shared.adapters.tradovate.wstypes import SocketConfig, SocketHealth, SocketTokenSource
from shared.domain.errors import AuthError, BridgeError, TransientError

logger = logging.getLogger(__name__)


class SocketState(StrEnum):
    """Name the session's states."""

    NEW = "new"
    CONNECTING = "connecting"
    AUTHORIZING = "authorizing"
    READY = "ready"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    STOPPED = "stopped"


class _Ended(Exception):
    """The current connection ended; reconnect (not an error to surface)."""


class _AuthRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"authorize answered {status}: {detail}")


@dataclass(slots=True)
class _Counters:
    connects: int = 0
    auth_failures: int = 0
    heartbeats_sent: int = 0
    handler_errors: int = 0
    last_frame_at: float = field(default_factory=time.monotonic)
    ready_since: float | None = None


class TradovateSocket:
    """Keep one authorized Tradovate WebSocket open and offer requests and events on it."""

    def __init__(
        self,
        config: SocketConfig,
        tokens: SocketTokenSource,
        *,
        on_message: Callable[[Event], None],
        on_ready: Callable[[TradovateSocket], None] | None = None,
        on_state: Callable[[SocketState, BaseException | None], None] | None = None,
        connector: Connector | None = None,
    ) -> None:
        self.config = config
        self._tokens = tokens
        self._on_message = on_message
        self._on_ready = on_ready
        self._on_state = on_state
        self._connector = connector
        self._lock = threading.RLock()
        self._state = SocketState.NEW
        self._requests = PendingRequests(
            self._send,
            lambda: self._state is SocketState.READY,
            max_penalty_wait_s=config.max_penalty_wait_s,
            captcha_backoff_s=config.captcha_backoff_s,
        )
        self._conn: WsConnection | None = None
        self._token: SessionToken | None = None
        self._attempted: SessionToken | None = None
        self._shutdown_announced = False
        self._refresh_token = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._settled = threading.Event()
        self._queue: queue.Queue[Callable[[], None]] = queue.Queue(config.queue_size)
        self._threads: list[threading.Thread] = []
        self._counters = _Counters()

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def state(self) -> SocketState:
        """Return the current state."""
        return self._state

    @property
    def session_token(self) -> SessionToken | None:
        """Return the token the current connection was authorized with."""
        return self._token

    def start(self) -> None:
        """Start the session threads (returns at once; see ``wait_ready``)."""
        if self._threads:
            raise RuntimeError("a TradovateSocket starts once")
        for target, role in (
            (self._supervise, "supervisor"),
            (self._heartbeat_loop, "heartbeat"),
            (self._dispatch_loop, "dispatcher"),
        ):
            thread = threading.Thread(
                target=target, name=f"tradovate-{self.config.name}-{role}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait until authorized; raise the fatal error if the session failed."""
        deadline = time.monotonic() + timeout_s
        while not self._ready.is_set():
            if self._error is not None:
                raise self._error
            if self._settled.is_set() or time.monotonic() >= deadline:
                return False
            self._ready.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        return True

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the socket, fail pending requests and stop every thread."""
        self._stop.set()
        self._close_connection()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(lambda: None)  # wake the dispatcher now
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout_s)
        self._requests.fail_all(SocketClosed("the session was stopped"))

    def reconnect(self) -> None:
        """Drop the current connection; the supervisor reconnects (e.g. after a failed resync)."""
        self._close_connection()

    def health(self) -> SocketHealth:
        """Return a snapshot for health checks and metrics."""
        c = self._counters
        now = time.monotonic()
        return SocketHealth(
            state=self._state.value,
            connected=self._state is SocketState.READY,
            last_frame_age_s=now - c.last_frame_at,
            connects=c.connects,
            auth_failures=c.auth_failures,
            heartbeats_sent=c.heartbeats_sent,
            handler_errors=c.handler_errors,
            ready_for_s=None if c.ready_since is None else now - c.ready_since,
        )

    # --- requests -------------------------------------------------------------------------------

    def request(
        self,
        endpoint: str,
        *,
        query: Query = None,
        body: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> Future[Any]:
        """Send a request; the future resolves with ``d`` or fails with the mapped error."""
        if self._state is not SocketState.READY:
            future: Future[Any] = Future()
            future.set_exception(SocketClosed(f"{self.config.name} socket is not ready"))
            return future
        timeout = self.config.request_timeout_s if timeout_s is None else timeout_s
        return self._requests.submit(endpoint, query, body, timeout)

    def call(
        self,
        endpoint: str,
        *,
        query: Query = None,
        body: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Send a request and block for its answer (never call this on the supervisor thread)."""
        timeout = self.config.request_timeout_s if timeout_s is None else timeout_s
        future = self.request(endpoint, query=query, body=body, timeout_s=timeout)
        # The supervisor times the request out; the extra second only guards against a bug.
        return future.result(timeout + self.config.max_penalty_wait_s + 1.0)

    def _send(self, text: str) -> None:
        conn = self._conn
        if conn is None:
            raise SocketClosed(f"{self.config.name} socket is not connected")
        conn.send(text)

    # --- supervisor ---------------------------------------------------------------------------

    def _supervise(self) -> None:
        try:
            self._supervise_loop()
        except Exception as exc:
            # The thread's boundary: surface the bug through state and wait_ready, then raise.
            logger.exception(
                "tradovate socket supervisor crashed", extra={"socket": self.config.name}
            )
            self._fail(exc)
            raise

    def _supervise_loop(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self._set_state(SocketState.CONNECTING)
            try:
                self._session()
            except AuthError as exc:
                self._fail(exc)
                return
            except _AuthRefused as exc:
                if self._note_auth_failure(exc):
                    return
            except (_Ended, TransientError, OSError, FrameError) as exc:
                logger.warning(
                    "tradovate socket ended",
                    extra={"socket": self.config.name, "reason": str(exc)[:200]},
                )
            finally:
                self._teardown()
            attempt = self._next_attempt(attempt)
            if self._stop.is_set():
                break
            self._set_state(SocketState.RECONNECTING)
            self._stop.wait(self.config.backoff.delay(attempt))
        self._set_state(SocketState.STOPPED)
        self._settled.set()

    def _next_attempt(self, attempt: int) -> int:
        ready_since = self._counters.ready_since
        stable = ready_since is not None and (
            time.monotonic() - ready_since >= self.config.stable_after_s
        )
        self._counters.ready_since = None
        if self._shutdown_announced:
            self._shutdown_announced = False
            return 0
        # A connection that stayed up a while resets the back-off; a flapping one grows it.
        return 0 if stable else attempt + 1

    def _note_auth_failure(self, exc: _AuthRefused) -> bool:
        self._counters.auth_failures += 1
        self._refresh_token = True
        failures = self._counters.auth_failures
        logger.warning(
            "tradovate socket authorization refused",
            extra={"socket": self.config.name, "failures": failures},
        )
        if failures < self.config.max_auth_failures:
            return False
        self._fail(
            AuthError(
                f"{self.config.name} socket authorization failed {failures} times: {exc}",
                code="broker_ws_auth_failed",
            )
        )
        return True

    def _fail(self, exc: BaseException) -> None:
        logger.error(
            "tradovate socket stopped; it will not reconnect",
            extra={"socket": self.config.name, "alert": "tradovate_ws_failed", "error": str(exc)},
        )
        # State first: whoever sees the error (wait_ready raising it) also sees FAILED.
        self._set_state(SocketState.FAILED, exc)
        self._error = exc
        self._settled.set()

    def _session(self) -> None:
        token = self._next_token()
        connector = self._connector or connect_websocket_client
        conn = connector(self.config.url, self.config.connect_timeout_s)
        with self._lock:
            self._conn = conn
        self._counters.connects += 1
        self._counters.last_frame_at = time.monotonic()
        self._await_open(conn)
        self._set_state(SocketState.AUTHORIZING)
        self._authorize(conn, token)
        self._token = token
        self._refresh_token = False
        self._counters.auth_failures = 0
        self._counters.ready_since = time.monotonic()
        self._set_state(SocketState.READY)
        self._ready.set()
        if self._on_ready is not None:
            on_ready = self._on_ready
            self._hand_off(lambda: on_ready(self))
        while True:
            self._read_once(conn)

    def _next_token(self) -> SessionToken:
        refused = self._attempted
        if self._refresh_token and refused is not None:
            token = self._tokens.rejected(refused.access_token)
        else:
            token = self._tokens.current()
        self._attempted = token
        return token

    def _bearer(self, token: SessionToken) -> str:
        if self.config.use_md_token and token.md_access_token:
            return token.md_access_token
        return token.access_token

    def _await_open(self, conn: WsConnection) -> None:
        deadline = time.monotonic() + self.config.open_timeout_s
        while time.monotonic() < deadline and not self._stop.is_set():
            text = conn.recv()
            if text is None:
                continue
            self._counters.last_frame_at = time.monotonic()
            if isinstance(parse_frame(text), OpenFrame):
                return
        raise _Ended("no open frame")

    def _authorize(self, conn: WsConnection, token: SessionToken) -> None:
        request_id = self._requests.next_id()
        future = self._requests.expect(request_id, "authorize", self.config.authorize_timeout_s)
        conn.send(encode_authorize(request_id, self._bearer(token)))
        while not future.done():
            self._read_once(conn)
        try:
            future.result()
        except AuthError as exc:
            raise _AuthRefused(401, exc.message) from None
        except BridgeError as exc:
            if isinstance(exc, TransientError):
                raise
            raise _AuthRefused(400, exc.message) from None

    def _read_once(self, conn: WsConnection) -> None:
        if self._stop.is_set():
            raise _Ended("stopping")
        text = conn.recv()
        now = time.monotonic()
        self._requests.reap(now)
        if text is None:
            if now - self._counters.last_frame_at > self.config.silence_s:
                raise _Ended(f"no frame for {self.config.silence_s:.0f} s")
            return
        self._counters.last_frame_at = now
        frame = parse_frame(text)
        if isinstance(frame, CloseFrame):
            raise _Ended(f"server closed: {frame.code} {frame.reason}")
        if isinstance(frame, DataFrame):
            for message in frame.messages:
                self._route(message)

    def _route(self, message: Response | Event) -> None:
        if isinstance(message, Response):
            self._requests.resolve(message)
            return
        if message.kind == "shutdown":
            # A planned close: reconnect promptly afterwards rather than after a long back-off.
            self._shutdown_announced = True
            logger.warning(
                "tradovate announced a shutdown",
                extra={"socket": self.config.name, "detail": str(message.data)[:200]},
            )
        on_message = self._on_message
        self._hand_off(lambda: on_message(message))

    def _hand_off(self, job: Callable[[], None]) -> None:
        try:
            self._queue.put(job, timeout=self.config.handoff_timeout_s)
        except queue.Full:
            # Dropping an event would corrupt live state; reconnecting forces a clean resync.
            raise _Ended("event handlers fell behind; reconnecting to resync") from None

    def _teardown(self) -> None:
        self._ready.clear()
        self._close_connection()
        self._requests.fail_all(SocketClosed(f"{self.config.name} socket closed"))

    def _close_connection(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _set_state(self, state: SocketState, error: BaseException | None = None) -> None:
        if state is self._state:
            return
        self._state = state
        logger.info("tradovate socket state", extra={"socket": self.config.name, "state": state})
        if self._on_state is not None:
            self._on_state(state, error)

    # --- heartbeat and dispatcher ------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.config.heartbeat_s):
            if self._conn is None or self._state not in (
                SocketState.AUTHORIZING,
                SocketState.READY,
            ):
                continue
            try:
                self._send(HEARTBEAT)
                self._counters.heartbeats_sent += 1
            except (OSError, SocketClosed):
                continue  # the supervisor notices the broken socket and reconnects

    def _dispatch_loop(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                job = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                job()
            except Exception:
                # A handler bug must not kill event delivery for the process; count and log it.
                self._counters.handler_errors += 1
                logger.exception(
                    "tradovate event handler failed", extra={"socket": self.config.name}
                )


__all__ = [
    "SocketConfig",
    "SocketHealth",
    "SocketState",
    "SocketTokenSource",
    "TradovateSocket",
]
