"""Ops API broker state and markets (function level): accounts, positions, orders, balance
(the worker's cache, else Tradovate REST), contract maps and quote snapshots.

Parameters: ``account`` (a name from the strategy file), ``max_age`` (seconds the worker's
heartbeat may be old before REST answers; default 10, 0 forces REST), ``flat`` (positions:
include flat ones), ``all`` (orders: include closed ones). See ``docs/ops-api.md``.
"""

from __future__ import annotations

import azure.functions as func

from functions.ops_common import Answer, answer, flag, get, query
from shared.container import get_container

bp = func.Blueprint()
DEFAULT_MAX_AGE_S = 10.0  # shared.services.ops.broker_state.DEFAULT_MAX_AGE_S


def _max_age(params: dict[str, str]) -> float:
    from shared.services.ops.requests import number

    return number(params, "max_age", DEFAULT_MAX_AGE_S, 0, 3600)


@bp.route(route="accounts", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def accounts(req: func.HttpRequest) -> func.HttpResponse:
    """List the configured accounts (and, from REST, the broker's others)."""

    async def call() -> Answer:
        params = query(req, frozenset({"max_age"}))
        return 200, await get_container().broker_state.accounts(_max_age(params))

    return await answer("accounts", call)


@bp.route(route="positions", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def positions(req: func.HttpRequest) -> func.HttpResponse:
    """List open positions of every configured account, or of ``account``."""

    async def call() -> Answer:
        params = query(req, frozenset({"account", "max_age", "flat"}))
        state = get_container().broker_state
        return 200, await state.positions(
            get(params, "account"), _max_age(params), flat=flag(params, "flat")
        )

    return await answer("positions", call)


@bp.route(route="orders", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def orders(req: func.HttpRequest) -> func.HttpResponse:
    """List working orders (``?all``: also closed ones)."""

    async def call() -> Answer:
        params = query(req, frozenset({"account", "max_age", "all"}))
        state = get_container().broker_state
        return 200, await state.orders(
            get(params, "account"), _max_age(params), every=flag(params, "all")
        )

    return await answer("orders", call)


@bp.route(route="balance", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def balance(req: func.HttpRequest) -> func.HttpResponse:
    """Return cash, realized and open P&L and net liquidation value per account."""

    async def call() -> Answer:
        params = query(req, frozenset({"account", "max_age"}))
        state = get_container().broker_state
        return 200, await state.balance(get(params, "account"), _max_age(params))

    return await answer("balance", call)


@bp.route(route="contracts", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def contracts(req: func.HttpRequest) -> func.HttpResponse:
    """Show the contract map of every configured root (or ``?root=``)."""

    async def call() -> Answer:
        params = query(req, frozenset({"root"}))
        return 200, await get_container().market_data.contracts(get(params, "root"))

    return await answer("contracts", call)


@bp.route(route="quotes/{symbol}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def quotes(req: func.HttpRequest) -> func.HttpResponse:
    """Return the latest quote snapshot of a symbol (NQ1!, NQZ6, NQ) with its age."""

    async def call() -> Answer:
        query(req, frozenset())
        symbol = req.route_params.get("symbol", "")
        return 200, await get_container().market_data.quote(symbol)

    return await answer("quotes", call)
