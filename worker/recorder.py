"""Record fills and execution reports in Table storage once, linked to their signals.

Order of work for each batch: drop the items ``worker:fills`` / ``worker:executions``
already list; look the rest's ``clOrdId``s up in the executor's ``clord:`` index (one
``MGET``); then, day by day, upsert their rows (one Table transaction per 100 rows) and
merge each signal's ledger legs' ends (one script per signal); last, add every written id
to the set (one round trip).
Writing before marking means a crash in between only writes the rows again (idempotent
upserts) rather than losing them. A Table or Redis failure keeps the items in ``pending``
for the maintenance loop to retry, so no fill is lost to an outage. ``order.filled`` is
published at once for a fill that streams in (``announce``), and after recording for one
first seen in a snapshot or the REST fill list.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import redis_keys as keys
from shared.adapters.tables_common import TRANSACTION_ROWS
from shared.domain.broker import ExecutionReport, OrderStatus
from shared.domain.errors import DependencyUnavailable
from shared.ports import Ledger, LedgerEntry
from worker.book import AccountFill, Book
from worker.history import (
    SignalLink,
    TablesHistory,
    cancelled_ledger_entry,
    execution_entity,
    fill_entity,
    filled_ledger_entry,
)
from worker.management import BREAKEVEN_SUFFIX

logger = logging.getLogger(__name__)

_KEEP_S = 14 * 24 * 3600  # how long the "already recorded" sets remember an id
_LINK_CACHE = 10_000

Publish = Callable[[Iterable[tuple[str, Mapping[str, Any]]]], Awaitable[None]]


class SignalLinker:
    """Resolve ``clOrdId``s to their signals through the executor's index, caching hits."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._cache: OrderedDict[str, SignalLink] = OrderedDict()

    async def link(self, cl_ord_id: str | None) -> SignalLink | None:
        """Return the signal behind ``cl_ord_id``, or None (not ours, or index expired)."""
        return (await self.link_all([cl_ord_id]))[0]

    async def link_all(self, cl_ord_ids: Sequence[str | None]) -> list[SignalLink | None]:
        """Return each id's signal (or None), reading the ids not cached in one ``MGET``.

        A stop the worker placed at breakeven is not indexed: it is linked through its
        entry's clOrdId (read in the same ``MGET``), as an exit of the entry's signal."""
        missing = sorted({c for c in cl_ord_ids if c and c not in self._cache})
        if missing:
            entries = {c: c.removesuffix(BREAKEVEN_SUFFIX) for c in missing}
            entries = {c: e for c, e in entries.items() if e != c and e}
            names = [*missing, *entries.values()]
            try:
                raws = await self._redis.mget([keys.cl_ord_index(c) for c in names])
            except (RedisError, OSError) as exc:
                raise DependencyUnavailable("the clOrdId index could not be read") from exc
            found = dict(zip(names, map(_parse_link, raws), strict=True))
            for cl_ord_id in missing:
                link = found[cl_ord_id]
                entry = found.get(entries.get(cl_ord_id, ""))
                if link is None and entry is not None:
                    link = entry.exit_as(".be")
                if link is not None:  # None is not cached: the executor may still write it
                    self._cache[cl_ord_id] = link
                    if len(self._cache) > _LINK_CACHE:
                        self._cache.popitem(last=False)
        return [self._cache.get(c) if c else None for c in cl_ord_ids]


def _parse_link(raw: str | bytes | None) -> SignalLink | None:
    if raw is None:
        return None
    try:
        return SignalLink.from_index(json.loads(raw))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Row:
    """One history row to write, with the ledger merge that rides with it."""

    item_id: int
    entity: dict[str, Any]
    ledger: LedgerEntry | None = None


class HistoryRecorder:
    """Write new fills and execution reports exactly once per id (at least once on a crash).

    Each call writes its rows partition by partition (a day's rows, up to 100 in one Table
    transaction), merges the ledger ends of each signal among them in one script, then
    marks every row written in one round trip.
    """

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

    async def _mark(self, key: str, item_ids: Sequence[int]) -> None:
        now = time.time()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(key, dict.fromkeys((str(i) for i in item_ids), now))
                pipe.zremrangebyscore(key, "-inf", now - _KEEP_S)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable("the recorded-ids set could not be written") from exc

    async def _write(self, role: str, key: str, rows: Sequence[_Row]) -> set[int]:
        """Write the rows and their ledger ends, then mark them; return the ids marked."""
        written: list[int] = []
        for chunk in _transactions(rows):
            # Rows before the ledger, ledger before the mark: a crash in between only writes
            # them again (idempotent merges) rather than losing them.
            try:
                await self._history.upsert_partition(role, [r.entity for r in chunk])
            except DependencyUnavailable as exc:
                logger.warning(
                    "%s not recorded yet; will retry",
                    role,
                    extra={"rows": len(chunk), "error": exc.message},
                )
                continue
            written += await self._merge_ends(role, chunk)
        if written:
            await self._mark(key, written)
        return set(written)

    async def _merge_ends(self, role: str, chunk: Sequence[_Row]) -> list[int]:
        """Merge the legs' ends of written rows, one script per signal; return the ids whose
        ends are merged (or that have none). A signal whose merge fails keeps its rows
        unmarked, to be written again with their ends."""
        done: list[int] = []
        signals: dict[str, tuple[list[int], dict[str, LedgerEntry]]] = {}
        for row in chunk:
            if row.ledger is None:
                done.append(row.item_id)
                continue
            ids, ends = signals.setdefault(row.ledger.signal_id, ([], {}))
            ids.append(row.item_id)
            ends[row.ledger.row_key] = row.ledger  # rows come in id order: the last end wins
        for signal_id, (ids, ends) in signals.items():
            try:
                await self._ledger.update_all(list(ends.values()))
            except DependencyUnavailable as exc:
                logger.warning(
                    "%s ledger ends not merged yet; will retry",
                    role,
                    extra={"signal_id": signal_id, "rows": len(ids), "error": exc.message},
                )
                continue
            done += ids
        return done

    async def announce(self, fills: Iterable[AccountFill], book: Book) -> None:
        """Publish ``order.filled`` for fills seen live, before they reach Table storage."""
        items = list(fills)
        try:
            links = await self._linker.link_all([item.cl_ord_id for item in items])
        except DependencyUnavailable:
            links = [None] * len(items)  # the event still matters more than its link
        events = []
        for item, link in zip(items, links, strict=True):
            events.append(("order.filled", _fill_event(item, link, book)))
            self._announced.add(item.fill.id)
        await self._publish(events)

    async def record_fills(self, fills: Iterable[AccountFill], book: Book) -> None:
        """Record each fill not recorded before; failures wait in ``pending_fills``."""
        batch = {f.fill.id: f for f in fills}
        batch.update(self.pending_fills)
        self.pending_fills = {}
        try:
            unseen = sorted(await self._unseen(keys.WORKER_FILLS_RECORDED, sorted(batch)))
            items = [batch[fill_id] for fill_id in unseen]
            links = await self._linker.link_all([item.cl_ord_id for item in items])
            linked = list(zip(items, links, strict=True))
            now = self._now()
            rows = [self._fill_row(item, link, book, now) for item, link in linked]
            recorded = await self._write("fills", keys.WORKER_FILLS_RECORDED, rows)
        except DependencyUnavailable:
            self.pending_fills.update(batch)
            raise
        self.pending_fills = {i: batch[i] for i in unseen if i not in recorded}
        self.fills_recorded += len(recorded)
        # A fill first seen in a snapshot or the REST list is news to dashboards too; one
        # that streamed in was published then.
        news = [(i, link) for i, link in linked if i.fill.id in recorded - self._announced]
        self._announced -= recorded
        if news:
            await self._publish([("order.filled", _fill_event(i, link, book)) for i, link in news])

    @staticmethod
    def _fill_row(item: AccountFill, link: SignalLink | None, book: Book, now: datetime) -> _Row:
        fill = item.fill
        contract = book.contract_names.get(fill.contract_id)
        entity = fill_entity(fill, item.account_id, item.cl_ord_id, link, contract, now)
        if link is None or not item.cl_ord_id or not link.ledger:
            return _Row(fill.id, entity)
        filled = book.average_fill(fill.order_id)
        qty, price = filled or (fill.qty, fill.price)
        complete = book.fully_filled(fill.order_id, filled[0] if filled else 0)
        at = fill.timestamp or now
        end = filled_ledger_entry(link, item.cl_ord_id, qty, price, at, complete=complete)
        return _Row(fill.id, entity, _with_order_id(end, fill.order_id))

    async def record_executions(
        self, reports: Iterable[tuple[ExecutionReport, str | None]]
    ) -> None:
        """Record each execution report not recorded before (order status history)."""
        batch = {r.id: (r, c) for r, c in reports}
        batch.update(self.pending_executions)
        self.pending_executions = {}
        try:
            unseen = sorted(await self._unseen(keys.WORKER_EXECUTIONS_RECORDED, sorted(batch)))
            items = [batch[report_id] for report_id in unseen]
            links = await self._linker.link_all([cl_ord_id for _, cl_ord_id in items])
            now = self._now()
            rows = [
                self._execution_row(report, cl_ord_id, link, now)
                for (report, cl_ord_id), link in zip(items, links, strict=True)
            ]
            recorded = await self._write("executions", keys.WORKER_EXECUTIONS_RECORDED, rows)
        except DependencyUnavailable:
            self.pending_executions.update(batch)
            raise
        self.pending_executions = {i: batch[i] for i in unseen if i not in recorded}

    @staticmethod
    def _execution_row(
        report: ExecutionReport, cl_ord_id: str | None, link: SignalLink | None, now: datetime
    ) -> _Row:
        entity = execution_entity(report, cl_ord_id, link, now)
        if (
            link is None
            or not cl_ord_id
            or not link.ledger
            or report.status is not OrderStatus.CANCELED
        ):
            return _Row(report.id, entity)
        end = cancelled_ledger_entry(link, cl_ord_id, report.timestamp or now)
        return _Row(report.id, entity, _with_order_id(end, report.order_id))

    @property
    def pending(self) -> int:
        """Return how many items wait for a retry."""
        return len(self.pending_fills) + len(self.pending_executions)


def _transactions(rows: Sequence[_Row]) -> list[list[_Row]]:
    """Group rows by partition (a day), in order, up to one transaction's rows per group."""
    partitions: dict[str, list[_Row]] = {}
    for row in rows:
        partitions.setdefault(row.entity["PartitionKey"], []).append(row)
    return [
        part[start : start + TRANSACTION_ROWS]
        for part in partitions.values()
        for start in range(0, len(part), TRANSACTION_ROWS)
    ]


def _with_order_id(end: LedgerEntry, order_id: int) -> LedgerEntry:
    """Carry the order id Tradovate's fill or report names, so a leg has it even when the
    worker writes before the executor records the broker's answer (or never does, having
    died in between); the ledger keeps whichever order id came first."""
    return replace(end, fields={**end.fields, "order_id": order_id})


def _fill_event(item: AccountFill, link: SignalLink | None, book: Book) -> dict[str, Any]:
    fill = item.fill
    contract = book.contract_names.get(fill.contract_id)
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
