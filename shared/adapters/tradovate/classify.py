"""Classify one Tradovate answer (REST status + body, or WebSocket ``s`` + ``d``), purely.

The result is data (``Ok``), an instruction (``Penalty``: wait and resend with the ticket;
``Throttled``: back off), or an exception from ``errors``. Callers loop on instructions;
``shared.domain.errors.is_retryable`` decides what the exceptions mean for a retry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.adapters.tradovate.errors import BrokerNotFound, TokenRejected
from shared.domain.errors import BrokerRejected, TransientBrokerError

_TEXT_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Ok:
    """Carry a successful answer's decoded JSON."""

    data: Any


@dataclass(frozen=True, slots=True)
class Penalty:
    """Tell the caller to wait ``wait_s`` and resend the same body plus ``p-ticket`` (§2.4)."""

    ticket: str
    wait_s: float
    captcha: bool


@dataclass(frozen=True, slots=True)
class Throttled:
    """Tell the caller the request was not processed (429, or 423 just before a lockout)."""

    status: int


Outcome = Ok | Penalty | Throttled


def decode_body(content: bytes) -> Any:
    """Decode a response body as JSON with Decimal numbers, or return it as text."""
    if not content.strip():
        return None
    text = content.decode("utf-8", errors="replace")
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        return text


def _text(data: Any) -> str:
    if data is None:
        return ""
    text = data if isinstance(data, str) else json.dumps(data, default=str)
    return text[:_TEXT_LIMIT]


def penalty_of(data: Any) -> Penalty | None:
    """Return the time penalty carried by a 200 answer, if any (check before using data)."""
    if not isinstance(data, dict) or "p-ticket" not in data:
        return None
    raw_wait = data.get("p-time", 0)
    try:
        wait_s = max(0.0, float(raw_wait))
    except (TypeError, ValueError):
        wait_s = 0.0
    return Penalty(str(data["p-ticket"]), wait_s, bool(data.get("p-captcha", False)))


def business_failure(data: Any) -> BrokerRejected | None:
    """Return the rejection a 200 answer carries in ``errorText`` or ``failureReason`` (§3.3)."""
    if not isinstance(data, dict):
        return None
    error_text = data.get("errorText")
    if error_text:
        return BrokerRejected(str(error_text)[:_TEXT_LIMIT], code="broker_error_text")
    reason = data.get("failureReason")
    if reason and reason != "Success":
        text = data.get("failureText") or str(reason)
        return BrokerRejected(str(text)[:_TEXT_LIMIT], code=str(reason))
    return None


def classify(status: int, data: Any, *, endpoint: str) -> Outcome:
    """Classify an answer or raise the error it means."""
    if 200 <= status < 300:
        penalty = penalty_of(data)
        if penalty is not None:
            return penalty
        failure = business_failure(data)
        if failure is not None:
            raise failure
        return Ok(data)
    if status in (423, 429):
        return Throttled(status)
    detail = f"Tradovate {endpoint} answered {status}"
    text = _text(data)
    if text:
        detail = f"{detail}: {text}"
    if status in (401, 403):
        raise TokenRejected(detail)
    if status == 404:
        raise BrokerNotFound(detail)
    if status == 408 or status >= 500:
        raise TransientBrokerError(detail, code="broker_server_error")
    raise BrokerRejected(detail, code=f"broker_http_{status}")
