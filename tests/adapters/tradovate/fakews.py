"""An in-memory Tradovate WebSocket server behind the ``Connector`` seam, scripted per test."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.adapters.tradovate.auth import SessionToken
from shared.adapters.tradovate.wsconn import ConnectionClosed
from tests.adapters.tradovate.helpers import token

_CLOSED = object()
GOOD = "token-aaaaaaaaaaaaaaaa-0001"


@dataclass(frozen=True)
class ClientRequest:
    """One request frame the client sent."""

    endpoint: str
    request_id: int
    query: str
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def parse_request(text: str) -> ClientRequest:
    endpoint, request_id, query, body = ([*text.split("\n", 3), "", "", ""])[:4]
    return ClientRequest(endpoint, int(request_id), query, body)


def reply(request_id: int, status: int = 200, data: Any = None) -> str:
    message: dict[str, Any] = {"s": status, "i": request_id}
    if data is not None:
        message["d"] = data
    return "a" + json.dumps([message])


def event(kind: str, data: Any) -> str:
    return "a" + json.dumps([{"e": kind, "d": data}])


class FakeConnection:
    """One client connection: frames to the client queue up; frames from it are recorded."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.inbox: queue.Queue[object] = queue.Queue()
        self.sent: list[str] = []
        self.closed = False
        self.opened_at = time.monotonic()

    def push(self, text: str) -> None:
        self.inbox.put(text)

    def drop(self) -> None:
        self.inbox.put(_CLOSED)

    def send(self, text: str) -> None:
        if self.closed:
            raise ConnectionClosed("closed")
        self.sent.append(text)
        if text != "[]":
            self.server.handle(self, parse_request(text))

    def recv(self) -> str | None:
        try:
            item = self.inbox.get(timeout=0.02)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self.closed = True
            raise ConnectionClosed("closed by server")
        return str(item)

    def close(self) -> None:
        self.closed = True
        self.inbox.put(_CLOSED)

    def requests(self, endpoint: str | None = None) -> list[ClientRequest]:
        parsed = [parse_request(t) for t in self.sent if t != "[]"]
        return [r for r in parsed if endpoint is None or r.endpoint == endpoint]

    def heartbeats(self) -> int:
        return sum(1 for t in self.sent if t == "[]")


Handler = Callable[[FakeConnection, ClientRequest], None]


@dataclass
class FakeServer:
    """Accept connections, answer ``authorize`` for ``valid_tokens``, route other endpoints."""

    valid_tokens: set[str] = field(default_factory=lambda: {GOOD})
    send_open: bool = True
    refuse: int = 0
    handlers: dict[str, Handler] = field(default_factory=dict)
    connections: list[FakeConnection] = field(default_factory=list)
    attempts: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, url: str, timeout_s: float) -> FakeConnection:
        with self.lock:
            self.attempts.append(time.monotonic())
            if self.refuse > 0:
                self.refuse -= 1
                raise ConnectionClosed("connection refused")
            conn = FakeConnection(self)
            self.connections.append(conn)
        if self.send_open:
            conn.push("o")
        return conn

    def handle(self, conn: FakeConnection, request: ClientRequest) -> None:
        if request.endpoint == "authorize":
            token = request.body.strip('"')
            conn.push(
                reply(request.request_id)
                if token in self.valid_tokens
                else reply(request.request_id, 401, "Invalid access token")
            )
            return
        handler = self.handlers.get(request.endpoint)
        if handler is not None:
            handler(conn, request)

    @property
    def last(self) -> FakeConnection:
        return self.connections[-1]


def wait_until(condition: Callable[[], bool], timeout_s: float = 3.0) -> bool:
    """Poll ``condition`` until true or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class Tokens:
    """A blocking token source handing out ``values`` in order after each rejection."""

    def __init__(self, *values: str, error: Exception | None = None) -> None:
        self.values = list(values or (GOOD,))
        self.error = error
        self.refused: list[str] = []

    def current(self) -> SessionToken:
        if self.error is not None:
            raise self.error
        return token(self.values[0])

    def rejected(self, value: str) -> SessionToken:
        self.refused.append(value)
        if len(self.values) > 1:
            self.values.pop(0)
        return token(self.values[0])
