"""Turn one queued signal for one account into exactly one correct set of broker orders.

For each delivery: resolve the contract, read the account's position and working orders
(the worker's live cache, else REST), gather the risk facts, plan (pure), then send the
plan's commands in order. The facts come in one read (``FactsStore``), sent beside the
contract's resolution when the symbol resolved before in this process. Exactly once, even
across crashes and re-deliveries, with two writes to the ledger on the way (one Redis
script each, with the store's writes in the same round trip, copied to Table storage later
by the ledger mirror):

1. before any broker call: the execution summary with the plan, and a claim row per leg,
   inserted together; if any row already exists, an earlier delivery got there first, and
   this one follows what that delivery recorded instead of acting on its own;
2. after the broker's answers: each leg's order id (or rejection) and the outcome.

A leg's client order id (``clOrdId``) derives from (signal, account, leg), so a claimed leg
without a recorded answer means "maybe sent": a re-delivery looks it up at Tradovate by
clOrdId and places it only if it is not there. A re-delivery finishes the stored plan
rather than planning against a position the first attempt already moved. A re-delivery
that finds no record at all (Redis lost its last writes in a fail-over) plans afresh; if a
gate then refuses, the orders already at Tradovate under this signal's clOrdIds are
recorded as the outcome instead of the denial.

A refused cancel or modify usually means the plan came from a view that still showed an
order Tradovate had already closed (the worker's cache lags the broker); ``send_plan`` says
how the sender classifies one. When the order traded or Tradovate does not know it, the
position moved under the plan, so the plan is void: the sender writes the leg and a
``replan`` summary together, then the executor plans once more, from REST only (position,
working orders, cash; the cache is what was wrong), and sends that plan in the same
delivery. That is safe because it is what a re-delivery would do after the same write, and
the write comes first: a crash in between leaves the ``replan`` summary, and a re-delivery
that finds one plans from REST too. Staying in the delivery also keeps the risk facts read
before this signal stamped its own entry time, which a re-delivery would mistake for a
cooldown. A second such refusal in one delivery means Tradovate contradicts the answers the
plan was just made from: it raises ``TransientError`` (the re-delivery plans from REST
again) instead of looping.

Every plan is made from a view proven current: the worker's cache only when it shows every
fill and order change the earlier signals of the session caused, else REST
(``shared.services.expectation``); the summary's ``basis`` records which, and what it showed.
A sent plan is not done until its market orders' fills are known (``settled_outcome``): the
summary reads ``sent`` until then, and a re-delivery in between finishes the settling.

Outcomes: ``denied`` (a risk gate said no: journaled, never sent), ``rejected`` (the broker
refused a placement, or closed an accepted market order without a fill: journaled, not
retried; a refused cancel or modify never rejects a signal), ``done``. Transient failures
raise, so Service Bus re-delivers the message and finally dead-letters it with the reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from shared.domain import broker
from shared.domain.errors import InvalidSignal, TransientBrokerError, TransientError
from shared.domain.planning.model import Plan, is_leg_of
from shared.domain.planning.planner import plan
from shared.domain.risk import Denial, DenialCode
from shared.ports import (
    BrokerTrading,
    Clock,
    ContractSource,
    Events,
    ExecutionStore,
    Ledger,
    LedgerEntry,
    LiveReader,
)
from shared.services.envelope import OPERATOR_FORMAT, Envelope
from shared.services.expectation import Expectation
from shared.services.live_state import LiveView
from shared.services.plan_inputs import (
    Basis,
    Facts,
    FactsReader,
    Target,
    current_view,
    read_book,
    read_risk,
)
from shared.services.plan_record import dump_plan, load_plan
from shared.services.policy_builder import for_operator, policy_for, without_windows
from shared.services.send_plan import (
    REPLAN,
    PlanSender,
    PositionMoved,
    Sent,
    announcement,
    answer_row,
    cl_ord_id_of,
    claim_row,
    superseded_rows,
)
from shared.services.settle import Timing
from shared.services.settled_outcome import finish
from shared.services.store_writes import claim_with
from shared.strategies import StrategyBook

__all__ = ["REPLAN", "Delivery", "ExecuteDeps", "Executor", "Outcome", "Status"]

log = logging.getLogger(__name__)

Status = Literal["done", "denied", "rejected", "already_done"]
_FINAL_SUMMARY = frozenset({"done", "denied", "rejected"})


@dataclass(frozen=True)
class ExecuteDeps:
    """Everything the executor talks to, passed in by the composition root."""

    strategies: StrategyBook
    broker: BrokerTrading
    contracts: ContractSource
    ledger: Ledger
    store: ExecutionStore
    live: LiveReader
    clock: Clock
    timing: Timing = field(default_factory=Timing)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery of a queue message: the envelope plus what Service Bus says about it."""

    envelope: Envelope
    message_id: str
    delivery_count: int
    dequeued_at: datetime | None = None
    enqueued_at: datetime | None = None  # when the queue accepted the message


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery achieved."""

    status: Status
    detail: str = ""
    orders: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _Reads:
    # What a plan was made from: the book's basis, and the rest, kept for a replan in the
    # same delivery; ``unsent`` the events that did not go out with the facts' read.
    facts: tuple[bool, bool, bool, datetime | None]
    last_price: Decimal | None
    basis: Basis
    unsent: Events = ()


class Executor:
    """Execute deliveries for one set of adapters; keeps a small cache of account ids."""

    def __init__(self, deps: ExecuteDeps) -> None:
        self._deps = deps
        self._account_ids: dict[str, int] = {}
        self._reader = FactsReader(deps.contracts, deps.store, deps.live)

    async def execute(self, delivery: Delivery) -> Outcome:
        """Plan and send one signal for one account, exactly once."""
        if delivery.dequeued_at is None:
            delivery = dataclasses.replace(delivery, dequeued_at=self._deps.clock.now())
        env = delivery.envelope
        strategy = self._deps.strategies.get(env.strategy_id)
        if strategy is None:
            return await self._refuse(
                delivery, "unknown_strategy", f"strategy {env.strategy_id} is gone"
            )
        try:
            account = broker.Account(id=await self._account_id(env), name=env.account)
            contract, early = await self._reader.resolve(
                env, account.id, first=delivery.delivery_count == 1
            )
        except InvalidSignal as exc:
            return await self._refuse(delivery, exc.code, exc.message)
        target = Target(account, contract, strategy)
        announce = (
            "trade.signal",
            {
                "signal_id": env.signal_id,
                "strategy": env.strategy_id,
                "account": env.account,
                "intent": str(env.signal.intent),
                "symbol": contract.contract.name,
                "delivery": delivery.delivery_count,
                "correlation_id": env.correlation_id,
            },
        )
        rows: dict[str, LedgerEntry] = {}
        if delivery.delivery_count > 1:
            await self._deps.store.publish(*announce)
            rows = await self._rows(env)
            followed = await self._follow(delivery, target, rows)
            if followed is not None:
                return followed
            # A "replan" summary means a refused cancel showed the cache was behind the broker.
            summary = rows.get(f"exec:{env.account}")
            from_rest = summary is not None and summary.status == REPLAN
            planned, reads = await self._plan(env, target, from_rest=from_rest)
        else:  # the common case: the event goes out with the risk facts' read
            planned, reads = await self._plan(env, target, events=[announce], early=early)
        if isinstance(planned, Denial):
            recorded = f"exec:{env.account}" in rows
            await self._refresh_expectation(env, target, reads.basis)
            for event in reads.unsent:
                await self._deps.store.publish(*event)
            return await self._deny(
                delivery, target, planned, recorded=recorded, basis=reads.basis.record()
            )
        return await self._claim_and_run(delivery, target, planned, rows, reads)

    async def _claim_and_run(
        self,
        delivery: Delivery,
        target: Target,
        planned: Plan,
        rows: dict[str, LedgerEntry],
        reads: _Reads,
    ) -> Outcome:
        """Claim the plan's legs with its summary (or, planning again, update the summary),
        then send it."""
        env = delivery.envelope
        basis = reads.basis.record()
        summary = self._summary(env, delivery, "planned", plan=dump_plan(planned), basis=basis)
        if rows:  # planning again after a refused cancel: the summary row exists
            await self._deps.ledger.update(summary)
            return await self._run(delivery, target, planned, rows, claimed=False, reads=reads)
        # The claim carries the writes that precede the first broker call (the clOrdId
        # index, the entry stamp, the in-flight expectation, the events): one round trip.
        writes = announcement(env, target, planned, self._deps.clock.now())
        if reads.unsent:
            writes = dataclasses.replace(writes, events=[*reads.unsent, *writes.events])
        claims = [summary, *self._claims(env, planned)]
        if not await claim_with(self._deps.store, self._deps.ledger, claims, writes):
            # Another delivery of this signal got here first: follow what it recorded.
            rows = await self._rows(env)
            return await self._follow(delivery, target, rows) or Outcome(
                "already_done", "another delivery is handling this signal"
            )
        return await self._run(
            delivery, target, planned, rows, claimed=True, reads=reads, announced=True
        )

    async def _plan(
        self,
        env: Envelope,
        target: Target,
        events: Events = (),
        *,
        from_rest: bool = False,
        earlier: _Reads | None = None,
        early: Facts | None = None,
    ) -> tuple[Plan | Denial, _Reads]:
        store, root = self._deps.store, target.contract.product.name
        account_id = target.account.id
        view: LiveView | None
        waited_ms, reason = 0, ""
        unsent: Events = ()
        if earlier is not None:
            # Planning again in this delivery: the kill switches and the last entry time were
            # read moments ago, before this signal's own plan stamped its entry time, which a
            # fresh read would take for a cooldown. The book and cash come from REST (a view
            # of only None parts); the last price (market data, not account state) is kept.
            view, facts = LiveView(None, None, None, earlier.last_price), earlier.facts
            reason = "planning again after a refused cancel or modify"
        elif from_rest:
            view = None
            facts = await store.risk_facts(target.strategy.id, env.account, root, events=events)
            reason = "an earlier delivery found the cache behind the broker"
        else:
            # One read of the worker's cache serves the book and the risk facts alike; the
            # kill switches, the cooldown stamp and the last signal's expectation are read at
            # the same time.
            if early is not None:  # read beside the contract's resolution, without the events
                (view, facts, stored), unsent = early, events
            else:
                view, facts, stored = await self._reader.read(env, target, events)
            if view is None:
                reason = "the worker's cache is not live"
            else:
                # Plan only from a view that shows everything earlier signals did (module
                # shared.services.expectation); else the book and the cash come from REST.
                expected = Expectation.loads(stored)
                timing = self._deps.timing
                proven, waited_ms, reason = await current_view(
                    self._deps.live, target, view, expected, timing
                )
                if proven is None:
                    log.info("signal %s: planning from REST: %s", env.signal_id, reason)
                view = proven or LiveView(None, None, None, view.last_price)
        # Without the worker's cache both fall back to REST: those reads go out together.
        at = self._deps.clock.now()
        (book, basis), risk = await asyncio.gather(
            read_book(self._deps.broker, account_id, target.contract, view, at),
            read_risk(self._deps.broker, self._deps.clock, target, env, view, facts),
        )
        basis = dataclasses.replace(basis, waited_ms=waited_ms, reason=reason)
        policy = policy_for(target.strategy, env.account, env.multiplier)
        if env.alert_format == OPERATOR_FORMAT:
            policy = for_operator(policy)
        elif env.signal.bypass_windows:
            policy = without_windows(policy)
        planned = plan(
            env.signal,
            book,
            target.contract,
            risk,
            policy,
            target.account,
            signal_id=env.signal_id,
        )
        last_price = view.last_price if view is not None else None
        return planned, _Reads(facts, last_price, basis, unsent)

    async def _rows(self, env: Envelope) -> dict[str, LedgerEntry]:
        return {row.row_key: row for row in await self._deps.ledger.rows(env.signal_id)}

    async def _follow(
        self, delivery: Delivery, target: Target, rows: dict[str, LedgerEntry]
    ) -> Outcome | None:
        """Finish what an earlier delivery recorded; None when there is nothing to follow."""
        env = delivery.envelope
        summary = rows.get(f"exec:{env.account}")
        if summary is None or summary.status == REPLAN:
            return None
        if summary.status in _FINAL_SUMMARY:
            return Outcome("already_done", f"this signal was already {summary.status}")
        stored = summary.fields.get("plan")
        if not isinstance(stored, str) or not stored:
            return None
        return await self._run(delivery, target, load_plan(stored), rows, claimed=False)

    def _summary(self, env: Envelope, delivery: Delivery, status: str, **extra: Any) -> LedgerEntry:
        fields: dict[str, Any] = {
            "kind": "execution",
            "strategy": env.strategy_id,
            "account": env.account,
            "root": env.signal.symbol.root,
            "message_id": delivery.message_id,
            "delivery_count": delivery.delivery_count,
            "correlation_id": env.correlation_id,
            "received_at": env.received_at,
            "enqueued_at": delivery.enqueued_at,
            "dequeued_at": delivery.dequeued_at,  # stamped when the delivery started
            "tv_time": env.signal.tv_time,
            **extra,
        }
        return LedgerEntry(env.signal_id, f"exec:{env.account}", status, fields)

    def _claims(self, env: Envelope, the_plan: Plan) -> list[LedgerEntry]:
        return [claim_row(env, command, self._deps.clock.now()) for command in the_plan.commands]

    async def _account_id(self, env: Envelope) -> int:
        if env.account_id is not None:
            return env.account_id
        if env.account not in self._account_ids:
            for account in await self._deps.broker.accounts():
                self._account_ids[account.name] = account.id
        if env.account not in self._account_ids:
            raise InvalidSignal(
                f"Tradovate has no account named {env.account!r}", code="unknown_account"
            )
        return self._account_ids[env.account]

    async def _deny(
        self, delivery: Delivery, target: Target, denial: Denial, *, recorded: bool, basis: str
    ) -> Outcome:
        if delivery.delivery_count > 1 and not recorded:
            found = await self._found_at_broker(delivery, target)
            if found is not None:
                return found
        return await self._refuse(delivery, str(denial.reason), denial.message, basis=basis)

    async def _found_at_broker(self, delivery: Delivery, target: Target) -> Outcome | None:
        """Record the orders an earlier delivery placed when the ledger kept no record of them.

        Redis can lose its last writes in a fail-over. The re-delivery then plans against the
        position the earlier delivery already moved, and a gate may refuse (``add_not_allowed``
        for a second buy). The broker still holds the orders under this signal's clOrdIds: the
        outcome is the earlier delivery's, not a denial. None when there are none.
        """
        env = delivery.envelope
        try:
            placed = await self._deps.broker.orders_by_cl_ord_id(target.account.id)
        except TransientBrokerError as exc:  # the denial stands: the lookup is only a check
            log.warning("could not look for earlier orders of %s: %s", env.signal_id, exc)
            return None
        ours = {
            cl_ord_id: order
            for cl_ord_id, order in placed.items()
            if is_leg_of(cl_ord_id, env.signal_id, env.account)
        }
        if not ours:
            return None
        legs = [
            answer_row(
                env,
                cl_ord_id,
                "acknowledged",
                self._deps.clock.now(),
                order_id=order.id,
                recovered=True,
            )
            for cl_ord_id, order in sorted(ours.items())
        ]
        detail = (
            f"recovered: {len(ours)} order(s) of this signal found at the broker by clOrdId "
            "after the ledger lost their record"
        )
        finished = self._deps.clock.now()
        summary = self._summary(env, delivery, "done", detail=detail, finished_at=finished)
        await self._deps.ledger.update_all([*legs, summary])
        log.warning("signal %s for %s: %s", env.signal_id, env.account, detail)
        return Outcome("done", detail, tuple(sorted(order.id for order in ours.values())))

    async def _refuse(
        self,
        delivery: Delivery,
        code: str,
        message: str,
        *,
        basis: str | None = None,
        also: Iterable[LedgerEntry] = (),
    ) -> Outcome:
        """Record a denial (unless an earlier delivery recorded an outcome) and publish it;
        ``basis`` says what a denied plan was made from; ``also`` rows are written with the
        denial that replaces a ``replan`` summary."""
        env = delivery.envelope
        denied = self._summary(
            delivery.envelope,
            delivery,
            "denied",
            reason_code=code,
            reason=message,
            finished_at=self._deps.clock.now(),
            basis=basis,
        )
        earlier = await self._deps.ledger.claim(denied)
        if earlier is not None and earlier.status != REPLAN:
            return Outcome("already_done", f"this signal was already {earlier.status}")
        if earlier is not None:
            await self._deps.ledger.update_all([denied, *also])
        event = {
            "signal_id": env.signal_id,
            "strategy": env.strategy_id,
            "account": env.account,
            "code": code,
            "message": message,
        }
        await self._deps.store.publish("risk.denied", event)
        if code == DenialCode.DAILY_LOSS_LIMIT:
            # Reaching the limit stops the account's entries for the day: a risk alert, not
            # only one more denial (notifications fold the two into one message).
            await self._deps.store.publish("risk.alert", {"kind": code, **event})
        log.info("signal %s denied for %s: %s", env.signal_id, env.account, message)
        return Outcome("denied", f"{code}: {message}")

    async def _run(
        self,
        delivery: Delivery,
        target: Target,
        the_plan: Plan,
        rows: Mapping[str, LedgerEntry],
        *,
        claimed: bool,
        reads: _Reads | None = None,
        announced: bool = False,
    ) -> Outcome:
        """Send the plan; if a refused cancel or modify shows the position moved, plan once
        more from Tradovate's REST answers and send that plan instead (module docstring)."""
        env = delivery.envelope
        redelivered = delivery.delivery_count > 1
        deps = self._deps
        sender = PlanSender(deps.broker, deps.ledger, deps.store, deps.clock)
        basis = None if reads is None else reads.basis
        try:
            sent = await sender.send(
                env,
                target,
                the_plan,
                rows,
                claimed=claimed,
                redelivered=redelivered,
                announced=announced,
                # The answers go out with the fills (``settled_outcome``), unless the plan
                # places exits once filled: those read the answers from the ledger.
                defer=not the_plan.deferred,
            )
            return await self._finish(delivery, target, the_plan, sent, basis)
        except PositionMoved as moved:
            log.warning(
                "signal %s for %s: %s; planning again from Tradovate's REST answers",
                env.signal_id,
                env.account,
                moved,
            )
            # Legs this delivery claimed after the refused one never went out. (Legs an
            # earlier delivery claimed may have: those stay as they are.)
            unsent = superseded_rows(env, the_plan, moved.leg, deps.clock.now()) if claimed else {}
        planned, again_reads = await self._plan(env, target, from_rest=True, earlier=reads)
        if isinstance(planned, Denial):
            await self._refresh_expectation(env, target, again_reads.basis)
            record = again_reads.basis.record()
            return await self._refuse(
                delivery, str(planned.reason), planned.message, basis=record, also=unsent.values()
            )
        basis_record = again_reads.basis.record()
        summary = self._summary(
            env, delivery, "planned", plan=dump_plan(planned), basis=basis_record
        )
        # A leg the new plan carries again keeps its row, for the new plan's answer.
        again = {cl_ord_id_of(c, env.signal_id, env.account) for c in planned.commands}
        void = [row for cl_ord_id, row in unsent.items() if cl_ord_id not in again]
        await self._deps.ledger.update_all([summary, *void])
        try:
            rows = await self._rows(env)
            sent = await sender.send(
                env,
                target,
                planned,
                rows,
                claimed=False,
                redelivered=redelivered,
                defer=not planned.deferred,
            )
            return await self._finish(delivery, target, planned, sent, again_reads.basis)
        except PositionMoved as again:
            raise TransientError(
                f"{again.leg} was refused ({again.detail}) right after planning from Tradovate's "
                "REST answers: the broker contradicts its own state, so this signal is retried "
                "later (planned from REST again) rather than at once"
            ) from again

    async def _finish(
        self, delivery: Delivery, target: Target, the_plan: Plan, sent: Sent, basis: Basis | None
    ) -> Outcome:
        """Wait for the plan's fills and cancels, protect fill-anchored entries, record them
        and what the cache must show next (``shared.services.settled_outcome``)."""
        env = delivery.envelope
        status, detail = await finish(self._deps, env, target, the_plan, sent, basis)
        return Outcome(status, detail, sent.orders)

    async def _refresh_expectation(self, env: Envelope, target: Target, basis: Basis) -> None:
        """After facts read from REST, let the cache be trusted again once it shows them."""
        if basis.source == "rest":
            document = basis.seen(env.signal_id).dumps()
            await self._deps.store.expect(target.account.id, target.contract.contract.id, document)
