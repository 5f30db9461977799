"""Tradovate's generic read operations: ``list``, ``item``, ``items``, ``find``, ``deps``,
``ldeps`` and ``suggest``, only where the reference says the entity has them (§3.1: no
``contract/list``; ``contractMaturity`` has only item/items/deps/ldeps; ``position/find``
never returns anything)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.tradovate_sim.contracts import EXCHANGES
from local.tradovate_sim.sim import Simulation
from local.tradovate_sim.validation import BadRequest

Rows = Callable[[Simulation], list[dict[str, Any]]]

READS = ("list", "item", "items", "find", "deps", "ldeps", "suggest")
NOT_FOUND = object()


@dataclass(frozen=True)
class EntitySource:
    """Where an entity type's rows come from and which generic operations it supports."""

    rows: Rows
    ops: tuple[str, ...]
    master: str | None = None


def _orders(sim: Simulation) -> list[dict[str, Any]]:
    flag = sim.config.order_has_clordid
    return [o.wire(flag) for o in sim.engine.orders.values()]


def _contract_rows(sim: Simulation) -> list[dict[str, Any]]:
    return [c.wire() for c in sim.library.contracts.values()]


def _maturity_rows(sim: Simulation) -> list[dict[str, Any]]:
    now = sim.clock.now()
    return [sim.library.maturity_wire(m, now) for m in sim.library.maturities.values()]


def _wires(attribute: str) -> Rows:
    def rows(sim: Simulation) -> list[dict[str, Any]]:
        store: dict[Any, Any] = getattr(sim.engine, attribute)
        return [entity.wire() for entity in store.values()]

    return rows


def _user_rows(sim: Simulation) -> list[dict[str, Any]]:
    cfg = sim.config
    return [
        {
            "id": cfg.user_id,
            "name": cfg.username,
            "timestamp": sim.engine.accounts[cfg.accounts[0].id].timestamp,
            "email": cfg.email,
            "status": "Active",
            "professional": False,
        }
    ]


def currency_rows(sim: Simulation) -> list[dict[str, Any]]:
    """The only currency the simulated products use."""
    return [{"id": 1, "name": "USD", "symbol": "$"}]


def exchange_rows(sim: Simulation) -> list[dict[str, Any]]:
    """The exchanges of the simulated products."""
    return [{"id": ident, "name": name} for name, ident in EXCHANGES.items()]


_ALL = ("list", "item", "items", "deps", "ldeps")
SOURCES: dict[str, EntitySource] = {
    "account": EntitySource(_wires("accounts"), (*_ALL, "find", "suggest"), "userId"),
    "accountriskstatus": EntitySource(
        lambda sim: [a.risk_status_wire() for a in sim.engine.accounts.values()], _ALL, "id"
    ),
    "cashbalance": EntitySource(_wires("cash"), _ALL, "accountId"),
    "position": EntitySource(_wires("positions"), (*_ALL, "find"), "accountId"),
    "order": EntitySource(_orders, _ALL, "accountId"),
    "orderversion": EntitySource(_wires("versions"), _ALL, "orderId"),
    "command": EntitySource(_wires("commands"), _ALL, "orderId"),
    "commandreport": EntitySource(_wires("command_reports"), _ALL, "commandId"),
    "executionreport": EntitySource(_wires("execution_reports"), _ALL, "commandId"),
    "fill": EntitySource(_wires("fills"), _ALL, "orderId"),
    "fillpair": EntitySource(_wires("fill_pairs"), _ALL, "positionId"),
    "product": EntitySource(
        lambda sim: [p.wire() for p in sim.library.products],
        ("list", "item", "items", "find", "suggest"),
    ),
    "contract": EntitySource(
        _contract_rows, ("item", "items", "find", "deps", "ldeps", "suggest"), "contractMaturityId"
    ),
    "contractmaturity": EntitySource(
        _maturity_rows, ("item", "items", "deps", "ldeps"), "productId"
    ),
    "currency": EntitySource(currency_rows, ("list", "item", "items", "find")),
    "exchange": EntitySource(exchange_rows, ("list", "item", "items", "find")),
    "user": EntitySource(_user_rows, ("list", "item", "items", "find")),
}


def _param(query: dict[str, str], name: str) -> str:
    value = query.get(name)
    if value is None or value == "":
        raise BadRequest(f"No usable value for {name}")
    return value


def _int_param(query: dict[str, str], name: str) -> int:
    try:
        return int(_param(query, name))
    except ValueError as exc:
        raise BadRequest(f"No usable value for {name}\nExpected a number") from exc


def _int_list(query: dict[str, str], name: str) -> set[int]:
    try:
        return {int(part) for part in _param(query, name).split(",") if part.strip()}
    except ValueError as exc:
        raise BadRequest(f"No usable value for {name}\nExpected numbers") from exc


def run_read(sim: Simulation, entity: str, op: str, query: dict[str, str]) -> Any:
    """Run one generic read; return rows, one row, or ``NOT_FOUND``."""
    source = SOURCES[entity]
    if op == "suggest":
        return _suggest(sim, entity, source, query)
    rows = source.rows(sim)
    if op == "list":
        return rows
    if op == "item":
        wanted = _int_param(query, "id")
        return next((r for r in rows if r["id"] == wanted), NOT_FOUND)
    if op == "items":
        wanted_ids = _int_list(query, "ids")
        return [r for r in rows if r["id"] in wanted_ids]
    if op == "find":
        name = _param(query, "name")
        if entity == "position":
            return NOT_FOUND  # exists, "but never returns anything" (reference §3.1)
        return next((r for r in rows if r.get("name") == name), NOT_FOUND)
    masters = {_int_param(query, "masterid")} if op == "deps" else _int_list(query, "masterids")
    return [r for r in rows if r.get(source.master or "") in masters]


def _suggest(sim: Simulation, entity: str, source: EntitySource, query: dict[str, str]) -> Any:
    text = query.get("t", "")
    try:
        limit = int(query.get("l", "10"))
    except ValueError as exc:
        raise BadRequest("No usable value for l\nExpected a number") from exc
    if entity == "contract":
        return [c.wire() for c in sim.library.suggest(text, limit, sim.clock.now())]
    needle = text.strip().upper()
    hits = [r for r in source.rows(sim) if needle and needle in str(r.get("name", "")).upper()]
    return hits[: max(limit, 0)]
