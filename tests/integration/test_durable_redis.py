"""The local Redis keeps the local queue across a restart, the way Service Bus keeps a queue.

Each test runs its own ``redis-server`` (the suite's shared one must not be restarted under
other tests) with the append-only file ``RedisServer`` configures, and stops it with SIGKILL
(a crash) or SIGTERM (a clean shutdown) before starting it again on the same port and
directory.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from local.queue_processor import SessionProcessor
from local.services import RedisServer
from shared.adapters.local_queue import LocalQueue, ReceivedMessage
from shared.ports import OutboundMessage

pytestmark = pytest.mark.integration


def msg(message_id: str, session_id: str) -> OutboundMessage:
    return OutboundMessage(body=message_id.encode(), message_id=message_id, session_id=session_id)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    started = RedisServer("127.0.0.1", None)
    with started:  # (``as`` would give the base type: _Service.__enter__ is not Self-typed)
        yield started


def queue_on(server: RedisServer, lock_s: float = 20.0) -> LocalQueue:
    # A new client each time: the old one's connections died with the old process.
    return LocalQueue(aioredis.Redis.from_url(server.url), "durable", lock_duration_s=lock_s)


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not await predicate():  # noqa: ASYNC110 - polling Redis, no event to await
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("hard", [True, False], ids=["sigkill", "sigterm"])
async def test_queued_messages_with_redis_restarted_are_delivered_exactly_once(
    server: RedisServer, hard: bool
) -> None:
    before = queue_on(server)
    sent = [msg(f"m{i}", f"acct{i % 4}-NQ") for i in range(40)]
    for message in sent:  # one acknowledged send each, like the webhook's
        await before.send([message])
    await before.close()
    port, data_dir = server.port, server.data_dir

    await asyncio.to_thread(server.restart, hard=hard)

    assert (server.port, server.data_dir) == (port, data_dir)
    after = queue_on(server)
    assert (await after.counts())["active"] == 40
    # Duplicate detection was kept too: a resend within the window is still dropped.
    assert await after.send_and_report([msg("m7", "acct3-NQ")]) == [0]
    seen: list[tuple[str, int]] = []

    async def handler(message: ReceivedMessage) -> None:
        seen.append((message.message_id, message.delivery_count))

    stop = asyncio.Event()
    runner = asyncio.create_task(SessionProcessor(after, handler, idle_poll_s=0.05).run(stop))
    try:

        async def drained() -> bool:
            return (await after.counts())["active"] == 0

        await wait_for(drained, 15)
    finally:
        stop.set()
        await runner
    assert Counter(seen) == Counter((m.message_id, 1) for m in sent)
    for session in {m.session_id for m in sent}:  # and each session in its send order
        in_order = [int(i[1:]) for i, _ in seen if f"acct{int(i[1:]) % 4}-NQ" == session]
        assert in_order == sorted(in_order)
    assert await after.dead_letters() == []
    await after.close()


async def test_send_acknowledged_just_before_a_sigkill_is_never_lost(
    server: RedisServer,
) -> None:
    # The AOF is written before Redis replies (AOF_FSYNC), so the kill can come the instant
    # the send returns, while the server is still busy with the burst before it.
    rounds = 25
    for round_ in range(rounds):
        queue = queue_on(server)
        burst = [msg(f"r{round_}-{i}", f"acct{i % 3}-ES") for i in range(15)]
        await asyncio.gather(*(queue.send([m]) for m in burst))
        last = msg(f"r{round_}-last", "acct0-ES")
        await queue.send([last])
        await queue.close()  # only the client's sockets: nothing is waiting on them
        await asyncio.to_thread(server.restart, hard=True)
        after = queue_on(server)
        assert (await after.counts())["active"] == 16 * (round_ + 1)
        # The send's duplicate-detection entry came back too.
        assert await after.send_and_report([last]) == [0]
        await after.close()


async def test_message_in_flight_when_redis_is_killed_is_redelivered_after_its_lock(
    server: RedisServer,
) -> None:
    lock_s = 2.0
    before = queue_on(server, lock_s)
    await before.send([msg("in-flight", "acct1-NQ")])
    session = await before.accept_session("first-host")
    assert session == "acct1-NQ"
    first = await before.receive(session, "first-host")
    assert first is not None
    assert first.delivery_count == 1
    locked_at = time.monotonic()
    await before.close()

    # Redis dies with the message locked; so does the host that held it (nobody settles it).
    await asyncio.to_thread(server.restart, hard=True)

    after = queue_on(server, lock_s)
    # The lock came back with the data, with its original expiry: the session stays taken...
    assert await after.accept_session("second-host") is None

    async def lock_lapsed() -> bool:
        return await after.accept_session("second-host") is not None

    await wait_for(lock_lapsed, lock_s + 3)
    waited_s = time.monotonic() - locked_at
    assert lock_s - 0.3 <= waited_s <= lock_s + 3
    # ...and then the message comes back once, its delivery count up by one.
    again = await after.receive("acct1-NQ", "second-host")
    assert again is not None
    assert (again.message_id, again.delivery_count) == ("in-flight", 2)
    await after.complete(again)
    assert await after.receive("acct1-NQ", "second-host") is None
    assert await after.dead_letters() == []
    await after.close()


async def test_handler_running_while_redis_restarts_keeps_its_lock_and_completes_once(
    server: RedisServer,
) -> None:
    lock_s = 3.0
    queue = queue_on(server, lock_s)
    await queue.send([msg("slow", "acct1-NQ")])
    started = asyncio.Event()
    deliveries: list[int] = []

    async def handler(message: ReceivedMessage) -> None:
        deliveries.append(message.delivery_count)
        started.set()
        await asyncio.sleep(lock_s * 1.5)  # renewals fail while Redis is down, then resume

    stop = asyncio.Event()
    runner = asyncio.create_task(SessionProcessor(queue, handler, idle_poll_s=0.05).run(stop))
    try:
        await asyncio.wait_for(started.wait(), 10)
        await asyncio.to_thread(server.restart, hard=True)

        async def drained() -> bool:
            try:
                return (await queue.counts())["active"] == 0
            except redis.ConnectionError:  # this client's connection died with the old server
                return False

        await wait_for(drained, lock_s * 4)
        await asyncio.sleep(lock_s)  # a wrongful redelivery would show up by now
    finally:
        stop.set()
        await runner
    assert deliveries == [1]
    await queue.close()


def test_flushdb_with_aof_empties_the_database_for_good(server: RedisServer) -> None:
    client = redis.Redis.from_url(server.url)
    client.set("left-over", "1")
    client.flushdb()
    assert client.dbsize() == 0
    client.set("kept", "1")
    client.close()

    server.restart(hard=True)

    client = redis.Redis.from_url(server.url)
    assert client.keys("*") == [b"kept"]
    client.close()


def test_stop_with_own_data_dir_removes_it_and_keeps_a_given_one(tmp_path: Path) -> None:
    throwaway = RedisServer("127.0.0.1", None)
    with throwaway:
        assert throwaway.data_dir.is_dir()
    assert not throwaway.data_dir.exists()

    given = tmp_path / "redis-data"
    first = RedisServer("127.0.0.1", None, data_dir=given)
    with first, redis.Redis.from_url(first.url) as client:
        client.set("survives", "1")
    assert given.is_dir()
    second = RedisServer("127.0.0.1", None, data_dir=given)
    with second, redis.Redis.from_url(second.url) as client:
        assert client.get("survives") == b"1"
