"""Configure WebSocket sessions and bridge the async token manager to socket threads."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from shared.adapters.tradovate.auth import SessionToken
from shared.adapters.tradovate.backoff import Backoff
from shared.adapters.tradovate.token import TokenSource
from shared.config import Settings


@dataclass(frozen=True, slots=True)
class SocketConfig:
    """Hold one socket's URL, timers and limits."""

    url: str
    name: str = "trading"
    heartbeat_s: float = 2.5
    silence_s: float = 15.0
    connect_timeout_s: float = 5.0
    open_timeout_s: float = 5.0
    authorize_timeout_s: float = 5.0
    request_timeout_s: float = 10.0
    backoff: Backoff = field(default_factory=lambda: Backoff(base_s=0.5, cap_s=30.0))
    stable_after_s: float = 10.0
    max_auth_failures: int = 2
    queue_size: int = 10_000
    handoff_timeout_s: float = 2.0
    use_md_token: bool = False
    max_penalty_wait_s: float = 30.0
    captcha_backoff_s: float = 3600.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError("a socket URL starts with ws:// or wss://")
        if self.heartbeat_s <= 0 or self.silence_s <= self.heartbeat_s:
            raise ValueError("need 0 < heartbeat_s < silence_s")
        if self.max_auth_failures < 1 or self.queue_size < 1:
            raise ValueError("max_auth_failures and queue_size must be positive")

    @classmethod
    def from_settings(cls, settings: Settings, *, market_data: bool = False) -> SocketConfig:
        """Read the trading (or market-data) socket's settings."""
        return cls(
            url=settings.tradovate_md_ws_url if market_data else settings.tradovate_ws_url,
            name="md" if market_data else "trading",
            heartbeat_s=settings.tradovate_ws_heartbeat_s,
            silence_s=settings.tradovate_ws_silence_s,
            request_timeout_s=max(settings.tradovate_request_timeout_s, 10.0),
            backoff=Backoff(base_s=0.5, cap_s=settings.tradovate_ws_reconnect_max_s),
            use_md_token=market_data and settings.tradovate_md_authorize_with == "md",
            max_penalty_wait_s=settings.tradovate_max_penalty_wait_s,
            captcha_backoff_s=settings.tradovate_captcha_backoff_s,
        )


@dataclass(frozen=True, slots=True)
class SocketHealth:
    """Summarise a socket for the worker's health endpoint and metrics."""

    state: str
    connected: bool
    last_frame_age_s: float
    connects: int
    auth_failures: int
    heartbeats_sent: int
    handler_errors: int
    ready_for_s: float | None


class SocketTokenSource(Protocol):
    """Give socket threads a token, blocking; ``rejected`` replaces a refused one."""

    def current(self) -> SessionToken:
        """Return a valid token."""
        ...

    def rejected(self, token: str) -> SessionToken:
        """Return a token other than the refused ``token``, or raise ``AuthError``."""
        ...


class BlockingTokenSource:
    """Run an async ``TokenSource`` on its event loop from a socket thread."""

    def __init__(
        self, tokens: TokenSource, loop: asyncio.AbstractEventLoop, *, timeout_s: float = 30.0
    ) -> None:
        self._tokens = tokens
        self._loop = loop
        self._timeout_s = timeout_s

    def current(self) -> SessionToken:
        """Return a valid token (never call from the loop's own thread)."""
        future = asyncio.run_coroutine_threadsafe(self._tokens.current(), self._loop)
        return future.result(self._timeout_s)

    def rejected(self, token: str) -> SessionToken:
        """Return a replacement for a refused token."""
        future = asyncio.run_coroutine_threadsafe(self._tokens.token_rejected(token), self._loop)
        return future.result(self._timeout_s)
