"""The worker against the simulator: live state, history and events follow REST orders."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from local.tradovate_sim import SimulatorServer
from shared import redis_keys as keys
from shared.adapters.tradovate.client import TradovateClient
from shared.domain.broker import OrderRequest, OrderType, Side
from shared.services.live_state import LiveState
from tests.integration.worker.conftest import front_month, until
from tests.integration.worker.helpers import differences
from worker.app import WorkerApp

pytestmark = pytest.mark.integration


async def _settled(live: LiveState, client: TradovateClient, timeout_s: float = 5.0) -> list[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        found = await differences(live, client)
        if not found or loop.time() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_worker_with_rest_orders_matches_rest_after_every_step(
    worker_app: WorkerApp, client: TradovateClient, redis: Redis, tradovate_sim: SimulatorServer
) -> None:
    live = LiveState(redis)
    symbol = await front_month(client, "MES")
    assert await _settled(live, client) == []
    steps = [
        (10001, Side.BUY, 2, None),
        (10001, Side.SELL, 1, "6010.00"),
        (10002, Side.SELL, 3, "5990.00"),
        (10001, Side.SELL, 3, "6005.25"),
        (10002, Side.BUY, 3, None),
    ]
    for n, (account, side, qty, move_to) in enumerate(steps):
        if move_to is not None:
            tradovate_sim.set_price(symbol, move_to)
        await client.rest.place_order(
            OrderRequest(account, symbol, side, qty, OrderType.MARKET, f"wk-step-{n}")
        )
        assert await _settled(live, client) == [], f"step {n}"
    tradovate_sim.set_price(symbol, "6020.50")
    assert await _settled(live, client) == []
    cash = await live.cash(10001)
    assert cash is not None and cash.open_pnl != 0
