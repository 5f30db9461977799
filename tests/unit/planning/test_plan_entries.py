"""Plan entries: order types, quantities, multipliers, adding, opposite signals, preconditions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.broker import Account, OrderType, Side, TimeInForce
from shared.domain.planning import Book, CancelOrder, PlaceOrder
from shared.domain.policy import OppositeSignal
from shared.domain.risk import DenialCode
from shared.domain.signal import (
    AccountSelector,
    BracketLeg,
    Intent,
    MarketPosition,
    QuantityUnit,
)
from shared.domain.signal import OrderType as SignalOrderType
from shared.domain.signal import Side as SignalSide
from shared.domain.signal import TimeInForce as SignalTimeInForce
from tests.unit.planning.builders import (
    ACCOUNT,
    MNQ,
    NOW,
    SIGNAL_ID,
    bracket_pair,
    denied,
    entry_of,
    percent,
    planned,
    policy,
    signal,
    ticks,
    working,
)

D = Decimal


def test_plan_with_market_buy_when_flat_places_one_market_order() -> None:
    result = planned(signal(Intent.BUY, quantity=D(2)))
    assert result.legs == ("entry",)
    command = result.commands[0]
    assert isinstance(command, PlaceOrder)
    request = command.request
    assert (request.side, request.qty, request.order_type) == (Side.BUY, 2, OrderType.MARKET)
    assert (request.account_id, request.account_name, request.symbol) == (7, "DEMO1", "NQZ4")
    assert request.time_in_force is TimeInForce.DAY
    assert (result.position_before, result.position_after, result.note) == (0, 2, "enter")


def test_plan_with_same_inputs_gives_same_client_order_ids() -> None:
    first = planned(signal(Intent.SELL, quantity=D(1)))
    second = planned(signal(Intent.SELL, quantity=D(1)))
    assert first == second
    request = entry_of(first.placements[0])
    assert request.cl_ord_id.endswith("-entry")


ENTRY_TYPES: list[tuple[str, dict[str, Any], Side, tuple[Any, ...]]] = [
    (
        "buy limit rounds down",
        {"order_type": SignalOrderType.LIMIT, "limit_price": D("20000.10")},
        Side.BUY,
        (OrderType.LIMIT, D("20000.00"), None, None),
    ),
    (
        "sell limit rounds up",
        {"order_type": SignalOrderType.LIMIT, "limit_price": D("20000.10")},
        Side.SELL,
        (OrderType.LIMIT, D("20000.25"), None, None),
    ),
    (
        "buy stop rounds up",
        {"order_type": SignalOrderType.STOP, "stop_price": D("20000.10")},
        Side.BUY,
        (OrderType.STOP, None, D("20000.25"), None),
    ),
    (
        "sell stop-limit",
        {
            "order_type": SignalOrderType.STOP_LIMIT,
            "stop_price": D("20000.10"),
            "limit_price": D("19999.60"),
        },
        Side.SELL,
        (OrderType.STOP_LIMIT, D("19999.75"), D("20000.00"), None),
    ),
    (
        "trailing stop in ticks starts the trail from the alert price",
        {
            "order_type": SignalOrderType.TRAILING_STOP,
            "trail": ticks(10),
            "signal_price": D(20000),
        },
        Side.BUY,
        (OrderType.TRAILING_STOP, None, D("20002.50"), D("2.50")),
    ),
    (
        "sell trailing stop starts below the alert price",
        {
            "order_type": SignalOrderType.TRAILING_STOP,
            "trail": ticks(10),
            "signal_price": D(20000),
        },
        Side.SELL,
        (OrderType.TRAILING_STOP, None, D("19997.50"), D("2.50")),
    ),
    (
        "trailing stop with a start",
        {
            "order_type": SignalOrderType.TRAILING_STOP,
            "trail": ticks(10),
            "stop_price": D("20010.10"),
        },
        Side.BUY,
        (OrderType.TRAILING_STOP, None, D("20010.25"), D("2.50")),
    ),
]


@pytest.mark.parametrize(
    ("fields", "side", "expected"),
    [(f, s, e) for _, f, s, e in ENTRY_TYPES],
    ids=[t[0] for t in ENTRY_TYPES],
)
def test_plan_with_priced_entry_rounds_to_tick_never_worse(
    fields: dict[str, Any], side: Side, expected: tuple[Any, ...]
) -> None:
    intent = Intent.BUY if side is Side.BUY else Intent.SELL
    result = planned(signal(intent, quantity=D(1), **fields))
    request = entry_of(result.placements[0])
    assert (request.order_type, request.price, request.stop_price, request.trail) == expected


def test_plan_with_trailing_entry_and_no_price_at_all_denies_no_reference() -> None:
    sig = signal(
        Intent.BUY, quantity=D(1), order_type=SignalOrderType.TRAILING_STOP, trail=ticks(10)
    )
    assert denied(sig).code == DenialCode.NO_REFERENCE_PRICE


def test_plan_with_percent_trailing_entry_uses_the_alert_price() -> None:
    result = planned(
        signal(
            Intent.BUY,
            order_type=SignalOrderType.TRAILING_STOP,
            trail=percent("0.1"),
            signal_price=D(20000),
        )
    )
    assert entry_of(result.placements[0]).trail == D(20)


def test_plan_with_percent_trailing_entry_and_no_price_denies() -> None:
    sig = signal(Intent.BUY, order_type=SignalOrderType.TRAILING_STOP, trail=percent("0.1"))
    result = denied(sig)
    assert result.code == DenialCode.NO_REFERENCE_PRICE


def test_plan_with_trail_shorter_than_a_tick_denies() -> None:
    result = denied(
        signal(Intent.BUY, order_type=SignalOrderType.TRAILING_STOP, trail=ticks("0.5"))
    )
    assert result.code == DenialCode.BRACKET_TOO_CLOSE


def test_plan_with_price_rounding_to_zero_denies() -> None:
    result = denied(
        signal(Intent.SELL, order_type=SignalOrderType.STOP, stop_price=D("0.1"), quantity=D(1))
    )
    assert result.code == DenialCode.INVALID_PRICE


def test_plan_with_gtd_entry_expires_after_the_alert_delay() -> None:
    result = planned(
        signal(
            Intent.BUY,
            order_type=SignalOrderType.LIMIT,
            limit_price=D(20000),
            time_in_force=SignalTimeInForce.GTD,
            expires_after_s=90,
        )
    )
    request = entry_of(result.placements[0])
    assert request.time_in_force is TimeInForce.GTD
    assert request.expire_time == NOW + timedelta(seconds=90)


def test_plan_with_default_limit_type_rests_at_the_alert_price() -> None:
    pol = policy(default_order_type=SignalOrderType.LIMIT)
    result = planned(signal(Intent.SELL, signal_price=D("20000.10")), pol=pol)
    request = entry_of(result.placements[0])
    assert (request.order_type, request.price) == (OrderType.LIMIT, D("20000.25"))


def test_plan_with_default_limit_type_and_no_price_denies() -> None:
    result = denied(signal(Intent.BUY), pol=policy(default_order_type=SignalOrderType.LIMIT))
    assert result.code == DenialCode.MISSING_PRICE


def test_plan_without_quantity_uses_the_default_quantity_and_time_in_force() -> None:
    pol = policy(default_quantity=D(3), default_time_in_force=SignalTimeInForce.GTC)
    request = entry_of(planned(signal(Intent.BUY), pol=pol).placements[0])
    assert (request.qty, request.time_in_force) == (3, TimeInForce.GTC)


def test_plan_with_sized_legs_and_no_quantity_opens_their_total() -> None:
    legs = (BracketLeg(D(1), take_profit=ticks(8)), BracketLeg(D(2), take_profit=ticks(16)))
    result = planned(signal(Intent.BUY, brackets=legs, signal_price=D(20000)))
    assert [entry_of(c).qty for c in result.placements] == [1, 2]


@pytest.mark.parametrize(
    ("multipliers", "selectors", "expected"),
    [
        ({"DEMO1": D(3)}, (), 6),  # configured multiplier 3
        ({}, (), 2),
        ({"DEMO1": D("1.5")}, (), 3),
        ({"DEMO1": D("1.25")}, (), 2),  # 2.5 rounds down
        ({"DEMO1": D(3)}, (AccountSelector("DEMO1", D(2)),), 4),  # the alert's own wins
        ({"DEMO1": D(3)}, (AccountSelector("7", D(5)),), 10),  # named by account id
        ({"DEMO1": D(3)}, (AccountSelector("DEMO1"),), 6),  # selector without multiplier
        ({"DEMO1": D(3)}, (AccountSelector("OTHER", D(5)),), 6),
    ],
)
def test_plan_with_account_multiplier_scales_and_rounds_down(
    multipliers: dict[str, Decimal], selectors: tuple[AccountSelector, ...], expected: int
) -> None:
    sig = signal(Intent.BUY, quantity=D(2), accounts=selectors)
    result = planned(sig, pol=policy(account_multipliers=multipliers))
    assert entry_of(result.placements[0]).qty == expected


def test_plan_with_multiplier_rounding_to_zero_denies() -> None:
    sig = signal(Intent.BUY, quantity=D(1))
    result = denied(sig, pol=policy(account_multipliers={"DEMO1": D("0.5")}))
    assert result.code == DenialCode.ZERO_QUANTITY


@pytest.mark.parametrize(
    "unit",
    [QuantityUnit.DOLLAR_AMOUNT, QuantityUnit.RISK_PERCENT, QuantityUnit.PERCENT_OF_POSITION],
)
def test_plan_with_entry_sized_in_money_or_percent_denies(unit: QuantityUnit) -> None:
    result = denied(signal(Intent.BUY, quantity=D(10), quantity_unit=unit))
    assert result.code == DenialCode.UNSUPPORTED_QUANTITY_UNIT


def test_plan_with_buy_while_long_and_adding_off_denies_add_not_allowed() -> None:
    result = denied(signal(Intent.BUY, quantity=D(1)), Book(2))
    assert result.code == DenialCode.ADD_NOT_ALLOWED


def test_plan_with_buy_while_long_and_adding_on_adds_and_keeps_brackets() -> None:
    book = Book(2, bracket_pair(11, Side.SELL, 2))
    result = planned(signal(Intent.BUY, quantity=D(1)), book, pol=policy(allow_add=True))
    assert result.legs == ("entry",)
    assert (result.position_after, result.note) == (3, "add")


def test_plan_with_add_intent_adds_even_when_adding_is_off() -> None:
    result = planned(signal(Intent.ADD, quantity=D(1)), Book(-2))
    request = entry_of(result.placements[0])
    assert (request.side, request.qty, result.position_after) == (Side.SELL, 1, -3)


def test_plan_with_add_intent_when_flat_and_no_side_denies_no_direction() -> None:
    assert denied(signal(Intent.ADD, quantity=D(1))).code == DenialCode.NO_DIRECTION


def test_plan_with_add_intent_when_flat_and_a_side_enters() -> None:
    result = planned(signal(Intent.ADD, side=SignalSide.BUY, quantity=D(1)))
    assert result.position_after == 1


@pytest.mark.parametrize(
    ("behaviour", "after", "legs"),
    [
        (OppositeSignal.REVERSE, -1, ("cancel.11", "cancel.12", "entry")),
        (OppositeSignal.EXIT_ONLY, 0, ("cancel.11", "cancel.12", "close")),
    ],
)
def test_plan_with_sell_while_long_follows_the_opposite_signal_policy(
    behaviour: OppositeSignal, after: int, legs: tuple[str, ...]
) -> None:
    book = Book(2, bracket_pair(11, Side.SELL, 2))
    result = planned(
        signal(Intent.SELL, quantity=D(1)), book, pol=policy(opposite_signal=behaviour)
    )
    assert (result.legs, result.position_after) == (legs, after)


def test_plan_with_sell_while_long_and_policy_ignore_denies() -> None:
    pol = policy(opposite_signal=OppositeSignal.IGNORE)
    result = denied(signal(Intent.SELL, quantity=D(1)), Book(2), pol=pol)
    assert result.code == DenialCode.OPPOSITE_SIGNAL_IGNORED


def test_plan_with_flatten_first_closes_at_market_then_enters() -> None:
    book = Book(3, (*bracket_pair(11, Side.SELL, 3), working(20, Side.BUY, 1)))
    sig = signal(
        Intent.BUY,
        quantity=D(1),
        flatten_first=True,
        order_type=SignalOrderType.LIMIT,
        limit_price=D(20000),
    )
    result = planned(sig, book)
    assert result.legs == ("cancel.11", "cancel.12", "cancel.20", "close", "entry")
    close, entry = (entry_of(c) for c in result.placements)
    assert (close.side, close.qty, close.order_type) == (Side.SELL, 3, OrderType.MARKET)
    assert (entry.side, entry.qty, entry.order_type) == (Side.BUY, 1, OrderType.LIMIT)
    assert result.position_after == 1


def test_plan_with_flatten_first_when_flat_just_enters() -> None:
    result = planned(signal(Intent.SELL, quantity=D(1), flatten_first=True))
    assert (result.legs, result.position_after) == (("entry",), -1)


def test_plan_with_cancel_first_cancels_every_working_order_before_the_entry() -> None:
    book = Book(0, (working(20, Side.BUY, 1), working(21, Side.SELL, 1)))
    result = planned(signal(Intent.BUY, quantity=D(1), cancel_first=True), book)
    assert result.legs == ("cancel.20", "cancel.21", "entry")
    assert isinstance(result.commands[0], CancelOrder)
    assert result.commands[0].order_id == 20


def test_plan_with_contract_of_another_root_denies_contract_mismatch() -> None:
    result = denied(signal(Intent.BUY, symbol="ES1!"))
    assert result.code == DenialCode.CONTRACT_MISMATCH


def test_plan_with_explicit_contract_not_the_resolved_one_denies_contract_mismatch() -> None:
    result = denied(signal(Intent.BUY, symbol="NQH5"))
    assert result.code == DenialCode.CONTRACT_MISMATCH


def test_plan_with_symbol_map_trades_the_mapped_contract() -> None:
    pol = policy(symbol_map={"NQ": "MNQ"})
    result = planned(signal(Intent.BUY, symbol="NQZ2024", quantity=D(1)), contract=MNQ, pol=pol)
    assert entry_of(result.placements[0]).symbol == "MNQZ4"


@pytest.mark.parametrize(
    ("required", "book", "allowed"),
    [
        ((MarketPosition.FLAT,), Book(0), True),
        ((MarketPosition.FLAT,), Book(1), False),
        ((MarketPosition.LONG, MarketPosition.FLAT), Book(-1), False),
        ((MarketPosition.SHORT,), Book(-1), True),
    ],
)
def test_plan_with_required_position_applies_only_when_it_holds(
    required: tuple[MarketPosition, ...], book: Book, allowed: bool
) -> None:
    sig = signal(Intent.BUY, quantity=D(1), required_positions=required)
    if allowed:
        planned(sig, book, pol=policy(allow_add=True, opposite_signal=OppositeSignal.REVERSE))
    else:
        assert denied(sig, book).code == DenialCode.POSITION_REQUIREMENT_UNMET


def test_plan_with_another_account_derives_other_client_order_ids() -> None:
    other = Account(8, "DEMO2")
    mine = entry_of(planned(signal(Intent.BUY)).placements[0])
    theirs = entry_of(planned(signal(Intent.BUY), account=other).placements[0])
    assert mine.cl_ord_id != theirs.cl_ord_id
    assert (theirs.account_id, ACCOUNT.id, SIGNAL_ID) == (8, 7, "sig-1")
