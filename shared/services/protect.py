"""Place a market entry's exits once its fill is known, measured from the fill price.

A plan whose bracket had nothing to measure from (``ProtectAfterFill``: no alert price, no
fresh quote, or a strategy pinned to the fill) sent its entries alone. Once ``settle`` knows
what each entry filled and at what average price, this places the exits for the quantity
that filled: a take profit and a stop OCO-linked (``order/placeoco``), or the one exit, with
the client order ids an OSO bracket would have had (``<entry>.tp``, ``<entry>.sl``). Each is
claimed in the ledger first and looked up at Tradovate by clOrdId on a re-delivery, so it is
placed once. Breakeven and trailing instructions go to the worker as for any bracket.

If the exits cannot be placed (a level the fill makes invalid, or Tradovate refuses them),
the position must not stay unprotected unnoticed: with ``bracket_failure = "flatten"`` (the
default) a market order closes what filled (``<entry>.flatten``); with ``"notify"`` the
position stays. Either way a ``risk.alert`` event says what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.domain import broker
from shared.domain.errors import BrokerRejected
from shared.domain.planning.brackets import BracketSetup, exits_for
from shared.domain.planning.model import Command, PlaceOrder, Plan, ProtectAfterFill
from shared.domain.planning.model import client_order_id as leg_id
from shared.domain.policy import BracketFailure, StrategyPolicy
from shared.domain.risk import Denial
from shared.ports import BrokerTrading, Clock, ExecutionStore, Ledger, LedgerEntry
from shared.services.envelope import Envelope
from shared.services.plan_inputs import Target
from shared.services.send_plan import (
    FINAL_LEG,
    answer_row,
    claim_entry,
    exit_links,
    hand_over,
    signal_link,
)
from shared.services.settle import Settled
from shared.services.store_writes import StoreWrites, claim_with

log = logging.getLogger(__name__)


@dataclass
class Protection:
    """What protecting a plan's entries did: orders left working, notes for the summary."""

    working: dict[int, int] = field(default_factory=dict)  # order id -> quantity
    notes: list[str] = field(default_factory=list)
    flattened: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Protector:
    """Place the exits of a plan's fill-anchored entries, exactly once."""

    brk: BrokerTrading
    ledger: Ledger
    store: ExecutionStore
    clock: Clock

    async def protect(
        self,
        env: Envelope,
        target: Target,
        plan: Plan,
        policy: StrategyPolicy,
        legs: Sequence[tuple[Command, int]],
        settled: Mapping[int, Settled],
        rows: Mapping[str, LedgerEntry],
    ) -> Protection:
        """Protect each deferred entry that filled; never raise for a refused exit."""
        done = Protection()
        entries = {command.leg: order_id for command, order_id in legs
                   if isinstance(command, PlaceOrder)}  # fmt: skip
        for deferred in plan.deferred:
            order_id = entries.get(deferred.entry_leg)
            result = None if order_id is None else settled.get(order_id)
            if result is None or result.filled_qty == 0:
                continue  # not placed, refused, or nothing filled: nothing to protect
            if result.source == "timeout" or result.price is None:
                await self._unprotected(env, target, deferred, 0, "its fill is not known", done)
                continue
            await self._protect_one(env, target, deferred, policy, result, rows, done)
        return done

    async def _protect_one(
        self,
        env: Envelope,
        target: Target,
        deferred: ProtectAfterFill,
        policy: StrategyPolicy,
        fill: Settled,
        rows: Mapping[str, LedgerEntry],
        done: Protection,
    ) -> None:
        assert fill.price is not None
        tif = broker.TimeInForce(policy.bracket_time_in_force)
        setup = BracketSetup(
            deferred.side,
            fill.price,
            target.contract,
            tif,
            lambda leg: leg_id(env.signal_id, env.account, leg),
        )
        try:
            leg = exits_for(deferred.bracket, deferred.entry_leg, fill.filled_qty, setup)
            placed = await self._place_exits(env, target, leg.exits, fill.filled_qty, rows)
        except (Denial, BrokerRejected) as exc:
            why = exc.message
            flatten = policy.bracket_failure is BracketFailure.FLATTEN
            qty = fill.filled_qty if flatten else 0
            await self._unprotected(env, target, deferred, qty, why, done, rows=rows)
            return
        done.working.update(placed)
        done.notes.append(
            f"{deferred.entry_leg}: exits placed around the fill at {fill.price} "
            f"for {fill.filled_qty}"
        )
        await hand_over(self.store, env, target, leg.instructions)

    async def _place_exits(
        self,
        env: Envelope,
        target: Target,
        exits: tuple[broker.BracketLeg, ...],
        qty: int,
        rows: Mapping[str, LedgerEntry],
    ) -> dict[int, int]:
        if not exits:
            return {}
        first, *rest = exits
        request = _request(target, env, first, qty)
        cl_ord_id = request.cl_ord_id
        links = exit_links(env, target, exits)
        answered, maybe_sent = await self._claim(env, cl_ord_id, "exits", rows, links)
        if answered is not None:
            order_id = answered.fields.get("order_id")
            return {order_id: qty} if isinstance(order_id, int) else {}
        sent_at = self.clock.now()
        try:
            if rest:
                req = broker.OcoOrderRequest(request, rest[0])
                ack = await self.brk.place_oco(req, lookup_first=maybe_sent)
            else:
                ack = await self.brk.place_order(request, lookup_first=maybe_sent)
        except BrokerRejected as exc:
            refused = answer_row(
                env,
                cl_ord_id,
                "rejected",
                self.clock.now(),
                broker_code=exc.code,
                broker_text=exc.message,
                sent_at=sent_at,
            )
            await self.ledger.update(refused)
            raise
        await self.ledger.update(
            answer_row(
                env,
                cl_ord_id,
                "acknowledged",
                self.clock.now(),
                order_id=ack.order_id,
                sent_at=sent_at,
                oco_id=ack.oco_id,
            )
        )
        placed = {ack.order_id: qty}
        if ack.oco_id is not None:
            placed[ack.oco_id] = qty
        return placed

    async def _unprotected(
        self,
        env: Envelope,
        target: Target,
        deferred: ProtectAfterFill,
        qty: int,
        why: str,
        done: Protection,
        *,
        rows: Mapping[str, LedgerEntry] | None = None,
    ) -> None:
        """Close what filled (``qty`` > 0) or keep it, and say so on ``risk.alert``."""
        action = "kept"
        if qty:
            order_id = await self._flatten(env, target, deferred, qty, rows or {})
            if order_id is not None:
                done.flattened.append(order_id)
                action = "flattened"
        note = f"{deferred.entry_leg}: exits not placed ({why}); position {action}"
        done.notes.append(note)
        log.warning("signal %s for %s: %s", env.signal_id, env.account, note)
        await self.store.publish(
            "risk.alert",
            {
                "kind": "unprotected_entry",
                "signal_id": env.signal_id,
                "strategy": env.strategy_id,
                "account": env.account,
                "leg": deferred.entry_leg,
                "action": action,
                "reason": why,
                "correlation_id": env.correlation_id,
            },
        )

    async def _flatten(
        self,
        env: Envelope,
        target: Target,
        deferred: ProtectAfterFill,
        qty: int,
        rows: Mapping[str, LedgerEntry],
    ) -> int | None:
        leg = f"{deferred.entry_leg}.flatten"
        cl_ord_id = leg_id(env.signal_id, env.account, leg)
        links = {cl_ord_id: signal_link(env, target, leg, ledger=False)}
        answered, maybe_sent = await self._claim(env, cl_ord_id, "flatten", rows, links)
        if answered is not None:
            found = answered.fields.get("order_id")
            return found if isinstance(found, int) else None
        request = broker.OrderRequest(
            account_id=target.account.id,
            symbol=target.contract.symbol,
            side=deferred.side.opposite,
            qty=qty,
            order_type=broker.OrderType.MARKET,
            cl_ord_id=cl_ord_id,
            account_name=env.account,
        )
        sent_at = self.clock.now()
        try:
            ack = await self.brk.place_order(request, lookup_first=maybe_sent)
        except BrokerRejected as exc:
            log.error("signal %s: flattening %s refused: %s", env.signal_id, leg, exc.message)
            return None
        answer = answer_row(
            env, cl_ord_id, "acknowledged", self.clock.now(), order_id=ack.order_id, sent_at=sent_at
        )
        await self.ledger.update(answer)
        return ack.order_id

    async def _claim(
        self,
        env: Envelope,
        cl_ord_id: str,
        kind: str,
        rows: Mapping[str, LedgerEntry],
        links: Mapping[str, Mapping[str, Any]],
    ) -> tuple[LedgerEntry | None, bool]:
        """Return the row an earlier delivery answered under ``cl_ord_id`` (nothing to send),
        or claim it and say whether it may already have gone out (look it up first). The
        claim indexes the exits' clOrdIds (``links``) in the same round trip, so the worker
        names the signal in their fills."""
        row = rows.get(cl_ord_id)
        if row is not None and row.status in FINAL_LEG:
            return row, True
        entry = claim_entry(env, cl_ord_id, kind, None, self.clock.now())
        claimed = await claim_with(self.store, self.ledger, [entry], StoreWrites(links=links))
        return None, row is not None or not claimed


def _request(
    target: Target, env: Envelope, exit_leg: broker.BracketLeg, qty: int
) -> broker.OrderRequest:
    assert exit_leg.cl_ord_id is not None
    return broker.OrderRequest(
        account_id=target.account.id,
        symbol=target.contract.symbol,
        side=exit_leg.side,
        qty=qty,
        order_type=exit_leg.order_type,
        cl_ord_id=exit_leg.cl_ord_id,
        price=exit_leg.price,
        stop_price=exit_leg.stop_price,
        trail=exit_leg.trail,
        time_in_force=exit_leg.time_in_force,
        account_name=env.account,
    )
