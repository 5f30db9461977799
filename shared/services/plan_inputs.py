"""Read what the executor plans from: the account's book and its risk state.

Position and working orders come from the worker's live cache when it holds both and the
view is proven current (``current_view``, ``shared.services.expectation``), else from REST
(positions, orders and each open order's latest version, read together); the cash for a
daily loss limit likewise. The kill switches and the last entry time are read by the caller,
alongside the cache. ``Basis`` records what a plan was made from, for the ledger.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from shared.domain import broker
from shared.domain.planning.model import Book, WorkingOrder
from shared.domain.policy import RiskState
from shared.ports import BrokerTrading, Clock, LiveReader
from shared.services.envelope import Envelope
from shared.services.expectation import Expectation, unproven
from shared.services.live_state import LiveView
from shared.services.settle import Timing
from shared.strategies import Strategy


@dataclass(frozen=True, slots=True)
class Target:
    """The account, contract and strategy one delivery trades."""

    account: broker.Account
    contract: broker.ContractSpec
    strategy: Strategy


@dataclass(frozen=True, slots=True)
class Basis:
    """What one plan's book came from: the cache or REST, and what it showed."""

    source: Literal["cache", "rest"]
    position: broker.Position | None
    working: tuple[WorkingOrder, ...]
    at: datetime  # when the facts were read
    waited_ms: int = 0  # spent waiting for the cache to prove itself current
    reason: str = ""  # why the cache was not used, when it was not

    @property
    def bought(self) -> int:
        """Return the position's day count of contracts bought (0 when never traded)."""
        return 0 if self.position is None else self.position.bought

    @property
    def sold(self) -> int:
        """Return the position's day count of contracts sold (0 when never traded)."""
        return 0 if self.position is None else self.position.sold

    def seen(self, signal_id: str) -> Expectation:
        """Return what these facts showed, as an expectation a later cache must meet."""
        working = {order.order_id: order.qty for order in self.working}
        return Expectation(signal_id, bought=self.bought, sold=self.sold, working=working)

    def record(self) -> str:
        """Render the basis for the execution summary in the ledger."""
        return json.dumps(
            {
                "source": self.source,
                "net_pos": 0 if self.position is None else self.position.net_pos,
                "bought": self.bought,
                "sold": self.sold,
                "working": [order.order_id for order in self.working],
                "at": self.at.isoformat(),
                "waited_ms": self.waited_ms,
                "reason": self.reason,
            },
            separators=(",", ":"),
        )


async def current_view(
    live: LiveReader,
    target: Target,
    view: LiveView,
    expected: Expectation | None,
    timing: Timing,
) -> tuple[LiveView | None, int, str]:
    """Return ``view`` once it is proven current, polling the cache up to
    ``timing.view_wait_s``; else None (read REST), with the milliseconds waited and why."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    reason = unproven(view, expected)
    current: LiveView | None = view
    while reason is not None:
        if loop.time() - started >= timing.view_wait_s:
            return None, round((loop.time() - started) * 1000), reason
        await asyncio.sleep(timing.poll_s)
        current = await live.view(target.account.id, target.contract.contract.id)
        if current is None:
            return None, round((loop.time() - started) * 1000), "the worker's cache went away"
        reason = unproven(current, expected)
    return current, round((loop.time() - started) * 1000), ""


async def read_book(
    brk: BrokerTrading,
    account_id: int,
    contract: broker.ContractSpec,
    view: LiveView | None,
    at: datetime,
) -> tuple[Book, Basis]:
    """Take position and working orders from the worker's cache, else from REST."""
    position = view.position if view is not None else None
    working = view.working_orders if view is not None else None
    source: Literal["cache", "rest"] = "cache"
    if position is None or working is None:
        source = "rest"
        position, working = await _book_from_rest(brk, account_id, contract.contract.id)
    book = Book.from_broker(position, working, view.last_price if view else None)
    return book, Basis(source, position, working, at)


async def _book_from_rest(
    brk: BrokerTrading, account_id: int, cid: int
) -> tuple[broker.Position | None, tuple[WorkingOrder, ...]]:
    positions, orders = await asyncio.gather(brk.positions(account_id), brk.orders(account_id))
    position = next((p for p in positions if p.contract_id == cid), None)
    open_orders = [o for o in orders if o.contract_id == cid and o.status.is_open]
    versions = await asyncio.gather(*(brk.order_versions(o.id) for o in open_orders))
    working = tuple(
        WorkingOrder.from_broker(order, found[-1])
        for order, found in zip(open_orders, versions, strict=True)
        if found
    )
    return position, working


async def read_risk(
    brk: BrokerTrading,
    clock: Clock,
    target: Target,
    env: Envelope,
    view: LiveView | None,
    facts: tuple[bool, bool, bool, datetime | None],
) -> RiskState:
    """Gather the risk state from the kill switches, the last entry time and the cash."""
    kill_all, kill_strategy, kill_account, last_at = facts
    strategy, account_id, root = (
        target.strategy,
        target.account.id,
        target.contract.product.name,
    )
    realized = open_pnl = Decimal(0)
    if strategy.risk.daily_loss_limit is not None:
        cash = view.cash if view is not None else None
        if cash is None:
            cash = await brk.cash_balance_snapshot(account_id)
        realized, open_pnl = cash.realized_pnl, cash.open_pnl
    return RiskState(
        now=clock.now(),
        global_kill=kill_all,
        strategy_kill=kill_strategy,
        account_kill=kill_account,
        realized_pnl=realized,
        open_pnl=open_pnl,
        last_order_at={(env.account, root): last_at} if last_at else {},
    )
