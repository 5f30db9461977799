"""The ops API's Redis store against a real redis-server: one round trip per call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from local.services import free_port
from shared import redis_keys as keys
from shared.adapters.ops_redis import RedisOpsStore
from shared.adapters.redis_ledger import RedisLedger
from shared.domain.errors import DependencyUnavailable
from shared.ports import LedgerEntry
from shared.services.ops.ports import SwitchChange

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url)
    yield c
    await c.aclose()


def change(value: str | None, *, replace: bool = False, n: int = 1) -> SwitchChange:
    return SwitchChange(
        key=keys.KILL_GLOBAL,
        value=value,
        journal_entry=json.dumps({"n": n}),
        channel="risk.alert",
        message=keys.event_message("risk.alert", {"n": n}),
        replace=replace,
    )


async def test_read_gets_strings_list_heads_and_sizes_in_one_pipeline(
    client: aioredis.Redis,
) -> None:
    await client.set("a", "1")
    await client.rpush("l", "x", "y", "z")
    await client.zadd("z", {"m": 1, "n": 2})
    reading = await RedisOpsStore(client).read(
        ["a", "missing"], lists={"l": 2}, list_sizes=["l"], set_sizes=["z"]
    )
    assert reading.strings == ("1", None)
    assert reading.lists == {"l": ("x", "y")}
    assert reading.sizes == {"l": 3, "z": 2}
    assert (await RedisOpsStore(client).read([])).strings == ()


async def test_switch_sets_once_journals_publishes_and_deletes(client: aioredis.Redis) -> None:
    store = RedisOpsStore(client)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe("risk.alert")
    first = await store.switch(change('{"mode":"pause"}'))
    assert (first.changed, first.previous) == (True, None)
    second = await store.switch(change('{"mode":"stop"}', n=2))
    assert (second.changed, second.previous) == (False, '{"mode":"pause"}')
    replaced = await store.switch(change('{"mode":"stop"}', replace=True, n=3))
    assert replaced.changed is True
    assert await client.get(keys.KILL_GLOBAL) == b'{"mode":"stop"}'
    released = await store.switch(change(None, n=4))
    assert (released.changed, released.previous) == (True, '{"mode":"stop"}')
    assert (await store.switch(change(None, n=5))).changed is False
    assert await client.exists(keys.KILL_GLOBAL) == 0
    entries = [json.loads(e)["n"] for e in await client.lrange(keys.OPS_CHANGES, 0, -1)]
    assert entries == [4, 3, 1]  # newest first; changes that did not happen are not kept
    got = []
    async with asyncio.timeout(3):
        while len(got) < 3:
            message = await pubsub.get_message(timeout=0.1)
            if message is not None:
                got.append(json.loads(message["data"])["n"])
    assert got == [1, 3, 4]
    await pubsub.aclose()


async def test_switch_trims_the_change_list(client: aioredis.Redis) -> None:
    store = RedisOpsStore(client)
    for n in range(keys.OPS_CHANGES_KEPT + 3):
        await store.switch(change(None if n % 2 else "x", n=n))
    assert await client.llen(keys.OPS_CHANGES) == keys.OPS_CHANGES_KEPT


async def test_ledgers_read_several_signals_as_the_ledger_wrote_them(
    client: aioredis.Redis,
) -> None:
    ledger = RedisLedger(client, ttl_s=60)
    await ledger.claim_all(
        [LedgerEntry("s1", "exec:A", "planned", {"received_at": AT, "delivery_count": 1})]
    )
    found = await RedisOpsStore(client).ledgers(["s1", "s2"])
    assert found["s2"] == []
    assert found["s1"][0].fields == {"received_at": AT, "delivery_count": 1}
    assert await RedisOpsStore(client).ledgers([]) == {}


async def test_map_and_quote_finds_the_contract_in_the_map_and_its_quote(
    client: aioredis.Redis,
) -> None:
    doc = {"front": "MNQZ6", "continuous": {"1": "MNQZ6", "2": "MNQH7"},
           "contracts": {"MNQZ6": {"id": 3570918}, "MNQH7": {"id": 3570919}}}  # fmt: skip
    await client.set(keys.contract_map("MNQ"), json.dumps(doc))
    await client.set(keys.quote(3570918), '{"last":"1"}')
    await client.set(keys.quote(3570919), '{"last":"2"}')
    store = RedisOpsStore(client)
    assert (await store.map_and_quote("MNQ", ("front", "")))[1] == '{"last":"1"}'
    assert (await store.map_and_quote("MNQ", ("continuous", "2")))[1] == '{"last":"2"}'
    assert (await store.map_and_quote("MNQ", ("name", "MNQH7")))[1] == '{"last":"2"}'
    raw, quote = await store.map_and_quote("MNQ", ("name", "MNQM7"))
    assert raw is not None
    assert quote is None
    assert await store.map_and_quote("ES", ("front", "")) == (None, None)
    await client.set(keys.contract_map("BAD"), "not json")
    assert await store.map_and_quote("BAD", ("front", "")) == ("not json", None)


async def test_a_dead_redis_is_dependency_unavailable() -> None:
    # No retries: each call should fail at once, not after redis-py's back-off.
    client = aioredis.Redis(
        port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    store = RedisOpsStore(client)
    with pytest.raises(DependencyUnavailable):
        await store.read(["a"])
    with pytest.raises(DependencyUnavailable):
        await store.switch(change("x"))
    with pytest.raises(DependencyUnavailable):
        await store.ledgers(["s"])
    with pytest.raises(DependencyUnavailable):
        await store.map_and_quote("NQ", ("front", ""))
    await store.publish("risk.alert", "{}")  # best effort: never raises
    await client.aclose()
