"""Which closed orders the worker calls settled: their fills already reached the position.

The executor trusts the worker's documents for its next plan only when every order its last
signal placed or cancelled shows here, so an order must not show before the position that
holds its fill, whatever order Tradovate's events arrive in.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.domain.broker import ChangeKind, OrderStatus
from tests.unit.worker.builders import ACCOUNT, ES, change, fill, order, position, snapshot
from worker.book import SETTLED_LIMIT, Book
from worker.documents import orders_doc

OTHER_CONTRACT = 3002


def _run(book: Book, *entities: object) -> None:
    book.begin_run()
    for entity in entities:
        book.apply(change(entity))


def _settled(book: Book) -> list[int]:
    return [o.id for o in book.settled_orders(ACCOUNT)]


def _book() -> Book:
    book = Book()
    book.apply_snapshot(snapshot(positions=(position(0),)))
    return book


def test_filled_order_settles_only_once_a_later_position_change_arrives() -> None:
    book = _book()
    _run(book, order(5, OrderStatus.WORKING))
    _run(book, fill(50, 5, 1, "6000"), order(5, OrderStatus.FILLED))
    assert _settled(book) == []  # the position has not moved yet: the fill is not in it
    _run(book, position(1, "6000"))
    assert _settled(book) == [5]


def test_position_in_the_same_run_settles_whatever_the_order_within_it() -> None:
    book = _book()
    _run(book, position(1, "6000"), fill(50, 5, 1, "6000"), order(5, OrderStatus.FILLED))
    # The order arrived after its fill in this run: the fill waited for it, then applied.
    assert _settled(book) == [5]


def test_position_of_another_contract_does_not_settle_the_order() -> None:
    book = _book()
    _run(book, order(5, OrderStatus.WORKING))
    _run(book, fill(50, 5, 1, "6000"), order(5, OrderStatus.FILLED))
    _run(book, position(1, "6000", contract_id=OTHER_CONTRACT))
    assert _settled(book) == []


def test_later_fill_of_a_settled_order_unsettles_it_until_the_position_follows() -> None:
    book = _book()
    _run(book, order(5, OrderStatus.WORKING))
    _run(book, fill(50, 5, 1, "6000"), order(5, OrderStatus.FILLED), position(1, "6000"))
    assert _settled(book) == [5]
    _run(book, fill(51, 5, 1, "6000"))
    assert _settled(book) == []
    _run(book, position(2, "6000"))
    assert _settled(book) == [5]


def test_cancelled_order_without_fills_settles_at_once_and_open_orders_never() -> None:
    book = _book()
    _run(book, order(5, OrderStatus.WORKING), order(6, OrderStatus.WORKING))
    _run(book, order(5, OrderStatus.CANCELED))
    assert _settled(book) == [5]


def test_snapshot_counts_its_own_fills_as_held_by_its_positions() -> None:
    book = Book()
    book.apply_snapshot(
        snapshot(orders=(order(7, OrderStatus.FILLED),), fills=(fill(70, 7, 1, "6000"),))
    )
    assert _settled(book) == [7]


def test_recovered_fill_is_held_by_the_snapshot_taken_since() -> None:
    book = _book()
    _run(book, order(8, OrderStatus.FILLED))
    book.add_recovered_fill(fill(80, 8, 1, "6000"))
    assert _settled(book) == [8]


def test_settled_list_keeps_the_newest_orders_up_to_its_limit() -> None:
    book = _book()
    count = SETTLED_LIMIT + 5
    _run(book, *(order(i, OrderStatus.CANCELED) for i in range(1, count + 1)))
    settled = _settled(book)
    assert len(settled) == SETTLED_LIMIT
    assert settled[0] == count
    assert settled[-1] == count - SETTLED_LIMIT + 1


def test_orders_document_lists_settled_orders_with_contract_status_and_parent() -> None:
    book = _book()
    _run(book, order(5, OrderStatus.WORKING), order(6, OrderStatus.WORKING))
    _run(book, order(5, OrderStatus.CANCELED))
    document = orders_doc(book, ACCOUNT, datetime(2026, 3, 2, tzinfo=UTC))
    assert [o["order_id"] for o in document["orders"]] == [6]
    assert document["settled"] == [
        {
            "order_id": 5,
            "contract_id": ES,
            "status": "canceled",
            "filled_qty": 0,
            "fill_price": None,
            "parent_id": None,
        }
    ]


def test_settled_list_follows_orders_that_reopen_close_again_or_are_deleted() -> None:
    book = _book()
    _run(book, order(7, OrderStatus.CANCELED), order(3, OrderStatus.CANCELED))
    _run(book, order(9, OrderStatus.WORKING), order(5, OrderStatus.REJECTED))
    assert _settled(book) == [7, 5, 3]  # newest first, kept in order as orders arrive
    _run(book, order(7, OrderStatus.WORKING))  # a status that reopens leaves the list
    assert _settled(book) == [5, 3]
    assert [o.id for o in book.working_orders(ACCOUNT)] == [7, 9]  # oldest first
    _run(book, order(8, OrderStatus.WORKING, account_id=ACCOUNT + 1))
    assert [o.id for o in book.working_orders()] == [7, 8, 9]
    _run(book, order(9, OrderStatus.CANCELED), order(7, OrderStatus.CANCELED))
    assert _settled(book) == [9, 7, 5, 3]
    assert [o.id for o in book.working_orders(ACCOUNT)] == []
    book.begin_run()
    book.apply(change(order(5, OrderStatus.REJECTED), ChangeKind.DELETED))
    assert _settled(book) == [9, 7, 3]
    assert [o.id for o in book.settled_orders(ACCOUNT + 1)] == []
