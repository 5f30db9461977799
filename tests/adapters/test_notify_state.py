"""The notification feed and state against a real redis-server.

The publishers append notifiable events to the feed in their own round trip; the feed hands
each entry to one consumer and lets another take over what a crashed one left; the gate's
de-duplication, rate limit and folding are one atomic decision each.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from shared import redis_keys as keys
from shared.adapters.notify_feed import RedisNotifyFeed
from shared.adapters.notify_state import (
    RedisNotifyGate,
    RedisStatusBook,
    RedisWatchStore,
)
from shared.adapters.ops_redis import RedisOpsStore
from shared.adapters.redis_exec import RedisExecutionStore
from shared.adapters.redis_timers import RedisTimerStore
from shared.services.notify.ports import Verdict
from shared.services.notify.status import notifications_check
from shared.services.ops.ports import SwitchChange
from worker.live_store import LiveStore

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url)
    yield c
    await c.aclose()


async def feed_types(client: aioredis.Redis) -> list[str]:
    entries = await client.xrange(keys.NOTIFY_FEED)
    return [json.loads(fields[b"event"])["type"] for _, fields in entries]


async def test_publishers_with_notifiable_events_append_them_to_the_feed(
    client: aioredis.Redis,
) -> None:
    pubsub = client.pubsub()
    await pubsub.subscribe("order.rejected", "trade.signal")
    executor = RedisExecutionStore(client)
    await executor.publish("order.rejected", {"signal_id": "s1"})
    await executor.publish("order.placed", {"signal_id": "s1"})  # not notifiable
    await executor.risk_facts(
        "solo", "DEMO1", "MNQ", events=[("trade.signal", {}), ("risk.denied", {"code": "x"})]
    )
    await RedisTimerStore(client).publish("queue.dead_lettered", {"message_id": "m1"})
    await RedisOpsStore(client).publish(
        "risk.alert", keys.event_message("risk.alert", {"kind": "flatten"})
    )
    live = LiveStore(client, now=lambda: AT, liveness_ttl_s=10, quote_ttl_s=10)
    await live.publish([("position.update", {}), ("order.rejected", {"signal_id": "w"})])
    assert await feed_types(client) == [
        "order.rejected",
        "risk.denied",
        "queue.dead_lettered",
        "risk.alert",
        "order.rejected",
    ]
    # Pub/sub still carries every event, notifiable or not.
    seen = []
    for _ in range(6):  # two subscribe confirmations (skipped as None), then the messages
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None:
            seen.append(message["channel"])
    assert seen == [b"order.rejected", b"trade.signal", b"order.rejected"]
    await pubsub.aclose()


async def test_kill_switch_script_with_a_change_appends_its_event_to_the_feed(
    client: aioredis.Redis,
) -> None:
    message = keys.event_message("risk.alert", {"kind": "kill_switch", "action": "paused"})
    change = SwitchChange(keys.KILL_GLOBAL, "{}", "{}", "risk.alert", message)
    store = RedisOpsStore(client)
    assert (await store.switch(change)).changed
    assert not (await store.switch(change)).changed  # no change: nothing published or fed
    entries = await client.xrange(keys.NOTIFY_FEED)
    assert [fields[b"event"].decode() for _, fields in entries] == [message]


async def test_feed_with_two_consumers_hands_each_entry_to_one(client: aioredis.Redis) -> None:
    timers = RedisTimerStore(client)
    first, second = RedisNotifyFeed(client, "a"), RedisNotifyFeed(client, "b")
    assert await first.read(10, None) == []  # makes the group
    for n in range(3):
        await timers.publish("queue.dead_lettered", {"message_id": f"m{n}"})
    got_a = await first.read(2, None)
    got_b = await second.read(10, None)
    assert [e.event["message_id"] for e in got_a if e.event] == ["m0", "m1"]
    assert [e.event["message_id"] for e in got_b if e.event] == ["m2"]
    await first.ack([e.entry_id for e in got_a])
    assert await first.read(10, None) == []
    # b crashed before acknowledging: after the idle time, a takes it over; a's own are done.
    assert await first.reclaim(60_000, 10) == []
    taken = await first.reclaim(0, 10)
    assert [e.event["message_id"] for e in taken if e.event] == ["m2"]
    await first.ack([e.entry_id for e in taken])
    assert await second.reclaim(0, 10) == []


async def test_feed_with_its_key_deleted_makes_the_group_again(client: aioredis.Redis) -> None:
    feed = RedisNotifyFeed(client, "a")
    await feed.read(1, None)
    await client.delete(keys.NOTIFY_FEED)
    await RedisTimerStore(client).publish("order.rejected", {"signal_id": "after"})
    [entry] = await feed.read(5, None)
    assert entry.event is not None
    assert entry.event["signal_id"] == "after"


async def test_feed_with_an_unreadable_entry_returns_it_without_an_event(
    client: aioredis.Redis,
) -> None:
    feed = RedisNotifyFeed(client, "a")
    await feed.read(1, None)
    await client.xadd(keys.NOTIFY_FEED, {"event": "not json"})
    [entry] = await feed.read(5, None)
    assert entry.event is None


def gate(client: aioredis.Redis, *, dedupe_s: int = 60, limit: int = 3) -> RedisNotifyGate:
    return RedisNotifyGate(client, dedupe_s=dedupe_s, limit=limit, window_s=60)


async def test_gate_with_the_same_subject_sends_it_once_per_window(
    client: aioredis.Redis,
) -> None:
    g = gate(client)
    assert await g.admit("webhook", "drift", "d1", "1-0", AT) is Verdict.SEND
    assert await g.admit("webhook", "drift", "d1", "2-0", AT) is Verdict.DUPLICATE
    # The same entry delivered again (a crash before the send) gets its first answer.
    assert await g.admit("webhook", "drift", "d1", "1-0", AT) is Verdict.SEND
    # Another channel keeps its own marks.
    assert await g.admit("email", "drift", "d1", "2-0", AT) is Verdict.SEND
    await client.delete(keys.notify_dedupe("webhook", "d1"))  # the mark expired
    assert await g.admit("webhook", "drift", "d1", "3-0", AT) is Verdict.SEND


async def test_gate_over_the_rate_limit_folds_then_summarises_once_the_window_allows(
    client: aioredis.Redis,
) -> None:
    g = gate(client, limit=3)
    verdicts = [
        await g.admit("webhook", kind, f"d{n}", f"{n}-0", AT + timedelta(seconds=n))
        for n, kind in enumerate(["order_rejected"] * 5 + ["drift"] * 2)
    ]
    assert verdicts == [Verdict.SEND] * 3 + [Verdict.FOLDED] * 4
    # A folded entry delivered again is not counted twice.
    assert await g.admit("webhook", "drift", "d6", "6-0", AT) is Verdict.DUPLICATE
    assert await g.take_folded("webhook", AT + timedelta(seconds=30)) is None  # window full
    folded = await g.take_folded("webhook", AT + timedelta(seconds=61))
    assert folded is not None
    assert (folded.total, dict(folded.per_kind)) == (4, {"order_rejected": 2, "drift": 2})
    assert (folded.first_at, folded.last_at) == (
        (AT + timedelta(seconds=3)).isoformat(),
        (AT + timedelta(seconds=6)).isoformat(),
    )
    assert await g.take_folded("webhook", AT + timedelta(seconds=62)) is None  # taken
    # The summary used a slot of the new window: two more fit, the next is folded.
    later = AT + timedelta(seconds=63)
    assert [await g.admit("webhook", "x", f"n{n}", f"9{n}-0", later) for n in range(3)] == [
        Verdict.SEND,
        Verdict.SEND,
        Verdict.FOLDED,
    ]


async def test_gate_with_dedupe_off_sends_repeats_until_the_rate_limit(
    client: aioredis.Redis,
) -> None:
    g = gate(client, dedupe_s=0, limit=2)
    verdicts = [await g.admit("webhook", "k", "same", f"{n}-0", AT) for n in range(3)]
    assert verdicts == [Verdict.SEND, Verdict.SEND, Verdict.FOLDED]


async def test_status_book_with_deliveries_and_failures_feeds_the_health_part(
    client: aioredis.Redis,
) -> None:
    book = RedisStatusBook(client)
    await book.record("webhook", AT, None)
    await book.record("webhook", AT + timedelta(seconds=1), "webhook answered HTTP 404")
    await book.record("email", AT, None)
    raws = [await client.get(keys.notify_status(c)) for c in ("webhook", "email")]
    part = notifications_check(("webhook", "email"), [r.decode() if r else None for r in raws])
    assert part["status"] == "degraded"
    assert part["channels"]["webhook"]["last_error"] == "webhook answered HTTP 404"
    assert (part["channels"]["webhook"]["sent"], part["channels"]["webhook"]["failed"]) == (1, 1)
    assert part["channels"]["email"]["status"] == "ok"
    await book.record("webhook", AT + timedelta(seconds=2), None)
    raw = await client.get(keys.notify_status("webhook"))
    assert notifications_check(("webhook",), [raw.decode()])["status"] == "ok"


async def test_watch_store_commit_writes_the_view_and_feeds_the_events_together(
    client: aioredis.Redis,
) -> None:
    store = RedisWatchStore(client)
    await client.set(keys.WORKER_HEARTBEAT, '{"at": "x"}')
    assert await store.read() == ('{"at": "x"}', None)
    event = {"check": "worker", "status": "down", "since": "t"}
    await store.commit('{"last_beat": "t"}', [("system.health", event)])
    assert await store.read() == ('{"at": "x"}', '{"last_beat": "t"}')
    [(_, fields)] = await client.xrange(keys.NOTIFY_FEED)
    assert json.loads(fields[b"event"]) == {"type": "system.health", "source": "watchdog", **event}
