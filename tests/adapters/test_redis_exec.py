"""The executor's Redis store against a real redis-server: facts, links and events."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis

from local.services import free_port
from shared import redis_keys as keys
from shared.adapters.redis_exec import ORDERS_NOTICE_CHANNEL, RedisExecutionStore
from shared.adapters.redis_ledger import RedisLedger
from shared.domain.broker import OrderStatus
from shared.domain.errors import DependencyUnavailable
from shared.ports import LedgerEntry
from shared.services.store_writes import StoreWrites
from worker.live_store import LiveStore

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url)
    yield c
    await c.aclose()


async def _listen(client: aioredis.Redis, *channels: str) -> Any:
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(*channels)
    return pubsub


async def _received(pubsub: Any, count: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(3):
        while len(got) < count:
            message = await pubsub.get_message(timeout=0.1)
            if message is not None:
                got.append(json.loads(message["data"]))
    return got


async def test_risk_facts_read_switches_and_stamp_and_send_events_with_them(
    client: aioredis.Redis,
) -> None:
    store = RedisExecutionStore(client)
    await client.set(keys.KILL_GLOBAL, "maintenance")
    await client.set(keys.kill_account("DEMO1"), "margin call")
    await client.set(keys.last_order("DEMO1", "NQ"), AT.isoformat())
    pubsub = await _listen(client, "trade.signal")
    facts = await store.risk_facts(
        "trend", "DEMO1", "NQ", events=[("trade.signal", {"signal_id": "s1"})]
    )
    assert facts == (True, False, True, AT)
    [event] = await _received(pubsub, 1)
    assert event == {"type": "trade.signal", "source": "executor", "signal_id": "s1"}
    assert await store.risk_facts("other", "DEMO2", "ES") == (True, False, False, None)
    await pubsub.aclose()


async def test_link_orders_indexes_legs_stamps_entries_and_announces(
    client: aioredis.Redis,
) -> None:
    store = RedisExecutionStore(client)
    pubsub = await _listen(client, "order.request")
    link = {"signal_id": "s1", "account": "DEMO1", "leg": "entry"}
    await store.link_orders(
        {"tb1-entry": link}, ("DEMO1", "NQ", AT), events=[("order.request", {"signal_id": "s1"})]
    )
    assert json.loads(await client.get(keys.cl_ord_index("tb1-entry"))) == link
    assert 0 < await client.ttl(keys.cl_ord_index("tb1-entry")) <= keys.CL_ORD_INDEX_TTL_S
    assert (await client.get(keys.last_order("DEMO1", "NQ"))).decode() == AT.isoformat()
    [event] = await _received(pubsub, 1)
    assert event["type"] == "order.request"
    await pubsub.aclose()


async def test_unknown_event_channel_is_refused_before_anything_is_sent(
    client: aioredis.Redis,
) -> None:
    store = RedisExecutionStore(client)
    with pytest.raises(ValueError, match="unknown event channel"):
        await store.link_orders({"tb1-entry": {}}, None, events=[("order.typo", {})])
    assert await client.get(keys.cl_ord_index("tb1-entry")) is None
    with pytest.raises(ValueError, match="unknown event channel"):
        await store.publish("order.typo", {})


async def test_redis_down_fails_the_facts_but_never_a_bare_event() -> None:
    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    store = RedisExecutionStore(dead)
    with pytest.raises(DependencyUnavailable):
        await store.risk_facts("trend", "DEMO1", "NQ", events=[("trade.signal", {})])
    with pytest.raises(DependencyUnavailable):
        await store.link_orders({"tb1-entry": {}}, None)
    await store.publish("order.placed", {"signal_id": "s1"})  # a dashboard may miss it
    await dead.aclose()


async def _worker_live_and_synced(client: aioredis.Redis) -> None:
    await client.set(keys.WORKER_HEARTBEAT, "{}")
    await client.set(keys.WORKER_SYNC_STATE, "synced")


async def test_plan_facts_read_view_switches_stamp_and_expectation_at_one_moment(
    client: aioredis.Redis,
) -> None:
    store = RedisExecutionStore(client)
    await _worker_live_and_synced(client)
    position = {"net_pos": 2, "net_price": "21000", "bought": 5, "sold": 3, "position_id": 9}
    await client.set(keys.live_positions(71), json.dumps({"positions": {"777": position}}))
    await client.set(keys.live_orders(71), json.dumps({"orders": [], "settled": []}))
    await client.set(keys.kill_strategy("pf"), "paused")
    await client.set(keys.last_order("PF1", "NQ"), AT.isoformat())
    await client.set(keys.expectation(71, 777), '{"signal_id":"s0"}')
    pubsub = await _listen(client, "trade.signal")
    view, facts, stored = await store.plan_facts(
        71, 777, "pf", "PF1", "NQ", events=[("trade.signal", {"signal_id": "s1"})]
    )
    assert view is not None
    assert view.position is not None
    assert (view.position.net_pos, view.position.bought, view.position.sold) == (2, 5, 3)
    assert view.working_orders == ()
    assert view.settled == {}
    assert facts == (False, True, False, AT)
    assert stored == '{"signal_id":"s0"}'
    [event] = await _received(pubsub, 1)
    assert event["signal_id"] == "s1"
    await client.set(keys.WORKER_SYNC_STATE, "syncing")  # not synced: the cache proves nothing
    view, _, _ = await store.plan_facts(71, 777, "pf", "PF1", "NQ")
    assert view is None
    await pubsub.aclose()


async def test_plan_facts_parse_an_unchanged_orders_document_once_and_a_rewritten_one_again(
    client: aioredis.Redis,
) -> None:
    store = RedisExecutionStore(client)
    await _worker_live_and_synced(client)
    await client.set(keys.live_positions(76), json.dumps({"positions": {}}))
    settled = [{"order_id": 5, "status": "filled", "filled_qty": 1, "parent_id": 4}]
    working = {"order_id": 6, "contract_id": 777, "status": "working", "side": "sell", "qty": 1,
               "order_type": "limit", "price": "21010", "parent_id": 4}  # fmt: skip
    document = {"orders": [working], "settled": settled}
    await client.set(keys.live_orders(76), json.dumps(document))
    first, _, _ = await store.plan_facts(76, 777, "pf", "PF1", "NQ")
    again, _, _ = await store.plan_facts(76, 777, "pf", "PF1", "NQ")
    assert first is not None
    assert again is not None
    assert first.settled is again.settled  # the same value: the parse was reused
    assert set(first.settled or {}) == {5}
    assert first.parents == frozenset({4})
    assert [o.order_id for o in again.working_orders or ()] == [6]
    with pytest.raises(TypeError):
        first.settled[7] = first.settled[5]  # type: ignore[index]  # shared, so read-only
    settled.append({"order_id": 6, "status": "filled", "filled_qty": 1, "parent_id": 4})
    await client.set(keys.live_orders(76), json.dumps({"orders": [], "settled": settled}))
    moved, _, _ = await store.plan_facts(76, 777, "pf", "PF1", "NQ")
    assert moved is not None
    assert set(moved.settled or {}) == {5, 6}
    assert moved.working_orders == ()


def _row(signal_id: str, row_key: str, status: str, **fields: Any) -> LedgerEntry:
    return LedgerEntry(signal_id, row_key, status, fields)


async def test_claim_with_claims_and_links_together_and_only_once(
    client: aioredis.Redis,
) -> None:
    store = RedisExecutionStore(client)
    ledger = RedisLedger(client, ttl_s=60)
    await client.script_flush()  # the first claim finds no script: it still claims once
    writes = StoreWrites(
        events=[("order.request", {"signal_id": "cw1"})],
        links={"tb-cw1-entry": {"signal_id": "cw1"}},
        stamp=("CW1", "NQ", AT),
        expecting=(72, 777, '{"signal_id":"cw1","unsure":true}'),
    )
    claims = [_row("cw1", "exec:CW1", "planned"), _row("cw1", "tb-cw1-entry", "claimed")]
    assert await store.claim_with(ledger, claims, writes) is True
    assert await store.claim_with(ledger, claims, writes) is False
    assert {r.row_key for r in await ledger.rows("cw1")} == {"exec:CW1", "tb-cw1-entry"}
    assert json.loads(await client.get(keys.cl_ord_index("tb-cw1-entry"))) == {"signal_id": "cw1"}
    assert (await client.get(keys.last_order("CW1", "NQ"))).decode() == AT.isoformat()
    assert b"unsure" in await client.get(keys.expectation(72, 777))


async def test_update_with_merges_rows_and_writes_intent_instructions_and_expectation(
    client: aioredis.Redis,
) -> None:
    store = RedisExecutionStore(client)
    ledger = RedisLedger(client, ttl_s=60)
    await ledger.claim_all([_row("uw1", "tb-uw1-entry", "claimed")])
    await client.script_flush()
    pubsub = await _listen(client, "order.placed")
    writes = StoreWrites(
        events=[("order.placed", {"signal_id": "uw1"})],
        intent=("trend", "UW1", "NQ", 2, "uw1", AT),
        instructions=(73, {"tb-uw1-entry": '{"kind":"Breakeven"}'}),
        expecting=(73, 777, '{"signal_id":"uw1"}'),
    )
    await store.update_with(
        ledger, [_row("uw1", "tb-uw1-entry", "acknowledged", order_id=5)], writes
    )
    [row] = await ledger.rows("uw1")
    assert (row.status, row.fields["order_id"]) == ("acknowledged", 5)
    intent = await client.hget(keys.intended_positions("trend"), "UW1:NQ")
    assert json.loads(intent)["net_pos"] == 2
    assert await client.hget(keys.management_instructions(73), "tb-uw1-entry") is not None
    assert await client.get(keys.expectation(73, 777)) == b'{"signal_id":"uw1"}'
    [event] = await _received(pubsub, 1)
    assert event["signal_id"] == "uw1"
    await pubsub.aclose()


async def test_order_notices_wake_a_wait_when_the_worker_writes_its_orders_document(
    client: aioredis.Redis,
) -> None:
    store = RedisExecutionStore(client)
    notices = store.order_notices()
    assert store.order_notices() is notices  # one subscription per process
    live = LiveStore(client, now=lambda: AT, liveness_ttl_s=5, quote_ttl_s=5)
    async with notices.watch(74) as wake:
        await live.write_documents({keys.live_positions(74): {}})  # not the orders: no notice
        assert await wake.wait(0.1) is False
        await live.write_documents({keys.live_orders(75): {}})  # another account's
        assert await wake.wait(0.1) is False
        await live.write_documents({keys.live_orders(74): {"orders": [], "settled": []}})
        assert await wake.wait(2.0) is True
        # The same settled list again (a working order changed, say): no fill to wake for.
        await live.write_documents({keys.live_orders(74): {"orders": [{}], "settled": []}})
        assert await wake.wait(0.1) is False
        settled = [{"order_id": 5, "status": "filled", "filled_qty": 1, "fill_price": "21000.25"}]
        await live.write_documents({keys.live_orders(74): {"orders": [], "settled": settled}})
        assert await wake.wait(2.0) is True
        # The notice carried the new entry: the wait knows it without reading the document.
        assert wake.read_wanted is False
        known = wake.known([5, 6])
        assert list(known) == [5]
        assert (known[5].status, known[5].filled_qty) == (OrderStatus.FILLED, 1)
        assert known[5].fill_price == Decimal("21000.25")
        # The next write lists one more: only the new one travels.
        settled = [{"order_id": 6, "status": "canceled", "filled_qty": 0}, *settled]
        await live.write_documents({keys.live_orders(74): {"orders": [], "settled": settled}})
        assert await wake.wait(2.0) is True
        assert sorted(wake.known([5, 6])) == [5, 6]
        # A notice this reader cannot take entries from (an older worker's bare id): read.
        await client.publish(ORDERS_NOTICE_CHANNEL, "74")
        assert await wake.wait(2.0) is True
        assert wake.read_wanted is True
    # Orders sent after the subscription came up are covered; before it, or unknown, not.
    assert notices.up_since is not None
    sent = notices.up_since + 0.001  # orders 5 and 6 went out before their notices came
    async with notices.watch(74, since=sent) as later:
        assert later.covered
        assert sorted(later.known([5, 6, 7])) == [5, 6]
    # Orders sent after those notices: the notices cannot be about them (an order id seen
    # again, as after a simulator reset, is not taken for settled).
    async with notices.watch(74, since=time.time() + 1) as after:
        assert after.covered
        assert after.known([5, 6]) == {}
    async with notices.watch(74, since=notices.up_since - 60) as earlier:
        assert not earlier.covered
    async with notices.watch(74) as unknown:
        assert not unknown.covered
    await notices.aclose()
    assert notices.up_since is None


async def test_worker_events_go_out_in_the_documents_transaction_after_its_notice(
    client: aioredis.Redis,
) -> None:
    live = LiveStore(client, now=lambda: AT, liveness_ttl_s=5, quote_ttl_s=5)
    pubsub = await _listen(client, ORDERS_NOTICE_CHANNEL, "position.update", "order.placed")
    settled = [{"order_id": 8, "status": "filled", "filled_qty": 1}]
    await live.write_documents(
        {keys.live_orders(77): {"orders": [], "settled": settled}},
        [("position.update", {"account_id": 77, "net_pos": 1})],
    )
    assert json.loads(await client.get(keys.live_orders(77)))["settled"] == settled
    notice, event = await _received(pubsub, 2)  # the notice first, then the event
    assert notice["account_id"] == 77
    assert (event["type"], event["net_pos"]) == ("position.update", 1)
    await live.write_documents({}, [("order.placed", {"order_id": 9})])  # nothing to write
    [alone] = await _received(pubsub, 1)
    assert (alone["type"], alone["order_id"]) == ("order.placed", 9)
    await pubsub.aclose()


async def test_quote_snapshots_and_their_price_events_go_in_one_round_trip(
    client: aioredis.Redis,
) -> None:
    live = LiveStore(client, now=lambda: AT, liveness_ttl_s=5, quote_ttl_s=5)
    pubsub = await _listen(client, "price.update")
    quote = {"contract_id": 778, "mark": "21000.25"}
    await live.set_quotes({778: quote}, [("price.update", quote)])
    assert json.loads(await client.get(keys.quote(778)))["mark"] == "21000.25"
    assert 0 < await client.pttl(keys.quote(778)) <= 5000
    [event] = await _received(pubsub, 1)
    assert (event["type"], event["mark"]) == ("price.update", "21000.25")
    await pubsub.aclose()
