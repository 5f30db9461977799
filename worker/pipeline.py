"""Turn snapshots, changes and quotes into Redis documents, events and Table history.

One ``LivePipeline`` per process, driven only from the event loop: the consumer task calls
``on_snapshot`` / ``on_changes`` in the socket's order, the quote task calls ``on_quotes``,
the history task (``run_history``) writes Table storage from its own bounded queue, once a
burst of changes has passed.
Documents are rendered and written under one lock, so two tasks never race a stale
document over a fresh one. Accounts whose write failed stay in ``dirty`` until
``flush_dirty`` succeeds; while any are dirty the worker does not claim to be synced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from shared import redis_keys as keys
from shared.domain.broker import EntityChange, Fill, Order, OrderCommand, Quote, SyncSnapshot
from shared.domain.errors import BridgeError, DependencyUnavailable
from worker.book import AccountFill, Book, Effects
from worker.documents import cash_doc, mark_of, orders_doc, positions_doc, quote_doc
from worker.live_store import LiveStore
from worker.recorder import HistoryRecorder
from worker.specs import ContractTermsResolver

logger = logging.getLogger(__name__)


class FillSource(Protocol):
    """The REST reads used to recover fills missed while disconnected (``TradovateRest``)."""

    async def fills(self, order_id: int | None = None) -> tuple[Fill, ...]:
        """List fills."""
        ...

    async def orders(self, account_id: int | None = None) -> tuple[Order, ...]:
        """List orders."""
        ...

    async def commands(self, order_ids: list[int]) -> tuple[OrderCommand, ...]:
        """List the commands of several orders."""
        ...


class LivePipeline:
    """Own the book, the marks and every write that follows from them."""

    def __init__(
        self,
        store: LiveStore,
        recorder: HistoryRecorder,
        terms: ContractTermsResolver,
        *,
        now: Callable[[], datetime],
        history_quiet_s: float = 0.25,
        history_defer_s: float = 2.0,
    ) -> None:
        self.book = Book()
        self.store = store
        self.recorder = recorder
        self.terms = terms
        self._now = now
        self.marks: dict[int, Decimal] = {}
        self.quotes: dict[int, dict[str, Any]] = {}
        self.dirty: set[int] = set()
        self._write_lock = asyncio.Lock()
        self._quote_lock = asyncio.Lock()
        self._published_cash: dict[int, tuple[Any, ...]] = {}
        self._resolving: dict[int, asyncio.Task[None]] = {}
        self._history: asyncio.Queue[tuple[list[AccountFill], list[Any]]] = asyncio.Queue(1000)
        self._history_quiet_s = history_quiet_s
        self._history_defer_s = history_defer_s
        self._last_changes = float("-inf")  # loop time of the last run of changes applied
        self._held = 0  # batches taken off the history queue and not yet written

    # --- inputs -------------------------------------------------------------------------------

    async def on_snapshot(self, snapshot: SyncSnapshot) -> None:
        """Rebuild everything from a fresh sync; history is recorded for what was missed."""
        effects = self.book.apply_snapshot(snapshot)
        self._resolve_missing_terms()
        await self.write_accounts(effects.touched_accounts, publish_cash=True)
        self._record(effects)

    async def on_changes(self, changes: Sequence[EntityChange]) -> Effects:
        """Apply streamed changes in order, then write once: documents, events, history.

        Tradovate sends an order's entities together (order, command, version, ...); writing
        after the whole run means a reader never sees an order without its terms and the
        documents are written once per burst instead of once per entity.
        """
        self._last_changes = asyncio.get_running_loop().time()
        effects = Effects()
        self.book.begin_run()
        for change in changes:
            effects.merge(self.book.apply(change))
        if effects.positions:
            self._resolve_missing_terms()
        # The events go out with the documents they describe, in the same round trip.
        await self.write_accounts(
            effects.touched_accounts, publish_cash=bool(effects.cash), events=effects.events
        )
        if effects.fills:
            await self.recorder.announce(effects.fills, self.book)
        self._record(effects)
        return effects

    async def on_quotes(self, quotes: Iterable[Quote]) -> set[int]:
        """Store quotes, publish ``price.update``, re-mark positions; return contracts moved.

        Positions and cash are re-rendered only for contracts whose mark changed: a quote
        that moves only the book's sizes, or repeats the last trade (the broker sends one
        with every fill), would write the same documents again for every holder.
        """
        received_at = self._now()
        documents: dict[int, dict[str, Any]] = {}
        remarked: set[int] = set()
        for quote in quotes:
            document = quote_doc(quote, received_at)
            documents[quote.contract_id] = document
            mark = mark_of(quote)
            if mark is not None and self.marks.get(quote.contract_id) != mark:
                self.marks[quote.contract_id] = mark
                remarked.add(quote.contract_id)
        if not documents:
            return set()
        async with self._quote_lock:
            self.quotes.update(documents)
            prices = [("price.update", doc) for doc in documents.values()]
            await self.store.set_quotes(documents, prices)  # one round trip for both
        holders = {p.account_id for p in self.book.open_positions() if p.contract_id in remarked}
        await self.write_accounts(holders, publish_cash=True, kinds=("positions", "cash"))
        return set(documents)

    async def refresh_quotes(self) -> None:
        """Write the latest quotes again so their short TTL outlives a quiet market."""
        async with self._quote_lock:  # never an older quote over a newer one
            if self.quotes:
                await self.store.set_quotes(dict(self.quotes))

    def forget_marks(self) -> set[int]:
        """Drop every mark (the quote feed is down); return the accounts to re-render."""
        self.marks.clear()
        self.quotes.clear()
        return {p.account_id for p in self.book.open_positions()}

    # --- documents ----------------------------------------------------------------------------

    def _documents(self, account_id: int, kinds: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        now, values = self._now(), self.terms.values_per_point
        documents: dict[str, dict[str, Any]] = {}
        if "positions" in kinds:
            documents[keys.live_positions(account_id)] = positions_doc(
                self.book, account_id, self.marks, values, now
            )
        if "orders" in kinds:
            documents[keys.live_orders(account_id)] = orders_doc(self.book, account_id, now)
        if "cash" in kinds:
            documents[keys.live_cash(account_id)] = cash_doc(
                self.book, account_id, self.marks, values, now
            )
        return documents

    async def write_accounts(
        self,
        accounts: Iterable[int],
        *,
        publish_cash: bool = False,
        kinds: tuple[str, ...] = ("positions", "orders", "cash"),
        events: Sequence[tuple[str, Mapping[str, Any]]] = (),
    ) -> None:
        """Render and write the documents of ``accounts`` (with ``events``, in the same
        transaction); failures leave them dirty."""
        wanted = set(accounts)
        if not wanted:
            await self.store.publish(events)
            return
        async with self._write_lock:
            # A dirty account gets everything rewritten: its last full write failed.
            documents: dict[str, dict[str, Any]] = {}
            for account_id in sorted(wanted | self.dirty):
                every = account_id in self.dirty
                documents.update(
                    self._documents(account_id, ("positions", "orders", "cash") if every else kinds)
                )
            try:
                await self.store.write_documents(documents, events)
            except DependencyUnavailable as exc:
                self.dirty |= wanted
                logger.warning("live documents not written", extra={"error": exc.message})
                return
            self.dirty.clear()
        if publish_cash:
            await self._publish_cash(documents)

    async def flush_dirty(self) -> bool:
        """Write accounts whose last write failed; True when nothing is dirty any more."""
        if self.dirty:
            await self.write_accounts(set(self.dirty))
        return not self.dirty

    async def _publish_cash(self, documents: dict[str, dict[str, Any]]) -> None:
        events = []
        for key, document in documents.items():
            if not key.endswith(":cash"):
                continue
            account_id = int(document["account_id"])
            fingerprint = tuple(
                document[name] for name in ("amount", "realized_pnl", "open_pnl", "marks_complete")
            )
            if self._published_cash.get(account_id) == fingerprint:
                continue  # nothing a dashboard would show has changed
            self._published_cash[account_id] = fingerprint
            events.append(("account.update", {k: v for k, v in document.items() if k != "as_of"}))
        await self.store.publish(events)

    # --- contract terms (background, never on the event path) ----------------------------------

    def _resolve_missing_terms(self) -> None:
        for contract_id in self.book.active_contracts():
            if self.terms.cached(contract_id) is None and contract_id not in self._resolving:
                task = asyncio.create_task(self._resolve(contract_id))
                self._resolving[contract_id] = task

    async def _resolve(self, contract_id: int) -> None:
        try:
            terms = await self.terms.resolve(contract_id, self.book.contract_names.get(contract_id))
        finally:
            self._resolving.pop(contract_id, None)
        if terms is not None:
            holders = {
                p.account_id for p in self.book.open_positions() if p.contract_id == contract_id
            }
            await self.write_accounts(holders, publish_cash=True, kinds=("positions", "cash"))

    async def wait_for_terms(self) -> None:
        """Wait for contract lookups in flight (tests and shutdown)."""
        tasks = list(self._resolving.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- history ------------------------------------------------------------------------------

    def _record(self, effects: Effects) -> None:
        # History goes through its own queue and task: a slow or absent Table storage must
        # never hold up live state. When even that queue is full, the items wait as pending.
        if not (effects.fills or effects.executions):
            return
        try:
            self._history.put_nowait((list(effects.fills), list(effects.executions)))
        except asyncio.QueueFull:
            for item in effects.fills:
                self.recorder.pending_fills[item.fill.id] = item
            for report, cl_ord_id in effects.executions:
                self.recorder.pending_executions[report.id] = (report, cl_ord_id)

    async def _write_history(self, fills: list[AccountFill], reports: list[Any]) -> None:
        try:
            if fills:
                await self.recorder.record_fills(fills, self.book)
            if reports:
                await self.recorder.record_executions(reports)
        except DependencyUnavailable as exc:
            logger.warning("history not recorded yet; will retry", extra={"error": exc.message})

    def _take_queued(self, fills: list[AccountFill], reports: list[Any]) -> None:
        # Everything queued meanwhile joins the batch: in a burst, one signal's reports and
        # fills then share a Table transaction instead of a request each.
        while not self._history.empty():
            more_fills, more_reports = self._history.get_nowait()
            fills += more_fills
            reports += more_reports

    async def run_history(self) -> None:
        """Record queued fills and reports until cancelled (the history task).

        Table storage writes cost the worker more CPU than the live path (the SDK builds and
        parses a multipart body per transaction), and a burst of fills is when the executors
        wait on the live documents. So the task lets a burst pass: it writes once no change
        has arrived for ``history_quiet_s``, or ``history_defer_s`` after it took the first
        batch, whichever comes first, and then writes everything queued meanwhile at once
        (fewer, fuller transactions).
        """
        loop = asyncio.get_running_loop()
        while True:
            fills, reports = await self._history.get()
            self._held += 1
            try:
                deadline = loop.time() + self._history_defer_s
                while (quiet_at := self._last_changes + self._history_quiet_s) > loop.time():
                    if loop.time() >= deadline:
                        break
                    await asyncio.sleep(min(quiet_at, deadline) - loop.time())
                self._take_queued(fills, reports)
                await self._write_history(fills, reports)
            finally:
                self._held -= 1

    async def drain_history(self) -> None:
        """Record everything queued now (tests, and before stopping)."""
        fills: list[AccountFill] = []
        reports: list[Any] = []
        self._take_queued(fills, reports)
        await self._write_history(fills, reports)

    @property
    def history_backlog(self) -> int:
        """Return how many batches wait to be written plus items waiting for a retry."""
        return self._history.qsize() + self._held + self.recorder.pending

    async def retry_history(self) -> None:
        """Retry fills and reports whose recording failed."""
        try:
            if self.recorder.pending_fills:
                await self.recorder.record_fills((), self.book)
            if self.recorder.pending_executions:
                await self.recorder.record_executions(())
        except DependencyUnavailable as exc:
            logger.warning("history retry failed", extra={"error": exc.message})

    async def recover_fills(self, rest: FillSource) -> int:
        """Fetch the fill list over REST and record any the socket never delivered."""
        effects = Effects()
        for fill in await rest.fills():
            effects.merge(self.book.add_recovered_fill(fill))
        if effects.unknown_fills:
            effects.merge(await self._adopt_orders(rest, effects.unknown_fills))
        effects.unknown_fills.clear()
        self._record(effects)
        return len(effects.fills)

    async def _adopt_orders(self, rest: FillSource, fills: list[Fill]) -> Effects:
        effects = Effects()
        wanted = {f.order_id for f in fills}
        try:
            orders = [o for o in await rest.orders() if o.id in wanted]
            commands = await rest.commands(sorted(o.id for o in orders))
        except BridgeError as exc:
            logger.warning("orders of recovered fills unavailable", extra={"error": exc.message})
            return effects
        cl_ord_ids = {
            c.order_id: c.cl_ord_id for c in commands if c.command_type == "New" and c.cl_ord_id
        }
        for order in orders:
            effects.merge(self.book.adopt_order(order, order.cl_ord_id or cl_ord_ids.get(order.id)))
        return effects
