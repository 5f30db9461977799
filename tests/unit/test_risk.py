from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.errors import OrderDenied
from shared.domain.policy import RiskLimits, RiskState, TradingWindow
from shared.domain.risk import (
    CLOSING_GATES,
    OPENING_GATES,
    Denial,
    DenialCode,
    OrderFlow,
    RiskContext,
    check_closing,
    check_opening,
)
from shared.domain.signal import Intent
from tests.unit.planning.builders import NOW, signal, state

D = Decimal
# 08:30-15:00 Chicago on weekdays; NOW is Tuesday 09:00 Chicago.
REGULAR_HOURS = (TradingWindow(frozenset(range(5)), time(8, 30), time(15)),)
CLOSED_HOURS = (TradingWindow(frozenset(range(5)), time(10), time(15)),)


def _context(
    *,
    limits: RiskLimits | None = None,
    risk: RiskState | None = None,
    flow: OrderFlow | None = None,
    **signal_fields: Any,
) -> RiskContext:
    return RiskContext(
        signal=signal(Intent.BUY, quantity=D(1), **signal_fields),
        limits=limits or RiskLimits(),
        state=risk or state(),
        account_name="DEMO1",
        root="NQ",
        flow=flow or OrderFlow(opens=1, largest_order=1, position_after=1),
    )


def test_check_opening_with_no_limits_and_calm_state_allows() -> None:
    assert check_opening(_context()) is None
    assert check_closing(_context()) is None


DENIALS: list[tuple[str, dict[str, Any], DenialCode]] = [
    ("global kill", {"risk": state(global_kill=True)}, DenialCode.KILL_SWITCH_GLOBAL),
    ("strategy kill", {"risk": state(strategy_kill=True)}, DenialCode.KILL_SWITCH_STRATEGY),
    (
        "configured kill",
        {"limits": RiskLimits(kill_switch=True)},
        DenialCode.KILL_SWITCH_STRATEGY,
    ),
    ("account kill", {"risk": state(account_kill=True)}, DenialCode.KILL_SWITCH_ACCOUNT),
    (
        "symbol not listed",
        {"limits": RiskLimits(allowed_roots=frozenset({"ES", "MES"}))},
        DenialCode.SYMBOL_NOT_ALLOWED,
    ),
    (
        "stale alert",
        {"limits": RiskLimits(max_alert_age_s=30), "tv_time": NOW - timedelta(seconds=31)},
        DenialCode.STALE_ALERT,
    ),
    (
        "outside window",
        {"limits": RiskLimits(trading_windows=CLOSED_HOURS)},
        DenialCode.OUTSIDE_TRADING_WINDOW,
    ),
    (
        "cooldown",
        {
            "limits": RiskLimits(cooldown_s=60),
            "risk": state(last_order_at={("DEMO1", "NQ"): NOW - timedelta(seconds=59)}),
        },
        DenialCode.COOLDOWN,
    ),
    (
        "daily loss reached",
        {
            "limits": RiskLimits(daily_loss_limit=D(500)),
            "risk": state(realized_pnl=D(-400), open_pnl=D(-100)),
        },
        DenialCode.DAILY_LOSS_LIMIT,
    ),
    (
        "order too large",
        {
            "limits": RiskLimits(max_order_qty=2),
            "flow": OrderFlow(opens=3, largest_order=3, position_after=3),
        },
        DenialCode.MAX_ORDER_QTY,
    ),
    (
        "largest order too large",
        {
            "limits": RiskLimits(max_order_qty=2),
            "flow": OrderFlow(opens=1, largest_order=4, position_after=-1),
        },
        DenialCode.MAX_ORDER_QTY,
    ),
    (
        "position too large",
        {
            "limits": RiskLimits(max_position=2),
            "flow": OrderFlow(opens=1, largest_order=1, position_after=-3),
        },
        DenialCode.MAX_POSITION,
    ),
    (
        "resting orders count toward the position",
        {
            "limits": RiskLimits(max_position=3),
            "flow": OrderFlow(opens=1, largest_order=1, position_after=2, resting_same_side=2),
        },
        DenialCode.MAX_POSITION,
    ),
]


@pytest.mark.parametrize(
    ("fields", "code"), [(fields, code) for _, fields, code in DENIALS], ids=[d[0] for d in DENIALS]
)
def test_check_opening_with_each_breached_gate_denies_with_its_code(
    fields: dict[str, Any], code: DenialCode
) -> None:
    denial = check_opening(_context(**fields))
    assert denial is not None
    assert denial.code == code
    assert denial.reason is code
    assert denial.message


@pytest.mark.parametrize(
    ("fields", "code"), [(fields, code) for _, fields, code in DENIALS], ids=[d[0] for d in DENIALS]
)
def test_check_closing_with_each_breached_gate_except_windows_allows(
    fields: dict[str, Any], code: DenialCode
) -> None:
    # exits_outside_windows defaults to True: nothing stops a reducing plan.
    assert check_closing(_context(**fields)) is None


ALLOWED: list[tuple[str, dict[str, Any]]] = [
    ("symbol listed", {"limits": RiskLimits(allowed_roots=frozenset({"NQ"}))}),
    (
        "fresh alert",
        {"limits": RiskLimits(max_alert_age_s=30), "tv_time": NOW - timedelta(seconds=30)},
    ),
    ("alert without time", {"limits": RiskLimits(max_alert_age_s=30)}),
    (
        "alert from the future",
        {"limits": RiskLimits(max_alert_age_s=30), "tv_time": NOW + timedelta(seconds=5)},
    ),
    ("inside window", {"limits": RiskLimits(trading_windows=REGULAR_HOURS)}),
    (
        "cooldown over",
        {
            "limits": RiskLimits(cooldown_s=60),
            "risk": state(last_order_at={("DEMO1", "NQ"): NOW - timedelta(seconds=60)}),
        },
    ),
    (
        "cooldown on another root",
        {
            "limits": RiskLimits(cooldown_s=60),
            "risk": state(last_order_at={("DEMO1", "ES"): NOW}),
        },
    ),
    ("no cooldown configured", {"risk": state(last_order_at={("DEMO1", "NQ"): NOW})}),
    (
        "loss short of the limit",
        {"limits": RiskLimits(daily_loss_limit=D(500)), "risk": state(realized_pnl=D("-499.99"))},
    ),
    (
        "order at the limit",
        {
            "limits": RiskLimits(max_order_qty=3),
            "flow": OrderFlow(opens=3, largest_order=3, position_after=3),
        },
    ),
    (
        "position at the limit",
        {
            "limits": RiskLimits(max_position=3),
            "flow": OrderFlow(opens=1, largest_order=1, position_after=-2, resting_same_side=1),
        },
    ),
]


@pytest.mark.parametrize("fields", [f for _, f in ALLOWED], ids=[a[0] for a in ALLOWED])
def test_check_opening_with_limit_not_breached_allows(fields: dict[str, Any]) -> None:
    assert check_opening(_context(**fields)) is None


def test_check_opening_with_several_breaches_reports_the_first_gate() -> None:
    denial = check_opening(
        _context(
            limits=RiskLimits(max_position=1, kill_switch=True),
            risk=state(global_kill=True, account_kill=True),
        )
    )
    assert denial is not None
    assert denial.code == DenialCode.KILL_SWITCH_GLOBAL


def test_check_closing_outside_window_with_exits_forbidden_denies() -> None:
    limits = RiskLimits(trading_windows=CLOSED_HOURS, exits_outside_windows=False)
    denial = check_closing(_context(limits=limits))
    assert denial is not None
    assert denial.code == DenialCode.OUTSIDE_TRADING_WINDOW
    assert "Tue 09:00 America/Chicago" in denial.message


def test_check_closing_inside_window_with_exits_forbidden_allows() -> None:
    limits = RiskLimits(trading_windows=REGULAR_HOURS, exits_outside_windows=False)
    assert check_closing(_context(limits=limits)) is None


def test_gate_registries_with_every_gate_list_each_once() -> None:
    assert len(OPENING_GATES) == len(set(OPENING_GATES)) == 8
    assert len(CLOSING_GATES) == 1


def test_denial_is_an_order_denied_with_code_and_sentence() -> None:
    denial = Denial(DenialCode.COOLDOWN, "too soon")
    assert isinstance(denial, OrderDenied)
    assert denial.to_dict() == {"code": "cooldown", "message": "too soon"}
    assert repr(denial) == "Denial('cooldown', 'too soon')"
    with pytest.raises(OrderDenied, match="too soon"):
        raise denial


def test_denial_with_same_code_and_message_compares_equal() -> None:
    denial = Denial(DenialCode.COOLDOWN, "too soon")
    assert denial == Denial(DenialCode.COOLDOWN, "too soon")
    assert hash(denial) == hash(Denial(DenialCode.COOLDOWN, "too soon"))
    assert denial != Denial(DenialCode.COOLDOWN, "later")
    assert denial != Denial(DenialCode.MAX_POSITION, "too soon")
    assert denial != "cooldown"


def test_denial_codes_with_every_member_are_unique_snake_case() -> None:
    values = [code.value for code in DenialCode]
    assert len(values) == len(set(values))
    assert all(value == value.lower() and " " not in value for value in values)


@pytest.mark.parametrize("field", ["opens", "largest_order", "resting_same_side"])
def test_order_flow_with_negative_count_raises(field: str) -> None:
    values = {"opens": 0, "largest_order": 0, "position_after": 0, "resting_same_side": 0}
    values[field] = -1
    with pytest.raises(ValueError, match="negative"):
        OrderFlow(**values)
