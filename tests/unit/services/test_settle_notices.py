"""The fill wait wakes when the worker rewrites the orders document, with its bounds kept.

``settle`` takes settled entries from the notices (the worker publishes the newly settled
ones with every orders-document write) and reads nothing when the notices ran since before
the orders were sent; else it reads the worker's settled list first, and again on a notice
without entries. A lost notice costs at most ``notice_poll_s``, and after ``fill_cache_s``
the answer comes from REST as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from shared.adapters.redis_exec import EventWake
from shared.domain.broker import OrderState, OrderStatus
from shared.services.live_state import SettledOrder
from shared.services.settle import Timing, notices_of, settle

ACCOUNT = 10001


class Cache:
    """The worker's settled list for one account, as the executor reads it."""

    def __init__(self) -> None:
        self.settled_orders: dict[int, SettledOrder] = {}
        self.reads = 0

    async def view(self, account_id: int, contract_id: int) -> Any:
        return None

    async def settled(self, account_id: int) -> dict[int, SettledOrder]:
        self.reads += 1
        return dict(self.settled_orders)


class Notices:
    """Notices per account, as the store's subscription delivers them."""

    def __init__(self, *, covering: bool = False) -> None:
        self.waiting: dict[int, EventWake] = {}
        self.recent: dict[int, tuple[float, SettledOrder]] = {}
        self.covering = covering  # the subscription is up since before any order was sent

    @contextlib.asynccontextmanager
    async def watch(self, account_id: int, since: float | None = None) -> AsyncIterator[EventWake]:
        wake = EventWake(self.recent, covered=self.covering and since is not None, since=since)
        self.waiting[account_id] = wake
        try:
            yield wake
        finally:
            del self.waiting[account_id]

    def notify(self, account_id: int, entries: dict[int, SettledOrder] | None = None) -> None:
        if entries is not None:
            self.recent.update({i: (time.time(), e) for i, e in entries.items()})
        if account_id in self.waiting:
            if entries is None:
                self.waiting[account_id].read_wanted = True  # a notice with no entries
            self.waiting[account_id].event.set()


class Store:
    def __init__(self, notices: Notices) -> None:
        self._notices = notices

    def order_notices(self) -> Notices:
        return self._notices


class Rest:
    def __init__(self) -> None:
        self.reads = 0

    async def order_state(self, order_id: int) -> OrderState:
        self.reads += 1
        return OrderState(order_id, OrderStatus.FILLED, 1)


FILLED = SettledOrder(OrderStatus.FILLED, 1)


async def _worker_writes(cache: Cache, notices: Notices | None, after_s: float) -> None:
    await asyncio.sleep(after_s)
    cache.settled_orders[5] = FILLED
    if notices is not None:
        notices.notify(ACCOUNT + 1)  # another account's write wakes nobody here
        notices.notify(ACCOUNT)


async def test_settle_with_a_notice_wakes_at_once_instead_of_waiting_its_poll() -> None:
    cache, notices, rest = Cache(), Notices(), Rest()
    timing = Timing(notice_poll_s=5.0, fill_cache_s=10.0, fill_timeout_s=20.0)
    writer = asyncio.create_task(_worker_writes(cache, notices, 0.02))
    loop = asyncio.get_running_loop()
    started = loop.time()
    done = await settle([5], ACCOUNT, cache, rest, timing, notices_of(Store(notices)))  # type: ignore[arg-type]
    await writer
    assert done[5].source == "cache"
    assert loop.time() - started < 1.0  # woken by the notice, not the 5 s poll
    assert cache.reads == 2  # one read before the wait, one after the notice
    assert rest.reads == 0
    assert notices.waiting == {}  # the watch ends with the wait


async def test_settle_with_a_lost_notice_reads_the_cache_again_after_notice_poll() -> None:
    cache, notices, rest = Cache(), Notices(), Rest()
    timing = Timing(notice_poll_s=0.02, fill_cache_s=10.0, fill_timeout_s=20.0)
    writer = asyncio.create_task(_worker_writes(cache, None, 0.03))
    done = await settle([5], ACCOUNT, cache, rest, timing, notices)  # type: ignore[arg-type]
    await writer
    assert done[5].source == "cache"
    assert cache.reads >= 2
    assert rest.reads == 0


async def test_settle_without_the_cache_settling_asks_rest_after_fill_cache_s() -> None:
    cache, notices, rest = Cache(), Notices(), Rest()
    timing = Timing(notice_poll_s=0.01, fill_cache_s=0.06, fill_timeout_s=1.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    done = await settle([5], ACCOUNT, cache, rest, timing, notices)  # type: ignore[arg-type]
    assert done[5].source == "rest"
    assert loop.time() - started >= 0.06
    assert rest.reads == 1


async def test_settle_with_covering_notices_answers_from_their_entries_without_a_read() -> None:
    cache, notices, rest = Cache(), Notices(covering=True), Rest()
    timing = Timing(notice_poll_s=5.0, fill_cache_s=10.0, fill_timeout_s=20.0)

    async def worker_writes() -> None:
        await asyncio.sleep(0.02)
        notices.notify(ACCOUNT, {6: SettledOrder(OrderStatus.FILLED, 2)})  # another order
        await asyncio.sleep(0.02)
        notices.notify(ACCOUNT, {5: FILLED})

    writer = asyncio.create_task(worker_writes())
    loop = asyncio.get_running_loop()
    started = loop.time()
    done = await settle([5], ACCOUNT, cache, rest, timing, notices, since=time.time())  # type: ignore[arg-type]
    await writer
    assert (done[5].source, done[5].filled_qty) == ("cache", 1)
    assert loop.time() - started < 1.0
    assert (cache.reads, rest.reads) == (0, 0)


async def test_settle_with_an_entry_notified_before_the_wait_began_needs_no_notice() -> None:
    cache, notices, rest = Cache(), Notices(covering=True), Rest()
    sent = time.time()
    notices.notify(ACCOUNT, {5: FILLED})  # the fill's notice came before the wait
    timing = Timing(notice_poll_s=5.0, fill_cache_s=10.0, fill_timeout_s=20.0)
    done = await settle([5], ACCOUNT, cache, rest, timing, notices, since=sent)  # type: ignore[arg-type]
    assert done[5].source == "cache"
    assert (cache.reads, rest.reads) == (0, 0)


async def test_settle_ignores_an_entry_notified_before_its_orders_were_sent() -> None:
    # An order id seen before (a simulator reset reuses them) is not this order's fill.
    cache, notices, rest = Cache(), Notices(covering=True), Rest()
    notices.notify(ACCOUNT, {5: SettledOrder(OrderStatus.FILLED, 1)})
    await asyncio.sleep(0.01)
    sent = time.time()
    cache.settled_orders[5] = SettledOrder(OrderStatus.FILLED, 2)  # the new order's fill
    timing = Timing(notice_poll_s=0.02, fill_cache_s=10.0, fill_timeout_s=20.0)
    done = await settle([5], ACCOUNT, cache, rest, timing, notices, since=sent)  # type: ignore[arg-type]
    assert (done[5].source, done[5].filled_qty) == ("cache", 2)  # read, not the old notice


async def test_settle_without_knowing_when_the_orders_went_out_reads_the_document_first() -> None:
    # A re-delivery finishing an earlier delivery's orders: the notices cannot vouch for them.
    cache, notices, rest = Cache(), Notices(covering=True), Rest()
    cache.settled_orders[5] = FILLED
    timing = Timing(notice_poll_s=5.0, fill_cache_s=10.0, fill_timeout_s=20.0)
    done = await settle([5], ACCOUNT, cache, rest, timing, notices)  # type: ignore[arg-type]
    assert done[5].source == "cache"
    assert cache.reads == 1


def test_notices_of_a_store_without_notices_is_none_so_the_wait_polls() -> None:
    assert notices_of(object()) is None
    notices = Notices()
    assert notices_of(Store(notices)) is notices
