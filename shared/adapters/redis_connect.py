"""Build every Redis client the app uses from settings, signing in with Entra ID when asked.

``REDIS_AUTH=url`` (local stack, tests) connects with whatever ``REDIS_URL`` carries.
``REDIS_AUTH=entra`` (Azure) is what Azure Managed Redis needs once access keys are off: each
connection sends ``AUTH <object id> <Entra access token>`` for this app's identity, and the
token is renewed before it expires, or the cache closes the connection
(learn.microsoft.com/azure/redis/entra-for-authentication). The token comes from
``DefaultAzureCredential`` (the user-assigned managed identity named by ``REDIS_CLIENT_ID`` /
``AZURE_CLIENT_ID`` in Azure, ``az login`` on a deployer's machine) through redis-entraid's
``EntraIdCredentialsProvider``.

Why this module does more than hand that provider to ``Redis.from_url`` (read in redis-py
8.1 and redis-entraid 1.2.2):

* ``from_url`` builds the pool first and then ``Redis(connection_pool=pool)``, so the client
  never sees the provider and never registers a renewal callback: the token manager logs
  "No registered callback" and stops, and live connections keep their first token until the
  cache drops them. We register our own callback on the provider (``_PoolReauth``).
* redis-py's own pooled re-auth (``ConnectionPool.re_auth_callback``) raises if one idle
  connection was already closed by the server, which ends renewal for good, and re-AUTHs busy
  connections when they are released, which can fail the command that just succeeded. Ours
  re-AUTHs idle connections, re-AUTHs a busy one once it is back in the pool (or, if it stays
  busy past ``BUSY_WAIT_S``, drops it on release so it reconnects with a fresh token), drops
  any whose AUTH fails, and never raises.
* ``from_url`` also gives connections no retry, so one the server closed (AMR does when a
  token expires unrenewed, on failover and maintenance) failed its command: one reconnect.
* The token manager's async path calls the credential synchronously on the event loop, and
  it ignores ``token_request_execution_timeout_in_ms``; ``_ThreadedTokenManager`` runs each
  request in a thread, under that timeout, so a cold managed-identity endpoint never blocks
  the loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import SecretStr

from shared.config import Settings
from shared.domain.errors import ConfigError

if TYPE_CHECKING:
    import redis
    import redis.asyncio as aioredis
    from redis.auth.token import TokenInterface, TokenResponse
    from redis_entraid.cred_provider import (  # type: ignore[import-untyped]
        EntraIdCredentialsProvider,
    )

log = logging.getLogger(__name__)


_DEFAULT_SCOPE: str = Settings.model_fields["redis_entra_scope"].default


class RedisSettings(Protocol):
    """Name the settings a Redis client is built from (``Settings`` has them all)."""

    @property
    def redis_url(self) -> SecretStr: ...
    @property
    def redis_auth(self) -> Literal["url", "entra"]: ...
    @property
    def redis_entra_scope(self) -> str: ...
    @property
    def redis_identity_client_id(self) -> str | None: ...


@dataclass(frozen=True)
class RedisOptions:
    """Hold only the Redis settings, for local tools that run without the full ``Settings``."""

    redis_url: SecretStr
    redis_auth: Literal["url", "entra"] = "url"
    redis_entra_scope: str = _DEFAULT_SCOPE
    redis_identity_client_id: str | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> RedisOptions:
        """Read ``REDIS_URL``, ``REDIS_AUTH``, ``REDIS_ENTRA_SCOPE`` and the client id."""
        auth = env.get("REDIS_AUTH") or "url"
        if auth not in ("url", "entra"):
            raise ConfigError(
                f"REDIS_AUTH must be url or entra, not {auth!r}", code="invalid_settings"
            )
        client_id = env.get("REDIS_CLIENT_ID") or env.get("AZURE_CLIENT_ID") or None
        return cls(
            redis_url=SecretStr(env.get("REDIS_URL", "")),
            redis_auth="entra" if auth == "entra" else "url",
            redis_entra_scope=env.get("REDIS_ENTRA_SCOPE") or _DEFAULT_SCOPE,
            redis_identity_client_id=client_id,
        )


@dataclass(frozen=True)
class SignedInIdentity:
    """Name the Entra identity this process signs in to Redis as (for error messages)."""

    client_id: str | None
    object_id: str | None = None


_signed_in: SignedInIdentity | None = None


def signed_in_identity() -> SignedInIdentity | None:
    """Return the identity Redis clients sign in as, or ``None`` with ``REDIS_AUTH=url``."""
    return _signed_in


def _remember(identity: SignedInIdentity | None) -> None:
    global _signed_in  # one process, one identity; redis_errors reads it
    _signed_in = identity


# Renew at 70 % of the token's life, as redis-entraid's default and Microsoft's guidance do.
TOKEN_REFRESH_RATIO = 0.7
# A cold managed-identity endpoint can take seconds; redis-entraid's 100 ms default is too short.
TOKEN_REQUEST_TIMEOUT_S = 10.0
TOKEN_REQUEST_RETRIES = 3
TOKEN_RETRY_DELAY_S = 0.5
# After a failed renewal, try again this soon instead of waiting for the cache to drop us.
RENEWAL_RETRY_S = 5.0
# An idle connection that cannot answer AUTH this fast is dropped and reconnects later.
REAUTH_TIMEOUT_S = 2.0
# How long a renewal waits for a busy connection to come back to the pool to re-AUTH it.
BUSY_WAIT_S = 1.0


def _options(
    retry: object,
    socket_connect_timeout: float | None,
    socket_timeout: float | None,
    health_check_interval: int,
) -> dict[str, Any]:
    return {
        "socket_connect_timeout": socket_connect_timeout,
        "socket_timeout": socket_timeout,
        "health_check_interval": health_check_interval,
        "retry": retry,
    }


def build_async_redis(
    settings: RedisSettings,
    *,
    socket_connect_timeout: float | None = 1.0,
    socket_timeout: float | None = 1.0,
    health_check_interval: int = 30,
) -> aioredis.Redis:
    """Return an asyncio Redis client (connection pool) for ``REDIS_URL`` and ``REDIS_AUTH``."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry

    url = _url(settings)
    options = _options(
        Retry(**_retry_policy()), socket_connect_timeout, socket_timeout, health_check_interval
    )
    if settings.redis_auth == "url":
        _remember(None)
        return aioredis.Redis.from_url(url, **options)
    provider = entra_credential_provider(settings, asynchronous=True)
    pool = aioredis.ConnectionPool.from_url(url, credential_provider=provider, **options)
    client = aioredis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True  # as from_url does: aclose() closes the pool
    reauth = _PoolReauth(pool)
    provider.on_next(reauth.on_next_async)
    provider.on_error(reauth.on_error_async(provider))
    return client


def build_sync_redis(
    settings: RedisSettings,
    *,
    socket_connect_timeout: float | None = 1.0,
    socket_timeout: float | None = 1.0,
    health_check_interval: int = 30,
) -> redis.Redis:
    """Return a blocking Redis client for ``REDIS_URL`` and ``REDIS_AUTH`` (never in async code)."""
    import redis
    from redis.retry import Retry

    url = _url(settings)
    options = _options(
        Retry(**_retry_policy()), socket_connect_timeout, socket_timeout, health_check_interval
    )
    if settings.redis_auth == "url":
        _remember(None)
        return redis.Redis.from_url(url, **options)
    provider = entra_credential_provider(settings, asynchronous=False)
    pool = redis.ConnectionPool.from_url(url, credential_provider=provider, **options)
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True
    reauth = _PoolReauth(pool)
    # Sync renewal runs on the token manager's own loop thread; a failed renewal is only
    # logged there, and the next connection fetches a fresh token anyway.
    provider.on_next(reauth.on_next_sync)
    provider.on_error(_log_renewal_error)
    return client


def entra_credential_provider(
    settings: RedisSettings, *, asynchronous: bool
) -> EntraIdCredentialsProvider:
    """Return a credential provider that signs in to Redis as this app's Entra identity."""
    from azure.identity import DefaultAzureCredential
    from redis.auth.token_manager import RetryPolicy, TokenManagerConfig
    from redis_entraid.identity_provider import (  # type: ignore[import-untyped]
        DefaultAzureCredentialProvider,
    )

    # In Azure, the user-assigned identity the access policy names; on a deployer's machine
    # (no client id) DefaultAzureCredential falls through to ``az login``.
    client_id = settings.redis_identity_client_id
    _remember(SignedInIdentity(client_id))
    credential = DefaultAzureCredential(managed_identity_client_id=client_id)
    identity = DefaultAzureCredentialProvider(app=credential, scopes=(settings.redis_entra_scope,))
    config = TokenManagerConfig(
        TOKEN_REFRESH_RATIO,
        0,  # no fixed lower bound: the ratio alone decides
        int(TOKEN_REQUEST_TIMEOUT_S * 1000),
        RetryPolicy(TOKEN_REQUEST_RETRIES, TOKEN_RETRY_DELAY_S * 1000),
    )
    return _provider_class()(identity, config, asynchronous=asynchronous, client_id=client_id)


def _retry_policy() -> dict[str, Any]:
    """Return one quick reconnect on a dropped connection, and no retry on a timeout."""
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    # ``from_url`` builds connections without redis-py's default retry, so a connection the
    # server closed (AMR does at token expiry, failover or maintenance) failed the command.
    # One reconnect, which also fetches a fresh token, fixes that; timeouts are not retried,
    # so the webhook's 3 s budget holds.
    return {
        "backoff": ExponentialWithJitterBackoff(base=0.05, cap=0.5),
        "retries": 1,
        "supported_errors": (RedisConnectionError,),
    }


def _url(settings: RedisSettings) -> str:
    url = settings.redis_url.get_secret_value()
    if settings.redis_auth == "entra" and urlsplit(url).password:
        # An access key and Entra ID are exclusive: AMR with keys off refuses the key, and
        # a token would silently override it. Say so instead of guessing.
        raise ConfigError(
            "REDIS_URL carries a password but REDIS_AUTH is 'entra'; drop the password "
            "(the Entra token is the password)",
            code="invalid_settings",
        )
    return url


def _log_renewal_error(error: Exception) -> None:
    log.warning("Redis token renewal failed: %s", _describe(error))


def _describe(error: BaseException) -> str:
    # Never the message of a Redis reply or a token response: either could echo a token.
    cause = getattr(error, "exception", None) or error.__cause__ or error.__context__
    return type(error).__name__ + (f" ({type(cause).__name__})" if cause else "")


class _PoolReauth:
    """Re-AUTH a pool's connections with each renewed token (see the module docstring)."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def on_next_async(self, token: TokenInterface) -> None:
        # Idle connections are re-AUTHed now; a busy one is re-AUTHed as soon as it is
        # released, or, if it stays busy (a blocking BLPOP), dropped when released so it
        # reconnects with a fresh token.
        busy = await self._reauth_idle(token, None)
        deadline = time.monotonic() + BUSY_WAIT_S
        while busy and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
            busy = await self._reauth_idle(token, busy)
        for conn in busy:
            conn.mark_for_reconnect()
        log.debug("Redis token renewed on live connections")

    async def _reauth_idle(self, token: TokenInterface, only: list[Any] | None) -> list[Any]:
        """AUTH the idle connections (of ``only``, if given); return those still busy."""
        user, password = token.try_get("oid"), token.get_value()
        pool = self._pool
        # The same private state redis-py's own re_auth_callback walks, under the same lock,
        # so no connection is handed out while we AUTH it.
        async with pool._lock:
            for conn in list(pool._available_connections):
                if (only is not None and conn not in only) or not conn.is_connected:
                    continue
                try:
                    async with asyncio.timeout(REAUTH_TIMEOUT_S):
                        await conn.send_command("AUTH", user, password, check_health=False)
                        await conn.read_response()
                except Exception as exc:  # any failure: drop it; it reconnects
                    log.debug("Redis re-auth dropped an idle connection: %s", type(exc).__name__)
                    await conn.disconnect()
            in_use = list(pool._in_use_connections)
        return [conn for conn in in_use if only is None or conn in only]

    def on_error_async(self, provider: EntraIdCredentialsProvider) -> Callable[[Exception], Any]:
        async def on_error(error: Exception) -> None:
            _log_renewal_error(error)
            # redis-entraid stops renewing after a failure; start it again shortly, so live
            # connections are re-authenticated before the current token runs out.
            manager = provider._token_mgr  # no public way to restart renewal
            await manager.start_async(
                provider._listener,
                initial_delay_in_ms=RENEWAL_RETRY_S * 1000,
            )

        return on_error

    def on_next_sync(self, token: TokenInterface) -> None:
        user, password = token.try_get("oid"), token.get_value()
        pool = self._pool
        with pool._lock:
            for conn in list(pool._in_use_connections):
                conn.mark_for_reconnect()
            for conn in list(pool._available_connections):
                if conn._sock is None:  # not connected: nothing to re-auth
                    continue
                try:
                    conn.send_command("AUTH", user, password, check_health=False)
                    conn.read_response()
                except Exception as exc:  # any failure: drop it; it reconnects
                    log.debug("Redis re-auth dropped an idle connection: %s", type(exc).__name__)
                    conn.disconnect()


def _provider_class() -> type[EntraIdCredentialsProvider]:
    """Define the provider subclasses on first use, so importing this module stays cheap."""
    from redis.auth.err import RequestTokenErr
    from redis.auth.token_manager import TokenManager, TokenManagerConfig
    from redis_entraid.cred_provider import EntraIdCredentialsProvider

    class _ThreadedTokenManager(TokenManager):
        async def acquire_token_async(self, force_refresh: bool = False) -> TokenResponse:
            return await _acquire_in_thread(self, force_refresh)

    class _Provider(EntraIdCredentialsProvider):  # type: ignore[misc]
        def __init__(
            self,
            identity: Any,
            config: TokenManagerConfig,
            *,
            asynchronous: bool,
            client_id: str | None,
        ) -> None:
            super().__init__(identity, config)
            self.client_id = client_id
            self._token_mgr = _ThreadedTokenManager(identity, config)
            self._callbacks: list[Callable[[Any], Any]] = []
            # The async token manager awaits on_next; the sync one (on its own loop thread)
            # calls it plainly.
            self._listener.on_next = self._fan_out_async if asynchronous else self._fan_out_sync

        def on_next(self, callback: Callable[[Any], Any]) -> None:
            # redis-py keeps one callback per provider and a pub/sub connection would replace
            # ours; keep them all, and let none of them stop renewal for the others.
            self._callbacks.append(callback)

        async def _fan_out_async(self, token: TokenInterface) -> None:
            await _call_all_async(self._callbacks, token)

        def _fan_out_sync(self, token: TokenInterface) -> None:
            _call_all_sync(self._callbacks, token)

        def get_credentials(self) -> tuple[str, str]:
            try:
                user, password = super().get_credentials()
            except RequestTokenErr as exc:
                raise _token_failure(exc) from exc
            _remember(SignedInIdentity(self.client_id, user))
            return user, password

        async def get_credentials_async(self) -> tuple[str, str]:
            try:
                user, password = await super().get_credentials_async()
            except RequestTokenErr as exc:
                raise _token_failure(exc) from exc
            _remember(SignedInIdentity(self.client_id, user))
            return user, password

    return _Provider


async def _acquire_in_thread(manager: Any, force_refresh: bool) -> TokenResponse:
    """Request a token off the event loop, under the configured timeout, with retries."""
    from redis.auth.err import RequestTokenErr
    from redis.auth.token import TokenResponse

    policy = manager._config.get_retry_policy()
    timeout_s = manager._config.get_token_request_execution_timeout_in_ms() / 1000
    attempt = 0
    while True:
        try:
            request = asyncio.to_thread(manager._idp.request_token, force_refresh)
            return TokenResponse(await asyncio.wait_for(request, timeout_s))
        except (RequestTokenErr, TimeoutError) as exc:
            attempt += 1
            if attempt > policy.get_max_attempts():
                raise RequestTokenErr(exc) from exc  # type: ignore[no-untyped-call]
            await asyncio.sleep(policy.get_delay_in_ms() / 1000)


async def _call_all_async(callbacks: list[Callable[[Any], Any]], token: TokenInterface) -> None:
    for callback in list(callbacks):
        try:
            done = callback(token)
            if inspect.isawaitable(done):
                await done
        except Exception as exc:  # one listener must not stop renewal for the others
            log.warning("Redis re-auth listener failed: %s", type(exc).__name__)


def _call_all_sync(callbacks: list[Callable[[Any], Any]], token: TokenInterface) -> None:
    for callback in list(callbacks):
        try:
            callback(token)
        except Exception as exc:  # one listener must not stop renewal for the others
            log.warning("Redis re-auth listener failed: %s", type(exc).__name__)


def _token_failure(exc: Exception) -> Exception:
    from redis.exceptions import AuthenticationError

    # A RedisError, so every adapter's ``except RedisError`` sees it, and
    # ``redis_unavailable`` reports it as ``redis_auth_failed`` from the cause.
    return AuthenticationError(f"could not get an Entra token for Redis: {_describe(exc)}")
