"""An alert's own position rules (PickMyTrade's reverse_order_close, pyramid and
same_direction_ignore) decide a buy or sell on an account that holds a position, as its vendor's
table says; where they say nothing the strategy decides, and the rails bound both."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.broker import Side
from shared.domain.planning import Book
from shared.domain.policy import OppositeSignal
from shared.domain.risk import DenialCode
from shared.domain.signal import Intent, PositionRules, Signal
from tests.unit.planning.builders import bracket_pair, denied, planned, policy, signal

D = Decimal
REVERSE = PositionRules(reverse_close=True)
NET = PositionRules(reverse_close=False)


def _sell(rules: PositionRules | None, qty: int = 1) -> Signal:
    return signal(Intent.SELL, quantity=D(qty), position_rules=rules)


def _buy(rules: PositionRules | None, qty: int = 1) -> Signal:
    return signal(Intent.BUY, quantity=D(qty), position_rules=rules)


@pytest.mark.parametrize("strategy", list(OppositeSignal))
def test_against_the_position_reverse_close_reverses_whatever_the_strategy_says(
    strategy: OppositeSignal,
) -> None:
    book = Book(2, bracket_pair(11, Side.SELL, 2))
    result = planned(_sell(REVERSE), book, pol=policy(opposite_signal=strategy))
    assert (result.position_after, result.note) == (-1, "reverse")
    assert {"cancel.11", "cancel.12"} <= set(result.legs)  # the long's brackets go first


@pytest.mark.parametrize(
    ("current", "qty", "after", "cancels_brackets"),
    [
        (2, 1, 1, False),  # nets down: the brackets shrink to what is left
        (1, 1, 0, True),  # nets to flat: nothing left to protect
        (1, 3, -2, True),  # nets through flat to short: the long's brackets must not stay
    ],
)
def test_against_the_position_reverse_close_false_nets(
    current: int, qty: int, after: int, cancels_brackets: bool
) -> None:
    book = Book(current, bracket_pair(11, Side.SELL, current))
    # The strategy would exit only; PickMyTrade's rule nets the order instead.
    result = planned(_sell(NET, qty), book, pol=policy(opposite_signal=OppositeSignal.EXIT_ONLY))
    assert (result.position_after, result.note) == (after, "net against the position")
    assert ("cancel.11" in result.legs) is cancels_brackets


def test_same_side_reverse_close_without_pyramid_closes_and_enters_afresh() -> None:
    book = Book(2, bracket_pair(11, Side.SELL, 2))
    result = planned(_buy(PositionRules(reverse_close=True, pyramid=False)), book)
    assert (result.position_after, result.note) == (1, "close, then enter afresh")
    assert result.legs.index("close") < result.legs.index("entry")


@pytest.mark.parametrize(
    "rules",
    [PositionRules(pyramid=True), PositionRules(reverse_close=True, pyramid=True), NET],
    ids=["pyramid", "reverse_close+pyramid", "reverse_close false"],
)
def test_same_side_adds_where_the_rules_stack_and_the_strategy_allows_adding(
    rules: PositionRules,
) -> None:
    result = planned(_buy(rules), Book(2), pol=policy(allow_add=True))
    assert (result.position_after, result.note) == (3, "add")
    refused = denied(_buy(rules), Book(2), pol=policy(allow_add=False))
    assert refused.code == DenialCode.ADD_NOT_ALLOWED  # the strategy's rail is not the alert's


def test_same_side_ignore_same_direction_refuses_before_anything_adds() -> None:
    rules = PositionRules(reverse_close=True, pyramid=True, ignore_same_direction=True)
    result = denied(_buy(rules), Book(2), pol=policy(allow_add=True))
    assert result.code == DenialCode.SAME_DIRECTION_IGNORED
    # Against the position it does not apply: the reversal goes ahead.
    assert planned(_sell(rules), Book(2)).position_after == -1


@pytest.mark.parametrize(
    ("rules", "current", "intent", "after"),
    [
        (REVERSE, 0, Intent.BUY, 1),  # flat: an entry, whatever the rules
        (PositionRules(pyramid=False), 2, Intent.SELL, 0),  # says nothing here: exit_only
        (NET, 2, Intent.ADD, 3),  # an explicit add adds, as without rules
    ],
)
def test_where_the_rules_say_nothing_the_strategy_decides(
    rules: PositionRules, current: int, intent: Intent, after: int
) -> None:
    sig = signal(intent, quantity=D(1), side=Side.BUY if intent is Intent.ADD else None,
                 position_rules=rules)  # fmt: skip
    assert planned(sig, Book(current)).position_after == after


def test_same_side_pyramid_false_alone_leaves_adding_to_the_strategy() -> None:
    rules = PositionRules(reverse_close=False, pyramid=False)
    assert denied(_buy(rules), Book(2)).code == DenialCode.ADD_NOT_ALLOWED
    assert planned(_buy(rules), Book(2), pol=policy(allow_add=True)).position_after == 3
