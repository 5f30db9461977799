"""Correlate WebSocket requests with their answers by id, with timeouts and p-ticket resends.

Each request gets a fresh integer id (unique per connection, reference §4.2) and a
``Future``. The reader thread resolves it from the ``{"i", "s", "d"}`` answer through the
same classifier REST uses: 2xx data, p-ticket (resent after ``p-time`` on a timer, never by
sleeping on the reader), 429 → ``RateLimited``, other statuses → the mapped error.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from shared.adapters.tradovate.classify import Ok, Penalty, Throttled, classify
from shared.adapters.tradovate.errors import CaptchaRequired, RateLimited, SocketClosed
from shared.adapters.tradovate.frames import Response, encode_request
from shared.domain.errors import BridgeError, TransientBrokerError

Query = str | Mapping[str, str | int] | None
_MAX_PENALTIES = 3


def _with_ticket(query: Query, ticket: str) -> Query:
    if query is None or isinstance(query, Mapping):
        return {**(query or {}), "p-ticket": ticket}
    extra = urlencode({"p-ticket": ticket})
    return f"{query}&{extra}" if query else extra


@dataclass(slots=True)
class _Pending:
    future: Future[Any]
    endpoint: str
    query: Query
    body: Mapping[str, Any] | None
    deadline: float
    penalties: int = 0


class PendingRequests:
    """Own the in-flight requests of one socket session."""

    def __init__(
        self,
        send: Callable[[str], None],
        is_ready: Callable[[], bool],
        *,
        max_penalty_wait_s: float,
        captcha_backoff_s: float,
    ) -> None:
        self._send = send
        self._is_ready = is_ready
        self._max_penalty_wait_s = max_penalty_wait_s
        self._captcha_backoff_s = captcha_backoff_s
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        """Reserve a request id."""
        return next(self._ids)

    def expect(self, request_id: int, endpoint: str, timeout_s: float) -> Future[Any]:
        """Register a request the caller sends itself (``authorize``) and return its future."""
        future: Future[Any] = Future()
        with self._lock:
            self._pending[request_id] = _Pending(
                future, endpoint, None, None, time.monotonic() + timeout_s
            )
        return future

    def submit(
        self, endpoint: str, query: Query, body: Mapping[str, Any] | None, timeout_s: float
    ) -> Future[Any]:
        """Send a request and return the future its answer resolves."""
        future: Future[Any] = Future()
        self._submit(_Pending(future, endpoint, query, body, time.monotonic() + timeout_s))
        return future

    def _submit(self, pending: _Pending) -> None:
        request_id = self.next_id()
        text = encode_request(pending.endpoint, request_id, query=pending.query, body=pending.body)
        with self._lock:
            self._pending[request_id] = pending
        try:
            self._send(text)
        except (OSError, SocketClosed) as exc:
            with self._lock:
                self._pending.pop(request_id, None)
            pending.future.set_exception(SocketClosed(f"send failed: {type(exc).__name__}"))

    def resolve(self, response: Response) -> None:
        """Settle the request ``response`` answers (unknown ids are ignored)."""
        with self._lock:
            pending = self._pending.pop(response.request_id, None)
        if pending is None:
            return
        try:
            outcome = classify(response.status, response.data, endpoint=pending.endpoint)
        except BridgeError as exc:
            pending.future.set_exception(exc)
            return
        if isinstance(outcome, Ok):
            pending.future.set_result(outcome.data)
        elif isinstance(outcome, Throttled):
            pending.future.set_exception(
                RateLimited(f"Tradovate {pending.endpoint} answered {outcome.status}")
            )
        else:
            self._obey_penalty(pending, outcome)

    def _obey_penalty(self, pending: _Pending, penalty: Penalty) -> None:
        pending.penalties += 1
        if penalty.captcha:
            pending.future.set_exception(
                CaptchaRequired(
                    f"Tradovate {pending.endpoint} demands a captcha",
                    retry_after_s=self._captcha_backoff_s,
                )
            )
            return
        if pending.penalties > _MAX_PENALTIES or penalty.wait_s > self._max_penalty_wait_s:
            pending.future.set_exception(
                TransientBrokerError(
                    f"Tradovate {pending.endpoint} imposed a {penalty.wait_s:.0f} s penalty",
                    code="broker_penalty_wait",
                )
            )
            return
        # The identical request plus the ticket, after p-time (reference §2.4): in the body,
        # or in the query when there is no body, exactly as the REST client does.
        if pending.body is None:
            pending.query = _with_ticket(pending.query, penalty.ticket)
        else:
            pending.body = {**pending.body, "p-ticket": penalty.ticket}
        pending.deadline += penalty.wait_s
        timer = threading.Timer(penalty.wait_s, self._resend, args=(pending,))
        timer.daemon = True
        timer.start()

    def _resend(self, pending: _Pending) -> None:
        if not self._is_ready():
            pending.future.set_exception(SocketClosed("the socket closed during a time penalty"))
            return
        self._submit(pending)

    def reap(self, now: float) -> None:
        """Fail requests whose deadline passed."""
        with self._lock:
            expired = [rid for rid, p in self._pending.items() if p.deadline < now]
            timed_out = [self._pending.pop(rid) for rid in expired]
        for pending in timed_out:
            pending.future.set_exception(
                TransientBrokerError(
                    f"Tradovate {pending.endpoint} did not answer in time", code="broker_ws_timeout"
                )
            )

    def fail_all(self, exc: BaseException) -> None:
        """Fail every in-flight request (the connection closed)."""
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for item in pending:
            if not item.future.done():
                item.future.set_exception(exc)
