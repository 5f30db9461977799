"""The WebSocket session against an in-memory server: framing, timers, correlation, recovery."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared.adapters.tradovate.backoff import Backoff
from shared.adapters.tradovate.errors import (
    BrokerNotFound,
    CaptchaRequired,
    RateLimited,
    SocketClosed,
    TokenRejected,
)
from shared.adapters.tradovate.frames import Event
from shared.adapters.tradovate.ws import SocketState, TradovateSocket
from shared.adapters.tradovate.wstypes import BlockingTokenSource, SocketConfig
from shared.domain.errors import AuthError, TransientBrokerError
from tests.adapters.tradovate.fakews import (
    GOOD,
    ClientRequest,
    FakeConnection,
    FakeServer,
    Tokens,
    event,
    reply,
    wait_until,
)
from tests.adapters.tradovate.helpers import FakeTokens


def _config(**overrides: Any) -> SocketConfig:
    values: dict[str, Any] = {
        "url": "ws://127.0.0.1:1/v1/websocket",
        "heartbeat_s": 0.05,
        "silence_s": 1.0,
        "open_timeout_s": 1.0,
        "authorize_timeout_s": 1.0,
        "request_timeout_s": 1.0,
        "backoff": Backoff(base_s=0.02, cap_s=0.2, rng=lambda: 1.0),
        "stable_after_s": 60.0,
    }
    values.update(overrides)
    return SocketConfig(**values)


class Harness:
    """Run one socket against one fake server and record what reaches the handlers."""

    def __init__(self, server: FakeServer, tokens: Tokens | None = None, **config: Any) -> None:
        self.server = server
        self.tokens = tokens or Tokens()
        self.events: list[Event] = []
        self.states: list[SocketState] = []
        self.ready_calls = 0
        self.socket = TradovateSocket(
            _config(**config),
            self.tokens,
            on_message=self.events.append,
            on_ready=self._ready,
            on_state=lambda state, error: self.states.append(state),
            connector=server,
        )

    def _ready(self, socket: TradovateSocket) -> None:
        self.ready_calls += 1


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def harness(server: FakeServer) -> Iterator[Harness]:
    made = Harness(server)
    made.socket.start()
    assert made.socket.wait_ready(3.0)
    yield made
    made.socket.stop()


def test_socket_with_open_frame_authorizes_with_raw_token_and_becomes_ready(
    harness: Harness, server: FakeServer
) -> None:
    assert server.last.sent[0] == f"authorize\n1\n\n{GOOD}"
    assert harness.socket.state is SocketState.READY
    assert harness.states[:3] == [
        SocketState.CONNECTING,
        SocketState.AUTHORIZING,
        SocketState.READY,
    ]
    assert wait_until(lambda: harness.ready_calls == 1)


def test_socket_with_streaming_server_sends_heartbeats_on_its_own_timer(
    harness: Harness, server: FakeServer
) -> None:
    conn = server.last
    before = conn.heartbeats()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # a busy stream: no 'h' frames, data every 10 ms
        conn.push(event("md", {"quotes": []}))
        time.sleep(0.01)
    sent = conn.heartbeats() - before
    # Every 50 ms regardless of incoming frames: about 20 in the second. The band is wide so
    # a loaded machine that starves the timer thread for a while still passes; a socket that
    # only answered server frames would send none.
    assert 5 <= sent <= 30


def test_socket_with_batched_frame_dispatches_every_message_in_order(
    harness: Harness, server: FakeServer
) -> None:
    future = harness.socket.request("order/list")
    request_id = server.last.requests("order/list")[0].request_id
    server.last.push(
        "a["
        '{"e":"props","d":{"entityType":"order","eventType":"Created","entity":{"id":1}}},'
        f'{{"s":200,"i":{request_id},"d":[{{"id":1}}]}},'
        '{"e":"props","d":{"entityType":"order","eventType":"Updated","entity":{"id":1}}}'
        "]"
    )
    assert future.result(1.0) == [{"id": 1}]
    assert wait_until(lambda: len(harness.events) == 2)
    assert [e.data["eventType"] for e in harness.events] == ["Created", "Updated"]


def test_socket_with_out_of_order_answers_resolves_each_request_by_id(
    harness: Harness, server: FakeServer
) -> None:
    first = harness.socket.request("position/list")
    second = harness.socket.request("fill/list", query={"masterid": 5})
    (a,) = server.last.requests("position/list")
    (b,) = server.last.requests("fill/list")
    assert b.query == "masterid=5"
    server.last.push(reply(b.request_id, 200, ["fills"]))
    server.last.push(reply(a.request_id, 200, ["positions"]))
    assert first.result(1.0) == ["positions"]
    assert second.result(1.0) == ["fills"]


def test_socket_with_unanswered_request_times_out_as_transient(harness: Harness) -> None:
    started = time.monotonic()
    future = harness.socket.request("order/list", timeout_s=0.2)
    with pytest.raises(TransientBrokerError) as info:
        future.result(2.0)
    assert info.value.code == "broker_ws_timeout"
    assert 0.15 < time.monotonic() - started < 1.9  # timed out by its own 0.2 s, not the wait


@pytest.mark.parametrize(
    ("status", "data", "error"),
    [
        (404, "Not found", BrokerNotFound),
        (429, None, RateLimited),
        (401, "Access is denied", TokenRejected),
    ],
)
def test_socket_with_error_status_fails_the_request_with_the_mapped_error(
    harness: Harness, server: FakeServer, status: int, data: Any, error: type[Exception]
) -> None:
    future = harness.socket.request("contract/find", query={"name": "X"})
    (request,) = server.last.requests("contract/find")
    server.last.push(reply(request.request_id, status, data))
    with pytest.raises(error):
        future.result(1.0)


def test_socket_with_p_ticket_resends_same_body_plus_ticket_after_p_time(
    harness: Harness, server: FakeServer
) -> None:
    future = harness.socket.request("md/getchart", body={"symbol": "NQZ4"})
    (first,) = server.last.requests("md/getchart")
    server.last.push(reply(first.request_id, 200, {"p-ticket": "tk", "p-time": 0.1}))
    assert wait_until(lambda: len(server.last.requests("md/getchart")) == 2)
    second = server.last.requests("md/getchart")[1]
    assert second.request_id != first.request_id
    assert second.json() == {"symbol": "NQZ4", "p-ticket": "tk"}
    server.last.push(reply(second.request_id, 200, {"ok": True}))
    assert future.result(1.0) == {"ok": True}


def test_socket_with_p_captcha_fails_the_request_without_resending(
    harness: Harness, server: FakeServer
) -> None:
    future = harness.socket.request("md/getchart", body={"symbol": "NQZ4"})
    (first,) = server.last.requests("md/getchart")
    server.last.push(
        reply(first.request_id, 200, {"p-ticket": "t", "p-time": 1, "p-captcha": True})
    )
    with pytest.raises(CaptchaRequired):
        future.result(1.0)
    time.sleep(0.1)
    assert len(server.last.requests("md/getchart")) == 1


def test_socket_with_dropped_connection_fails_pending_and_reconnects_and_reauthorizes(
    harness: Harness, server: FakeServer
) -> None:
    pending = harness.socket.request("order/list")
    server.last.drop()
    with pytest.raises(SocketClosed):
        pending.result(1.0)
    assert wait_until(
        lambda: len(server.connections) == 2 and harness.socket.state is SocketState.READY
    )
    assert server.last.sent[0].startswith("authorize\n")
    assert wait_until(lambda: harness.ready_calls == 2)


def test_socket_with_shutdown_event_delivers_it_then_reconnects_after_close(
    harness: Harness, server: FakeServer
) -> None:
    server.last.push(event("shutdown", {"reasonCode": "Maintenance", "reason": "weekly"}))
    server.last.push('c[1000,"Server maintenance"]')
    assert wait_until(lambda: any(e.kind == "shutdown" for e in harness.events))
    assert wait_until(
        lambda: len(server.connections) == 2 and harness.socket.state is SocketState.READY
    )


def test_socket_with_silent_server_reconnects_after_the_watchdog_interval(
    server: FakeServer,
) -> None:
    harness = Harness(server, silence_s=0.3)
    harness.socket.start()
    try:
        assert harness.socket.wait_ready(2.0)
        started = time.monotonic()
        assert wait_until(lambda: len(server.connections) == 2, 2.0)
        assert 0.25 < time.monotonic() - started < 2.0
    finally:
        harness.socket.stop()


def test_socket_with_slow_handler_still_resolves_responses_promptly(server: FakeServer) -> None:
    gate = threading.Event()

    def slow(message: Event) -> None:
        gate.wait(2.0)

    socket = TradovateSocket(_config(), Tokens(), on_message=slow, connector=server)
    socket.start()
    try:
        assert socket.wait_ready(2.0)
        server.last.push(event("props", {"entityType": "x", "eventType": "Created", "entity": {}}))
        future = socket.request("order/list")
        (request,) = server.last.requests("order/list")
        started = time.monotonic()
        server.last.push(reply(request.request_id, 200, []))
        assert future.result(1.5) == []
        # Resolved while the handler is still blocked (it waits up to 2 s on the gate).
        assert not gate.is_set()
        assert time.monotonic() - started < 1.5
    finally:
        gate.set()
        socket.stop()


def test_socket_with_handlers_stuck_and_queue_full_reconnects_instead_of_dropping(
    server: FakeServer,
) -> None:
    gate = threading.Event()
    socket = TradovateSocket(
        _config(queue_size=2, handoff_timeout_s=0.05),
        Tokens(),
        on_message=lambda message: gate.wait(3.0),
        connector=server,
    )
    socket.start()
    try:
        assert socket.wait_ready(2.0)
        for _ in range(5):
            server.last.push(event("md", {"quotes": []}))
        assert wait_until(lambda: len(server.connections) == 2, 2.0)
    finally:
        gate.set()
        socket.stop()


def test_socket_with_refused_token_asks_for_a_new_one_then_fails_without_hot_loop(
    server: FakeServer,
) -> None:
    tokens = Tokens("revoked-token-xxxxxxxx-1", "revoked-token-xxxxxxxx-2")
    server.valid_tokens = set()
    harness = Harness(server, tokens, max_auth_failures=2)
    harness.socket.start()
    try:
        with pytest.raises(AuthError) as info:
            harness.socket.wait_ready(3.0)
        assert info.value.code == "broker_ws_auth_failed"
        assert harness.socket.state is SocketState.FAILED
        assert tokens.refused == ["revoked-token-xxxxxxxx-1"]
        time.sleep(0.3)
        assert len(server.connections) == 2  # stopped: no further attempts
    finally:
        harness.socket.stop()


def test_socket_with_revoked_token_recovers_with_the_replacement(server: FakeServer) -> None:
    tokens = Tokens("revoked-token-xxxxxxxx-1", GOOD)
    harness = Harness(server, tokens)
    harness.socket.start()
    try:
        assert harness.socket.wait_ready(3.0)
        assert harness.socket.session_token is not None
        assert harness.socket.session_token.access_token == GOOD
        assert len(server.connections) == 2
    finally:
        harness.socket.stop()


def test_socket_with_captcha_from_token_source_fails_at_once_without_connecting(
    server: FakeServer,
) -> None:
    tokens = Tokens(error=CaptchaRequired("captcha", retry_after_s=3600))
    harness = Harness(server, tokens)
    harness.socket.start()
    try:
        with pytest.raises(CaptchaRequired):
            harness.socket.wait_ready(2.0)
        assert server.connections == []
        assert harness.states[-1] is SocketState.FAILED
    finally:
        harness.socket.stop()


def test_socket_with_refused_connections_backs_off_exponentially(server: FakeServer) -> None:
    server.refuse = 3
    harness = Harness(server, backoff=Backoff(base_s=0.05, cap_s=1.0, rng=lambda: 1.0))
    harness.socket.start()
    try:
        assert harness.socket.wait_ready(3.0)
        gaps = [b - a for a, b in zip(server.attempts, server.attempts[1:], strict=False)]
        assert len(gaps) == 3
        assert gaps[0] == pytest.approx(0.1, abs=0.05)
        assert gaps[1] == pytest.approx(0.2, abs=0.05)
        assert gaps[2] == pytest.approx(0.4, abs=0.07)
    finally:
        harness.socket.stop()


def test_socket_with_no_open_frame_gives_up_and_retries(server: FakeServer) -> None:
    server.send_open = False
    harness = Harness(server, open_timeout_s=0.1)
    harness.socket.start()
    try:
        assert wait_until(lambda: len(server.connections) >= 2, 2.0)
        assert not harness.socket.wait_ready(0.05)
        assert all(c.requests("authorize") == [] for c in server.connections)
    finally:
        harness.socket.stop()


def test_socket_stop_fails_pending_and_ends_in_stopped(harness: Harness) -> None:
    pending = harness.socket.request("order/list")
    harness.socket.stop()
    with pytest.raises(SocketClosed):
        pending.result(1.0)
    assert harness.socket.state is SocketState.STOPPED
    assert harness.socket.request("order/list").exception() is not None


def test_socket_health_with_ready_socket_reports_connection_and_heartbeats(
    harness: Harness,
) -> None:
    assert wait_until(lambda: harness.socket.health().heartbeats_sent >= 2)
    health = harness.socket.health()
    assert health.connected
    assert health.connects == 1
    assert health.last_frame_age_s < 1.0


async def test_blocking_token_source_with_running_loop_fetches_from_a_thread() -> None:
    tokens = FakeTokens("loop-token-aaaaaaaaaaaaaa", "loop-token-bbbbbbbbbbbbbb")
    bridge = BlockingTokenSource(tokens, asyncio.get_running_loop(), timeout_s=2.0)
    current = await asyncio.to_thread(bridge.current)
    replaced = await asyncio.to_thread(bridge.rejected, current.access_token)
    assert current.access_token == "loop-token-aaaaaaaaaaaaaa"
    assert replaced.access_token == "loop-token-bbbbbbbbbbbbbb"


def test_fake_connection_records_requests(server: FakeServer) -> None:
    conn: FakeConnection = server("ws://x", 1.0)
    conn.send("order/list\n7\n\n")
    assert conn.requests() == [ClientRequest("order/list", 7, "", "")]


def test_socket_with_p_ticket_on_bodyless_request_resends_ticket_in_query(
    harness: Harness, server: FakeServer
) -> None:
    future = harness.socket.request("account/list", query="x=1")
    (first,) = server.last.requests("account/list")
    server.last.push(reply(first.request_id, 200, {"p-ticket": "tk", "p-time": 0.05}))
    assert wait_until(lambda: len(server.last.requests("account/list")) == 2)
    second = server.last.requests("account/list")[1]
    assert (second.query, second.body) == ("x=1&p-ticket=tk", "")
    server.last.push(reply(second.request_id, 200, []))
    assert future.result(1.0) == []


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_socket_with_crashing_token_source_fails_visibly_instead_of_dying_silently(
    server: FakeServer,
) -> None:
    harness = Harness(server, Tokens(error=RuntimeError("event loop is closed")))
    harness.socket.start()
    try:
        with pytest.raises(RuntimeError, match="event loop is closed"):
            harness.socket.wait_ready(2.0)
        assert harness.socket.state is SocketState.FAILED
    finally:
        harness.socket.stop()
