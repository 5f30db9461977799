"""Operations HTTP API: the anonymous liveness probe (the local stack's smoke test uses it).

The rest of the ops API (function- and admin-level routes) is in ``functions/ops_*.py``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import azure.functions as func

from functions.http_responses import json_response
from shared import __version__

bp = func.Blueprint()
_STARTED = time.monotonic()


def uptime_s() -> float:
    """Return seconds since this process imported the ops API."""
    return round(time.monotonic() - _STARTED, 1)


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Answer a liveness probe (status, uptime, timestamp) without touching any dependency."""
    started = time.perf_counter()
    up = uptime_s()
    body = {
        "status": "ok",
        "service": "tradebridge",
        "version": __version__,
        "uptime_s": up,
        "uptime": up,  # seconds, the name the health contract uses (issue 13)
        "timestamp": datetime.now(UTC).isoformat(),
    }
    return json_response(body, 200, started)
