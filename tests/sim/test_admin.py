"""Admin endpoints and the server object: stats, reset, state, prices, clock, config."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.tradovate_sim import SimConfig, SimulatorServer
from local.tradovate_sim.admin import is_loopback
from tests.sim.conftest import ACCOUNT_ID, CREDENTIALS, SimSocket, front, order

OpenSocket = Callable[[str], SimSocket]


def test_stats_with_rest_and_ws_calls_counts_each_endpoint(
    sim: SimulatorServer, api: httpx.Client, trading: SimSocket
) -> None:
    api.get("/Account/List")
    api.get("/account/list")
    trading.call("account/list")
    stats = sim.stats()
    assert stats["rest"]["account/list"] == 2
    assert stats["ws"]["account/list"] == 1
    assert stats["requests"]["account/list"] == 3
    assert stats["logins"] == 1
    assert stats["connections"] == {"trading": 1}
    sim.reset_stats()
    assert sim.stats()["total_requests"] == 0


def test_reset_with_orders_tokens_faults_and_prices_restores_start(
    sim: SimulatorServer, api: httpx.Client
) -> None:
    nq = front(api, "NQ")
    api.post("/order/placeorder", json=order(nq["name"]))
    sim.set_price("NQ", "20000")
    sim.inject(latency_ms=5)
    sim.configure(token_lifetime_s=10)
    sim.advance_clock(3600)
    sim.reset()
    state = sim.state()
    assert state["orders"] == []
    assert state["positions"] == []
    assert state["sessions"] == []
    assert state["prices"][nq["name"]] == 21000
    assert state["faults"]["latency_ms"] == 0
    assert state["config"]["token_lifetime_s"] == 5400
    assert api.get("/account/list").status_code == 401


def test_reset_with_open_socket_closes_it(sim: SimulatorServer, trading: SimSocket) -> None:
    sim.reset()
    frame = trading.recv_frame(timeout_s=3)
    while not frame.startswith("c["):
        frame = trading.recv_frame(timeout_s=3)
    assert "reset" in frame


def test_ids_with_successive_orders_increase_monotonically(
    api: httpx.Client,
) -> None:
    nq = front(api, "NQ")
    ids = [
        api.post("/order/placeorder", json=order(nq["name"])).json()["orderId"] for _ in range(4)
    ]
    assert ids == sorted(ids)
    assert len(set(ids)) == 4


def test_set_price_with_product_name_moves_every_contract(
    sim: SimulatorServer, api: httpx.Client
) -> None:
    result = sim.set_price("MES", "5000.25")
    assert len(result) >= 5
    assert {entry["price"] for entry in result.values()} == {5000.25}
    contract_id = front(api, "MES")["id"]
    (moved,) = sim.set_price(contract_id, "5001").values()
    assert moved["contractId"] == contract_id


@pytest.mark.parametrize(("symbol", "price"), [("NQ", "21000.1"), ("NOPE", "1"), ("NQ", "-5")])
def test_set_price_with_bad_input_is_refused(sim: SimulatorServer, symbol: str, price: str) -> None:
    with pytest.raises(RuntimeError, match="400"):
        sim.set_price(symbol, price)


def test_clock_with_advance_moves_simulated_time(sim: SimulatorServer) -> None:
    before = sim.admin("GET", "/clock")["now"]
    after = sim.advance_clock(7200)["now"]
    assert after > before
    assert int(after[11:13]) != int(before[11:13])


def test_account_switch_with_synced_socket_sends_risk_status_event(
    sim: SimulatorServer, trading: SimSocket
) -> None:
    sim.set_account(ACCOUNT_ID, locked=True)
    event = trading.event("props", entityType="accountRiskStatus")
    assert event["d"]["entity"] == {
        "id": ACCOUNT_ID,
        "adminAction": "LockTrading",
        "userTriggeredLiqOnly": False,
    }


def test_ticker_with_interval_moves_prices_until_stopped(sim: SimulatorServer) -> None:
    before = sim.state()["prices"]
    sim.admin("POST", "/ticker", {"interval_s": 0.05})
    deadline = time.monotonic() + 10  # until it ticked, not a fixed 0.3 s a busy machine misses
    while sim.state()["prices"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
    sim.admin("POST", "/ticker", {"interval_s": None})
    moved = sim.state()["prices"]
    time.sleep(0.15)
    assert moved != before  # ~80 contracts random-walking: all back at start is negligible
    assert sim.state()["prices"] == moved


def test_config_with_unknown_setting_is_refused(sim: SimulatorServer) -> None:
    with pytest.raises(RuntimeError, match="unknown simulator setting"):
        sim.configure(token_life=5)


def test_config_with_start_only_setting_is_refused_at_run_time(sim: SimulatorServer) -> None:
    with pytest.raises(RuntimeError, match="only apply at start"):
        sim.configure(prices={"NQ": 1})


@pytest.mark.parametrize(
    "data", [{"token_lifetime_s": "90"}, {"max_sessions": True}, {"order_has_clordid": 1}]
)
def test_config_with_wrong_type_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(data))):
        SimConfig.from_dict(data)


def test_state_with_order_shows_version_and_cl_ord_id(
    sim: SimulatorServer, api: httpx.Client
) -> None:
    nq = front(api, "NQ")
    api.post("/order/placeorder", json=order(nq["name"], clOrdId="x1"))
    placed = sim.state()["orders"][0]
    assert placed["clOrdId"] == "x1"
    assert placed["version"]["orderQty"] == 1


def test_config_file_with_overrides_loads_and_rejects_unknown_names(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    path.write_text(
        json.dumps(
            {
                "username": "alice",
                "accounts": [{"id": 501, "name": "DEMO501", "cash": 1000}],
                "prices": {"NQ": 19000},
                "faults": {"latency_ms": 10},
            }
        )
    )
    config = SimConfig.from_json_file(path)
    assert config.username == "alice"
    assert [a.id for a in config.accounts] == [501]
    assert str(config.prices["NQ"]) == "19000"
    assert str(config.prices["ES"]) == "6000.00"
    assert config.faults.latency_ms == 10
    path.write_text(json.dumps({"usernme": "typo"}))
    with pytest.raises(ValueError, match="usernme"):
        SimConfig.from_json_file(path)


def test_server_with_non_loopback_host_is_refused() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SimulatorServer(host="0.0.0.0")


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1", True), ("127.5.5.5", True), ("::1", True), ("10.0.0.1", False), (None, False)],
)
def test_is_loopback_with_peer_address_accepts_only_loopback(address: Any, expected: bool) -> None:
    assert is_loopback(address) is expected


def test_start_time_with_fixed_date_generates_contracts_for_that_date() -> None:
    config = SimConfig(start_time="2025-07-01T15:00:00Z")
    with SimulatorServer(config) as server, httpx.Client(base_url=server.base_url) as client:
        token = client.post("/auth/accesstokenrequest", json=CREDENTIALS).json()
        assert token["expirationTime"].startswith("2025-07-01T16:30")
        headers = {"Authorization": f"Bearer {token['accessToken']}"}
        hits = client.get("/contract/suggest", params={"t": "ES", "l": 1}, headers=headers)
        assert [c["name"] for c in hits.json()] == ["ESU5"]
