"""Ops API trading control: status (function level); disable, pause, stop, enable, resume and
flatten (admin level: the master key).

Bodies (JSON): ``{"strategy": ID}`` or ``{"account": NAME}`` or ``{"scope": "global"}``, a
``reason`` (required, journaled), and for ``disable`` a ``mode`` (``pause``, the default, or
``stop``); ``pause`` and ``stop`` are ``disable`` with that mode. ``resume`` is ``enable``.
Callers may name themselves in ``X-Ops-Actor``. See ``docs/ops-api.md``.
"""

from __future__ import annotations

import azure.functions as func

from functions.ops_common import Answer, actor, answer, query
from shared.container import get_container

# The use cases are imported inside the functions: cold start (the webhook's 3 s) pays for
# the ops API only when it is called.
bp = func.Blueprint()
_NONE: frozenset[str] = frozenset()


@bp.route(route="trading/status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def trading_status(req: func.HttpRequest) -> func.HttpResponse:
    """Show every kill switch (global, strategies, accounts) and the recent changes."""

    async def call() -> Answer:
        query(req, _NONE)
        return 200, await get_container().trading_control.status()

    return await answer("trading/status", call)


async def _disable(req: func.HttpRequest, name: str, mode: str | None) -> func.HttpResponse:
    async def call() -> Answer:
        from shared.services.ops.control import Mode, read_control

        query(req, _NONE)
        fixed = None if mode is None else Mode(mode)
        request = read_control(req.get_body(), actor(req, "admin"), mode=fixed, enabling=False)
        result = await get_container().trading_control.disable(request)
        count_engaged(result, request.mode.value)
        if "code" in result:  # stopped, but the flatten failed: the body says what to do
            return 503, result
        queued = bool((result.get("flatten") or {}).get("queued"))
        return (202 if queued else 200), result

    return await answer(name, call)


def count_engaged(result: dict[str, object], mode: str) -> None:
    """Count a switch this request engaged (``tradebridge_kill_switch_engaged``, by scope and
    mode): the metric the kill-switch alert rule watches. A pause of a switch already engaged
    changes nothing and is not counted; a stop always rewrites it and is."""
    scope = result.get("scope")
    if not result.get("changed") or not isinstance(scope, dict):
        return
    from shared.telemetry import get_metrics
    from shared.telemetry_names import ATTR_SCOPE

    get_metrics().kill_switch_engaged.add(1, {ATTR_SCOPE: str(scope.get("kind")), "mode": mode})


@bp.route(route="trading/disable", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def trading_disable(req: func.HttpRequest) -> func.HttpResponse:
    """Engage a kill switch; ``mode`` pause (default) or stop (also flatten)."""
    return await _disable(req, "trading/disable", None)


@bp.route(route="trading/pause", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def trading_pause(req: func.HttpRequest) -> func.HttpResponse:
    """Deny new entries in a scope; exits and stop management go on."""
    return await _disable(req, "trading/pause", "pause")


@bp.route(route="trading/stop", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def trading_stop(req: func.HttpRequest) -> func.HttpResponse:
    """Deny new entries in a scope and flatten it."""
    return await _disable(req, "trading/stop", "stop")


async def _enable(req: func.HttpRequest, name: str) -> func.HttpResponse:
    async def call() -> Answer:
        from shared.services.ops.control import read_control

        query(req, _NONE)
        request = read_control(req.get_body(), actor(req, "admin"), mode=None, enabling=True)
        return 200, await get_container().trading_control.enable(request)

    return await answer(name, call)


@bp.route(route="trading/enable", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def trading_enable(req: func.HttpRequest) -> func.HttpResponse:
    """Release a kill switch; 409 when it is not engaged."""
    return await _enable(req, "trading/enable")


@bp.route(route="trading/resume", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def trading_resume(req: func.HttpRequest) -> func.HttpResponse:
    """Release a kill switch (the same as enable)."""
    return await _enable(req, "trading/resume")


@bp.route(route="trading/flatten", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def trading_flatten(req: func.HttpRequest) -> func.HttpResponse:
    """Queue flat signals for every position and working order of a scope."""

    async def call() -> Answer:
        from shared.services.ops.flatten import read_flatten

        query(req, _NONE)
        request = read_flatten(req.get_body(), actor(req, "admin"))
        result = await get_container().flattener.flatten(
            request.scope, request.reason, request.actor, request.request_id
        )
        return (202 if result["queued"] else 200), result

    return await answer("trading/flatten", call)
