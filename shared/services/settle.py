"""Wait until a plan's market orders have filled and its cancels have closed.

A market order's fill is part of its message's work: the message completes once Tradovate
says the order is closed, so the next message of the session (Service Bus delivers it only
after this one completes) plans from a position that holds the fill. The answer comes from
the worker's cache when it is live (the orders document's ``settled`` list: closed, and the
cached position holds the fills, so that answer also readies the cache for the next plan),
else, or after ``Timing.fill_cache_s``, from REST (``order/item`` and the order's fills).
After ``Timing.fill_timeout_s`` an order still not closed is reported ``timeout``: the
signal is recorded with its fills unconfirmed and the next plan reads REST.

The worker publishes a notice in the transaction that rewrites an account's orders document:
the account and the orders newly listed as settled (``Notices``, one subscription per
process, which keeps those entries). When that subscription ran without a break since before
the orders were sent, the wait takes its answer from the notices and reads nothing; else it
reads the document first, and again on a notice that carried no entries. A notice is only a
hint: without one in ``Timing.notice_poll_s`` the document is read anyway (every
``Timing.poll_s`` when the store offers no notices), so a lost notice costs time, never an
answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from shared.domain.broker import OrderStatus
from shared.domain.errors import TransientBrokerError
from shared.ports import BrokerTrading, LiveReader
from shared.services.live_state import SettledOrder
from shared.structural import conforms

log = logging.getLogger(__name__)

Source = Literal["cache", "rest", "timeout"]


@dataclass(frozen=True, slots=True)
class Timing:
    """The executor's bounds on waiting for the cache and for fills (settings in seconds)."""

    view_wait_s: float = 0.15  # poll the cache this long for a proven view, then read REST
    poll_s: float = 0.005  # between two reads of the cache
    fill_cache_s: float = 1.0  # wait this long for the cache to settle orders, then ask REST
    fill_timeout_s: float = 5.0  # give up on a fill after this long: it stays unconfirmed
    rest_poll_s: float = 0.1  # between two REST reads of an order's state
    notice_poll_s: float = 0.05  # read the cache again this soon even without a notice
    # Hold a sent plan's answers this long for the write that records its fills; a wait
    # that runs longer writes them then (the summary reads "sent"), and goes on.
    answer_linger_s: float = 0.25


class Wake(Protocol):
    """One fill wait's wake-up, and what the notices said."""

    covered: bool  # the notices ran without a break since before the orders were sent
    read_wanted: bool  # a notice came without entries: read the document

    def known(self, order_ids: Iterable[int]) -> Mapping[int, SettledOrder]:
        """Return the settled entries the notices carried for ``order_ids``."""
        ...

    async def wait(self, timeout_s: float) -> bool:
        """Wait for a notice (True) or ``timeout_s`` (False)."""
        ...


class Notices(Protocol):
    """Notices that the worker rewrote an account's orders document."""

    def watch(
        self, account_id: int, since: float | None = None
    ) -> AbstractAsyncContextManager[Wake]:
        """Return a wake-up for ``account_id``'s notices, armed while the block runs;
        ``since`` (epoch s) is when the awaited orders were first sent, if known."""
        ...


@runtime_checkable
class NoticeSource(Protocol):
    """A store that can wake fill waits (``RedisExecutionStore``)."""

    def order_notices(self) -> Notices:
        """Return this process's notices."""
        ...


def notices_of(store: object) -> Notices | None:
    """Return the store's notices, or None when it offers none (the wait polls)."""
    return store.order_notices() if conforms(store, NoticeSource) else None  # type: ignore[type-abstract]


@dataclass(frozen=True, slots=True)
class Settled:
    """Where one order ended: its closing status and filled quantity, and who said so."""

    order_id: int
    status: OrderStatus | None
    filled_qty: int
    source: Source
    price: Decimal | None = None  # the average fill, when known

    @property
    def untraded(self) -> bool:
        """Tell whether the order closed without trading (refused or cancelled)."""
        return self.source != "timeout" and self.filled_qty == 0


async def settle(
    order_ids: Iterable[int],
    account_id: int,
    live: LiveReader,
    brk: BrokerTrading,
    timing: Timing,
    notices: Notices | None = None,
    since: float | None = None,
) -> Mapping[int, Settled]:
    """Wait for each order to close; return where each ended (``timeout`` if it did not).
    ``since`` (epoch s) is when the orders were first sent, if this delivery sent them."""
    pending = set(order_ids)
    done: dict[int, Settled] = {}
    if not pending:
        return done
    loop = asyncio.get_running_loop()
    started = loop.time()
    watching = notices.watch(account_id, since) if notices is not None else contextlib.nullcontext()
    async with watching as wake:
        await _wait(account_id, live, brk, timing, (pending, done), wake, started)
    for order_id in sorted(pending):
        done[order_id] = Settled(order_id, None, 0, "timeout")
    return done


def _take(found: Mapping[int, SettledOrder], state: tuple[set[int], dict[int, Settled]]) -> None:
    pending, done = state
    for order_id in sorted(pending & set(found)):
        entry = found[order_id]
        done[order_id] = Settled(
            order_id, entry.status, entry.filled_qty, "cache", entry.fill_price
        )
    pending -= set(done)


async def _wait(
    account_id: int,
    live: LiveReader,
    brk: BrokerTrading,
    timing: Timing,
    state: tuple[set[int], dict[int, Settled]],
    wake: Wake | None,
    started: float,
) -> None:
    pending, done = state
    loop = asyncio.get_running_loop()
    use_cache = True
    # With notices that ran since before the orders went out, the entries they carried
    # answer without a read; else (or when a notice carried none) the document is read.
    read_now = wake is None or not wake.covered
    while pending:
        elapsed = loop.time() - started
        if use_cache:
            if wake is not None:
                _take(wake.known(pending), state)
                read_now = read_now or wake.read_wanted
                wake.read_wanted = False
            if pending and read_now:
                read_now = False
                found = await live.settled(account_id)
                if found is None:
                    use_cache = False  # the worker is absent: ask REST
                else:
                    _take(found, state)
            if not pending:
                break
            if use_cache and elapsed < timing.fill_cache_s:
                if wake is None:
                    await asyncio.sleep(timing.poll_s)
                    read_now = True
                else:
                    left = timing.fill_cache_s - (loop.time() - started)
                    # Without a notice in time, read the document anyway (a lost notice).
                    read_now = not await wake.wait(max(0.0, min(timing.notice_poll_s, left)))
                continue
            use_cache = False  # the worker is absent, or slower than REST: ask REST
        await _ask_rest(brk, pending, done)
        pending -= set(done)
        if not pending or loop.time() - started >= timing.fill_timeout_s:
            break
        await asyncio.sleep(timing.rest_poll_s)


async def _ask_rest(brk: BrokerTrading, pending: set[int], done: dict[int, Settled]) -> None:
    ids = sorted(pending)
    answers = await asyncio.gather(*(brk.order_state(i) for i in ids), return_exceptions=True)
    for order_id, answer in zip(ids, answers, strict=True):
        if isinstance(answer, TransientBrokerError):
            log.info("order %s: state not readable yet (%s)", order_id, answer)
            continue
        if isinstance(answer, BaseException):
            raise answer
        if answer.status is not None and not answer.status.is_open:
            done[order_id] = Settled(
                order_id, answer.status, answer.filled_qty, "rest", answer.average_price
            )
