"""Turn one queued signal for one account into exactly one correct set of broker orders.

For each delivery: resolve the contract, read the account's position and working orders,
gather the risk facts (kill switches, cooldown, P&L when a loss limit is set), plan (pure),
then send the plan's commands in order. Exactly once, even across crashes and re-deliveries:

- every command is claimed in the ledger with a conditional insert before it is sent;
- its client order id (``clOrdId``) is derived from (signal, account, leg), so a claimed
  row without a recorded result means "maybe sent": the broker is searched by ``clOrdId``
  first and the order is placed only if it is not there;
- a summary row per (signal, account) records the outcome, so a delivery of a message
  whose work is already done does nothing.

Outcomes: ``denied`` (a risk gate said no: journaled, never sent), ``rejected`` (the broker
said no: journaled, not retried), ``done``. Transient failures raise, so Service Bus
re-delivers the message and finally dead-letters it with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from shared.domain import broker
from shared.domain.codec import encode
from shared.domain.errors import BrokerRejected, InvalidSignal, TransientBrokerError
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
)
from shared.domain.planning.planner import plan
from shared.domain.policy import RiskState
from shared.domain.risk import Denial
from shared.ports import (
    BrokerTrading,
    Clock,
    ContractSource,
    ExecutionStore,
    Ledger,
    LedgerEntry,
    LiveReader,
)
from shared.services.envelope import Envelope
from shared.services.plan_record import dump_plan, load_plan
from shared.services.policy_builder import policy_for
from shared.strategies import Strategy, StrategyBook

log = logging.getLogger(__name__)

Status = Literal["done", "denied", "rejected", "already_done"]
_FINAL_LEG = frozenset({"acknowledged", "filled", "cancelled", "rejected"})
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


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery of a queue message: the envelope plus what Service Bus says about it."""

    envelope: Envelope
    message_id: str
    delivery_count: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery achieved."""

    status: Status
    detail: str = ""
    orders: tuple[int, ...] = ()


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
        env = delivery.envelope
        summary_key = f"exec:{env.account}"
        previous = await self._deps.ledger.claim(self._summary(env, delivery, "dequeued"))
        if previous is not None and previous.status in _FINAL_SUMMARY:
            return Outcome("already_done", f"this signal was already {previous.status}")
        strategy = self._deps.strategies.get(env.strategy_id)
        if strategy is None:
            return await self._deny(
                delivery, "unknown_strategy", f"strategy {env.strategy_id} is gone"
            )
        try:
            account = broker.Account(id=await self._account_id(env), name=env.account)
            contract = await self._deps.contracts.resolve(env.signal.symbol)
        except InvalidSignal as exc:
            return await self._deny(delivery, exc.code, exc.message)
        stored = previous.fields.get("plan") if previous is not None else None
        if isinstance(stored, str) and previous is not None and previous.status == "planned":
            # A re-delivery finishes the plan the first attempt made (see plan_record).
            result = load_plan(stored)
        else:
            book = await self._book(account.id, contract)
            risk = await self._risk(strategy, env, contract, account.id)
            policy = policy_for(strategy, env.account, env.multiplier)
            planned = plan(
                env.signal, book, contract, risk, policy, account, signal_id=env.signal_id
            )
            if isinstance(planned, Denial):
                return await self._deny(delivery, str(planned.reason), planned.message)
            result = planned
            await self._deps.ledger.update(
                LedgerEntry(env.signal_id, summary_key, "planned", {"plan": dump_plan(result)})
            )
        await self._deps.store.publish(
            "order.request",
            {
                "signal_id": env.signal_id,
                "account": env.account,
                "note": result.note,
                "legs": list(result.legs),
                "correlation_id": env.correlation_id,
            },
        )
        outcome = await self._send(env, account, contract, result)
        await self._after(env, strategy, account, contract, result, outcome)
        await self._deps.ledger.update(
            LedgerEntry(
                env.signal_id,
                summary_key,
                outcome.status,
                {
                    "detail": outcome.detail,
                    "note": result.note,
                    "position_before": result.position_before,
                    "position_after": result.position_after,
                    "finished_at": self._deps.clock.now(),
                },
            )
        )
        return outcome

    def _summary(self, env: Envelope, delivery: Delivery, status: str) -> LedgerEntry:
        return LedgerEntry(
            env.signal_id,
            f"exec:{env.account}",
            status,
            {
                "kind": "execution",
                "strategy": env.strategy_id,
                "account": env.account,
                "root": env.signal.symbol.root,
                "message_id": delivery.message_id,
                "delivery_count": delivery.delivery_count,
                "correlation_id": env.correlation_id,
                "received_at": env.received_at,
                "dequeued_at": self._deps.clock.now(),
                "tv_time": env.signal.tv_time,
            },
        )

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

    async def _book(self, account_id: int, contract: broker.ContractSpec) -> Book:
        """Read position and working orders from the worker's cache, else from REST."""
        cid = contract.contract.id
        live = self._deps.live
        position = await live.position(account_id, cid)
        working = await live.working_orders(account_id, cid) if position is not None else None
        if position is None or working is None:
            position, working = await self._book_from_rest(account_id, cid)
        return Book.from_broker(position, working, await live.last_price(cid))

    async def _book_from_rest(
        self, account_id: int, cid: int
    ) -> tuple[broker.Position | None, tuple[WorkingOrder, ...]]:
        positions = await self._deps.broker.positions(account_id)
        position = next((p for p in positions if p.contract_id == cid), None)
        working = []
        for order in await self._deps.broker.orders(account_id):
            if order.contract_id != cid or not order.status.is_open:
                continue
            versions = await self._deps.broker.order_versions(order.id)
            if versions:
                working.append(WorkingOrder.from_broker(order, versions[-1]))
        return position, tuple(working)

    async def _risk(
        self, strategy: Strategy, env: Envelope, contract: broker.ContractSpec, account_id: int
    ) -> RiskState:
        root = contract.product.name
        kill_all, kill_strategy, kill_account, last_at = await self._deps.store.risk_facts(
            strategy.id, env.account, root
        )
        realized = open_pnl = Decimal(0)
        if strategy.risk.daily_loss_limit is not None:
            cash = await self._deps.live.cash(account_id)
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

    async def _deny(self, delivery: Delivery, code: str, message: str) -> Outcome:
        env = delivery.envelope
        fields: dict[str, Any] = {
            "reason_code": code,
            "reason": message,
            "finished_at": self._deps.clock.now(),
        }
        await self._deps.ledger.update(
            LedgerEntry(env.signal_id, f"exec:{env.account}", "denied", fields)
        )
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

    async def _send(
        self, env: Envelope, account: broker.Account, contract: broker.ContractSpec, the_plan: Plan
    ) -> Outcome:
        links = {
            _cl_ord_id(c, env.signal_id, env.account): {
                "signal_id": env.signal_id,
                "strategy": env.strategy_id,
                "account": env.account,
                "account_id": account.id,
                "leg": c.leg,
            }
            for c in the_plan.commands
        }
        entries = [c for c in the_plan.commands if isinstance(c, PlaceOrder | PlaceBracketOrder)]
        stamp = (env.account, contract.product.name, self._deps.clock.now()) if entries else None
        # Indexed before sending, so the worker can link a fill even if this process dies
        # between the broker's answer and the ledger write.
        await self._deps.store.link_orders(links, stamp)
        placed: list[int] = []
        for command in the_plan.commands:
            rejected = await self._send_one(env, command, placed)
            if rejected is not None:
                return Outcome("rejected", rejected, tuple(placed))
        return Outcome("done", the_plan.note, tuple(placed))

    async def _send_one(self, env: Envelope, command: Command, placed: list[int]) -> str | None:
        cl_ord_id = _cl_ord_id(command, env.signal_id, env.account)
        claim = LedgerEntry(
            env.signal_id,
            cl_ord_id,
            "claimed",
            {
                "kind": type(command).__name__,
                "leg": command.leg,
                "account": env.account,
                "strategy": env.strategy_id,
                "claimed_at": self._deps.clock.now(),
            },
        )
        existing = await self._deps.ledger.claim(claim)
        if existing is not None and existing.status in _FINAL_LEG:
            order_id = existing.fields.get("order_id")
            if isinstance(order_id, int):
                placed.append(order_id)
            return (
                str(existing.fields.get("broker_text")) if existing.status == "rejected" else None
            )
        sent = dataclasses.replace(claim, status="sent", fields={"sent_at": self._deps.clock.now()})
        await self._deps.ledger.update(sent)
        try:
            order_id = await self._dispatch(command, maybe_sent=existing is not None)
        except BrokerRejected as exc:
            await self._record_rejection(env, claim, command, exc)
            if isinstance(command, CancelOrder | ModifyOrder):
                # The order changed under us (filled or gone): drop the plan so the next
                # delivery plans again from a fresh book.
                await self._deps.ledger.update(
                    LedgerEntry(env.signal_id, f"exec:{env.account}", "dequeued", {"plan": ""})
                )
                raise TransientBrokerError(
                    f"{command.leg} was refused ({exc.message}); planning again"
                ) from exc
            return f"{exc.code}: {exc.message}"
        fields: dict[str, Any] = {"acked_at": self._deps.clock.now(), "order_id": order_id}
        await self._deps.ledger.update(
            dataclasses.replace(claim, status="acknowledged", fields=fields)
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

    async def _record_rejection(
        self, env: Envelope, claim: LedgerEntry, command: Command, exc: BrokerRejected
    ) -> None:
        fields: dict[str, Any] = {
            "broker_code": exc.code,
            "broker_text": exc.message,
            "acked_at": self._deps.clock.now(),
        }
        await self._deps.ledger.update(dataclasses.replace(claim, status="rejected", fields=fields))
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

    async def _after(
        self,
        env: Envelope,
        strategy: Strategy,
        account: broker.Account,
        contract: broker.ContractSpec,
        the_plan: Plan,
        outcome: Outcome,
    ) -> None:
        if outcome.status != "done":
            return
        if env.signal.target is not None:
            await self._deps.store.record_intent(
                strategy.id,
                env.account,
                contract.product.name,
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
                    "contract_id": contract.contract.id,
                },
            )
        await self._deps.store.store_instructions(account.id, items)
