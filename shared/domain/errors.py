"""Draw the one error hierarchy every part of Tradebridge raises and maps.

::

    BridgeError                      code (machine-readable) + message (one human sentence)
    ├── InvalidSignal                bad alert input: 400, never retried, never enqueued; + field
    ├── InvalidRequest               bad ops API input (a filter, a body): 400; + field
    ├── NotFound                     an ops API request names what does not exist: 404
    ├── Conflict                     an ops API change the current state does not allow: 409
    ├── Unauthorized                 missing or wrong webhook secret, unknown strategy: 401
    ├── Forbidden                    caller's address is not on the allowlist: 403
    ├── PayloadTooLarge              alert body over the size limit: 413
    ├── RateLimited                  too many alerts for a strategy: 429, carries retry_after_s
    ├── OrderDenied                  a risk gate said no; never sent to the broker
    ├── BrokerRejected               Tradovate said no (failureReason); carries the broker's code
    ├── TransientError               retry later; nothing irreversible happened
    │   ├── TransientBrokerError     timeout, 5xx, 429/423 past the back-off budget
    │   └── DependencyUnavailable    Service Bus, Redis or Tables could not be reached
    ├── AuthError                    Tradovate login/renewal failed (p-captcha, bad credentials)
    └── ConfigError                  a setting or strategy file is missing or invalid

``is_retryable`` is the one place that decides whether an error is worth another attempt.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Carry a machine-readable code and one human sentence."""

    code: str = "bridge_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        """Render the error as the JSON body clients and the journal see."""
        return {"code": self.code, "message": self.message}


class _FieldError(BridgeError):
    """Refuse input and name the field (or parameter) at fault, when one is known."""

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field

    def to_dict(self) -> dict[str, str]:
        """Render the error with the offending field, when one is known."""
        body = super().to_dict()
        if self.field is not None:
            body["field"] = self.field
        return body


class InvalidSignal(_FieldError):
    """Reject alert input that cannot be turned into a signal; ``field`` names the culprit."""

    code = "invalid_signal"


class InvalidRequest(_FieldError):
    """Reject an ops API request whose parameters or body are invalid; ``field`` names it."""

    code = "invalid_request"


class NotFound(BridgeError):
    """Report that an ops API request names a signal, strategy or account that does not exist."""

    code = "not_found"


class Conflict(BridgeError):
    """Refuse an ops API change the current state does not allow (enabling what is enabled)."""

    code = "conflict"


class Unauthorized(BridgeError):
    """Reject a request whose credentials are missing or wrong."""

    code = "unauthorized"


class Forbidden(BridgeError):
    """Refuse a request from an address that is not allowed to send alerts."""

    code = "forbidden"


class PayloadTooLarge(BridgeError):
    """Refuse a request body over the size limit before reading it."""

    code = "payload_too_large"


class RateLimited(BridgeError):
    """Refuse an alert because its strategy sent too many; ``retry_after_s`` says when to retry."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class OrderDenied(BridgeError):
    """Refuse an order before any broker I/O because a risk gate said no."""

    code = "order_denied"


class BrokerRejected(BridgeError):
    """Report that the broker refused a command; retrying will not help."""

    code = "broker_rejected"


class TransientError(BridgeError):
    """Signal a failure worth retrying later; nothing irreversible happened."""

    code = "transient"


class TransientBrokerError(TransientError):
    """Report a broker timeout, 5xx or throttle that outlasted the back-off budget."""

    code = "broker_unavailable"


class DependencyUnavailable(TransientError):
    """Report that Service Bus, Redis or Table storage could not be reached."""

    code = "dependency_unavailable"


class AuthError(BridgeError):
    """Report that logging in to or renewing a session with the broker failed."""

    code = "broker_auth_failed"


class ConfigError(BridgeError):
    """Report a missing or invalid setting or strategy file."""

    code = "config_error"


def is_retryable(exc: BaseException) -> bool:
    """Decide whether another attempt could succeed; the only place that decides retries."""
    return isinstance(exc, TransientError)
