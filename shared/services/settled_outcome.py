"""Finish a sent plan: wait for its fills and cancels, record them, and leave an expectation.

The message of a signal completes only once its market orders' fills are known (or a
bounded wait ran out), so the next message of the session plans from a position holding
them (``shared.services.settle``). Then, in one ledger write: each market leg's fill
(``settled_qty``, ``settled_by``), and on the execution summary how long settling took and
whether the fills are ``confirmed``. A market order that Tradovate accepted and then closed
without a single fill (refused after the answer, say by its risk checks) makes the signal
``rejected``: the broker refused the trade itself, and an ``order.rejected`` event (code
``closed_without_fill``) goes out with the write, as for a refused placement. With that write,
in the same round trip, the expectation for the account and contract
(``shared.services.expectation``) says what the next plan needs the cache to show.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any, Literal

from shared.domain.broker import OrderType
from shared.domain.planning.model import (
    CancelOrder,
    Command,
    PlaceBracketOrder,
    PlaceOrder,
    Plan,
)
from shared.ports import LedgerEntry
from shared.services.envelope import Envelope
from shared.services.expectation import expectation_after
from shared.services.plan_inputs import Basis, Target
from shared.services.policy_builder import policy_for
from shared.services.protect import Protection, Protector
from shared.services.send_plan import Sent, cl_ord_id_of, rejection_event
from shared.services.settle import Settled, notices_of, settle
from shared.services.store_writes import StoreWrites, write_with

if TYPE_CHECKING:
    from shared.services.execute import ExecuteDeps

log = logging.getLogger(__name__)


def _market_qty(command: Command) -> int | None:
    """Return the quantity of a leg that trades at once (a market order), else None."""
    if isinstance(command, PlaceOrder):
        request = command.request
    elif isinstance(command, PlaceBracketOrder):
        request = command.request.entry
    else:
        return None
    return request.qty if request.order_type is OrderType.MARKET else None


async def finish(
    deps: ExecuteDeps,
    env: Envelope,
    target: Target,
    plan: Plan,
    sent: Sent,
    basis: Basis | None,
) -> tuple[Literal["done", "rejected"], str]:
    """Settle the sent plan, protect its fill-anchored entries, and return the signal's final
    status and detail."""
    markets = {order_id: (command, qty) for command, order_id in sent.legs
               if (qty := _market_qty(command)) is not None}  # fmt: skip
    waited = [*markets, *(i for c, i in sent.legs if isinstance(c, CancelOrder))]
    loop = asyncio.get_running_loop()
    started = loop.time()
    notices = notices_of(deps.store)
    # The notices can vouch for the fills only when the worker was live for this plan; else
    # the first read finds it absent and the wait asks REST at once.
    since = sent.first_sent if basis is not None and basis.source == "cache" else None
    settling = asyncio.ensure_future(
        settle(waited, target.account.id, deps.live, deps.broker, deps.timing, notices,
               since=since)
    )  # fmt: skip
    pending = await _answers_unless_settled(deps, sent.pending, settling)
    settled = dict(await settling)
    protection = await _protect(deps, env, target, plan, sent, settled)
    took_ms = round((loop.time() - started) * 1000)
    status, detail = sent.status, sent.detail
    rows: list[LedgerEntry] = []
    refused: list[str] = []
    rejections: list[tuple[str, Any]] = []
    for order_id, (command, qty) in markets.items():
        result = settled[order_id]
        if result.source == "timeout":
            continue
        rows.append(_leg_row(env, command, result, qty))
        if result.untraded:
            note = f"order {order_id} closed {result.status} without a fill"
            refused.append(note)
            rejections.append(rejection_event(env, command, "closed_without_fill", note))
    unconfirmed = sorted(i for i, r in settled.items() if r.source == "timeout")
    if refused and status == "done":
        status, detail = "rejected", "; ".join(refused)
    elif unconfirmed:
        detail = (
            f"{detail}; order(s) {unconfirmed} not confirmed closed within "
            f"{deps.timing.fill_timeout_s:g} s"
        ).lstrip("; ")
        log.warning("signal %s for %s: %s", env.signal_id, env.account, detail)
    if protection.notes:
        detail = "; ".join([detail, *protection.notes]).lstrip("; ")
    fills = "unconfirmed" if unconfirmed else "confirmed" if markets else "none"
    sources = sorted({r.source for r in settled.values()})
    summary = LedgerEntry(
        env.signal_id,
        f"exec:{env.account}",
        status,
        {"detail": detail, "fills": fills, "settled_ms": took_ms, "settled_by": ",".join(sources)},
    )
    seen = None if basis is None else basis.seen(env.signal_id)
    expected = expectation_after(env.signal_id, seen, sent.legs, settled)
    if seen is not None and (protection.working or protection.flattened):
        expected = dataclasses.replace(
            expected,
            working={**expected.working, **protection.working},
            settled=(*expected.settled, *protection.flattened),
            unsure=expected.unsure
            or any(settled[i].source == "timeout" for i in protection.flattened),
        )
    entries, writes = _with_answers(pending, [*rows, summary])
    if rejections:  # told as a refused placement is told: the trader hears of it
        writes = dataclasses.replace(writes, events=[*writes.events, *rejections])
    if basis is not None and basis.source == "cache" and not sent.legs and pending is None:
        await deps.ledger.update_all(entries)  # the cache already shows it all
    else:
        account_id, contract_id = target.account.id, target.contract.contract.id
        writes = dataclasses.replace(writes, expecting=(account_id, contract_id, expected.dumps()))
        await write_with(deps.store, deps.ledger, entries, writes)
    return status, detail


async def _answers_unless_settled(
    deps: ExecuteDeps,
    pending: tuple[list[LedgerEntry], StoreWrites] | None,
    settling: asyncio.Future[Any],
) -> tuple[list[LedgerEntry], StoreWrites] | None:
    """Return the answers' write still to make with the fills', or None once made.

    The common fill is known within milliseconds: the answers then go out with it, one write
    instead of two. A wait that outlasts ``answer_linger_s`` (or a plan that places more
    orders once filled) records the answers at once, so the ledger and ``order.placed`` do not
    wait for a slow fill. A crash before either write leaves the legs claimed, not answered:
    a re-delivery looks each up at Tradovate by its clOrdId before it would place it again.
    """
    if pending is None:
        return None
    await asyncio.wait({settling}, timeout=deps.timing.answer_linger_s)
    if settling.done() and not settling.cancelled() and settling.exception() is None:
        return pending
    # Still waiting, or the wait failed (its await raises it): the answers are facts either way.
    await write_with(deps.store, deps.ledger, *pending)
    return None


def _with_answers(
    pending: tuple[list[LedgerEntry], StoreWrites] | None, entries: list[LedgerEntry]
) -> tuple[list[LedgerEntry], StoreWrites]:
    """Join the answers' write to the fills' ``entries``: each row once, the fills' fields
    and status over the answers' (the summary's "done" over "sent")."""
    if pending is None:
        return entries, StoreWrites()
    answered, writes = pending
    merged = {row.row_key: row for row in answered}
    for row in entries:
        earlier = merged.get(row.row_key)
        if earlier is not None:
            row = LedgerEntry(
                row.signal_id, row.row_key, row.status, {**earlier.fields, **row.fields}
            )
        merged[row.row_key] = row
    return list(merged.values()), writes


async def _protect(
    deps: ExecuteDeps,
    env: Envelope,
    target: Target,
    plan: Plan,
    sent: Sent,
    settled: dict[int, Settled],
) -> Protection:
    """Place the exits of entries whose bracket waited for the fill (``protect``); wait for
    a flattening order's fill like any market order's."""
    if not plan.deferred:
        return Protection()
    policy = policy_for(target.strategy, env.account, env.multiplier)
    rows = {row.row_key: row for row in await deps.ledger.rows(env.signal_id)}
    protector = Protector(deps.broker, deps.ledger, deps.store, deps.clock)
    protection = await protector.protect(env, target, plan, policy, sent.legs, settled, rows)
    if protection.flattened:
        flat = await settle(
            protection.flattened,
            target.account.id,
            deps.live,
            deps.broker,
            deps.timing,
            notices_of(deps.store),
        )
        settled.update(flat)
    return protection


def _leg_row(env: Envelope, command: Command, result: Settled, qty: int) -> LedgerEntry:
    if result.untraded:
        leg_status = "rejected"
    else:
        leg_status = "filled" if result.filled_qty >= qty else "partially_filled"
    fields = {
        "settled_qty": result.filled_qty,
        "settled_by": result.source,
        "broker_status": None if result.status is None else str(result.status),
    }
    return LedgerEntry(env.signal_id, cl_ord_id_of(command, env.signal_id, env.account),
                       leg_status, fields)  # fmt: skip
