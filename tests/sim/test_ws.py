"""Both WebSockets against reference §4: frames, authorize, heartbeats, sync, events, quotes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websocket

from local.tradovate_sim import SimulatorServer
from tests.sim.conftest import (
    ACCOUNT_ID,
    OTHER_ACCOUNT_ID,
    USER_ID,
    SimSocket,
    front,
    login,
    order,
)

OpenSocket = Callable[[str], SimSocket]


def test_trading_socket_with_connect_sends_open_frame_first(
    sim: SimulatorServer, sockets: OpenSocket
) -> None:
    assert sockets(sim.ws_url).recv_frame() == "o"


@pytest.mark.parametrize("quoted", [False, True])
def test_authorize_with_raw_or_quoted_token_returns_200_without_d(
    sim: SimulatorServer, sockets: OpenSocket, tokens: dict[str, Any], quoted: bool
) -> None:
    sock = sockets(sim.ws_url)
    sock.recv_frame()
    token = tokens["accessToken"]
    request_id = sock.request("authorize", json.dumps(token) if quoted else token)
    frame = sock.recv_frame()
    assert frame == f'a[{{"s":200,"i":{request_id}}}]'


def test_authorize_with_bad_token_returns_401_string(
    sim: SimulatorServer, sockets: OpenSocket
) -> None:
    sock = sockets(sim.ws_url)
    sock.recv_frame()
    reply = sock.call("authorize", "nope")
    assert reply["s"] == 401
    assert isinstance(reply["d"], str)


def test_trading_socket_with_md_token_refuses_authorize(
    sim: SimulatorServer, sockets: OpenSocket, tokens: dict[str, Any]
) -> None:
    sock = sockets(sim.ws_url)
    sock.recv_frame()
    assert sock.call("authorize", tokens["mdAccessToken"])["s"] == 401


def test_request_with_unauthorized_socket_returns_401(
    sim: SimulatorServer, sockets: OpenSocket
) -> None:
    sock = sockets(sim.ws_url)
    sock.recv_frame()
    assert sock.call("account/list")["s"] == 401


def test_request_with_query_line_returns_rest_payload(trading: SimSocket) -> None:
    reply = trading.call("contract/suggest", query="t=NQ&l=2")
    assert reply["s"] == 200
    assert [c["name"][:2] for c in reply["d"]] == ["NQ", "NQ"]


@pytest.mark.parametrize(
    ("endpoint", "body", "query", "status"),
    [
        ("/account/list", None, "", 404),
        ("order/placeorder", "{'accountId': 10001}", "", 400),
        ("contract/find", None, '{"name":"NQZ6"}', 400),
    ],
)
def test_request_with_common_formatting_mistake_returns_error_string(
    trading: SimSocket, endpoint: str, body: str | None, query: str, status: int
) -> None:
    reply = trading.call(endpoint, body, query)
    assert reply["s"] == status
    assert isinstance(reply["d"], str)


def test_sync_request_with_user_returns_full_snapshot(trading: SimSocket) -> None:
    reply = trading.call("user/syncrequest", {"users": [USER_ID]})
    snapshot = reply["d"]
    for key in (
        "users",
        "accounts",
        "accountRiskStatuses",
        "cashBalances",
        "positions",
        "fillPairs",
        "orders",
        "contracts",
        "contractMaturities",
        "products",
        "commands",
        "commandReports",
        "executionReports",
        "orderVersions",
        "fills",
    ):
        assert isinstance(snapshot[key], list)
    assert [a["id"] for a in snapshot["accounts"]] == [ACCOUNT_ID, OTHER_ACCOUNT_ID]


def test_place_order_with_synced_socket_batches_props_events_in_one_frame(
    trading: SimSocket, api: httpx.Client
) -> None:
    nq = front(api, "NQ")
    order_id = api.post("/order/placeorder", json=order(nq["name"])).json()["orderId"]
    frame = trading.recv_frame()
    messages = json.loads(frame[1:])
    assert frame.startswith("a[")
    assert len(messages) > 5
    assert all(m["e"] == "props" for m in messages)
    kinds = [(m["d"]["entityType"], m["d"]["eventType"]) for m in messages]
    for expected in [
        ("order", "Created"),
        ("command", "Created"),
        ("orderVersion", "Created"),
        ("commandReport", "Created"),
        ("executionReport", "Created"),
        ("fill", "Created"),
        ("order", "Updated"),
        ("position", "Created"),
    ]:
        assert expected in kinds
    assert messages[0]["d"]["entity"]["id"] == order_id
    assert messages[0]["d"]["entity"]["ordStatus"] == "PendingNew"


def test_props_with_closing_fill_include_cash_balance_update(
    sim: SimulatorServer, trading: SimSocket, api: httpx.Client
) -> None:
    nq = front(api, "NQ")
    api.post("/order/placeorder", json=order(nq["name"]))
    sim.set_price(nq["name"], "21001")
    api.post("/order/placeorder", json=order(nq["name"], "Sell"))
    event = trading.event("props", entityType="cashBalance")
    assert event["d"]["eventType"] == "Updated"
    assert event["d"]["entity"]["realizedPnL"] == 20


def test_props_with_other_account_synced_are_not_delivered(
    sim: SimulatorServer, sockets: OpenSocket, tokens: dict[str, Any], api: httpx.Client
) -> None:
    sock = sockets(sim.ws_url)
    sock.open_and_authorize(tokens["accessToken"])
    assert sock.call("user/syncrequest", {"accounts": [OTHER_ACCOUNT_ID]})["s"] == 200
    nq = front(api, "NQ")
    api.post("/order/placeorder", json=order(nq["name"]))
    api.post(
        "/order/placeorder",
        json=order(nq["name"], accountId=OTHER_ACCOUNT_ID, accountSpec="DEMO10002"),
    )
    event = sock.event("props", entityType="order")
    assert event["d"]["entity"]["accountId"] == OTHER_ACCOUNT_ID


def test_props_with_ws_placed_order_follow_the_response(
    trading: SimSocket, api: httpx.Client
) -> None:
    nq = front(api, "NQ")
    request_id = trading.request("order/placeorder", order(nq["name"]))
    first = json.loads(trading.recv_frame()[1:])
    assert first[0]["i"] == request_id
    assert "orderId" in first[0]["d"]
    assert trading.event("props", entityType="fill")["d"]["eventType"] == "Created"


def test_idle_socket_with_short_server_heartbeat_receives_h_frames(
    sim: SimulatorServer, sockets: OpenSocket
) -> None:
    sim.configure(server_heartbeat_s=0.2)
    sock = sockets(sim.ws_url)
    assert sock.recv_frame() == "o"
    assert sock.recv_frame(timeout_s=2) == "h"


def _seconds_until_cut(sock: SimSocket, limit_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        try:
            sock.recv_frame(timeout_s=1)
            sock.call("account/list")  # requests do not count as heartbeats
        except (websocket.WebSocketConnectionClosedException, OSError):
            return time.monotonic() - started
    raise AssertionError("the socket was never cut")


def test_socket_with_silent_client_is_cut(
    sim: SimulatorServer, sockets: OpenSocket, tokens: dict[str, Any]
) -> None:
    # 1.5 s, not 0.6 s: opening and authorizing must finish inside it on a busy machine too.
    sim.configure(heartbeat_timeout_s=1.5, server_heartbeat_s=0.1)
    sock = sockets(sim.ws_url)
    sock.open_and_authorize(tokens["accessToken"])
    assert _seconds_until_cut(sock, limit_s=10) < 6


def test_socket_with_client_heartbeats_stays_open(
    sim: SimulatorServer, sockets: OpenSocket, tokens: dict[str, Any]
) -> None:
    # Heartbeats every 0.25 s for 2.5 s outlive a 2 s timeout; a 0.6 s one left a busy machine
    # only 0.35 s of slack per beat (and the authorize round trip had to fit in it).
    sim.configure(heartbeat_timeout_s=2.0)
    sock = sockets(sim.ws_url)
    sock.open_and_authorize(tokens["accessToken"])
    for _ in range(10):
        sock.heartbeat()
        time.sleep(0.25)
    assert sock.call("account/list")["s"] == 200
    assert sim.stats()["heartbeats"] >= 10


def test_socket_with_no_authorize_is_closed_after_timeout(
    sim: SimulatorServer, sockets: OpenSocket
) -> None:
    # 1 s, not 0.3 s: the heartbeat below must reach the socket before it is closed.
    sim.configure(authorize_timeout_s=1.0)
    sock = sockets(sim.ws_url)
    sock.recv_frame()
    sock.heartbeat()
    closing = sock.recv_frame(timeout_s=3)
    assert closing.startswith("c[")
    assert json.loads(closing[1:])[1] == "Authorization timeout"


def test_shutdown_with_close_sends_event_then_close_frame(
    sim: SimulatorServer, trading: SimSocket
) -> None:
    assert sim.send_shutdown("Maintenance", "Weekly restart")["sockets"] == 1
    event = trading.event("shutdown")
    assert event["d"] == {"reasonCode": "Maintenance", "reason": "Weekly restart"}
    close = trading.recv_frame()
    code, reason = json.loads(close[1:])
    assert close.startswith("c[")
    assert isinstance(code, int)
    assert reason == "Weekly restart"


def test_login_with_session_limit_exceeded_closes_oldest_socket_with_shutdown(
    trading: SimSocket, http: httpx.Client
) -> None:
    login(http)
    login(http)
    event = trading.event("shutdown")
    assert event["d"]["reasonCode"] == "ConnectionQuotaReached"


def test_token_expiry_with_ws_closes_configured_closes_socket(
    sim: SimulatorServer, trading: SimSocket
) -> None:
    sim.configure(ws_closes_on_token_expiry=True)
    sim.advance_clock(90 * 60 + 1)
    frame = trading.recv_frame(timeout_s=3)
    while not frame.startswith("c["):
        frame = trading.recv_frame(timeout_s=3)
    assert "expired" in frame


def test_token_expiry_with_default_config_keeps_socket_usable(
    sim: SimulatorServer, trading: SimSocket
) -> None:
    sim.advance_clock(90 * 60 + 1)
    assert trading.call("account/list")["s"] == 200


@pytest.mark.parametrize("token_key", ["accessToken", "mdAccessToken"])
def test_md_subscribe_quote_with_name_sends_quote_keyed_by_contract_id(
    sim: SimulatorServer,
    sockets: OpenSocket,
    tokens: dict[str, Any],
    api: httpx.Client,
    token_key: str,
) -> None:
    nq = front(api, "NQ")
    md = sockets(sim.md_ws_url)
    md.open_and_authorize(tokens[token_key])
    reply = md.call("md/subscribeQuote", {"symbol": nq["name"]})
    assert reply["s"] == 200
    quote = md.event("md")["d"]["quotes"][0]
    assert quote["contractId"] == nq["id"]
    assert "symbol" not in quote
    entries = quote["entries"]
    assert entries["Trade"]["price"] == 21000
    assert entries["Bid"]["price"] < entries["Offer"]["price"]
    for name in (
        "TotalTradeVolume",
        "OpenInterest",
        "OpeningPrice",
        "HighPrice",
        "LowPrice",
        "SettlementPrice",
    ):
        assert name in entries


def test_md_quote_with_price_move_sends_update_and_unsubscribe_stops_it(
    sim: SimulatorServer, sockets: OpenSocket, tokens: dict[str, Any], api: httpx.Client
) -> None:
    nq = front(api, "NQ")
    md = sockets(sim.md_ws_url)
    md.open_and_authorize(tokens["accessToken"])
    md.call("md/subscribequote", {"symbol": nq["id"]})
    md.event("md")
    sim.set_price(nq["id"], "21010.25")
    assert md.event("md")["d"]["quotes"][0]["entries"]["Trade"]["price"] == 21010.25
    assert md.call("md/unsubscribeQuote", {"symbol": nq["id"]})["s"] == 200
    sim.set_price(nq["id"], "21011")
    with pytest.raises(TimeoutError):
        md.event("md", timeout_s=0.4)


def test_md_subscribe_with_unknown_symbol_returns_error(
    sim: SimulatorServer, sockets: OpenSocket, tokens: dict[str, Any]
) -> None:
    md = sockets(sim.md_ws_url)
    md.open_and_authorize(tokens["accessToken"])
    reply = md.call("md/subscribeQuote", {"symbol": "NOPE"})
    assert reply["s"] == 404
    assert isinstance(reply["d"], str)


def test_trading_socket_with_md_request_returns_404(trading: SimSocket) -> None:
    assert trading.call("md/subscribeQuote", {"symbol": "NQZ6"})["s"] == 404
