"""Record fills and execution reports in Table storage once, linked to their signals.

Order of work for each item: skip it if ``worker:fills`` / ``worker:executions`` already
lists it; otherwise look its ``clOrdId`` up in the executor's ``clord:`` index, upsert its
row (and merge the ledger leg's end), then add it to the set. Writing before marking means a crash
in between only writes the row again (an idempotent upsert) rather than losing it. A Table
or Redis failure keeps the item in ``pending`` for the maintenance loop to retry, so no fill
is lost to an outage. ``order.filled`` is published at once for a fill that streams in
(``announce``), and after recording for one first seen in a snapshot or the REST fill list.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import redis_keys as keys
from shared.domain.broker import ExecutionReport, OrderStatus
from shared.domain.errors import DependencyUnavailable
from shared.ports import Ledger
from worker.book import AccountFill, Book
from worker.history import (
    SignalLink,
    TablesHistory,
    cancelled_ledger_entry,
    execution_entity,
    fill_entity,
    filled_ledger_entry,
)

logger = logging.getLogger(__name__)

_KEEP_S = 14 * 24 * 3600  # how long the "already recorded" sets remember an id
_LINK_CACHE = 10_000

Publish = Callable[[Iterable[tuple[str, Mapping[str, Any]]]], Awaitable[None]]


class SignalLinker:
    """Resolve a ``clOrdId`` to its signal through the executor's index, caching hits."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._cache: OrderedDict[str, SignalLink] = OrderedDict()

    async def link(self, cl_ord_id: str | None) -> SignalLink | None:
        """Return the signal behind ``cl_ord_id``, or None (not ours, or index expired)."""
        if not cl_ord_id:
            return None
        cached = self._cache.get(cl_ord_id)
        if cached is not None:
            return cached
        try:
            raw = await self._redis.get(keys.cl_ord_index(cl_ord_id))
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable("the clOrdId index could not be read") from exc
        if raw is None:
            return None  # not cached: the executor may still be writing it
        try:
            found = SignalLink.from_index(json.loads(raw))
        except ValueError:
            return None
        if found is not None:
            self._cache[cl_ord_id] = found
            if len(self._cache) > _LINK_CACHE:
                self._cache.popitem(last=False)
        return found


class HistoryRecorder:
    """Write new fills and execution reports exactly once per id (at least once on a crash)."""

    def __init__(
        self,
        redis: Redis,
        history: TablesHistory,
        ledger: Ledger,
        *,
        linker: SignalLinker,
        publish: Publish,
        now: Callable[[], datetime],
    ) -> None:
        self._redis = redis
        self._history = history
        self._ledger = ledger
        self._linker = linker
        self._publish = publish
        self._now = now
        self.pending_fills: dict[int, AccountFill] = {}
        self.pending_executions: dict[int, tuple[ExecutionReport, str | None]] = {}
        self.fills_recorded = 0
        self._announced: set[int] = set()

    async def _unseen(self, key: str, ids: list[int]) -> set[int]:
        if not ids:
            return set()
        try:
            scores = await self._redis.zmscore(key, [str(i) for i in ids])
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable("the recorded-ids set could not be read") from exc
        return {i for i, score in zip(ids, scores, strict=True) if score is None}

    async def _mark(self, key: str, item_id: int) -> None:
        now = time.time()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(key, {str(item_id): now})
                pipe.zremrangebyscore(key, "-inf", now - _KEEP_S)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable("the recorded-ids set could not be written") from exc

    async def announce(self, fills: Iterable[AccountFill], book: Book) -> None:
        """Publish ``order.filled`` for fills seen live, before they reach Table storage."""
        events = []
        for item in fills:
            try:
                link = await self._linker.link(item.cl_ord_id)
            except DependencyUnavailable:
                link = None  # the event still matters more than its link
            contract = book.contract_names.get(item.fill.contract_id)
            events.append(("order.filled", _fill_event(item, link, contract)))
            self._announced.add(item.fill.id)
        await self._publish(events)

    async def record_fills(self, fills: Iterable[AccountFill], book: Book) -> None:
        """Record each fill not recorded before; failures wait in ``pending_fills``."""
        batch = {f.fill.id: f for f in fills}
        batch.update(self.pending_fills)
        self.pending_fills = {}
        try:
            unseen = await self._unseen(keys.WORKER_FILLS_RECORDED, sorted(batch))
        except DependencyUnavailable:
            self.pending_fills.update(batch)
            raise
        for fill_id in sorted(unseen):
            try:
                await self._record_fill(batch[fill_id], book)
            except DependencyUnavailable as exc:
                self.pending_fills[fill_id] = batch[fill_id]
                logger.warning(
                    "fill not recorded yet; will retry",
                    extra={"fill_id": fill_id, "error": exc.message},
                )

    async def _record_fill(self, item: AccountFill, book: Book) -> None:
        fill = item.fill
        link = await self._linker.link(item.cl_ord_id)
        contract = book.contract_names.get(fill.contract_id)
        now = self._now()
        await self._history.record_fill(
            fill_entity(fill, item.account_id, item.cl_ord_id, link, contract, now)
        )
        if link is not None and item.cl_ord_id:
            qty, price = book.average_fill(fill.order_id) or (fill.qty, fill.price)
            filled_at = fill.timestamp or now
            await self._ledger.update(
                filled_ledger_entry(link, item.cl_ord_id, qty, price, filled_at)
            )
        await self._mark(keys.WORKER_FILLS_RECORDED, fill.id)
        self.fills_recorded += 1
        if fill.id in self._announced:
            self._announced.discard(fill.id)  # published when it streamed in
        else:
            # First seen in a snapshot or the REST list: news to dashboards too.
            await self._publish([("order.filled", _fill_event(item, link, contract))])

    async def record_executions(
        self, reports: Iterable[tuple[ExecutionReport, str | None]]
    ) -> None:
        """Record each execution report not recorded before (order status history)."""
        batch = {r.id: (r, c) for r, c in reports}
        batch.update(self.pending_executions)
        self.pending_executions = {}
        try:
            unseen = await self._unseen(keys.WORKER_EXECUTIONS_RECORDED, sorted(batch))
        except DependencyUnavailable:
            self.pending_executions.update(batch)
            raise
        for report_id in sorted(unseen):
            report, cl_ord_id = batch[report_id]
            try:
                await self._record_execution(report, cl_ord_id)
            except DependencyUnavailable:
                self.pending_executions[report_id] = batch[report_id]

    async def _record_execution(self, report: ExecutionReport, cl_ord_id: str | None) -> None:
        link = await self._linker.link(cl_ord_id)
        now = self._now()
        await self._history.record_execution(execution_entity(report, cl_ord_id, link, now))
        if link is not None and cl_ord_id and report.status is OrderStatus.CANCELED:
            at = report.timestamp or now
            await self._ledger.update(cancelled_ledger_entry(link, cl_ord_id, at))
        await self._mark(keys.WORKER_EXECUTIONS_RECORDED, report.id)

    @property
    def pending(self) -> int:
        """Return how many items wait for a retry."""
        return len(self.pending_fills) + len(self.pending_executions)


def _fill_event(item: AccountFill, link: SignalLink | None, contract: str | None) -> dict[str, Any]:
    fill = item.fill
    return {
        "fill_id": fill.id,
        "order_id": fill.order_id,
        "account_id": item.account_id,
        "contract_id": fill.contract_id,
        "contract": contract,
        "side": fill.side.value,
        "qty": fill.qty,
        "price": str(fill.price),
        "timestamp": None if fill.timestamp is None else fill.timestamp.isoformat(),
        "cl_ord_id": item.cl_ord_id,
        "signal_id": None if link is None else link.signal_id,
        "strategy": None if link is None else link.strategy,
        "account": None if link is None else link.account,
        "leg": None if link is None else link.leg,
    }
