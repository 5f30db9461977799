"""The worker's book: snapshot rebuilds, streamed changes and the events they cause."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from shared.domain.broker import Account, ChangeKind, Contract, OrderStatus, OrderType, Side
from tests.unit.worker.builders import (
    ACCOUNT,
    ES,
    cash,
    change,
    command,
    fill,
    order,
    position,
    report,
    snapshot,
    version,
)
from worker.book import Book


def test_apply_snapshot_with_orders_and_fills_rebuilds_and_returns_history() -> None:
    book = Book()
    book.apply(change(order(1)))  # state from a previous connection
    effects = book.apply_snapshot(
        snapshot(
            orders=(order(2, OrderStatus.FILLED), order(3, OrderStatus.WORKING)),
            commands=(command(20, 2, "cl-2"), command(30, 3, None)),
            order_versions=(version(20, 2), version(30, 3, 1, OrderType.LIMIT, price="5990")),
            fills=(fill(200, 2, 1, "6000"),),
            execution_reports=(report(210, 2, "Trade", OrderStatus.FILLED),),
            positions=(position(1, "6000"),),
        )
    )
    assert set(book.orders) == {2, 3}
    assert effects.touched_accounts == {ACCOUNT}
    assert [f.cl_ord_id for f in effects.fills] == ["cl-2"]
    assert [r.id for r, cl in effects.executions] == [210]
    assert effects.events == []  # a snapshot announces nothing: those orders are old news
    assert [o.id for o in book.working_orders()] == [3]
    assert book.active_contracts() == {ES}


def test_apply_with_new_order_announces_it_once_when_accepted() -> None:
    book = Book()
    book.apply_snapshot(snapshot())
    assert book.apply(change(order(5, OrderStatus.PENDING_NEW))).events == []
    book.apply(change(command(50, 5, "cl-5")))
    book.apply(change(version(50, 5, 2)))
    placed = book.apply(change(order(5, OrderStatus.WORKING))).events
    assert [name for name, _ in placed] == ["order.placed"]
    assert placed[0][1]["cl_ord_id"] == "cl-5"
    assert placed[0][1]["qty"] == 2
    assert placed[0][1]["contract"] == "ESH6"
    assert book.apply(change(order(5, OrderStatus.FILLED))).events == []


def test_apply_with_modify_commands_keeps_the_new_commands_client_id() -> None:
    book = Book()
    book.apply(change(order(5)))
    book.apply(change(command(50, 5, "entry")))
    book.apply(change(command(51, 5, "modify-id", kind="Modify")))
    assert book.cl_ord_ids[5] == "entry"
    assert book.order_by_cl_ord_id("entry") == order(5)
    assert book.order_by_cl_ord_id("missing") is None


def test_apply_with_late_older_version_keeps_the_newer_terms() -> None:
    book = Book()
    book.apply(change(order(5)))
    assert book.apply(change(version(52, 5, 3))).orders == {ACCOUNT}
    assert book.apply(change(version(50, 5, 1))).orders == set()
    assert book.versions[5].qty == 3


def test_apply_with_fill_before_its_order_holds_it_until_the_order_arrives() -> None:
    book = Book()
    early = book.apply(change(fill(70, 7, 1, "6001")))
    assert early.fills == []
    assert [f.id for f in early.unknown_fills] == [70]
    later = book.apply(change(order(7, OrderStatus.FILLED, cl_ord_id="cl-7")))
    assert [(f.fill.id, f.cl_ord_id) for f in later.fills] == [(70, "cl-7")]


def test_apply_with_position_changes_opens_updates_and_deletes() -> None:
    book = Book()
    opened = book.apply(change(position(2, "6000")))
    assert [name for name, _ in opened.events] == ["position.opened", "position.update"]
    assert opened.cash == {ACCOUNT}
    updated = book.apply(change(position(1, "6000")))
    assert [name for name, _ in updated.events] == ["position.update"]
    gone = book.apply(change(position(0), ChangeKind.DELETED))
    assert gone.events[0][1]["net_pos"] == 0
    assert book.open_positions() == []


def test_apply_with_cash_accounts_contracts_and_unknown_entities_updates_reference() -> None:
    book = Book()
    assert book.apply(change(cash("49000", "-1000"))).cash == {ACCOUNT}
    book.apply(change(Account(10002, "DEMO10002")))
    book.apply(change(Contract(ES, "ESM6")))
    assert book.apply(change(None)).touched_accounts == set()
    assert book.contract_names[ES] == "ESM6"
    assert book.account_ids() == {ACCOUNT, 10002}
    assert book.cash[ACCOUNT].realized_pnl == Decimal("-1000")


def test_apply_with_deleted_order_and_deleted_fill_forgets_the_order_only() -> None:
    book = Book()
    book.apply(change(order(8)))
    assert book.apply(change(fill(80, 8, 1, "6000"), ChangeKind.DELETED)).fills == []
    book.apply(change(order(8), ChangeKind.DELETED))
    assert book.working_orders() == []


def test_average_fill_with_partial_fills_is_volume_weighted() -> None:
    book = Book()
    book.apply(change(order(9, OrderStatus.FILLED)))
    assert book.average_fill(9) is None
    book.apply(change(fill(90, 9, 1, "6000")))
    book.apply(change(fill(91, 9, 3, "6004")))
    assert book.average_fill(9) == (4, Decimal("6003"))


def test_average_fill_follows_a_fill_corrected_after_it_was_asked() -> None:
    book = Book()
    book.apply(change(order(9, OrderStatus.FILLED)))
    book.apply(change(fill(90, 9, 1, "6000")))
    book.apply(change(fill(91, 9, 3, "6004")))
    assert book.average_fill(9) == (4, Decimal("6003"))
    book.apply(change(dataclasses.replace(fill(91, 9, 3, "6004"), active=False)))  # busted
    assert book.average_fill(9) == (1, Decimal("6000"))
    book.add_recovered_fill(fill(92, 9, 1, "6010"))
    assert book.average_fill(9) == (2, Decimal("6005"))


def test_recovered_fills_and_adopted_orders_are_taken_once() -> None:
    book = Book()
    book.apply(change(order(9, OrderStatus.FILLED)))
    assert len(book.add_recovered_fill(fill(90, 9, 1, "6000")).fills) == 1
    assert book.add_recovered_fill(fill(90, 9, 1, "6000")).fills == []
    waiting = book.add_recovered_fill(fill(95, 12, 1, "6000", Side.SELL))
    assert [f.id for f in waiting.unknown_fills] == [95]
    adopted = book.adopt_order(order(12, OrderStatus.FILLED, side=Side.SELL), "cl-12")
    assert [(f.fill.id, f.cl_ord_id) for f in adopted.fills] == [(95, "cl-12")]
    assert book.apply(change(order(12, OrderStatus.FILLED))).events == []


def test_effects_merge_adds_every_part() -> None:
    book = Book()
    first = book.apply(change(position(1, "6000")))
    first.merge(book.apply(change(order(3, OrderStatus.WORKING))))
    assert first.touched_accounts == {ACCOUNT}
    assert [name for name, _ in first.events][-1] == "order.placed"
