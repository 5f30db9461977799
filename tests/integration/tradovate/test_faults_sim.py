"""Every injected REST fault against the simulator: the client recovers, or stops, correctly."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from local.tradovate_sim import SimulatorServer
from shared.adapters.tradovate.client import TradovateClient
from shared.adapters.tradovate.errors import CaptchaRequired, InvalidCredentials, RateLimited
from shared.adapters.tradovate.token import namespace_for
from shared.config import Settings
from shared.domain.broker import OrderRequest, OrderType, Side
from tests.integration.tradovate.conftest import front_month, requests

pytestmark = pytest.mark.integration


def _orders_with(sim: SimulatorServer, cl_ord_id: str) -> int:
    commands: list[dict[str, Any]] = sim.state()["commands"]
    return sum(1 for c in commands if c.get("clOrdId") == cl_ord_id and c["commandType"] == "New")


async def _order(client: TradovateClient, cl_ord_id: str) -> OrderRequest:
    symbol = await front_month(client.rest, "MES")
    return OrderRequest(10001, symbol, Side.BUY, 1, OrderType.MARKET, cl_ord_id)


@pytest.fixture
async def tight(sim_settings: Settings, redis: Redis) -> AsyncIterator[TradovateClient]:
    """A client with a 1 s request timeout and a 1 s back-off budget."""
    settings = sim_settings.model_copy(
        update={"tradovate_request_timeout_s": 1.0, "tradovate_retry_budget_s": 1.0}
    )
    made = TradovateClient.from_settings(settings, redis)
    yield made
    await made.aclose()


async def test_place_order_with_latency_waits_and_succeeds_once(
    client: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    req = await _order(client, "f-latency")
    tradovate_sim.inject(latency_ms=300.0, latency_endpoint="order/placeorder")
    started = time.monotonic()
    ack = await client.rest.place_order(req)
    assert time.monotonic() - started >= 0.3
    assert not ack.recovered
    assert _orders_with(tradovate_sim, "f-latency") == 1


async def test_place_order_with_latency_beyond_timeout_finds_the_order_instead_of_resending(
    tight: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    req = await _order(tight, "f-slow")
    tradovate_sim.inject(latency_ms=1500.0, latency_endpoint="order/placeorder")
    ack = await tight.rest.place_order(req)
    assert ack.recovered
    assert requests(tradovate_sim, "order/placeorder") == 1
    assert _orders_with(tradovate_sim, "f-slow") == 1


async def test_place_order_with_5xx_before_effect_looks_up_then_places_exactly_once(
    client: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    req = await _order(client, "f-5xx-before")
    tradovate_sim.inject(fail_next=1, error_status=503, error_endpoint="order/placeorder")
    ack = await client.rest.place_order(req)
    assert not ack.recovered
    assert requests(tradovate_sim, "order/placeorder") == 2
    assert requests(tradovate_sim, "command/ldeps") + requests(tradovate_sim, "order/deps") >= 1
    assert _orders_with(tradovate_sim, "f-5xx-before") == 1


async def test_place_order_with_5xx_after_effect_recovers_the_placed_order(
    client: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    req = await _order(client, "f-5xx-after")
    tradovate_sim.inject(
        fail_next=1, error_status=500, error_mode="after", error_endpoint="order/placeorder"
    )
    ack = await client.rest.place_order(req)
    assert ack.recovered
    assert requests(tradovate_sim, "order/placeorder") == 1
    assert _orders_with(tradovate_sim, "f-5xx-after") == 1


async def test_reads_with_5xx_burst_are_retried_until_they_succeed(
    client: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    await client.tokens.current()
    tradovate_sim.inject(fail_next=2, error_status=502, error_endpoint="position/deps")
    assert await client.rest.positions(10001) == ()
    assert requests(tradovate_sim, "position/deps") == 3


@pytest.mark.parametrize("status", [429, 423])
async def test_place_order_with_throttle_burst_backs_off_and_places_once(
    client: TradovateClient, tradovate_sim: SimulatorServer, status: int
) -> None:
    req = await _order(client, f"f-throttle-{status}")
    tradovate_sim.inject(
        throttle_next=2, throttle_status=status, throttle_endpoint="order/placeorder"
    )
    await client.rest.place_order(req)
    assert requests(tradovate_sim, "order/placeorder") == 3
    assert _orders_with(tradovate_sim, f"f-throttle-{status}") == 1


async def test_calls_during_lockout_give_up_within_budget_with_bounded_attempts(
    tight: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    await tight.tokens.current()
    tradovate_sim.inject(lockout_s=60.0, throttle_endpoint="account/list")
    started = time.monotonic()
    with pytest.raises(RateLimited):
        await tight.rest.accounts()
    # Gives up within its retry budget, far short of the 60 s lockout (margin for a busy CI).
    assert time.monotonic() - started < 5.0
    assert requests(tradovate_sim, "account/list") <= 4


async def test_place_order_with_p_ticket_resends_identical_body_with_ticket(
    client: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    req = await _order(client, "f-pticket")
    tradovate_sim.inject(pticket_next=1, pticket_time_s=0.3, pticket_endpoint="order/placeorder")
    await client.rest.place_order(req)
    stats = tradovate_sim.stats()
    assert stats["faults"]["p-ticket-redeemed"] == 1
    assert stats["pticket_body_mismatches"] == 0
    assert _orders_with(tradovate_sim, "f-pticket") == 1


async def test_get_with_p_ticket_resends_it_in_the_query_and_matches(
    client: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    await client.tokens.current()
    tradovate_sim.inject(pticket_next=1, pticket_time_s=0.2, pticket_endpoint="account/list")
    assert len(await client.rest.accounts()) == 2
    stats = tradovate_sim.stats()
    assert stats["faults"]["p-ticket-redeemed"] == 1
    assert stats["pticket_body_mismatches"] == 0


async def test_login_with_p_ticket_waits_and_logs_in_once(
    client: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    tradovate_sim.inject(
        pticket_next=1, pticket_time_s=0.2, pticket_endpoint="auth/accesstokenrequest"
    )
    await client.tokens.current()
    assert tradovate_sim.stats()["logins"] == 1
    assert requests(tradovate_sim, "auth/accesstokenrequest") == 2


async def test_login_with_p_captcha_stops_and_suspends_other_processes(
    client: TradovateClient,
    sim_settings: Settings,
    redis: Redis,
    tradovate_sim: SimulatorServer,
) -> None:
    tradovate_sim.inject(
        pticket_next=1, pticket_captcha=True, pticket_endpoint="auth/accesstokenrequest"
    )
    with pytest.raises(CaptchaRequired):
        await client.tokens.current()
    other = TradovateClient.from_settings(sim_settings, redis)
    with pytest.raises(CaptchaRequired):
        await other.rest.accounts()
    await other.aclose()
    assert requests(tradovate_sim, "auth/accesstokenrequest") == 1
    key = namespace_for(sim_settings.tradovate_base_url, "sim-trader") + ":captcha"
    assert await redis.pttl(key) > 3_000_000


async def test_rest_call_after_token_revocation_logs_in_again_and_succeeds(
    client: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    before = await client.tokens.current()
    tradovate_sim.revoke_tokens()
    assert len(await client.rest.accounts()) == 2
    after = await client.tokens.current()
    assert after.access_token != before.access_token
    assert tradovate_sim.stats()["logins"] == 2


@pytest.mark.parametrize("status", [200, 401])
async def test_login_with_wrong_password_raises_invalid_credentials(
    sim_settings: Settings, redis: Redis, tradovate_sim: SimulatorServer, status: int
) -> None:
    tradovate_sim.configure(bad_credentials_status=status)
    settings = sim_settings.model_copy(update={"tradovate_password": SecretStr("wrong-password")})
    bad = TradovateClient.from_settings(settings, redis)
    with pytest.raises(InvalidCredentials):
        await bad.tokens.current()
    await bad.aclose()
