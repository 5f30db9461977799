"""The REST facade: exact requests, parsed results, 401 handling and no double placement."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.adapters.tradovate import encode
from shared.adapters.tradovate.backoff import Backoff
from shared.adapters.tradovate.errors import (
    BrokerNotFound,
    OrderOutcomeUnknown,
    RateLimited,
    TokenRejected,
)
from shared.adapters.tradovate.rest import TradovateRest
from shared.domain.broker import (
    BracketLeg,
    BracketOrderRequest,
    ModifyOrderRequest,
    OcoOrderRequest,
    OrderRequest,
    OrderType,
    Side,
)
from shared.domain.errors import BrokerRejected, TransientBrokerError
from tests.adapters.tradovate.helpers import (
    BrokerRouter,
    FakeTime,
    FakeTokens,
    fixture,
    make_http,
    timed_out,
)

ENTRY = OrderRequest(
    account_id=10001,
    symbol="NQZ4",
    side=Side.BUY,
    qty=2,
    order_type=OrderType.MARKET,
    cl_ord_id="tb-sig42-acct10001-entry",
)


def _rest(router: BrokerRouter, tokens: FakeTokens | None = None, **kwargs: Any) -> TradovateRest:
    time = FakeTime()
    return TradovateRest(
        make_http(router, time), tokens or FakeTokens(), sleep=time.sleep, **kwargs
    )


async def test_accounts_with_fixture_returns_integer_ids() -> None:
    router = BrokerRouter().on("account/list", (200, fixture("account_list.json")))
    accounts = await _rest(router).accounts()
    assert [(a.id, a.name) for a in accounts] == [(10001, "DEMO10001"), (10002, "DEMO10002")]


async def test_contract_spec_with_name_joins_contract_maturity_and_product() -> None:
    router = (
        BrokerRouter()
        .on("contract/find", (200, fixture("contract_find_nqz4.json")))
        .on("contractMaturity/item", (200, fixture("contract_maturity_item.json")))
        .on("product/item", (200, fixture("product_find_nq.json")))
    )
    spec = await _rest(router).contract_spec("NQZ4")
    assert (spec.symbol, spec.root, spec.contract_id) == ("NQZ4", "NQ", 3570918)
    assert spec.tick_size == Decimal("0.25")
    assert spec.value_per_point == Decimal(20)
    assert spec.expiration is not None
    assert spec.expiration.year == 2024
    assert dict(router.sent("contract/find")[0].url.params) == {"name": "NQZ4"}
    assert dict(router.sent("contractMaturity/item")[0].url.params) == {"id": "48021"}
    assert dict(router.sent("product/item")[0].url.params) == {"id": "2054"}


async def test_find_contract_with_404_or_empty_body_raises_not_found() -> None:
    router = BrokerRouter().on("contract/find", (404, None), (200, None))
    rest = _rest(router)
    with pytest.raises(BrokerNotFound):
        await rest.find_contract("ZZZ9")
    with pytest.raises(BrokerNotFound):
        await rest.find_contract("ZZZ9")


async def test_suggest_with_root_sends_t_and_l_not_name() -> None:
    router = BrokerRouter().on("contract/suggest", (200, fixture("contract_suggest_es.json")))
    contracts = await _rest(router).suggest_contracts("ES", 3)
    assert [c.name for c in contracts] == ["ESM2", "ESU2", "ESZ2"]
    assert dict(router.requests[0].url.params) == {"t": "ES", "l": "3"}


async def test_roll_contract_with_name_posts_forward_and_if_expired() -> None:
    router = BrokerRouter().on("contract/rollcontract", (200, fixture("roll_contract.json")))
    contract = await _rest(router).roll_contract("NQZ4")
    assert contract.name == "NQH5"
    assert router.bodies("contract/rollcontract") == [
        {"name": "NQZ4", "forward": True, "ifExpired": True}
    ]


async def test_roll_contract_with_error_text_raises_rejected() -> None:
    router = BrokerRouter().on("contract/rollcontract", (200, {"errorText": "Unknown contract"}))
    with pytest.raises(BrokerRejected, match="Unknown contract"):
        await _rest(router).roll_contract("XXZ9")


async def test_product_maturities_with_product_id_uses_deps_masterid() -> None:
    router = BrokerRouter().on(
        "contractMaturity/deps", (200, fixture("contract_maturity_deps.json"))
    )
    maturities = await _rest(router).product_maturities(2054)
    assert [m.expiration_month for m in maturities] == [202412, 202503]
    assert dict(router.requests[0].url.params) == {"masterid": "2054"}


async def test_positions_orders_fills_with_master_use_deps_and_without_use_list() -> None:
    router = (
        BrokerRouter()
        .on("position/deps", (200, fixture("position_deps.json")))
        .on("position/list", (200, []))
        .on("order/deps", (200, fixture("order_deps.json")))
        .on("fill/deps", (200, fixture("fill_deps.json")))
        .on("orderVersion/deps", (200, fixture("order_version_deps.json")))
    )
    rest = _rest(router)
    assert [p.net_pos for p in await rest.positions(10001)] == [2, 0]
    assert await rest.positions() == ()
    assert len(await rest.orders(10001)) == 3
    (fill,) = await rest.fills(7001)
    assert (fill.qty, fill.price) == (2, Decimal("20875.25"))
    (version,) = await rest.order_versions(7002)
    assert version.price == Decimal("20905.5")
    assert dict(router.sent("order/deps")[0].url.params) == {"masterid": "10001"}


async def test_cash_balance_snapshot_with_account_posts_account_id() -> None:
    router = BrokerRouter().on(
        "cashBalance/getcashbalancesnapshot", (200, fixture("cash_balance_snapshot.json"))
    )
    snapshot = await _rest(router).cash_balance_snapshot(10001)
    assert snapshot.open_pnl == Decimal(85)
    assert router.bodies("cashBalance/getcashbalancesnapshot") == [{"accountId": 10001}]


async def test_find_order_by_cl_ord_id_with_commands_matches_via_command_ldeps() -> None:
    router = (
        BrokerRouter()
        .on("order/deps", (200, fixture("order_deps.json")))
        .on("command/ldeps", (200, fixture("command_ldeps.json")))
    )
    order = await _rest(router).find_order_by_cl_ord_id(10001, "tb-sig42-acct10001-tp")
    assert order is not None
    assert order.id == 7002
    assert dict(router.sent("command/ldeps")[0].url.params) == {"masterids": "7003,7002,7001"}


async def test_find_order_by_cl_ord_id_with_server_echoing_clordid_skips_commands() -> None:
    orders = [dict(o, clOrdId=f"c{o['id']}") for o in fixture("order_deps.json")]
    router = BrokerRouter().on("order/deps", (200, orders))
    rest = _rest(router)
    assert (await rest.find_order_by_cl_ord_id(10001, "c7003")).id == 7003  # type: ignore[union-attr]
    assert await rest.find_order_by_cl_ord_id(10001, "missing") is None
    assert router.count("command/ldeps") == 0


async def test_orders_by_cl_ord_id_with_commands_labels_each_order_placed_with_an_id() -> None:
    router = (
        BrokerRouter()
        .on("order/deps", (200, fixture("order_deps.json")))
        .on("command/ldeps", (200, fixture("command_ldeps.json")))
    )
    labelled = await _rest(router).orders_by_cl_ord_id(10001)
    assert {cl: o.id for cl, o in labelled.items()} == {
        "tb-sig42-acct10001-entry": 7001,
        "tb-sig42-acct10001-tp": 7002,
    }  # 7003's command carries no clOrdId
    assert router.count("order/deps") == 1


async def test_orders_by_cl_ord_id_with_server_echoing_clordid_keeps_the_newest_of_an_id() -> None:
    orders = fixture("order_deps.json")
    echoed = [
        dict(orders[0], clOrdId="a"),
        dict(orders[1], clOrdId="b"),
        dict(orders[2], clOrdId="a"),
    ]
    router = BrokerRouter().on("order/deps", (200, echoed))
    labelled = await _rest(router).orders_by_cl_ord_id(10001)
    assert {cl: o.id for cl, o in labelled.items()} == {"a": 7003, "b": 7002}
    assert router.count("command/ldeps") == 0


async def test_find_order_by_cl_ord_id_with_no_orders_returns_none_without_command_call() -> None:
    router = BrokerRouter().on("order/deps", (200, []))
    assert await _rest(router).find_order_by_cl_ord_id(10001, "x") is None
    assert router.count("command/ldeps") == 0


# --- placement ------------------------------------------------------------------------------


async def test_place_order_with_success_sends_exact_body_and_returns_ack() -> None:
    router = BrokerRouter().on("order/placeorder", (200, fixture("place_order_ok.json")))
    ack = await _rest(router).place_order(ENTRY)
    assert (ack.order_id, ack.cl_ord_id, ack.recovered) == (7001, ENTRY.cl_ord_id, False)
    assert router.bodies("order/placeorder") == [encode.place_order(ENTRY)]
    assert router.bodies("order/placeorder")[0]["isAutomated"] is True
    assert router.requests[0].headers["Authorization"] == "Bearer token-aaaaaaaaaaaaaaaa-0001"


async def test_place_order_with_failure_reason_raises_rejected_once() -> None:
    router = BrokerRouter().on("order/placeorder", (200, fixture("place_order_rejected.json")))
    with pytest.raises(BrokerRejected) as info:
        await _rest(router).place_order(ENTRY)
    assert info.value.code == "UnknownReason"
    assert router.count("order/placeorder") == 1


async def test_place_order_with_timeout_and_order_found_returns_recovered_without_resend() -> None:
    commands = [{"id": 1, "orderId": 7001, "clOrdId": ENTRY.cl_ord_id, "commandType": "New",
                 "commandStatus": "AtExecution"}]  # fmt: skip
    router = (
        BrokerRouter()
        .on("order/placeorder", timed_out())
        .on("order/deps", (200, fixture("order_deps.json")))
        .on("command/ldeps", (200, commands))
    )
    ack = await _rest(router).place_order(ENTRY)
    assert (ack.order_id, ack.recovered) == (7001, True)
    assert ack.bracket_order_ids == (7002, 7003)  # children found through parentId
    assert router.count("order/placeorder") == 1
    paths = [r.url.path for r in router.requests]
    assert paths == ["/v1/order/placeorder", "/v1/order/deps", "/v1/command/ldeps"]


async def test_place_order_with_5xx_and_order_absent_looks_up_then_resends_identical_body() -> None:
    router = (
        BrokerRouter()
        .on("order/placeorder", (500, "Internal Server Error"), (200, {"orderId": 7009}))
        .on("order/deps", (200, []))
    )
    ack = await _rest(router).place_order(ENTRY)
    assert (ack.order_id, ack.recovered) == (7009, False)
    first, second = router.bodies("order/placeorder")
    assert first == second == encode.place_order(ENTRY)
    paths = [r.url.path for r in router.requests]
    assert paths == ["/v1/order/placeorder", "/v1/order/deps", "/v1/order/placeorder"]


async def test_place_order_with_persistent_5xx_raises_outcome_unknown_after_attempts() -> None:
    router = BrokerRouter().on("order/placeorder", (502, None)).on("order/deps", (200, []))
    with pytest.raises(OrderOutcomeUnknown) as info:
        await _rest(router, place_attempts=3).place_order(ENTRY)
    assert info.value.cl_ord_id == ENTRY.cl_ord_id
    assert router.count("order/placeorder") == 3
    assert router.count("order/deps") == 3


async def test_place_order_with_failed_lookup_raises_outcome_unknown_without_resend() -> None:
    router = BrokerRouter().on("order/placeorder", timed_out()).on("order/deps", (503, None))
    with pytest.raises(OrderOutcomeUnknown):
        await _rest(router).place_order(ENTRY)
    assert router.count("order/placeorder") == 1


async def test_place_order_with_lookup_first_and_existing_order_never_posts() -> None:
    orders = [
        dict(o, clOrdId=ENTRY.cl_ord_id if o["id"] == 7001 else None)
        for o in fixture("order_deps.json")
    ]
    router = (
        BrokerRouter().on("order/deps", (200, orders)).on("order/placeorder", (200, {"orderId": 1}))
    )
    ack = await _rest(router).place_order(ENTRY, lookup_first=True)
    assert (ack.order_id, ack.recovered) == (7001, True)
    assert router.count("order/placeorder") == 0


async def test_place_order_with_rate_limit_budget_spent_raises_without_lookup() -> None:
    router = BrokerRouter().on("order/placeorder", (429, None))
    with pytest.raises(RateLimited):
        await _rest(router).place_order(ENTRY)
    assert router.count("order/deps") == 0


async def test_place_order_with_401_renews_token_once_and_resends() -> None:
    router = BrokerRouter().on("order/placeorder", (401, None), (200, {"orderId": 7001}))
    tokens = FakeTokens("old-token-aaaaaaaaaaaa", "new-token-bbbbbbbbbbbb")
    ack = await _rest(router, tokens).place_order(ENTRY)
    assert ack.order_id == 7001
    assert tokens.rejected == ["old-token-aaaaaaaaaaaa"]
    auth = [r.headers["Authorization"] for r in router.requests]
    assert auth == ["Bearer old-token-aaaaaaaaaaaa", "Bearer new-token-bbbbbbbbbbbb"]


async def test_call_with_401_twice_raises_token_rejected_after_one_renewal() -> None:
    router = BrokerRouter().on("account/list", (401, None))
    tokens = FakeTokens("old-token-aaaaaaaaaaaa", "new-token-bbbbbbbbbbbb")
    with pytest.raises(TokenRejected):
        await _rest(router, tokens).accounts()
    assert router.count("account/list") == 2
    assert len(tokens.rejected) == 1


async def test_place_bracket_with_two_legs_posts_placeoso_and_returns_leg_ids() -> None:
    router = BrokerRouter().on("order/placeoso", (200, fixture("place_oso_ok.json")))
    req = BracketOrderRequest(
        ENTRY,
        (
            BracketLeg(Side.SELL, OrderType.LIMIT, price=Decimal("20905.5")),
            BracketLeg(Side.SELL, OrderType.STOP, stop_price=Decimal("20845.75")),
        ),
    )
    ack = await _rest(router).place_bracket(req)
    assert ack.bracket_order_ids == (7002, 7003)
    (body,) = router.bodies("order/placeoso")
    assert body["bracket1"]["price"] == Decimal("20905.5")
    assert body["bracket2"]["stopPrice"] == Decimal("20845.75")


async def test_place_oco_with_other_returns_oco_id() -> None:
    router = BrokerRouter().on("order/placeoco", (200, fixture("place_oco_ok.json")))
    req = OcoOrderRequest(
        OrderRequest(10001, "NQZ4", Side.SELL, 1, OrderType.LIMIT, "tb-oco", price=Decimal(21000)),
        BracketLeg(Side.SELL, OrderType.STOP, stop_price=Decimal(20800)),
    )
    ack = await _rest(router).place_oco(req)
    assert (ack.order_id, ack.oco_id) == (7101, 7102)


async def test_modify_and_cancel_with_command_result_return_command_ids_once() -> None:
    router = (
        BrokerRouter()
        .on("order/modifyorder", (200, fixture("command_result_ok.json")))
        .on("order/cancelorder", (500, None))
    )
    rest = _rest(router)
    modify = ModifyOrderRequest(7003, 2, OrderType.STOP, stop_price=Decimal("20875.25"))
    assert (await rest.modify_order(modify)).command_id == 62539
    assert router.bodies("order/modifyorder")[0]["orderQty"] == 2
    with pytest.raises(TransientBrokerError):  # a cancel is never repeated blindly
        await rest.cancel_order(7003)
    assert router.count("order/cancelorder") == 1


async def test_modify_of_trailing_offset_reads_the_order_side_to_sign_peg_difference() -> None:
    order = fixture("order_deps.json")[1]  # a working Sell
    router = (
        BrokerRouter()
        .on("order/item", (200, order))
        .on("order/modifyorder", (200, fixture("command_result_ok.json")))
    )
    modify = ModifyOrderRequest(
        order["id"], 1, OrderType.TRAILING_STOP, stop_price=Decimal(20990), trail=Decimal(10)
    )
    await _rest(router).modify_order(modify)
    assert dict(router.sent("order/item")[0].url.params) == {"id": str(order["id"])}
    assert router.bodies("order/modifyorder")[0]["pegDifference"] == -10
    unsigned = BrokerRouter().on("order/modifyorder", (200, fixture("command_result_ok.json")))
    await _rest(unsigned, peg_style=encode.PegStyle.UNSIGNED).modify_order(modify)
    assert unsigned.count("order/item") == 0
    assert unsigned.bodies("order/modifyorder")[0]["pegDifference"] == 10


async def test_liquidate_position_with_result_returns_order_id() -> None:
    router = BrokerRouter().on("order/liquidateposition", (200, {"orderId": 7200}))
    assert await _rest(router).liquidate_position(10001, 3570918) == 7200
    assert router.bodies("order/liquidateposition") == [
        {"accountId": 10001, "contractId": 3570918, "admin": False, "isAutomated": True}
    ]


async def test_place_order_with_timeout_waits_settle_time_before_lookup_but_not_after_5xx() -> None:
    commands = [{"id": 1, "orderId": 7001, "clOrdId": ENTRY.cl_ord_id, "commandType": "New",
                 "commandStatus": "AtExecution"}]  # fmt: skip
    for failure, expected_pause in ((timed_out(), 1.5), ((502, None), 0.2)):
        router = (
            BrokerRouter()
            .on("order/placeorder", failure)
            .on("order/deps", (200, fixture("order_deps.json")))
            .on("command/ldeps", (200, commands))
        )
        time = FakeTime()
        rest = TradovateRest(
            make_http(router, time),
            FakeTokens(),
            settle_s=1.5,
            backoff=Backoff(base_s=0.2, cap_s=2.0, rng=lambda: 1.0),
            sleep=time.sleep,
        )
        ack = await rest.place_order(ENTRY)
        assert ack.recovered
        assert time.sleeps == [expected_pause]
