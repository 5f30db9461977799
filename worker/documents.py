"""Render the live-state documents the executor reads, and compute open P&L, purely.

Three JSON documents per account (key names in ``shared.redis_keys``), each stamped with
``as_of`` (ISO-8601 UTC) when the worker wrote it; ``shared.services.live_state`` reads them:

* positions: ``{"as_of", "account_id", "positions": {contract_id: {net_pos, net_price,
  contract, bought, sold, mark, open_pnl, ...}}}``; flat positions stay listed with
  ``net_pos`` 0, so "flat" and "never traded" both read as flat.
* orders: ``{"as_of", "account_id", "orders": [{order_id, cl_ord_id, contract_id, side,
  status, qty, order_type, price, stop_price, trail, oco_id, parent_id, ...}], "settled":
  [{order_id, contract_id, status, filled_qty, fill_price, parent_id}]}``: open orders, and
  the closed orders whose fills the positions document already holds
  (``Book.settled_orders``), newest first.
* cash: ``{"as_of", "account_id", "amount", "realized_pnl", "week_realized_pnl",
  "open_pnl", "total_pnl", "net_liq", "marks_complete", "missing_marks"}``.

Open P&L is ``(mark - netPrice) * netPos * valuePerPoint`` (reference §3.2), at the last
trade price of the contract's quote; money is rounded to cents. When a contract with an open
position has no mark or no value per point yet, ``marks_complete`` is false and readers must
not trust ``open_pnl``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from shared.domain.broker import Position, Quote
from worker.book import Book, decimal_text

CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    """Round money to cents, as the broker reports it."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def mark_of(quote: Quote) -> Decimal | None:
    """Return the price a position is marked at: the last trade, else the mid of the book."""
    if quote.last is not None:
        return quote.last
    if quote.bid is not None and quote.ask is not None:
        return (quote.bid + quote.ask) / 2
    return None


def open_pnl(position: Position, mark: Decimal, value_per_point: Decimal) -> Decimal:
    """Return a position's open P&L at ``mark`` (zero when flat)."""
    if position.net_pos == 0 or position.net_price is None:
        return Decimal(0)
    return (mark - position.net_price) * position.net_pos * value_per_point


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def positions_doc(
    book: Book,
    account_id: int,
    marks: Mapping[int, Decimal],
    values: Mapping[int, Decimal],
    as_of: datetime,
) -> dict[str, Any]:
    """Render one account's positions document."""
    positions: dict[str, Any] = {}
    for (acc, contract_id), position in sorted(book.positions.items()):
        if acc != account_id:
            continue
        entry = book.position_payload(position, (acc, contract_id))
        mark, vpp = marks.get(contract_id), values.get(contract_id)
        entry["mark"] = None if mark is None else str(mark)
        entry["open_pnl"] = (
            None if mark is None or vpp is None else str(money(open_pnl(position, mark, vpp)))
        )
        positions[str(contract_id)] = entry
    return {"as_of": _iso(as_of), "account_id": account_id, "positions": positions}


def orders_doc(book: Book, account_id: int, as_of: datetime) -> dict[str, Any]:
    """Render one account's working-orders document."""
    orders = [book.order_payload(o) for o in book.working_orders(account_id)]
    settled = [
        {
            "order_id": o.id,
            "contract_id": o.contract_id,
            "status": o.status.value,
            "filled_qty": _filled(book, o.id),
            "fill_price": _fill_price(book, o.id),
            "parent_id": o.parent_id,
        }
        for o in book.settled_orders(account_id)
    ]
    return {"as_of": _iso(as_of), "account_id": account_id, "orders": orders, "settled": settled}


def _filled(book: Book, order_id: int) -> int:
    found = book.average_fill(order_id)
    return 0 if found is None else found[0]


def _fill_price(book: Book, order_id: int) -> str | None:
    found = book.average_fill(order_id)
    return None if found is None else str(found[1])


def cash_doc(
    book: Book,
    account_id: int,
    marks: Mapping[int, Decimal],
    values: Mapping[int, Decimal],
    as_of: datetime,
) -> dict[str, Any]:
    """Render one account's cash document with realized and open P&L."""
    cash = book.cash.get(account_id)
    amount = Decimal(0) if cash is None else cash.amount
    realized = Decimal(0) if cash is None else cash.realized_pnl
    week = Decimal(0) if cash is None else cash.week_realized_pnl
    total_open = Decimal(0)
    missing: list[int] = []
    for position in book.open_positions(account_id):
        mark, vpp = marks.get(position.contract_id), values.get(position.contract_id)
        if mark is None or vpp is None:
            missing.append(position.contract_id)
            continue
        total_open += open_pnl(position, mark, vpp)
    account = book.accounts.get(account_id)
    return {
        "as_of": _iso(as_of),
        "account_id": account_id,
        "account": None if account is None else account.name,
        "cash_balance_id": None if cash is None else cash.id,
        "known": cash is not None,
        "amount": str(money(amount)),
        "realized_pnl": str(money(realized)),
        "week_realized_pnl": str(money(week)),
        "open_pnl": str(money(total_open)),
        "total_pnl": str(money(realized + total_open)),
        "net_liq": str(money(amount + total_open)),
        "marks_complete": not missing,
        "missing_marks": missing,
    }


def quote_doc(quote: Quote, received_at: datetime) -> dict[str, Any]:
    """Render a quote for ``quote:{contractId}`` and ``price.update``."""

    mark = mark_of(quote)
    return {
        "contract_id": quote.contract_id,
        "timestamp": None if quote.timestamp is None else quote.timestamp.isoformat(),
        "received_at": _iso(received_at),
        "bid": decimal_text(quote.bid),
        "bid_size": quote.bid_size,
        "ask": decimal_text(quote.ask),
        "ask_size": quote.ask_size,
        "last": decimal_text(quote.last),
        "last_size": quote.last_size,
        "volume": quote.volume,
        "mark": decimal_text(mark),
    }
