"""Read what the executor plans from: the account's book and its risk state.

Position and working orders come from the worker's live cache when it holds both, else from
REST (positions, orders and each open order's latest version, read together); the cash for a
daily loss limit likewise. The kill switches and the last entry time are read by the caller,
alongside the cache.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.domain import broker
from shared.domain.planning.model import Book, WorkingOrder
from shared.domain.policy import RiskState
from shared.ports import BrokerTrading, Clock
from shared.services.envelope import Envelope
from shared.services.live_state import LiveView
from shared.strategies import Strategy


@dataclass(frozen=True, slots=True)
class Target:
    """The account, contract and strategy one delivery trades."""

    account: broker.Account
    contract: broker.ContractSpec
    strategy: Strategy


async def read_book(
    brk: BrokerTrading, account_id: int, contract: broker.ContractSpec, view: LiveView | None
) -> Book:
    """Take position and working orders from the worker's cache, else from REST."""
    position = view.position if view is not None else None
    working = view.working_orders if view is not None else None
    if position is None or working is None:
        position, working = await _book_from_rest(brk, account_id, contract.contract.id)
    return Book.from_broker(position, working, view.last_price if view else None)


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
