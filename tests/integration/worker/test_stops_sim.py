"""Breakeven management against the simulator: the stop moves once at the trigger, never twice."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from local.tradovate_sim import SimulatorServer
from shared import redis_keys as keys
from shared.adapters.tradovate.client import TradovateClient
from shared.config import Settings
from shared.domain.broker import (
    BracketLeg,
    BracketOrderRequest,
    OrderRequest,
    OrderType,
    Side,
)
from shared.domain.codec import encode
from shared.domain.planning.model import MoveStopToBreakeven, TrailStop
from tests.integration.tradovate.conftest import requests
from tests.integration.worker.conftest import fast, front_month, until
from worker.app import WorkerApp

pytestmark = pytest.mark.integration


async def _stop_price(client: TradovateClient, order_id: int) -> Decimal | None:
    versions = await client.rest.order_versions(order_id)
    return max(versions, key=lambda v: v.id).stop_price


async def _bracket(client: TradovateClient, symbol: str, entry: str, stop: str) -> int:
    ack = await client.rest.place_bracket(
        BracketOrderRequest(
            entry=OrderRequest(10001, symbol, Side.BUY, 2, OrderType.MARKET, entry),
            legs=(
                BracketLeg(Side.SELL, OrderType.STOP, stop_price=Decimal("20990"), cl_ord_id=stop),
            ),
        )
    )
    (stop_id,) = ack.bracket_order_ids
    return stop_id


async def _instruct(redis: Redis, entry: str, stop: str | None, instruction: object) -> None:
    await redis.hset(
        keys.management_instructions(10001),
        entry,
        json.dumps(
            {
                "kind": type(instruction).__name__,
                "instruction": encode(instruction),
                "stop_cl_ord_id": stop,
                "signal_id": "sig-be",
            }
        ),
    )


async def test_breakeven_with_trigger_crossed_moves_stop_once_even_after_restart(
    worker_app: WorkerApp,
    worker_settings: Settings,
    client: TradovateClient,
    redis: Redis,
    tradovate_sim: SimulatorServer,
) -> None:
    symbol = await front_month(client, "MNQ")
    tradovate_sim.set_price(symbol, "21000")
    stop_id = await _bracket(client, symbol, "be-entry", "be-stop")
    breakeven = MoveStopToBreakeven(
        entry_leg="entry",
        stop_leg="entry.sl",
        side=Side.BUY,
        offset=Decimal("0.50"),
        trigger_distance=Decimal("10"),
    )
    await _instruct(redis, "be-entry", "be-stop", breakeven)
    tradovate_sim.set_price(symbol, "21009.75")  # just short of the trigger
    await asyncio.sleep(0.4)
    assert requests(tradovate_sim, "order/modifyorder") == 0
    tradovate_sim.set_price(symbol, "21010")
    assert await until(lambda: requests(tradovate_sim, "order/modifyorder") == 1)
    assert await _stop_price(client, stop_id) == Decimal("21000.50")
    for price in ("21003", "21015", "21002", "21030"):
        tradovate_sim.set_price(symbol, price)
        await asyncio.sleep(0.15)
    assert requests(tradovate_sim, "order/modifyorder") == 1
    marker = json.loads(await redis.get(keys.management_done("be-entry")))
    assert marker["status"] == "moved"
    assert not await redis.hexists(keys.management_instructions(10001), "be-entry")
    # A restart (or a second worker) sees the instruction again, e.g. written twice by a
    # re-delivered signal: the once-only marker stops it.
    await worker_app.stop()
    await _instruct(redis, "be-entry", "be-stop", breakeven)
    second = WorkerApp.from_settings(worker_settings, host="127.0.0.1", port=0, tune=fast)
    await second.start()
    try:
        assert await until(lambda: second.worker.live, 10.0)
        tradovate_sim.set_price(symbol, "21040")
        await asyncio.sleep(0.5)
        assert requests(tradovate_sim, "order/modifyorder") == 1
    finally:
        await second.stop()


async def test_trailing_with_trigger_moves_stop_up_by_steps_only(
    worker_app: WorkerApp, client: TradovateClient, redis: Redis, tradovate_sim: SimulatorServer
) -> None:
    symbol = await front_month(client, "MNQ")
    tradovate_sim.set_price(symbol, "21000")
    stop_id = await _bracket(client, symbol, "tr-entry", "tr-stop")
    trail = TrailStop(
        entry_leg="entry",
        stop_leg="entry.sl",
        side=Side.BUY,
        distance=Decimal("5"),
        trigger_distance=Decimal("8"),
        step=Decimal("2"),
    )
    await _instruct(redis, "tr-entry", "tr-stop", trail)
    tradovate_sim.set_price(symbol, "21007")  # below the trigger
    await asyncio.sleep(0.3)
    assert requests(tradovate_sim, "order/modifyorder") == 0
    tradovate_sim.set_price(symbol, "21008")
    assert await until(lambda: requests(tradovate_sim, "order/modifyorder") == 1)
    assert await _stop_price(client, stop_id) == Decimal("21003")
    tradovate_sim.set_price(symbol, "21009")  # one point better: less than a step
    await asyncio.sleep(0.3)
    assert requests(tradovate_sim, "order/modifyorder") == 1
    tradovate_sim.set_price(symbol, "21004")  # pulls back: a trailing stop never moves down
    await asyncio.sleep(0.3)
    tradovate_sim.set_price(symbol, "21012")
    assert await until(lambda: requests(tradovate_sim, "order/modifyorder") == 2)
    assert await _stop_price(client, stop_id) == Decimal("21007")


async def test_breakeven_for_an_entry_filled_in_parts_waits_and_protects_all_of_it(
    worker_app: WorkerApp, client: TradovateClient, redis: Redis, tradovate_sim: SimulatorServer
) -> None:
    symbol = await front_month(client, "MNQ")
    tradovate_sim.set_price(symbol, "21000")
    tradovate_sim.set_liquidity(symbol, 1)  # one contract per price move
    breakeven = MoveStopToBreakeven(
        entry_leg="entry",
        stop_leg=None,  # no bracket stop: the worker places the breakeven stop itself
        side=Side.BUY,
        offset=Decimal("0"),
        trigger_distance=Decimal("2"),
    )
    await _instruct(redis, "pf-entry", None, breakeven)
    await client.rest.place_order(
        OrderRequest(10001, symbol, Side.BUY, 3, OrderType.MARKET, "pf-entry")
    )
    tradovate_sim.set_price(symbol, "21010")  # 2 of 3 filled, the trigger crossed
    await asyncio.sleep(0.5)
    assert requests(tradovate_sim, "order/placeorder") == 1  # only the entry: it waits
    tradovate_sim.set_price(symbol, "21012")  # the third contract: filled
    assert await until(lambda: requests(tradovate_sim, "order/placeorder") == 2)
    stops = [o for o in tradovate_sim.state()["orders"] if o["version"]["orderType"] == "Stop"]
    assert [(o["version"]["orderQty"], o["action"]) for o in stops] == [(3, "Sell")]
