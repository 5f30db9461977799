"""The endpoint registry: every REST operation the simulator serves, in one table.

Generic reads (``list``/``item``/``find``/...) are generated from ``queries.SOURCES``; the
operations with their own body are written out below. WebSocket-only operations (``authorize``,
the socket-bound ``user/syncrequest``, ``md/*``) are added by ``ws.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from local.tradovate_sim.api import ApiRequest, ApiResponse, Handler
from local.tradovate_sim.queries import NOT_FOUND, READS, SOURCES, run_read
from local.tradovate_sim.sim import Simulation
from local.tradovate_sim.sync import parse_scope, snapshot
from local.tradovate_sim.validation import (
    BadRequest,
    check_fields,
    parse_cancel,
    parse_liquidate,
    parse_modify,
    parse_place,
    parse_restrained,
    require_object,
)


def _session(req: ApiRequest) -> int:
    return req.token.session_id if req.token is not None else 0


def _ok(sim: Simulation, payload: dict[str, Any]) -> ApiResponse:
    if sim.config.success_failure_reason and "failureReason" not in payload:
        payload = {"failureReason": "Success", **payload}
    return ApiResponse(200, payload)


def _order_body(sim: Simulation, req: ApiRequest) -> dict[str, Any]:
    body = require_object(req.body)
    if sim.config.reject_unknown_fields:
        check_fields(req.endpoint, body)
    return body


def access_token_request(sim: Simulation, req: ApiRequest) -> ApiResponse:
    """``auth/accesstokenrequest``: credentials in, tokens out (or ``errorText``)."""
    body = require_object(req.body)
    result = sim.auth.login(body)
    if result.status == 200 and "accessToken" in result.body:
        sim.stats.logins += 1
    return ApiResponse(result.status, result.body, result.closed_sessions)


def renew_access_token(sim: Simulation, req: ApiRequest) -> ApiResponse:
    """``auth/renewaccesstoken``: same session, new token, later expiry."""
    assert req.token is not None
    sim.stats.renewals += 1
    return ApiResponse(200, sim.auth.renew(req.token))


def me(sim: Simulation, req: ApiRequest) -> ApiResponse:
    """``auth/me``."""
    return ApiResponse(200, sim.auth.me())


def place_order(sim: Simulation, req: ApiRequest) -> ApiResponse:
    """``order/placeorder``."""
    request = parse_place(_order_body(sim, req))
    return _ok(sim, sim.engine.place(request, _session(req)))


def place_oso(sim: Simulation, req: ApiRequest) -> ApiResponse:
    """``order/placeoso``: entry plus ``bracket1`` (required) and ``bracket2``."""
    body = _order_body(sim, req)
    bracket1 = parse_restrained(body, "bracket1", required=True)
    bracket2 = parse_restrained(body, "bracket2", required=False)
    request = parse_place(body)
    assert bracket1 is not None
    return _ok(sim, sim.engine.place_oso(request, bracket1, bracket2, _session(req)))


def place_oco(sim: Simulation, req: ApiRequest) -> ApiResponse:
    """``order/placeoco``: an order plus ``other``."""
    body = _order_body(sim, req)
    other = parse_restrained(body, "other", required=True)
    request = parse_place(body)
    assert other is not None
    return _ok(sim, sim.engine.place_oco(request, other, _session(req)))


def modify_order(sim: Simulation, req: ApiRequest) -> ApiResponse:
    """``order/modifyorder``."""
    parsed = parse_modify(_order_body(sim, req))
    order = sim.engine.orders.get(parsed.order_id)
    action = order.action if order is not None else "Buy"
    version = dataclasses.replace(parsed.version, action=action, order_type=parsed.order_type)
    result = sim.engine.modify(
        parsed.order_id,
        parsed.order_qty,
        version,
        parsed.is_automated,
        parsed.custom_tag50,
        _session(req),
    )
    return _ok(sim, result)


def cancel_order(sim: Simulation, req: ApiRequest) -> ApiResponse:
    """``order/cancelorder``."""
    order_id, cl_ord_id, automated = parse_cancel(_order_body(sim, req))
    return _ok(sim, sim.engine.cancel(order_id, cl_ord_id, automated, _session(req)))


def liquidate_position(sim: Simulation, req: ApiRequest) -> ApiResponse:
    """``order/liquidateposition``."""
    account_id, contract_id, admin, tag50 = parse_liquidate(_order_body(sim, req))
    return _ok(sim, sim.engine.liquidate(account_id, contract_id, admin, tag50, _session(req)))


def cash_snapshot(sim: Simulation, req: ApiRequest) -> ApiResponse:
    """``cashBalance/getcashbalancesnapshot`` with body ``{accountId}``."""
    body = require_object(req.body if req.body is not None else dict(req.query))
    account_id = body.get("accountId")
    if isinstance(account_id, str) and account_id.isdigit() and req.body is None:
        account_id = int(account_id)  # query-string form
    if isinstance(account_id, bool) or not isinstance(account_id, int):
        raise BadRequest("No usable value for accountId")
    return ApiResponse(200, sim.engine.cash_snapshot(account_id))


def roll_contract(sim: Simulation, req: ApiRequest) -> ApiResponse:
    """``contract/rollcontract`` with body ``{name, forward, ifExpired}``."""
    body = require_object(req.body)
    name, forward = body.get("name"), body.get("forward")
    if not isinstance(name, str) or not isinstance(forward, bool):
        raise BadRequest("No usable value for name/forward")
    contract = sim.library.contract(name)
    if contract is None:
        return ApiResponse(200, {"errorText": f"Unknown contract {name}"})
    rolled = sim.library.roll(contract, forward, body.get("ifExpired") is True, sim.clock.now())
    return ApiResponse(200, {"contract": rolled.wire()})


def sync_request(sim: Simulation, req: ApiRequest) -> ApiResponse:
    """``user/syncrequest`` over REST: the snapshot only (streaming needs the WebSocket)."""
    return ApiResponse(200, snapshot(sim, parse_scope(sim, req.body)))


def _generic(entity: str, op: str) -> Handler:
    def read(sim: Simulation, req: ApiRequest) -> ApiResponse:
        query = dict(req.query)
        if isinstance(req.body, dict):
            query.update({k: str(v) for k, v in req.body.items() if k not in query})
        result = run_read(sim, entity, op, query)
        if result is NOT_FOUND:
            status = sim.config.not_found_status
            return ApiResponse(status, None if status == 200 else "Entity not found")
        return ApiResponse(200, result)

    return read


SPECIAL: dict[str, Handler] = {
    "auth/accesstokenrequest": access_token_request,
    "auth/renewaccesstoken": renew_access_token,
    "auth/me": me,
    "order/placeorder": place_order,
    "order/placeoso": place_oso,
    "order/placeoco": place_oco,
    "order/modifyorder": modify_order,
    "order/cancelorder": cancel_order,
    "order/liquidateposition": liquidate_position,
    "cashbalance/getcashbalancesnapshot": cash_snapshot,
    "contract/rollcontract": roll_contract,
    "user/syncrequest": sync_request,
}


def build_handlers() -> dict[str, Handler]:
    """Return every REST endpoint, keyed by normalised name."""
    handlers: dict[str, Handler] = {}
    for entity, source in SOURCES.items():
        for op in READS:
            if op in source.ops:
                handlers[f"{entity}/{op}"] = _generic(entity, op)
    handlers.update(SPECIAL)
    return handlers


REST_HANDLERS = build_handlers()
