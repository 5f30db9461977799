from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.broker import (
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderVersion,
    Position,
    Side,
)
from shared.domain.planning import (
    Book,
    CancelOrder,
    MoveStopToBreakeven,
    PlaceOrder,
    Plan,
    WorkingOrder,
    client_order_id,
)
from shared.domain.planning.model import is_leg_of
from tests.unit.planning.builders import working

D = Decimal


def test_client_order_id_with_same_parts_is_deterministic_and_short() -> None:
    first = client_order_id("signal-" + "x" * 200, "DEMO1", "entry.1.tp")
    assert first == client_order_id("signal-" + "x" * 200, "DEMO1", "entry.1.tp")
    assert len(first) <= 64
    assert first.endswith("-entry.1.tp")


@pytest.mark.parametrize(
    "other", [("sig-2", "DEMO1", "entry"), ("sig-1", "DEMO2", "entry"), ("sig-1", "DEMO1", "close")]
)
def test_client_order_id_with_any_part_changed_differs(other: tuple[str, str, str]) -> None:
    assert client_order_id("sig-1", "DEMO1", "entry") != client_order_id(*other)


def test_client_order_id_with_long_leg_is_cut_to_64_characters() -> None:
    assert len(client_order_id("sig", "DEMO1", "leg" * 40)) == 64


@pytest.mark.parametrize("parts", [("", "A", "entry"), ("s", "", "entry"), ("s", "A", "")])
def test_client_order_id_with_empty_part_raises(parts: tuple[str, str, str]) -> None:
    with pytest.raises(ValueError, match="needed"):
        client_order_id(*parts)


def test_is_leg_of_recognises_this_signals_legs_for_this_account_only() -> None:
    for leg in ("entry", "entry.2", "close.1", "cancel.5001"):
        assert is_leg_of(client_order_id("sig-1", "DEMO1", leg), "sig-1", "DEMO1")
    entry = client_order_id("sig-1", "DEMO1", "entry")
    assert not is_leg_of(entry, "sig-2", "DEMO1")
    assert not is_leg_of(entry, "sig-1", "DEMO2")
    forged = entry.replace("-entry", "-close")  # the digest covers the leg
    assert not is_leg_of(forged, "sig-1", "DEMO1")
    for other in ("", "entry", "manual-order-1", "tb-", "tb"):
        assert not is_leg_of(other, "sig-1", "DEMO1")


def test_signed_with_each_side_gives_position_sign() -> None:
    assert (Side.BUY.sign, Side.SELL.sign) == (1, -1)


def test_working_order_with_zero_quantity_raises() -> None:
    with pytest.raises(ValueError, match="positive"):
        WorkingOrder(1, Side.SELL, 0, OrderType.LIMIT, price=D(1))


@pytest.mark.parametrize(
    ("oco_id", "parent_id", "group"), [(9, 5, 9), (None, 5, 5), (None, None, None)]
)
def test_working_order_from_broker_with_links_groups_by_oco_then_parent(
    oco_id: int | None, parent_id: int | None, group: int | None
) -> None:
    order = Order(11, 7, 101, Side.SELL, OrderStatus.WORKING, oco_id=oco_id, parent_id=parent_id)
    version = OrderVersion(50, 11, 2, OrderType.STOP, stop_price=D(19990))
    built = WorkingOrder.from_broker(order, version)
    assert (built.order_id, built.side, built.qty, built.stop_price) == (11, Side.SELL, 2, D(19990))
    assert built.group == group
    assert built.group_key == (group if group is not None else 11)


@pytest.mark.parametrize(
    "version",
    [OrderVersion(50, 12, 2, OrderType.STOP, stop_price=D(1)), OrderVersion(50, 11, 2, None)],
)
def test_working_order_from_broker_with_foreign_or_untyped_version_raises(
    version: OrderVersion,
) -> None:
    order = Order(11, 7, 101, Side.SELL, OrderStatus.WORKING)
    with pytest.raises(ValueError, match="does not describe"):
        WorkingOrder.from_broker(order, version)


def test_book_with_duplicate_working_order_raises() -> None:
    order = working(1, Side.SELL, 1)
    with pytest.raises(ValueError, match="twice"):
        Book(1, (order, order))


@pytest.mark.parametrize("last", [D(0), D("NaN")])
def test_book_with_bad_last_price_raises(last: Decimal) -> None:
    with pytest.raises(ValueError, match="last_price"):
        Book(0, (), last)


def test_book_from_broker_with_no_position_is_flat() -> None:
    book = Book.from_broker(None, [working(1, Side.BUY, 1)], D(100))
    assert (book.net_pos, len(book.working), book.last_price) == (0, 1, D(100))


def test_book_from_broker_with_position_reads_net_position() -> None:
    assert Book.from_broker(Position(1, 7, 101, -3)).net_pos == -3


@pytest.mark.parametrize(("net_pos", "exit_ids"), [(0, ()), (2, (2,)), (-2, (1,))])
def test_book_exits_with_position_are_orders_on_the_closing_side(
    net_pos: int, exit_ids: tuple[int, ...]
) -> None:
    book = Book(net_pos, (working(1, Side.BUY, 1), working(2, Side.SELL, 1)))
    assert tuple(order.order_id for order in book.exits) == exit_ids


@pytest.mark.parametrize(("distance", "price"), [(None, None), (D(1), D(100))])
def test_move_stop_to_breakeven_without_exactly_one_trigger_raises(
    distance: Decimal | None, price: Decimal | None
) -> None:
    with pytest.raises(ValueError, match="trigger"):
        MoveStopToBreakeven(
            "entry", None, Side.BUY, D(0), trigger_distance=distance, trigger_price=price
        )


def _order(leg: str) -> PlaceOrder:
    request = OrderRequest(7, "NQZ4", Side.BUY, 1, OrderType.MARKET, cl_ord_id=leg)
    return PlaceOrder(leg, request)


def test_plan_with_repeated_leg_raises() -> None:
    with pytest.raises(ValueError, match="leg id"):
        Plan((_order("entry"), _order("entry")), 0, 2)


def test_plan_legs_with_cancel_then_order_follow_command_order() -> None:
    cancel = CancelOrder("cancel.3", 3, "c3")
    result = Plan((cancel, _order("entry")), 0, 1)
    assert result.legs == ("cancel.3", "entry")
    assert [command.leg for command in result.placements] == ["entry"]
