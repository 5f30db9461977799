"""Thread-to-loop hand-offs: back-pressure on the bounded queue and coalesced quotes."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from decimal import Decimal

from shared.adapters.tradovate.auth import SessionToken
from shared.adapters.tradovate.wstypes import SocketConfig
from shared.domain.broker import Quote
from worker.live_store import orders_notice
from worker.session import LoopBridge, QuoteFeed


class NoTokens:
    def current(self) -> SessionToken:
        raise AssertionError("not connecting in this test")

    def rejected(self, token: str) -> SessionToken:
        raise AssertionError("not connecting in this test")


async def test_loop_bridge_with_full_queue_times_out_instead_of_dropping() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(1)
    bridge = LoopBridge(asyncio.get_running_loop(), queue, timeout_s=0.1)
    assert await asyncio.to_thread(bridge.put, 1)
    assert not await asyncio.to_thread(bridge.put, 2)
    assert queue.qsize() == 1
    assert queue.get_nowait() == 1
    assert await asyncio.to_thread(bridge.put, 3)


def test_loop_bridge_hands_over_without_a_loop_turn_until_the_queue_is_full() -> None:
    # The loop is busy (blocked here) while a socket thread puts: items go in without
    # waiting for it, in order, and the bound counts them before the loop has queued them.
    loop = asyncio.new_event_loop()
    try:
        queue: asyncio.Queue[int] = asyncio.Queue(5)
        bridge = LoopBridge(loop, queue, timeout_s=0.2)
        answers: list[bool] = []
        thread = threading.Thread(target=lambda: answers.extend(bridge.put(i) for i in range(7)))
        started = time.monotonic()
        thread.start()
        thread.join(timeout=5)
        assert answers == [True] * 5 + [False, False]
        # Five went over at once; the sixth and seventh each waited out the timeout.
        assert time.monotonic() - started >= 0.4
        assert queue.qsize() == 0  # nothing is queued until the loop turns
        loop.run_until_complete(asyncio.sleep(0))
        assert [queue.get_nowait() for _ in range(queue.qsize())] == [0, 1, 2, 3, 4]
    finally:
        loop.close()


async def test_loop_bridge_with_closed_loop_refuses_quietly() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    bridge = LoopBridge(loop, asyncio.Queue(), timeout_s=0.1)
    assert not bridge.put(1)
    bridge.call(print, "never")


async def test_quote_feed_keeps_the_latest_quote_per_contract_and_wakes_once() -> None:
    wakes: list[int] = []
    loop = asyncio.get_running_loop()
    bridge = LoopBridge(loop, asyncio.Queue(), timeout_s=1.0)
    feed = QuoteFeed(
        SocketConfig(url="ws://127.0.0.1:9/md", name="md"),
        NoTokens(),
        bridge,
        on_wake=lambda: wakes.append(1),
    )

    def burst() -> None:
        for price in range(100):
            feed._arrived(Quote(1, last=Decimal(price)))
        feed._arrived(Quote(2, last=Decimal(7)))

    await asyncio.to_thread(burst)
    await asyncio.sleep(0)
    assert wakes == [1]
    quotes = sorted(feed.take(), key=lambda q: q.contract_id)
    assert [(q.contract_id, q.last) for q in quotes] == [(1, Decimal(99)), (2, Decimal(7))]
    assert feed.take() == []
    assert feed.received == 101
    feed.update({1, 2})  # not connected: remembered for the connection to subscribe
    assert feed.wanted == frozenset({1, 2})
    feed.update({2})
    assert feed.wanted == frozenset({2})


def test_orders_notice_names_the_account_and_only_the_newly_settled_entries() -> None:
    first = {"order_id": 5, "status": "filled", "filled_qty": 1}
    second = {"order_id": 6, "status": "canceled", "filled_qty": 0}
    assert json.loads(orders_notice(74, [first], None)) == {
        "account_id": 74,
        "settled": [first],
    }
    notice = json.loads(orders_notice(74, [second, first], [first]))
    assert notice["settled"] == [second]
    # The list shrank (the oldest fell off its bound): a notice, with nothing new in it.
    assert json.loads(orders_notice(74, [second], [second, first]))["settled"] == []
