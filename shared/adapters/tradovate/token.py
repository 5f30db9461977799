"""Share one Tradovate session token across every process through Redis.

Rules (reference §2.3, §2.4): reuse a valid token; renew it ``renew_margin_s`` before it
expires, under a distributed lock so exactly one process renews; log in only when no valid
token exists (each login is a new session that can close others); after a p-captcha stop
and record a back-off in Redis so no process tries again for ``captcha_backoff_s``.

Keys (``{prefix}`` is ``tb:tradovate:<hash of base URL and user>``):

* ``{prefix}:token`` — the token JSON, expiring with the token (PX).
* ``{prefix}:lock`` — ``SET NX PX`` with a random owner; released only by its owner (Lua).
* ``{prefix}:captcha`` — present while logins are suspended after a captcha.
* ``{prefix}:refused-alive`` — present for a minute after a refused token still renewed (a
  permission problem, not a dead session), so refusals stop causing renewals or logins.

While one process renews, the others keep using the old token if it is still usable, so a
burst of callers near expiry costs one renewal and no waiting.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis

from shared.adapters.redis_scripts import DELETE_IF_EQUAL
from shared.adapters.tradovate.auth import SessionToken, TradovateAuth
from shared.adapters.tradovate.errors import CaptchaRequired, TokenRejected
from shared.domain.errors import AuthError, TransientBrokerError, TransientError
from shared.ports import Clock

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """Tune renewal: how early, how long the lock lives, how long followers wait."""

    renew_margin_s: float = 900.0
    min_validity_s: float = 10.0
    lock_ttl_s: float = 20.0
    wait_timeout_s: float = 25.0
    poll_s: float = 0.05
    memory_ttl_s: float = 30.0
    renew_retry_s: float = 15.0
    alive_guard_s: float = 60.0
    captcha_backoff_s: float = 3600.0


def namespace_for(base_url: str, username: str) -> str:
    """Return the Redis key prefix for one environment and user (no names in keys)."""
    digest = hashlib.sha256(f"{base_url.rstrip('/')}|{username}".encode()).hexdigest()[:16]
    return f"tb:tradovate:{digest}"


class TokenSource(Protocol):
    """Provide bearer tokens to REST and WebSocket clients."""

    async def current(self) -> SessionToken:
        """Return a valid session token."""
        ...

    async def token_rejected(self, token: str) -> SessionToken:
        """Report that ``token`` was refused; return a different valid token or raise."""
        ...


class TokenManager:
    """Hand out the shared Tradovate token, renewing or logging in only when needed."""

    def __init__(
        self,
        redis: Redis,
        auth: TradovateAuth,
        *,
        namespace: str,
        clock: Clock,
        policy: TokenPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._auth = auth
        self._clock = clock
        self.policy = policy or TokenPolicy()
        self._sleep = sleep
        self._monotonic = monotonic
        self._token_key = f"{namespace}:token"
        self._lock_key = f"{namespace}:lock"
        self._captcha_key = f"{namespace}:captcha"
        self._alive_key = f"{namespace}:refused-alive"
        self._memory: SessionToken | None = None
        self._memory_at = 0.0
        self._renew_not_before = 0.0
        self._refresh_lock = asyncio.Lock()
        self.renewals = 0
        self.logins = 0

    # --- public -------------------------------------------------------------------------------

    async def current(self) -> SessionToken:
        """Return a valid token, renewing (or, with no valid token, logging in) when due."""
        token = self._from_memory()
        if token is not None:
            return token
        last = self._memory
        if self._refresh_lock.locked() and last is not None and self._usable(last):
            # Someone in this process is already refreshing; the old token still works, and
            # a burst of callers must not turn into a burst of Redis reads.
            return last
        async with self._refresh_lock:
            token = self._from_memory()
            if token is not None:
                return token
            stored = await self._load()
            if stored is not None and self._fresh_enough(stored):
                return self._remember(stored)
            return self._remember(await self._refresh_shared(stored))

    async def access_token(self) -> str:
        """Return the current bearer token string."""
        return (await self.current()).access_token

    async def token_rejected(self, token: str) -> SessionToken:
        """Replace a token the broker refused and return the replacement, or raise.

        A 401/403 can mean a revoked token or a permission problem (API key, account, device
        id: reference §2.2, §2.5), and logging in again cures only the first. So the refused
        token is first renewed: if that works the token was alive, the renewed one is returned
        once, and further refusals within ``alive_guard_s`` raise ``TokenRejected`` instead of
        opening session after session. If renewal is refused too, the session is gone: log in.
        """
        async with self._refresh_lock:
            self._memory = None
            stored, raw = await self._load_raw()
            if stored is not None and stored.access_token != token and self._usable(stored):
                return self._remember(stored)
            if await self._redis.exists(self._alive_key):
                raise TokenRejected(
                    "Tradovate refuses a token that still renews: check the API key's "
                    "permissions, the account id and the device id"
                )
            if raw is not None and stored is not None and stored.access_token == token:
                renewed = await self._verify_by_renewal(stored, raw)
                if renewed is not None:
                    return self._remember(renewed)
            logger.warning("tradovate token refused; obtaining a new one")
            return self._remember(await self._refresh_shared(None))

    async def _verify_by_renewal(
        self, stored: SessionToken, raw: bytes | str
    ) -> SessionToken | None:
        try:
            renewed = await self._auth.renew(stored)
        except CaptchaRequired as exc:
            await self._suspend(exc)
            raise
        except AuthError:
            # Dead token; drop it only if it is still the refused one (another process may
            # already have replaced it).
            await self._redis.eval(DELETE_IF_EQUAL, 1, self._token_key, raw)
            return None
        self.renewals += 1
        await self._store(renewed)
        guard_ms = int(self.policy.alive_guard_s * 1000)
        await self._redis.set(self._alive_key, "1", px=guard_ms)
        logger.warning(
            "tradovate refused a token that still renews", extra={"token": renewed.masked}
        )
        return renewed

    async def ensure_fresh(self) -> SessionToken:
        """Renew now if the token is inside the renewal margin; for the token timer."""
        return await self.current()

    async def captcha_backoff_s(self) -> float:
        """Return how long logins stay suspended after a captcha (0 when they are not)."""
        ttl_ms = await self._redis.pttl(self._captcha_key)
        return max(0.0, ttl_ms / 1000) if ttl_ms and ttl_ms > 0 else 0.0

    # --- memory and Redis ----------------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock.now()

    def _due(self, token: SessionToken) -> bool:
        return token.seconds_left(self._now()) <= self.policy.renew_margin_s

    def _usable(self, token: SessionToken) -> bool:
        return token.seconds_left(self._now()) > self.policy.min_validity_s

    def _from_memory(self) -> SessionToken | None:
        token = self._memory
        if token is None or self._monotonic() - self._memory_at > self.policy.memory_ttl_s:
            return None
        return token if self._fresh_enough(token) else None

    def _fresh_enough(self, token: SessionToken) -> bool:
        if not self._due(token):
            return True
        # Inside the margin but a renewal just failed: use the token until the retry time.
        return self._usable(token) and self._monotonic() < self._renew_not_before

    def _remember(self, token: SessionToken) -> SessionToken:
        self._memory = token
        self._memory_at = self._monotonic()
        return token

    async def _load_raw(self) -> tuple[SessionToken | None, bytes | str | None]:
        raw: bytes | str | None = await self._redis.get(self._token_key)
        if raw is None:
            return None, None
        try:
            return SessionToken.from_json(raw), raw
        except (ValueError, KeyError, TypeError):
            logger.warning("discarding an unreadable shared tradovate token")
            return None, None

    async def _load(self) -> SessionToken | None:
        return (await self._load_raw())[0]

    async def _store(self, token: SessionToken) -> None:
        ttl_ms = int(token.seconds_left(self._now()) * 1000)
        if ttl_ms > 0:
            await self._redis.set(self._token_key, token.to_json(), px=ttl_ms)

    # --- refresh under the distributed lock -----------------------------------------------------

    async def _refresh_shared(self, seen: SessionToken | None) -> SessionToken:
        deadline = self._monotonic() + self.policy.wait_timeout_s
        owner = uuid.uuid4().hex
        while True:
            if await self._redis.set(
                self._lock_key, owner, nx=True, px=int(self.policy.lock_ttl_s * 1000)
            ):
                try:
                    return await self._refresh_as_owner(seen)
                finally:
                    await self._redis.eval(DELETE_IF_EQUAL, 1, self._lock_key, owner)
            if seen is not None and self._usable(seen):
                return seen  # another process is renewing; keep using the old token meanwhile
            if self._monotonic() > deadline:
                raise TransientBrokerError(
                    "timed out waiting for another process to obtain a Tradovate token",
                    code="broker_token_wait",
                )
            await self._sleep(self.policy.poll_s)
            stored = await self._load()
            if stored is not None and not self._due(stored):
                return stored
            seen = stored

    async def _refresh_as_owner(self, seen: SessionToken | None) -> SessionToken:
        # Double-check under the lock: the previous owner may have just stored a new token.
        stored = await self._load()
        if stored is not None and not self._due(stored):
            return stored
        current = stored if stored is not None else seen
        if current is None or not self._usable(current):
            return await self._login()
        if await self.captcha_backoff_s() > 0:
            return self._postpone(current)
        try:
            renewed = await self._auth.renew(current)
        except CaptchaRequired as exc:
            await self._suspend(exc)
            return self._postpone(current)
        except TransientError as exc:
            logger.warning("tradovate renewal failed transiently", extra={"code": exc.code})
            return self._postpone(current)
        except AuthError as exc:
            # The token was revoked or expired early: only a login can help now.
            logger.warning("tradovate renewal refused; logging in", extra={"code": exc.code})
            await self._redis.delete(self._token_key)
            return await self._login()
        self.renewals += 1
        logger.info("tradovate token renewed", extra={"token": renewed.masked})
        await self._store(renewed)
        return renewed

    def _postpone(self, current: SessionToken) -> SessionToken:
        # Keep using a still-valid token and try renewing again later, not on every call.
        self._renew_not_before = self._monotonic() + self.policy.renew_retry_s
        return current

    async def _login(self) -> SessionToken:
        backoff_s = await self.captcha_backoff_s()
        if backoff_s > 0:
            raise CaptchaRequired(
                f"Tradovate logins are suspended for {backoff_s:.0f} s after a captcha",
                retry_after_s=backoff_s,
            )
        try:
            token = await self._auth.login()
        except CaptchaRequired as exc:
            await self._suspend(exc)
            raise
        self.logins += 1
        logger.info("tradovate login", extra={"token": token.masked})
        await self._store(token)
        return token

    async def _suspend(self, exc: CaptchaRequired) -> None:
        backoff_ms = int(max(exc.retry_after_s, self.policy.captcha_backoff_s) * 1000)
        await self._redis.set(self._captcha_key, "1", px=backoff_ms)
        logger.error(
            "tradovate demands a captcha; logins suspended",
            extra={"alert": "tradovate_captcha", "backoff_s": backoff_ms / 1000},
        )
