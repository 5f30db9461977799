"""Ops API configuration, admin level (the master key).

``POST /api/config/check`` checks the deployed strategy file, or the candidate TOML file in
the body, against this deployment's settings, secrets, Tradovate accounts and contracts
(``shared.services.ops.config_check``); the problems are in the 200 answer.

``GET /api/strategies/{id}/alert-template?format=&action=&reveal=`` writes a strategy's
TradingView alert (``shared.services.ops.alert_template``). With ``reveal=true`` the message
holds the strategy's webhook secret: the one answer of the ops API that carries a secret. It
is never logged (nor is any body here). See ``docs/ops-api.md``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import azure.functions as func

from functions.ops_common import Answer, answer, flag, query
from shared.container import get_container

# The use cases are imported inside the functions: cold start pays for them only when called.
bp = func.Blueprint()
_NONE: frozenset[str] = frozenset()
_TEMPLATE_PARAMS = frozenset({"format", "action", "reveal"})


@bp.route(route="config/check", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def config_check(req: func.HttpRequest) -> func.HttpResponse:
    """Check the deployed strategy file, or the TOML body, against this deployment."""

    async def call() -> Answer:
        from shared.services.ops.config_check import read_candidate

        query(req, _NONE)
        candidate = read_candidate(req.get_body())
        return 200, await get_container().config_check.check(candidate)

    return await answer("config/check", call)


@bp.route(route="strategies/{id}/alert-template", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def alert_template(req: func.HttpRequest) -> func.HttpResponse:
    """Write a strategy's TradingView alert; its secret only with ``reveal=true``."""

    async def call() -> Answer:
        from shared.services.ops.alert_template import read_request

        params = query(req, _TEMPLATE_PARAMS)
        strategy_id = req.route_params.get("id", "")
        request = read_request(strategy_id, params, flag(params, "reveal"))
        return 200, await get_container().alert_templates.render(request, _origin(req.url))

    return await answer("strategies/{id}/alert-template", call)


def _origin(url: str) -> str:
    """Return the scheme and host the request came to: the deployment's base URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
