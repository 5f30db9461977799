"""Send a plan's commands to the broker in order, and record every leg's answer in the ledger.

Each leg has a ledger row keyed by its client order id (``clOrdId``), which derives from
(signal, account, leg): claimed before any broker call, answered after. A claimed leg without
a recorded answer means "maybe sent": a re-delivery looks it up at Tradovate by clOrdId and
places it only if it is not there. The answers of one pass go to the ledger in one write,
with the execution summary.

A refused cancel or modify usually means the plan came from a view that still showed an
order Tradovate had already closed (the worker's cache lags the broker). Retrying it, or
planning again from that same cache, would only be refused again, so the sender asks
Tradovate what became of the order (``order/item`` and its fills) and acts on the answer:

* closed without a fill (Canceled, Expired, Rejected): the leg's purpose is met. It is
  recorded ``already_cancelled`` and the rest of the plan goes on, in this delivery;
* traded (Filled, or cancelled after a partial fill) or unknown to Tradovate: the position
  moved under the plan, so the plan is void. The leg (``already_filled``/``already_gone``)
  and a ``replan`` summary are written together, then ``PositionMoved`` tells the executor
  to plan once more, from REST only (the executor's module docstring says why that is safe);
* still open (say another command is pending on it), or its state cannot be read: it
  raises ``TransientError`` and leaves the leg unanswered, for a re-delivery to send again.

A refused placement is recorded ``rejected`` and ends the plan; a refused cancel or modify
never rejects a signal.

Round trips: the store writes that go with a ledger write (the clOrdId index, the entry
stamp, the in-flight expectation and ``order.request`` with the claim; ``order.placed``, the
intended position and the stop-management hand-over with the answers) travel in the same
Redis pipeline when the store can batch them (``shared.services.store_writes``), else one
after the other.
Nothing but the claim and its writes precedes the first broker call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, NamedTuple

from shared.domain import broker
from shared.domain.codec import encode
from shared.domain.errors import BrokerRejected, TransientError
from shared.domain.planning.model import (
    CancelOrder,
    Command,
    Instruction,
    ModifyOrder,
    PlaceBracketOrder,
    PlaceOrder,
    Plan,
    client_order_id,
    leg_of,
)
from shared.ports import BrokerTrading, Clock, ExecutionStore, Ledger, LedgerEntry
from shared.services.envelope import Envelope
from shared.services.expectation import Expectation
from shared.services.plan_inputs import Target
from shared.services.store_writes import StoreWrites, write_with

log = logging.getLogger(__name__)

ALREADY_CANCELLED = "already_cancelled"
FINAL_LEG = frozenset(
    {"acknowledged", "partially_filled", "filled", "cancelled", "rejected", ALREADY_CANCELLED}
)
REPLAN = "replan"
SENT = "sent"
# A leg this delivery claimed and never sent: a refused cancel or modify before it voided the
# plan, and the plan made again does not carry it.
SUPERSEDED = "superseded"
# A refused cancel or modify's leg status, by what Tradovate says became of its order.
_REFUSED_LEG = {
    broker.OrderFate.CANCELLED: ALREADY_CANCELLED,
    broker.OrderFate.FILLED: "already_filled",
    broker.OrderFate.UNKNOWN: "already_gone",
}


def signal_link(
    env: Envelope, target: Target, leg: str | None, *, ledger: bool = True
) -> dict[str, Any]:
    """Return the clOrdId index entry that names the signal behind an order.

    ``ledger`` False marks an exit (a bracket's take profit or stop, an exit placed around a
    fill): it has no ledger row the executor claimed, so the worker names the signal in the
    fill and order history and its events, but merges nothing into the ledger, whose rows a
    re-delivery reads and whose fill times are the entries'.
    """
    link: dict[str, Any] = {
        "signal_id": env.signal_id,
        "strategy": env.strategy_id,
        "account": env.account,
        "account_id": target.account.id,
        "leg": leg,
    }
    if not ledger:
        link["ledger"] = False
    return link


def exit_links(
    env: Envelope, target: Target, exits: Sequence[broker.BracketLeg]
) -> dict[str, dict[str, Any]]:
    """Return the index entries of exits (a bracket's, or those placed around a fill), each
    named by the leg its clOrdId carries and marked as an exit."""
    return {
        leg.cl_ord_id: signal_link(env, target, leg_of(leg.cl_ord_id), ledger=False)
        for leg in exits
        if leg.cl_ord_id
    }


def plan_links(env: Envelope, target: Target, the_plan: Plan) -> dict[str, dict[str, Any]]:
    """Return the index entries of a plan's orders: each command's, and each bracket exit's."""
    links: dict[str, dict[str, Any]] = {}
    for command in the_plan.commands:
        cl_ord_id = cl_ord_id_of(command, env.signal_id, env.account)
        links[cl_ord_id] = signal_link(env, target, command.leg)
        if isinstance(command, PlaceBracketOrder):
            links.update(exit_links(env, target, command.request.legs))
    return links


def announcement(env: Envelope, target: Target, the_plan: Plan, now: datetime) -> StoreWrites:
    """Return what goes to the store before a plan's first broker call.

    The clOrdIds are indexed before sending (a bracket's exits too), so the worker can link a
    fill even if this process dies between the broker's answer and the ledger write. The
    expectation says "in flight" until the executor writes what the plan did: a plan made
    meanwhile (this process died and the message went dead) cannot trust the cache and
    reads REST.
    """
    opens = any(isinstance(c, PlaceOrder | PlaceBracketOrder) for c in the_plan.commands)
    in_flight = Expectation(env.signal_id, unsure=True).dumps()
    request = {
        "signal_id": env.signal_id,
        "account": env.account,
        "note": the_plan.note,
        "legs": list(the_plan.legs),
        "correlation_id": env.correlation_id,
    }
    return StoreWrites(
        events=[("order.request", request)],
        links=plan_links(env, target, the_plan),
        stamp=(env.account, target.contract.product.name, now) if opens else None,
        expecting=(target.account.id, target.contract.contract.id, in_flight)
        if the_plan.commands
        else None,
    )


class PositionMoved(Exception):  # control flow between sender and executor; never escapes them
    """A refused cancel or modify showed the position moved under the plan: plan again."""

    def __init__(self, leg: str, detail: str) -> None:
        super().__init__(f"{leg}: {detail}")
        self.leg = leg
        self.detail = detail


class Sent(NamedTuple):
    """What sending one plan achieved: its status, a detail, the orders placed, and each leg
    that reached an order with that order's id (placed, cancelled or modified)."""

    status: Literal["done", "rejected"]
    detail: str
    orders: tuple[int, ...]
    legs: tuple[tuple[Command, int], ...] = ()
    # The answers' write when the caller asked to make it itself (``send(defer=True)``):
    # the rows (each leg's answer and the "sent" summary) and the store writes with them.
    pending: tuple[list[LedgerEntry], StoreWrites] | None = None
    first_sent: float | None = None  # epoch s of this delivery's first broker call


def _answered(row: LedgerEntry, command: Command) -> bool:
    if row.status not in FINAL_LEG:
        return False
    # Refused cancels and modifies were once recorded "rejected"; such a row says nothing about
    # the order now, so the leg goes out again and a new refusal is classified.
    return row.status != "rejected" or isinstance(command, PlaceOrder | PlaceBracketOrder)


def cl_ord_id_of(command: Command, signal_id: str, account: str) -> str:
    """Return the client order id a command goes out under."""
    if isinstance(command, PlaceOrder):
        return command.request.cl_ord_id
    if isinstance(command, PlaceBracketOrder):
        return command.request.entry.cl_ord_id
    if isinstance(command, CancelOrder):
        return command.cl_ord_id
    return command.request.cl_ord_id or client_order_id(signal_id, account, command.leg)


def claim_row(env: Envelope, command: Command, claimed_at: datetime) -> LedgerEntry:
    """Build the ledger row that claims a leg before it is sent."""
    cl_ord_id = cl_ord_id_of(command, env.signal_id, env.account)
    return claim_entry(env, cl_ord_id, type(command).__name__, command.leg, claimed_at)


def claim_entry(
    env: Envelope, cl_ord_id: str, kind: str, leg: str | None, claimed_at: datetime
) -> LedgerEntry:
    """Build the row that claims an order under ``cl_ord_id`` before it is sent."""
    fields: dict[str, Any] = {
        "kind": kind,
        "leg": leg,
        "account": env.account,
        "strategy": env.strategy_id,
        "claimed_at": claimed_at,
    }
    return LedgerEntry(env.signal_id, cl_ord_id, "claimed", fields)


def superseded_rows(
    env: Envelope, the_plan: Plan, refused_leg: str, at: datetime
) -> dict[str, LedgerEntry]:
    """Return, by clOrdId, a ``superseded`` row for each of the plan's commands after
    ``refused_leg``: the sender stops at the refusal, so none of them was sent."""
    legs = [command.leg for command in the_plan.commands]
    after = the_plan.commands[legs.index(refused_leg) + 1 :] if refused_leg in legs else ()
    reason = f"not sent: the refusal of {refused_leg} showed the position had moved"
    rows = {}
    for command in after:
        cl_ord_id = cl_ord_id_of(command, env.signal_id, env.account)
        fields: dict[str, Any] = {"superseded_at": at, "reason": reason}
        rows[cl_ord_id] = LedgerEntry(env.signal_id, cl_ord_id, SUPERSEDED, fields)
    return rows


def answer_row(
    env: Envelope, cl_ord_id: str, status: str, acked_at: datetime, **fields: Any
) -> LedgerEntry:
    """Build the ledger row that records a leg's answer."""
    return LedgerEntry(env.signal_id, cl_ord_id, status, {"acked_at": acked_at, **fields})


class PlanSender:
    """Send plans for one set of adapters and record the broker's answers."""

    def __init__(
        self, brk: BrokerTrading, ledger: Ledger, store: ExecutionStore, clock: Clock
    ) -> None:
        self._broker = brk
        self._ledger = ledger
        self._store = store
        self._clock = clock

    async def send(
        self,
        env: Envelope,
        target: Target,
        the_plan: Plan,
        rows: Mapping[str, LedgerEntry],
        *,
        claimed: bool,
        redelivered: bool,
        announced: bool = False,
        defer: bool = False,
    ) -> Sent:
        """Send the plan's commands in order and record every answer in one write.

        ``announced`` says the claim already carried ``announcement``'s writes. With
        ``defer`` a plan sent in full leaves that write to the caller (``Sent.pending``),
        which makes it with its own next write; a rejection is written here either way. On a
        re-delivery every leg not answered before is looked up at the broker by clOrdId
        before it is placed, even one this delivery claimed itself: the ledger's working copy
        may have been lost (a Redis fail-over) after an earlier delivery placed the order.
        """
        if not announced:
            writes = announcement(env, target, the_plan, self._clock.now())
            await self._store.link_orders(
                writes.links, writes.stamp, events=writes.events, expecting=writes.expecting
            )
        answers: list[LedgerEntry] = []
        legs: list[tuple[Command, int]] = []
        events: list[tuple[str, Mapping[str, Any]]] = []
        try:
            for command in the_plan.commands:
                rejection = await self._send_one(
                    env,
                    command,
                    rows,
                    (answers, legs, events),
                    claimed=claimed,
                    redelivered=redelivered,
                )
                if rejection is not None:
                    closing = StoreWrites(events=events)
                    return await self._close(
                        env, the_plan, answers, ("rejected", rejection, closing), legs
                    )
        except TransientError:
            # Keep what was answered so far; the re-delivery looks up only the rest.
            if answers or events:
                await write_with(self._store, self._ledger, answers, StoreWrites(events=events))
            raise
        closing = self._after(env, target, the_plan, events)
        return await self._close(
            env, the_plan, answers, ("done", the_plan.note, closing), legs, defer=defer
        )

    async def _send_one(
        self,
        env: Envelope,
        command: Command,
        rows: Mapping[str, LedgerEntry],
        outputs: tuple[
            list[LedgerEntry], list[tuple[Command, int]], list[tuple[str, Mapping[str, Any]]]
        ],
        *,
        claimed: bool,
        redelivered: bool,
    ) -> str | None:
        """Send one command unless it was answered before; return a rejection's text. The
        answer, the leg and its event are added to ``outputs`` (written with the summary)."""
        answers, legs, events = outputs
        cl_ord_id = cl_ord_id_of(command, env.signal_id, env.account)
        row = rows.get(cl_ord_id)
        if row is None and not claimed:
            row = await self._ledger.claim(claim_row(env, command, self._clock.now()))
        if row is not None and _answered(row, command):
            order_id = row.fields.get("order_id")
            if isinstance(order_id, int):
                legs.append((command, order_id))
            return str(row.fields.get("broker_text")) if row.status == "rejected" else None
        sent_at = self._clock.now()
        try:
            order_id = await self._dispatch(command, maybe_sent=redelivered or row is not None)
        except BrokerRejected as exc:
            if isinstance(command, CancelOrder | ModifyOrder):
                answers.append(
                    await self._refused(env, command, cl_ord_id, exc, sent_at, answers, events)
                )
                refused_id = (
                    command.order_id
                    if isinstance(command, CancelOrder)
                    else command.request.order_id
                )
                legs.append((command, refused_id))  # closed untraded: its purpose is met
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
            events.append(_rejection(env, command, exc))
            return f"{exc.code}: {exc.message}"
        answers.append(
            self._answer(env, cl_ord_id, "acknowledged", sent_at=sent_at, order_id=order_id)
        )
        if order_id is not None:
            legs.append((command, order_id))
        if order_id is not None and isinstance(command, PlaceOrder | PlaceBracketOrder):
            events.append(
                (
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
        events: list[tuple[str, Mapping[str, Any]]],
    ) -> LedgerEntry:
        """Return the leg's answer when its order closed untraded; raise otherwise.

        ``PositionMoved`` (after writing the answers and a ``replan`` summary) when the order
        traded or Tradovate does not know it; ``TransientError`` when it is still open or its
        state cannot be read (``TransientBrokerError`` from the read).
        """
        order_id = (
            command.order_id if isinstance(command, CancelOrder) else command.request.order_id
        )
        state = await self._broker.order_state(order_id)
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
        await write_with(
            self._store, self._ledger, [*answers, answer, summary], StoreWrites(events=events)
        )
        answers.clear()
        events.clear()
        raise PositionMoved(command.leg, f"{exc.message}; {where}, filled {state.filled_qty}")

    def _answer(self, env: Envelope, cl_ord_id: str, status: str, **fields: Any) -> LedgerEntry:
        return answer_row(env, cl_ord_id, status, self._clock.now(), **fields)

    async def _close(
        self,
        env: Envelope,
        the_plan: Plan,
        answers: list[LedgerEntry],
        closing: tuple[Literal["done", "rejected"], str, StoreWrites],
        legs: list[tuple[Command, int]],
        *,
        defer: bool = False,
    ) -> Sent:
        # A plan sent in full is "sent" until its fills are known (the executor's
        # ``settled_outcome`` writes "done"); a re-delivery meanwhile finishes it.
        status, detail, writes = closing
        summary = LedgerEntry(
            env.signal_id,
            f"exec:{env.account}",
            SENT if status == "done" else status,
            {
                "detail": detail,
                "note": the_plan.note,
                "position_before": the_plan.position_before,
                "position_after": the_plan.position_after,
                "finished_at": self._clock.now(),
            },
        )
        placed = tuple(i for c, i in legs if isinstance(c, PlaceOrder | PlaceBracketOrder))
        # Each leg this delivery sent has its answer here, with the moment it was sent.
        sent_times = [t for a in answers if isinstance(t := a.fields.get("sent_at"), datetime)]
        first_sent = min(sent_times).timestamp() if sent_times else None
        if defer and status == "done":
            pending = ([*answers, summary], writes)
            return Sent(status, detail, placed, tuple(legs), pending, first_sent)
        await write_with(self._store, self._ledger, [*answers, summary], writes)
        return Sent(status, detail, placed, tuple(legs), None, first_sent)

    async def _dispatch(self, command: Command, *, maybe_sent: bool) -> int | None:
        brk = self._broker
        if isinstance(command, PlaceOrder):
            return (await brk.place_order(command.request, lookup_first=maybe_sent)).order_id
        if isinstance(command, PlaceBracketOrder):
            return (await brk.place_bracket(command.request, lookup_first=maybe_sent)).order_id
        if isinstance(command, CancelOrder):
            await brk.cancel_order(command.order_id, cl_ord_id=command.cl_ord_id)
            return command.order_id
        await brk.modify_order(command.request)
        return command.request.order_id

    def _after(
        self,
        env: Envelope,
        target: Target,
        the_plan: Plan,
        events: list[tuple[str, Mapping[str, Any]]],
    ) -> StoreWrites:
        """Return the writes after a plan went out in full: its events, the intended position
        and the stop-management hand-over to the worker."""
        intent = None
        if env.signal.target is not None:
            intent = (
                target.strategy.id,
                env.account,
                target.contract.product.name,
                the_plan.position_after,
                env.signal_id,
                self._clock.now(),
            )
        items = instruction_items(env, target, the_plan.instructions)
        return StoreWrites(
            events=events,
            intent=intent,
            instructions=(target.account.id, items) if items else None,
        )


def _rejection(env: Envelope, command: Command, exc: BrokerRejected) -> tuple[str, Any]:
    return rejection_event(env, command, exc.code, exc.message)


def rejection_event(env: Envelope, command: Command, code: str, message: str) -> tuple[str, Any]:
    """Return the ``order.rejected`` event of one leg the broker refused."""
    return (
        "order.rejected",
        {
            "signal_id": env.signal_id,
            "account": env.account,
            "leg": command.leg,
            "code": code,
            "message": message,
            "correlation_id": env.correlation_id,
        },
    )


async def hand_over(
    store: ExecutionStore, env: Envelope, target: Target, instructions: Sequence[Instruction]
) -> None:
    """Hand stop-management instructions (breakeven, trailing) to the worker, keyed by the
    entry's client order id."""
    await store.store_instructions(target.account.id, instruction_items(env, target, instructions))


def instruction_items(
    env: Envelope, target: Target, instructions: Sequence[Instruction]
) -> dict[str, str]:
    """Return the stop-management hand-over, JSON per entry client order id."""
    items = {}
    for instruction in instructions:
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
    return items
