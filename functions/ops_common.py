"""Shared plumbing of the ops API's HTTP functions: run a use case, map its answer or error.

Every ops function is a translator: read the request (query, body, the key it came with),
call one use case from the container, and render its dict as JSON (``Cache-Control:
no-store``). A ``BridgeError`` becomes ``{code, message[, field]}`` with the status
``functions.http_responses`` maps it to (400/401/403/404/409, 503 for a dependency, naming
it); anything else is logged with its traceback and answered 500 ``ops_failed`` without
details. The key a caller presented is fingerprinted for the journal, never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import azure.functions as func

from functions.http_responses import error_response, json_response
from shared.domain.errors import BridgeError, InvalidRequest, TransientError

if TYPE_CHECKING:
    from shared.services.ops.requests import Actor

log = logging.getLogger(__name__)

Answer = tuple[int, dict[str, Any]]
_NO_STORE = {"Cache-Control": "no-store"}


async def answer(
    name: str, call: Callable[[], Awaitable[Answer]], started: float | None = None
) -> func.HttpResponse:
    """Run ``call`` and render its (status, body), or the error it raised."""
    started = time.perf_counter() if started is None else started
    try:
        status, body = await call()
    except BridgeError as exc:
        if isinstance(exc, TransientError):
            log.warning("ops %s: %s (%s)", name, exc.message, exc.code)
        return error_response(exc, started)
    except Exception:  # the invocation boundary: log with context, answer without details
        log.exception("ops %s failed unexpectedly", name)
        body = {"code": "ops_failed", "message": "the request failed unexpectedly; see the log"}
        return json_response(body, 500, started, _NO_STORE)
    return json_response(body, status, started, _NO_STORE)


def query(req: func.HttpRequest, allowed: frozenset[str]) -> dict[str, str]:
    """Return the query parameters (the key's ``code`` left out); refuse unknown ones."""
    params = {k: v for k, v in req.params.items() if k != "code"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidRequest(
            f"unknown parameter {unknown[0]!r} (allowed: {', '.join(sorted(allowed)) or 'none'})",
            code="bad_filter",
            field=unknown[0],
        )
    return params


def actor(req: func.HttpRequest, level: str) -> Actor:
    """Return who is calling: the key's level and fingerprint, and their ``X-Ops-Actor``."""
    from shared.services.ops.requests import actor_of

    presented = req.headers.get("x-functions-key") or req.params.get("code")
    return actor_of(level, presented, req.headers.get("x-ops-actor"))


def get(params: Mapping[str, str], name: str) -> str | None:
    """Return a parameter's value, None when absent or empty."""
    return params.get(name) or None


def flag(params: Mapping[str, str], name: str) -> bool:
    """Read a boolean parameter (present without a value, ``true`` or ``1`` is true)."""
    from shared.services.ops.requests import flag as read_flag

    return read_flag(params, name)
