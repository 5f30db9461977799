"""The worker through 100 socket drops and 5 token revocations: back each time, equal to REST."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from local.tradovate_sim import SimulatorServer
from shared.adapters.tradovate.client import TradovateClient
from shared.domain.broker import OrderRequest, OrderType, Side
from shared.services.live_state import LiveState
from tests.integration.worker.conftest import front_month, until
from tests.integration.worker.helpers import settled, unlinked_fill_rows
from worker.app import WorkerApp
from worker.states import WorkerState

pytestmark = pytest.mark.integration

DROPS = 100
REVOCATIONS = 5


async def _back_live(app: WorkerApp, syncs_before: int, timeout_s: float = 10.0) -> bool:
    machine = app.worker.trading_state
    back = await until(
        lambda: machine.syncs > syncs_before and machine.state is WorkerState.LIVE, timeout_s
    )
    # Stay up past TRADOVATE_WS_STABLE_AFTER_S (0.05 s here) so the next drop starts from the
    # first back-off step; a connection dropped sooner is flapping and backs off further.
    await asyncio.sleep(0.06)
    return back


async def test_worker_with_100_drops_and_5_revocations_reconnects_without_storm_or_loss(
    worker_app: WorkerApp, client: TradovateClient, redis: Redis, tradovate_sim: SimulatorServer
) -> None:
    worker = worker_app.worker
    symbol = await front_month(client, "MNQ")
    started = time.monotonic()
    attempts_before = worker.trading_state.attempts
    orders = 0
    for n in range(DROPS):
        before = worker.trading_state.syncs
        tradovate_sim.drop_sockets(kind="trading" if n % 4 else None)
        if n % 5 == 0:
            # Placed while the socket is down: only the resync (and REST recovery) can see it.
            side = Side.BUY if n % 10 == 0 else Side.SELL
            await client.rest.place_order(
                OrderRequest(10001 + n % 2, symbol, side, 1 + n % 3, OrderType.MARKET, f"d{n}")
            )
            orders += 1
        assert await _back_live(worker_app, before), (n, worker.health())
        if n % (DROPS // REVOCATIONS) == DROPS // REVOCATIONS - 1:
            before = worker.trading_state.syncs
            tradovate_sim.revoke_tokens()
            assert await _back_live(worker_app, before), ("revocation", n, worker.health())
    elapsed = time.monotonic() - started
    attempts = worker.trading_state.attempts - attempts_before
    # One attempt per drop, at most two per revocation (the remembered token is refused once
    # before the fresh login), and a little slack for a drop that lands mid-handshake.
    assert DROPS + REVOCATIONS <= attempts <= DROPS + 2 * REVOCATIONS + 5, attempts
    assert worker.trading_state.illegal == 0
    assert tradovate_sim.stats()["logins"] <= 1 + REVOCATIONS + 1
    assert await settled(LiveState(redis), client) == []
    rest_fills = {f.id for f in await client.rest.fills()}
    assert len(rest_fills) == orders
    assert await until(lambda: worker.pipeline.history_backlog == 0)
    rows = await unlinked_fill_rows(worker_app.history, client)
    assert {int(r["RowKey"]) for r in rows} == rest_fills
    print(f"\n{DROPS} drops + {REVOCATIONS} revocations: {attempts} attempts in {elapsed:.1f} s")
