"""The WebSocket sessions against the simulator: real sockets, real faults, real recovery."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from local.tradovate_sim import SimulatorServer
from shared.adapters.tradovate.auth import SessionToken
from shared.adapters.tradovate.backoff import Backoff
from shared.adapters.tradovate.client import TradovateClient
from shared.adapters.tradovate.errors import RateLimited
from shared.adapters.tradovate.streams import QuoteSession, UserSyncSession
from shared.adapters.tradovate.ws import SocketState, TradovateSocket
from shared.adapters.tradovate.wstypes import BlockingTokenSource, SocketConfig
from shared.config import Settings
from shared.domain.broker import (
    EntityChange,
    Fill,
    Order,
    OrderRequest,
    OrderType,
    Quote,
    ServerShutdown,
    Side,
    SyncSnapshot,
)
from shared.domain.errors import AuthError, TransientBrokerError
from tests.integration.tradovate.conftest import front_month, requests

pytestmark = pytest.mark.integration


def _config(settings: Settings, *, market_data: bool = False, **overrides: object) -> SocketConfig:
    base = SocketConfig.from_settings(settings, market_data=market_data)
    fast = {"backoff": Backoff(base_s=0.05, cap_s=0.5), "heartbeat_s": 0.5, "silence_s": 5.0}
    return dataclasses.replace(base, **{**fast, **overrides})  # type: ignore[arg-type]


async def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


@dataclass
class Recorded:
    snapshots: list[SyncSnapshot] = field(default_factory=list)
    changes: list[EntityChange] = field(default_factory=list)
    notices: list[ServerShutdown] = field(default_factory=list)
    states: list[SocketState] = field(default_factory=list)


@pytest.fixture
async def user_sync(
    client: TradovateClient, sim_settings: Settings
) -> AsyncIterator[tuple[UserSyncSession, Recorded]]:
    recorded = Recorded()
    session = UserSyncSession(
        _config(sim_settings),
        BlockingTokenSource(client.tokens, asyncio.get_running_loop()),
        on_snapshot=recorded.snapshots.append,
        on_change=recorded.changes.append,
        on_shutdown=recorded.notices.append,
        on_state=lambda state, error: recorded.states.append(state),
    )
    session.start()
    assert await asyncio.to_thread(session.wait_synced, 5.0)
    yield session, recorded
    await asyncio.to_thread(session.stop)


async def test_user_sync_with_simulator_authorizes_syncs_and_heartbeats_keep_it_alive(
    user_sync: tuple[UserSyncSession, Recorded], tradovate_sim: SimulatorServer
) -> None:
    session, recorded = user_sync
    tradovate_sim.configure(heartbeat_timeout_s=1.5)  # the server cuts sockets silent for 1.5 s
    assert {a.id for a in recorded.snapshots[0].accounts} == {10001, 10002}
    await asyncio.sleep(2.5)
    assert session.health().connects == 1
    assert session.socket.state is SocketState.READY
    stats = tradovate_sim.stats()
    assert stats["heartbeats"] >= 4
    assert stats.get("faults", {}).get("heartbeat-timeout", 0) == 0
    assert requests(tradovate_sim, "authorize") == 1


async def test_user_sync_with_rest_order_streams_order_fill_and_position_changes(
    user_sync: tuple[UserSyncSession, Recorded], client: TradovateClient
) -> None:
    _, recorded = user_sync
    symbol = await front_month(client.rest, "ES")
    ack = await client.rest.place_order(
        OrderRequest(10001, symbol, Side.BUY, 1, OrderType.MARKET, "ws-stream-1")
    )
    assert await _until(lambda: any(c.entity_type == "position" for c in recorded.changes))
    orders = [c.entity for c in recorded.changes if isinstance(c.entity, Order)]
    fills = [c.entity for c in recorded.changes if isinstance(c.entity, Fill)]
    assert ack.order_id in {o.id for o in orders}
    assert [f.order_id for f in fills] == [ack.order_id]
    assert {c.entity_type for c in recorded.changes} >= {"order", "command", "fill", "position"}


async def test_socket_requests_with_simulator_answer_by_id_and_map_faults(
    user_sync: tuple[UserSyncSession, Recorded], tradovate_sim: SimulatorServer
) -> None:
    socket = user_sync[0].socket
    accounts = await asyncio.to_thread(socket.call, "account/list")
    assert [a["id"] for a in accounts] == [10001, 10002]
    tradovate_sim.inject(pticket_next=1, pticket_time_s=0.2, pticket_endpoint="account/list")
    assert len(await asyncio.to_thread(socket.call, "account/list")) == 2
    assert tradovate_sim.stats()["pticket_body_mismatches"] == 0
    tradovate_sim.inject(throttle_next=1, throttle_endpoint="position/list")
    with pytest.raises(RateLimited):
        await asyncio.to_thread(socket.call, "position/list")
    tradovate_sim.inject(fail_next=1, error_status=500, error_endpoint="fill/list")
    with pytest.raises(TransientBrokerError):
        await asyncio.to_thread(socket.call, "fill/list")


async def test_user_sync_with_dropped_socket_reconnects_and_resyncs_to_rest_state(
    user_sync: tuple[UserSyncSession, Recorded],
    tradovate_sim: SimulatorServer,
    client: TradovateClient,
) -> None:
    session, recorded = user_sync
    symbol = await front_month(client.rest, "NQ")
    tradovate_sim.drop_sockets(kind="trading")
    # An order placed while the socket is down reaches the worker through the resync.
    await client.rest.place_order(
        OrderRequest(10001, symbol, Side.SELL, 2, OrderType.MARKET, "ws-gap")
    )
    assert await _until(lambda: len(recorded.snapshots) == 2)
    rest_positions = {
        (p.account_id, p.contract_id): p.net_pos for p in await client.rest.positions()
    }
    synced = {(p.account_id, p.contract_id): p.net_pos for p in recorded.snapshots[-1].positions}
    assert synced == rest_positions
    assert session.health().connects == 2


async def test_user_sync_with_shutdown_event_reports_it_and_reconnects(
    user_sync: tuple[UserSyncSession, Recorded], tradovate_sim: SimulatorServer
) -> None:
    session, recorded = user_sync
    tradovate_sim.send_shutdown(
        reason_code="ConnectionQuotaReached", reason="quota", kind="trading"
    )
    assert await _until(lambda: len(recorded.notices) == 1 and len(recorded.snapshots) == 2)
    assert recorded.notices[0].reason_code == "ConnectionQuotaReached"
    assert session.socket.state is SocketState.READY


async def test_user_sync_with_revoked_token_logs_in_once_and_reconnects(
    user_sync: tuple[UserSyncSession, Recorded],
    tradovate_sim: SimulatorServer,
    client: TradovateClient,
) -> None:
    session, recorded = user_sync
    old = session.socket.session_token
    tradovate_sim.revoke_tokens()
    assert await _until(lambda: len(recorded.snapshots) == 2)
    new = session.socket.session_token
    assert old is not None
    assert new is not None
    assert new.access_token != old.access_token
    assert len(await client.rest.accounts()) == 2  # REST shares the replacement token
    assert tradovate_sim.stats()["logins"] == 2


async def test_socket_with_dropped_connections_at_open_backs_off_then_connects(
    client: TradovateClient, sim_settings: Settings, tradovate_sim: SimulatorServer
) -> None:
    tradovate_sim.inject(drop_next_connections=2)
    socket = TradovateSocket(
        _config(sim_settings),
        BlockingTokenSource(client.tokens, asyncio.get_running_loop()),
        on_message=lambda event: None,
    )
    socket.start()
    try:
        assert await asyncio.to_thread(socket.wait_ready, 5.0)
        assert socket.health().connects == 3
        assert tradovate_sim.stats()["connections"]["trading"] == 3
    finally:
        await asyncio.to_thread(socket.stop)


async def test_socket_with_silent_server_reconnects_by_watchdog(
    client: TradovateClient, sim_settings: Settings, tradovate_sim: SimulatorServer
) -> None:
    tradovate_sim.configure(server_heartbeat_s=60.0)  # no 'h' frames: total silence
    socket = TradovateSocket(
        _config(sim_settings, silence_s=1.0),
        BlockingTokenSource(client.tokens, asyncio.get_running_loop()),
        on_message=lambda event: None,
    )
    socket.start()
    try:
        assert await asyncio.to_thread(socket.wait_ready, 5.0)
        assert await _until(lambda: socket.health().connects >= 2, 3.0)
    finally:
        await asyncio.to_thread(socket.stop)


class _RefusedTokens:
    """Tokens the simulator never issued: every authorize is refused."""

    def __init__(self) -> None:
        self.replacements = 0
        self.lock = threading.Lock()

    def current(self) -> SessionToken:
        return SessionToken("never-issued-token-00000", datetime.now(UTC) + timedelta(hours=1))

    def rejected(self, token: str) -> SessionToken:
        with self.lock:
            self.replacements += 1
        return SessionToken("never-issued-token-00001", datetime.now(UTC) + timedelta(hours=1))


async def test_socket_with_refused_tokens_stops_with_an_alert_instead_of_looping(
    sim_settings: Settings, tradovate_sim: SimulatorServer
) -> None:
    tokens = _RefusedTokens()
    states: list[SocketState] = []
    socket = TradovateSocket(
        _config(sim_settings),
        tokens,
        on_message=lambda event: None,
        on_state=lambda state, error: states.append(state),
    )
    socket.start()
    try:
        with pytest.raises(AuthError):
            await asyncio.to_thread(socket.wait_ready, 5.0)
        await asyncio.sleep(0.5)
        assert requests(tradovate_sim, "authorize") == 2
        assert tradovate_sim.stats()["connections"]["trading"] == 2
        assert tokens.replacements == 1
        assert states[-1] is SocketState.FAILED
    finally:
        await asyncio.to_thread(socket.stop)


async def test_quote_session_with_price_moves_and_drop_resubscribes_and_streams(
    client: TradovateClient, sim_settings: Settings, tradovate_sim: SimulatorServer
) -> None:
    symbol = await front_month(client.rest, "NQ")
    quotes: list[Quote] = []
    session = QuoteSession(
        _config(sim_settings, market_data=True),
        BlockingTokenSource(client.tokens, asyncio.get_running_loop()),
        on_quote=quotes.append,
    )
    session.subscribe(symbol)
    session.start()
    try:
        assert await asyncio.to_thread(session.wait_ready, 5.0)
        assert await _until(lambda: requests(tradovate_sim, "md/subscribequote") == 1)
        tradovate_sim.set_price(symbol, "21012.25")
        assert await _until(lambda: any(q.last == Decimal("21012.25") for q in quotes))
        tradovate_sim.drop_sockets(kind="md")
        assert await _until(lambda: requests(tradovate_sim, "md/subscribequote") == 2)
        tradovate_sim.set_price(symbol, "21020.5")
        assert await _until(lambda: any(q.last == Decimal("21020.5") for q in quotes))
        assert session.health().connects == 2
    finally:
        await asyncio.to_thread(session.stop)
