"""Plan under risk limits: each denial via the planner, exits that pass, degraded reversals."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.broker import Side
from shared.domain.planning import Book
from shared.domain.policy import OppositeSignal, RiskLimits, TradingWindow
from shared.domain.risk import DenialCode
from shared.domain.signal import Intent, MarketPosition, TargetPosition
from tests.unit.planning.builders import (
    NOW,
    bracket_pair,
    denied,
    entry_of,
    planned,
    policy,
    signal,
    state,
    working,
)

D = Decimal
CLOSED = (TradingWindow(frozenset(range(5)), time(10), time(15)),)
LAST_ORDER = {("DEMO1", "NQ"): NOW - timedelta(seconds=5)}

GATES: list[tuple[str, dict[str, Any], dict[str, Any], DenialCode]] = [
    ("global kill", {}, {"global_kill": True}, DenialCode.KILL_SWITCH_GLOBAL),
    ("strategy kill", {}, {"strategy_kill": True}, DenialCode.KILL_SWITCH_STRATEGY),
    ("account kill", {}, {"account_kill": True}, DenialCode.KILL_SWITCH_ACCOUNT),
    (
        "symbol allowlist",
        {"allowed_roots": frozenset({"ES"})},
        {},
        DenialCode.SYMBOL_NOT_ALLOWED,
    ),
    ("stale alert", {"max_alert_age_s": 60}, {}, DenialCode.STALE_ALERT),
    ("trading window", {"trading_windows": CLOSED}, {}, DenialCode.OUTSIDE_TRADING_WINDOW),
    ("cooldown", {"cooldown_s": 30}, {"last_order_at": LAST_ORDER}, DenialCode.COOLDOWN),
    (
        "daily loss",
        {"daily_loss_limit": D(1000)},
        {"realized_pnl": D(-1200), "open_pnl": D(150)},
        DenialCode.DAILY_LOSS_LIMIT,
    ),
    ("max order qty", {"max_order_qty": 2}, {}, DenialCode.MAX_ORDER_QTY),
    ("max position", {"max_position": 2}, {}, DenialCode.MAX_POSITION),
]
IDS = [gate[0] for gate in GATES]
STALE = NOW - timedelta(seconds=61)


@pytest.mark.parametrize(("limits", "risk", "code"), [g[1:] for g in GATES], ids=IDS)
def test_plan_with_entry_breaching_a_gate_denies_with_its_code(
    limits: dict[str, Any], risk: dict[str, Any], code: DenialCode
) -> None:
    sig = signal(Intent.BUY, quantity=D(3), tv_time=STALE)
    result = denied(sig, pol=policy(limits=RiskLimits(**limits)), risk=state(**risk))
    assert result.code == code


@pytest.mark.parametrize(("limits", "risk", "code"), [g[1:] for g in GATES], ids=IDS)
def test_plan_with_exit_under_a_breached_gate_still_closes(
    limits: dict[str, Any], risk: dict[str, Any], code: DenialCode
) -> None:
    sig = signal(Intent.EXIT, tv_time=STALE)
    # 2 contracts, within every row's max_position: the rails refuse a close larger than that.
    result = planned(sig, Book(2), pol=policy(limits=RiskLimits(**limits)), risk=state(**risk))
    assert result.position_after == 0
    assert result.withheld is None


@pytest.mark.parametrize(("limits", "risk", "code"), [g[1:] for g in GATES], ids=IDS)
def test_plan_with_reversal_under_a_breached_gate_closes_and_withholds_the_entry(
    limits: dict[str, Any], risk: dict[str, Any], code: DenialCode
) -> None:
    book = Book(1, bracket_pair(11, Side.SELL, 1))
    sig = signal(Intent.SELL, target=TargetPosition(MarketPosition.SHORT, D(3)), tv_time=STALE)
    pol = policy(opposite_signal=OppositeSignal.REVERSE, limits=RiskLimits(**limits))
    result = planned(sig, book, pol=pol, risk=state(**risk))
    assert result.legs == ("cancel.11", "cancel.12", "close")
    assert entry_of(result.placements[0]).qty == 1
    assert result.position_after == 0
    assert result.withheld is not None
    assert result.withheld.code == code
    assert result.note == "reverse: closing only"


def test_plan_with_exit_outside_window_and_exits_forbidden_denies() -> None:
    limits = RiskLimits(trading_windows=CLOSED, exits_outside_windows=False)
    result = denied(signal(Intent.EXIT), Book(2), pol=policy(limits=limits))
    assert result.code == DenialCode.OUTSIDE_TRADING_WINDOW


def test_plan_with_reversal_outside_window_and_exits_forbidden_denies_everything() -> None:
    limits = RiskLimits(trading_windows=CLOSED, exits_outside_windows=False)
    pol = policy(opposite_signal=OppositeSignal.REVERSE, limits=limits)
    result = denied(signal(Intent.SELL, quantity=D(1)), Book(2), pol=pol)
    assert result.code == DenialCode.OUTSIDE_TRADING_WINDOW


def test_plan_with_cancel_under_every_gate_still_cancels() -> None:
    limits = RiskLimits(trading_windows=CLOSED, exits_outside_windows=False, kill_switch=True)
    book = Book(0, (working(20, Side.BUY, 1),))
    result = planned(signal(Intent.CANCEL), book, pol=policy(limits=limits))
    assert result.legs == ("cancel.20",)


def test_plan_with_add_beyond_max_position_counting_resting_entries_denies() -> None:
    book = Book(2, (working(20, Side.BUY, 1), working(21, Side.SELL, 2)))
    pol = policy(allow_add=True, limits=RiskLimits(max_position=3))
    assert denied(signal(Intent.BUY, quantity=D(1)), book, pol=pol).code == DenialCode.MAX_POSITION


def test_plan_with_add_after_cancelling_resting_entries_counts_them_as_possibly_filled() -> None:
    # The cancel may land after the entry filled, so the worst case is 2 + 1 + 1.
    book = Book(2, (working(20, Side.BUY, 1),))
    sig = signal(Intent.BUY, quantity=D(1), cancel_first=True)
    pol = policy(allow_add=True, limits=RiskLimits(max_position=3))
    assert denied(sig, book, pol=pol).code == DenialCode.WORST_CASE_POSITION
    pol = policy(allow_add=True, limits=RiskLimits(max_position=4))
    result = planned(sig, book, pol=pol)
    assert (result.legs, result.position_after) == (("cancel.20", "entry"), 3)


def test_plan_with_reduce_of_at_most_max_position_from_above_it_is_allowed() -> None:
    pol = policy(limits=RiskLimits(max_position=2, max_order_qty=1))
    result = planned(
        signal(Intent.BUY, target=TargetPosition(MarketPosition.LONG, D(2))), Book(4), pol=pol
    )
    assert [entry_of(c).qty for c in result.placements] == [1, 1]
    assert result.position_after == 2


def test_plan_with_reduce_larger_than_max_position_denies_signal_size_bound() -> None:
    # No signal trades more than max_position unless it reverses: a book far beyond the limit
    # is more likely a wrong view than a position this strategy opened.
    pol = policy(limits=RiskLimits(max_position=2, max_order_qty=2))
    sig = signal(Intent.BUY, target=TargetPosition(MarketPosition.LONG, D(5)))
    assert denied(sig, Book(9), pol=pol).code == DenialCode.SIGNAL_SIZE_BOUND


def test_plan_with_target_reduce_and_cancel_first_shrinks_instead_of_cancelling() -> None:
    book = Book(3, bracket_pair(11, Side.SELL, 3))
    sig = signal(Intent.SELL, target=TargetPosition(MarketPosition.LONG, D(1)), cancel_first=True)
    assert planned(sig, book).legs == ("trim.11", "trim.12", "close")


def test_plan_with_target_held_and_cancel_first_keeps_the_brackets() -> None:
    book = Book(2, bracket_pair(11, Side.SELL, 2))
    sig = signal(Intent.BUY, target=TargetPosition(MarketPosition.LONG, D(2)), cancel_first=True)
    assert planned(sig, book).commands == ()


def test_plan_with_entry_at_exactly_the_limits_passes() -> None:
    limits = RiskLimits(max_order_qty=3, max_position=3, cooldown_s=5, max_alert_age_s=61)
    sig = signal(Intent.BUY, quantity=D(3), tv_time=STALE)
    result = planned(sig, pol=policy(limits=limits), risk=state(last_order_at=LAST_ORDER))
    assert result.position_after == 3
