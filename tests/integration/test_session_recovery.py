"""A short session lock, renewed while work runs: a dead consumer's session moves on in seconds.

The Functions host renews the session lock while a function runs (up to host.json
``maxAutoLockRenewalDuration``) and ``local.queue_processor`` does the same, so the lock can be
short (PT20S in infra/) without a long order losing it. These tests use locks of a few
seconds or less so they run quickly; every timing scales with the lock.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from local.queue_processor import SessionProcessor
from local.services import REPO_ROOT
from shared.adapters.local_queue import LocalQueue, ReceivedMessage
from shared.ports import OutboundMessage

pytestmark = pytest.mark.integration

LOCK_S = 3.0
# Process start-up and scheduling on a busy two-core machine, plus the taker's 0.05 s poll.
MARGIN_S = 2.0


def msg(message_id: str, session_id: str = "acct1-NQ") -> OutboundMessage:
    return OutboundMessage(body=b"{}", message_id=message_id, session_id=session_id)


async def spawn_consumer(
    redis_url: str, queue: str, mode: str, log: Path
) -> asyncio.subprocess.Process:
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.integration.crashing_consumer",
            redis_url, queue, str(LOCK_S), mode,
            cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip


async def next_line(proc: asyncio.subprocess.Process, timeout_s: float = 30.0) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout_s)
    return line.decode().strip()


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not await predicate():  # noqa: ASYNC110 - polling Redis, no event to await
            await asyncio.sleep(0.02)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


async def test_session_of_consumer_killed_mid_message_is_taken_over_within_the_lock(
    client: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    queue = LocalQueue(client, "recovery", lock_duration_s=LOCK_S)
    await queue.send([msg("m1"), msg("m2")])
    log = tmp_path / "consumers.log"
    holder = await spawn_consumer(redis_url, "recovery", "hold", log)
    taker: asyncio.subprocess.Process | None = None
    try:
        assert await next_line(holder) == "ready"
        assert await next_line(holder) == "got m1 1", log.read_text()
        taker = await spawn_consumer(redis_url, "recovery", "record", log)
        assert await next_line(taker) == "ready"
        # The taker is live: a message in another session goes straight through it.
        await queue.send([msg("other", "acct2-ES")])

        async def taker_saw_other() -> bool:
            return b"other:1" in await client.lrange("seen:recovery", 0, -1)

        await wait_for(taker_saw_other, 10)
        # The holder renews: past a whole lock the session is still its own.
        await asyncio.sleep(LOCK_S + 1.0)
        assert await client.lrange("seen:recovery", 0, -1) == [b"other:1"]

        holder.kill()  # SIGKILL mid-message: no settlement, no release, no more renewals
        await holder.wait()
        killed_at = time.monotonic()

        async def taker_finished() -> bool:
            return (await queue.counts())["active"] == 0

        await wait_for(taker_finished, LOCK_S + MARGIN_S)
        took_s = time.monotonic() - killed_at
    finally:
        for proc in (holder, taker):
            if proc is not None and proc.returncode is None:
                proc.terminate()
                await proc.wait()
    assert taker is not None
    assert taker.returncode == 0, log.read_text()
    # Not before the lock lapsed (the last renewal was at most a third of a lock before the
    # kill), and not much after it.
    assert LOCK_S * 2 / 3 - 0.2 <= took_s <= LOCK_S + MARGIN_S, took_s
    seen = await client.lrange("seen:recovery", 0, -1)
    # m1 once more with its delivery count up by one, then m2, in order; nothing twice.
    assert seen == [b"other:1", b"m1:2", b"m2:1"]
    assert await queue.dead_letters() == []


async def test_handler_running_past_three_locks_keeps_its_lock_and_is_delivered_once(
    redis_url: str,
) -> None:
    lock_s = 1.0
    first = LocalQueue(aioredis.Redis.from_url(redis_url), "slow", lock_duration_s=lock_s)
    second = LocalQueue(aioredis.Redis.from_url(redis_url), "slow", lock_duration_s=lock_s)
    await first.send([msg("long-order"), msg("next")])
    deliveries: list[tuple[str, int]] = []

    async def handler(message: ReceivedMessage) -> None:
        deliveries.append((message.message_id, message.delivery_count))
        if message.message_id == "long-order":
            await asyncio.sleep(3 * lock_s + 0.5)

    stop = asyncio.Event()
    hosts = [
        asyncio.create_task(SessionProcessor(q, handler, idle_poll_s=0.05).run(stop))
        for q in (first, second)
    ]
    try:

        async def drained() -> bool:
            return (await first.counts())["active"] == 0

        await wait_for(drained, 3 * lock_s + 5)
        await asyncio.sleep(lock_s + 0.5)  # time for a wrongful redelivery to show up
    finally:
        stop.set()
        await asyncio.gather(*hosts)
    assert deliveries == [("long-order", 1), ("next", 1)]
    assert await first.dead_letters() == []
    await first.close()
    await second.close()


async def test_handler_whose_lock_is_lost_does_not_settle_and_message_comes_back(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    lock_s = 0.6
    queue = LocalQueue(aioredis.Redis.from_url(redis_url), "lost", lock_duration_s=lock_s)
    raw = aioredis.Redis.from_url(redis_url)
    await queue.send([msg("fragile")])
    deliveries: list[int] = []

    async def handler(message: ReceivedMessage) -> None:
        deliveries.append(message.delivery_count)
        if message.delivery_count == 1:
            # The lock goes (as if renewals had failed until it lapsed) while the handler
            # works; the next renewal finds that out.
            await raw.delete(f"lq:lost:lock:{message.session_id}")
            await asyncio.sleep(lock_s)

    stop = asyncio.Event()
    caplog.set_level(logging.WARNING, logger="local.queue_processor")
    runner = asyncio.create_task(SessionProcessor(queue, handler, idle_poll_s=0.05).run(stop))
    try:

        async def settled_once() -> bool:
            return len(deliveries) >= 2 and (await queue.counts())["active"] == 0

        await wait_for(settled_once, 10)
    finally:
        stop.set()
        await runner
    assert sorted(deliveries) == [1, 2]
    assert "fragile (session acct1-NQ, delivery 1) not settled" in caplog.text
    assert await queue.dead_letters() == []
    await queue.close()
    await raw.aclose()
