"""Authentication against reference §2: token request, renewal, expiry, sessions."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
import pytest

from local.tradovate_sim import SimulatorServer
from tests.sim.conftest import CREDENTIALS, USER_ID, login

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _expiry(body: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(body["expirationTime"]).replace("Z", "+00:00"))


def test_token_request_with_valid_credentials_returns_reference_fields(
    http: httpx.Client,
) -> None:
    response = login(http)
    body = response.json()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    for name in (
        "accessToken",
        "mdAccessToken",
        "expirationTime",
        "userStatus",
        "userId",
        "name",
        "hasLive",
    ):
        assert name in body
    assert "errorText" not in body
    assert body["userId"] == USER_ID
    assert body["name"] == "sim-trader"
    assert body["userStatus"] == "Active"
    assert ISO_UTC.match(body["expirationTime"])
    assert body["accessToken"] != body["mdAccessToken"]


def test_token_request_with_default_lifetime_expires_in_90_minutes(http: httpx.Client) -> None:
    body = login(http).json()
    left = _expiry(body) - datetime.now(_expiry(body).tzinfo)
    assert timedelta(minutes=89) < left <= timedelta(minutes=90)


def test_token_request_with_cid_as_string_succeeds(http: httpx.Client) -> None:
    assert "accessToken" in login(http, cid="8").json()


def test_token_request_with_camel_case_path_succeeds(http: httpx.Client) -> None:
    response = http.post("/auth/accessTokenRequest", json=CREDENTIALS)
    assert "accessToken" in response.json()


@pytest.mark.parametrize(
    "override",
    [
        {"password": "SIM-PASSWORD"},
        {"name": "someone"},
        {"cid": 9},
        {"sec": "wrong"},
        {"sec": None},
    ],
)
def test_token_request_with_bad_credentials_returns_200_error_text(
    http: httpx.Client, override: dict[str, object]
) -> None:
    response = login(http, **override)
    assert response.status_code == 200
    assert response.json() == {
        "errorText": "Incorrect username or password. "
        "Please try again, noting that passwords are case-sensitive."
    }


def test_token_request_with_401_configured_returns_401_error_text(
    sim: SimulatorServer, http: httpx.Client
) -> None:
    sim.configure(bad_credentials_status=401)
    response = login(http, password="nope")
    assert response.status_code == 401
    assert "errorText" in response.json()


def test_token_request_with_repeated_failures_returns_captcha_penalty(
    sim: SimulatorServer, http: httpx.Client
) -> None:
    sim.configure(captcha_after_failed_logins=2)
    login(http, password="x")
    login(http, password="x")
    penalty = login(http).json()
    assert penalty["p-captcha"] is True
    assert "p-ticket" in penalty
    assert "accessToken" not in penalty
    retry = login(http, **{"p-ticket": penalty["p-ticket"]}).json()
    assert retry.get("p-captcha") is True
    sim.advance_clock(3601)
    assert "accessToken" in login(http).json()


def test_renew_with_valid_token_returns_new_token_with_later_expiry(
    sim: SimulatorServer, http: httpx.Client, tokens: dict[str, object]
) -> None:
    sim.advance_clock(60)
    headers = {"Authorization": f"Bearer {tokens['accessToken']}"}
    renewed = http.get("/auth/renewaccesstoken", headers=headers).json()
    assert renewed["accessToken"] != tokens["accessToken"]
    assert _expiry(renewed) > _expiry(tokens)
    new_headers = {"Authorization": f"Bearer {renewed['accessToken']}"}
    assert http.get("/account/list", headers=new_headers).status_code == 200
    # The old token stays valid by default (UNCONFIRMED; configurable).
    assert http.get("/account/list", headers=headers).status_code == 200
    assert len(sim.state()["sessions"]) == 1


def test_renew_with_invalidation_configured_refuses_old_token(
    sim: SimulatorServer, http: httpx.Client
) -> None:
    sim.configure(renew_invalidates_old_token=True)
    old = login(http).json()["accessToken"]
    headers = {"Authorization": f"Bearer {old}"}
    assert http.post("/auth/renewAccessToken", headers=headers).status_code == 200
    assert http.get("/account/list", headers=headers).status_code == 401


def test_rest_with_expired_token_returns_401(
    sim: SimulatorServer, http: httpx.Client, tokens: dict[str, object]
) -> None:
    headers = {"Authorization": f"Bearer {tokens['accessToken']}"}
    sim.advance_clock(90 * 60 + 1)
    assert http.get("/account/list", headers=headers).status_code == 401
    assert http.get("/auth/renewaccesstoken", headers=headers).status_code == 401


def test_rest_with_expired_token_and_400_configured_returns_400(
    sim: SimulatorServer, http: httpx.Client
) -> None:
    sim.configure(expired_token_status=400, token_lifetime_s=5)
    token = login(http).json()["accessToken"]
    sim.advance_clock(6)
    response = http.get("/account/list", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400


def test_token_lifetime_with_config_sets_expiration_time(
    sim: SimulatorServer, http: httpx.Client
) -> None:
    sim.configure(token_lifetime_s=80 * 60)
    body = login(http).json()
    left = _expiry(body) - datetime.now(_expiry(body).tzinfo)
    assert timedelta(minutes=79) < left <= timedelta(minutes=80)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Bearer $token"}],
)
def test_rest_with_missing_or_bad_bearer_returns_401(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    assert http.get("/account/list", headers=headers).status_code == 401


def test_rest_with_md_token_returns_401(http: httpx.Client, tokens: dict[str, object]) -> None:
    headers = {"Authorization": f"Bearer {tokens['mdAccessToken']}"}
    assert http.get("/account/list", headers=headers).status_code == 401


def test_token_request_with_third_login_revokes_oldest_session(http: httpx.Client) -> None:
    first, second, third = (login(http).json()["accessToken"] for _ in range(3))
    statuses = [
        http.get("/account/list", headers={"Authorization": f"Bearer {t}"}).status_code
        for t in (first, second, third)
    ]
    assert statuses == [401, 200, 200]


def test_me_with_token_returns_user(api: httpx.Client) -> None:
    body = api.get("/auth/me").json()
    assert body["userId"] == USER_ID
    assert body["name"] == "sim-trader"
    assert {"fullName", "email", "emailVerified", "isTrial"} <= set(body)
