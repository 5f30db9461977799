"""Admin endpoints under ``/admin`` (loopback clients only, no auth): state, stats, reset,
faults, prices, liquidity (partial fills), clock, runtime config, token revocation, socket
drops and shutdown events."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from local.tradovate_sim.clock import iso_ms, parse_iso
from local.tradovate_sim.contracts import Contract
from local.tradovate_sim.engine import Event
from local.tradovate_sim.faults import FaultConfig
from local.tradovate_sim.hub import SHUTDOWN_REASONS
from local.tradovate_sim.market import is_on_tick
from local.tradovate_sim.state import ServerState
from local.tradovate_sim.wire import dumps

AdminHandler = Callable[[ServerState, dict[str, Any], web.Request], Awaitable[Any]]


class AdminError(Exception):
    """A bad admin request (answered 400)."""


async def _state(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    sim = state.sim
    engine = sim.engine
    return {
        "now": iso_ms(sim.clock.now()),
        "config": sim.config.to_dict(),
        "faults": sim.faults.snapshot(),
        "accounts": [a.wire() | a.risk_status_wire() for a in engine.accounts.values()],
        "prices": {c.name: engine.market.price(c.id) for c in sim.library.contracts.values()},
        "orders": [o.wire(True) | {"version": o.version.wire()} for o in engine.orders.values()],
        "fills": [f.wire() for f in engine.fills.values()],
        "positions": [p.wire() for p in engine.positions.values()],
        "cashBalances": [c.wire() for c in engine.cash.values()],
        "commands": [c.wire() for c in engine.commands.values()],
        "executionReports": [r.wire() for r in engine.execution_reports.values()],
        "sessions": [
            {"id": s.id, "closed": s.closed, "tokens": len(s.tokens)}
            for s in sim.auth.sessions.values()
        ],
        "connections": state.hub.describe(),
    }


async def _stats(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    return state.sim.stats.snapshot(state.sim.penalties.body_mismatches)


async def _stats_reset(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    sim = state.sim
    sim.stats = type(sim.stats)()
    return {"ok": True}


async def _reset(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    await state.reset()
    return {"ok": True}


async def _faults(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    faults = state.sim.faults
    if request.method == "POST":
        changes = dict(body)
        if changes.pop("clear", False):
            faults.config = FaultConfig()
            faults.lockout_until = None
        try:
            faults.update(changes, state.sim.clock.now())
        except ValueError as exc:
            raise AdminError(str(exc)) from exc
    return faults.snapshot()


def _price_value(body: dict[str, Any]) -> Decimal:
    try:
        return Decimal(str(body["price"]))
    except (KeyError, InvalidOperation) as exc:
        raise AdminError("price must be a number") from exc


def _contracts(state: ServerState, symbol: object) -> list[Contract]:
    """Resolve a contract id, contract name or product name, or refuse the request."""
    contracts = state.sim.resolve(symbol) if isinstance(symbol, int | str) else []
    if not contracts:
        raise AdminError(f"unknown symbol or contractId: {symbol!r}")
    return contracts


async def _price(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    sim = state.sim
    symbol: str | int | None = body.get("contractId") or body.get("symbol")
    if symbol is None:
        symbol = request.query.get("contractId") or request.query.get("symbol")
        if isinstance(symbol, str) and symbol.isdigit():
            symbol = int(symbol)
    contracts = _contracts(state, symbol)
    if request.method == "POST":
        price = _price_value(body)
        tick = contracts[0].product.tick_size
        if price <= 0 or not is_on_tick(price, tick):
            raise AdminError(f"price {price} is not a positive multiple of {tick}")
        for contract in contracts:
            sim.engine.set_price(contract.id, price)
        state.hub.flush(sim)
    return {c.name: {"contractId": c.id, "price": sim.engine.market.price(c.id)} for c in contracts}


async def _liquidity(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    """Cap how many contracts an order trades per price move (``maxQty``; null lifts it)."""
    sim = state.sim
    if request.method == "POST":
        contracts = _contracts(state, body.get("contractId") or body.get("symbol"))
        max_qty = body.get("maxQty")
        if max_qty is not None and (not isinstance(max_qty, int) or max_qty < 1):
            raise AdminError("maxQty must be a positive integer, or null for no cap")
        for contract in contracts:
            sim.engine.set_liquidity(contract.id, max_qty)
    contract_by_id = sim.library.contracts
    return {
        contract_by_id[cid].name: {"contractId": cid, "maxQty": cap}
        for cid, cap in sim.engine.liquidity.items()
    }


async def _clock(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    clock = state.sim.clock
    if request.method == "POST":
        if "now" in body:
            clock.set(parse_iso(str(body["now"])))
        else:
            clock.advance(float(body.get("advance_s", 0)))
    return {"now": iso_ms(clock.now())}


async def _config(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    if request.method == "POST":
        try:
            state.sim.configure(body)
        except (TypeError, ValueError) as exc:
            raise AdminError(str(exc)) from exc
    return state.sim.config.to_dict()


async def _revoke(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    token = body.get("token")
    closed = state.sim.auth.revoke(token if isinstance(token, str) else None)
    return {"sessions": closed, "sockets": state.hub.revoke_sockets(closed)}


async def _drop(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    count = body.get("count")
    return {"dropped": state.hub.drop(body.get("kind"), count if isinstance(count, int) else None)}


async def _shutdown(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    code = body.get("reasonCode", "Maintenance")
    if code not in SHUTDOWN_REASONS:
        raise AdminError(f"reasonCode must be one of {', '.join(SHUTDOWN_REASONS)}")
    reason = str(body.get("reason", "Server maintenance"))
    sent = state.hub.shutdown(body.get("kind"), code, reason, body.get("close", True) is True)
    return {"sockets": sent}


_ACCOUNT_FLAGS = {
    "active": "active",
    "locked": "locked",
    "liquidationOnly": "liquidation_only",
    "maxOrderQty": "max_order_qty",
    "maxPosition": "max_position",
}


async def _account(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    account = state.sim.engine.accounts.get(body.get("accountId", -1))
    if account is None:
        raise AdminError("unknown accountId")
    unknown = set(body) - set(_ACCOUNT_FLAGS) - {"accountId"}
    if unknown:
        raise AdminError(f"unknown account setting(s): {', '.join(sorted(unknown))}")
    for wire_name, attribute in _ACCOUNT_FLAGS.items():
        if wire_name in body:
            setattr(account, attribute, body[wire_name])
    state.sim.engine.events.append(
        Event(account.id, "accountRiskStatus", "Updated", account.risk_status_wire())
    )
    state.hub.flush(state.sim)
    return dataclasses.asdict(account)


async def _ticker(state: ServerState, body: dict[str, Any], request: web.Request) -> Any:
    interval = body.get("interval_s")
    state.set_ticker(float(interval) if interval else None)
    return {"interval_s": state.ticker_interval_s}


ROUTES: dict[str, tuple[tuple[str, ...], AdminHandler]] = {
    "/admin/state": (("GET",), _state),
    "/admin/stats": (("GET",), _stats),
    "/admin/stats/reset": (("POST",), _stats_reset),
    "/admin/reset": (("POST",), _reset),
    "/admin/faults": (("GET", "POST"), _faults),
    "/admin/price": (("GET", "POST"), _price),
    "/admin/liquidity": (("GET", "POST"), _liquidity),
    "/admin/clock": (("GET", "POST"), _clock),
    "/admin/config": (("GET", "POST"), _config),
    "/admin/tokens/revoke": (("POST",), _revoke),
    "/admin/sockets/drop": (("POST",), _drop),
    "/admin/shutdown": (("POST",), _shutdown),
    "/admin/account": (("POST",), _account),
    "/admin/ticker": (("POST",), _ticker),
}


def is_loopback(address: str | None) -> bool:
    """Say whether a peer address is on the loopback interface."""
    return bool(address) and (address == "::1" or str(address).startswith("127."))


def admin_view(state: ServerState, handler: AdminHandler) -> Any:
    """Wrap an admin handler: loopback check, JSON in, JSON out."""

    async def view(request: web.Request) -> web.Response:
        if not is_loopback(request.remote):
            return web.Response(status=403, text="admin endpoints are loopback-only")
        body: Any = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return web.Response(status=400, text="admin body must be JSON")
        if not isinstance(body, dict):
            return web.Response(status=400, text="admin body must be a JSON object")
        try:
            result = await handler(state, body, request)
        except AdminError as exc:
            return web.Response(status=400, text=str(exc))
        return web.Response(text=dumps(result), content_type="application/json")

    return view


def add_admin_routes(app: web.Application, state: ServerState) -> None:
    """Register every admin route."""
    for path, (methods, handler) in ROUTES.items():
        for method in methods:
            app.router.add_route(method, path, admin_view(state, handler))
