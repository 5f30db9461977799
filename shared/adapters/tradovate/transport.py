"""Send one logical Tradovate REST request: penalties, throttling and transient retries.

``TradovateHttp`` owns the process's pooled connections through an ``Exchange``
(``shared.adapters.tradovate.exchange``: aiohttp in production, a recording router in
tests), the one I/O seam. It knows nothing about
tokens beyond putting one in the ``Authorization`` header, and nothing about orders beyond
the ``idempotent`` flag: only requests that are safe to repeat are repeated after a
timeout or a 5xx. Requests the server did not process (429/423, p-tickets, connection
refused) are repeated for everyone, within a time budget.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.adapters.tradovate.backoff import Backoff
from shared.adapters.tradovate.classify import Ok, Penalty, Throttled, classify, decode_body
from shared.adapters.tradovate.errors import CaptchaRequired, PenaltyTooLong, RateLimited
from shared.adapters.tradovate.exchange import AiohttpExchange, Exchange
from shared.config import Settings
from shared.domain.errors import TransientBrokerError

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Monotonic = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RestConfig:
    """Hold the REST client's endpoints, timeouts and retry budget."""

    base_url: str
    timeout_s: float = 5.0
    connect_timeout_s: float = 3.0
    retry_budget_s: float = 10.0
    max_penalty_wait_s: float = 30.0
    max_penalties: int = 3
    captcha_backoff_s: float = 3600.0
    backoff: Backoff = field(default_factory=lambda: Backoff(base_s=0.25, cap_s=4.0))
    max_connections: int = 20
    keepalive_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RestConfig:
        """Read the REST settings."""
        return cls(
            base_url=settings.tradovate_base_url,
            timeout_s=settings.tradovate_request_timeout_s,
            connect_timeout_s=min(settings.tradovate_request_timeout_s, 3.0),
            keepalive_s=settings.tradovate_keepalive_s,
            retry_budget_s=settings.tradovate_retry_budget_s,
            max_penalty_wait_s=settings.tradovate_max_penalty_wait_s,
            captcha_backoff_s=settings.tradovate_captcha_backoff_s,
        )


class TradovateHttp:
    """Speak HTTP to Tradovate through one pooled client."""

    def __init__(
        self,
        config: RestConfig,
        *,
        exchange: Exchange | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Monotonic = time.monotonic,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._clock = clock
        # Shared by every request of this process: after a 429 nobody sends until it passes,
        # because requests made during a lockout extend it (reference §3.4).
        self._throttled_until = 0.0
        self._exchange = exchange or AiohttpExchange(
            config.base_url,
            timeout_s=config.timeout_s,
            connect_timeout_s=config.connect_timeout_s,
            max_connections=config.max_connections,
            keepalive_s=config.keepalive_s,
            default_headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._exchange.aclose()

    async def call(
        self,
        endpoint: str,
        *,
        token: str | None,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        idempotent: bool,
    ) -> Any:
        """Send ``endpoint`` (GET without a body, POST with one) and return its JSON data."""
        payload = None if body is None else dict(body)
        deadline = self._clock() + self.config.retry_budget_s
        attempt = 0
        penalties = 0
        while True:
            await self._wait_for_throttle(endpoint, deadline)
            try:
                outcome = await self._send(endpoint, token, payload, params)
            except TransientBrokerError as exc:
                # Unprocessed for sure (connect failed) or safe to repeat: retry in budget.
                if not (idempotent or exc.code == "broker_connect_failed"):
                    raise
                await self._pause(endpoint, attempt, deadline, exc)
                attempt += 1
                continue
            if isinstance(outcome, Ok):
                return outcome.data
            if isinstance(outcome, Throttled):
                self._note_throttle(endpoint, outcome, attempt, deadline)
                attempt += 1
                continue
            penalties += 1
            await self._obey_penalty(endpoint, outcome, penalties)
            # Resend the identical request plus the ticket (reference §2.4): in the JSON body,
            # or for a body-less GET in the query string, so the request stays a GET.
            if payload is None:
                params = {**(params or {}), "p-ticket": outcome.ticket}
            else:
                payload = {**payload, "p-ticket": outcome.ticket}

    async def _send(
        self,
        endpoint: str,
        token: str | None,
        payload: dict[str, Any] | None,
        params: Mapping[str, str | int] | None,
    ) -> Ok | Penalty | Throttled:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        content = None
        if payload is not None:
            content = json.dumps(payload, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        # Raises TransientBrokerError with a code that says whether anything was sent.
        status, body = await self._exchange.request(
            "GET" if payload is None else "POST",
            endpoint,
            headers=headers,
            params=params,
            content=content,
        )
        return classify(status, decode_body(body), endpoint=endpoint)

    async def _wait_for_throttle(self, endpoint: str, deadline: float) -> None:
        wait_s = self._throttled_until - self._clock()
        if wait_s <= 0:
            return
        if self._clock() + wait_s > deadline:
            raise RateLimited(
                f"Tradovate is throttling this process; {endpoint} not sent within the budget"
            )
        await self._sleep(wait_s)

    def _note_throttle(
        self, endpoint: str, outcome: Throttled, attempt: int, deadline: float
    ) -> None:
        delay = self.config.backoff.delay(attempt)
        if self._clock() + delay > deadline:
            raise RateLimited(
                f"Tradovate {endpoint} answered {outcome.status} for {attempt + 1} attempt(s); "
                "back-off budget spent"
            )
        logger.warning(
            "tradovate throttled",
            extra={"endpoint": endpoint, "status": outcome.status, "delay_s": round(delay, 3)},
        )
        self._throttled_until = max(self._throttled_until, self._clock() + delay)

    async def _pause(
        self, endpoint: str, attempt: int, deadline: float, exc: TransientBrokerError
    ) -> None:
        delay = self.config.backoff.delay(attempt)
        if self._clock() + delay > deadline:
            raise exc
        logger.warning(
            "tradovate transient failure; retrying",
            extra={"endpoint": endpoint, "code": exc.code, "delay_s": round(delay, 3)},
        )
        await self._sleep(delay)

    async def _obey_penalty(self, endpoint: str, penalty: Penalty, count: int) -> None:
        if penalty.captcha:
            # A bot cannot solve a captcha; stop and let an operator look (reference §2.4).
            raise CaptchaRequired(
                f"Tradovate {endpoint} demands a captcha; stop for about an hour",
                retry_after_s=self.config.captcha_backoff_s,
            )
        if count > self.config.max_penalties or penalty.wait_s > self.config.max_penalty_wait_s:
            raise PenaltyTooLong(
                f"Tradovate {endpoint} imposed a {penalty.wait_s:.0f} s time penalty "
                f"(penalty {count})",
                wait_s=penalty.wait_s,
            )
        logger.warning(
            "tradovate time penalty; waiting",
            extra={"endpoint": endpoint, "wait_s": penalty.wait_s},
        )
        await self._sleep(penalty.wait_s)
