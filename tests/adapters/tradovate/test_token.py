"""The shared token manager against a real Redis: reuse, one renewal, one login, captcha stop."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from shared.adapters.tradovate.auth import Credentials, SessionToken, TradovateAuth
from shared.adapters.tradovate.errors import CaptchaRequired, InvalidCredentials, TokenRejected
from shared.adapters.tradovate.token import TokenManager, TokenPolicy, namespace_for
from shared.domain.clock import SystemClock
from tests.adapters.tradovate.helpers import BASE_URL, BrokerRouter, fixture, make_http

NAMESPACE = namespace_for(BASE_URL, "sim-trader")
CREDENTIALS = Credentials(
    name="sim-trader",
    password=SecretStr("sim-password"),
    app_id="Tradebridge",
    app_version="0.1.0",
    cid="8",
    sec=SecretStr("sim-api-secret"),
    device_id="tests",
)


def _issued(prefix: str, minutes: float = 80) -> Callable[[httpx.Request], Any]:
    """Answer token requests with a new token each time, after a short delay."""
    counter = itertools.count(1)

    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)  # long enough for every concurrent caller to pile up
        expiry = datetime.now(UTC) + timedelta(minutes=minutes)
        return httpx.Response(
            200,
            json={
                "accessToken": f"{prefix}-token-{next(counter):04d}-xxxxxxxxxxxx",
                "expirationTime": expiry.isoformat().replace("+00:00", "Z"),
                "userId": 2390,
                "name": "sim-trader",
            },
        )

    return answer  # type: ignore[return-value]


def _stored(value: str, minutes: float) -> SessionToken:
    return SessionToken(
        access_token=value,
        expires_at=datetime.now(UTC) + timedelta(minutes=minutes),
        user_id=2390,
        user_name="sim-trader",
    )


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[list[Redis]]:
    """Four independent Redis connections, as four processes would have."""
    made = [Redis.from_url(redis_url) for _ in range(4)]
    yield made
    for client in made:
        await client.aclose()


def _manager(redis: Redis, router: BrokerRouter, **policy: Any) -> TokenManager:
    http = make_http(router)
    return TokenManager(
        redis,
        TradovateAuth(http, CREDENTIALS),
        namespace=NAMESPACE,
        clock=SystemClock(),
        policy=TokenPolicy(**policy),
    )


async def _seed(redis: Redis, token: SessionToken) -> None:
    await redis.set(
        f"{NAMESPACE}:token", token.to_json(), px=int(token.seconds_left(datetime.now(UTC)) * 1000)
    )


async def test_current_with_valid_shared_token_reuses_it_without_any_request(
    clients: list[Redis],
) -> None:
    await _seed(clients[0], _stored("shared-token-valid-000000", 60))
    router = BrokerRouter()
    token = await _manager(clients[1], router).current()
    assert token.access_token == "shared-token-valid-000000"
    assert router.requests == []


async def test_current_with_no_token_logs_in_once_and_other_process_reuses_it(
    clients: list[Redis],
) -> None:
    router = BrokerRouter().on(
        "auth/accesstokenrequest", (200, fixture("access_token_response.json"))
    )
    first = await _manager(clients[0], router).current()
    second = await _manager(clients[1], router).current()
    assert first.access_token == second.access_token
    assert router.count("auth/accesstokenrequest") == 1
    (body,) = router.bodies("auth/accesstokenrequest")
    assert body == {
        "name": "sim-trader", "password": "sim-password", "appId": "Tradebridge",
        "appVersion": "0.1.0", "cid": 8, "sec": "sim-api-secret", "deviceId": "tests",
    }  # fmt: skip
    ttl_ms = await clients[2].pttl(f"{NAMESPACE}:token")
    assert ttl_ms > 0


async def test_current_with_1000_concurrent_callers_near_expiry_renews_exactly_once(
    clients: list[Redis],
) -> None:
    await _seed(clients[0], _stored("old-token-near-expiry-0000", 5))  # inside the 15 min margin
    router = (
        BrokerRouter()
        .on("auth/renewaccesstoken", _issued("renewed"))
        .on("auth/accesstokenrequest", _issued("login"))
    )
    managers = [_manager(c, router) for c in clients]
    results = await asyncio.gather(*(managers[i % 4].current() for i in range(1000)))
    assert router.count("auth/renewaccesstoken") == 1
    assert router.count("auth/accesstokenrequest") == 0
    assert {t.access_token for t in results} <= {
        "old-token-near-expiry-0000",
        "renewed-token-0001-xxxxxxxxxxxx",
    }
    assert router.sent("auth/renewaccesstoken")[0].headers["Authorization"] == (
        "Bearer old-token-near-expiry-0000"
    )
    after = await asyncio.gather(*(m.current() for m in managers))
    assert {t.access_token for t in after} == {"renewed-token-0001-xxxxxxxxxxxx"}


async def test_current_with_expired_token_and_concurrent_callers_logs_in_once(
    clients: list[Redis],
) -> None:
    router = BrokerRouter().on("auth/accesstokenrequest", _issued("login"))
    managers = [_manager(c, router) for c in clients]
    results = await asyncio.gather(*(managers[i % 4].current() for i in range(400)))
    assert router.count("auth/accesstokenrequest") == 1
    assert router.count("auth/renewaccesstoken") == 0
    assert {t.access_token for t in results} == {"login-token-0001-xxxxxxxxxxxx"}


async def test_current_with_renewal_refused_logs_in_once_and_drops_the_old_token(
    clients: list[Redis],
) -> None:
    await _seed(clients[0], _stored("revoked-token-0000000000", 5))
    router = (
        BrokerRouter()
        .on("auth/renewaccesstoken", (401, None))
        .on("auth/accesstokenrequest", _issued("login"))
    )
    manager = _manager(clients[0], router)
    token = await manager.current()
    assert token.access_token == "login-token-0001-xxxxxxxxxxxx"
    assert (manager.renewals, manager.logins) == (0, 1)
    assert router.count("auth/renewaccesstoken") == 1


async def test_current_with_renewal_failing_transiently_keeps_old_token_and_waits_to_retry(
    clients: list[Redis],
) -> None:
    await _seed(clients[0], _stored("still-valid-token-000000", 5))
    router = BrokerRouter().on("auth/renewaccesstoken", (503, None))
    manager = _manager(clients[0], router, renew_retry_s=60.0)
    first = await manager.current()
    attempts = router.count("auth/renewaccesstoken")
    second = await manager.current()
    assert first.access_token == second.access_token == "still-valid-token-000000"
    assert attempts >= 1
    assert router.count("auth/renewaccesstoken") == attempts  # no new attempt before 60 s
    assert router.count("auth/accesstokenrequest") == 0


async def test_current_with_another_process_holding_the_lock_returns_old_token_at_once(
    clients: list[Redis],
) -> None:
    await _seed(clients[0], _stored("old-but-usable-token-00", 5))
    await clients[0].set(f"{NAMESPACE}:lock", "other-process", px=10_000)
    router = BrokerRouter()
    token = await _manager(clients[1], router).current()
    assert token.access_token == "old-but-usable-token-00"
    assert router.requests == []
    assert await clients[0].get(f"{NAMESPACE}:lock") == b"other-process"


async def test_current_with_no_token_and_lock_held_waits_for_the_owner_to_store_one(
    clients: list[Redis],
) -> None:
    await clients[0].set(f"{NAMESPACE}:lock", "other-process", px=10_000)
    router = BrokerRouter()

    async def owner_finishes() -> None:
        await asyncio.sleep(0.2)
        await _seed(clients[0], _stored("stored-by-owner-token-0", 80))
        await clients[0].delete(f"{NAMESPACE}:lock")

    task = asyncio.create_task(owner_finishes())
    token = await _manager(clients[1], router, poll_s=0.02).current()
    await task
    assert token.access_token == "stored-by-owner-token-0"
    assert router.requests == []


async def test_current_with_captcha_on_login_suspends_every_process(
    clients: list[Redis],
) -> None:
    router = BrokerRouter().on("auth/accesstokenrequest", (200, fixture("p_captcha.json")))
    with pytest.raises(CaptchaRequired):
        await _manager(clients[0], router).current()
    with pytest.raises(CaptchaRequired) as info:
        await _manager(clients[1], router).current()
    assert router.count("auth/accesstokenrequest") == 1  # the second process never asked
    assert info.value.retry_after_s > 3500
    assert 3_500_000 < await clients[2].pttl(f"{NAMESPACE}:captcha") <= 3_600_000


async def test_current_with_bad_credentials_raises_invalid_credentials(
    clients: list[Redis],
) -> None:
    router = BrokerRouter().on(
        "auth/accesstokenrequest", (200, fixture("access_token_bad_credentials.json"))
    )
    with pytest.raises(InvalidCredentials, match="Incorrect username"):
        await _manager(clients[0], router).current()


async def test_token_rejected_with_dead_stored_token_checks_renewal_then_logs_in_once(
    clients: list[Redis],
) -> None:
    await _seed(clients[0], _stored("revoked-by-broker-token", 60))
    router = (
        BrokerRouter()
        .on("auth/renewaccesstoken", (401, None))
        .on("auth/accesstokenrequest", _issued("login"))
    )
    manager = _manager(clients[0], router)
    new = await manager.token_rejected("revoked-by-broker-token")
    assert new.access_token == "login-token-0001-xxxxxxxxxxxx"
    other = await _manager(clients[1], router).current()
    assert other.access_token == new.access_token
    assert router.count("auth/renewaccesstoken") == 1
    assert router.count("auth/accesstokenrequest") == 1


async def test_token_rejected_with_token_that_still_renews_stops_after_one_renewal(
    clients: list[Redis],
) -> None:
    await _seed(clients[0], _stored("alive-but-forbidden-token", 60))
    router = (
        BrokerRouter()
        .on("auth/renewaccesstoken", _issued("renewed"))
        .on("auth/accesstokenrequest", _issued("login"))
    )
    manager = _manager(clients[0], router)
    renewed = await manager.token_rejected("alive-but-forbidden-token")
    assert renewed.access_token == "renewed-token-0001-xxxxxxxxxxxx"
    with pytest.raises(TokenRejected, match="permissions"):
        await _manager(clients[1], router).token_rejected(renewed.access_token)
    assert router.count("auth/renewaccesstoken") == 1
    assert router.count("auth/accesstokenrequest") == 0  # a permission problem is no reason


async def test_token_rejected_with_newer_token_already_shared_uses_it_without_login(
    clients: list[Redis],
) -> None:
    await _seed(clients[0], _stored("newer-token-from-peer-0", 60))
    router = BrokerRouter()
    token = await _manager(clients[1], router).token_rejected("older-token-we-used-000")
    assert token.access_token == "newer-token-from-peer-0"
    assert router.requests == []


async def test_token_manager_logs_with_masked_tokens_only(
    clients: list[Redis], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    router = BrokerRouter().on("auth/accesstokenrequest", _issued("login"))
    token = await _manager(clients[0], router).current()
    text = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert token.access_token not in text
    assert "sim-password" not in text
    assert "xxxx" in text  # the masked form (last four characters) is what is logged
    assert token.access_token not in repr(token)


async def test_current_with_bad_credentials_answered_401_raises_invalid_credentials(
    clients: list[Redis],
) -> None:
    router = BrokerRouter().on("auth/accesstokenrequest", (401, "Incorrect username or password"))
    with pytest.raises(InvalidCredentials):
        await _manager(clients[0], router).current()
