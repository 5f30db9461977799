"""The worker against the simulator: live state, history and events follow REST orders."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from decimal import Decimal

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from local.tradovate_sim import SimulatorServer
from shared import redis_keys as keys
from shared.adapters.redis_ledger import RedisLedger
from shared.adapters.tradovate.client import TradovateClient
from shared.config import Settings
from shared.domain.broker import OrderRequest, OrderType, Side
from shared.ports import LedgerEntry
from shared.services.live_state import LiveState
from tests.integration.worker.conftest import fast, front_month, until
from tests.integration.worker.helpers import settled, unlinked_fill_rows
from worker.app import WorkerApp

pytestmark = pytest.mark.integration


async def test_worker_with_rest_orders_matches_rest_after_every_step(
    worker_app: WorkerApp, client: TradovateClient, redis: Redis, tradovate_sim: SimulatorServer
) -> None:
    live = LiveState(redis)
    symbol = await front_month(client, "MES")
    assert await settled(live, client) == []
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
        assert await settled(live, client) == [], f"step {n}"
    tradovate_sim.set_price(symbol, "6020.50")
    assert await settled(live, client) == []
    cash = await live.cash(10001)
    assert cash is not None
    assert cash.open_pnl != 0


async def _ledger_row(redis: Redis, signal_id: str, cl_ord_id: str) -> None:
    # What the executor writes when it sends a leg (its own adapter; the Redis hash is shared).
    ledger = RedisLedger(redis, ttl_s=600)
    await ledger.claim(LedgerEntry(signal_id, cl_ord_id, "claimed", {"leg": "entry"}))
    await ledger.update(LedgerEntry(signal_id, cl_ord_id, "acknowledged", {"order_id": 1}))


async def test_worker_with_linked_order_records_fill_ledger_and_events(
    worker_app: WorkerApp, client: TradovateClient, redis: Redis, tradovate_sim: SimulatorServer
) -> None:
    symbol = await front_month(client, "NQ")
    tradovate_sim.set_price(symbol, "21012.25")
    cl_ord_id = "tbsig1-entry"
    link = {
        "signal_id": "sig-1",
        "strategy": "nq-trend",
        "account": "DEMO10001",
        "account_id": 10001,
        "leg": "entry",
    }
    await redis.set(keys.cl_ord_index(cl_ord_id), json.dumps(link))
    await _ledger_row(redis, "sig-1", cl_ord_id)
    pubsub = redis.pubsub()
    await pubsub.subscribe(*keys.EVENT_CHANNELS)
    ack = await client.rest.place_order(
        OrderRequest(10001, symbol, Side.BUY, 2, OrderType.MARKET, cl_ord_id)
    )
    await client.rest.place_order(
        OrderRequest(10002, symbol, Side.SELL, 1, OrderType.MARKET, "not-ours")
    )
    history = worker_app.history
    assert await until(lambda: worker_app.worker.pipeline.recorder.fills_recorded == 2)
    fills = await history.signal_rows("fills", "sig-1")
    assert [(f["order_id"], f["price"], f["qty"], f["leg"]) for f in fills] == [
        (ack.order_id, "21012.25", 2, "entry")
    ]
    assert len(await unlinked_fill_rows(history, client)) == 1
    # The worker merges the leg's end in Redis; its ledger loop copies it to Table storage,
    # where the fill outranks the executor's earlier "acknowledged".
    deadline = asyncio.get_running_loop().time() + 10.0  # settles 2 s, then the next loop
    while not (rows := await worker_app.archive.rows("sig-1")) or rows[0].status != "filled":
        assert asyncio.get_running_loop().time() < deadline, rows
        await asyncio.sleep(0.1)
    (ledger,) = rows
    assert ledger.fields["fill_price"] == "21012.25"
    assert ledger.fields["filled_qty"] == 2
    assert ledger.fields["order_id"] == 1  # the executor's own field survives the merge
    assert isinstance(ledger.fields["filled_at"], datetime)
    executions = await history.signal_rows("executions", "sig-1")
    assert {e["exec_type"] for e in executions} >= {"New", "Trade"}
    seen: dict[str, list[dict[str, object]]] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3.0
    wanted = {"order.placed", "order.filled", "position.opened", "position.update"}
    while loop.time() < deadline and not wanted <= set(seen):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None:
            body = json.loads(message["data"])
            seen.setdefault(body["type"], []).append(body)
    await pubsub.aclose()
    assert wanted <= set(seen)
    filled = [e for e in seen["order.filled"] if e["cl_ord_id"] == cl_ord_id]
    assert filled[0]["signal_id"] == "sig-1"
    assert filled[0]["price"] == "21012.25"


async def test_worker_with_open_position_streams_quotes_and_follows_positions(
    worker_app: WorkerApp, client: TradovateClient, redis: Redis, tradovate_sim: SimulatorServer
) -> None:
    symbol = await front_month(client, "ES")
    contract = await client.rest.find_contract(symbol)
    await client.rest.place_order(
        OrderRequest(10001, symbol, Side.BUY, 1, OrderType.MARKET, "q-open")
    )
    feed = worker_app.worker.feed
    assert feed is not None
    assert await until(lambda: contract.id in feed.wanted)
    tradovate_sim.set_price(symbol, "6003.25")
    live = LiveState(redis)

    async def marked() -> tuple[Decimal | None, Decimal | None]:
        cash = await live.cash(10001)
        return await live.last_price(contract.id), None if cash is None else cash.open_pnl

    expected = (Decimal("6003.25"), Decimal("162.50"))
    for _ in range(100):
        if await marked() == expected:
            break
        await asyncio.sleep(0.02)
    assert await marked() == expected
    snapshot = await client.rest.cash_balance_snapshot(10001)
    assert snapshot.open_pnl == Decimal("162.50")
    await client.rest.place_order(
        OrderRequest(10001, symbol, Side.SELL, 1, OrderType.MARKET, "q-close")
    )
    assert await until(lambda: contract.id not in feed.wanted)


async def test_worker_with_table_storage_down_keeps_live_state_and_queues_history(
    worker_settings: Settings, client: TradovateClient, redis: Redis
) -> None:
    # Nothing listens on port 1: every Table call fails, after the SDK's own retries.
    dead = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        "TableEndpoint=http://127.0.0.1:1/devstoreaccount1;"
    )
    settings = worker_settings.model_copy(update={"tables_connection_string": SecretStr(dead)})
    app = WorkerApp.from_settings(settings, host="127.0.0.1", port=0, tune=fast)
    await app.start()
    try:
        assert await until(lambda: app.worker.live, 10.0)
        symbol = await front_month(client, "MES")
        await client.rest.place_order(
            OrderRequest(10001, symbol, Side.BUY, 1, OrderType.MARKET, "no-tables")
        )
        assert await settled(LiveState(redis), client) == []
        assert app.worker.health()["healthy"] is True
        assert app.worker.pipeline.history_backlog > 0
    finally:
        await app.stop()
