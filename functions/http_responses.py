"""Map results and errors of the HTTP functions to responses, in one place."""

from __future__ import annotations

import json
import time
from typing import Any

import azure.functions as func

from shared.domain.errors import (
    BridgeError,
    ConfigError,
    Conflict,
    Forbidden,
    InvalidRequest,
    InvalidSignal,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    TransientError,
    Unauthorized,
)

# Most specific first; anything else is a 503, which is only safe because every caller
# maps errors that happen before any side effect (DESIGN.md rule 3).
_STATUS: tuple[tuple[type[BridgeError], int], ...] = (
    (PayloadTooLarge, 413),
    (InvalidSignal, 400),
    (InvalidRequest, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (RateLimited, 429),
    (TransientError, 503),
    (ConfigError, 503),
)


def status_for(error: BridgeError) -> int:
    """Return the HTTP status for a refused request."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 503


def json_response(
    body: dict[str, Any], status: int, started: float, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    """Build a JSON response stamped with ``X-Process-Time-ms``."""
    elapsed_ms = (time.perf_counter() - started) * 1000
    all_headers = {"X-Process-Time-ms": f"{elapsed_ms:.2f}", **(headers or {})}
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        mimetype="application/json",
        headers=all_headers,
    )


def error_response(error: BridgeError, started: float) -> func.HttpResponse:
    """Build the ``{code, message[, field]}`` response for a refused request."""
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after_s)
    return json_response(error.to_dict(), status_for(error), started, headers)
