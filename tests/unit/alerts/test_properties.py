"""Property tests: readers fail only with InvalidSignal, and never produce floats."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.alerts import parse_alert
from shared.domain.alerts.codec import signal_from_json, signal_to_json
from shared.domain.alerts.coerce import to_decimal
from shared.domain.errors import InvalidSignal

# Field names the readers know, so generated objects reach deep into every reader.
KNOWN_KEYS = [
    "intent", "symbol", "exchange", "side", "quantity", "quantity_unit", "order_type",
    "limit_price", "stop_price", "trail", "time_in_force", "expires_after_s", "signal_price",
    "price", "take_profit", "stop_loss", "stop_limit", "trailing_stop", "breakeven", "brackets",
    "market_position", "position_size", "prev_market_position", "required_positions",
    "flatten_first", "cancel_first", "accounts", "time", "bar_time", "alert_id", "extras",
    "ticker", "action", "sentiment", "quantityType", "orderType", "limitPrice", "stopPrice",
    "trailAmount", "trailPercent", "signalPrice", "takeProfit", "stopLoss", "timeInForce",
    "cancel", "data", "tp", "sl", "percentage_tp", "dollar_sl", "trail_stop", "trail_trigger",
    "breakeven_offset", "advance_tp_sl", "multiple_accounts", "account_id", "gtd_in_second",
    "stp_limit_stp_price", "risk_percentage", "update_tp", "webhook_type", "secret", "token",
    "distance", "trigger", "ticks", "points", "percent", "dollars", "type", "amount",
    "reverse_order_close", "pyramid", "same_direction_ignore", "ignoreTradingWindows",
]  # fmt: skip
WORDS = [
    "buy", "sell", "exit", "close", "flat", "cancel", "reverse", "add", "long", "short", "NQ1!",
    "ES1!", "NQZ4", "MNQ 06-25", "limit", "stop", "stop_limit", "trailing_stop", "market", "MKT",
    "LMT", "STPLMT", "gtc", "day", "gtd", "1", "0", "-1", "2.5", "5300.25", "true", "false",
    "25 ticks", "-10 ticks", "1.5%", "$200", "2025-03-14T14:30:05Z", "{{ticker}}", "",
    "flat/short", "entry", "bullish", "stop_limit",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from(WORDS),
    st.text(max_size=12),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=25,
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_no_floats(value: Any) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            _assert_no_floats(getattr(value, item.name))
    elif isinstance(value, dict) or hasattr(value, "items"):
        for item in value.values():
            _assert_no_floats(item)
    elif isinstance(value, tuple | list):
        for item in value:
            _assert_no_floats(item)
    else:
        assert not isinstance(value, float)


def _parse_or_invalid(text: str) -> None:
    error: InvalidSignal | None = None
    try:
        parsed = parse_alert(text)
    except InvalidSignal as exc:
        error = exc
    else:
        _assert_no_floats(parsed.signal)
        assert signal_from_json(signal_to_json(parsed.signal)) == parsed.signal
        return
    assert error.code.replace("_", "").isalpha()
    assert error.message


@FAST
@given(st.text(max_size=300))
def test_parse_alert_with_arbitrary_text_raises_only_invalid_signal(text: str) -> None:
    _parse_or_invalid(text)


@FAST
@given(st.dictionaries(keys, json_values, max_size=10))
def test_parse_alert_with_arbitrary_json_object_raises_only_invalid_signal(
    data: dict[str, Any],
) -> None:
    _parse_or_invalid(json.dumps(data))


@FAST
@given(json_values)
def test_parse_alert_with_arbitrary_json_value_raises_only_invalid_signal(value: Any) -> None:
    _parse_or_invalid(json.dumps(value))


@FAST
@given(
    st.lists(st.tuples(keys, st.one_of(st.sampled_from(WORDS), st.text(max_size=10))), max_size=8),
    st.sampled_from([";", "\n", ";\n", "\r\n"]),
)
def test_parse_alert_with_arbitrary_pairs_raises_only_invalid_signal(
    pairs: list[tuple[str, str]], separator: str
) -> None:
    _parse_or_invalid(separator.join(f"{k}={v}" for k, v in pairs))


@FAST
@given(
    st.fixed_dictionaries(
        {"intent": st.sampled_from(WORDS), "symbol": st.sampled_from(WORDS)},
        optional={key: json_values for key in KNOWN_KEYS[2:31]},
    )
)
def test_parse_alert_with_native_shaped_object_raises_only_invalid_signal(
    data: dict[str, Any],
) -> None:
    _parse_or_invalid(json.dumps(data))


@FAST
@given(
    st.one_of(
        st.text(max_size=30),
        st.integers(),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.none(),
        st.floats(),
    )
)
def test_to_decimal_with_any_value_returns_decimal_or_raises_invalid_signal(value: Any) -> None:
    field: str | None = "none"
    try:
        result = to_decimal(value, "quantity")
    except InvalidSignal as exc:
        field = exc.field
    else:
        assert type(result) is Decimal
        assert result.is_finite()
        return
    assert field == "quantity"
