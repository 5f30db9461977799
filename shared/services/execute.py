"""Turn one queued signal for one account into exactly one correct set of broker orders.

For each delivery: resolve the contract, read the account's position and working orders
(the worker's live cache, else REST), gather the risk facts, plan (pure), then send the
plan's commands in order. Exactly once, even across crashes and re-deliveries, with two
writes to the ledger on the way (one Redis script each, copied to Table storage later by
the ledger mirror):

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
order Tradovate had already closed (the worker's cache lags the broker). Retrying it, or
planning again from that same cache, would only be refused again, so the executor asks
Tradovate what became of the order (``order/item`` and its fills) and acts on the answer:

* closed without a fill (Canceled, Expired, Rejected): the leg's purpose is met. It is
  recorded ``already_cancelled`` and the rest of the plan goes on, in this delivery;
* traded (Filled, or cancelled after a partial fill) or unknown to Tradovate: the position
  moved under the plan, so the plan is void. The leg (``already_filled``/``already_gone``)
  and a ``replan`` summary are written together, then the executor plans once more, from
  REST only (position, working orders, cash; the cache is what was wrong), and sends that
  plan in the same delivery. That is safe because it is what a re-delivery would do after
  the same write, and the write comes first: a crash in between leaves the ``replan``
  summary, and a re-delivery that finds one plans from REST too. Staying in the delivery
  also keeps the risk facts read before this signal stamped its own entry time, which a
  re-delivery would mistake for a cooldown. A second such refusal in one delivery means
  Tradovate contradicts the answers the plan was just made from: it raises
  ``TransientError`` (the re-delivery plans from REST again) instead of looping;
* still open (say another command is pending on it), or its state cannot be read: it
  raises ``TransientError`` and leaves the leg unanswered, for a re-delivery to send again.

Outcomes: ``denied`` (a risk gate said no: journaled, never sent), ``rejected`` (the broker
refused a placement: journaled, not retried; a refused cancel or modify never rejects a
signal), ``done``. Transient failures raise, so Service Bus re-delivers the message and
finally dead-letters it with the reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from shared.domain import broker
from shared.domain.codec import encode
from shared.domain.errors import (
    BrokerRejected,
    InvalidSignal,
    TransientBrokerError,
    TransientError,
)
from shared.domain.planning.model import (
    Book,
    CancelOrder,
    Command,
    ModifyOrder,
    PlaceBracketOrder,
    PlaceOrder,
    Plan,
    WorkingOrder,
    client_order_id,
    is_leg_of,
)
from shared.domain.planning.planner import plan
from shared.domain.policy import RiskState
from shared.domain.risk import Denial
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
from shared.services.envelope import Envelope
from shared.services.live_state import LiveView
from shared.services.plan_record import dump_plan, load_plan
from shared.services.policy_builder import policy_for
from shared.strategies import Strategy, StrategyBook

log = logging.getLogger(__name__)

Status = Literal["done", "denied", "rejected", "already_done"]
ALREADY_CANCELLED = "already_cancelled"
_FINAL_LEG = frozenset(
    {"acknowledged", "partially_filled", "filled", "cancelled", "rejected", ALREADY_CANCELLED}
)
_FINAL_SUMMARY = frozenset({"done", "denied", "rejected"})
REPLAN = "replan"
# A refused cancel or modify's leg status, by what Tradovate says became of its order.
_REFUSED_LEG = {
    broker.OrderFate.CANCELLED: ALREADY_CANCELLED,
    broker.OrderFate.FILLED: "already_filled",
    broker.OrderFate.UNKNOWN: "already_gone",
}


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
class _Target:
    account: broker.Account
    contract: broker.ContractSpec
    strategy: Strategy


@dataclass(frozen=True, slots=True)
class _Reads:
    # What a plan was made from besides the book, kept for a replan in the same delivery.
    facts: tuple[bool, bool, bool, datetime | None]
    last_price: Decimal | None


class _PositionMoved(Exception):  # control flow inside the executor; never escapes it
    def __init__(self, leg: str, detail: str) -> None:
        super().__init__(f"{leg}: {detail}")
        self.leg = leg
        self.detail = detail


def _answered(row: LedgerEntry, command: Command) -> bool:
    if row.status not in _FINAL_LEG:
        return False
    # Refused cancels and modifies were once recorded "rejected"; such a row says nothing about
    # the order now, so the leg goes out again and a new refusal is classified.
    return row.status != "rejected" or isinstance(command, PlaceOrder | PlaceBracketOrder)


def _cl_ord_id(command: Command, signal_id: str, account: str) -> str:
    if isinstance(command, PlaceOrder):
        return command.request.cl_ord_id
    if isinstance(command, PlaceBracketOrder):
        return command.request.entry.cl_ord_id
    if isinstance(command, CancelOrder):
        return command.cl_ord_id
    return command.request.cl_ord_id or client_order_id(signal_id, account, command.leg)


class Executor:
    """Execute deliveries for one set of adapters; keeps a small cache of account ids."""

    def __init__(self, deps: ExecuteDeps) -> None:
        self._deps = deps
        self._account_ids: dict[str, int] = {}

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
            contract = await self._deps.contracts.resolve(env.signal.symbol)
        except InvalidSignal as exc:
            return await self._refuse(delivery, exc.code, exc.message)
        target = _Target(account, contract, strategy)
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
            planned, reads = await self._plan(env, target, events=[announce])
        if isinstance(planned, Denial):
            recorded = f"exec:{env.account}" in rows
            return await self._deny(delivery, target, planned, recorded=recorded)
        summary = self._summary(env, delivery, "planned", plan=dump_plan(planned))
        if rows:  # planning again after a refused cancel: the summary row exists
            await self._deps.ledger.update(summary)
        elif not await self._deps.ledger.claim_all([summary, *self._claims(env, planned)]):
            # Another delivery of this signal got here first: follow what it recorded.
            rows = await self._rows(env)
            return await self._follow(delivery, target, rows) or Outcome(
                "already_done", "another delivery is handling this signal"
            )
        return await self._run(delivery, target, planned, rows, claimed=not rows, reads=reads)

    async def _plan(
        self,
        env: Envelope,
        target: _Target,
        events: Events = (),
        *,
        from_rest: bool = False,
        earlier: _Reads | None = None,
    ) -> tuple[Plan | Denial, _Reads]:
        store, root = self._deps.store, target.contract.product.name
        view: LiveView | None
        if earlier is not None:
            # Planning again in this delivery: the kill switches and the last entry time were
            # read moments ago, before this signal's own plan stamped its entry time, which a
            # fresh read would take for a cooldown. The book and cash come from REST (a view
            # of only None parts); the last price (market data, not account state) is kept.
            view, facts = LiveView(None, None, None, earlier.last_price), earlier.facts
        elif from_rest:
            view = None
            facts = await store.risk_facts(target.strategy.id, env.account, root, events=events)
        else:
            # One read of the worker's cache serves the book and the risk facts alike; the
            # kill switches and cooldown stamp are read at the same time.
            view, facts = await asyncio.gather(
                self._deps.live.view(target.account.id, target.contract.contract.id),
                store.risk_facts(target.strategy.id, env.account, root, events=events),
            )
        # Without the worker's cache both fall back to REST: those reads go out together.
        book, risk = await asyncio.gather(
            self._book(target.account.id, target.contract, view),
            self._risk(target, env, view, facts),
        )
        policy = policy_for(target.strategy, env.account, env.multiplier)
        planned = plan(
            env.signal,
            book,
            target.contract,
            risk,
            policy,
            target.account,
            signal_id=env.signal_id,
        )
        return planned, _Reads(facts, view.last_price if view is not None else None)

    async def _rows(self, env: Envelope) -> dict[str, LedgerEntry]:
        return {row.row_key: row for row in await self._deps.ledger.rows(env.signal_id)}

    async def _follow(
        self, delivery: Delivery, target: _Target, rows: dict[str, LedgerEntry]
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
        return [self._claim(env, command) for command in the_plan.commands]

    def _claim(self, env: Envelope, command: Command) -> LedgerEntry:
        fields: dict[str, Any] = {
            "kind": type(command).__name__,
            "leg": command.leg,
            "account": env.account,
            "strategy": env.strategy_id,
            "claimed_at": self._deps.clock.now(),
        }
        cl_ord_id = _cl_ord_id(command, env.signal_id, env.account)
        return LedgerEntry(env.signal_id, cl_ord_id, "claimed", fields)

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

    async def _book(
        self, account_id: int, contract: broker.ContractSpec, view: LiveView | None
    ) -> Book:
        """Take position and working orders from the worker's cache, else from REST."""
        position = view.position if view is not None else None
        working = view.working_orders if view is not None else None
        if position is None or working is None:
            position, working = await self._book_from_rest(account_id, contract.contract.id)
        return Book.from_broker(position, working, view.last_price if view else None)

    async def _book_from_rest(
        self, account_id: int, cid: int
    ) -> tuple[broker.Position | None, tuple[WorkingOrder, ...]]:
        brk = self._deps.broker
        positions, orders = await asyncio.gather(brk.positions(account_id), brk.orders(account_id))
        position = next((p for p in positions if p.contract_id == cid), None)
        open_orders = [o for o in orders if o.contract_id == cid and o.status.is_open]
        versions = await asyncio.gather(*(brk.order_versions(o.id) for o in open_orders))
        working = tuple(
            WorkingOrder.from_broker(order, found[-1])
            for order, found in zip(open_orders, versions, strict=True)
            if found
        )
        return position, working

    async def _risk(
        self,
        target: _Target,
        env: Envelope,
        view: LiveView | None,
        facts: tuple[bool, bool, bool, datetime | None],
    ) -> RiskState:
        kill_all, kill_strategy, kill_account, last_at = facts
        strategy, account_id, root = (
            target.strategy,
            target.account.id,
            target.contract.product.name,
        )
        realized = open_pnl = Decimal(0)
        if strategy.risk.daily_loss_limit is not None:
            cash = view.cash if view is not None else None
            if cash is None:
                cash = await self._deps.broker.cash_balance_snapshot(account_id)
            realized, open_pnl = cash.realized_pnl, cash.open_pnl
        return RiskState(
            now=self._deps.clock.now(),
            global_kill=kill_all,
            strategy_kill=kill_strategy,
            account_kill=kill_account,
            realized_pnl=realized,
            open_pnl=open_pnl,
            last_order_at={(env.account, root): last_at} if last_at else {},
        )

    async def _deny(
        self, delivery: Delivery, target: _Target, denial: Denial, *, recorded: bool
    ) -> Outcome:
        if delivery.delivery_count > 1 and not recorded:
            found = await self._found_at_broker(delivery, target)
            if found is not None:
                return found
        return await self._refuse(delivery, str(denial.reason), denial.message)

    async def _found_at_broker(self, delivery: Delivery, target: _Target) -> Outcome | None:
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
            self._answer(env, cl_ord_id, "acknowledged", order_id=order.id, recovered=True)
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

    async def _refuse(self, delivery: Delivery, code: str, message: str) -> Outcome:
        """Record a denial (unless an earlier delivery recorded an outcome) and publish it."""
        env = delivery.envelope
        denied = self._summary(
            delivery.envelope,
            delivery,
            "denied",
            reason_code=code,
            reason=message,
            finished_at=self._deps.clock.now(),
        )
        earlier = await self._deps.ledger.claim(denied)
        if earlier is not None and earlier.status != REPLAN:
            return Outcome("already_done", f"this signal was already {earlier.status}")
        if earlier is not None:
            await self._deps.ledger.update(denied)
        await self._deps.store.publish(
            "risk.denied",
            {
                "signal_id": env.signal_id,
                "strategy": env.strategy_id,
                "account": env.account,
                "code": code,
                "message": message,
            },
        )
        log.info("signal %s denied for %s: %s", env.signal_id, env.account, message)
        return Outcome("denied", f"{code}: {message}")

    async def _run(
        self,
        delivery: Delivery,
        target: _Target,
        the_plan: Plan,
        rows: Mapping[str, LedgerEntry],
        *,
        claimed: bool,
        reads: _Reads | None = None,
    ) -> Outcome:
        """Send the plan; if a refused cancel or modify shows the position moved, plan once
        more from Tradovate's REST answers and send that plan instead (module docstring)."""
        env = delivery.envelope
        redelivered = delivery.delivery_count > 1
        try:
            return await self._send(
                env, target, the_plan, rows, claimed=claimed, redelivered=redelivered
            )
        except _PositionMoved as moved:
            log.warning(
                "signal %s for %s: %s; planning again from Tradovate's REST answers",
                env.signal_id,
                env.account,
                moved,
            )
        planned, _ = await self._plan(env, target, from_rest=True, earlier=reads)
        if isinstance(planned, Denial):
            return await self._refuse(delivery, str(planned.reason), planned.message)
        summary = self._summary(env, delivery, "planned", plan=dump_plan(planned), basis="rest")
        await self._deps.ledger.update(summary)
        try:
            return await self._send(
                env, target, planned, await self._rows(env), claimed=False, redelivered=redelivered
            )
        except _PositionMoved as again:
            raise TransientError(
                f"{again.leg} was refused ({again.detail}) right after planning from Tradovate's "
                "REST answers: the broker contradicts its own state, so this signal is retried "
                "later (planned from REST again) rather than at once"
            ) from again

    async def _send(
        self,
        env: Envelope,
        target: _Target,
        the_plan: Plan,
        rows: Mapping[str, LedgerEntry],
        *,
        claimed: bool,
        redelivered: bool,
    ) -> Outcome:
        """Send the plan's commands in order and record every answer in one write.

        On a re-delivery every leg not answered before is looked up at the broker by clOrdId
        before it is placed, even one this delivery claimed itself: the ledger's working copy
        may have been lost (a Redis fail-over) after an earlier delivery placed the order.
        """
        await self._announce(env, target, the_plan)
        answers: list[LedgerEntry] = []
        placed: list[int] = []
        try:
            for command in the_plan.commands:
                rejection = await self._send_one(
                    env, command, rows, answers, placed, claimed=claimed, redelivered=redelivered
                )
                if rejection is not None:
                    return await self._close(env, the_plan, answers, "rejected", rejection, placed)
        except TransientError:
            # Keep what was answered so far; the re-delivery looks up only the rest.
            if answers:
                await self._deps.ledger.update_all(answers)
            raise
        await self._after(env, target, the_plan)
        return await self._close(env, the_plan, answers, "done", the_plan.note, placed)

    async def _announce(self, env: Envelope, target: _Target, the_plan: Plan) -> None:
        links = {
            _cl_ord_id(c, env.signal_id, env.account): {
                "signal_id": env.signal_id,
                "strategy": env.strategy_id,
                "account": env.account,
                "account_id": target.account.id,
                "leg": c.leg,
            }
            for c in the_plan.commands
        }
        opens = any(isinstance(c, PlaceOrder | PlaceBracketOrder) for c in the_plan.commands)
        stamp = (
            (env.account, target.contract.product.name, self._deps.clock.now()) if opens else None
        )
        # Indexed before sending, so the worker can link a fill even if this process dies
        # between the broker's answer and the ledger write.
        request = {
            "signal_id": env.signal_id,
            "account": env.account,
            "note": the_plan.note,
            "legs": list(the_plan.legs),
            "correlation_id": env.correlation_id,
        }
        await self._deps.store.link_orders(links, stamp, events=[("order.request", request)])

    async def _send_one(
        self,
        env: Envelope,
        command: Command,
        rows: Mapping[str, LedgerEntry],
        answers: list[LedgerEntry],
        placed: list[int],
        *,
        claimed: bool,
        redelivered: bool,
    ) -> str | None:
        """Send one command unless it was answered before; return a rejection's text."""
        cl_ord_id = _cl_ord_id(command, env.signal_id, env.account)
        row = rows.get(cl_ord_id)
        if row is None and not claimed:
            row = await self._deps.ledger.claim(self._claim(env, command))
        if row is not None and _answered(row, command):
            order_id = row.fields.get("order_id")
            if isinstance(order_id, int):
                placed.append(order_id)
            return str(row.fields.get("broker_text")) if row.status == "rejected" else None
        sent_at = self._deps.clock.now()
        try:
            order_id = await self._dispatch(command, maybe_sent=redelivered or row is not None)
        except BrokerRejected as exc:
            if isinstance(command, CancelOrder | ModifyOrder):
                answers.append(await self._refused(env, command, cl_ord_id, exc, sent_at, answers))
                return None
            answers.append(
                self._answer(
                    env,
                    cl_ord_id,
                    "rejected",
                    sent_at=sent_at,
                    broker_code=exc.code,
                    broker_text=exc.message,
                )
            )
            await self._publish_rejection(env, command, exc)
            return f"{exc.code}: {exc.message}"
        answers.append(
            self._answer(env, cl_ord_id, "acknowledged", sent_at=sent_at, order_id=order_id)
        )
        if order_id is not None and isinstance(command, PlaceOrder | PlaceBracketOrder):
            placed.append(order_id)
            await self._deps.store.publish(
                "order.placed",
                {
                    "signal_id": env.signal_id,
                    "account": env.account,
                    "leg": command.leg,
                    "order_id": order_id,
                    "cl_ord_id": cl_ord_id,
                    "correlation_id": env.correlation_id,
                },
            )
        return None

    async def _refused(
        self,
        env: Envelope,
        command: CancelOrder | ModifyOrder,
        cl_ord_id: str,
        exc: BrokerRejected,
        sent_at: datetime,
        answers: list[LedgerEntry],
    ) -> LedgerEntry:
        """Return the leg's answer when its order closed untraded; raise otherwise.

        ``_PositionMoved`` (after writing the answers and a ``replan`` summary) when the order
        traded or Tradovate does not know it; ``TransientError`` when it is still open or its
        state cannot be read (``TransientBrokerError`` from the read).
        """
        order_id = (
            command.order_id if isinstance(command, CancelOrder) else command.request.order_id
        )
        state = await self._deps.broker.order_state(order_id)
        fate = state.fate
        where = f"order {order_id} is {state.status or 'unknown to Tradovate'}"
        if fate is broker.OrderFate.OPEN:
            raise TransientError(
                f"{command.leg} was refused ({exc.message}) but order {order_id} is still "
                f"{state.status} at Tradovate; retrying later"
            ) from exc
        answer = self._answer(
            env,
            cl_ord_id,
            _REFUSED_LEG[fate],
            sent_at=sent_at,
            order_id=order_id,
            broker_code=exc.code,
            broker_text=exc.message,
            broker_status=None if state.status is None else str(state.status),
            filled_qty=state.filled_qty,
        )
        if fate is broker.OrderFate.CANCELLED:
            log.info("signal %s: %s was refused, %s: done", env.signal_id, command.leg, where)
            return answer
        summary = LedgerEntry(env.signal_id, f"exec:{env.account}", REPLAN, {"plan": ""})
        await self._deps.ledger.update_all([*answers, answer, summary])
        answers.clear()
        raise _PositionMoved(command.leg, f"{exc.message}; {where}, filled {state.filled_qty}")

    def _answer(self, env: Envelope, cl_ord_id: str, status: str, **fields: Any) -> LedgerEntry:
        return LedgerEntry(
            env.signal_id, cl_ord_id, status, {"acked_at": self._deps.clock.now(), **fields}
        )

    async def _close(
        self,
        env: Envelope,
        the_plan: Plan,
        answers: list[LedgerEntry],
        status: Literal["done", "rejected"],
        detail: str,
        placed: list[int],
    ) -> Outcome:
        summary = LedgerEntry(
            env.signal_id,
            f"exec:{env.account}",
            status,
            {
                "detail": detail,
                "note": the_plan.note,
                "position_before": the_plan.position_before,
                "position_after": the_plan.position_after,
                "finished_at": self._deps.clock.now(),
            },
        )
        await self._deps.ledger.update_all([*answers, summary])
        return Outcome(status, detail, tuple(placed))

    async def _dispatch(self, command: Command, *, maybe_sent: bool) -> int | None:
        brk = self._deps.broker
        if isinstance(command, PlaceOrder):
            return (await brk.place_order(command.request, lookup_first=maybe_sent)).order_id
        if isinstance(command, PlaceBracketOrder):
            return (await brk.place_bracket(command.request, lookup_first=maybe_sent)).order_id
        if isinstance(command, CancelOrder):
            await brk.cancel_order(command.order_id, cl_ord_id=command.cl_ord_id)
            return command.order_id
        await brk.modify_order(command.request)
        return command.request.order_id

    async def _publish_rejection(
        self, env: Envelope, command: Command, exc: BrokerRejected
    ) -> None:
        await self._deps.store.publish(
            "order.rejected",
            {
                "signal_id": env.signal_id,
                "account": env.account,
                "leg": command.leg,
                "code": exc.code,
                "message": exc.message,
                "correlation_id": env.correlation_id,
            },
        )

    async def _after(self, env: Envelope, target: _Target, the_plan: Plan) -> None:
        """Record the intended position and hand stop management to the worker."""
        if env.signal.target is not None:
            await self._deps.store.record_intent(
                target.strategy.id,
                env.account,
                target.contract.product.name,
                the_plan.position_after,
                env.signal_id,
                self._deps.clock.now(),
            )
        items = {}
        for instruction in the_plan.instructions:
            entry_id = client_order_id(env.signal_id, env.account, instruction.entry_leg)
            stop_id = (
                client_order_id(env.signal_id, env.account, instruction.stop_leg)
                if instruction.stop_leg
                else None
            )
            items[entry_id] = json.dumps(
                {
                    "kind": type(instruction).__name__,
                    "instruction": encode(instruction),
                    "stop_cl_ord_id": stop_id,
                    "signal_id": env.signal_id,
                    "contract_id": target.contract.contract.id,
                },
            )
        await self._deps.store.store_instructions(target.account.id, items)
