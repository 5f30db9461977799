"""The HTTP core: headers, penalties, throttling, transient retries and what is never repeated."""

from __future__ import annotations

import json
import logging

import pytest

from shared.adapters.tradovate.errors import CaptchaRequired, PenaltyTooLong, RateLimited
from shared.domain.errors import BrokerRejected, TransientBrokerError
from tests.adapters.tradovate.helpers import (
    BrokerRouter,
    FakeTime,
    broken,
    fixture,
    make_http,
    not_connected,
    timed_out,
)

BODY = {"accountId": 10001, "clOrdId": "tb-1", "action": "Buy", "symbol": "NQZ4",
        "orderQty": 1, "orderType": "Market", "isAutomated": True}  # fmt: skip


async def test_call_with_body_posts_json_with_bearer_and_content_type() -> None:
    router = BrokerRouter().on("order/placeorder", (200, {"orderId": 1}))
    http = make_http(router)
    assert await http.call("order/placeorder", token="tok", body=BODY, idempotent=False) == {
        "orderId": 1
    }
    (request,) = router.requests
    assert request.method == "POST"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == BODY
    await http.aclose()


async def test_call_without_body_gets_with_query_and_no_auth_header_when_tokenless() -> None:
    router = BrokerRouter().on("contract/suggest", (200, []))
    http = make_http(router)
    await http.call("contract/suggest", token=None, params={"t": "ES", "l": 10}, idempotent=True)
    (request,) = router.requests
    assert request.method == "GET"
    assert dict(request.url.params) == {"t": "ES", "l": "10"}
    assert "Authorization" not in request.headers
    await http.aclose()


async def test_call_with_p_ticket_waits_p_time_and_resends_identical_body_plus_ticket() -> None:
    router = BrokerRouter().on(
        "order/placeorder", (200, fixture("p_ticket.json")), (200, {"orderId": 7})
    )
    time = FakeTime()
    http = make_http(router, time)
    assert await http.call("order/placeorder", token="t", body=BODY, idempotent=False) == {
        "orderId": 7
    }
    first, second = router.bodies("order/placeorder")
    assert first == BODY
    assert second == {**BODY, "p-ticket": "9a7b2c1e-penalty-ticket"}
    assert time.sleeps == [2.0]
    await http.aclose()


async def test_call_with_p_ticket_on_get_resends_same_get_with_ticket_in_query() -> None:
    router = BrokerRouter().on("account/list", (200, {"p-ticket": "tk", "p-time": 1}), (200, []))
    http = make_http(router)
    await http.call("account/list", token="t", params={"x": 1}, idempotent=True)
    second = router.requests[1]
    assert second.method == "GET"
    assert second.content == b""
    assert dict(second.url.params) == {"x": "1", "p-ticket": "tk"}
    await http.aclose()


async def test_call_with_p_captcha_stops_without_resending() -> None:
    router = BrokerRouter().on("auth/accesstokenrequest", (200, fixture("p_captcha.json")))
    http = make_http(router, captcha_backoff_s=3600.0)
    with pytest.raises(CaptchaRequired) as info:
        await http.call("auth/accesstokenrequest", token=None, body={"name": "x"}, idempotent=False)
    assert info.value.retry_after_s == 3600.0
    assert router.count("auth/accesstokenrequest") == 1
    await http.aclose()


async def test_call_with_p_time_above_limit_raises_penalty_too_long_without_waiting() -> None:
    router = BrokerRouter().on("order/placeorder", (200, {"p-ticket": "t", "p-time": 300}))
    time = FakeTime()
    http = make_http(router, time, max_penalty_wait_s=30.0)
    with pytest.raises(PenaltyTooLong) as info:
        await http.call("order/placeorder", token="t", body=BODY, idempotent=False)
    assert info.value.wait_s == 300.0
    assert time.sleeps == []
    await http.aclose()


async def test_call_with_endless_p_tickets_gives_up_after_max_penalties() -> None:
    router = BrokerRouter().on("order/placeorder", (200, {"p-ticket": "t", "p-time": 1}))
    http = make_http(router, max_penalties=3)
    with pytest.raises(PenaltyTooLong):
        await http.call("order/placeorder", token="t", body=BODY, idempotent=False)
    assert router.count("order/placeorder") == 4
    await http.aclose()


async def test_call_with_429_then_success_backs_off_exponentially_and_succeeds() -> None:
    router = BrokerRouter().on(
        "order/placeorder", (429, None), (423, None), (429, None), (200, {"orderId": 3})
    )
    time = FakeTime()
    http = make_http(router, time)
    assert await http.call("order/placeorder", token="t", body=BODY, idempotent=False) == {
        "orderId": 3
    }
    assert time.sleeps == [0.25, 0.5, 1.0]  # rng=1.0: the full ceiling each time
    assert router.bodies("order/placeorder") == [BODY] * 4
    await http.aclose()


async def test_call_with_429_beyond_budget_raises_rate_limited_with_bounded_attempts() -> None:
    router = BrokerRouter().on("position/list", (429, None))
    time = FakeTime()
    http = make_http(router, time, retry_budget_s=5.0)
    with pytest.raises(RateLimited):
        await http.call("position/list", token="t", idempotent=True)
    # 0.25 + 0.5 + 1 + 2 = 3.75 s spent; the next 4 s wait would pass the 5 s budget.
    assert router.count("position/list") == 5
    assert sum(time.sleeps) <= 5.0
    await http.aclose()


async def test_call_after_429_makes_other_requests_wait_for_the_throttle() -> None:
    router = BrokerRouter().on("a/list", (429, None), (200, []))
    router.on("b/list", (200, []))
    time = FakeTime()
    http = make_http(router, time)
    await http.call("a/list", token="t", idempotent=True)
    time.sleeps.clear()
    time.now -= 0.2  # pretend b starts while a's back-off window is still open
    await http.call("b/list", token="t", idempotent=True)
    assert time.sleeps
    assert time.sleeps[0] == pytest.approx(0.2)
    await http.aclose()


async def test_call_with_5xx_on_read_retries_then_succeeds() -> None:
    router = BrokerRouter().on(
        "order/list", (503, None), (500, "Internal Server Error, id 9"), (200, [])
    )
    http = make_http(router)
    assert await http.call("order/list", token="t", idempotent=True) == []
    assert router.count("order/list") == 3
    await http.aclose()


async def test_call_with_5xx_on_write_raises_transient_after_one_attempt() -> None:
    router = BrokerRouter().on("order/placeorder", (500, "Internal Server Error"))
    http = make_http(router)
    with pytest.raises(TransientBrokerError) as info:
        await http.call("order/placeorder", token="t", body=BODY, idempotent=False)
    assert info.value.code == "broker_server_error"
    assert router.count("order/placeorder") == 1
    await http.aclose()


async def test_call_with_read_timeout_on_write_raises_timeout_after_one_attempt() -> None:
    router = BrokerRouter().on("order/placeorder", timed_out())
    http = make_http(router)
    with pytest.raises(TransientBrokerError) as info:
        await http.call("order/placeorder", token="t", body=BODY, idempotent=False)
    assert info.value.code == "broker_timeout"
    assert router.count("order/placeorder") == 1
    await http.aclose()


async def test_call_with_connect_error_on_write_retries_because_nothing_was_sent() -> None:
    router = BrokerRouter().on("order/placeorder", not_connected(), (200, {"orderId": 1}))
    http = make_http(router)
    assert await http.call("order/placeorder", token="t", body=BODY, idempotent=False) == {
        "orderId": 1
    }
    await http.aclose()


async def test_call_with_dropped_connection_on_write_raises_transport_error() -> None:
    router = BrokerRouter().on("order/placeorder", broken())
    http = make_http(router)
    with pytest.raises(TransientBrokerError) as info:
        await http.call("order/placeorder", token="t", body=BODY, idempotent=False)
    assert info.value.code == "broker_transport_error"
    await http.aclose()


async def test_call_with_failure_reason_raises_rejected_and_is_not_retried() -> None:
    router = BrokerRouter().on("order/placeorder", (200, fixture("place_order_rejected.json")))
    http = make_http(router)
    with pytest.raises(BrokerRejected) as info:
        await http.call("order/placeorder", token="t", body=BODY, idempotent=False)
    assert info.value.code == "UnknownReason"
    assert router.count("order/placeorder") == 1
    await http.aclose()


async def test_call_with_retries_logs_neither_token_nor_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    router = BrokerRouter().on(
        "auth/accesstokenrequest", (429, None), (200, {"p-ticket": "x", "p-time": 1}), (200, {})
    )
    http = make_http(router)
    await http.call(
        "auth/accesstokenrequest",
        token="SECRET-TOKEN-VALUE",
        body={"password": "SECRET-PASSWORD"},
        idempotent=False,
    )
    text = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert "SECRET-TOKEN-VALUE" not in text
    assert "SECRET-PASSWORD" not in text
    assert any("throttled" in r.message for r in caplog.records)
    assert any("penalty" in r.message for r in caplog.records)
    await http.aclose()
