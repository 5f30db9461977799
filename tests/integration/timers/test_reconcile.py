"""Reconcile through the real composition root: simulator, Redis, Azurite, the local queue."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from redis.asyncio import Redis

from local.services import AzuriteTables
from local.tradovate_sim import SimulatorServer
from shared import redis_keys as keys
from shared.adapters.local_queue import LocalQueue
from shared.container import Container
from shared.domain.broker import OrderRequest, OrderType, Side
from shared.domain.signal import Intent, MarketPosition
from shared.domain.symbols import parse_symbol
from shared.services.envelope import from_body
from shared.services.execute import Delivery
from shared.services.reconcile import Reconciler
from tests.integration.timers.conftest import settings_for
from tests.integration.timers.test_contracts import Published

pytestmark = pytest.mark.integration

STRATEGIES = """
version = 1

[strategies.heal]
secret = { env = "WEBHOOK_HEAL" }
accounts = [{ name = "DEMO10001" }, { name = "DEMO10002", id = 10002, multiplier = 3 }]
[strategies.heal.behaviour]
opposite_signal = "reverse"
[strategies.heal.risk]
max_alert_age_s = 600
[strategies.heal.reconcile]
heal = true

[strategies.watch]
secret = { env = "WEBHOOK_WATCH" }
accounts = [{ name = "DEMO10001" }]
"""
OLD = timedelta(minutes=5)


@pytest.fixture
async def container(
    tradovate_sim: SimulatorServer, redis_url: str, azurite: AzuriteTables, tmp_path: Path
) -> AsyncIterator[Container]:
    (tmp_path / "strategies.toml").write_text(STRATEGIES)
    made = Container(
        settings_for(
            tradovate_sim,
            redis_url,
            strategies_file=str(tmp_path / "strategies.toml"),
            tables_connection_string=azurite.connection_string,
            table_prefix=f"rc{uuid.uuid4().hex[:10]}",
        )
    )
    yield made
    built = vars(made)  # cached properties that were built
    for name in ("event_journal", "ledger_archive"):
        if name in built:
            await built[name].close()
    await made.tradovate.aclose()
    await made.redis.aclose()


async def intend(redis: Redis, strategy: str, field: str, net_pos: int, age: timedelta) -> None:
    at = datetime.now(UTC) - age
    value = {"net_pos": net_pos, "signal_id": f"sig-{field}", "at": at.isoformat()}
    await redis.hset(keys.intended_positions(strategy), field, json.dumps(value))


async def hold(container: Container, account_id: int, symbol: str, qty: int) -> None:
    side = Side.BUY if qty > 0 else Side.SELL
    request = OrderRequest(
        account_id, symbol, side, abs(qty), OrderType.MARKET, f"hold-{uuid.uuid4().hex[:8]}"
    )
    await container.tradovate.rest.place_order(request)


async def front(container: Container, root: str, index: int = 1) -> str:
    return (await container.contracts.resolve(parse_symbol(f"{root}{index}!"))).symbol


async def queued(redis: Redis) -> list[tuple[str, str, bytes]]:
    queue = LocalQueue(redis, "signals")
    found = []
    while (session := await queue.accept_session("test")) is not None:
        while (message := await queue.receive(session, "test")) is not None:
            found.append((message.message_id, message.session_id, message.body))
            await queue.complete(message)
        await queue.release_session(session, "test")
    return found


async def test_reconcile_with_injected_drift_detects_journals_and_publishes_it_in_one_run(
    container: Container, redis: Redis
) -> None:
    es = await front(container, "ES")
    await hold(container, 10002, es, 3)
    await intend(redis, "watch", "DEMO10001:ES", 2, OLD)  # broker flat: drift
    await intend(redis, "heal", "DEMO10002:ES", 3, OLD)  # broker long 3: agrees
    async with (
        Published(redis, "position.drift") as published,
        Published(redis, "risk.alert") as alerts,
    ):
        report = await container.reconciler.run()
        messages = await published.drain()
        risk = await alerts.drain()
    (drift,) = report.drifts
    assert (report.ran, report.checked) == (True, 2)
    assert (drift.strategy_id, drift.account, drift.account_id) == ("watch", "DEMO10001", 10001)
    assert (drift.intended, drift.actual, drift.heal) == (2, 0, "off")
    (row,) = await container.event_journal.events("position.drift")
    assert row["difference"] == 2
    assert row["intent_signal_id"] == "sig-DEMO10001:ES"
    assert [m["event_id"] for m in messages] == [drift.event_id]
    assert [(m["kind"], m["event_id"]) for m in risk] == [("drift", drift.event_id)]
    assert await queued(redis) == []


async def test_reconcile_with_healing_on_queues_one_target_position_envelope(
    container: Container, redis: Redis
) -> None:
    es = await front(container, "ES")
    await hold(container, 10002, es, 1)
    await intend(redis, "heal", "DEMO10002:ES", -2, OLD)  # long 1, intended short 2
    first = await container.reconciler.run()
    second = await container.reconciler.run()  # the same drift again: the same signal id
    (drift,) = first.drifts
    assert drift.heal == "sent"
    assert second.drifts[0].heal_signal_id == drift.heal_signal_id
    (message,) = await queued(redis)  # duplicate detection dropped the second copy
    message_id, session_id, body = message
    envelope = from_body(body)
    assert message_id == f"{drift.heal_signal_id}:DEMO10002"
    assert session_id == "DEMO10002-ES"
    assert (envelope.strategy_id, envelope.account, envelope.account_id) == (
        "heal",
        "DEMO10002",
        10002,
    )
    assert envelope.multiplier == Decimal(1)  # the intent is already in account contracts
    assert envelope.alert_format == "reconcile"
    signal = envelope.signal
    assert (signal.intent, signal.symbol.canonical, signal.order_type) == (
        Intent.SELL,
        "ES1!",
        "market",
    )
    assert signal.target is not None
    assert (signal.target.market_position, signal.target.size) == (MarketPosition.SHORT, Decimal(2))


async def test_reconcile_heal_executed_by_the_executor_converges_in_one_order(
    container: Container, redis: Redis, tradovate_sim: SimulatorServer
) -> None:
    await intend(redis, "heal", "DEMO10001:ES", 2, OLD)  # broker flat
    report = await container.reconciler.run()
    assert report.drifts[0].heal == "sent"
    ((message_id, _, body),) = await queued(redis)
    tradovate_sim.reset_stats()
    outcome = await container.executor.execute(Delivery(from_body(body), message_id, 1))
    assert outcome.status == "done"
    assert len(outcome.orders) == 1
    assert tradovate_sim.stats()["rest"].get("order/placeorder") == 1
    positions = await container.tradovate.rest.positions(10001)
    assert sum(p.net_pos for p in positions) == 2
    # The executor recorded the healed intent just now; look again without the grace period.
    immediate = Reconciler(replace(container.reconciler._deps, grace_s=0.0))
    after = await immediate.run()
    assert after.drifts == ()
    assert after.checked == 1


async def test_reconcile_with_position_left_in_an_old_contract_flags_it_and_does_not_heal(
    container: Container, redis: Redis
) -> None:
    await hold(container, 10001, await front(container, "NQ", 2), 1)  # not the front month
    await intend(redis, "heal", "DEMO10001:NQ", 3, OLD)
    (drift,) = (await container.reconciler.run()).drifts
    assert drift.actual == 1
    assert drift.heal == "skipped: held outside the front contract"
    assert list(drift.held) == [await front(container, "NQ", 2)]
    assert await queued(redis) == []


async def test_reconcile_with_a_working_order_on_the_needed_side_does_not_heal(
    container: Container, redis: Redis, tradovate_sim: SimulatorServer
) -> None:
    cl = await front(container, "CL")
    price = Decimal(str(tradovate_sim.price(cl)[cl]["price"])) - Decimal(5)
    resting = OrderRequest(10001, cl, Side.BUY, 1, OrderType.LIMIT, "resting-1", price=price)
    await container.tradovate.rest.place_order(resting)
    await intend(redis, "heal", "DEMO10001:CL", 1, OLD)
    (drift,) = (await container.reconciler.run()).drifts
    assert drift.heal == "skipped: a working order could close the gap"


async def test_reconcile_with_a_fresh_intent_leaves_it_to_the_executor(
    container: Container, redis: Redis
) -> None:
    await intend(redis, "heal", "DEMO10001:ES", 2, timedelta(seconds=5))
    report = await container.reconciler.run()
    assert (report.checked, report.drifts) == (0, ())


async def test_two_instances_firing_together_reconcile_once(
    container: Container, redis: Redis
) -> None:
    await intend(redis, "heal", "DEMO10001:MES", 1, OLD)
    twin = Reconciler(container.reconciler._deps)
    reports = await asyncio.gather(container.reconciler.run(), twin.run())
    assert sorted(r.ran for r in reports) == [False, True]
    assert sum(len(r.drifts) for r in reports) == 1
    assert len(await queued(redis)) == 1
