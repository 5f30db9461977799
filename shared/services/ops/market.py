"""Show the contract maps (per root: chain, next roll, age) and quote snapshots (with age).

Both read Redis only, in one round trip: the maps are what the contract-refresh timer (and the
executor, on a miss) wrote (``contracts:{ROOT}``); a quote is what the worker's market-data
socket last wrote (``quote:{id}``, a few seconds' TTL, only for contracts the worker follows:
those with a position or a working order). A quote read finds the contract in the map inside
the same script that reads the quote.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import redis_keys as keys
from shared.domain.errors import InvalidRequest, InvalidSignal, NotFound
from shared.domain.symbols import SymbolRef, parse_symbol
from shared.ports import Clock
from shared.services.contracts import is_stale, spec_from, strategy_roots
from shared.services.live_state import parse_document, seconds_since
from shared.services.ops.ports import OpsStore
from shared.strategies import StrategyBook

MAP_MAX_AGE_S = 3600.0  # the executor's resolver refreshes a map older than this


def map_view(root: str, doc: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    """Render one root's map: its chain, next roll, age and whether it is stale."""
    if doc is None:
        return {"root": root, "status": "missing"}
    contracts = [
        {
            "name": name,
            "id": entry.get("id"),
            "expiration": entry.get("expiration"),
            "first_intent": entry.get("first_intent"),
            "roll_at": entry.get("roll_at"),
        }
        for name, entry in sorted(
            (doc.get("contracts") or {}).items(), key=lambda kv: str(kv[1].get("expiration"))
        )
    ]
    return {
        "root": root,
        "status": "stale" if is_stale(doc, now, MAP_MAX_AGE_S) else "fresh",
        "updated_at": doc.get("updated_at"),
        "age_s": seconds_since(doc.get("updated_at"), now),
        "front": doc.get("front"),
        "next_roll_at": doc.get("next_roll_at"),
        "continuous": doc.get("continuous"),
        "policy": (doc.get("policy") or {}).get("describe"),
        "product": {
            name: (doc.get("spec") or {}).get(name)
            for name in ("description", "tick_size", "value_per_point")
        },
        "contracts": contracts,
    }


def _pick(symbol: SymbolRef) -> tuple[str, str]:
    if symbol.tradovate_name is not None:
        return "name", symbol.tradovate_name
    if symbol.continuous is not None:
        return "continuous", str(symbol.continuous)
    return "front", ""


def _picked_id(doc: dict[str, Any], pick: tuple[str, str]) -> object:
    # Return the id of the contract the quote script chose from the stored chain.
    kind, value = pick
    name: object
    if kind == "name":
        name = value
    elif kind == "continuous":
        name = (doc.get("continuous") or {}).get(value)
    else:
        name = doc.get("front")
    return ((doc.get("contracts") or {}).get(name) or {}).get("id")


class MarketData:
    """Read contract maps and quotes for the roots of one strategy book."""

    def __init__(self, strategies: StrategyBook, store: OpsStore, clock: Clock) -> None:
        self._strategies = strategies
        self._store = store
        self._clock = clock

    async def contracts(self, root: str | None) -> dict[str, Any]:
        """Return the map of every root the strategy file names, or of ``root``."""
        if root is not None:
            try:
                roots = [parse_symbol(root).root]
            except InvalidSignal:
                raise InvalidRequest(
                    f"{root!r} is not a root", code="bad_filter", field="root"
                ) from None
        else:
            roots = sorted(strategy_roots(self._strategies.values()))
        reading = await self._store.read([keys.contract_map(r) for r in roots])
        now = self._clock.now()
        maps = [
            map_view(r, parse_document(raw), now)
            for r, raw in zip(roots, reading.strings, strict=True)
        ]
        if root is not None and maps[0]["status"] == "missing":
            raise NotFound(
                f"no contract map for {roots[0]} yet (the contract-refresh timer builds it, "
                "as does the first signal on it)",
                code="no_contract_map",
            )
        return {"as_of": now.isoformat(), "maps": maps}

    async def quote(self, text: str) -> dict[str, Any]:
        """Return the latest quote snapshot of the contract ``text`` names, with its age."""
        try:
            symbol = parse_symbol(text)
        except InvalidSignal as exc:
            raise InvalidRequest(exc.message, code="bad_symbol", field="symbol") from None
        pick = _pick(symbol)
        raw_map, raw_quote = await self._store.map_and_quote(symbol.root, pick)
        doc = parse_document(raw_map)
        if doc is None:
            raise NotFound(f"no contract map for {symbol.root} yet", code="no_contract_map")
        now = self._clock.now()
        try:
            spec = spec_from(doc, symbol, now)
        except (InvalidSignal, KeyError, ValueError):
            raise NotFound(
                f"{text} names no contract in the {symbol.root} map", code="unknown_contract"
            ) from None
        quote = parse_document(raw_quote)
        if _picked_id(doc, pick) != spec.contract.id:
            # The stored chain is behind a roll the map's dates already passed: read the
            # quote of the contract the dates name.
            reading = await self._store.read([keys.quote(spec.contract.id)])
            quote = parse_document(reading.strings[0])
        answer: dict[str, Any] = {
            "symbol": symbol.canonical,
            "contract": spec.contract.name,
            "contract_id": spec.contract.id,
            "as_of": now.isoformat(),
        }
        if quote is None:
            answer.update(
                quote=None,
                age_s=None,
                reason="no quote: the worker streams quotes only for contracts with a "
                "position or a working order, and only while it runs",
            )
            return answer
        fields = (
            "bid",
            "bid_size",
            "ask",
            "ask_size",
            "last",
            "last_size",
            "mark",
            "volume",
            "timestamp",
            "received_at",
        )
        answer["quote"] = {name: quote.get(name) for name in fields}
        answer["age_s"] = seconds_since(quote.get("received_at"), now)
        return answer
