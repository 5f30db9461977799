"""Flatten an account, a strategy's accounts or everything, through the signals queue.

A flatten is never a broker call from the ops API. It reads what the scope holds (positions
and working orders, from the worker's cache or REST, as ``broker_state`` does) and queues one
``flat`` signal per (account, contract) that holds anything, built exactly like the webhook's
(``shared.services.envelope``): the executor then cancels every working order on the
contract and closes the position at market, journaled in the ledger, exactly once (MessageId
``{signal id}:{account}``), in order with the alerts before it (SessionId
``{account}-{root}``). The kill switches never stop it: a flatten only reduces.

Signal ids derive from the request id, the account and the contract, so the same request sent
again (a client retry with the same ``request_id``) is dropped by the queue's duplicate
detection instead of flattening twice. Each signal is also journaled as an alert of format
``ops`` (its reason and who asked), so ``GET /api/signals`` shows it with its timeline.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared import redis_keys as keys
from shared.domain.codec import encode_without
from shared.domain.errors import BridgeError, InvalidSignal, NotFound
from shared.domain.signal import Intent, Signal
from shared.domain.symbols import parse_symbol
from shared.ports import AlertJournal, AlertRecord, Clock, SignalQueue
from shared.services.envelope import OPERATOR_FORMAT, Envelope, to_message
from shared.services.ops.broker_state import DEFAULT_MAX_AGE_S, AccountRef, BrokerState, View
from shared.services.ops.ports import BrokerReads, OpsStore
from shared.services.ops.requests import (
    Actor,
    Scope,
    ScopeKind,
    parse_body,
    reason_of,
    scope_of,
    text_field,
)
from shared.strategies import Strategy, StrategyBook

log = logging.getLogger(__name__)

FORMAT = OPERATOR_FORMAT
CHANNEL = "risk.alert"
_FIELDS = frozenset({"scope", "strategy", "account", "reason", "request_id"})


@dataclass(frozen=True, slots=True)
class Holding:
    """What one account holds in one contract: a position, working orders, or both."""

    account: str
    account_id: int
    contract_id: int
    contract: str | None
    net_pos: int
    working_orders: int


@dataclass(frozen=True, slots=True)
class FlattenRequest:
    """One flatten: the scope, why, who, and the caller's id for safe retries."""

    scope: Scope
    reason: str
    actor: Actor
    request_id: str | None = None


def read_flatten(raw: bytes, actor: Actor) -> FlattenRequest:
    """Read a flatten body: a scope, a reason and optionally a ``request_id``."""
    body = parse_body(raw, _FIELDS)
    return FlattenRequest(
        scope=scope_of(body),
        reason=str(reason_of(body)),
        actor=actor,
        request_id=text_field(body, "request_id", limit=64),
    )


def holdings_of(
    view: View, ids: Mapping[str, int], positions: Sequence[Any], orders: Sequence[Any]
) -> list[Holding]:
    """Gather positions and working orders per (account, contract) from a cache view or REST."""
    by_id = {i: n for n, i in ids.items()}
    net: dict[tuple[int, int], int] = {}
    working: dict[tuple[int, int], int] = {}
    names = dict(view.names)
    if view.documents is not None:
        for account_id, docs in view.documents.items():
            for contract_id, entry in (docs["positions"].get("positions") or {}).items():
                net[(account_id, int(contract_id))] = int(entry.get("net_pos") or 0)
                names.update(_named_entry(int(contract_id), entry))
            for entry in docs["orders"].get("orders") or []:
                key = (account_id, int(entry["contract_id"]))
                working[key] = working.get(key, 0) + 1
                names.update(_named_entry(key[1], entry))
    else:
        net = {(p.account_id, p.contract_id): p.net_pos for p in positions if p.account_id in by_id}
        for o in orders:
            if o.account_id in by_id and o.status.is_open:
                key = (o.account_id, o.contract_id)
                working[key] = working.get(key, 0) + 1
    found = [
        Holding(by_id[a], a, c, names.get(c), net.get((a, c), 0), working.get((a, c), 0))
        for a, c in sorted(set(net) | set(working))
    ]
    return [h for h in found if h.net_pos or h.working_orders]


def _named_entry(contract_id: int, entry: Mapping[str, Any]) -> dict[int, str]:
    name = entry.get("contract")
    return {contract_id: str(name)} if name else {}


def signal_id_for(request_id: str, account: str, contract: str) -> str:
    """Return the deterministic signal id of one flatten signal."""
    text = "\n".join(("ops-flatten", request_id, account, contract))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Flatten:
    """Queue flat signals for the holdings of a scope."""

    def __init__(
        self,
        strategies: StrategyBook,
        state: BrokerState,
        broker: BrokerReads,
        queue: SignalQueue,
        journal: AlertJournal,
        store: OpsStore,
        clock: Clock,
    ) -> None:
        self._strategies = strategies
        self._state = state
        self._broker = broker
        self._store = store
        self._queue = queue
        self._journal = journal
        self._clock = clock

    def _targets(self, scope: Scope) -> dict[str, Strategy]:
        # Return the accounts to flatten and the strategy each one's signals run under.
        refs: list[AccountRef] = self._state.refs(
            scope.name if scope.kind is ScopeKind.ACCOUNT else None
        )
        if scope.kind is ScopeKind.STRATEGY:
            strategy = self._strategies.get(str(scope.name))
            if strategy is None:
                raise NotFound(
                    f"no strategy {scope.name!r} in the strategy file", code="unknown_strategy"
                )
            return {a.name: strategy for a in strategy.accounts}
        return {ref.name: self._runner(ref) for ref in refs}

    def _runner(self, ref: AccountRef) -> Strategy:
        # Any strategy of the account may carry its flatten (no trading window refuses an
        # operator's flatten: ``policy_builder.for_operator``); prefer one whose own exits
        # pass outside its windows, and then the first by id, so the choice is stable.
        holders = [self._strategies[s] for s in ref.strategies]
        return sorted(holders, key=lambda s: (not s.risk.exits_outside_windows, s.id))[0]

    async def flatten(
        self, scope: Scope, reason: str, actor: Actor, request_id: str | None
    ) -> dict[str, Any]:
        """Queue the flatten of ``scope``; return the signals queued and what was skipped."""
        targets = self._targets(scope)
        refs = [r for r in self._state.refs(None) if r.name in targets]
        ids = await self._state.resolve_ids(refs)
        view = await self._state.read(ids, ("positions", "orders"), DEFAULT_MAX_AGE_S, names=True)
        positions: Sequence[Any] = ()
        orders: Sequence[Any] = ()
        if view.documents is None:
            positions, orders = await asyncio.gather(
                self._broker.positions(), self._broker.orders()
            )
        holdings = await self._named(holdings_of(view, ids, positions, orders))
        request_id = request_id or uuid.uuid4().hex
        now = self._clock.now()
        queued: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = [
            {"account": name, "reason": "Tradovate lists no such account"}
            for name in sorted(targets)
            if name not in ids
        ]
        messages, records = [], []
        for h in holdings:
            envelope = self._envelope(h, targets[h.account], request_id, now)
            if envelope is None:
                skipped.append(
                    {
                        "account": h.account,
                        "contract_id": h.contract_id,
                        "reason": "the contract's name is unknown",
                    }
                )
                continue
            messages.append(to_message(envelope))
            records.append(self._record(envelope, reason, actor, request_id))
            queued.append(
                {
                    "signal_id": envelope.signal_id,
                    "account": h.account,
                    "strategy": envelope.strategy_id,
                    "contract": h.contract,
                    "net_pos": h.net_pos,
                    "working_orders": h.working_orders,
                }
            )
        if messages:
            await self._queue.send(messages)
            await asyncio.gather(*(self._journal_quietly(r) for r in records))
        event = {
            "kind": "flatten",
            "scope": scope.label,
            "reason": reason,
            "by": actor.to_dict(),
            "at": now.isoformat(),
            "request_id": request_id,
            "signals": [q["signal_id"] for q in queued],
        }
        await self._store.publish(CHANNEL, keys.event_message(CHANNEL, event, source="ops"))
        return {
            "request_id": request_id,
            "scope": scope.to_dict(),
            "source": view.meta["source"],
            "queued": queued,
            "skipped": skipped,
        }

    async def _named(self, holdings: list[Holding]) -> list[Holding]:
        # Fill in contract names the read did not have, from Tradovate (one call each).
        missing = sorted({h.contract_id for h in holdings if h.contract is None})
        if not missing:
            return holdings
        found = await asyncio.gather(
            *(self._broker.contract(i) for i in missing), return_exceptions=True
        )
        names = {
            i: c.name
            for i, c in zip(missing, found, strict=True)
            if not isinstance(c, BaseException)
        }
        return [
            h
            if h.contract is not None
            else Holding(
                h.account,
                h.account_id,
                h.contract_id,
                names.get(h.contract_id),
                h.net_pos,
                h.working_orders,
            )
            for h in holdings
        ]

    def _envelope(
        self, h: Holding, strategy: Strategy, request_id: str, now: datetime
    ) -> Envelope | None:
        if h.contract is None:
            return None
        try:
            symbol = parse_symbol(h.contract)
        except InvalidSignal:
            return None
        signal = Signal(source=FORMAT, intent=Intent.FLAT, symbol=symbol)
        return Envelope(
            signal_id=signal_id_for(request_id, h.account, h.contract),
            strategy_id=strategy.id,
            account=h.account,
            account_id=h.account_id,
            multiplier=Decimal(1),
            alert_format=FORMAT,
            received_at=now,
            correlation_id=request_id,
            signal=signal,
        )

    @staticmethod
    def _record(envelope: Envelope, reason: str, actor: Actor, request_id: str) -> AlertRecord:
        raw = {
            "ops": "flatten",
            "reason": reason,
            "by": actor.to_dict(),
            "request_id": request_id,
            "account": envelope.account,
            "contract": envelope.signal.symbol.canonical,
        }
        return AlertRecord(
            strategy_id=envelope.strategy_id,
            signal_id=envelope.signal_id,
            status="accepted",
            received_at=envelope.received_at,
            correlation_id=envelope.correlation_id,
            raw_redacted=json.dumps(raw, separators=(",", ":")),
            alert_format=FORMAT,
            signal_json=json.dumps(encode_without(envelope.signal, "extras")),
            messages=1,
        )

    async def _journal_quietly(self, record: AlertRecord) -> None:
        try:
            await self._journal.record_alert(record)
        except BridgeError as exc:  # queued already: the ledger will still hold its story
            log.warning("flatten signal %s not journaled: %s", record.signal_id, exc.message)
