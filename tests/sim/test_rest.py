"""REST conventions and reference data against reference §3: paths, methods, entity shapes."""

from __future__ import annotations

import re

import httpx
import pytest

from local.tradovate_sim import SimulatorServer
from tests.sim.conftest import ACCOUNT_ID, USER_ID, front

EXPIRATION = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\dZ$")


@pytest.mark.parametrize("path", ["/account/list", "/Account/List", "/ACCOUNT/LIST"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_account_list_with_any_casing_and_method_returns_accounts(
    api: httpx.Client, path: str, method: str
) -> None:
    response = api.request(method, path)
    assert response.status_code == 200
    assert [a["id"] for a in response.json()] == [10001, 10002]


def test_account_list_with_token_returns_reference_fields(api: httpx.Client) -> None:
    account = api.get("/account/list").json()[0]
    assert account["name"] == "DEMO10001"
    assert account["userId"] == USER_ID
    for name in (
        "accountType",
        "active",
        "clearingHouseId",
        "riskCategoryId",
        "autoLiqProfileId",
        "marginAccountType",
        "legalStatus",
        "timestamp",
    ):
        assert name in account


def test_product_find_with_nq_returns_confirmed_values(api: httpx.Client) -> None:
    product = api.get("/product/find", params={"name": "NQ"}).json()
    assert product["tickSize"] == 0.25
    assert product["valuePerPoint"] == 20
    assert product["months"] == "HMUZ"
    assert product["priceFormat"] == -2
    assert product["productType"] == "Futures"


def test_contract_find_with_front_name_returns_contract(api: httpx.Client) -> None:
    nq = front(api, "NQ")
    found = api.get("/contract/find", params={"name": nq["name"]}).json()
    assert found == nq
    assert set(found) >= {"id", "name", "contractMaturityId"}
    assert api.get("/contract/item", params={"id": nq["id"]}).json() == nq
    items = api.get("/contract/items", params={"ids": f"{nq['id']},1"}).json()
    assert items == [nq]


def test_contract_find_with_unknown_name_returns_404(api: httpx.Client) -> None:
    assert api.get("/contract/find", params={"name": "NQZ0X"}).status_code == 404


def test_contract_find_with_200_configured_returns_null(
    sim: SimulatorServer, api: httpx.Client
) -> None:
    sim.configure(not_found_status=200)
    response = api.get("/contract/find", params={"name": "NOPE"})
    assert response.status_code == 200
    assert response.json() is None


@pytest.mark.parametrize(
    "path", ["/contract/list", "/contractMaturity/list", "/contractMaturity/find", "/nothing/here"]
)
def test_missing_operations_with_any_entity_return_404(api: httpx.Client, path: str) -> None:
    assert api.get(path).status_code == 404


def test_item_with_missing_id_returns_400(api: httpx.Client) -> None:
    assert api.get("/contract/item").status_code == 400


def test_contract_maturity_with_front_contract_has_reference_formats(api: httpx.Client) -> None:
    nq = front(api, "NQ")
    maturity = api.get("/contractMaturity/item", params={"id": nq["contractMaturityId"]}).json()
    assert EXPIRATION.match(maturity["expirationDate"])
    assert 200001 <= maturity["expirationMonth"] <= 209912
    assert maturity["isFront"] is True
    assert maturity["productId"] == api.get("/product/find", params={"name": "NQ"}).json()["id"]


def test_contract_maturity_deps_with_product_returns_chain_in_expiry_order(
    api: httpx.Client,
) -> None:
    product = api.get("/product/find", params={"name": "CL"}).json()
    chain = api.get("/contractMaturity/deps", params={"masterid": product["id"]}).json()
    months = [m["expirationMonth"] for m in chain]
    assert months == sorted(months)
    assert len(chain) >= 12
    assert sum(m["isFront"] for m in chain) == 1


def test_contract_suggest_with_t_and_l_returns_limited_matches(api: httpx.Client) -> None:
    hits = api.get("/contract/suggest", params={"t": "ES", "l": 7}).json()
    names = [c["name"] for c in hits]
    assert len(names) == 7
    assert all(n.startswith("ES") for n in names[:5])
    assert any(n.startswith("MES") for n in names)  # free-text match: clients must filter


def test_contract_suggest_with_name_param_returns_nothing(api: httpx.Client) -> None:
    # The common mistake of reference §6.1: suggest takes t and l, not name.
    assert api.get("/contract/suggest", params={"name": "ES"}).json() == []


def test_rollcontract_with_live_contract_and_forward_returns_next(api: httpx.Client) -> None:
    nq = front(api, "NQ")
    same = api.post(
        "/contract/rollcontract", json={"name": nq["name"], "forward": True, "ifExpired": True}
    ).json()
    nxt = api.post("/contract/rollContract", json={"name": nq["name"], "forward": True}).json()
    assert same["contract"] == nq
    assert nxt["contract"]["name"] != nq["name"]
    assert nxt["contract"]["name"].startswith("NQ")


def test_rollcontract_with_unknown_name_returns_error_text(api: httpx.Client) -> None:
    body = api.post("/contract/rollcontract", json={"name": "ZZZ9", "forward": True}).json()
    assert "errorText" in body


def test_cash_snapshot_with_fresh_account_omits_zero_pnl(api: httpx.Client) -> None:
    snapshot = api.post("/cashBalance/getcashbalancesnapshot", json={"accountId": ACCOUNT_ID})
    body = snapshot.json()
    assert body["totalCashValue"] == 50000
    assert body["netLiq"] == 50000
    assert "openPnL" not in body
    assert "realizedPnL" not in body


def test_cash_snapshot_with_foreign_account_returns_error_text(api: httpx.Client) -> None:
    body = api.post("/cashBalance/getcashbalancesnapshot", json={"accountId": USER_ID}).json()
    assert body == {"errorText": "Access is denied"}


def test_cash_balance_deps_with_account_returns_balance(api: httpx.Client) -> None:
    rows = api.get("/cashBalance/deps", params={"masterid": ACCOUNT_ID}).json()
    assert len(rows) == 1
    assert rows[0]["amount"] == 50000
    assert rows[0]["accountId"] == ACCOUNT_ID


def test_rest_with_invalid_json_body_returns_400(api: httpx.Client) -> None:
    response = api.post(
        "/order/placeorder",
        content=b"{'single': 'quotes'}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400


def test_rest_with_form_body_returns_400_unless_configured(
    sim: SimulatorServer, api: httpx.Client
) -> None:
    form = {
        "accountId": "10001",
        "action": "Buy",
        "symbol": front(api, "ES")["name"],
        "orderQty": "1",
        "orderType": "Market",
        "isAutomated": "true",
    }
    assert api.post("/order/placeorder", data=form).status_code == 400
    sim.configure(accept_form_bodies=True)
    assert "orderId" in api.post("/order/placeorder", data=form).json()


def test_user_syncrequest_over_rest_with_user_returns_snapshot(api: httpx.Client) -> None:
    body = api.post("/user/syncrequest", json={"users": [USER_ID]}).json()
    assert [a["id"] for a in body["accounts"]] == [10001, 10002]
    assert body["orders"] == []
    assert "cashBalances" in body
