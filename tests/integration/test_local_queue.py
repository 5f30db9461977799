"""The local transport over a real redis-server: Service Bus session-queue semantics."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from local.devhost.queues import max_lock_renewal_s, timespan_s, to_function_message
from local.queue_processor import SessionProcessor
from local.services import REPO_ROOT, free_port
from shared.adapters.local_queue import LocalQueue, ReceivedMessage, SessionLockLost
from shared.domain.errors import DependencyUnavailable
from shared.ports import OutboundMessage

pytestmark = pytest.mark.integration


def msg(
    message_id: str, session_id: str = "acct1-NQ", body: str = "{}", **kw: object
) -> OutboundMessage:
    return OutboundMessage(body=body.encode(), message_id=message_id, session_id=session_id, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def queue(redis_url: str) -> AsyncIterator[LocalQueue]:
    q = LocalQueue(
        aioredis.Redis.from_url(redis_url), "signals", max_delivery_count=3, lock_duration_s=2
    )
    yield q
    await q.close()


async def process_until(
    queue: LocalQueue,
    handler: Callable[[ReceivedMessage], Awaitable[None]],
    done: Callable[[], bool],
    *,
    sessions: int = 8,
    timeout_s: float = 15.0,
) -> None:
    stop = asyncio.Event()
    runner = asyncio.create_task(
        SessionProcessor(queue, handler, max_concurrent_sessions=sessions, idle_poll_s=0.05).run(
            stop
        )
    )
    try:
        async with asyncio.timeout(timeout_s):
            while not done():  # noqa: ASYNC110 - polling a test predicate, no event to await
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await runner


async def test_send_with_repeated_message_id_delivers_once(queue: LocalQueue) -> None:
    first = await queue.send_and_report([msg("alert-1")])
    second = await queue.send_and_report([msg("alert-1"), msg("alert-1")])
    assert first[0] > 0
    assert second == [0, 0]
    seen: list[str] = []

    async def handler(m: ReceivedMessage) -> None:
        seen.append(m.message_id)

    await process_until(queue, handler, lambda: len(seen) >= 1)
    await asyncio.sleep(0.2)
    assert seen == ["alert-1"]
    assert (await queue.counts())["active"] == 0


async def test_send_after_duplicate_window_accepts_message_again(redis_url: str) -> None:
    q = LocalQueue(aioredis.Redis.from_url(redis_url), "w", duplicate_window_s=0.3)
    assert (await q.send_and_report([msg("a")]))[0] > 0
    assert await q.send_and_report([msg("a")]) == [0]
    await asyncio.sleep(0.4)
    assert (await q.send_and_report([msg("a")]))[0] > 0
    await q.close()


async def test_sessions_with_concurrent_producers_keep_enqueue_order(queue: LocalQueue) -> None:
    sessions = [f"acct{i}-ES" for i in range(5)]

    async def producer(pid: int) -> None:
        for n in range(20):
            await queue.send([msg(f"p{pid}-{n}", sessions[(pid + n) % 5], body=f"{pid}:{n}")])

    await asyncio.gather(*(producer(p) for p in range(6)))
    handled: dict[str, list[int]] = defaultdict(list)
    bodies: dict[str, list[tuple[int, int]]] = defaultdict(list)

    async def handler(m: ReceivedMessage) -> None:
        handled[m.session_id].append(m.sequence_number)
        pid, n = m.body.decode().split(":")
        bodies[m.session_id].append((int(pid), int(n)))
        await asyncio.sleep(0.001)

    await process_until(queue, handler, lambda: sum(map(len, handled.values())) >= 120)
    assert sum(map(len, handled.values())) == 120
    for session in sessions:
        assert handled[session] == sorted(handled[session]), session
        for pid in range(6):
            own = [n for p, n in bodies[session] if p == pid]
            assert own == sorted(own)


async def test_sessions_run_in_parallel_but_never_twice_at_once(queue: LocalQueue) -> None:
    for s in range(6):
        await queue.send([msg(f"m{s}-{k}", f"sess{s}") for k in range(3)])
    active: dict[str, int] = defaultdict(int)
    peak_total = 0
    peak_same_session = 0
    count = 0

    async def handler(m: ReceivedMessage) -> None:
        nonlocal peak_total, peak_same_session, count
        active[m.session_id] += 1
        peak_same_session = max(peak_same_session, active[m.session_id])
        peak_total = max(peak_total, sum(active.values()))
        await asyncio.sleep(0.05)
        active[m.session_id] -= 1
        count += 1

    await process_until(queue, handler, lambda: count >= 18, sessions=4)
    assert peak_same_session == 1
    assert peak_total >= 2
    assert peak_total <= 4


async def test_abandoned_message_is_redelivered_with_rising_delivery_count(
    queue: LocalQueue,
) -> None:
    await queue.send([msg("flaky")])
    counts: list[int] = []

    async def handler(m: ReceivedMessage) -> None:
        counts.append(m.delivery_count)
        if m.delivery_count < 3:
            raise RuntimeError("broker timed out")

    await process_until(queue, handler, lambda: len(counts) >= 3)
    await asyncio.sleep(0.1)
    assert counts == [1, 2, 3]
    assert await queue.dead_letters() == []
    assert (await queue.counts())["active"] == 0


async def test_message_failing_every_delivery_is_dead_lettered_with_reason(
    queue: LocalQueue,
) -> None:
    await queue.send([msg("poison", body='{"x":1}'), msg("next")])
    seen: list[tuple[str, int]] = []

    async def handler(m: ReceivedMessage) -> None:
        seen.append((m.message_id, m.delivery_count))
        if m.message_id == "poison":
            raise ValueError("contract NQZ9 not found")

    await process_until(queue, handler, lambda: ("next", 1) in seen)
    assert seen == [("poison", 1), ("poison", 2), ("poison", 3), ("next", 1)]
    [letter] = await queue.dead_letters()
    assert letter.message_id == "poison"
    assert letter.reason == "MaxDeliveryCountExceeded"
    assert "contract NQZ9 not found" in letter.description
    assert letter.delivery_count == 3
    assert letter.body == b'{"x":1}'


async def test_consumer_killed_mid_message_gets_message_redelivered(
    queue: LocalQueue, redis_url: str
) -> None:
    await queue.send([msg("in-flight")])
    crashed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.integration.crashing_consumer", redis_url, "signals", "1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert crashed.returncode == 17, crashed.stderr
    assert "got in-flight 1" in crashed.stdout
    seen: list[int] = []

    async def handler(m: ReceivedMessage) -> None:
        seen.append(m.delivery_count)

    await process_until(queue, handler, lambda: bool(seen))
    assert seen == [2]
    assert (await queue.counts())["active"] == 0


async def test_consumer_crashes_past_max_deliveries_dead_letter_message(redis_url: str) -> None:
    q = LocalQueue(
        aioredis.Redis.from_url(redis_url), "crashy", max_delivery_count=1, lock_duration_s=0.3
    )
    await q.send([msg("doomed")])
    token = "crashed-receiver"
    session = await q.accept_session(token)
    assert session == "acct1-NQ"
    first = await q.receive(session, token)
    assert first is not None
    assert first.delivery_count == 1
    await asyncio.sleep(0.4)  # lock expires: the receiver "died"
    again = await q.accept_session("second-receiver")
    assert again == "acct1-NQ"
    assert await q.receive(again, "second-receiver") is None
    [letter] = await q.dead_letters()
    assert letter.reason == "MaxDeliveryCountExceeded"
    assert "lock expired" in letter.description
    await q.close()


async def test_session_locked_by_one_receiver_is_not_given_to_another(queue: LocalQueue) -> None:
    await queue.send([msg("a", "s1"), msg("b", "s2")])
    first = await queue.accept_session("r1")
    second = await queue.accept_session("r2")
    third = await queue.accept_session("r3")
    assert {first, second} == {"s1", "s2"}
    assert third is None


async def test_scheduled_message_is_not_delivered_before_its_time(queue: LocalQueue) -> None:
    due = datetime.now(UTC) + timedelta(seconds=0.6)
    await queue.send([msg("later", scheduled_enqueue_time=due)])
    assert (await queue.counts())["scheduled"] == 1
    assert await queue.accept_session("early") is None
    seen: list[datetime] = []

    async def handler(m: ReceivedMessage) -> None:
        seen.append(datetime.now(UTC))

    await process_until(queue, handler, lambda: bool(seen))
    assert seen[0] >= due


async def test_expired_message_is_dead_lettered_not_delivered(queue: LocalQueue) -> None:
    await queue.send([msg("stale", time_to_live=timedelta(milliseconds=100)), msg("fresh")])
    await asyncio.sleep(0.2)
    seen: list[str] = []

    async def handler(m: ReceivedMessage) -> None:
        seen.append(m.message_id)

    await process_until(queue, handler, lambda: bool(seen))
    assert seen == ["fresh"]
    [letter] = await queue.dead_letters()
    assert (letter.message_id, letter.reason) == ("stale", "TTLExpiredException")


async def test_complete_after_lock_expired_raises_and_message_comes_back(redis_url: str) -> None:
    q = LocalQueue(aioredis.Redis.from_url(redis_url), "slow", lock_duration_s=0.2)
    await q.send([msg("slow-one")])
    session = await q.accept_session("r1")
    assert session is not None
    m = await q.receive(session, "r1")
    assert m is not None
    await asyncio.sleep(0.3)
    assert await q.accept_session("r2") == session
    with pytest.raises(SessionLockLost):
        await q.complete(m)
    again = await q.receive(session, "r2")
    assert again is not None
    assert (again.message_id, again.delivery_count) == ("slow-one", 2)
    await q.close()


async def test_send_with_redis_down_raises_dependency_unavailable() -> None:
    q = LocalQueue(
        aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5), "x"
    )
    with pytest.raises(DependencyUnavailable):
        await q.send([msg("nowhere")])
    await q.close()


async def test_message_properties_survive_the_round_trip(queue: LocalQueue) -> None:
    await queue.send(
        [
            msg(
                "p",
                body="\u00e9",
                correlation_id="corr-1",
                application_properties={"strategy": "s", "n": 3},
            )
        ]
    )
    session = await queue.accept_session("r")
    assert session is not None
    m = await queue.receive(session, "r")
    assert m is not None
    assert m.body == "\u00e9".encode()
    assert m.correlation_id == "corr-1"
    assert dict(m.application_properties) == {"strategy": "s", "n": 3}
    assert m.enqueued_time.tzinfo is UTC


async def test_stop_cancels_a_handler_stuck_past_the_grace_period(queue: LocalQueue) -> None:
    await queue.send([msg("stuck")])
    started = asyncio.Event()

    async def handler(m: ReceivedMessage) -> None:
        started.set()
        await asyncio.sleep(60)

    stop = asyncio.Event()
    processor = SessionProcessor(queue, handler, idle_poll_s=0.05, shutdown_grace_s=0.2)
    runner = asyncio.create_task(processor.run(stop))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await asyncio.wait_for(runner, 2)  # returns within the grace period, not after 60 s
    assert (await queue.counts())["active"] == 1  # not completed: it will be delivered again


async def test_received_message_says_when_it_expires(queue: LocalQueue) -> None:
    before = datetime.now(UTC)
    await queue.send([msg("ttl", time_to_live=timedelta(seconds=30))])
    session = await queue.accept_session("r1")
    assert session is not None
    received = await queue.receive(session, "r1")
    assert received is not None
    assert received.expires_at is not None
    lifetime = received.expires_at - received.enqueued_time
    assert lifetime == timedelta(seconds=30)
    assert received.expires_at >= before + timedelta(seconds=29)


async def test_stop_with_every_session_slot_busy_returns_after_the_grace_period(
    queue: LocalQueue,
) -> None:
    await queue.send([msg("stuck", "s1"), msg("waiting", "s2")])
    started = asyncio.Event()

    async def handler(m: ReceivedMessage) -> None:
        started.set()
        await asyncio.sleep(60)

    stop = asyncio.Event()
    processor = SessionProcessor(
        queue, handler, max_concurrent_sessions=1, idle_poll_s=0.05, shutdown_grace_s=0.2
    )
    runner = asyncio.create_task(processor.run(stop))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await asyncio.wait_for(runner, 2)  # not stuck waiting for the one busy slot
    assert (await queue.counts())["active"] == 2


async def test_received_message_says_until_when_it_is_locked_and_renewal_extends_it(
    queue: LocalQueue,
) -> None:
    await queue.send([msg("locked")])
    session = await queue.accept_session("r1")
    assert session is not None
    before = datetime.now(UTC)
    received = await queue.receive(session, "r1")
    assert received is not None
    assert received.locked_until is not None
    assert before + timedelta(seconds=1.9) <= received.locked_until
    assert received.locked_until <= datetime.now(UTC) + timedelta(seconds=2)
    await asyncio.sleep(0.1)
    renewed = await queue.renew_session_lock(session, "r1")
    assert renewed > received.locked_until
    with pytest.raises(SessionLockLost):
        await queue.renew_session_lock(session, "someone-else")


def test_function_message_carries_the_delivery_lock_expiry() -> None:
    locked_until = datetime(2026, 1, 2, 15, 0, 20, tzinfo=UTC)
    received = ReceivedMessage(
        body=b"{}", message_id="m", session_id="s", sequence_number=7, delivery_count=2,
        enqueued_time=datetime(2026, 1, 2, 14, 0, tzinfo=UTC), lock_token="t",
        locked_until=locked_until,
    )  # fmt: skip
    message = to_function_message(received, lock_duration_s=20)
    assert message.locked_until == locked_until
    assert message.delivery_count == 2


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("00:05:00", 300.0), ("00:00:05", 5.0), ("1.00:00:00.5", 86400.5)],
)
def test_host_json_timespan_reads_as_seconds(value: str, seconds: float) -> None:
    assert timespan_s(value) == seconds


def test_host_json_renewal_duration_defaults_and_reads_infinite() -> None:
    assert max_lock_renewal_s({}) == 300.0
    assert max_lock_renewal_s({"maxAutoLockRenewalDuration": "-00:00:00.0010000"}) == float("inf")
    with pytest.raises(ValueError, match="TimeSpan"):
        timespan_s("5 minutes")


# --- delivery without polling: the pump sleeps in Redis and wakes on the event itself -------


async def run_processor(
    queue: LocalQueue, handler: Callable[[ReceivedMessage], Awaitable[None]]
) -> tuple[asyncio.Event, asyncio.Task[None]]:
    """Start a pump whose idle cap (30 s) is far longer than any wait these tests allow."""
    stop = asyncio.Event()
    processor = SessionProcessor(queue, handler, idle_poll_s=30)
    runner = asyncio.create_task(processor.run(stop))
    await asyncio.sleep(0.1)  # let it go idle first
    return stop, runner


async def test_idle_pump_is_woken_by_a_send_not_by_a_poll(queue: LocalQueue) -> None:
    delivered: asyncio.Queue[tuple[float, ReceivedMessage]] = asyncio.Queue()

    async def handler(m: ReceivedMessage) -> None:
        delivered.put_nowait((datetime.now(UTC).timestamp(), m))

    stop, runner = await run_processor(queue, handler)
    try:
        hops_s = []
        for n in range(5):
            await queue.send([msg(f"wake-{n}", f"s{n}")])
            at, m = await asyncio.wait_for(delivered.get(), 5)
            hops_s.append(at - m.enqueued_time.timestamp())
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await runner
    # Each delivery followed its send within a round trip or two, not a 30 s poll.
    assert max(hops_s) < 0.25, hops_s


async def test_enqueued_time_is_kept_below_the_millisecond(queue: LocalQueue) -> None:
    before = datetime.now(UTC)
    for n in range(5):
        await queue.send([msg(f"stamp-{n}", f"s{n}", time_to_live=timedelta(seconds=30))])
    stamps: list[ReceivedMessage] = []
    while (m := await queue.accept_and_receive(f"r{len(stamps)}")) is not None:
        stamps.append(m)
    assert len(stamps) == 5
    assert all(m.enqueued_time >= before - timedelta(milliseconds=1) for m in stamps)
    # Whole milliseconds would leave every microsecond part at a multiple of 1000.
    assert any(m.enqueued_time.microsecond % 1000 for m in stamps)
    assert all(m.expires_at == m.enqueued_time + timedelta(seconds=30) for m in stamps)


async def test_scheduled_message_wakes_the_idle_pump_on_time(queue: LocalQueue) -> None:
    due = datetime.now(UTC) + timedelta(seconds=0.4)
    await queue.send([msg("timed", scheduled_enqueue_time=due)])
    seen: list[datetime] = []

    async def handler(m: ReceivedMessage) -> None:
        seen.append(datetime.now(UTC))

    stop, runner = await run_processor(queue, handler)
    try:
        async with asyncio.timeout(5):
            while not seen:  # noqa: ASYNC110 - polling a test predicate, no event to await
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await runner
    assert due <= seen[0] < due + timedelta(seconds=0.2)


async def test_lapsed_lock_of_a_dead_receiver_wakes_the_idle_pump(redis_url: str) -> None:
    q = LocalQueue(aioredis.Redis.from_url(redis_url), "lapse", lock_duration_s=0.4)
    await q.send([msg("held")])
    first = await q.accept_and_receive("dead-receiver")  # locks the session, then "dies"
    assert first is not None
    lapses = datetime.now(UTC) + timedelta(seconds=0.4)
    seen: list[tuple[datetime, int]] = []

    async def handler(m: ReceivedMessage) -> None:
        seen.append((datetime.now(UTC), m.delivery_count))

    stop, runner = await run_processor(q, handler)
    try:
        async with asyncio.timeout(5):
            while not seen:  # noqa: ASYNC110 - polling a test predicate, no event to await
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await runner
        await q.close()
    at, delivery_count = seen[0]
    assert delivery_count == 2
    assert lapses - timedelta(milliseconds=20) <= at < lapses + timedelta(seconds=0.25)


async def test_accept_and_receive_skips_sessions_with_nothing_left_to_give(
    queue: LocalQueue,
) -> None:
    await queue.send([msg("gone", "s1", time_to_live=timedelta(milliseconds=50))])
    await queue.send([msg("live", "s2")])
    await asyncio.sleep(0.1)
    m = await queue.accept_and_receive("r1")
    assert m is not None
    assert (m.message_id, m.session_id, m.delivery_count) == ("live", "s2", 1)
    # s1 held only an expired message: dead-lettered, and left unlocked for anyone.
    [letter] = await queue.dead_letters()
    assert (letter.message_id, letter.reason) == ("gone", "TTLExpiredException")
    assert await queue.accept_and_receive("r2") is None
    assert await queue.next_wake_s() is not None  # s2 stays locked by r1 until it lapses
    await queue.send([msg("next", "s1")])
    assert await queue.next_wake_s() == 0


async def test_wait_and_accept_takes_the_messages_whose_send_wakes_it(queue: LocalQueue) -> None:
    assert await queue.wait_and_accept(["r1"], 0.1) == []  # nothing came: timed out
    waiting = asyncio.create_task(queue.wait_and_accept(["r1", "r2", "r3"], 5))
    await asyncio.sleep(0.05)
    await queue.send([msg("woke-a", "s1"), msg("woke-b", "s2")])
    taken = await asyncio.wait_for(waiting, 2)
    # One send, two sessions: both taken in the turn that woke the wait, oldest first.
    assert [(m.message_id, m.session_id, m.lock_token, m.delivery_count) for m in taken] == [
        ("woke-a", "s1", "r1", 1),
        ("woke-b", "s2", "r2", 1),
    ]
    for m in taken:
        assert m.locked_until is not None
        assert m.locked_until - m.enqueued_time < timedelta(seconds=2.5)  # locked on arrival
    assert await queue.accept_and_receive("r4") is None  # s1 and s2 are locked
    for m in taken:
        await queue.complete(m)


async def test_wait_and_accept_survives_a_server_that_forgot_its_scripts(
    queue: LocalQueue, redis_url: str
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    await client.script_flush()
    await client.aclose()
    await queue.send([msg("after-flush")])
    [m] = await queue.wait_and_accept(["r1", "r2"], 1)
    assert m.message_id == "after-flush"
