"""Trailing stops (docs/reference/tradovate-trailing-stops.md): accepted on placeorder,
placeoso, placeoco and modifyorder, trailed in the favourable direction only, triggered as a
stop, with the UNCONFIRMED sign of ``pegDifference`` configurable."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local.tradovate_sim import SimulatorServer
from tests.sim.conftest import ACCOUNT_ID, SimSocket, front, order


@pytest.fixture
def nq(api: httpx.Client) -> dict[str, Any]:
    """The NQ front contract (price starts at 21000)."""
    return front(api, "NQ")


def _place(api: httpx.Client, body: dict[str, Any], path: str = "/order/placeorder") -> Any:
    response = api.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _status(api: httpx.Client, order_id: int) -> str:
    return str(api.get("/order/item", params={"id": order_id}).json()["ordStatus"])


def _version(api: httpx.Client, order_id: int) -> dict[str, Any]:
    return dict(api.get("/orderVersion/deps", params={"masterid": order_id}).json()[-1])


def _fill_prices(api: httpx.Client, order_id: int) -> list[Any]:
    return [f["price"] for f in api.get("/fill/deps", params={"masterid": order_id}).json()]


def test_sell_trailing_stop_with_signed_peg_follows_rises_only_and_triggers_as_a_stop(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    body = order(nq["name"], "Sell", orderType="TrailingStop", stopPrice=20990, pegDifference=-10)
    order_id = _place(api, body)["orderId"]
    assert _version(api, order_id)["stopPrice"] == 20990
    sim.set_price(nq["name"], "21020")
    assert _version(api, order_id)["stopPrice"] == 21010  # followed the rise by 10
    sim.set_price(nq["name"], "21015")
    assert (_status(api, order_id), _version(api, order_id)["stopPrice"]) == ("Working", 21010)
    sim.set_price(nq["name"], "21009")
    assert _status(api, order_id) == "Filled"
    assert _fill_prices(api, order_id) == [21009]  # a stop fills at the market


def test_buy_trailing_stop_with_stop_price_only_keeps_the_stop_distance(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    # DOCS24: the order "will keep a max distance of (positionPrice - stopPrice)".
    order_id = _place(api, order(nq["name"], orderType="TrailingStop", stopPrice=21005))["orderId"]
    sim.set_price(nq["name"], "20980")
    assert _version(api, order_id)["stopPrice"] == 20985
    sim.set_price(nq["name"], "20984")
    assert _status(api, order_id) == "Working"
    sim.set_price(nq["name"], "20986")
    assert _fill_prices(api, order_id) == [20986]


def test_trailing_stop_limit_moves_its_limit_with_the_stop_and_rests_after_a_gap(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    body = order(
        nq["name"], "Sell", orderType="TrailingStopLimit", stopPrice=20990, price=20988,
        pegDifference=-10,
    )  # fmt: skip
    order_id = _place(api, body)["orderId"]
    sim.set_price(nq["name"], "21020")
    version = _version(api, order_id)
    assert (version["stopPrice"], version["price"]) == (21010, 21008)
    sim.set_price(nq["name"], "21000")  # triggered, but below the limit: rests
    assert _status(api, order_id) == "Working"
    sim.set_price(nq["name"], "21030")  # triggered: the stop no longer trails
    assert _version(api, order_id)["stopPrice"] == 21010
    assert _fill_prices(api, order_id) == [21008]  # a resting limit fills at its price


@pytest.mark.parametrize(
    ("peg_sign", "action", "peg", "accepted"),
    [
        ("signed", "Sell", -10, True),
        ("signed", "Sell", 10, False),
        ("signed", "Buy", 10, True),
        ("signed", "Buy", -10, False),
        ("unsigned", "Sell", 10, True),
        ("unsigned", "Sell", -10, False),
        ("either", "Sell", 10, True),
        ("either", "Buy", -10, True),
    ],
)
def test_peg_difference_sign_with_each_configured_reading_accepts_or_refuses(
    sim: SimulatorServer,
    api: httpx.Client,
    nq: dict[str, Any],
    peg_sign: str,
    action: str,
    peg: int,
    accepted: bool,
) -> None:
    sim.configure(trailing_peg_sign=peg_sign)
    stop = 20990 if action == "Sell" else 21010
    body = order(nq["name"], action, orderType="TrailingStop", stopPrice=stop, pegDifference=peg)
    result = _place(api, body)
    assert ("orderId" in result) is accepted, result
    if not accepted:
        assert result["failureReason"] == "InvalidPrice"
        return
    sim.set_price(nq["name"], "21040" if action == "Sell" else "20960")
    assert _version(api, result["orderId"])["stopPrice"] == (21030 if action == "Sell" else 20970)


@pytest.mark.parametrize(
    "fields",
    [
        {"pegDifference": -10},  # no stopPrice (DOCS24: required)
        {"stopPrice": 20990, "pegDifference": -10.1},  # not a multiple of 0.25
        {"stopPrice": 20990, "pegDifference": 0},
    ],
)
def test_trailing_stop_with_unusable_terms_is_refused_as_invalid_price(
    api: httpx.Client, nq: dict[str, Any], fields: dict[str, Any]
) -> None:
    result = _place(api, order(nq["name"], "Sell", orderType="TrailingStop", **fields))
    assert (result["failureReason"], "orderId" in result) == ("InvalidPrice", False)


def test_trailing_stop_without_stop_price_when_configured_optional_starts_at_the_peg(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    sim.configure(trailing_requires_stop_price=False)
    body = order(nq["name"], "Sell", orderType="TrailingStop", pegDifference=-10)
    order_id = _place(api, body)["orderId"]
    assert _version(api, order_id)["stopPrice"] == 20990


def test_oso_with_trailing_bracket_arms_at_the_fill_and_cancels_the_target_when_hit(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    body = order(
        nq["name"], orderType="Limit", price=20990,
        bracket1={"action": "Sell", "orderType": "TrailingStop", "stopPrice": 20980},
        bracket2={"action": "Sell", "orderType": "Limit", "price": 21050},
    )  # fmt: skip
    result = _place(api, body, "/order/placeoso")
    stop_id, target_id = result["oso1Id"], result["oso2Id"]
    sim.set_price(nq["name"], "21010")  # the bracket is suspended: nothing trails yet
    assert (_status(api, stop_id), _version(api, stop_id)["stopPrice"]) == ("Suspended", 20980)
    sim.set_price(nq["name"], "20990")  # entry fills; the stop keeps its 10-point distance
    assert _status(api, result["orderId"]) == "Filled"
    sim.set_price(nq["name"], "21030")
    assert _version(api, stop_id)["stopPrice"] == 21020
    sim.set_price(nq["name"], "21020")
    assert (_status(api, stop_id), _status(api, target_id)) == ("Filled", "Canceled")
    position = api.get("/position/deps", params={"masterid": ACCOUNT_ID}).json()
    assert [p["netPos"] for p in position if p["contractId"] == nq["id"]] == [0]


def test_oco_with_trailing_other_trails_and_fills(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    body = order(
        nq["name"], "Sell", orderType="Limit", price=21100,
        other={"action": "Sell", "orderType": "TrailingStop", "stopPrice": 20990,
               "pegDifference": -10},
    )  # fmt: skip
    result = _place(api, body, "/order/placeoco")
    sim.set_price(nq["name"], "21050")
    sim.set_price(nq["name"], "21040")
    assert _fill_prices(api, result["ocoId"]) == [21040]
    assert _status(api, result["orderId"]) == "Canceled"


def test_modify_with_new_peg_difference_rearms_the_trail(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    body = order(nq["name"], "Sell", orderType="TrailingStop", stopPrice=20990, pegDifference=-10)
    order_id = _place(api, body)["orderId"]
    modify = {
        "orderId": order_id, "orderQty": 1, "orderType": "TrailingStop", "stopPrice": 20995,
        "pegDifference": -5,
    }  # fmt: skip
    assert "commandId" in api.post("/order/modifyorder", json=modify).json()
    sim.set_price(nq["name"], "21020")
    assert _version(api, order_id)["stopPrice"] == 21015


def test_modify_with_qty_only_rule_allows_quantity_and_refuses_other_changes(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any]
) -> None:
    sim.configure(trailing_modify_qty_only=True)
    body = order(nq["name"], "Sell", orderType="TrailingStop", stopPrice=20990, pegDifference=-10)
    order_id = _place(api, body)["orderId"]
    same = {
        "orderId": order_id, "orderQty": 2, "orderType": "TrailingStop", "stopPrice": 20990,
        "pegDifference": -10,
    }  # fmt: skip
    assert "commandId" in api.post("/order/modifyorder", json=same).json()
    moved = api.post("/order/modifyorder", json={**same, "stopPrice": 20995}).json()
    assert moved["failureReason"] == "TrailingStopNonOrderQtyModify"
    assert _version(api, order_id)["orderQty"] == 2


def test_trailing_stop_moves_are_streamed_as_order_version_updates(
    sim: SimulatorServer, api: httpx.Client, nq: dict[str, Any], trading: SimSocket
) -> None:
    body = order(nq["name"], "Sell", orderType="TrailingStop", stopPrice=20990, pegDifference=-10)
    order_id = _place(api, body)["orderId"]
    sim.set_price(nq["name"], "21012.5")
    event = trading.event("props", entityType="orderVersion", eventType="Updated")
    assert (event["d"]["entity"]["orderId"], event["d"]["entity"]["stopPrice"]) == (
        order_id,
        21002.5,
    )
