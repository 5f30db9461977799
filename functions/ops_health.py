"""Ops API health: ``/api/health/live``, ``/api/health/ready``, ``/api/health/detailed``,
``/api/health/metrics``.

All four are function level (``GET /api/health`` stays the anonymous probe). ``live`` touches
nothing; ``ready`` and ``detailed`` check every part (``shared.services.ops.health``) and answer
503, naming the failing parts, when a required one is down; ``metrics`` counts signals and
measures their latency from the journal and the ledger (``shared.services.ops.metrics``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import azure.functions as func

from functions.http_responses import json_response
from functions.ops_common import Answer, answer, query
from functions.ops_http import uptime_s
from shared import __version__
from shared.container import get_container

bp = func.Blueprint()
_NONE: frozenset[str] = frozenset()


@bp.route(route="health/live", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health_live(req: func.HttpRequest) -> func.HttpResponse:
    """Answer liveness with the key checked, without touching any dependency."""
    started = time.perf_counter()
    up = uptime_s()
    body = {
        "status": "ok",
        "version": __version__,
        "uptime": up,
        "uptime_s": up,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    return json_response(body, 200, started, {"Cache-Control": "no-store"})


@bp.route(route="health/ready", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def health_ready(req: func.HttpRequest) -> func.HttpResponse:
    """Check every part; 503 naming the required parts that are down."""

    async def call() -> Answer:
        query(req, _NONE)
        ok, report = await get_container().ops_health.ready()
        return (200 if ok else 503), {**report, "uptime": uptime_s()}

    return await answer("health/ready", call)


@bp.route(route="health/detailed", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def health_detailed(req: func.HttpRequest) -> func.HttpResponse:
    """Check every part and describe the deployment, backlogs and trading state."""

    async def call() -> Answer:
        query(req, _NONE)
        ok, report = await get_container().ops_health.detailed()
        return (200 if ok else 503), {**report, "uptime": uptime_s()}

    return await answer("health/detailed", call)


@bp.route(route="health/metrics", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def health_metrics(req: func.HttpRequest) -> func.HttpResponse:
    """Count signals by outcome and give latency percentiles, last hour and last day."""

    async def call() -> Answer:
        params = query(req, frozenset({"strategy"}))
        return 200, await get_container().ops_metrics.report(params)

    return await answer("health/metrics", call)
