"""Position and P&L bookkeeping: FIFO pairing of fills, realized and open P&L in dollars.

Realized P&L of a pair = (sell price - buy price) x qty x valuePerPoint. Open P&L of a position =
sum over open lots of (mark - lot price) x lot qty x valuePerPoint, which equals
(mark - netPrice) x netPos x valuePerPoint (reference §3.2). Everything is ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from local.tradovate_sim.contracts import ProductSpec
from local.tradovate_sim.models import CashBalance, Fill, FillPair, Lot, Position


@dataclass
class FillOutcome:
    """What one fill did to a position."""

    pairs: list[FillPair]
    realized: Decimal


def apply_fill(
    position: Position, fill: Fill, value_per_point: Decimal, next_id: Callable[[], int]
) -> FillOutcome:
    """Book ``fill`` into ``position``: pair it FIFO against opposite lots, open the rest."""
    signed = fill.qty if fill.action == "Buy" else -fill.qty
    if signed > 0:
        position.bought += fill.qty
        position.bought_value += fill.qty * fill.price
    else:
        position.sold += fill.qty
        position.sold_value += fill.qty * fill.price
    pairs: list[FillPair] = []
    realized = Decimal(0)
    remaining = signed
    while remaining != 0 and position.lots and (position.lots[0].qty > 0) != (remaining > 0):
        lot = position.lots[0]
        matched = min(abs(remaining), abs(lot.qty))
        buy_id, buy_px, sell_id, sell_px = (
            (lot.fill_id, lot.price, fill.id, fill.price)
            if lot.qty > 0
            else (fill.id, fill.price, lot.fill_id, lot.price)
        )
        pairs.append(FillPair(next_id(), position.id, buy_id, sell_id, matched, buy_px, sell_px))
        realized += (sell_px - buy_px) * matched * value_per_point
        lot.qty += matched if lot.qty < 0 else -matched
        remaining += matched if remaining < 0 else -matched
        if lot.qty == 0:
            position.lots.popleft()
    if remaining != 0:
        position.lots.append(Lot(fill.id, remaining, fill.price))
    position.net_pos += signed
    return FillOutcome(pairs, realized)


def open_pnl(position: Position, mark: Decimal, value_per_point: Decimal) -> Decimal:
    """Return the position's open P&L at ``mark``."""
    return sum(
        ((mark - lot.price) * lot.qty * value_per_point for lot in position.lots), Decimal(0)
    )


def cash_snapshot(
    cash: CashBalance,
    marks: list[tuple[Position, Decimal, ProductSpec]],
    omit_zero: bool,
) -> dict[str, Any]:
    """Build ``getcashbalancesnapshot`` from the cash balance and the open positions at their
    marks; margin is a flat per-contract figure. Zero P&L fields are left out when
    ``omit_zero`` (the docs say several are omitted when zero)."""
    open_total = Decimal(0)
    margin = Decimal(0)
    for position, mark, product in marks:
        open_total += open_pnl(position, mark, product.value_per_point)
        margin += abs(position.net_pos) * product.initial_margin
    snapshot: dict[str, Any] = {
        "totalCashValue": cash.amount,
        "netLiq": cash.amount + open_total,
        "initialMargin": margin,
        "maintenanceMargin": margin * Decimal("0.9"),
        "realizedPnL": cash.realized_pnl,
        "weekRealizedPnL": cash.week_realized_pnl,
        "openPnL": open_total,
        "totalPnL": cash.realized_pnl + open_total,
    }
    if omit_zero:
        for name in ("realizedPnL", "weekRealizedPnL", "openPnL", "totalPnL"):
            if snapshot[name] == 0:
                del snapshot[name]
    return snapshot
