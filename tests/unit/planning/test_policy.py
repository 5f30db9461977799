from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.domain.policy import RiskLimits, StrategyPolicy, TradingWindow
from shared.domain.signal import BracketLeg, OrderType, TimeInForce
from shared.domain.symbols import parse_symbol
from tests.unit.planning.builders import NOW, points, policy, state

D = Decimal
CHICAGO = ZoneInfo("America/Chicago")
WEEKDAYS = frozenset(range(5))


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    # 2024-11-04 is a Monday; day 0 is Monday.
    return datetime(2024, 11, 4 + day, hour, minute, tzinfo=CHICAGO)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"days": frozenset()}, "weekdays"),
        ({"days": frozenset({7})}, "weekdays"),
        ({"start": time(8, tzinfo=UTC)}, "wall-clock"),
        ({"end": time(8, 30)}, "empty"),
    ],
)
def test_trading_window_with_invalid_fields_raises(fields: dict[str, Any], match: str) -> None:
    values: dict[str, Any] = {"days": WEEKDAYS, "start": time(8, 30), "end": time(15)}
    values.update(fields)
    with pytest.raises(ValueError, match=match):
        TradingWindow(**values)


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (_at(1, 8, 30), True),  # start is inclusive
        (_at(1, 14, 59), True),
        (_at(1, 15), False),  # end is exclusive
        (_at(1, 8, 29), False),
        (_at(5, 10), False),  # Saturday
    ],
)
def test_trading_window_contains_with_day_window_reads_start_inclusive_end_exclusive(
    moment: datetime, inside: bool
) -> None:
    window = TradingWindow(WEEKDAYS, time(8, 30), time(15))
    assert window.contains(moment) is inside


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (_at(6, 18), True),  # Sunday evening: the window started today
        (_at(0, 15), True),  # Monday afternoon: it started yesterday
        (_at(0, 16, 30), False),  # Monday's maintenance break
        (_at(4, 18), False),  # Friday evening: no Friday start
        (_at(5, 10), False),  # Saturday morning: Friday started nothing
    ],
)
def test_trading_window_contains_with_overnight_window_spans_midnight(
    moment: datetime, inside: bool
) -> None:
    # Globex: Sunday to Thursday evenings 17:00, running to 16:00 the next day.
    window = TradingWindow(frozenset({6, 0, 1, 2, 3}), time(17), time(16))
    assert window.contains(moment) is inside


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"max_order_qty": 0}, "max_order_qty"),
        ({"max_position": True}, "max_position"),
        ({"max_alert_age_s": 0}, "max_alert_age_s"),
        ({"cooldown_s": -1}, "cooldown_s"),
        ({"daily_loss_limit": D(0)}, "daily_loss_limit"),
        ({"daily_loss_limit": D("Infinity")}, "daily_loss_limit"),
        ({"allowed_roots": frozenset({"nq"})}, "upper-case"),
        ({"allowed_roots": frozenset({""})}, "upper-case"),
    ],
)
def test_risk_limits_with_invalid_value_raises(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RiskLimits(**fields)


def test_risk_limits_in_trading_window_without_windows_is_always_open() -> None:
    assert RiskLimits().in_trading_window(NOW)
    assert RiskLimits().time_zone.key == "America/Chicago"


def test_risk_limits_in_trading_window_with_utc_moment_reads_the_exchange_zone() -> None:
    limits = RiskLimits(trading_windows=(TradingWindow(WEEKDAYS, time(8, 30), time(15)),))
    # 14:00 UTC is 08:00 in Chicago (CST, UTC-6): before the open; 15:00 UTC is 09:00.
    assert not limits.in_trading_window(NOW - timedelta(hours=1))
    assert limits.in_trading_window(NOW)
    assert limits.in_trading_window(NOW.astimezone(timezone(timedelta(hours=9))))


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"strategy_id": ""}, "strategy_id"),
        ({"default_quantity": D(0)}, "default_quantity"),
        ({"default_quantity": D("1.5")}, "default_quantity"),
        ({"default_order_type": OrderType.STOP}, "market or limit"),
        ({"default_time_in_force": TimeInForce.GTD}, "GTD"),
        ({"bracket_time_in_force": TimeInForce.IOC}, "rest"),
        (
            {
                "default_brackets": (
                    BracketLeg(stop_loss=points(5)),
                    BracketLeg(stop_loss=points(9)),
                )
            },
            "default bracket",
        ),
        ({"account_multipliers": {"A": D(0)}}, "multipliers"),
        ({"account_multipliers": {"A": D("NaN")}}, "multipliers"),
    ],
)
def test_strategy_policy_with_invalid_value_raises(fields: dict[str, Any], match: str) -> None:
    values: dict[str, Any] = {"strategy_id": "trend"}
    values.update(fields)
    with pytest.raises(ValueError, match=match):
        StrategyPolicy(**values)


def test_strategy_policy_multiplier_with_unknown_account_is_one() -> None:
    configured = policy(account_multipliers={"DEMO3": D(3)})
    assert (configured.multiplier("DEMO3"), configured.multiplier("OTHER")) == (D(3), D(1))


def test_strategy_policy_with_mutated_source_mapping_keeps_its_copy() -> None:
    source = {"NQ": "MNQ"}
    configured = policy(symbol_map=source)
    source["NQ"] = "ES"
    assert configured.traded_root("NQ") == "MNQ"


def test_strategy_policy_traded_symbol_with_mapped_root_keeps_the_contract_choice() -> None:
    configured = policy(symbol_map={"NQ": "MNQ"})
    assert configured.traded_symbol(parse_symbol("NQZ4")).canonical == "MNQZ4"
    unmapped = parse_symbol("ES1!")
    assert configured.traded_symbol(unmapped) is unmapped
    assert configured.traded_root("ES") == "ES"


@pytest.mark.parametrize(
    "fields",
    [{"now": datetime(2024, 1, 1)}, {"last_order_at": {("A", "NQ"): datetime(2024, 1, 1)}}],  # noqa: DTZ001
)
def test_risk_state_with_naive_time_raises(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        state(**fields)


def test_risk_state_day_pnl_with_both_figures_adds_realized_and_open() -> None:
    assert state(realized_pnl=D(-300), open_pnl=D(120)).day_pnl == D(-180)


def test_risk_state_since_last_order_with_and_without_history() -> None:
    risk = state(last_order_at={("DEMO1", "NQ"): NOW - timedelta(seconds=42)})
    assert risk.since_last_order("DEMO1", "NQ") == timedelta(seconds=42)
    assert risk.since_last_order("DEMO1", "ES") is None
