"""The executor's Redis store against a real redis-server: facts, links and events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from local.services import free_port
from shared import redis_keys as keys
from shared.adapters.redis_exec import RedisExecutionStore
from shared.domain.errors import DependencyUnavailable

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
