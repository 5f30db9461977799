"""Test the Redis client builder, the auth-refusal mapping and the identity endpoint's answers.

Nothing here talks to Redis: the builder makes clients without connecting, and LocalIdentity's
``answer`` is the same function its HTTP handler calls. The end-to-end paths (real
redis-server with ACLs, real azure-identity) are in tests/integration/test_redis_entra.py.
"""

from __future__ import annotations

import pytest
from redis.auth.err import RequestTokenErr
from redis.exceptions import (
    AuthenticationError,
    NoPermissionError,
    ResponseError,
)
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)

from local.identity import LocalIdentity
from shared.adapters.redis_connect import RedisOptions, build_async_redis, build_sync_redis
from shared.adapters.redis_errors import REDIS_AUTH_FAILED, redis_unavailable
from shared.domain.errors import ConfigError
from tests.conftest import make_settings

FAKE_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJvaWQiOiJ4In0.c2lnbmF0dXJl"


def test_build_async_redis_with_entra_and_password_in_url_raises_invalid_settings() -> None:
    settings = make_settings(redis_url="rediss://:key@cache:10000", redis_auth="entra")
    with pytest.raises(ConfigError) as caught:
        build_async_redis(settings)
    assert caught.value.code == "invalid_settings"
    assert "key" not in caught.value.message


def test_build_sync_redis_with_entra_and_password_in_url_raises_invalid_settings() -> None:
    settings = make_settings(redis_url="rediss://user:key@cache:10000", redis_auth="entra")
    with pytest.raises(ConfigError):
        build_sync_redis(settings)


async def test_build_async_redis_with_url_auth_keeps_url_credentials_and_no_provider() -> None:
    client = build_async_redis(make_settings(redis_url="redis://u:p@127.0.0.1:1/3"))
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("u", "p", 3)
    assert kwargs.get("credential_provider") is None
    assert kwargs["retry"].get_retries() == 1
    await client.aclose()


async def test_build_async_redis_with_entra_uses_entra_provider_and_timeouts() -> None:
    from redis_entraid.cred_provider import EntraIdCredentialsProvider

    settings = make_settings(
        redis_url="rediss://cache.westeurope.redis.azure.net:10000", redis_auth="entra"
    )
    client = build_async_redis(settings, socket_connect_timeout=2.0, socket_timeout=5.0)
    kwargs = client.connection_pool.connection_kwargs
    assert isinstance(kwargs["credential_provider"], EntraIdCredentialsProvider)
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (2.0, 5.0)
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    await client.aclose()


def test_redis_options_with_unknown_auth_raises_invalid_settings() -> None:
    with pytest.raises(ConfigError) as caught:
        RedisOptions.from_environment({"REDIS_URL": "redis://x", "REDIS_AUTH": "key"})
    assert caught.value.code == "invalid_settings"


def test_redis_options_with_azure_client_id_uses_it_unless_redis_client_id_is_set() -> None:
    env = {"REDIS_URL": "redis://x", "REDIS_AUTH": "entra", "AZURE_CLIENT_ID": "a"}
    assert RedisOptions.from_environment(env).redis_identity_client_id == "a"
    env["REDIS_CLIENT_ID"] = "r"
    options = RedisOptions.from_environment(env)
    assert (options.redis_auth, options.redis_identity_client_id) == ("entra", "r")


def _caused(outer: Exception, cause: Exception) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (AuthenticationError("invalid username-password pair"), REDIS_AUTH_FAILED),
        (AuthenticationError("Authentication required."), REDIS_AUTH_FAILED),
        (NoPermissionError("this user has no permissions to run 'eval'"), REDIS_AUTH_FAILED),
        (ResponseError(f"WRONGPASS invalid password {FAKE_TOKEN}"), REDIS_AUTH_FAILED),
        (ResponseError("NOAUTH Authentication required."), REDIS_AUTH_FAILED),
        (_caused(RuntimeError("wrapped"), RequestTokenErr(FAKE_TOKEN)), REDIS_AUTH_FAILED),
        (RedisConnectionError("Connection refused"), "dependency_unavailable"),
        (ResponseError("WRONGTYPE Operation against a key"), "dependency_unavailable"),
        (TimeoutError(), "dependency_unavailable"),
    ],
)
def test_redis_unavailable_with_error_kind_returns_its_code(error: Exception, code: str) -> None:
    mapped = redis_unavailable(error)
    assert mapped.code == code
    assert FAKE_TOKEN not in mapped.message


def test_redis_unavailable_with_azure_client_auth_error_returns_token_sentence() -> None:
    from azure.core.exceptions import ClientAuthenticationError

    build_async_redis(make_settings(redis_url="rediss://cache:10000", redis_auth="entra"))
    error = _caused(AuthenticationError("no token"), ClientAuthenticationError(FAKE_TOKEN))
    mapped = redis_unavailable(error)
    assert mapped.code == REDIS_AUTH_FAILED
    assert "could not get an Entra token" in mapped.message
    assert FAKE_TOKEN not in mapped.message


def test_redis_unavailable_with_url_auth_refusal_points_at_redis_auth_setting() -> None:
    build_sync_redis(make_settings(redis_url="redis://127.0.0.1:1/0")).close()
    mapped = redis_unavailable(AuthenticationError("Authentication required."))
    assert mapped.code == REDIS_AUTH_FAILED
    assert "REDIS_AUTH=entra" in mapped.message


def _identity() -> LocalIdentity:
    return LocalIdentity(identities={"cid-a": "oid-a", "cid-b": "oid-b"}, token_lifetime_s=60)


def _query(**values: str) -> dict[str, list[str]]:
    # "api_version" stands for the wire name "api-version".
    return {name.replace("api_version", "api-version"): [v] for name, v in values.items()}


def test_local_identity_with_known_client_id_issues_token_for_resource() -> None:
    identity = _identity()
    try:
        status, body = identity.answer(
            _query(api_version="2019-08-01", resource="https://redis.azure.com", client_id="cid-b"),
            identity.header,
        )
        claims = identity.claims(body["access_token"], "https://redis.azure.com")
    finally:
        identity.stop()
    assert status == 200
    assert (body["resource"], body["client_id"], body["token_type"]) == (
        "https://redis.azure.com",
        "cid-b",
        "Bearer",
    )
    assert (claims["oid"], claims["appid"], claims["azp"], claims["tid"]) == (
        "oid-b",
        "cid-b",
        "cid-b",
        identity.tenant_id,
    )
    assert claims["iss"] == f"https://sts.windows.net/{identity.tenant_id}/"
    assert int(body["expires_on"]) <= claims["exp"] < claims["iat"] + 61
    assert identity.issued("https://redis.azure.com") == 1


@pytest.mark.parametrize(
    ("query", "header_ok", "status"),
    [
        (_query(api_version="2019-08-01", resource="https://x", client_id="nope"), True, 400),
        (_query(api_version="2019-08-01", resource="https://x", client_id="cid-a"), False, 401),
        (_query(api_version="2018-02-01", resource="https://x", client_id="cid-a"), True, 400),
        (_query(api_version="2019-08-01", client_id="cid-a"), True, 400),
        (_query(api_version="2019-08-01", resource="https://x"), True, 400),  # two identities
    ],
)
def test_local_identity_with_bad_request_answers_azure_error(
    query: dict[str, list[str]], header_ok: bool, status: int
) -> None:
    identity = _identity()
    try:
        got, body = identity.answer(query, identity.header if header_ok else "wrong")
    finally:
        identity.stop()
    assert got == status
    assert body["statusCode"] == status
    assert "access_token" not in body
    assert identity.issued() == 0


def test_local_identity_with_object_id_picks_that_identity() -> None:
    identity = _identity()
    try:
        status, body = identity.answer(
            _query(
                api_version="2019-08-01", resource="https://storage.azure.com", object_id="oid-a"
            ),
            identity.header,
        )
    finally:
        identity.stop()
    assert (status, body["client_id"]) == (200, "cid-a")
