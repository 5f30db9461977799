"""Wire ↔ domain conversions against recorded-shape payloads, and exact outbound bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.adapters.tradovate import encode, parse
from shared.adapters.tradovate import schemas as w
from shared.adapters.tradovate.frames import DataFrame, Event, parse_frame
from shared.domain.broker import (
    BracketLeg,
    BracketOrderRequest,
    ChangeKind,
    ModifyOrderRequest,
    OcoOrderRequest,
    OrderCommand,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderVersion,
    Side,
    TimeInForce,
)
from shared.domain.errors import BrokerRejected
from tests.adapters.tradovate.helpers import fixture


def _entry(**overrides: object) -> OrderRequest:
    values: dict[str, object] = {
        "account_id": 10001,
        "symbol": "NQZ4",
        "side": Side.BUY,
        "qty": 2,
        "order_type": OrderType.MARKET,
        "cl_ord_id": "tb-sig42-acct10001-entry",
    }
    values.update(overrides)
    return OrderRequest(**values)  # type: ignore[arg-type]


def test_product_with_nq_fixture_keeps_tick_and_point_value_as_decimals() -> None:
    product = parse.product(parse.validate(w.BrokerProduct, fixture("product_find_nq.json")))
    assert product.tick_size == Decimal("0.25")
    assert product.value_per_point == Decimal(20)
    assert product.tick_value == Decimal("5.00")
    assert product.months == "HMUZ"


def test_maturity_with_minute_precision_date_parses_to_aware_utc() -> None:
    maturity = parse.maturity(
        parse.validate(w.BrokerContractMaturity, fixture("contract_maturity_item.json"))
    )
    # Tradovate stamps equity-index expiries 16:29 US/Central (DOCS24 deps.md examples).
    assert maturity.expiration_date == datetime(2024, 12, 20, 22, 29, tzinfo=UTC)
    assert maturity.expiration_month == 202412
    assert maturity.first_intent_date is None


def test_position_with_flat_entry_has_no_net_price() -> None:
    models = parse.validate_list(w.BrokerPosition, fixture("position_deps.json"))
    long, flat = (parse.position(m) for m in models)
    assert (long.net_pos, long.net_price) == (2, Decimal("20875.25"))
    assert flat.is_flat
    assert flat.net_price is None


def test_orders_with_bracket_children_keep_parent_and_oco_links() -> None:
    orders = [
        parse.order(m) for m in parse.validate_list(w.BrokerOrder, fixture("order_deps.json"))
    ]
    assert [o.status for o in orders] == [
        OrderStatus.FILLED,
        OrderStatus.WORKING,
        OrderStatus.WORKING,
    ]
    assert orders[1].parent_id == 7001
    assert orders[1].oco_id == 7003
    assert orders[1].side is Side.SELL
    assert orders[1].status.is_open
    assert not orders[0].status.is_open


def test_cash_snapshot_with_fixture_gives_day_pnl_from_realized_and_open() -> None:
    model = parse.validate(w.BrokerCashBalanceSnapshot, fixture("cash_balance_snapshot.json"))
    snapshot = parse.cash_balance_snapshot(10001, model)
    assert snapshot.day_pnl == Decimal("125.5")
    assert snapshot.net_liq == Decimal("50210.5")


def test_cash_snapshot_with_omitted_fields_reads_them_as_zero() -> None:
    snapshot = parse.cash_balance_snapshot(1, parse.validate(w.BrokerCashBalanceSnapshot, {}))
    assert snapshot.open_pnl == Decimal(0)
    assert snapshot.realized_pnl == Decimal(0)


def test_order_ack_with_oso_result_lists_both_bracket_ids() -> None:
    ack = parse.order_ack(parse.validate(w.BrokerPlaceOsoResult, fixture("place_oso_ok.json")), "c")
    assert (ack.order_id, ack.bracket_order_ids, ack.recovered) == (7001, (7002, 7003), False)


def test_order_ack_with_no_order_id_raises_broker_rejected() -> None:
    with pytest.raises(BrokerRejected) as info:
        parse.order_ack(parse.validate(w.BrokerPlaceOrderResult, {}), "c")
    assert info.value.code == "broker_no_order_id"


def test_validate_with_wrong_shape_raises_bad_payload() -> None:
    with pytest.raises(BrokerRejected) as info:
        parse.validate(w.BrokerOrder, {"id": "not-a-number"})
    assert info.value.code == "broker_bad_payload"


def test_validate_list_with_object_raises_bad_payload() -> None:
    with pytest.raises(BrokerRejected):
        parse.validate_list(w.BrokerOrder, {"id": 1})


def test_sync_snapshot_with_fixture_converts_tracked_types_and_counts_the_rest() -> None:
    snapshot = parse.sync_snapshot(fixture("sync_response.json"))
    assert [a.id for a in snapshot.accounts] == [10001]
    assert snapshot.positions[0].net_pos == 2
    assert snapshot.commands[0].cl_ord_id == "tb-sig42-acct10001-tp"
    assert snapshot.fills[0].price == Decimal("20875.25")
    assert snapshot.cash_balances[0].realized_pnl == Decimal("40.5")
    assert snapshot.extra_counts["products"] == 1
    assert snapshot.extra_counts["users"] == 1


def test_entity_changes_with_two_props_in_one_frame_returns_both_in_order() -> None:
    frame = parse_frame(fixture("props_frame.txt"))
    assert isinstance(frame, DataFrame)
    changes = []
    for message in frame.messages:
        assert isinstance(message, Event)
        changes.extend(parse.entity_changes(message.data))
    assert [c.entity_type for c in changes] == ["command", "orderVersion"]
    assert all(c.kind is ChangeKind.CREATED for c in changes)
    assert isinstance(changes[0].entity, OrderCommand)
    assert isinstance(changes[1].entity, OrderVersion)
    assert changes[1].entity.price == Decimal("20910.25")


def test_entity_changes_with_list_entity_and_unknown_type_keeps_ids_only() -> None:
    data = {
        "entityType": "marginSnapshot",
        "eventType": "Updated",
        "entity": [{"id": 1}, {"id": 2}],
    }
    changes = parse.entity_changes(data)
    assert [(c.entity_id, c.entity) for c in changes] == [(1, None), (2, None)]
    assert changes[0].kind is ChangeKind.UPDATED


def test_entity_changes_with_unknown_event_type_raises() -> None:
    with pytest.raises(BrokerRejected):
        parse.entity_changes({"entityType": "order", "eventType": "Exploded", "entity": {"id": 1}})


def test_quotes_with_full_entries_maps_bid_offer_trade_and_volume() -> None:
    (quote,) = parse.quotes(fixture("md_quote_event.json"))
    assert quote.contract_id == 3570918
    assert (quote.bid, quote.bid_size) == (Decimal("20880.25"), 12)
    assert (quote.ask, quote.ask_size) == (Decimal("20880.5"), 9)
    assert quote.last == Decimal("20880.5")
    assert quote.volume == 412331


def test_quotes_with_missing_entries_leave_them_none() -> None:
    (quote,) = parse.quotes({"quotes": [{"contractId": 5, "entries": {"Bid": {"size": 3}}}]})
    assert quote.bid is None
    assert quote.bid_size == 3
    assert quote.ask is None
    assert quote.last is None


def test_shutdown_with_reason_code_converts() -> None:
    notice = parse.shutdown({"reasonCode": "Maintenance", "reason": "weekly"})
    assert (notice.reason_code, notice.reason) == ("Maintenance", "weekly")


# --- outbound ------------------------------------------------------------------------------


def test_place_order_with_market_request_sends_exact_body_with_is_automated() -> None:
    assert encode.place_order(_entry()) == {
        "accountId": 10001,
        "clOrdId": "tb-sig42-acct10001-entry",
        "action": "Buy",
        "symbol": "NQZ4",
        "orderQty": 2,
        "orderType": "Market",
        "isAutomated": True,
    }


def test_place_order_with_stop_limit_gtd_sends_numbers_and_utc_expiry() -> None:
    body = encode.place_order(
        _entry(
            side=Side.SELL,
            order_type=OrderType.STOP_LIMIT,
            price=Decimal("20850.25"),
            stop_price=Decimal("20851"),
            time_in_force=TimeInForce.GTD,
            expire_time=datetime(2024, 11, 4, 21, 0, tzinfo=UTC),
            account_name="DEMO10001",
            text="sig42",
        )
    )
    assert body["price"] == 20850.25
    assert isinstance(body["price"], float)
    assert body["stopPrice"] == 20851
    assert isinstance(body["stopPrice"], int)
    assert body["orderType"] == "StopLimit"
    assert body["action"] == "Sell"
    assert body["timeInForce"] == "GTD"
    assert body["expireTime"] == "2024-11-04T21:00:00Z"
    assert body["accountSpec"] == "DEMO10001"


def test_place_order_with_trailing_stop_sends_correct_spelling_and_peg_difference() -> None:
    body = encode.place_order(
        _entry(side=Side.SELL, order_type=OrderType.TRAILING_STOP, trail=Decimal("10"))
    )
    assert body["orderType"] == "TrailingStop"
    assert body["pegDifference"] == -10  # a sell stop trails below the market (FIX tag 211)


@pytest.mark.parametrize(
    ("style", "side", "stop", "expected"),
    [
        (encode.PegStyle.SIGNED, Side.SELL, Decimal("20990"), Decimal("-10")),
        (encode.PegStyle.SIGNED, Side.BUY, Decimal("21010"), Decimal("10")),
        (encode.PegStyle.UNSIGNED, Side.SELL, Decimal("20990"), Decimal("10")),
        (encode.PegStyle.OMIT, Side.SELL, Decimal("20990"), None),
        (encode.PegStyle.OMIT, Side.SELL, None, Decimal("-10")),  # nothing else carries it
    ],
)
def test_trailing_stop_with_each_peg_style_sends_stop_price_and_styled_peg_difference(
    style: encode.PegStyle, side: Side, stop: Decimal | None, expected: Decimal | None
) -> None:
    req = _entry(side=side, order_type=OrderType.TRAILING_STOP, stop_price=stop, trail=Decimal(10))
    body = encode.place_order(req, style)
    assert body.get("pegDifference") == expected
    assert body.get("stopPrice") == stop
    leg = BracketLeg(side, OrderType.TRAILING_STOP, stop_price=stop, trail=Decimal(10))
    oso = encode.place_oso(BracketOrderRequest(_entry(side=side.opposite), (leg,)), style)
    assert oso["bracket1"].get("pegDifference") == expected


def test_modify_trailing_stop_with_side_signs_peg_difference_and_without_side_refuses() -> None:
    modify = ModifyOrderRequest(
        7, 1, OrderType.TRAILING_STOP, stop_price=Decimal("20990"), trail=Decimal("2.5")
    )
    assert encode.modify_order(modify, Side.SELL)["pegDifference"] == -2.5
    assert encode.modify_order(modify, Side.BUY)["pegDifference"] == 2.5
    assert encode.modify_order(modify, None, encode.PegStyle.UNSIGNED)["pegDifference"] == 2.5
    assert "pegDifference" not in encode.modify_order(modify, None, encode.PegStyle.OMIT)
    with pytest.raises(ValueError, match="side"):
        encode.modify_order(modify)


def test_order_version_with_negative_peg_difference_reads_a_positive_trail() -> None:
    version = parse.order_version(
        parse.validate(
            w.BrokerOrderVersion,
            {
                "id": 5,
                "orderId": 4,
                "orderQty": 1,
                "orderType": "TrailingStop",
                "stopPrice": 20990,
                "pegDifference": -10,
            },
        )
    )
    assert version.trail == Decimal(10)
    assert version.order_type is OrderType.TRAILING_STOP


def test_place_oso_with_two_legs_sends_bracket1_and_bracket2_without_quantity() -> None:
    req = BracketOrderRequest(
        entry=_entry(),
        legs=(
            BracketLeg(Side.SELL, OrderType.LIMIT, price=Decimal("20905.5"), cl_ord_id="tp"),
            BracketLeg(Side.SELL, OrderType.STOP, stop_price=Decimal("20845.75")),
        ),
    )
    body = encode.place_oso(req)
    assert body["bracket1"] == {
        "action": "Sell",
        "orderType": "Limit",
        "clOrdId": "tp",
        "price": 20905.5,
    }
    assert body["bracket2"] == {"action": "Sell", "orderType": "Stop", "stopPrice": 20845.75}
    assert body["isAutomated"] is True


def test_place_oco_with_other_leg_sends_other() -> None:
    req = OcoOrderRequest(
        order=_entry(side=Side.SELL, order_type=OrderType.LIMIT, price=Decimal("21000")),
        other=BracketLeg(Side.SELL, OrderType.STOP, stop_price=Decimal("20800")),
    )
    body = encode.place_oco(req)
    assert body["other"] == {"action": "Sell", "orderType": "Stop", "stopPrice": 20800}


def test_modify_cancel_liquidate_with_minimal_input_send_exact_bodies() -> None:
    modify = ModifyOrderRequest(
        order_id=7003, qty=2, order_type=OrderType.STOP, stop_price=Decimal("20875.25")
    )
    assert encode.modify_order(modify) == {
        "orderId": 7003,
        "orderQty": 2,
        "orderType": "Stop",
        "stopPrice": 20875.25,
        "isAutomated": True,
    }
    assert encode.cancel_order(7003) == {"orderId": 7003, "isAutomated": True}
    assert encode.liquidate_position(10001, 3570918) == {
        "accountId": 10001, "contractId": 3570918, "admin": False, "isAutomated": True
    }  # fmt: skip


def test_sync_request_with_users_and_accounts_sends_both() -> None:
    assert encode.sync_request((2390,), (10001,)) == {"users": [2390], "accounts": [10001]}
    with pytest.raises(ValueError, match="at least one"):
        encode.sync_request()


def test_outbound_models_with_unknown_field_refuse_it() -> None:
    with pytest.raises(ValueError, match="Extra inputs"):
        w.BrokerCancelOrder(orderId=1, bogus=True)  # type: ignore[call-arg]
