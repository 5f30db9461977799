"""Operations HTTP API: liveness for probes and the local stack's smoke test."""

from __future__ import annotations

import json

import azure.functions as func

from shared import __version__

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Answer a liveness probe without touching any dependency."""
    body = {"status": "ok", "service": "tradebridge", "version": __version__}
    return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")
