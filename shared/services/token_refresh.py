"""Keep the shared Tradovate token fresh for every process: the token timer's use case.

The timer's token manager shares the executor's and the worker's Redis keys but renews with a
wider margin (``RENEW_LEAD_S`` more), so in steady state the token is renewed here, off every hot
path, and never by a login: ``TokenManager`` renews under the distributed lock and logs in only
when no valid token exists (reference/tradovate-api.md §2.3). A p-captcha, refused credentials
or a refused renewal are alert-worthy and final for this run: they are logged at ERROR with an
``alert`` attribute and reported, not raised, because a retry could only add login attempts
(5 an hour per IP, §2.3) and logins stay suspended in Redis after a captcha anyway. Transient
failures (timeouts, 5xx) raise, so the timer's retry policy runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from shared.domain.errors import AuthError
from shared.ports import Clock

log = logging.getLogger(__name__)

#: How much earlier than the hot path the timer renews (two timer periods of five minutes).
RENEW_LEAD_S = 600.0


class ExpiringToken(Protocol):
    """What the timer reads of a token: when it expires."""

    @property
    def expires_at(self) -> datetime:
        """Return the expiry time."""
        ...


class TokenKeeper(Protocol):
    """The shared token manager (``shared.adapters.tradovate.token.TokenManager``)."""

    async def ensure_fresh(self) -> ExpiringToken:
        """Renew (or, with no valid token, log in) if due; return the valid token."""
        ...

    async def captcha_backoff_s(self) -> float:
        """Return how long logins stay suspended after a captcha (0 when they are not)."""
        ...


@dataclass(frozen=True, slots=True)
class TokenStatus:
    """Report one run: fresh (with the expiry), suspended after a captcha, or refused."""

    state: Literal["fresh", "suspended", "refused"]
    expires_at: datetime | None = None
    seconds_left: float | None = None
    code: str | None = None

    @property
    def alert_worthy(self) -> bool:
        """Tell whether a person must act (solve a captcha later, fix credentials)."""
        return self.state != "fresh"


async def refresh_token(tokens: TokenKeeper, clock: Clock) -> TokenStatus:
    """Make sure the shared token is valid and not near expiry; report what happened."""
    suspended_s = await tokens.captcha_backoff_s()
    if suspended_s > 0:
        log.error(
            "tradovate logins are suspended after a captcha; not trying",
            extra={"alert": "tradovate_captcha", "retry_after_s": round(suspended_s)},
        )
        return TokenStatus("suspended", code="broker_captcha_required")
    try:
        token = await tokens.ensure_fresh()
    except AuthError as exc:
        log.error(
            "tradovate token could not be renewed or obtained: %s",
            exc.message,
            extra={"alert": "tradovate_auth", "code": exc.code},
        )
        return TokenStatus("refused", code=exc.code)
    left = (token.expires_at - clock.now()).total_seconds()
    log.info("tradovate token valid for %.0f s", left)
    return TokenStatus("fresh", token.expires_at, left)
