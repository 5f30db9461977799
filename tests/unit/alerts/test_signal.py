"""The Signal model's cross-field rules, each with its stable code and field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.errors import InvalidSignal
from shared.domain.signal import (
    AccountSelector,
    BracketLeg,
    Breakeven,
    Intent,
    MarketPosition,
    OrderType,
    PriceSpec,
    PriceUnit,
    QuantityUnit,
    Side,
    Signal,
    TargetPosition,
    TimeInForce,
    TrailingStop,
)
from shared.domain.symbols import parse_symbol

NQ = parse_symbol("NQ1!")
D = Decimal


def ticks(n: int) -> PriceSpec:
    return PriceSpec(D(n), PriceUnit.TICKS)


def price(value: str) -> PriceSpec:
    return PriceSpec(D(value), PriceUnit.PRICE)


def make(**overrides: Any) -> Signal:
    values: dict[str, Any] = {"source": "native", "intent": Intent.BUY, "symbol": NQ}
    values.update(overrides)
    return Signal(**values)


def raises(code: str, field: str | None, build: Any) -> None:
    with pytest.raises(InvalidSignal) as info:
        build()
    assert (info.value.code, info.value.field) == (code, field)
    assert info.value.to_dict()["code"] == code


def test_signal_with_minimal_fields_defaults_everything_else() -> None:
    signal = make()
    assert signal.direction is Side.BUY
    assert signal.entry_price is None
    assert signal.is_entry
    assert signal.quantity_unit is QuantityUnit.CONTRACTS
    assert dict(signal.extras) == {}


def test_signal_with_extras_freezes_them() -> None:
    source = {"note": "x"}
    signal = make(extras=source)
    source["note"] = "changed"
    assert signal.extras["note"] == "x"
    with pytest.raises(TypeError):
        signal.extras["note"] = "y"  # type: ignore[index]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"intent": Intent.SELL}, Side.SELL),
        ({"intent": Intent.EXIT, "side": Side.SELL}, Side.SELL),
        ({"intent": Intent.REVERSE}, None),
    ],
)
def test_signal_direction_with_intent_and_side_names_order_side(
    overrides: dict[str, Any], expected: Side | None
) -> None:
    assert make(**overrides).direction is expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"order_type": OrderType.LIMIT, "limit_price": D(10)}, D(10)),
        ({"order_type": OrderType.STOP_LIMIT, "limit_price": D(11), "stop_price": D(10)}, D(11)),
        ({"order_type": OrderType.STOP, "stop_price": D(12)}, D(12)),
        ({"order_type": OrderType.MARKET, "signal_price": D(13)}, D(13)),
    ],
)
def test_signal_entry_price_with_order_type_picks_the_right_price(
    overrides: dict[str, Any], expected: Decimal
) -> None:
    assert make(**overrides).entry_price == expected


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"intent": Intent.BUY, "side": Side.SELL}, "conflicting_side", "side"),
        ({"quantity": D(0)}, "non_positive_value", "quantity"),
        ({"quantity": D("1.5")}, "fractional_quantity", "quantity"),
        ({"quantity": D(101), "quantity_unit": QuantityUnit.RISK_PERCENT}, "invalid_percent",
         "quantity"),
        ({"signal_price": D(-1)}, "non_positive_value", "signal_price"),
        ({"order_type": OrderType.LIMIT}, "missing_limit_price", "limit_price"),
        ({"order_type": OrderType.STOP}, "missing_stop_price", "stop_price"),
        ({"order_type": OrderType.TRAILING_STOP}, "missing_trail", "trail"),
        ({"limit_price": D(5)}, "price_not_allowed", "limit_price"),
        ({"order_type": OrderType.LIMIT, "limit_price": D(5), "stop_price": D(4)},
         "price_not_allowed", "stop_price"),
        ({"trail": ticks(4)}, "price_not_allowed", "trail"),
        ({"order_type": OrderType.TRAILING_STOP, "trail": price("5")}, "invalid_unit", "trail"),
        ({"time_in_force": TimeInForce.GTD}, "invalid_time_in_force", "time_in_force"),
        ({"time_in_force": TimeInForce.GTD, "expires_after_s": 0}, "non_positive_value",
         "expires_after_s"),
        ({"tv_time": datetime(2025, 1, 1)}, "naive_time", "tv_time"),  # noqa: DTZ001
        ({"alert_id": "x" * 129}, "invalid_alert_id", "alert_id"),
        ({"alert_id": ""}, "invalid_alert_id", "alert_id"),
        ({"accounts": (AccountSelector("A"), AccountSelector("A"))}, "duplicate_account",
         "accounts"),
        ({"required_positions": (MarketPosition.FLAT, MarketPosition.FLAT)},
         "invalid_required_position", "required_positions"),
    ],
)  # fmt: skip
def test_signal_with_inconsistent_fields_raises_code_and_field(
    overrides: dict[str, Any], code: str, field: str
) -> None:
    raises(code, field, lambda: make(**overrides))


def test_signal_with_trailing_stop_order_accepts_stop_price() -> None:
    signal = make(order_type=OrderType.TRAILING_STOP, trail=ticks(8), stop_price=D(100))
    assert signal.stop_price == D(100)


def test_signal_with_percent_sizing_allows_fractions() -> None:
    signal = make(quantity=D("0.5"), quantity_unit=QuantityUnit.PERCENT_OF_EQUITY)
    assert signal.quantity == D("0.5")


def test_signal_with_aware_times_keeps_them() -> None:
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    assert make(tv_time=moment, bar_time=moment).bar_time == moment


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"intent": Intent.EXIT, "brackets": (BracketLeg(take_profit=ticks(4)),)},
         "brackets_not_allowed", "brackets"),
        ({"brackets": (BracketLeg(take_profit=ticks(4)), BracketLeg(D(1), take_profit=ticks(8)))},
         "bracket_quantity_required", "brackets"),
        ({"quantity": D(3), "brackets": (BracketLeg(D(1), take_profit=ticks(4)),
                                         BracketLeg(D(1), take_profit=ticks(8)))},
         "bracket_quantity_mismatch", "brackets"),
        ({"order_type": OrderType.LIMIT, "limit_price": D(100),
          "brackets": (BracketLeg(take_profit=price("99")),)},
         "bracket_wrong_side", "brackets[0].take_profit"),
        ({"order_type": OrderType.LIMIT, "limit_price": D(100),
          "brackets": (BracketLeg(stop_loss=price("101")),)},
         "bracket_wrong_side", "brackets[0].stop_loss"),
        ({"intent": Intent.SELL, "signal_price": D(100),
          "brackets": (BracketLeg(take_profit=price("101")),)},
         "bracket_wrong_side", "brackets[0].take_profit"),
        ({"brackets": (BracketLeg(take_profit=price("99"), stop_loss=price("101")),)},
         "bracket_wrong_side", "brackets[0].stop_loss"),
    ],
)  # fmt: skip
def test_signal_with_bad_brackets_raises_code_and_field(
    overrides: dict[str, Any], code: str, field: str
) -> None:
    raises(code, field, lambda: make(**overrides))


def test_signal_with_brackets_on_correct_sides_is_accepted() -> None:
    leg = BracketLeg(take_profit=price("90"), stop_loss=price("105"))
    signal = make(intent=Intent.SELL, signal_price=D(100), brackets=(leg,))
    assert signal.brackets == (leg,)


def test_signal_with_reverse_without_side_skips_side_checks() -> None:
    leg = BracketLeg(take_profit=price("90"), stop_loss=price("105"))
    assert make(intent=Intent.REVERSE, signal_price=D(100), brackets=(leg,)).brackets == (leg,)


def test_signal_with_percent_sized_legs_skips_the_sum_check() -> None:
    legs = (BracketLeg(D(1), take_profit=ticks(4)), BracketLeg(D(1), take_profit=ticks(8)))
    signal = make(quantity=D(50), quantity_unit=QuantityUnit.RISK_PERCENT, brackets=legs)
    assert len(signal.brackets) == 2


@pytest.mark.parametrize(
    ("build", "code", "field"),
    [
        (lambda: PriceSpec(D(0), PriceUnit.TICKS), "non_positive_value", "value"),
        (lambda: PriceSpec(D(100), PriceUnit.PERCENT), "invalid_percent", "value"),
        (lambda: TrailingStop(price("5")), "invalid_unit", "trailing_stop.distance"),
        (lambda: TrailingStop(ticks(5), trigger=price("5")), "invalid_unit",
         "trailing_stop.trigger"),
        (lambda: Breakeven(ticks(5), offset=price("1")), "invalid_unit", "breakeven.offset"),
        (lambda: BracketLeg(), "empty_bracket", "brackets"),
        (lambda: BracketLeg(D("1.5"), take_profit=ticks(4)), "fractional_quantity",
         "brackets.quantity"),
        (lambda: BracketLeg(D(0), take_profit=ticks(4)), "non_positive_value",
         "brackets.quantity"),
        (lambda: BracketLeg(take_profit=ticks(4), stop_limit=ticks(1)),
         "stop_limit_without_stop", "stop_limit"),
        (lambda: TargetPosition(MarketPosition.LONG, D(-1)), "invalid_target_position",
         "position_size"),
        (lambda: TargetPosition(MarketPosition.FLAT, D(1)), "invalid_target_position",
         "position_size"),
        (lambda: TargetPosition(MarketPosition.SHORT, D(1), prev_size=D(-2)),
         "invalid_target_position", "prev_position_size"),
        (lambda: AccountSelector(""), "invalid_account", "accounts"),
        (lambda: AccountSelector("A", D(0)), "non_positive_value",
         "accounts.quantity_multiplier"),
    ],
)  # fmt: skip
def test_signal_parts_with_invalid_values_raise_code_and_field(
    build: Any, code: str, field: str
) -> None:
    raises(code, field, build)


def test_signal_parts_with_valid_values_keep_them() -> None:
    assert PriceSpec(D("99.9"), PriceUnit.PERCENT).is_price is False
    assert price("5300.25").is_price
    assert TargetPosition(MarketPosition.FLAT, D(0)).size == 0
    assert TargetPosition(MarketPosition.LONG).size is None
    assert Breakeven(ticks(20), ticks(1)).offset == ticks(1)


def test_invalid_signal_to_dict_with_field_includes_it() -> None:
    error = InvalidSignal("bad", code="x", field="quantity")
    assert error.to_dict() == {"code": "x", "message": "bad", "field": "quantity"}
    assert InvalidSignal("bad").to_dict() == {"code": "invalid_signal", "message": "bad"}
