"""One request pipeline for REST and WebSocket: count, inject faults, handle p-tickets, check
the token, route to a handler. Both transports call ``handle`` and only translate its
``ApiResponse`` into their own framing.

Order of checks per request: stats; latency; 429/423; 5xx ("before" mode); p-ticket redemption
or a new penalty; bearer token; the handler; 5xx ("after" mode: the work is done, the client is
told it failed).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.tradovate_sim.auth import AuthFailure, Token
from local.tradovate_sim.sim import Simulation
from local.tradovate_sim.validation import BadRequest, Rejection

NO_BODY: Any = object()  # an empty body (429/423), as opposed to JSON null
PUBLIC = frozenset({"auth/accesstokenrequest", "authorize"})
_error_ids = itertools.count(1)


@dataclass
class ApiRequest:
    """One request, whichever transport it came on."""

    endpoint: str  # normalised: lower case, no leading slash
    query: dict[str, str]
    body: Any
    transport: str  # "rest" or "ws"
    bearer: str | None = None
    token: Token | None = None  # set by the pipeline (REST) or the socket (WS)


@dataclass
class ApiResponse:
    """What to answer: a status and a JSON payload, a plain-text error, or nothing."""

    status: int
    payload: Any = NO_BODY
    closed_sessions: list[int] = field(default_factory=list)
    token: Token | None = None  # the token an ``authorize`` accepted


Handler = Callable[[Simulation, ApiRequest], ApiResponse]


def normalise(endpoint: str) -> str:
    """Lower-case an endpoint name (Tradovate matches operation names case-insensitively)."""
    return endpoint.strip().lower()


def _server_error() -> str:
    return f"Internal Server Error, error id: SIM-{next(_error_ids)}"


def _p_ticket(req: ApiRequest) -> str | None:
    if isinstance(req.body, dict) and isinstance(req.body.get("p-ticket"), str):
        return str(req.body["p-ticket"])
    return req.query.get("p-ticket")


def _without_ticket(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k != "p-ticket"}
    return body


async def handle(sim: Simulation, req: ApiRequest, handlers: dict[str, Handler]) -> ApiResponse:
    """Run one request through the whole pipeline."""
    sim.stats.count(req.transport, req.endpoint)
    decision = sim.faults.decide(req.endpoint, sim.clock.now(), resend=_p_ticket(req) is not None)
    if decision.latency_s > 0:
        await asyncio.sleep(decision.latency_s)
    if decision.throttle_status is not None:
        sim.stats.faults[str(decision.throttle_status)] += 1
        return ApiResponse(decision.throttle_status)
    if decision.error_status is not None and not decision.error_after:
        sim.stats.faults[str(decision.error_status)] += 1
        return ApiResponse(decision.error_status, _server_error())
    penalty = _penalty(sim, req, decision.pticket)
    if penalty is not None:
        return ApiResponse(200, penalty)
    response = _route(sim, req, handlers)
    if decision.error_status is not None:
        sim.stats.faults[f"{decision.error_status}-after"] += 1
        return ApiResponse(decision.error_status, _server_error(), response.closed_sessions)
    return response


def _penalty(sim: Simulation, req: ApiRequest, issue: bool) -> dict[str, Any] | None:
    now = sim.clock.now()
    ticket = _p_ticket(req)
    if ticket is not None:
        answer = sim.penalties.redeem(ticket, req.endpoint, req.body, now)
        if answer is None:
            req.body = _without_ticket(req.body)
            sim.stats.faults["p-ticket-redeemed"] += 1
        return answer
    login_captcha = req.endpoint == "auth/accesstokenrequest" and sim.auth.captcha_due()
    if not (issue or login_captcha):
        return None
    sim.stats.faults["p-ticket"] += 1
    cfg = sim.faults.config
    captcha = cfg.pticket_captcha or login_captcha
    return sim.penalties.issue(req.endpoint, req.body, now, cfg.pticket_time_s, captcha)


def _route(sim: Simulation, req: ApiRequest, handlers: dict[str, Handler]) -> ApiResponse:
    handler = handlers.get(req.endpoint)
    if handler is None:
        return ApiResponse(404, f"Not found: {req.endpoint}")
    if req.endpoint not in PUBLIC and req.token is None:
        checked = sim.auth.check(req.bearer)
        if isinstance(checked, AuthFailure):
            return ApiResponse(checked.status, checked.text)
        req.token = checked
    try:
        return handler(sim, req)
    except BadRequest as exc:
        return ApiResponse(exc.status, exc.text)
    except Rejection as exc:
        return ApiResponse(200, exc.wire())
