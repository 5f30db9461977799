"""Keep each root's contract map in Redis and resolve symbols from it.

``ContractRefresher.refresh(root)`` (the timer every 15 minutes, or the executor on a miss)
takes the root's lock, asks Tradovate for the product, its maturities and their contracts
(``product/find``, ``contractMaturity/deps``, ``contract/suggest``, and ``contract/find`` for a
maturity suggest left out), chooses the continuous chain with the roll policy
(``shared.domain.rolls``) and writes the whole map with one SET and a TTL. When the front
contract differs from the previous map's, that roll is journaled and published on
``contract.rolled`` *before* the new map is written (a failed journal write leaves the old
map, so the retry sees the roll again); positions still open in the old contract are named in
the event and logged as alert-worthy, never rolled by Tradebridge.

``ContractResolver.resolve(symbol)`` is what the executor calls: the map from memory (for a
second) or Redis, refreshed under the lock when it is missing, older than ``max_age_s`` or past
its ``next_roll_at``. If Tradovate cannot be reached but a map exists, the chain is recomputed
from the stored dates, which stays right across a roll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from shared import redis_keys as keys
from shared.domain.broker import Contract, ContractMaturity, ContractSpec, Position, Product
from shared.domain.errors import BrokerRejected, InvalidSignal, TransientError
from shared.domain.rolls import Listing, RollPolicy, chain, policy_for, resolve_listing
from shared.domain.symbols import SymbolRef, contract_name_from_expiration_month
from shared.ports import Clock
from shared.strategies import Strategy

log = logging.getLogger(__name__)

MAP_VERSION = 1
ROLLED = "contract.rolled"


class ContractBroker(Protocol):
    """The Tradovate reference-data calls a refresh needs (``TradovateRest`` in production)."""

    async def find_product(self, name: str) -> Product:
        """Find a product by root."""
        ...

    async def product_maturities(self, product_id: int) -> tuple[ContractMaturity, ...]:
        """List a product's maturities."""
        ...

    async def suggest_contracts(self, text: str, limit: int = 10) -> tuple[Contract, ...]:
        """Suggest contracts matching a text."""
        ...

    async def find_contract(self, name: str) -> Contract:
        """Find a contract by name."""
        ...

    async def positions(self, account_id: int | None = None) -> tuple[Position, ...]:
        """List positions (of every account when no id is given)."""
        ...


class ContractMapStore(Protocol):
    """Keep whole contract maps (Redis in production)."""

    async def load(self, root: str) -> dict[str, Any] | None:
        """Return a root's map, or None."""
        ...

    async def save(self, root: str, doc: Mapping[str, Any], ttl_s: int) -> None:
        """Replace a root's map atomically."""
        ...

    async def roots(self) -> list[str]:
        """Return every root that has a map."""
        ...


class Locks(Protocol):
    """Hand out owner-only locks shared by every instance (Redis in production)."""

    async def acquire(self, key: str, ttl_s: float) -> str | None:
        """Take a lock; return its owner token, or None when someone else holds it."""
        ...

    async def release(self, key: str, token: str) -> None:
        """Release a lock we own."""
        ...

    async def held(self, key: str) -> bool:
        """Tell whether a lock is held."""
        ...


class EventBus(Protocol):
    """Publish events for dashboards (Redis pub/sub; best effort)."""

    async def publish(self, event: str, payload: Mapping[str, Any]) -> None:
        """Publish one event on its channel."""
        ...


class EventJournal(Protocol):
    """Keep events durably (Table storage), one row per deterministic event id."""

    async def record(self, kind: str, event_id: str, payload: Mapping[str, Any]) -> None:
        """Upsert one event."""
        ...


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """Say what one root's refresh did, and the front contract and roll when known."""

    root: str
    status: Literal["written", "fresh", "busy", "waited"]
    front: str | None = None
    rolled: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RefreshTuning:
    """Tune refreshes: lock lifetime, how long a waiter waits, when a map counts as fresh."""

    lock_ttl_s: float = 30.0
    wait_s: float = 10.0
    poll_s: float = 0.05
    min_interval_s: float = 60.0
    map_ttl_s: int = keys.CONTRACT_MAP_TTL_S


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _time(text: Any) -> datetime | None:
    return None if text in (None, "") else datetime.fromisoformat(str(text))


def listings_of(doc: Mapping[str, Any]) -> list[Listing]:
    """Read a map's contracts back as roll listings."""
    out = []
    for entry in doc["contracts"].values():
        expiration = _time(entry["expiration"])
        if expiration is not None:
            out.append(
                Listing(
                    entry["name"],
                    int(entry["expiration_month"]),
                    expiration,
                    _time(entry.get("first_intent")),
                )
            )
    return out


def policy_of(doc: Mapping[str, Any]) -> RollPolicy:
    """Read the roll policy a map was built with."""
    p = doc["policy"]
    return RollPolicy(
        int(p["days_before_expiration"]),
        None if p.get("days_before_first_intent") is None else int(p["days_before_first_intent"]),
        p.get("months"),
        str(p.get("family", "default")),
    )


def is_stale(doc: Mapping[str, Any], now: datetime, max_age_s: float) -> bool:
    """Tell whether a map is too old, past its next roll, or from another format version."""
    if doc.get("v") != MAP_VERSION:
        return True
    updated = _time(doc.get("updated_at"))
    next_roll = _time(doc.get("next_roll_at"))
    if updated is None or (now - updated).total_seconds() > max_age_s:
        return True
    return next_roll is not None and now >= next_roll


def spec_from(doc: Mapping[str, Any], symbol: SymbolRef, now: datetime) -> ContractSpec:
    """Resolve ``symbol`` against a map at ``now``; raise ``InvalidSignal`` if it names none."""
    listing = resolve_listing(symbol, listings_of(doc), policy_of(doc), now)
    entry = doc["contracts"][listing.name]
    s = doc["spec"]
    product = Product(
        id=int(s["product_id"]),
        name=str(s["name"]),
        tick_size=Decimal(str(s["tick_size"])),
        value_per_point=Decimal(str(s["value_per_point"])),
        currency_id=s.get("currency_id"),
        description=str(s.get("description", "")),
        months=str(s.get("months", "")),
        is_micro=bool(s.get("is_micro", False)),
    )
    maturity = ContractMaturity(
        id=int(entry["maturity_id"]),
        product_id=product.id,
        expiration_month=int(entry["expiration_month"]),
        expiration_date=listing.expiration,
        first_intent_date=listing.first_intent,
        is_front=bool(entry.get("is_front", False)),
    )
    contract = Contract(id=int(entry["id"]), name=listing.name, contract_maturity_id=maturity.id)
    return ContractSpec(contract=contract, product=product, maturity=maturity)


def build_map(
    product: Product,
    pairs: Iterable[tuple[ContractMaturity, Contract]],
    policy: RollPolicy,
    now: datetime,
) -> dict[str, Any]:
    """Render a root's map from its product and (maturity, contract) pairs at ``now``."""
    contracts: dict[str, dict[str, Any]] = {}
    listings = []
    for maturity, contract in pairs:
        if maturity.expiration_date is None:
            continue
        listing = Listing(
            contract.name,
            maturity.expiration_month,
            maturity.expiration_date,
            maturity.first_intent_date,
        )
        listings.append(listing)
        contracts[contract.name] = {
            "id": contract.id,
            "name": contract.name,
            "maturity_id": maturity.id,
            "expiration_month": maturity.expiration_month,
            "expiration": _iso(maturity.expiration_date),
            "first_intent": _iso(maturity.first_intent_date),
            "roll_at": _iso(policy.roll_at(listing)),
            "is_front": maturity.is_front,
        }
    current = chain(listings, policy, now)
    return {
        "v": MAP_VERSION,
        "root": product.name,
        "updated_at": now.isoformat(),
        "policy": policy.to_dict() | {"describe": policy.describe()},
        "spec": {
            "product_id": product.id,
            "name": product.name,
            "tick_size": str(product.tick_size),
            "value_per_point": str(product.value_per_point),
            "currency_id": product.currency_id,
            "description": product.description,
            "months": product.months,
            "is_micro": product.is_micro,
        },
        "front": current[0].name if current else None,
        "next_roll_at": _iso(policy.roll_at(current[0])) if current else None,
        "continuous": {str(i): x.name for i, x in enumerate(current, start=1)},
        "contracts": contracts,
    }


class ContractRefresher:
    """Rebuild root contract maps from Tradovate, one writer per root at a time."""

    def __init__(
        self,
        broker: ContractBroker,
        store: ContractMapStore,
        locks: Locks,
        bus: EventBus,
        journal: EventJournal,
        clock: Clock,
        *,
        overrides: Mapping[str, RollPolicy] | None = None,
        tuning: RefreshTuning | None = None,
    ) -> None:
        self._broker = broker
        self._store = store
        self._locks = locks
        self._bus = bus
        self._journal = journal
        self._clock = clock
        self._overrides = dict(overrides or {})
        self.tuning = tuning or RefreshTuning()

    async def refresh(self, root: str, *, force: bool = False, wait: bool = False) -> RefreshResult:
        """Rebuild ``root``'s map unless it is fresh; when another instance is at it, skip or
        (``wait``) wait for it to finish."""
        root = root.strip().upper()
        lock = keys.contract_refresh_lock(root)
        token = await self._locks.acquire(lock, self.tuning.lock_ttl_s)
        if token is None:
            if not wait:
                return RefreshResult(root, "busy")
            await self._wait_while_held(lock)
            return RefreshResult(root, "waited")
        try:
            return await self._refresh_locked(root, force=force)
        finally:
            await self._locks.release(lock, token)

    async def _wait_while_held(self, lock: str) -> None:
        start = self._clock.monotonic()
        while await self._locks.held(lock):
            if self._clock.monotonic() - start > self.tuning.wait_s:
                raise TransientError(
                    "timed out waiting for another instance to refresh the contract map",
                    code="contract_refresh_wait",
                )
            await asyncio.sleep(self.tuning.poll_s)

    async def _refresh_locked(self, root: str, *, force: bool) -> RefreshResult:
        now = self._clock.now()
        previous = await self._store.load(root)
        # Double-check under the lock: the previous holder may have just written it.
        if (
            not force
            and previous is not None
            and not is_stale(previous, now, self.tuning.min_interval_s)
        ):
            return RefreshResult(root, "fresh", previous.get("front"))
        policy = policy_for(root, self._overrides)
        doc = build_map(*await self._fetch(root, now), policy, now)
        rolled = None
        if previous is not None and previous.get("front") not in (None, doc["front"]):
            rolled = await self._report_roll(previous, doc, now)
        await self._store.save(root, doc, self.tuning.map_ttl_s)
        log.info("contract map for %s written; front %s", root, doc["front"])
        return RefreshResult(root, "written", doc["front"], rolled)

    async def _fetch(
        self, root: str, now: datetime
    ) -> tuple[Product, list[tuple[ContractMaturity, Contract]]]:
        try:
            product = await self._broker.find_product(root)
        except BrokerRejected as exc:
            raise InvalidSignal(
                f"Tradovate has no product {root}: {exc.message}",
                code="unknown_product",
                field="symbol",
            ) from exc
        live = [
            m
            for m in await self._broker.product_maturities(product.id)
            if m.expiration_date is not None and m.expiration_date > now
        ]
        wanted = {m.id for m in live}
        # Suggest is a free-text match (t=ES also finds MES): keep this product's maturities only.
        suggested = await self._broker.suggest_contracts(root, min(100, 3 * len(live) + 10))
        by_maturity = {
            c.contract_maturity_id: c for c in suggested if c.contract_maturity_id in wanted
        }
        pairs = []
        for maturity in sorted(live, key=lambda m: m.expiration_month):
            contract = by_maturity.get(maturity.id) or await self._find(root, maturity)
            if contract is not None:
                pairs.append((maturity, contract))
        return product, pairs

    async def _find(self, root: str, maturity: ContractMaturity) -> Contract | None:
        name = contract_name_from_expiration_month(root, maturity.expiration_month)
        try:
            contract = await self._broker.find_contract(name)
        except BrokerRejected:
            log.warning("maturity %s of %s has no contract %s", maturity.id, root, name)
            return None
        return contract if contract.contract_maturity_id == maturity.id else None

    async def _report_roll(
        self, previous: Mapping[str, Any], doc: Mapping[str, Any], now: datetime
    ) -> dict[str, Any]:
        old, new = str(previous["front"]), doc["front"]
        old_entry = previous.get("contracts", {}).get(old, {})
        old_id = old_entry.get("id")
        held = [
            {"account_id": p.account_id, "contract_id": p.contract_id, "net_pos": p.net_pos}
            for p in await self._broker.positions()
            if p.contract_id == old_id and p.net_pos != 0
        ]
        event = {
            "event_id": f"{doc['root']}:{old}->{new}",
            "root": doc["root"],
            "from_contract": old,
            "from_contract_id": old_id,
            "to_contract": new,
            "to_contract_id": (doc["contracts"].get(new) or {}).get("id") if new else None,
            "rolled_at": now.isoformat(),
            "roll_at": old_entry.get("roll_at"),
            "policy": doc["policy"]["describe"],
            "position_in_old_contract": bool(held),
            "held": held,
        }
        if held:
            # Never rolled for the trader: closing or moving a position is their decision.
            log.error(
                "position still open in %s after the %s roll to %s",
                old,
                doc["root"],
                new,
                extra={"alert": "position_in_rolled_contract", "held": held},
            )
        await self._journal.record(ROLLED, event["event_id"], event)
        await self._bus.publish(ROLLED, event)
        return event

    async def refresh_all(self, roots: Iterable[str]) -> list[RefreshResult]:
        """Refresh every root (skipping ones another instance is doing); raise at the end if a
        root failed transiently, so the timer's retry runs."""
        wanted = sorted({r.strip().upper() for r in roots} | set(await self._store.roots()))
        results, failed = [], []
        for root in wanted:
            try:
                results.append(await self.refresh(root))
            except InvalidSignal as exc:
                log.error("contract map for %s cannot be built: %s", root, exc.message)
            except TransientError as exc:
                log.warning("contract map for %s failed: %s", root, exc.message)
                failed.append(root)
        if failed:
            raise TransientError(
                f"contract maps not refreshed: {', '.join(failed)}", code="contract_refresh"
            )
        return results


class ContractResolver:
    """Resolve symbols to contract specs from the Redis maps (the executor's ContractSource)."""

    def __init__(
        self,
        store: ContractMapStore,
        refresher: ContractRefresher,
        clock: Clock,
        *,
        max_age_s: float = 3600.0,
        memory_ttl_s: float = 30.0,
    ) -> None:
        self._store = store
        self._refresher = refresher
        self._clock = clock
        self._max_age_s = max_age_s
        self._memory_ttl_s = memory_ttl_s
        self._memory: dict[str, tuple[float, dict[str, Any]]] = {}  # root -> (when read, map)

    async def resolve(self, symbol: SymbolRef) -> ContractSpec:
        """Return the contract ``symbol`` names now; raise ``InvalidSignal`` or
        ``TransientError``."""
        now = self._clock.now()
        doc = self._held(symbol.root)
        held = doc is not None
        if doc is None:
            doc = await self._load(symbol.root)
        if doc is None or is_stale(doc, now, self._max_age_s):
            doc, held = await self._refreshed(symbol.root, doc), False
        try:
            return spec_from(doc, symbol, self._clock.now())
        except InvalidSignal:
            # A map held in memory may predate one another process stored since (a month
            # listed after it was read): read the stored one before refusing the symbol.
            if not held:
                raise
            self._memory.pop(symbol.root, None)
            stored = await self._load(symbol.root)
            if stored is None or stored == doc:
                raise
            return spec_from(stored, symbol, self._clock.now())

    def _held(self, root: str) -> dict[str, Any] | None:
        # A map is held for ``memory_ttl_s`` (the hot path then reads no Redis for it). That
        # cannot hide a roll: each resolve checks the held map's own ``next_roll_at`` and age
        # (``is_stale``) and refreshes past them; a symbol the held map does not know is
        # looked up in the stored map before it is refused (``resolve``).
        cached = self._memory.get(root)
        if cached is not None and self._clock.monotonic() - cached[0] <= self._memory_ttl_s:
            return cached[1]
        return None

    async def _load(self, root: str) -> dict[str, Any] | None:
        """Read the stored map (and hold it)."""
        doc = await self._store.load(root)
        if doc is not None:
            self._memory[root] = (self._clock.monotonic(), doc)
        return doc

    async def _refreshed(self, root: str, old: dict[str, Any] | None) -> dict[str, Any]:
        self._memory.pop(root, None)
        try:
            await self._refresher.refresh(root, wait=True)
        except TransientError as exc:
            if old is None:
                raise
            # The stored dates still give the right chain (even across a roll) for a while.
            log.warning("using the stored %s contract map: refresh failed (%s)", root, exc.message)
            return old
        doc = await self._load(root)
        if doc is None:
            raise TransientError(
                f"no contract map for {root} after a refresh", code="contract_map_missing"
            )
        return doc


def strategy_roots(strategies: Iterable[Strategy]) -> set[str]:
    """Return the traded roots the strategy file names: symbol-map targets and allowlists."""
    roots: set[str] = set()
    for strategy in strategies:
        roots.update(strategy.symbols.values())
        roots.update(strategy.risk.symbols)
    return roots
