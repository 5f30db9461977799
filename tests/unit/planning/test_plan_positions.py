"""Plan exits, flattening, cancels, reversals and target positions against the broker position."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from shared.domain.alerts import parse_alert
from shared.domain.broker import OrderType, Side
from shared.domain.planning import Book, CancelOrder, ModifyOrder, PlaceOrder
from shared.domain.policy import OppositeSignal, RiskLimits
from shared.domain.risk import DenialCode
from shared.domain.signal import Intent, MarketPosition, QuantityUnit, TargetPosition
from shared.domain.signal import OrderType as SignalOrderType
from shared.domain.signal import Side as SignalSide
from tests.unit.planning.builders import (
    bracket_pair,
    denied,
    entry_of,
    planned,
    policy,
    signal,
    simulate,
    working,
)

D = Decimal
LONG, SHORT, FLAT = MarketPosition.LONG, MarketPosition.SHORT, MarketPosition.FLAT
REVERSE = policy(opposite_signal=OppositeSignal.REVERSE)


def _target(position: MarketPosition, size: int | None, **fields: object) -> TargetPosition:
    return TargetPosition(position, None if size is None else D(size), **fields)  # type: ignore[arg-type]


# --- target positions ------------------------------------------------------------------------


def test_plan_with_reversal_long_to_short_cancels_brackets_then_sends_one_order() -> None:
    book = Book(2, bracket_pair(11, Side.SELL, 2))
    sig = signal(Intent.SELL, target=_target(SHORT, 2))
    result = planned(sig, book, pol=REVERSE)
    assert result.legs == ("cancel.11", "cancel.12", "entry")
    assert [c.order_id for c in result.commands if isinstance(c, CancelOrder)] == [11, 12]
    request = entry_of(result.placements[0])
    assert (request.side, request.qty, request.order_type) == (Side.SELL, 4, OrderType.MARKET)
    assert (result.position_before, result.position_after, result.note) == (2, -2, "reverse")


def test_plan_with_reversal_and_order_cap_splits_close_and_entry() -> None:
    pol = policy(opposite_signal=OppositeSignal.REVERSE, limits=RiskLimits(max_order_qty=3))
    result = planned(signal(Intent.SELL, target=_target(SHORT, 2)), Book(2), pol=pol)
    assert result.legs == ("close", "entry")
    assert [entry_of(c).qty for c in result.placements] == [2, 2]
    assert result.position_after == -2


def test_plan_with_sentiment_flat_flattens_and_cancels_every_working_order() -> None:
    book = Book(-3, (*bracket_pair(11, Side.BUY, 3), working(20, Side.SELL, 1)))
    sig = signal(Intent.BUY, target=TargetPosition(FLAT, D(0), from_sentiment=True))
    result = planned(sig, book)
    assert result.legs == ("cancel.11", "cancel.12", "cancel.20", "close")
    close = entry_of(result.placements[0])
    assert (close.side, close.qty, close.order_type) == (Side.BUY, 3, OrderType.MARKET)
    assert (result.position_after, result.note) == (0, "target flat")


def test_plan_with_target_flat_when_flat_only_cancels() -> None:
    result = planned(
        signal(Intent.SELL, target=_target(FLAT, 0)), Book(0, (working(5, Side.BUY, 1),))
    )
    assert (result.legs, result.position_after) == (("cancel.5",), 0)


def test_plan_with_missed_entry_heals_to_the_target_in_one_order() -> None:
    # The strategy is long 3 after adding 1; the broker never saw the first entry.
    sig = signal(Intent.BUY, target=_target(LONG, 3, prev_market_position=LONG, prev_size=D(2)))
    result = planned(sig, Book(0), pol=policy(allow_add=True))
    assert [entry_of(c).qty for c in result.placements] == [3]
    assert result.position_after == 3


def test_plan_with_target_already_held_sends_nothing() -> None:
    result = planned(signal(Intent.BUY, target=_target(LONG, 2)), Book(2))
    assert (result.commands, result.position_after, result.note) == ((), 2, "to target")


def test_plan_with_strategy_adding_and_adding_off_denies_add_not_allowed() -> None:
    sig = signal(Intent.BUY, target=_target(LONG, 3, prev_market_position=LONG, prev_size=D(2)))
    assert denied(sig, Book(2)).code == DenialCode.ADD_NOT_ALLOWED


def test_plan_with_larger_target_and_no_previous_position_heals_the_gap() -> None:
    result = planned(
        signal(Intent.BUY, target=_target(LONG, 3)), Book(2), pol=policy(allow_add=True)
    )
    assert (entry_of(result.placements[0]).qty, result.position_after) == (1, 3)


def test_plan_with_larger_target_and_adding_off_denies_worst_case_add() -> None:
    # Growing a held position is an add whatever the alert's history says: with stale facts
    # (the broker already at 3) the "heal" would reach 4 (rails, shared.domain.planning.rails).
    result = denied(signal(Intent.BUY, target=_target(LONG, 3)), Book(2))
    assert result.code == DenialCode.WORST_CASE_ADD


def test_plan_with_smaller_target_on_same_side_reduces_and_shrinks_brackets() -> None:
    book = Book(3, bracket_pair(11, Side.SELL, 3))
    result = planned(signal(Intent.SELL, target=_target(LONG, 1)), book)
    assert result.legs == ("trim.11", "trim.12", "close")
    trims = [c.request.qty for c in result.commands if isinstance(c, ModifyOrder)]
    assert trims == [1, 1]
    assert result.position_after == 1


def test_plan_with_target_scaled_by_multiplier_three() -> None:
    pol = policy(account_multipliers={"DEMO1": D(3)}, opposite_signal=OppositeSignal.REVERSE)
    result = planned(signal(Intent.SELL, target=_target(SHORT, 2)), Book(6), pol=pol)
    assert (entry_of(result.placements[0]).qty, result.position_after) == (12, -6)


def test_plan_with_target_rounding_to_zero_denies() -> None:
    pol = policy(account_multipliers={"DEMO1": D("0.5")})
    assert (
        denied(signal(Intent.BUY, target=_target(LONG, 1)), pol=pol).code
        == DenialCode.ZERO_QUANTITY
    )


@pytest.mark.parametrize(
    ("behaviour", "after"), [(OppositeSignal.REVERSE, -2), (OppositeSignal.EXIT_ONLY, 0)]
)
def test_plan_with_opposite_target_follows_the_policy(
    behaviour: OppositeSignal, after: int
) -> None:
    sig = signal(Intent.SELL, target=_target(SHORT, 2))
    assert planned(sig, Book(1), pol=policy(opposite_signal=behaviour)).position_after == after


def test_plan_with_opposite_target_and_policy_ignore_denies() -> None:
    pol = policy(opposite_signal=OppositeSignal.IGNORE)
    result = denied(signal(Intent.SELL, target=_target(SHORT, 2)), Book(1), pol=pol)
    assert result.code == DenialCode.OPPOSITE_SIGNAL_IGNORED


@pytest.mark.parametrize(("current", "after"), [(0, 2), (-1, 2)])
def test_plan_with_sentiment_long_opens_the_entry_quantity(current: int, after: int) -> None:
    sig = signal(Intent.BUY, quantity=D(2), target=TargetPosition(LONG, from_sentiment=True))
    assert planned(sig, Book(current), pol=REVERSE).position_after == after


def test_plan_with_sentiment_long_while_long_adds_only_when_allowed() -> None:
    sig = signal(Intent.BUY, quantity=D(1), target=TargetPosition(LONG, from_sentiment=True))
    assert denied(sig, Book(2)).code == DenialCode.ADD_NOT_ALLOWED
    assert planned(sig, Book(2), pol=policy(allow_add=True)).position_after == 3


# --- reverse intent ---------------------------------------------------------------------------


@pytest.mark.parametrize(("quantity", "after"), [(None, 3), (D(1), 1)])
def test_plan_with_reverse_intent_flips_even_when_policy_is_exit_only(
    quantity: Decimal | None, after: int
) -> None:
    result = planned(signal(Intent.REVERSE, quantity=quantity), Book(-3))
    assert (result.legs, result.position_after) == (("entry",), after)


def test_plan_with_reverse_intent_when_flat_and_no_side_denies_no_direction() -> None:
    assert denied(signal(Intent.REVERSE)).code == DenialCode.NO_DIRECTION


def test_plan_with_reverse_intent_when_flat_and_a_side_enters() -> None:
    result = planned(signal(Intent.REVERSE, side=SignalSide.SELL, quantity=D(2)))
    assert result.position_after == -2


# --- exits, close, flat, cancel -----------------------------------------------------------------


def test_plan_with_exit_all_cancels_brackets_but_keeps_resting_entries() -> None:
    book = Book(2, (*bracket_pair(11, Side.SELL, 2), working(20, Side.BUY, 1)))
    result = planned(signal(Intent.EXIT), book)
    assert result.legs == ("cancel.11", "cancel.12", "close")
    close = entry_of(result.placements[0])
    assert (close.side, close.qty, close.order_type) == (Side.SELL, 2, OrderType.MARKET)
    assert (result.position_after, result.note) == (0, "exit")


def test_plan_with_partial_exit_shrinks_the_oldest_bracket_group_first() -> None:
    # Two targets: 1 contract with the first bracket, 2 with the second.
    book = Book(3, (*bracket_pair(11, Side.SELL, 1), *bracket_pair(21, Side.SELL, 2)))
    result = planned(signal(Intent.EXIT, quantity=D(1)), book)
    assert result.legs == ("cancel.11", "cancel.12", "close")
    assert (entry_of(result.placements[0]).qty, result.position_after, result.note) == (
        1,
        2,
        "reduce",
    )


def test_plan_with_partial_exit_larger_than_the_first_group_shrinks_the_next() -> None:
    book = Book(4, (*bracket_pair(11, Side.SELL, 1), *bracket_pair(21, Side.SELL, 3)))
    result = planned(signal(Intent.EXIT, quantity=D(2)), book)
    assert result.legs == ("cancel.11", "cancel.12", "trim.21", "trim.22", "close")
    modified = [c.request for c in result.commands if isinstance(c, ModifyOrder)]
    assert [(m.order_id, m.qty, m.order_type) for m in modified] == [
        (21, 2, OrderType.LIMIT),
        (22, 2, OrderType.STOP),
    ]
    assert modified[1].stop_price == D(19990)


def test_plan_with_partial_exit_and_exits_already_small_enough_shrinks_nothing() -> None:
    book = Book(3, (working(11, Side.SELL, 1),))
    result = planned(signal(Intent.EXIT, quantity=D(1)), book)
    assert result.legs == ("close",)


def test_plan_with_partial_exit_keeps_orders_already_within_the_new_size() -> None:
    # One group where the stop was already cut to 1 by hand: only the target shrinks.
    book = Book(
        3,
        (
            working(11, Side.SELL, 3, OrderType.LIMIT, group=10),
            working(12, Side.SELL, 1, OrderType.STOP, group=10),
        ),
    )
    result = planned(signal(Intent.EXIT, quantity=D(1)), book)
    assert result.legs == ("trim.11", "close")


def test_plan_with_partial_exit_in_percent_of_position_rounds_down() -> None:
    sig = signal(Intent.EXIT, quantity=D(50), quantity_unit=QuantityUnit.PERCENT_OF_POSITION)
    assert planned(sig, Book(-3)).position_after == -2


def test_plan_with_exit_percent_rounding_to_zero_denies() -> None:
    sig = signal(Intent.EXIT, quantity=D(10), quantity_unit=QuantityUnit.PERCENT_OF_POSITION)
    assert denied(sig, Book(3)).code == DenialCode.ZERO_QUANTITY


def test_plan_with_exit_sized_in_money_denies_unsupported_unit() -> None:
    sig = signal(Intent.EXIT, quantity=D(10), quantity_unit=QuantityUnit.DOLLAR_AMOUNT)
    assert denied(sig, Book(3)).code == DenialCode.UNSUPPORTED_QUANTITY_UNIT


def test_plan_with_exit_larger_than_the_position_closes_only_the_position() -> None:
    result = planned(signal(Intent.EXIT, quantity=D(5)), Book(2))
    assert (entry_of(result.placements[0]).qty, result.position_after) == (2, 0)


def test_plan_with_exit_scaled_by_multiplier() -> None:
    pol = policy(account_multipliers={"DEMO1": D(3)})
    result = planned(signal(Intent.EXIT, quantity=D(1)), Book(9), pol=pol)
    assert result.position_after == 6


def test_plan_with_exit_when_flat_sends_nothing() -> None:
    result = planned(signal(Intent.EXIT), Book(0, (working(5, Side.BUY, 1),)))
    assert (result.commands, result.note) == ((), "no position to exit")


def test_plan_with_exit_naming_the_other_side_sends_nothing() -> None:
    # "exit sell" closes a long; the account is short.
    result = planned(signal(Intent.EXIT, side=SignalSide.SELL), Book(-2))
    assert (result.commands, result.position_after) == ((), -2)


def test_plan_with_limit_exit_rounds_toward_the_position() -> None:
    sig = signal(Intent.EXIT, order_type=SignalOrderType.LIMIT, limit_price=D("20010.10"))
    close = entry_of(planned(sig, Book(1)).placements[0])
    assert (close.order_type, close.price) == (OrderType.LIMIT, D("20010.00"))


def test_plan_with_close_intent_closes_everything_despite_a_quantity() -> None:
    result = planned(signal(Intent.CLOSE, quantity=D(1)), Book(3, bracket_pair(11, Side.SELL, 3)))
    assert (result.legs, result.position_after) == (("cancel.11", "cancel.12", "close"), 0)


def test_plan_with_flat_intent_closes_at_market_even_for_a_priced_alert() -> None:
    sig = signal(Intent.FLAT, order_type=SignalOrderType.LIMIT, limit_price=D(20000))
    book = Book(2, (*bracket_pair(11, Side.SELL, 2), working(20, Side.BUY, 1)))
    result = planned(sig, book)
    assert result.legs == ("cancel.11", "cancel.12", "cancel.20", "close")
    assert entry_of(result.placements[0]).order_type is OrderType.MARKET


def test_plan_with_large_exit_and_order_cap_sends_several_orders() -> None:
    pol = policy(limits=RiskLimits(max_order_qty=4, max_position=20))
    result = planned(signal(Intent.FLAT), Book(-10), pol=pol)
    assert result.legs == ("close.1", "close.2", "close.3")
    assert [entry_of(c).qty for c in result.placements] == [4, 4, 2]
    assert simulate(result) == result.position_after == 0


def test_plan_with_cancel_keeps_the_position_and_its_exits() -> None:
    book = Book(2, (*bracket_pair(11, Side.SELL, 2), working(20, Side.BUY, 1)))
    result = planned(signal(Intent.CANCEL), book)
    assert (result.legs, result.position_after) == (("cancel.20",), 2)
    assert not any(isinstance(c, PlaceOrder) for c in result.commands)


def test_plan_with_cancel_when_flat_cancels_every_working_order() -> None:
    book = Book(0, (working(20, Side.BUY, 1), working(21, Side.SELL, 1)))
    assert planned(signal(Intent.CANCEL), book).legs == ("cancel.20", "cancel.21")


@pytest.mark.parametrize(
    ("action", "held", "after"),
    [
        ("buy", 2, 2),  # a buy with sentiment flat exits a short only: the long stays
        ("buy", -2, 0),
        ("sell", -2, -2),  # a sell with sentiment flat exits a long only: the short stays
        ("sell", 2, 0),
    ],
)
def test_traderspost_sentiment_flat_exits_only_the_side_its_order_closes(
    action: str, held: int, after: int
) -> None:
    body = {"ticker": "NQ1!", "action": action, "sentiment": "flat"}
    sig = parse_alert(json.dumps(body)).signal
    book = Book(held, bracket_pair(11, Side.SELL if held > 0 else Side.BUY, abs(held)))

    result = planned(sig, book)

    assert simulate(result) == after
    if after == held:  # nothing to exit: its working exits are left alone too
        assert result.commands == ()


def test_a_flat_tradingview_strategy_heals_what_the_account_holds_whatever_the_order_side() -> None:
    body = {"intent": "buy", "symbol": "NQ1!", "market_position": "flat",
            "prev_market_position": "short"}  # fmt: skip
    sig = parse_alert(json.dumps(body)).signal
    assert simulate(planned(sig, Book(2))) == 0  # the account is long while the strategy is flat


@pytest.mark.parametrize(
    ("body", "held", "cancelled"),
    [
        # TradersPost's exit with cancel: true cancels every open order, then exits
        ({"action": "exit", "cancel": True}, 2, {5, 11, 12}),
        ({"action": "exit", "cancel": True}, 0, {5}),
        # without it an exit cancels the exits of what it closes, and the entry stays
        ({"action": "exit"}, 2, {11, 12}),
        ({"action": "exit"}, 0, set()),
        # a partial exit keeps the exits that protect what is left (shrunk, not cancelled)
        ({"action": "exit", "cancel": True, "quantity": 1}, 2, set()),
    ],
)
def test_an_exit_with_cancel_first_cancels_the_resting_entries_when_it_leaves_the_account_flat(
    body: dict[str, object], held: int, cancelled: set[int]
) -> None:
    sig = parse_alert(json.dumps({"ticker": "NQ1!", **body})).signal
    orders = (working(5, Side.BUY, 1), *(bracket_pair(11, Side.SELL, 2) if held else ()))

    result = planned(sig, Book(held, orders))

    cancels = {c.order_id for c in result.commands if isinstance(c, CancelOrder)}
    assert cancels == cancelled
    assert simulate(result) == (1 if "quantity" in body and held else 0)
