"""Carry out managed-stop instructions against the live book (the I/O half of management).

``StopManager.run`` wakes on prices and fills (and every ``refresh_s`` to reload
``mgmt:{account}``), evaluates each instruction with the pure rules of
``worker.management`` and moves stops through REST after claiming them in Redis. Nothing is
evaluated unless the book is live: a stop is never moved on a stale view of the account.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import redis_keys as keys
from shared.adapters.redis_replies import text
from shared.adapters.redis_scripts import DELETE_IF_EQUAL
from shared.adapters.tradovate.errors import PenaltyTooLong, RateLimited
from shared.domain.broker import OrderRequest, OrderType
from shared.domain.errors import BridgeError, BrokerRejected
from shared.domain.planning.model import MoveStopToBreakeven, TrailStop
from worker.book import Book
from worker.management import (
    CLAIM_LEVEL,
    ManagedStop,
    StopBroker,
    StopView,
    breakeven_cl_ord_id,
    breakeven_stop,
    decode_managed,
    improves,
    modify_request,
    trailing_stop,
)
from worker.specs import ContractTermsResolver

logger = logging.getLogger(__name__)

_MARKER_TTL_MS = 7 * 24 * 3600 * 1000
_MOVABLE = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})


class StopManager:
    """Evaluate managed stops and move each one at most once per level."""

    def __init__(
        self,
        redis: Redis,
        broker: StopBroker,
        book: Callable[[], Book],
        marks: Callable[[], dict[int, Decimal]],
        terms: ContractTermsResolver,
        *,
        is_live: Callable[[], bool],
        refresh_s: float = 1.0,
    ) -> None:
        self._redis = redis
        self._broker = broker
        self._book = book
        self._marks = marks
        self._terms = terms
        self._is_live = is_live
        self._refresh_s = refresh_s
        self._wake = asyncio.Event()
        self.instructions: dict[tuple[int, str], ManagedStop] = {}
        self._finished: set[str] = set()
        self._best: dict[str, Decimal] = {}
        self._bad: set[tuple[int, str]] = set()
        self._refreshed_at = float("-inf")

    def wake(self) -> None:
        """Ask for an evaluation soon (a price or a fill arrived)."""
        self._wake.set()

    async def run(self) -> None:
        """Reload and evaluate until cancelled."""
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that
            # lands as the wait completes, and this loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._refresh_s):
                    await self._wake.wait()
            self._wake.clear()
            if not self._is_live():
                continue
            try:
                # Prices wake this loop many times a second; instructions change rarely.
                now = time.monotonic()
                if now - self._refreshed_at >= self._refresh_s:
                    await self.refresh()
                    self._refreshed_at = now
                await self.evaluate()
            except (RedisError, OSError, BridgeError) as exc:
                logger.warning("stop management pass failed", extra={"error": str(exc)[:200]})

    async def refresh(self) -> None:
        """Reload every account's instructions from Redis."""
        accounts = sorted(self._book().account_ids())
        found: dict[tuple[int, str], ManagedStop] = {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for account_id in accounts:
                pipe.hgetall(keys.management_instructions(account_id))
            results = await pipe.execute()
        for account_id, entries in zip(accounts, results, strict=True):
            for field, raw in (entries or {}).items():
                entry = text(field)
                item = self._decode(account_id, entry, raw)
                if item is not None and entry not in self._finished:
                    found[(account_id, entry)] = item
        self.instructions = found

    def _decode(self, account_id: int, entry: str, raw: Any) -> ManagedStop | None:
        try:
            return decode_managed(account_id, entry, raw)
        except (ValueError, KeyError) as exc:
            if (account_id, entry) not in self._bad:
                self._bad.add((account_id, entry))
                logger.error(
                    "unusable stop instruction",
                    extra={"account_id": account_id, "entry": entry, "error": str(exc)[:200]},
                )
            return None

    async def evaluate(self) -> None:
        """Act on every instruction whose trigger has been reached."""
        for item in list(self.instructions.values()):
            if item.entry_cl_ord_id not in self._finished:
                await self._evaluate(item)

    def _stop_view(self, book: Book, cl_ord_id: str) -> StopView | None:
        order = book.order_by_cl_ord_id(cl_ord_id)
        version = None if order is None else book.versions.get(order.id)
        if order is None or version is None or version.order_type is None:
            return None
        return StopView(
            order.id,
            version.qty,
            version.order_type,
            version.stop_price,
            version.price,
            order.status.is_open,
        )

    async def _evaluate(self, item: ManagedStop) -> None:
        book = self._book()
        entry = book.order_by_cl_ord_id(item.entry_cl_ord_id)
        filled = None if entry is None else book.average_fill(entry.id)
        if entry is None:
            return  # not placed yet (or not visible yet)
        if filled is None:
            if not entry.status.is_open:
                await self._finish(item, "entry_not_filled")  # cancelled or rejected unfilled
            return
        if entry.status.is_open and not book.fully_filled(entry.id, filled[0]):
            return  # partly filled: the stop protects the whole position once the rest trades
        last = self._marks().get(entry.contract_id)
        terms = self._terms.cached(entry.contract_id)
        if last is None or terms is None:
            return
        qty, entry_price = filled
        stop = None if item.stop_cl_ord_id is None else self._stop_view(book, item.stop_cl_ord_id)
        if item.stop_cl_ord_id is not None and stop is None:
            return  # the stop is not visible yet
        if stop is not None and not stop.is_open:
            await self._finish(item, "stop_closed")
            return
        if isinstance(item.instruction, MoveStopToBreakeven):
            target = breakeven_stop(item.instruction, entry_price, last, terms.tick_size)
            if target is not None:
                await self._breakeven(item, stop, target, qty, entry.contract_id)
            return
        await self._trail(item, stop, entry_price, last, terms.tick_size)

    # --- breakeven ----------------------------------------------------------------------------

    async def _breakeven(
        self, item: ManagedStop, stop: StopView | None, target: Decimal, qty: int, contract: int
    ) -> None:
        side = item.instruction.side
        marker = keys.management_done(item.entry_cl_ord_id)
        if stop is not None and not improves(stop.stop_price, target, side):
            await self._claim(marker, {"status": "moved", "note": "already at or beyond"})
            await self._finish(item, "already_protected")
            return
        if not await self._claim(marker, {"status": "moving", "stop_price": str(target)}):
            self._finished.add(item.entry_cl_ord_id)  # another worker (or a past run) owns it
            return
        status = await self._move(item, stop, target, qty, contract)
        await self._set(marker, {"status": status, "stop_price": str(target)})
        if status != "retry":
            await self._finish(item, status)
        else:
            await self._release(marker)

    async def _move(
        self, item: ManagedStop, stop: StopView | None, target: Decimal, qty: int, contract: int
    ) -> str:
        try:
            if stop is None:
                await self._place_stop(item, target, qty, contract)
            elif stop.order_type in _MOVABLE:
                await self._broker.modify_order(modify_request(stop, target))
            else:
                logger.error("managed stop is not a stop order", extra={"order": stop.order_id})
                return "failed"
        except (RateLimited, PenaltyTooLong):
            return "retry"  # the broker did not process it: try again on the next pass
        except BrokerRejected as exc:
            logger.error(
                "broker refused to move a managed stop",
                extra={"entry": item.entry_cl_ord_id, "error": exc.message, "alert": "stop_move"},
            )
            return "failed"
        except BridgeError as exc:
            # A modify is not repeated after an ambiguous failure: a human must look.
            logger.error(
                "managed stop move outcome unknown",
                extra={"entry": item.entry_cl_ord_id, "error": exc.message, "alert": "stop_move"},
            )
            return "unknown"
        logger.info(
            "managed stop moved",
            extra={"entry": item.entry_cl_ord_id, "stop_price": str(target)},
        )
        return "moved"

    async def _place_stop(
        self, item: ManagedStop, target: Decimal, qty: int, contract: int
    ) -> None:
        terms = self._terms.cached(contract)
        name = self._book().contract_names.get(contract) or (terms.name if terms else None)
        if name is None:
            raise BrokerRejected("the contract name of the entry is unknown", code="no_contract")
        await self._broker.place_order(
            OrderRequest(
                account_id=item.account_id,
                symbol=name,
                side=item.instruction.side.opposite,
                qty=qty,
                order_type=OrderType.STOP,
                cl_ord_id=breakeven_cl_ord_id(item.entry_cl_ord_id),
                stop_price=target,
            ),
            lookup_first=True,
        )

    # --- trailing -----------------------------------------------------------------------------

    async def _trail(
        self,
        item: ManagedStop,
        stop: StopView | None,
        entry_price: Decimal,
        last: Decimal,
        tick: Decimal,
    ) -> None:
        instruction = item.instruction
        if not isinstance(instruction, TrailStop) or stop is None:
            return  # trailing needs a stop to move (the planner always gives one)
        sign = instruction.side.sign
        best = self._best.get(item.entry_cl_ord_id, entry_price)
        if (last - best) * sign > 0:
            best = last
        self._best[item.entry_cl_ord_id] = best
        target = trailing_stop(instruction, entry_price, best, tick, stop.stop_price)
        if target is None or not improves(stop.stop_price, target, instruction.side):
            return
        marker = keys.management_done(item.entry_cl_ord_id)
        claimed = await self._redis.eval(
            CLAIM_LEVEL, 1, marker, str(target), str(sign), str(_MARKER_TTL_MS)
        )
        if not claimed:
            return
        status = await self._move(item, stop, target, stop.qty, 0)
        if status == "retry":
            # Not processed by the broker: give the level back so the next pass can claim it.
            await self._redis.eval(DELETE_IF_EQUAL, 1, marker, str(target))
        elif status in ("failed", "unknown"):
            await self._finish(item, status)

    # --- markers ------------------------------------------------------------------------------

    async def _claim(self, marker: str, value: dict[str, Any]) -> bool:
        return bool(await self._redis.set(marker, _stamp(value), nx=True, px=_MARKER_TTL_MS))

    async def _set(self, marker: str, value: dict[str, Any]) -> None:
        await self._redis.set(marker, _stamp(value), px=_MARKER_TTL_MS)

    async def _release(self, marker: str) -> None:
        await self._redis.delete(marker)

    async def _finish(self, item: ManagedStop, why: str) -> None:
        self._finished.add(item.entry_cl_ord_id)
        self.instructions.pop((item.account_id, item.entry_cl_ord_id), None)
        await self._redis.hdel(keys.management_instructions(item.account_id), item.entry_cl_ord_id)
        logger.info("managed stop finished", extra={"entry": item.entry_cl_ord_id, "why": why})


def _stamp(value: dict[str, Any]) -> str:
    return json.dumps({**value, "at": datetime.now(UTC).isoformat()})
