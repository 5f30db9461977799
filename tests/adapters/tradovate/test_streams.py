"""The worker-facing sessions: sync after every authorize, parsed changes, quote resubscription."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from shared.adapters.tradovate.backoff import Backoff
from shared.adapters.tradovate.streams import QuoteSession, UserSyncSession
from shared.adapters.tradovate.wstypes import SocketConfig
from shared.domain.broker import EntityChange, Position, Quote, ServerShutdown, SyncSnapshot
from tests.adapters.tradovate.fakews import (
    ClientRequest,
    FakeConnection,
    FakeServer,
    Tokens,
    event,
    reply,
    wait_until,
)
from tests.adapters.tradovate.helpers import fixture

CONFIG = SocketConfig(
    url="ws://127.0.0.1:1/v1/websocket",
    heartbeat_s=0.05,
    silence_s=1.0,
    backoff=Backoff(base_s=0.02, cap_s=0.1, rng=lambda: 1.0),
)


def _answer_sync(conn: FakeConnection, request: ClientRequest) -> None:
    conn.push(reply(request.request_id, 200, fixture("sync_response.json")))


def test_user_sync_with_connect_and_reconnect_syncs_each_time_then_streams_changes() -> None:
    server = FakeServer(handlers={"user/syncrequest": _answer_sync})
    snapshots: list[SyncSnapshot] = []
    changes: list[EntityChange] = []
    notices: list[ServerShutdown] = []
    session = UserSyncSession(
        CONFIG,
        Tokens(),
        on_snapshot=snapshots.append,
        on_change=changes.append,
        on_shutdown=notices.append,
        account_ids=(10001,),
        connector=server,
    )
    session.start()
    try:
        assert session.wait_synced(3.0)
        (request,) = server.last.requests("user/syncrequest")
        assert request.json() == {"users": [2390], "accounts": [10001]}
        server.last.push(fixture("props_frame.txt"))
        server.last.push(event("shutdown", {"reasonCode": "Maintenance"}))
        assert wait_until(lambda: len(changes) == 2 and len(notices) == 1)
        assert [c.entity_type for c in changes] == ["command", "orderVersion"]
        server.last.drop()
        assert wait_until(lambda: len(snapshots) == 2)
        assert session.syncs == 2
        assert isinstance(snapshots[1].positions[0], Position)
        assert session.health().connects == 2
    finally:
        session.stop()


def test_user_sync_with_failed_syncrequest_reconnects_instead_of_running_stale() -> None:
    calls = {"n": 0}

    def flaky(conn: FakeConnection, request: ClientRequest) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            conn.push(reply(request.request_id, 500, "Internal Server Error"))
        else:
            _answer_sync(conn, request)

    server = FakeServer(handlers={"user/syncrequest": flaky})
    snapshots: list[SyncSnapshot] = []
    session = UserSyncSession(
        CONFIG, Tokens(), on_snapshot=snapshots.append, on_change=lambda c: None, connector=server
    )
    session.start()
    try:
        assert wait_until(lambda: len(snapshots) == 1)
        assert len(server.connections) == 2
    finally:
        session.stop()


def test_quote_session_with_reconnect_resubscribes_every_symbol_and_parses_quotes() -> None:
    subscribed: list[Any] = []
    lock = threading.Lock()

    def subscribe(conn: FakeConnection, request: ClientRequest) -> None:
        with lock:
            subscribed.append(request.json()["symbol"])
        conn.push(reply(request.request_id))

    server = FakeServer(handlers={"md/subscribeQuote": subscribe, "md/unsubscribeQuote": subscribe})
    quotes: list[Quote] = []
    session = QuoteSession(
        CONFIG,
        Tokens(),
        on_quote=quotes.append,
        connector=server,
    )
    session.subscribe("NQZ4")  # before connecting: remembered, sent on connect
    session.start()
    try:
        assert session.wait_ready(3.0)
        assert wait_until(lambda: subscribed == ["NQZ4"])
        session.subscribe(3570918)
        assert subscribed == ["NQZ4", 3570918]
        server.last.push(event("md", fixture("md_quote_event.json")))
        assert wait_until(lambda: len(quotes) == 1)
        assert quotes[0].bid == Decimal("20880.25")
        server.last.drop()
        assert wait_until(lambda: len(subscribed) == 4)
        assert sorted(map(str, subscribed[2:])) == ["3570918", "NQZ4"]
        session.unsubscribe("NQZ4")
        assert session.symbols == frozenset({3570918})
    finally:
        session.stop()
