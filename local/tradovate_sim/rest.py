"""The REST transport: ``/v1/{entity}/{operation}``, any method (Tradovate does not enforce
GET vs POST), bearer token from ``Authorization``; everything else is ``api.handle``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from local.tradovate_sim.api import NO_BODY, ApiRequest, ApiResponse, handle, normalise
from local.tradovate_sim.config import SimConfig
from local.tradovate_sim.handlers import REST_HANDLERS
from local.tradovate_sim.hub import Hub
from local.tradovate_sim.sim import Simulation
from local.tradovate_sim.wire import dumps
from local.tradovate_sim.ws import after_request


def bearer_token(header: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _form_value(text: str) -> Any:
    if text.lstrip("-").isdigit():
        return int(text)
    return {"true": True, "false": False}.get(text, text)


async def read_body(request: web.Request, config: SimConfig) -> tuple[Any, str | None]:
    """Return the request body (None when empty) or an error text."""
    raw = await request.read()
    if not raw.strip():
        return None, None
    if request.content_type == "application/x-www-form-urlencoded":
        if not config.accept_form_bodies:
            return None, "Unsupported content type: send a JSON body"
        pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        return {key: _form_value(value) for key, value in pairs}, None
    try:
        return json.loads(raw), None
    except ValueError:
        return None, "Invalid JSON in request body"


def to_http(response: ApiResponse) -> web.Response:
    """Translate an ``ApiResponse`` into HTTP: JSON, plain text, or an empty body."""
    if response.payload is NO_BODY:
        return web.Response(status=response.status)
    if isinstance(response.payload, str):
        return web.Response(status=response.status, text=response.payload)
    return web.Response(
        status=response.status, text=dumps(response.payload), content_type="application/json"
    )


async def rest_endpoint(request: web.Request, sim: Simulation, hub: Hub) -> web.Response:
    """Serve one REST call."""
    endpoint = normalise(request.match_info["path"].strip("/"))
    body, error = await read_body(request, sim.config)
    if error is not None:
        sim.stats.count("rest", endpoint)
        return to_http(ApiResponse(400, error))
    req = ApiRequest(
        endpoint,
        dict(request.query),
        body,
        "rest",
        bearer=bearer_token(request.headers.get("Authorization")),
    )
    response = await handle(sim, req, REST_HANDLERS)
    after_request(hub, sim, response)
    return to_http(response)
