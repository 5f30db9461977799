"""Build the Tradovate REST client and token manager from settings, once per process."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from shared.adapters.tradovate.auth import Credentials, TradovateAuth
from shared.adapters.tradovate.exchange import Exchange
from shared.adapters.tradovate.rest import TradovateRest
from shared.adapters.tradovate.token import TokenManager, TokenPolicy, namespace_for
from shared.adapters.tradovate.transport import RestConfig, TradovateHttp
from shared.config import Settings
from shared.domain.clock import SystemClock
from shared.ports import Clock


def token_manager(
    settings: Settings,
    redis: Redis,
    http: TradovateHttp,
    *,
    clock: Clock | None = None,
    policy: TokenPolicy | None = None,
    renew_lead_s: float = 0.0,
) -> TokenManager:
    """Return a manager of the user's shared token; ``renew_lead_s`` renews that much earlier
    than the settings' margin (the timer's, so the hot path rarely renews itself)."""
    return TokenManager(
        redis,
        TradovateAuth(http, Credentials.from_settings(settings)),
        namespace=namespace_for(settings.tradovate_base_url, settings.tradovate_username),
        clock=clock or SystemClock(),
        policy=policy
        or TokenPolicy(
            renew_margin_s=settings.tradovate_token_renew_margin_s + renew_lead_s,
            captcha_backoff_s=settings.tradovate_captcha_backoff_s,
        ),
    )


@dataclass(frozen=True, slots=True)
class TradovateClient:
    """Hold one process's pooled HTTP client, shared token manager and REST facade."""

    http: TradovateHttp
    tokens: TokenManager
    rest: TradovateRest

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        redis: Redis,
        *,
        clock: Clock | None = None,
        exchange: Exchange | None = None,
        policy: TokenPolicy | None = None,
    ) -> TradovateClient:
        """Wire the client from settings; nothing connects until the first call."""
        http = TradovateHttp(RestConfig.from_settings(settings), exchange=exchange)
        tokens = token_manager(settings, redis, http, clock=clock, policy=policy)
        return cls(http=http, tokens=tokens, rest=TradovateRest(http, tokens))

    async def aclose(self) -> None:
        """Close pooled connections (the Redis client belongs to the caller)."""
        await self.http.aclose()
