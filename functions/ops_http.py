"""Operations HTTP API: liveness for probes and the local stack's smoke test."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import azure.functions as func

from functions.http_responses import json_response
from shared import __version__

bp = func.Blueprint()
_STARTED = time.monotonic()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Answer a liveness probe (status, uptime, timestamp) without touching any dependency."""
    started = time.perf_counter()
    body = {
        "status": "ok",
        "service": "tradebridge",
        "version": __version__,
        "uptime_s": round(time.monotonic() - _STARTED, 1),
        "timestamp": datetime.now(UTC).isoformat(),
    }
    return json_response(body, 200, started)
