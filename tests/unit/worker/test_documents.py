"""Live documents and open P&L, rendered from a book."""

from __future__ import annotations

from decimal import Decimal

from shared.domain.broker import Quote
from tests.unit.worker.builders import ACCOUNT, AT, ES, cash, change, position, snapshot
from worker.book import Book
from worker.documents import cash_doc, mark_of, money, open_pnl, positions_doc, quote_doc

VPP = {ES: Decimal(50)}


def test_open_pnl_with_long_and_short_positions_follows_the_mark() -> None:
    assert open_pnl(position(2, "6000"), Decimal("6001.25"), Decimal(50)) == Decimal("125.00")
    assert open_pnl(position(-1, "6000"), Decimal("6001.25"), Decimal(50)) == Decimal("-62.50")
    assert open_pnl(position(0), Decimal("6001.25"), Decimal(50)) == 0


def test_mark_of_with_missing_entries_prefers_last_then_mid() -> None:
    assert mark_of(Quote(ES, last=Decimal("10"), bid=Decimal(1), ask=Decimal(3))) == 10
    assert mark_of(Quote(ES, bid=Decimal("1"), ask=Decimal("2"))) == Decimal("1.5")
    assert mark_of(Quote(ES, bid=Decimal("1"))) is None


def test_money_rounds_half_even_to_cents() -> None:
    assert money(Decimal("1.005")) == Decimal("1.00")
    assert money(Decimal("1.015")) == Decimal("1.02")


def _book() -> Book:
    book = Book()
    book.apply_snapshot(
        snapshot(positions=(position(2, "6000"),), cash_balances=(cash("50100", "100"),))
    )
    return book


def test_cash_doc_with_marks_adds_open_pnl_to_realized() -> None:
    document = cash_doc(_book(), ACCOUNT, {ES: Decimal("6002")}, VPP, AT)
    assert document["open_pnl"] == "200.00"
    assert document["total_pnl"] == "300.00"
    assert document["net_liq"] == "50300.00"
    assert document["marks_complete"] is True
    assert document["as_of"] == AT.isoformat()


def test_cash_doc_without_a_mark_or_a_value_per_point_is_incomplete() -> None:
    assert cash_doc(_book(), ACCOUNT, {}, VPP, AT)["missing_marks"] == [ES]
    assert cash_doc(_book(), ACCOUNT, {ES: Decimal(1)}, {}, AT)["marks_complete"] is False
    unknown = cash_doc(Book(), 42, {}, {}, AT)
    assert (unknown["known"], unknown["amount"]) == (False, "0.00")


def test_positions_doc_lists_flat_positions_and_marks_open_ones() -> None:
    book = _book()
    book.apply(change(position(0, position_id=901, contract_id=3002)))
    document = positions_doc(book, ACCOUNT, {ES: Decimal("5999")}, VPP, AT)
    assert document["positions"][str(ES)]["open_pnl"] == "-100.00"
    assert document["positions"]["3002"]["net_pos"] == 0
    assert document["positions"]["3002"]["open_pnl"] is None


def test_quote_doc_keeps_prices_as_strings() -> None:
    document = quote_doc(Quote(ES, AT, bid=Decimal("1.25"), last=Decimal("1.5")), AT)
    assert (document["bid"], document["ask"], document["mark"]) == ("1.25", None, "1.5")
