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
rather than planning against a position the first attempt already moved; only a refused
cancel or modify (the order filled or vanished meanwhile) asks for a fresh plan. A
re-delivery that finds no record at all (Redis lost its last writes in a fail-over) plans
afresh; if a gate then refuses, the orders already at Tradovate under this signal's
clOrdIds are recorded as the outcome instead of the denial.

Outcomes: ``denied`` (a risk gate said no: journaled, never sent), ``rejected`` (the broker
said no: journaled, not retried), ``done``. Transient failures raise, so Service Bus
re-delivers the message and finally dead-letters it with the reason.
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
_FINAL_LEG = frozenset({"acknowledged", "partially_filled", "filled", "cancelled", "rejected"})
_FINAL_SUMMARY = frozenset({"done", "denied", "rejected"})
REPLAN = "replan"


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
            planned = await self._plan(env, target)
        else:  # the common case: the event goes out with the risk facts' read
            planned = await self._plan(env, target, events=[announce])
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
        return await self._run(
            env, target, planned, rows, claimed=not rows, redelivered=delivery.delivery_count > 1
        )

    async def _plan(self, env: Envelope, target: _Target, events: Events = ()) -> Plan | Denial:
        # One read of the worker's cache serves the book and the risk facts alike; the kill
        # switches and cooldown stamp are read at the same time.
        view, facts = await asyncio.gather(
            self._deps.live.view(target.account.id, target.contract.contract.id),
            self._deps.store.risk_facts(
                target.strategy.id, env.account, target.contract.product.name, events=events
            ),
        )
        # Without the worker's cache both fall back to REST: those reads go out together.
        book, risk = await asyncio.gather(
            self._book(target.account.id, target.contract, view),
            self._risk(target, env, view, facts),
        )
        policy = policy_for(target.strategy, env.account, env.multiplier)
        return plan(
            env.signal,
            book,
            target.contract,
            risk,
            policy,
            target.account,
            signal_id=env.signal_id,
        )

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
        return await self._run(
            env, target, load_plan(stored), rows, claimed=False, redelivered=True
        )

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
        if row is not None and row.status in _FINAL_LEG:
            order_id = row.fields.get("order_id")
            if isinstance(order_id, int):
                placed.append(order_id)
            return str(row.fields.get("broker_text")) if row.status == "rejected" else None
        sent_at = self._deps.clock.now()
        try:
            order_id = await self._dispatch(command, maybe_sent=redelivered or row is not None)
        except BrokerRejected as exc:
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
            if isinstance(command, CancelOrder | ModifyOrder):
                # The order changed under us (filled or gone): plan again from a fresh book.
                await self._deps.ledger.update_all(
                    [
                        *answers,
                        LedgerEntry(env.signal_id, f"exec:{env.account}", REPLAN, {"plan": ""}),
                    ]
                )
                answers.clear()
                raise TransientError(
                    f"{command.leg} was refused ({exc.message}); planning again"
                ) from exc
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
