"""Pipelines started in one loop turn go to a real redis-server as one round trip.

The round trips are counted on the wire, by the loopback proxy the benchmark counts the
executor's with (``bench.redis_rounds.RoundTripProxy``): one client write is one round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from bench.redis_rounds import RoundTrip, RoundTripProxy
from local.services import free_port
from shared import redis_keys as keys
from shared.adapters.redis_batch import PipelineBatcher
from shared.adapters.redis_exec import RedisExecutionStore

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(redis_url: str) -> Iterator[RoundTripProxy]:
    where = urlsplit(redis_url)
    counting = RoundTripProxy(where.hostname or "127.0.0.1", where.port or 6379)
    counting.start()
    yield counting
    counting.stop()


@pytest.fixture
async def client(proxy: RoundTripProxy) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(f"redis://127.0.0.1:{proxy.port}/0")
    await c.ping()  # connection set-up and the first command, before anything is counted
    yield c
    await c.aclose()


async def _sent(batcher: PipelineBatcher, client: aioredis.Redis, *commands: Any) -> list[Any]:
    """Queue ``commands`` (name, *args) on a pipeline of their own and send it by ``batcher``."""
    pipe = client.pipeline(transaction=False)
    for name, *args in commands:
        getattr(pipe, name)(*args)
    return await batcher.execute(pipe)


def _work(proxy: RoundTripProxy, since: int) -> list[RoundTrip]:
    trips = proxy.trips()[since:]
    return [t for t in trips if t.kind == "work"]


async def test_pipelines_of_one_turn_go_in_one_round_trip_each_caller_with_its_replies(
    client: aioredis.Redis, proxy: RoundTripProxy
) -> None:
    batcher = PipelineBatcher(client)
    await client.set("a", "1")
    seen = len(proxy.trips())

    async def caller(name: str, count: int) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for n in range(count):
            pipe.rpush(f"list:{name}", f"{name}{n}")
        pipe.get("a")
        return await batcher.execute(pipe)

    first, second, third = await asyncio.gather(caller("x", 1), caller("y", 3), caller("z", 2))

    assert first == [1, b"1"]
    assert second == [1, 2, 3, b"1"]
    assert third == [1, 2, b"1"]
    trips = _work(proxy, seen)
    assert len(trips) == 1
    names = [command[0].upper() for command in trips[0].commands]
    one, two, three = [b"RPUSH"], [b"RPUSH"] * 2, [b"RPUSH"] * 3
    assert names == [*one, b"GET", *three, b"GET", *two, b"GET"]


async def test_each_callers_commands_stay_together_and_in_their_order(
    client: aioredis.Redis,
) -> None:
    batcher = PipelineBatcher(client)

    await asyncio.gather(
        *(_sent(batcher, client, ("rpush", "shared", f"{n}1"), ("rpush", "shared", f"{n}2"))
          for n in "abc")
    )  # fmt: skip

    assert await client.lrange("shared", 0, -1) == [b"a1", b"a2", b"b1", b"b2", b"c1", b"c2"]


async def test_a_commands_error_is_its_callers_reply_in_place_and_no_one_elses(
    client: aioredis.Redis,
) -> None:
    batcher = PipelineBatcher(client)
    await client.set("text", "not a number")

    bad, good = await asyncio.gather(
        _sent(batcher, client, ("incr", "text"), ("set", "after", "still run")),
        _sent(batcher, client, ("incr", "counter")),
    )

    assert isinstance(bad[0], ResponseError)
    assert bad[1] is True
    assert good == [1]
    assert await client.get("after") == b"still run"


async def test_pipelines_of_later_turns_go_in_round_trips_of_their_own(
    client: aioredis.Redis, proxy: RoundTripProxy
) -> None:
    batcher = PipelineBatcher(client)
    seen = len(proxy.trips())
    for n in range(3):
        assert await _sent(batcher, client, ("set", f"k{n}", n)) == [True]

    assert len(_work(proxy, seen)) == 3


async def test_a_caller_cancelled_while_waiting_leaves_the_others_their_replies(
    client: aioredis.Redis,
) -> None:
    batcher = PipelineBatcher(client)

    gone = asyncio.create_task(_sent(batcher, client, ("set", "gone", "sent")))
    kept = asyncio.create_task(_sent(batcher, client, ("set", "kept", "sent")))
    await asyncio.sleep(0)  # both have joined the batch; it has not been sent yet
    gone.cancel()

    assert await kept == [True]
    with pytest.raises(asyncio.CancelledError):
        await gone
    # Its commands were on their way with the batch, as a plain pipeline's would be.
    assert await client.get("gone") == b"sent"


async def test_a_failed_send_raises_in_every_caller_of_the_batch() -> None:
    nowhere = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    batcher = PipelineBatcher(nowhere)

    try:
        results = await asyncio.gather(
            _sent(batcher, nowhere, ("set", "a", "1")),
            _sent(batcher, nowhere, ("set", "b", "1")),
            return_exceptions=True,
        )
    finally:
        await nowhere.aclose()

    assert [type(r) for r in results] == [RedisConnectionError, RedisConnectionError]


async def test_a_transaction_or_an_empty_pipeline_is_run_as_it_is(
    client: aioredis.Redis, proxy: RoundTripProxy
) -> None:
    batcher = PipelineBatcher(client)
    seen = len(proxy.trips())
    transaction = client.pipeline(transaction=True)
    transaction.set("t", "1")
    transaction.incr("t")
    plain = client.pipeline(transaction=False)
    plain.get("t")

    multi, empty = await asyncio.gather(
        batcher.execute(transaction), batcher.execute(client.pipeline(transaction=False))
    )

    assert multi == [True, 2]
    assert empty == []
    assert await batcher.execute(plain) == [b"2"]
    first = _work(proxy, seen)[0]
    assert [c[0].upper() for c in first.commands] == [b"MULTI", b"SET", b"INCRBY", b"EXEC"]


async def test_an_alerts_two_deliveries_read_their_facts_in_one_round_trip_each_its_own(
    client: aioredis.Redis, proxy: RoundTripProxy
) -> None:
    store = RedisExecutionStore(client)
    await client.set(keys.kill_account("ACC2"), "margin call")
    await client.set(keys.expectation(2, 777), '{"signal_id":"earlier"}')
    seen = len(proxy.trips())

    first, second = await asyncio.gather(
        store.plan_facts(1, 777, "pf", "ACC1", "NQ", events=[("trade.signal", {"n": 1})]),
        store.plan_facts(2, 777, "pf", "ACC2", "NQ", events=[("trade.signal", {"n": 2})]),
    )

    _, facts_1, stored_1 = first
    _, facts_2, stored_2 = second
    assert (facts_1, stored_1) == ((False, False, False, None), None)
    assert (facts_2, stored_2) == ((False, False, True, None), '{"signal_id":"earlier"}')
    [trip] = _work(proxy, seen)
    assert [c[0].upper() for c in trip.commands].count(b"MGET") == 2
