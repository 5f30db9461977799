"""Reader edge cases beyond the corpus: each branch's code and field, and a few exact results."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.alerts import MAX_BODY_CHARS, parse_alert
from shared.domain.alerts.fields import extras_of
from shared.domain.alerts.text import clean_fields, field_name
from shared.domain.errors import InvalidSignal
from shared.domain.signal import MarketPosition, OrderType, PriceSpec, PriceUnit, Signal

D = Decimal
NATIVE = {"intent": "buy", "symbol": "NQ1!"}
PMT = {"symbol": "NQ1!", "data": "buy", "quantity": 1}
TP = {"ticker": "NQ1!", "action": "buy"}
CT = "command=PLACE;instrument=NQ1!;action=BUY;qty=1;"


def native(**fields: Any) -> str:
    return json.dumps({**NATIVE, **fields})


def pmt(**fields: Any) -> str:
    return json.dumps({**PMT, **fields})


def tp(**fields: Any) -> str:
    return json.dumps({**TP, **fields})


def signal_of(raw: str) -> Signal:
    return parse_alert(raw).signal


REFUSALS = [
    # coercion
    ("whole_number_expected", native(intent="sell", limit_price=1, time_in_force="gtd",
                                     expires_after_s="1.5"), "invalid_number", "expires_after_s"),
    ("boolean_is_not_a_number", native(quantity=True), "invalid_number", "quantity"),
    ("number_far_out_of_range", native(quantity="1e30"), "number_out_of_range", "quantity"),
    ("text_too_long", native(strategy="s" * 201), "invalid_text", "strategy"),
    ("text_of_wrong_type", native(strategy=["a"]), "invalid_text", "strategy"),
    ("time_before_epoch_era", native(time="1900-01-01T00:00:00Z"), "implausible_time", "time"),
    ("negative_epoch_time", native(time=-5), "implausible_time", "time"),
    ("choice_of_wrong_type", native(side=5), "invalid_choice", "side"),
    ("boolean_out_of_range", native(flatten_first=2), "invalid_boolean", "flatten_first"),
    ("boolean_of_wrong_type", native(flatten_first=[]), "invalid_boolean", "flatten_first"),
    # levels
    ("level_that_is_not_a_level", native(take_profit="soon"), "invalid_level", "take_profit"),
    ("dollar_sign_with_unit", native(take_profit="$20 ticks"), "invalid_level", "take_profit"),
    ("signed_plain_price", native(take_profit="-5300"), "invalid_level", "take_profit"),
    ("negative_distance", native(take_profit="-20 ticks"), "invalid_level", "take_profit"),
    ("level_object_two_units", native(take_profit={"ticks": 4, "points": 1}), "invalid_level",
     "take_profit"),
    ("level_percent_too_big", native(take_profit={"percent": 150}), "invalid_percent",
     "take_profit"),
    ("positions_of_wrong_type", native(required_positions=5), "invalid_choice",
     "required_positions"),
    # native
    ("native_version_two", native(version=2), "unsupported_version", "version"),
    ("native_extras_not_object", native(extras="x"), "invalid_extras", "extras"),
    ("native_brackets_and_single_leg", native(brackets=[{"take_profit": 5}], stop_loss=4),
     "conflicting_fields", "brackets"),
    ("native_brackets_empty", native(brackets=[]), "invalid_brackets", "brackets"),
    ("native_brackets_not_list", native(brackets={"take_profit": 5}), "invalid_brackets",
     "brackets"),
    ("native_leg_not_object", native(brackets=[5]), "invalid_brackets", "brackets[0]"),
    ("native_leg_unknown_field", native(brackets=[{"take_profitt": 5}]), "unknown_field",
     "brackets[0].take_profitt"),
    ("native_trailing_unknown_field", native(trailing_stop={"distance": {"ticks": 4}, "x": 1}),
     "unknown_field", "trailing_stop.x"),
    ("native_missing_intent_value", native(intent=""), "missing_field", "intent"),
    ("native_missing_symbol", json.dumps({"intent": "buy"}), "missing_field", "symbol"),
    # native text
    ("text_key_too_deep", "intent=buy\nsymbol=NQ1!\na.b.c.d=1", "unknown_field", "a.b.c.d"),
    ("text_plain_then_dotted", "intent=buy\nsymbol=NQ1!\ntake_profit=5300\ntake_profit.ticks=4",
     "conflicting_fields", "take_profit.ticks"),
    ("text_dotted_then_plain", "intent=buy\nsymbol=NQ1!\ntake_profit.ticks=4\ntake_profit=5300",
     "duplicate_field", "take_profit"),
    ("text_alias_and_name", "intent=buy\naction=buy\nsymbol=NQ1!", "duplicate_field", "action"),
    ("text_repeated_key", "intent=buy\nINTENT=sell\nsymbol=NQ1!", "duplicate_field", "intent"),
    ("text_empty_key", "intent=buy\n=x\nsymbol=NQ1!", "malformed_text", None),
    ("text_too_many_pairs", "\n".join(f"k{i}=v" for i in range(101)), "body_too_large", None),
    # PickMyTrade
    ("pmt_advance_and_top_level", pmt(tp=18300, advance_tp_sl=[{"quantity": 1, "tp": 18300}]),
     "conflicting_fields", "advance_tp_sl"),
    ("pmt_advance_not_list", pmt(advance_tp_sl={"tp": 1}), "invalid_brackets", "advance_tp_sl"),
    ("pmt_advance_leg_not_object", pmt(advance_tp_sl=[1]), "invalid_brackets",
     "advance_tp_sl[0]"),
    ("pmt_advance_leg_unknown", pmt(advance_tp_sl=[{"target": 1}]), "unknown_field",
     "advance_tp_sl[0].target"),
    ("pmt_two_take_profit_units", pmt(tp=18300, dollar_tp=100), "conflicting_fields",
     "dollar_tp"),
    ("pmt_trail_without_distance", pmt(trail=1), "missing_trail", "trail_stop"),
    ("pmt_missing_action", json.dumps({"symbol": "NQ1!", "data": ""}), "missing_field", "data"),
    ("pmt_update_tp", pmt(update_tp=True), "unsupported_field", "update_tp"),
    # TradersPost
    ("tp_time_in_force_opg", tp(timeInForce="opg"), "unsupported_value", "timeInForce"),
    ("tp_trail_amount_and_percent", tp(orderType="trailing_stop", trailAmount=1, trailPercent=1),
     "conflicting_fields", "trailAmount"),
    ("tp_take_profit_not_object", tp(takeProfit=5), "invalid_level", "takeProfit"),
    ("tp_trailing_stop_without_trail", tp(stopLoss={"type": "trailing_stop"}), "missing_trail",
     "stopLoss.trailAmount"),
    ("tp_stop_limit_without_limit", tp(stopLoss={"type": "stop_limit", "amount": 5}),
     "invalid_level", "stopLoss.limitPrice"),
    ("tp_limit_price_on_plain_stop", tp(stopLoss={"amount": 5, "limitPrice": 1}),
     "invalid_level", "stopLoss.limitPrice"),
    ("tp_unknown_stop_type", tp(stopLoss={"type": "oco", "amount": 5}), "invalid_choice",
     "stopLoss.type"),
    # CrossTrade
    ("ct_mit_order", CT + "order_type=MIT;", "unsupported_value", "order_type"),
    ("ct_stop_limit_without_stop", CT + "stop_loss_limit=5;", "stop_limit_without_stop",
     "stop_loss_limit"),
    ("ct_stop_loss_wrong_sign_on_sell", CT.replace("BUY", "SELL") + "stop_loss=-5 ticks;",
     "bracket_wrong_side", "stop_loss"),
    # CrossTrade: no sign is positive, above the price; a buy's stop needs the minus sign.
    ("ct_unsigned_stop_loss_on_buy", CT + "stop_loss=20 ticks;", "bracket_wrong_side",
     "stop_loss"),
    ("ct_unsigned_take_profit_on_sell", CT.replace("BUY", "SELL") + "take_profit=2%;",
     "bracket_wrong_side", "take_profit"),
    ("ct_unsigned_stop_on_buy_stop_limit",
     CT + "stop_loss_limit=-12 ticks;stop_loss_stop=10 ticks;",
     "bracket_wrong_side", "stop_loss"),
    ("ct_unknown_command", "command=LAUNCH;instrument=NQ1!;", "invalid_choice", "command"),
    # seeds
    ("simple_empty_side", json.dumps({"symbol": "NQ1!", "side": ""}), "missing_field", "side"),
    ("webhook_unknown_action", json.dumps({"webhook_type": "x", "action": "moon",
                                           "symbol": "NQ1!"}), "invalid_choice", "action"),
    ("webhook_missing_action", json.dumps({"webhook_type": "x", "symbol": "NQ1!"}),
     "missing_field", "action"),
    # envelope
    ("secret_of_wrong_type", native(secret=["a"]), "invalid_secret", "secret"),
    ("json_infinity", '{"intent": "buy", "symbol": "NQ1!", "quantity": Infinity}',
     "invalid_number", None),
    ("json_nested_beyond_recursion", "[" * 20_000 + "]" * 20_000, "too_deep", None),
    ("json_invalid_without_placeholder", "{'single': 'quotes'}", "malformed_json", None),
    ("json_bare_placeholder", "{{strategy.order.alert_message}}", "unsubstituted_placeholder",
     None),
    ("text_placeholder_key", "command=PLACE;{{x}}=1", "unsubstituted_placeholder", "{{x}}"),
    ("placeholder_in_list", native(accounts=["A", "{{account}}"]), "unsubstituted_placeholder",
     "accounts[1]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "code", "field"), [case[1:] for case in REFUSALS], ids=[case[0] for case in REFUSALS]
)
def test_parse_alert_with_edge_case_raises_code_and_field(
    raw: str, code: str, field: str | None
) -> None:
    with pytest.raises(InvalidSignal) as info:
        parse_alert(raw)
    assert (info.value.code, info.value.field) == (code, field)


def test_parse_alert_with_oversized_body_raises_body_too_large() -> None:
    raw = native(extras={"pad": "x" * MAX_BODY_CHARS})
    with pytest.raises(InvalidSignal) as info:
        parse_alert(raw)
    assert info.value.code == "body_too_large"


def test_parse_alert_with_byte_order_mark_reads_the_json() -> None:
    assert parse_alert("\ufeff" + native()).format == "native"


def test_parsed_alert_extras_with_unknown_fields_returns_a_copy() -> None:
    parsed = parse_alert(tp(interval="5", password="test-not-kept"))
    extras = parsed.extras
    extras["interval"] = "changed"
    assert parsed.extras == {"interval": "5"}


def test_coercion_with_string_forms_reads_numbers_booleans_and_times() -> None:
    signal = signal_of(
        native(
            quantity="1",
            flatten_first="yes",
            cancel_first=1,
            time="2025-01-02T10:00:00",
            bar_time=1717335900,
            alert_id=12345,
            signal_price="1,250.50",
        )
    )
    assert signal.quantity == D(1)
    assert signal.flatten_first is True
    assert signal.cancel_first is True
    assert signal.tv_time == datetime(2025, 1, 2, 10, tzinfo=UTC)
    assert signal.bar_time == datetime(2024, 6, 2, 13, 45, tzinfo=UTC)
    assert signal.alert_id == "12345"
    assert signal.signal_price == D("1250.50")


def test_native_with_decimal_comma_refuses_the_number() -> None:
    with pytest.raises(InvalidSignal) as info:
        parse_alert(native(signal_price="1,5"))
    assert info.value.code == "invalid_number"


def test_native_with_plain_trailing_and_breakeven_levels_reads_them() -> None:
    leg = signal_of(native(trailing_stop="12 ticks", breakeven="8 points")).brackets[0]
    assert leg.trailing_stop is not None
    assert leg.trailing_stop.distance == PriceSpec(D(12), PriceUnit.TICKS)
    assert leg.breakeven is not None
    assert leg.breakeven.trigger == PriceSpec(D(8), PriceUnit.POINTS)


def test_native_with_levels_in_text_reads_each_unit() -> None:
    legs = signal_of(
        native(
            quantity=4,
            brackets=[
                {"quantity": 1, "take_profit": "8 pts", "stop_loss": "$150"},
                {"quantity": 1, "take_profit": "1.25%", "stop_loss": "10 t"},
                {"quantity": 1, "take_profit": "+3 points", "stop_loss": "40 usd"},
                {"quantity": 1, "take_profit": {"PRICE": 19000}},
            ],
        )
    ).brackets
    assert [(leg.take_profit, leg.stop_loss) for leg in legs] == [
        (PriceSpec(D(8), PriceUnit.POINTS), PriceSpec(D(150), PriceUnit.DOLLARS)),
        (PriceSpec(D("1.25"), PriceUnit.PERCENT), PriceSpec(D(10), PriceUnit.TICKS)),
        (PriceSpec(D(3), PriceUnit.POINTS), PriceSpec(D(40), PriceUnit.DOLLARS)),
        (PriceSpec(D(19000), PriceUnit.PRICE), None),
    ]


def test_native_with_zero_size_and_no_position_reads_flat_target() -> None:
    target = signal_of(native(intent="sell", position_size="0")).target
    assert target is not None
    assert target.market_position is MarketPosition.FLAT


def test_native_with_single_account_value_reads_one_selector() -> None:
    accounts = signal_of(native(accounts=12345)).accounts
    assert [a.account for a in accounts] == ["12345"]
    objects = signal_of(native(accounts=[{"account_id": "A1"}])).accounts
    assert objects[0].quantity_multiplier is None


def test_pickmytrade_with_stop_order_uses_price_as_stop() -> None:
    signal = signal_of(pmt(order_type="STP", price=18300))
    assert signal.order_type is OrderType.STOP
    assert signal.stop_price == D(18300)
    assert signal.limit_price is None


def test_pickmytrade_with_trail_flag_off_ignores_distance() -> None:
    assert signal_of(pmt(trail="false", trail_stop=10)).brackets == ()


def test_pickmytrade_with_zero_quantity_leg_leaves_it_unsized() -> None:
    legs = signal_of(pmt(advance_tp_sl=[{"quantity": 0, "tp": 0}, {"quantity": 1, "sl": 18000}]))
    assert len(legs.brackets) == 1
    assert legs.brackets[0].quantity == D(1)


def test_traderspost_with_take_profit_only_builds_one_leg() -> None:
    legs = signal_of(tp(takeProfit={"percent": "2"})).brackets
    assert legs[0].take_profit == PriceSpec(D(2), PriceUnit.PERCENT)
    assert legs[0].stop_loss is None


def test_crosstrade_with_stop_limit_stop_loss_reads_both_levels() -> None:
    leg = signal_of(CT + "stop_loss=-10 ticks;stop_loss_limit=-12 ticks;").brackets[0]
    assert leg.stop_loss == PriceSpec(D(10), PriceUnit.TICKS)
    assert leg.stop_limit == PriceSpec(D(12), PriceUnit.TICKS)


def test_crosstrade_with_plain_trail_offset_reads_points() -> None:
    signal = signal_of(CT + "order_type=TRAILINGSTOP;trail_offset=4;")
    assert signal.trail == PriceSpec(D(4), PriceUnit.POINTS)


def test_crosstrade_with_comments_and_blank_segments_ignores_them() -> None:
    signal = signal_of("# entry\n;;command=PLACE; instrument=NQ1!;\n// long\naction=BUY;")
    assert signal.symbol.canonical == "NQ1!"


def test_parse_alert_with_numeric_secret_reads_it_as_text() -> None:
    assert parse_alert(native(token=12345)).secret == "12345"


def test_parse_alert_with_same_secret_twice_accepts_it() -> None:
    assert parse_alert(native(secret="s-1", passphrase="s-1")).secret == "s-1"


def test_extras_of_with_non_json_values_keeps_text_and_drops_credentials() -> None:
    extras = extras_of({"count": 3, "nested": {"api_key": "x", "ok": [True, None]}, "Token": "t"})
    assert extras["count"] == "3"
    nested = extras["nested"]
    assert isinstance(nested, Mapping)
    assert dict(nested) == {"ok": (True, None)}
    assert "Token" not in extras


def test_field_name_with_empty_path_names_body() -> None:
    assert field_name(()) == "body"
    assert field_name(("brackets", 0, "stop_loss")) == "brackets[0].stop_loss"


def test_clean_fields_with_safe_nested_values_returns_them_unchanged() -> None:
    data = {"a": [1, {"b": "x"}], "c": "{{not closed"}
    assert clean_fields(data) == data


def test_extras_of_with_credential_like_names_drops_only_those() -> None:
    kept = extras_of(
        {"author": "me", "auth": "x", "authorization": "x", "auth_code": "x", "monkey": "ok"}
    )
    assert set(kept) == {"author", "monkey"}


def test_parse_alert_with_empty_secret_reads_no_secret() -> None:
    parsed = parse_alert(native(secret="  "))
    assert parsed.secret is None
    assert "secret" not in parsed.extras


@pytest.mark.parametrize(
    ("side", "levels"),
    [
        ("BUY", "take_profit=40 ticks;stop_loss=-20 ticks;"),
        ("BUY", "take_profit=+1.5%;stop_loss=-8 points;"),
        ("SELL", "take_profit=-40 ticks;stop_loss=20 ticks;"),
        ("SELL", "take_profit=-1.5%;stop_loss=+8 points;"),
        ("BUY", "take_profit=21100;stop_loss=21050;"),  # prices: held to the entry when planned
    ],
)
def test_crosstrade_levels_signed_as_crosstrade_documents_them_build_a_leg(
    side: str, levels: str
) -> None:
    (leg,) = signal_of(CT.replace("BUY", side) + levels).brackets
    assert leg.take_profit is not None
    assert leg.stop_loss is not None
