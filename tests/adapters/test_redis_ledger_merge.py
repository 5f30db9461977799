"""The ledger's merge of one leg's writes from the executor and the worker, in either order.

The executor claims a leg, then records the broker's answer (``acknowledged`` with the order
id); the worker records the leg's fills and cancels from the WebSocket, and either may reach
Redis first. Whatever the order, the row must end with the order id, the furthest status and
every field some write carried (``redis_ledger``'s module docstring states the rule).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.redis_ledger import RedisLedger
from shared.ports import LedgerEntry

pytestmark = pytest.mark.integration

SIGNAL = "sig-merge"
LEG = "tb-entry"
ORDER_ID = 2**62 + 7  # beyond Lua's number precision: must survive untouched
AT = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
RANK = {"claimed": 1, "acknowledged": 3, "partially_filled": 4, "filled": 5, "cancelled": 5}


def _leg(status: str, signal: str = SIGNAL, **fields: object) -> LedgerEntry:
    return LedgerEntry(signal, LEG, status, fields)  # type: ignore[arg-type]


def claim(signal: str = SIGNAL) -> LedgerEntry:
    return _leg("claimed", signal, leg="entry", account="A", claimed_at=AT)


def ack(signal: str = SIGNAL, order_id: int = ORDER_ID) -> LedgerEntry:
    """The executor's answer, as ``execute._answer`` writes it."""
    return _leg(
        "acknowledged",
        signal,
        acked_at=AT + timedelta(seconds=2),
        sent_at=AT + timedelta(seconds=1),
        order_id=order_id,
        broker_status="Working",
    )


def fill(
    qty: int, *, complete: bool, signal: str = SIGNAL, order_id: int | None = None
) -> LedgerEntry:
    """The worker's fill end (``filled_ledger_entry``), with or without the order id."""
    return _leg(
        "filled" if complete else "partially_filled",
        signal,
        filled_at=AT + timedelta(seconds=qty),
        fill_price=f"2100{qty}",
        filled_qty=qty,
        order_id=order_id,
    )


@pytest.fixture
async def ledger(redis_url: str) -> AsyncIterator[RedisLedger]:
    client = aioredis.Redis.from_url(redis_url)
    yield RedisLedger(client, ttl_s=600)
    await client.aclose()


async def _replay(ledger: RedisLedger, writes: list[LedgerEntry]) -> LedgerEntry:
    await ledger.claim(claim(writes[0].signal_id))
    for write in writes:
        await ledger.update(write)
    [row] = await ledger.rows(writes[0].signal_id)
    return row


EXECUTOR_FIELDS = {
    "order_id": ORDER_ID,
    "sent_at": AT + timedelta(seconds=1),
    "acked_at": AT + timedelta(seconds=2),
    "broker_status": "Working",
    "leg": "entry",
}


@pytest.mark.parametrize(
    ("writes", "status", "filled_qty"),
    [
        pytest.param([ack(), fill(1, complete=True)], "filled", 1, id="ack-then-fill"),
        pytest.param([fill(1, complete=True), ack()], "filled", 1, id="fill-then-ack"),
        pytest.param(
            [fill(1, complete=True, order_id=ORDER_ID), ack()],
            "filled",
            1,
            id="fill-with-order-id-then-ack",
        ),
        pytest.param(
            [fill(1, complete=False), fill(2, complete=True), ack()],
            "filled",
            2,
            id="fill-then-partial-order-then-ack",
        ),
        pytest.param(
            [fill(1, complete=False), ack(), fill(2, complete=True)],
            "filled",
            2,
            id="partial-then-ack-then-fill",
        ),
        pytest.param(
            [fill(2, complete=True), fill(1, complete=False), ack()],
            "filled",
            2,
            id="fill-then-late-partial-then-ack",
        ),
        pytest.param([ack(), ack(), fill(1, complete=False)], "partially_filled", 1, id="dup-ack"),
        pytest.param(
            [fill(1, complete=True), ack(), ack()], "filled", 1, id="fill-then-duplicate-ack"
        ),
        pytest.param([ack()], "acknowledged", None, id="ack-alone"),
    ],
)
async def test_every_order_of_arrival_keeps_the_order_id_and_the_furthest_status(
    ledger: RedisLedger, writes: list[LedgerEntry], status: str, filled_qty: int | None
) -> None:
    row = await _replay(ledger, writes)
    assert row.status == status
    assert {k: row.fields.get(k) for k in EXECUTOR_FIELDS} == EXECUTOR_FIELDS
    assert row.fields.get("filled_qty") == filled_qty
    assert "order_id_conflict" not in row.fields


async def test_a_behind_write_never_overwrites_a_field(ledger: RedisLedger) -> None:
    # The worker's filled row carries a broker_status; the late ack must not replace it.
    filled = fill(1, complete=True)
    first = LedgerEntry(SIGNAL, LEG, filled.status, {**filled.fields, "broker_status": "Filled"})
    row = await _replay(ledger, [first, ack()])
    assert (row.status, row.fields["broker_status"]) == ("filled", "Filled")
    assert row.fields["order_id"] == ORDER_ID  # the field it lacked is added


async def test_a_late_partial_fill_never_moves_a_filled_leg_back(ledger: RedisLedger) -> None:
    row = await _replay(ledger, [fill(2, complete=True), fill(1, complete=False)])
    assert (row.status, row.fields["filled_qty"], row.fields["fill_price"]) == (
        "filled",
        2,
        "21002",
    )


@pytest.mark.parametrize("fill_first", [True, False], ids=["fill-first", "ack-first"])
async def test_a_different_order_id_keeps_the_first_and_flags_the_conflict(
    ledger: RedisLedger, caplog: pytest.LogCaptureFixture, fill_first: bool
) -> None:
    worker = fill(1, complete=True, order_id=ORDER_ID)
    executor = ack(order_id=ORDER_ID + 1)
    writes = [worker, executor] if fill_first else [executor, worker]
    with caplog.at_level(logging.WARNING, logger="shared.adapters.redis_ledger"):
        row = await _replay(ledger, writes)
    kept, refused = (ORDER_ID, ORDER_ID + 1) if fill_first else (ORDER_ID + 1, ORDER_ID)
    assert row.status == "filled"
    assert (row.fields["order_id"], row.fields["order_id_conflict"]) == (kept, refused)
    [record] = [r for r in caplog.records if "two order ids" in r.getMessage()]
    assert (record.row_key, record.order_id, record.order_id_conflict) == (LEG, kept, refused)  # type: ignore[attr-defined]


async def test_an_unranked_status_still_keeps_the_order_id(ledger: RedisLedger) -> None:
    # A refused cancel's answer (already_cancelled) replaces the status, never the order id.
    row = await _replay(
        ledger, [ack(), _leg("already_cancelled", broker_code="x", order_id=ORDER_ID)]
    )
    assert (row.status, row.fields["order_id"], row.fields["broker_code"]) == (
        "already_cancelled",
        ORDER_ID,
        "x",
    )
    assert "order_id_conflict" not in row.fields


# --- every interleaving of one leg's writes ---------------------------------------------

_runs = itertools.count()


@st.composite
def interleavings(draw: st.DrawFn) -> list[LedgerEntry]:
    """The executor's writes (answer, maybe repeated by a redelivery) and the worker's
    (partial fills, then the last fill or a cancel, each possibly re-recorded), merged in any
    order that keeps each side's own order."""
    executor = [ack()] * draw(st.integers(1, 2))
    qtys = sorted(draw(st.lists(st.integers(1, 5), min_size=0, max_size=3, unique=True)))
    worker_knows = draw(st.booleans())
    order_id = ORDER_ID if worker_knows else None
    worker = [fill(q, complete=False, order_id=order_id) for q in qtys]
    end = draw(st.sampled_from(["filled", "cancelled", "none"]))
    if end == "filled":
        worker.append(fill(6, complete=True, order_id=order_id))
    elif end == "cancelled":
        worker.append(_leg("cancelled", cancelled_at=AT, order_id=order_id))
    resync: bool = draw(st.booleans())
    if worker and resync:  # a resync records the last end again
        worker.append(worker[-1])
    slots: list[int] = draw(st.permutations([0] * len(executor) + [1] * len(worker)))
    sides = (iter(executor), iter(worker))
    return [next(sides[slot]) for slot in slots]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(writes=interleavings())
def test_any_interleaving_ends_with_the_order_id_the_furthest_status_and_every_field(
    redis_url: str, writes: list[LedgerEntry]
) -> None:
    signal = f"sig-prop-{next(_runs)}"
    writes = [LedgerEntry(signal, w.row_key, w.status, w.fields) for w in writes]

    async def run() -> LedgerEntry:
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await _replay(RedisLedger(client, ttl_s=60), writes)
        finally:
            await client.aclose()

    row = asyncio.run(run())
    everything = [claim(signal), *writes]
    furthest = max(RANK[w.status] for w in everything)
    assert RANK[row.status] == furthest
    assert row.fields["order_id"] == ORDER_ID
    assert "order_id_conflict" not in row.fields
    # Each field holds the value of the furthest write that carried it (the latest of those),
    # since a write behind the row adds only what the row lacks.
    carried: dict[str, tuple[int, object]] = {}
    for write in everything:
        for name, value in write.fields.items():
            if value is not None and RANK[write.status] >= carried.get(name, (0, None))[0]:
                carried[name] = (RANK[write.status], value)
    assert row.fields == {name: value for name, (_, value) in carried.items()}
