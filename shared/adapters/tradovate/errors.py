"""Refine the domain error hierarchy for Tradovate and classify raw HTTP outcomes.

::

    BrokerRejected (not retried)
    ├── BrokerNotFound           404: entity or endpoint unknown
    TransientBrokerError (retried by callers; ``is_retryable`` is True)
    ├── RateLimited              429/423 outlasted the back-off budget
    ├── PenaltyTooLong           a p-ticket asked us to wait longer than we may
    ├── SocketClosed             the WebSocket closed before a response arrived
    └── OrderOutcomeUnknown      placement timed out and the order was not found (yet)
    AuthError (not retried; alert-worthy)
    ├── TokenRejected            401/403 with our bearer token (the caller renews once)
    ├── InvalidCredentials       accesstokenrequest answered with ``errorText``
    └── CaptchaRequired          p-captcha: stop; no login for ``retry_after_s``

``shared.domain.errors.is_retryable`` stays the only place that decides retries: every
class here inherits its answer from the domain class above it.
"""

from __future__ import annotations

from shared.domain.errors import AuthError, BrokerRejected, TransientBrokerError

__all__ = [
    "BrokerNotFound",
    "CaptchaRequired",
    "InvalidCredentials",
    "OrderOutcomeUnknown",
    "PenaltyTooLong",
    "RateLimited",
    "SocketClosed",
    "TokenRejected",
    "mask_token",
]


class BrokerNotFound(BrokerRejected):
    """Report that Tradovate does not know the entity or endpoint (404)."""

    code = "broker_not_found"


class RateLimited(TransientBrokerError):
    """Report that 429/423 answers outlasted the back-off budget."""

    code = "broker_rate_limited"


class PenaltyTooLong(TransientBrokerError):
    """Report a p-ticket whose wait exceeds what this caller may spend."""

    code = "broker_penalty_wait"

    def __init__(self, message: str, *, wait_s: float) -> None:
        super().__init__(message)
        self.wait_s = wait_s


class SocketClosed(TransientBrokerError):
    """Report that the WebSocket closed before answering a request."""

    code = "broker_socket_closed"


class OrderOutcomeUnknown(TransientBrokerError):
    """Report that placement failed ambiguously and the order was not found by its client id.

    Retrying is safe only by looking the order up by ``cl_ord_id`` first, which
    ``TradovateRest.place_*(..., lookup_first=True)`` does.
    """

    code = "broker_order_outcome_unknown"

    def __init__(self, message: str, *, cl_ord_id: str) -> None:
        super().__init__(message)
        self.cl_ord_id = cl_ord_id


class TokenRejected(AuthError):
    """Report that Tradovate refused our bearer token (401/403)."""

    code = "broker_token_rejected"


class InvalidCredentials(AuthError):
    """Report that Tradovate refused the username, password, cid or secret."""

    code = "broker_invalid_credentials"


class CaptchaRequired(AuthError):
    """Report a p-captcha penalty: a bot cannot solve it, so stop for ``retry_after_s``."""

    code = "broker_captcha_required"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def mask_token(token: str | None) -> str:
    """Return a log-safe stand-in for a token: its length and last four characters at most."""
    if not token:
        return "<none>"
    if len(token) < 16:
        return f"<token len={len(token)}>"
    return f"<token …{token[-4:]} len={len(token)}>"
