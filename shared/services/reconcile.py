"""Compare each strategy's intended position with the broker's, and report (or heal) drift.

The executor records, after every target-position signal it carried out, the account's
intended signed position per traded root (``redis_keys.intended_positions``: field
``{account}:{root}`` -> ``{"net_pos", "signal_id", "at"}``; the account's contracts, after its
multiplier). One run, under ``lock:reconcile`` so two instances firing together do it once:

1. per enabled strategy and account, read the intents; skip any younger than ``grace_s`` (its
   orders may not have filled yet);
2. read the account's broker positions over REST and sum them per root (contract ids are named
   from the contract maps, else ``contract/item``);
3. a difference is **drift**: journaled (``position.drift``, one row per distinct drift, so a
   repeated run updates it), published on ``position.drift`` and returned for the metric;
4. with the strategy's ``reconcile.heal`` on, drift is healed by a native target-position
   signal on the signals queue, with a deterministic id (Service Bus duplicate detection drops
   a second copy) and multiplier 1 (the intent is already in the account's contracts), so the
   executor trades the difference in one order through every risk gate. It is *not* healed
   while the broker holds the root in a contract other than the current front (a roll left it
   there: the roll event flagged it and the trader decides) or while a working order on the
   side that would close the gap could still fill (healing would overshoot when it did).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from shared import redis_keys as keys
from shared.domain.broker import Account, Contract, Order, Position, Side
from shared.domain.errors import InvalidSignal
from shared.domain.signal import Intent, MarketPosition, OrderType, Signal, TargetPosition
from shared.domain.symbols import SymbolRef, parse_symbol
from shared.ports import Clock, SignalQueue
from shared.services.contracts import ContractMapStore, EventBus, EventJournal, Locks
from shared.services.envelope import Envelope, to_message
from shared.strategies import Strategy

log = logging.getLogger(__name__)

DRIFT = "position.drift"
RISK_ALERT = "risk.alert"


class PositionBroker(Protocol):
    """The broker reads reconcile needs (``TradovateRest`` in production)."""

    async def accounts(self) -> tuple[Account, ...]:
        """List the user's accounts."""
        ...

    async def positions(self, account_id: int | None = None) -> tuple[Position, ...]:
        """List one account's positions."""
        ...

    async def orders(self, account_id: int | None = None) -> tuple[Order, ...]:
        """List one account's orders."""
        ...

    async def contract(self, contract_id: int) -> Contract:
        """Fetch a contract by id."""
        ...


class IntentSource(Protocol):
    """Read the intents the executor wrote (Redis in production)."""

    async def intents(self, strategy_id: str) -> dict[str, str]:
        """Return ``{account}:{root}`` -> JSON for one strategy."""
        ...


@dataclass(frozen=True, slots=True)
class Drift:
    """Describe one difference between intended and broker position, and what was done."""

    strategy_id: str
    account: str
    account_id: int
    root: str
    intended: int
    actual: int
    held: Mapping[str, int]
    signal_id: str
    heal: str = "off"
    heal_signal_id: str | None = None

    @property
    def event_id(self) -> str:
        """Return the journal id: one row per distinct drift."""
        parts = (self.strategy_id, self.account, self.root, self.signal_id)
        return ":".join((*parts, str(self.intended), str(self.actual)))

    def payload(self, now: datetime) -> dict[str, Any]:
        """Render the event body."""
        return {
            "event_id": self.event_id,
            "strategy": self.strategy_id,
            "account": self.account,
            "account_id": self.account_id,
            "root": self.root,
            "intended": self.intended,
            "actual": self.actual,
            "difference": self.intended - self.actual,
            "held": dict(self.held),
            "intent_signal_id": self.signal_id,
            "heal": self.heal,
            "heal_signal_id": self.heal_signal_id,
            "detected_at": now.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """Summarise one run."""

    ran: bool
    checked: int = 0
    drifts: tuple[Drift, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def healed(self) -> int:
        """Return how many drifts a healing signal was queued for."""
        return sum(1 for d in self.drifts if d.heal == "sent")


@dataclass(frozen=True, slots=True)
class ReconcileDeps:
    """Everything one run needs."""

    strategies: Mapping[str, Strategy]
    intents: IntentSource
    broker: PositionBroker
    maps: ContractMapStore
    locks: Locks
    bus: EventBus
    journal: EventJournal
    queue: SignalQueue
    clock: Clock
    grace_s: float = 60.0
    lock_ttl_s: float = 120.0


@dataclass
class _Run:
    """What one run has read so far (each account's positions, each root's contract map and
    each contract's name once)."""

    account_ids: dict[str, int] | None = None
    positions: dict[int, tuple[Position, ...]] = field(default_factory=dict)
    maps: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    checked: int = 0


def heal_signal_id(drift: Drift) -> str:
    """Return the deterministic id of the healing signal for one drift."""
    raw = f"heal|{drift.event_id}"
    return "heal-" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def heal_signal(drift: Drift, signal_id: str) -> Signal:
    """Build the native target-position signal that takes the account to the intent."""
    if drift.intended > 0:
        intent, position = Intent.BUY, MarketPosition.LONG
    elif drift.intended < 0:
        intent, position = Intent.SELL, MarketPosition.SHORT
    else:
        intent, position = Intent.FLAT, MarketPosition.FLAT
    return Signal(
        source="reconcile",
        intent=intent,
        symbol=SymbolRef(drift.root, continuous=1),
        order_type=OrderType.MARKET,
        target=TargetPosition(position, Decimal(abs(drift.intended))),
        alert_id=signal_id,
        strategy=drift.strategy_id,
    )


class Reconciler:
    """Run reconciliation across every strategy, once at a time across instances."""

    def __init__(self, deps: ReconcileDeps) -> None:
        self._deps = deps

    async def run(self) -> ReconcileReport:
        """Compare, journal, publish and (where on) heal; skip while another run holds the lock."""
        token = await self._deps.locks.acquire(keys.RECONCILE_LOCK, self._deps.lock_ttl_s)
        if token is None:
            return ReconcileReport(ran=False)
        try:
            run = _Run()
            drifts = []
            for strategy in self._deps.strategies.values():
                if strategy.enabled:
                    drifts.extend(await self._strategy(strategy, run))
            return ReconcileReport(True, run.checked, tuple(drifts), tuple(run.problems))
        finally:
            await self._deps.locks.release(keys.RECONCILE_LOCK, token)

    async def _strategy(self, strategy: Strategy, run: _Run) -> list[Drift]:
        now = self._deps.clock.now()
        drifts = []
        for field_name, raw in sorted((await self._deps.intents.intents(strategy.id)).items()):
            account_name, _, root = field_name.rpartition(":")
            account = strategy.account(account_name)
            if account is None or not account.enabled:
                continue
            try:
                intent = json.loads(raw)
                net_pos, at = int(intent["net_pos"]), datetime.fromisoformat(intent["at"])
            except (ValueError, KeyError, TypeError):
                run.problems.append(f"{strategy.id}/{field_name}: unreadable intent")
                continue
            if (now - at).total_seconds() < self._deps.grace_s:
                continue  # just traded: its orders may still be filling
            account_id = account.id or await self._account_id(account_name, run)
            if account_id is None:
                run.problems.append(f"{strategy.id}: no broker account named {account_name}")
                continue
            run.checked += 1
            held = await self._held(account_id, root, run)
            actual = sum(held.values())
            if actual != net_pos:
                drift = Drift(
                    strategy.id, account_name, account_id, root, net_pos, actual, held,
                    str(intent.get("signal_id", "")),
                )  # fmt: skip
                drifts.append(await self._report(strategy, drift, now, run))
        return drifts

    async def _account_id(self, name: str, run: _Run) -> int | None:
        if run.account_ids is None:
            run.account_ids = {a.name: a.id for a in await self._deps.broker.accounts()}
        return run.account_ids.get(name)

    async def _held(self, account_id: int, root: str, run: _Run) -> dict[str, int]:
        if account_id not in run.positions:
            run.positions[account_id] = await self._deps.broker.positions(account_id)
        await self._map(root, run)
        held: dict[str, int] = {}
        for position in run.positions[account_id]:
            if position.net_pos == 0:
                continue
            name = await self._name(position.contract_id, run)
            if _root_of(name) == root:
                held[name] = held.get(name, 0) + position.net_pos
        return held

    async def _map(self, root: str, run: _Run) -> dict[str, Any] | None:
        """Load a root's contract map once per run, and learn its contracts' names."""
        if root not in run.maps:
            doc = run.maps[root] = await self._deps.maps.load(root)
            if doc is not None:
                contracts = doc["contracts"].values()
                run.names.update({int(c["id"]): str(c["name"]) for c in contracts})
        return run.maps[root]

    async def _name(self, contract_id: int, run: _Run) -> str:
        if contract_id not in run.names:
            run.names[contract_id] = (await self._deps.broker.contract(contract_id)).name
        return run.names[contract_id]

    async def _report(self, strategy: Strategy, drift: Drift, now: datetime, run: _Run) -> Drift:
        if strategy.reconcile.heal:
            drift = await self._heal(drift, now, run)
        log.warning(
            "position drift: %s %s %s intended %d, broker %d (heal: %s)",
            drift.strategy_id, drift.account, drift.root, drift.intended, drift.actual, drift.heal,
            extra={"alert": "position_drift"},
        )  # fmt: skip
        payload = drift.payload(now)
        await self._deps.journal.record(DRIFT, drift.event_id, payload)
        await self._deps.bus.publish(DRIFT, payload)
        # Dashboards that follow risk.alert (kill switches, daily loss, drift) see it there too;
        # notifications come from position.drift alone, so this never notifies twice.
        await self._deps.bus.publish(RISK_ALERT, {"kind": "drift", **payload})
        return drift

    async def _heal(self, drift: Drift, now: datetime, run: _Run) -> Drift:
        reason = await self._why_not_heal(drift, run)
        if reason is not None:
            return replace(drift, heal=f"skipped: {reason}")
        signal_id = heal_signal_id(drift)
        envelope = Envelope(
            signal_id=signal_id,
            strategy_id=drift.strategy_id,
            account=drift.account,
            account_id=drift.account_id,
            multiplier=Decimal(1),
            alert_format="reconcile",
            received_at=now,
            correlation_id=signal_id,
            signal=heal_signal(drift, signal_id),
        )
        await self._deps.queue.send([to_message(envelope)])
        return replace(drift, heal="sent", heal_signal_id=signal_id)

    async def _why_not_heal(self, drift: Drift, run: _Run) -> str | None:
        doc = await self._map(drift.root, run)
        front = None if doc is None else doc.get("front")
        if any(name != front for name in drift.held):
            return "held outside the front contract"
        if drift.intended == 0:
            return None  # a flat target cancels every working order before it trades
        needed = Side.BUY if drift.intended > drift.actual else Side.SELL
        ids = set() if doc is None else {c["id"] for c in doc["contracts"].values()}
        for order in await self._deps.broker.orders(drift.account_id):
            if order.status.is_open and order.side is needed and order.contract_id in ids:
                return "a working order could close the gap"
        return None


def _root_of(contract_name: str) -> str | None:
    try:
        return parse_symbol(contract_name).root
    except InvalidSignal:
        return None
