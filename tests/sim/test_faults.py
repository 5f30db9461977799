"""Fault injection: latency, 5xx, 429/423, p-ticket penalties, dropped sockets, revocation."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websocket

from local.tradovate_sim import FaultConfig, SimConfig, SimulatorServer
from tests.sim.conftest import CREDENTIALS, SimSocket, front, order

OpenSocket = Callable[[str], SimSocket]


def _orders(api: httpx.Client) -> list[Any]:
    return list(api.get("/order/list").json())


def test_latency_with_injected_delay_slows_matching_endpoint_only(
    sim: SimulatorServer, api: httpx.Client
) -> None:
    # A lower bound holds on any machine; the upper bound for the other endpoint is half the
    # injected delay, so a busy machine (both cores taken) does not fail it (it was 0.2 s).
    sim.inject(latency_ms=2000, latency_endpoint="account/*")
    started = time.monotonic()
    assert api.get("/account/list").status_code == 200
    slow = time.monotonic() - started
    started = time.monotonic()
    api.get("/product/find", params={"name": "ES"})
    assert slow >= 2.0
    assert time.monotonic() - started < 1.0


def test_fail_next_with_before_mode_returns_500_and_does_nothing(
    sim: SimulatorServer, api: httpx.Client
) -> None:
    nq = front(api, "NQ")
    sim.inject(fail_next=1, error_endpoint="order/*")
    response = api.post("/order/placeorder", json=order(nq["name"]))
    assert response.status_code == 500
    assert response.text.startswith("Internal Server Error, error id:")
    assert _orders(api) == []
    assert "orderId" in api.post("/order/placeorder", json=order(nq["name"])).json()


def test_fail_next_with_after_mode_returns_500_but_places_order(
    sim: SimulatorServer, api: httpx.Client
) -> None:
    nq = front(api, "NQ")
    sim.inject(fail_next=1, error_mode="after", error_status=504, error_endpoint="order/*")
    response = api.post("/order/placeorder", json=order(nq["name"], clOrdId="retry-me"))
    assert response.status_code == 504
    assert len(_orders(api)) == 1
    commands = api.get("/command/list").json()
    assert [c["clOrdId"] for c in commands if "clOrdId" in c] == ["retry-me"]


def test_error_rate_with_one_fails_every_request(sim: SimulatorServer, api: httpx.Client) -> None:
    sim.inject(error_rate=1.0, error_status=503)
    assert {api.get("/account/list").status_code for _ in range(3)} == {503}
    sim.clear_faults()
    assert api.get("/account/list").status_code == 200


@pytest.mark.parametrize("status", [429, 423])
def test_throttle_with_burst_returns_empty_body_then_recovers(
    sim: SimulatorServer, api: httpx.Client, status: int
) -> None:
    sim.inject(throttle_next=2, throttle_status=status)
    first, second, third = (api.get("/account/list") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (status, status, 200)
    assert first.content == b""
    assert first.headers["content-length"] == "0"


def test_lockout_with_duration_throttles_until_time_passes(
    sim: SimulatorServer, api: httpx.Client
) -> None:
    sim.inject(lockout_s=600)
    assert api.get("/account/list").status_code == 429
    sim.advance_clock(601)
    assert api.get("/account/list").status_code == 200


def test_pticket_with_resend_after_wait_processes_request(
    sim: SimulatorServer, api: httpx.Client
) -> None:
    nq = front(api, "NQ")
    sim.inject(pticket_next=1, pticket_time_s=5.0, pticket_endpoint="order/placeorder")
    body = order(nq["name"])
    penalty = api.post("/order/placeorder", json=body)
    assert penalty.status_code == 200
    assert set(penalty.json()) == {"p-ticket", "p-time"}
    assert penalty.json()["p-time"] == 5
    assert _orders(api) == []
    ticket = penalty.json()["p-ticket"]
    early = api.post("/order/placeorder", json={**body, "p-ticket": ticket}).json()
    assert early["p-ticket"] == ticket
    assert 0 < early["p-time"] <= 5
    sim.advance_clock(5)
    done = api.post("/order/placeorder", json={**body, "p-ticket": ticket}).json()
    assert "orderId" in done
    assert len(_orders(api)) == 1


def test_pticket_with_captcha_never_clears(sim: SimulatorServer, http: httpx.Client) -> None:
    sim.inject(pticket_next=1, pticket_captcha=True, pticket_endpoint="auth/accesstokenrequest")
    penalty = http.post("/auth/accesstokenrequest", json=CREDENTIALS).json()
    assert penalty["p-captcha"] is True
    sim.advance_clock(120)
    retry = {**CREDENTIALS, "p-ticket": penalty["p-ticket"]}
    assert http.post("/auth/accesstokenrequest", json=retry).json()["p-captcha"] is True


def test_pticket_over_websocket_with_resend_succeeds(
    sim: SimulatorServer, trading: SimSocket
) -> None:
    sim.inject(pticket_next=1, pticket_time_s=0.2, pticket_endpoint="contract/suggest")
    penalty = trading.call("contract/suggest", query="t=ES&l=1")
    assert penalty["s"] == 200
    assert "p-ticket" in penalty["d"]
    time.sleep(0.25)
    retry = trading.call("contract/suggest", {"p-ticket": penalty["d"]["p-ticket"]}, "t=ES&l=1")
    assert retry["s"] == 200
    assert retry["d"][0]["name"].startswith("ES")


def test_throttle_with_websocket_request_returns_429_without_d(
    sim: SimulatorServer, trading: SimSocket
) -> None:
    sim.inject(throttle_next=1)
    request_id = trading.request("account/list")
    assert trading.response(request_id) == {"s": 429, "i": request_id}


def test_drop_next_connection_with_one_cuts_only_the_next_socket(
    sim: SimulatorServer, sockets: OpenSocket
) -> None:
    sim.inject(drop_next_connections=1)
    dropped = sockets(sim.ws_url)
    assert dropped.recv_frame() == "o"
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        dropped.recv_frame(timeout_s=2)
    assert sockets(sim.ws_url).recv_frame() == "o"


def test_drop_sockets_with_all_cuts_every_socket_without_close_frame(
    sim: SimulatorServer, trading: SimSocket, sockets: OpenSocket, tokens: dict[str, Any]
) -> None:
    md = sockets(sim.md_ws_url)
    md.open_and_authorize(tokens["accessToken"])
    assert sim.drop_sockets()["dropped"] == 2
    for sock in (trading, md):
        with pytest.raises(websocket.WebSocketConnectionClosedException):
            sock.recv_frame(timeout_s=2)
        assert not any(frame.startswith("c[") for frame in sock.frames)


def test_revoke_tokens_with_live_socket_refuses_rest_and_closes_socket(
    sim: SimulatorServer, api: httpx.Client, trading: SimSocket
) -> None:
    result = sim.revoke_tokens()
    assert result["sockets"] == 1
    assert api.get("/account/list").status_code == 401
    frame = trading.recv_frame(timeout_s=2)
    while not frame.startswith("c["):
        frame = trading.recv_frame(timeout_s=2)
    assert "revoked" in frame


def test_faults_with_start_config_apply_from_first_request() -> None:
    config = SimConfig(faults=FaultConfig(throttle_next=1))
    with SimulatorServer(config) as server, httpx.Client(base_url=server.base_url) as client:
        assert client.post("/auth/accesstokenrequest", json=CREDENTIALS).status_code == 429
        assert client.post("/auth/accesstokenrequest", json=CREDENTIALS).status_code == 200


def test_inject_with_unknown_fault_name_is_refused(sim: SimulatorServer) -> None:
    with pytest.raises(RuntimeError, match="unknown fault"):
        sim.inject(explode=True)


def test_stats_with_faults_count_injected_outcomes(sim: SimulatorServer, api: httpx.Client) -> None:
    sim.inject(throttle_next=1, fail_next=1)
    api.get("/account/list")
    api.get("/account/list")
    stats = sim.stats()
    assert stats["faults"] == {"429": 1, "500": 1}
    assert stats["requests"]["account/list"] == 2


def test_pticket_with_budget_of_two_penalizes_two_requests_not_resends(
    sim: SimulatorServer, api: httpx.Client
) -> None:
    sim.inject(pticket_next=2, pticket_time_s=0.5, pticket_endpoint="account/list")
    first = api.get("/account/list").json()
    sim.advance_clock(1)
    assert len(api.post("/account/list", json={"p-ticket": first["p-ticket"]}).json()) == 2
    assert "p-ticket" in api.get("/account/list").json()
    assert len(api.get("/account/list").json()) == 2
