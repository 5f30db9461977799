"""The Redis alert gate against a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from local.services import free_port
from shared.adapters.redis_gate import RedisAlertGate
from shared.domain.errors import DependencyUnavailable

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_030.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url)
    yield c
    await c.aclose()


async def test_admit_over_the_limit_returns_seconds_to_next_window(client: aioredis.Redis) -> None:
    clock = Clock()
    gate = RedisAlertGate(client, clock=clock)
    answers = [await gate.admit("s1", 3, None, f"id{n}", 0) for n in range(4)]
    assert [a.admitted for a in answers] == [True, True, True, False]
    assert answers[3].retry_after_s == 30
    clock.now += 30  # next minute
    assert (await gate.admit("s1", 3, None, "id9", 0)).admitted


async def test_admit_with_claimed_key_returns_first_signal_id(client: aioredis.Redis) -> None:
    gate = RedisAlertGate(client)
    assert (await gate.admit("s1", 100, "id:abc", "first", 60)).admitted
    again = await gate.admit("s1", 100, "id:abc", "second", 60)
    assert again.duplicate_of == "first"
    other_strategy = await gate.admit("s2", 100, "id:abc", "third", 60)
    assert other_strategy.admitted


async def test_claim_expires_after_its_ttl(client: aioredis.Redis) -> None:
    gate = RedisAlertGate(client)
    assert (await gate.admit("s1", 100, "body:x", "a", 1)).admitted
    await asyncio.sleep(1.1)
    assert (await gate.admit("s1", 100, "body:x", "b", 1)).admitted


async def test_release_removes_only_its_own_claim(client: aioredis.Redis) -> None:
    gate = RedisAlertGate(client)
    await gate.admit("s1", 100, "k", "mine", 60)
    await gate.release("s1", "k", "someone-else")
    assert (await gate.admit("s1", 100, "k", "x", 60)).duplicate_of == "mine"
    await gate.release("s1", "k", "mine")
    assert (await gate.admit("s1", 100, "k", "new", 60)).admitted


async def test_concurrent_identical_alerts_admit_exactly_one(client: aioredis.Redis) -> None:
    gate = RedisAlertGate(client)
    answers = await asyncio.gather(
        *(gate.admit("s1", 1000, "id:same", f"c{n}", 60) for n in range(50))
    )
    assert sum(a.admitted for a in answers) == 1
    winner = next(f"c{n}" for n, a in enumerate(answers) if a.admitted)
    assert {a.duplicate_of for a in answers if not a.admitted} == {winner}


def test_rate_and_dedupe_keys_share_one_cluster_slot() -> None:
    assert key_slot(b"rl:{nq-trend}:30000000") == key_slot(b"dd:{nq-trend}:id:abc")


async def test_admit_with_redis_down_raises_dependency_unavailable() -> None:
    client = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.3)
    with pytest.raises(DependencyUnavailable):
        await RedisAlertGate(client).admit("s1", 10, None, "x", 0)
    await client.aclose()
