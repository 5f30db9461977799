"""Order entry and lifecycle against reference §3.2: fills, rejections, brackets, P&L."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local.tradovate_sim import SimulatorServer
from tests.sim.conftest import ACCOUNT_ID, OTHER_ACCOUNT_ID, USER_ID, front, order


@pytest.fixture
def nq(api: httpx.Client) -> dict[str, Any]:
    """The NQ front contract (price starts at 21000)."""
    return front(api, "NQ")


def _place(api: httpx.Client, body: dict[str, Any], path: str = "/order/placeorder") -> Any:
    response = api.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _order(api: httpx.Client, order_id: int) -> Any:
    return api.get("/order/item", params={"id": order_id}).json()


def _position(api: httpx.Client, contract_id: int, account_id: int = ACCOUNT_ID) -> Any:
    rows = api.get("/position/deps", params={"masterid": account_id}).json()
    return next(p for p in rows if p["contractId"] == contract_id)


def test_market_order_with_valid_request_fills_at_simulated_price(
    api: httpx.Client, nq: dict[str, Any]
) -> None:
    result = _place(api, order(nq["name"], qty=2))
    assert set(result) == {"orderId"}
    assert _order(api, result["orderId"])["ordStatus"] == "Filled"
    fills = api.get("/fill/deps", params={"masterid": result["orderId"]}).json()
    assert [(f["qty"], f["price"], f["action"]) for f in fills] == [(2, 21000, "Buy")]
    position = _position(api, nq["id"])
    assert (position["netPos"], position["netPrice"]) == (2, 21000)


def test_order_with_cl_ord_id_keeps_it_on_command_not_order(
    api: httpx.Client, nq: dict[str, Any]
) -> None:
    order_id = _place(api, order(nq["name"], clOrdId="sig-123:10001"))["orderId"]
    assert "clOrdId" not in _order(api, order_id)
    commands = api.get("/command/list").json()
    found = [c for c in commands if c.get("clOrdId") == "sig-123:10001"]
    assert [c["orderId"] for c in found] == [order_id]
    assert found[0]["isAutomated"] is True
    assert found[0]["commandType"] == "New"
    version = api.get("/orderVersion/deps", params={"masterid": order_id}).json()
    assert version[0]["id"] == found[0]["id"]  # orderVersion id = the command's id


def test_order_list_with_clordid_configured_carries_cl_ord_id(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    sim.configure(order_has_clordid=True)
    order_id = _place(api, order(nq["name"], clOrdId="abc"))["orderId"]
    orders = api.get("/order/list").json()
    assert [o["id"] for o in orders if o.get("clOrdId") == "abc"] == [order_id]


def test_order_with_string_account_id_returns_400(api: httpx.Client, nq: dict[str, Any]) -> None:
    response = api.post("/order/placeorder", json=order(nq["name"], accountId="10001"))
    assert response.status_code == 400
    assert response.text.startswith("No usable value for accountId")


def test_order_with_missing_account_id_is_rejected(api: httpx.Client, nq: dict[str, Any]) -> None:
    body = order(nq["name"])
    del body["accountId"]
    result = _place(api, body)
    assert "orderId" not in result
    assert "Violation" in result["failureText"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"accountId": USER_ID}, "UnknownReason"),
        ({"accountSpec": "DEMO10002"}, "UnknownReason"),
        ({"symbol": "NQZ0Q"}, "InvalidContract"),
        ({"orderQty": 0}, "UnknownReason"),
        ({"orderType": "Limit"}, "InvalidPrice"),
        ({"orderType": "Limit", "price": 21000.1}, "InvalidPrice"),
        ({"orderType": "Stop"}, "InvalidPrice"),
        ({"orderType": "QTS"}, "Unsupported"),
        ({"orderType": "TrailingStop", "pegDifference": -10}, "InvalidPrice"),
    ],
)
def test_order_with_refused_request_returns_200_failure_without_order(
    api: httpx.Client, nq: dict[str, Any], fields: dict[str, Any], reason: str
) -> None:
    result = _place(api, {**order(nq["name"]), **fields})
    assert result["failureReason"] == reason
    assert result["failureText"]
    assert "orderId" not in result
    assert api.get("/order/list").json() == []


def test_order_with_user_id_as_account_returns_access_denied(
    api: httpx.Client, nq: dict[str, Any]
) -> None:
    result = _place(api, order(nq["name"], accountId=USER_ID, accountSpec=None))
    assert result == {"failureReason": "UnknownReason", "failureText": "Access is denied"}


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        ({"locked": True}, "TradingLocked"),
        ({"active": False}, "AccountClosed"),
        ({"maxOrderQty": 1}, "MaxOrderQtyLimitReached"),
        ({"liquidationOnly": True}, "LiquidationOnly"),
        ({"maxPosition": 1}, "MaxPosLimitReached"),
    ],
)
def test_order_with_account_switch_set_is_rejected(
    sim: SimulatorServer,
    api: httpx.Client,
    nq: dict[str, Any],
    flags: dict[str, Any],
    reason: str,
) -> None:
    sim.set_account(ACCOUNT_ID, **flags)
    assert _place(api, order(nq["name"], qty=2))["failureReason"] == reason
    assert "orderId" in _place(
        api, order(nq["name"], accountId=OTHER_ACCOUNT_ID, accountSpec="DEMO10002", qty=2)
    )


def test_order_with_liquidation_only_and_reducing_order_fills(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    _place(api, order(nq["name"], qty=2))
    sim.set_account(ACCOUNT_ID, liquidationOnly=True)
    assert "orderId" in _place(api, order(nq["name"], "Sell", qty=1))
    assert _place(api, order(nq["name"], "Sell", qty=2))["failureReason"] == "LiquidationOnly"


def test_order_with_require_is_automated_and_flag_missing_is_rejected(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    sim.configure(require_is_automated=True)
    assert "failureReason" in _place(api, order(nq["name"], isAutomated=False))
    assert "orderId" in _place(api, order(nq["name"]))


def test_order_with_success_reason_configured_adds_success(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    sim.configure(success_failure_reason=True)
    assert _place(api, order(nq["name"]))["failureReason"] == "Success"


def test_limit_order_with_price_move_through_fills_at_limit(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    order_id = _place(api, order(nq["name"], orderType="Limit", price=20990))["orderId"]
    assert _order(api, order_id)["ordStatus"] == "Working"
    sim.set_price(nq["name"], "20995")
    assert _order(api, order_id)["ordStatus"] == "Working"
    sim.set_price(nq["name"], "20980")
    assert _order(api, order_id)["ordStatus"] == "Filled"
    assert api.get("/fill/deps", params={"masterid": order_id}).json()[0]["price"] == 20990


def test_limit_order_with_marketable_price_fills_at_market(
    api: httpx.Client, nq: dict[str, Any]
) -> None:
    order_id = _place(api, order(nq["name"], "Sell", orderType="Limit", price=20900))["orderId"]
    assert api.get("/fill/deps", params={"masterid": order_id}).json()[0]["price"] == 21000


def test_stop_order_with_trigger_fills_at_market(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    order_id = _place(api, order(nq["name"], orderType="Stop", stopPrice=21010))["orderId"]
    sim.set_price(nq["name"], "21005")
    assert _order(api, order_id)["ordStatus"] == "Working"
    sim.set_price(nq["name"], "21020")
    assert api.get("/fill/deps", params={"masterid": order_id}).json()[0]["price"] == 21020


def test_stop_limit_with_gap_past_limit_rests_after_trigger(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    body = order(nq["name"], orderType="StopLimit", stopPrice=21010, price=21012)
    order_id = _place(api, body)["orderId"]
    sim.set_price(nq["name"], "21030")
    assert _order(api, order_id)["ordStatus"] == "Working"
    sim.set_price(nq["name"], "21011")
    assert _order(api, order_id)["ordStatus"] == "Filled"


def test_modify_with_marketable_price_fills_and_creates_version(
    api: httpx.Client, nq: dict[str, Any]
) -> None:
    order_id = _place(api, order(nq["name"], orderType="Limit", price=20900))["orderId"]
    result = api.post(
        "/order/modifyorder",
        json={"orderId": order_id, "orderQty": 1, "orderType": "Limit", "price": 21000},
    ).json()
    assert set(result) == {"commandId"}
    versions = api.get("/orderVersion/deps", params={"masterid": order_id}).json()
    assert [v["price"] for v in versions] == [20900, 21000]
    assert versions[-1]["id"] == result["commandId"]
    assert _order(api, order_id)["ordStatus"] == "Filled"


def test_modify_with_price_only_returns_400(api: httpx.Client, nq: dict[str, Any]) -> None:
    order_id = _place(api, order(nq["name"], orderType="Limit", price=20900))["orderId"]
    response = api.post("/order/modifyorder", json={"orderId": order_id, "price": 20950})
    assert response.status_code == 400


def test_cancel_with_working_order_cancels_and_second_cancel_is_too_late(
    api: httpx.Client, nq: dict[str, Any]
) -> None:
    order_id = _place(api, order(nq["name"], orderType="Limit", price=20900))["orderId"]
    assert "commandId" in api.post("/order/cancelorder", json={"orderId": order_id}).json()
    assert _order(api, order_id)["ordStatus"] == "Canceled"
    again = api.post("/order/cancelorder", json={"orderId": order_id}).json()
    assert again["failureReason"] == "TooLate"
    assert "commandId" not in again


def test_oso_with_two_brackets_activates_on_fill_and_cancels_sibling(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    body = order(
        nq["name"],
        orderType="Limit",
        price=20990,
        qty=2,
        bracket1={"action": "Sell", "orderType": "Limit", "price": 21020},
        bracket2={"action": "Sell", "orderType": "Stop", "stopPrice": 20970},
    )
    result = _place(api, body, "/order/placeoso")
    entry, target, stop = result["orderId"], result["oso1Id"], result["oso2Id"]
    assert [_order(api, i)["ordStatus"] for i in (entry, target, stop)] == [
        "Working",
        "Suspended",
        "Suspended",
    ]
    sim.set_price(nq["name"], "20990")
    assert [_order(api, i)["ordStatus"] for i in (entry, target, stop)] == [
        "Filled",
        "Working",
        "Working",
    ]
    assert _order(api, target)["parentId"] == entry
    sim.set_price(nq["name"], "21025")
    assert [_order(api, i)["ordStatus"] for i in (target, stop)] == ["Filled", "Canceled"]
    assert _position(api, nq["id"])["netPos"] == 0
    snapshot = api.post("/cashBalance/getcashbalancesnapshot", json={"accountId": ACCOUNT_ID})
    assert snapshot.json()["realizedPnL"] == (21020 - 20990) * 2 * 20


def test_oso_with_entry_canceled_cancels_brackets(api: httpx.Client, nq: dict[str, Any]) -> None:
    body = order(
        nq["name"],
        orderType="Limit",
        price=20900,
        bracket1={"action": "Sell", "orderType": "Limit", "price": 21100},
    )
    result = _place(api, body, "/order/placeOSO")
    assert "oso2Id" not in result
    api.post("/order/cancelorder", json={"orderId": result["orderId"]})
    assert _order(api, result["oso1Id"])["ordStatus"] == "Canceled"


def test_oso_with_marketable_entry_and_stop_beyond_market_fills_both(
    api: httpx.Client, nq: dict[str, Any]
) -> None:
    body = order(nq["name"], bracket1={"action": "Sell", "orderType": "Stop", "stopPrice": 21010})
    result = _place(api, body, "/order/placeoso")
    assert _order(api, result["oso1Id"])["ordStatus"] == "Filled"  # stop above market triggers


def test_oco_with_one_side_filled_cancels_other(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    body = order(
        nq["name"],
        "Sell",
        orderType="Limit",
        price=21050,
        other={"action": "Sell", "orderType": "Stop", "stopPrice": 20950},
    )
    result = _place(api, body, "/order/placeoco")
    assert _order(api, result["orderId"])["ocoId"] == result["ocoId"]
    sim.set_price(nq["name"], "20940")
    statuses = [_order(api, i)["ordStatus"] for i in (result["orderId"], result["ocoId"])]
    assert statuses == ["Canceled", "Filled"]


def test_liquidate_with_open_position_cancels_orders_and_flattens(
    api: httpx.Client, nq: dict[str, Any]
) -> None:
    _place(api, order(nq["name"], qty=3))
    working = _place(api, order(nq["name"], "Sell", orderType="Limit", price=21100))["orderId"]
    result = api.post(
        "/order/liquidateposition",
        json={"accountId": ACCOUNT_ID, "contractId": nq["id"], "admin": False},
    ).json()
    assert "orderId" in result
    assert _order(api, working)["ordStatus"] == "Canceled"
    assert _position(api, nq["id"])["netPos"] == 0
    assert "netPrice" not in _position(api, nq["id"])


def test_ioc_limit_with_no_fill_is_canceled(api: httpx.Client, nq: dict[str, Any]) -> None:
    body = order(nq["name"], orderType="Limit", price=20000, timeInForce="IOC")
    assert _order(api, _place(api, body)["orderId"])["ordStatus"] == "Canceled"


def test_position_with_round_trip_realizes_pnl_with_value_per_point(
    sim: SimulatorServer, api: httpx.Client
) -> None:
    es = front(api, "ES")
    _place(api, order(es["name"], qty=2))
    sim.set_price(es["name"], "6010.25")
    snapshot = api.post("/cashBalance/getcashbalancesnapshot", json={"accountId": ACCOUNT_ID})
    assert snapshot.json()["openPnL"] == 10.25 * 2 * 50
    _place(api, order(es["name"], "Sell", qty=3))
    position = _position(api, es["id"])
    assert (position["netPos"], position["netPrice"]) == (-1, 6010.25)
    assert (position["bought"], position["sold"]) == (2, 3)
    cash = api.get("/cashBalance/deps", params={"masterid": ACCOUNT_ID}).json()[0]
    assert cash["realizedPnL"] == 1025
    assert cash["amount"] == 51025
    pairs = api.get("/fillPair/deps", params={"masterid": position["id"]}).json()
    assert sum(p["qty"] for p in pairs) == 2


def test_order_with_unknown_field_and_strict_config_returns_400(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    body = order(nq["name"], osoId1=5)
    assert "orderId" in _place(api, body)  # tolerated by default
    sim.configure(reject_unknown_fields=True)
    response = api.post("/order/placeorder", json=body)
    assert response.status_code == 400
    assert "osoId1" in response.text


def test_mit_order_with_price_touched_fills_at_market(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    order_id = _place(api, order(nq["name"], orderType="MIT", price=20950))["orderId"]
    sim.set_price(nq["name"], "20960")
    assert _order(api, order_id)["ordStatus"] == "Working"
    sim.set_price(nq["name"], "20940")
    assert api.get("/fill/deps", params={"masterid": order_id}).json()[0]["price"] == 20940


def test_oso_with_quantity_on_bracket_returns_400(api: httpx.Client, nq: dict[str, Any]) -> None:
    bracket = {"action": "Sell", "orderType": "Limit", "price": 21100, "orderQty": 1}
    response = api.post("/order/placeoso", json=order(nq["name"], bracket1=bracket))
    assert response.status_code == 400


def test_market_order_with_thin_liquidity_fills_in_parts_one_price_move_at_a_time(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    sim.set_liquidity(nq["name"], 1)
    order_id = _place(api, order(nq["name"], qty=3))["orderId"]
    # Partly filled: Working with cumQty > 0 (reference §3.2), one contract per price move.
    assert _order(api, order_id)["ordStatus"] == "Working"
    sim.set_price(nq["name"], "21002")
    assert _order(api, order_id)["ordStatus"] == "Working"
    sim.set_price(nq["name"], "21004")
    assert _order(api, order_id)["ordStatus"] == "Filled"
    fills = api.get("/fill/deps", params={"masterid": order_id}).json()
    assert [(f["qty"], f["price"]) for f in fills] == [(1, 21000), (1, 21002), (1, 21004)]
    trades = [
        (r["ordStatus"], r["cumQty"], r["lastQty"], r["avgPx"])
        for r in sim.state()["executionReports"]
        if r["orderId"] == order_id and r["execType"] == "Trade"
    ]
    assert trades == [("Working", 1, 1, 21000), ("Working", 2, 1, 21001), ("Filled", 3, 1, 21002)]
    position = _position(api, nq["id"])
    assert (position["netPos"], position["netPrice"]) == (3, 21002)


def test_bracket_entry_filled_in_parts_sends_its_brackets_once_filled(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    sim.set_liquidity(nq["name"], 1)
    body = order(
        nq["name"],
        qty=2,
        bracket1={"action": "Sell", "orderType": "Limit", "price": 21100},
        bracket2={"action": "Sell", "orderType": "Stop", "stopPrice": 20900},
    )
    result = _place(api, body, "/order/placeoso")
    entry, target, stop = result["orderId"], result["oso1Id"], result["oso2Id"]
    statuses = [_order(api, i)["ordStatus"] for i in (entry, target, stop)]
    assert statuses == ["Working", "Suspended", "Suspended"]
    sim.set_price(nq["name"], "21001")
    statuses = [_order(api, i)["ordStatus"] for i in (entry, target, stop)]
    assert statuses == ["Filled", "Working", "Working"]


def test_fok_with_thin_liquidity_is_canceled_unfilled_and_ioc_keeps_its_part(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    sim.set_liquidity(nq["name"], 1)
    fok = _place(api, order(nq["name"], qty=2, timeInForce="FOK"))["orderId"]
    assert _order(api, fok)["ordStatus"] == "Canceled"
    assert api.get("/fill/deps", params={"masterid": fok}).json() == []
    ioc = _place(api, order(nq["name"], qty=2, timeInForce="IOC"))["orderId"]
    assert _order(api, ioc)["ordStatus"] == "Canceled"
    assert [f["qty"] for f in api.get("/fill/deps", params={"masterid": ioc}).json()] == [1]
    sim.set_liquidity(nq["name"], None)  # lifted: the next order fills whole
    whole = _place(api, order(nq["name"], qty=2))["orderId"]
    assert _order(api, whole)["ordStatus"] == "Filled"


def test_liquidity_with_bad_cap_or_symbol_is_refused(sim: SimulatorServer) -> None:
    with pytest.raises(RuntimeError, match="maxQty"):
        sim.set_liquidity("NQ", 0)
    with pytest.raises(RuntimeError, match="unknown symbol"):
        sim.set_liquidity("NOPE", 1)
