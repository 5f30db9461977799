"""Invalid broker requests cannot be built: a table of the cross-field rules."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.broker import (
    BracketLeg,
    BracketOrderRequest,
    ContractMaturity,
    Fill,
    ModifyOrderRequest,
    OrderRequest,
    OrderType,
    Product,
    Side,
    TimeInForce,
)

_OK: dict[str, Any] = {
    "account_id": 10001,
    "symbol": "NQZ4",
    "side": Side.BUY,
    "qty": 1,
    "order_type": OrderType.MARKET,
    "cl_ord_id": "tb-1",
}
P = Decimal("100.25")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"account_id": 0}, "account_id"),
        ({"symbol": ""}, "symbol"),
        ({"qty": 0}, "qty"),
        ({"qty": -1}, "qty"),
        ({"cl_ord_id": ""}, "cl_ord_id"),
        ({"cl_ord_id": "x" * 65}, "cl_ord_id"),
        ({"cl_ord_id": "a\nb"}, "cl_ord_id"),
        ({"order_type": OrderType.LIMIT}, "needs a price"),
        ({"order_type": OrderType.STOP}, "needs a stop_price"),
        ({"order_type": OrderType.STOP_LIMIT, "price": P}, "needs a stop_price"),
        ({"order_type": OrderType.TRAILING_STOP}, "trail offset"),
        ({"price": P}, "takes no limit price"),
        ({"stop_price": P}, "takes no stop_price"),
        ({"trail": P}, "takes no trail"),
        ({"order_type": OrderType.LIMIT, "price": Decimal(0)}, "positive"),
        ({"order_type": OrderType.LIMIT, "price": Decimal("NaN")}, "positive"),
        ({"time_in_force": TimeInForce.GTD}, "expire_time"),
        ({"expire_time": datetime(2030, 1, 1, tzinfo=UTC)}, "only valid with"),
        (
            {"time_in_force": TimeInForce.GTD, "expire_time": datetime(2030, 1, 1)},  # noqa: DTZ001
            "timezone-aware",
        ),
        ({"text": "t" * 65}, "64"),
    ],
)
def test_order_request_with_invalid_combination_raises(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        OrderRequest(**{**_OK, **overrides})


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"order_type": OrderType.LIMIT, "price": P},
        {"order_type": OrderType.STOP, "stop_price": P},
        {"order_type": OrderType.STOP_LIMIT, "price": P, "stop_price": P},
        {"order_type": OrderType.TRAILING_STOP, "trail": Decimal("4")},
        {"order_type": OrderType.TRAILING_STOP_LIMIT, "price": P, "trail": Decimal("4")},
        {"time_in_force": TimeInForce.GTD, "expire_time": datetime(2030, 1, 1, tzinfo=UTC)},
    ],
)
def test_order_request_with_valid_combination_builds(overrides: dict[str, Any]) -> None:
    assert OrderRequest(**{**_OK, **overrides}).qty == 1


def test_bracket_with_same_side_leg_raises() -> None:
    entry = OrderRequest(**_OK)
    with pytest.raises(ValueError, match="opposite side"):
        BracketOrderRequest(entry, (BracketLeg(Side.BUY, OrderType.LIMIT, price=P),))


def test_bracket_with_zero_or_three_legs_raises() -> None:
    entry = OrderRequest(**_OK)
    leg = BracketLeg(Side.SELL, OrderType.LIMIT, price=P)
    with pytest.raises(ValueError, match="one or two"):
        BracketOrderRequest(entry, ())
    with pytest.raises(ValueError, match="one or two"):
        BracketOrderRequest(entry, (leg, leg, leg))


def test_bracket_leg_with_market_type_raises() -> None:
    with pytest.raises(ValueError, match="must rest"):
        BracketLeg(Side.SELL, OrderType.MARKET)


def test_modify_with_zero_qty_raises() -> None:
    with pytest.raises(ValueError, match="qty"):
        ModifyOrderRequest(order_id=1, qty=0, order_type=OrderType.LIMIT, price=P)


def test_product_with_zero_tick_raises() -> None:
    with pytest.raises(ValueError, match="tick_size"):
        Product(id=1, name="NQ", tick_size=Decimal(0), value_per_point=Decimal(20))


def test_fill_with_zero_qty_and_maturity_with_naive_date_raise() -> None:
    with pytest.raises(ValueError, match="positive"):
        Fill(id=1, order_id=1, contract_id=1, side=Side.BUY, qty=0, price=P)
    with pytest.raises(ValueError, match="timezone-aware"):
        ContractMaturity(1, 1, 202412, expiration_date=datetime(2024, 12, 20))  # noqa: DTZ001


def test_side_opposite_flips() -> None:
    assert Side.BUY.opposite is Side.SELL
    assert Side.SELL.opposite is Side.BUY
