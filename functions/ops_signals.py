"""Ops API journal (function level): ``GET /api/signals`` (filters, newest first, cursor
paging) and ``GET /api/signals/{id}`` (the parsed signal, each account's plan, legs, broker
answers and the timeline). See ``docs/ops-api.md``.
"""

from __future__ import annotations

import azure.functions as func

from functions.ops_common import Answer, answer, get, query
from shared.container import get_container

bp = func.Blueprint()
_FILTERS = frozenset(
    {"strategy", "account", "status", "symbol", "since", "until", "limit", "cursor"}
)


@bp.route(route="signals", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def signals(req: func.HttpRequest) -> func.HttpResponse:
    """List signals newest first; ``next`` is the cursor of the following page."""

    async def call() -> Answer:
        from shared.services.ops.signals import read_query

        params = query(req, _FILTERS)
        log = get_container().signal_log
        return 200, await log.page(read_query(params, log.now()))

    return await answer("signals", call)


@bp.route(route="signals/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def signal(req: func.HttpRequest) -> func.HttpResponse:
    """Show one signal whole (``?strategy=`` saves a search when the ledger forgot it)."""

    async def call() -> Answer:
        params = query(req, frozenset({"strategy"}))
        signal_id = req.route_params.get("id", "")
        return 200, await get_container().signal_log.detail(signal_id, get(params, "strategy"))

    return await answer("signals/{id}", call)
