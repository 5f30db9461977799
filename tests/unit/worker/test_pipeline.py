"""The pipeline: REST fill recovery, dirty documents rewritten, quotes re-marking P&L."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from decimal import Decimal

from shared import redis_keys as keys
from shared.domain.broker import Fill, Order, OrderCommand, OrderStatus, Quote
from tests.unit.worker.builders import (
    ACCOUNT,
    AT,
    ES,
    change,
    command,
    fill,
    order,
    position,
    snapshot,
)
from tests.unit.worker.fakes import FakeHistory, FakeLedgerWrites, FakeRedis, FakeStore
from worker.pipeline import LivePipeline
from worker.recorder import HistoryRecorder, SignalLinker
from worker.specs import ContractTermsResolver


class FakeRest:
    def __init__(self, fills: Sequence[Fill], orders: Sequence[Order]) -> None:
        self._fills, self._orders = tuple(fills), tuple(orders)

    async def fills(self, order_id: int | None = None) -> tuple[Fill, ...]:
        return self._fills

    async def orders(self, account_id: int | None = None) -> tuple[Order, ...]:
        return self._orders

    async def commands(self, order_ids: list[int]) -> tuple[OrderCommand, ...]:
        return tuple(command(o * 10, o, f"cl-{o}") for o in order_ids)

    async def contract(self, contract_id: int) -> object:
        raise AssertionError("names come from the snapshot here")

    async def contract_spec(self, name: str) -> object:
        raise AssertionError("terms come from the contract map here")


def _pipeline(rest: FakeRest) -> tuple[LivePipeline, FakeStore, FakeHistory]:
    redis, history, store = FakeRedis(), FakeHistory(), FakeStore()
    spec = {"spec": {"tick_size": "0.25", "value_per_point": "50"}}
    redis.values[keys.contract_map("ES")] = json.dumps(spec)
    recorder = HistoryRecorder(
        redis,  # type: ignore[arg-type]
        history,  # type: ignore[arg-type]
        FakeLedgerWrites(),
        linker=SignalLinker(redis),  # type: ignore[arg-type]
        publish=store.publish,
        now=lambda: AT,
    )
    terms = ContractTermsResolver(redis, rest)  # type: ignore[arg-type]
    pipeline = LivePipeline(store, recorder, terms, now=lambda: AT)  # type: ignore[arg-type]
    return pipeline, store, history


async def test_recover_fills_with_fills_the_socket_missed_records_them_once() -> None:
    known = fill(70, 7, 1, "6000")
    rest = FakeRest(
        [known, fill(71, 7, 1, "6001"), fill(90, 9, 2, "6002")],
        [order(9, OrderStatus.FILLED)],
    )
    pipeline, _, history = _pipeline(rest)
    await pipeline.on_snapshot(snapshot(orders=(order(7, OrderStatus.FILLED),), fills=(known,)))
    await pipeline.drain_history()
    assert [r["fill_id"] for r in history.rows["fills"]] == [70]
    assert await pipeline.recover_fills(rest) == 2
    assert pipeline.history_backlog == 1
    await pipeline.drain_history()
    assert [r["fill_id"] for r in history.rows["fills"]] == [70, 71, 90]
    assert history.rows["fills"][-1]["cl_ord_id"] == "cl-9"
    assert await pipeline.recover_fills(rest) == 0


async def test_write_accounts_with_redis_down_keeps_them_dirty_until_flushed() -> None:
    pipeline, store, _ = _pipeline(FakeRest([], []))
    store.down = True
    await pipeline.on_snapshot(snapshot(positions=(position(1, "6000"),)))
    assert pipeline.dirty == {ACCOUNT}
    assert not await pipeline.flush_dirty()
    store.down = False
    assert await pipeline.flush_dirty()
    assert keys.live_cash(ACCOUNT) in store.documents


async def test_on_quotes_with_open_position_remarks_pnl_and_publishes_changes_only() -> None:
    pipeline, store, _ = _pipeline(FakeRest([], []))
    await pipeline.on_snapshot(snapshot(positions=(position(2, "6000"),)))
    await pipeline.wait_for_terms()
    store.events.clear()
    assert await pipeline.on_quotes([Quote(ES, AT, last=Decimal("6001"))]) == {ES}
    cash = store.documents[keys.live_cash(ACCOUNT)]
    assert (cash["open_pnl"], cash["marks_complete"]) == ("100.00", True)
    assert [name for name, _ in store.events] == ["price.update", "account.update"]
    await pipeline.on_quotes([Quote(ES, AT, last=Decimal("6001"))])
    assert [name for name, _ in store.events][-1] == "price.update"  # same P&L: no update
    assert await pipeline.on_quotes([]) == set()
    assert pipeline.forget_marks() == {ACCOUNT}
    await pipeline.on_changes([change(position(0, "6000"))])
    assert pipeline.book.active_contracts() == set()


async def test_on_quotes_rerenders_holders_only_when_the_mark_moves() -> None:
    pipeline, store, _ = _pipeline(FakeRest([], []))
    await pipeline.on_snapshot(snapshot(positions=(position(2, "6000"),)))
    await pipeline.wait_for_terms()
    await pipeline.on_quotes([Quote(ES, AT, last=Decimal("6001"))])
    positions = keys.live_positions(ACCOUNT)
    store.documents.pop(positions)

    # The last trade again (as with every fill), and a quote that moves only bid and ask.
    await pipeline.on_quotes([Quote(ES, AT, last=Decimal("6001"))])
    await pipeline.on_quotes([Quote(ES, AT, bid=Decimal("6000"), ask=Decimal("6002"))])
    assert positions not in store.documents
    assert store.quotes[ES]["bid"] == "6000"  # the quote itself is stored every time

    await pipeline.on_quotes([Quote(ES, AT, last=Decimal("5999"))])
    cash = store.documents[keys.live_cash(ACCOUNT)]
    assert positions in store.documents
    assert cash["open_pnl"] == "-100.00"
    assert pipeline.forget_marks() == {ACCOUNT}
    store.documents.pop(positions)
    await pipeline.on_quotes([Quote(ES, AT, last=Decimal("5999"))])  # first mark after a gap
    assert positions in store.documents


async def test_drain_history_with_changes_queued_one_by_one_writes_them_together() -> None:
    pipeline, _, history = _pipeline(FakeRest([], []))
    await pipeline.on_snapshot(snapshot(orders=(order(7, OrderStatus.WORKING),)))
    await pipeline.on_changes([change(command(70, 7, "cl-7"))])
    for fill_id in (71, 72, 73):  # three socket messages, each its own queued batch
        await pipeline.on_changes([change(fill(fill_id, 7, 1, "6000"))])
    assert pipeline.history_backlog == 3
    await pipeline.drain_history()
    assert pipeline.history_backlog == 0
    assert [[r["fill_id"] for r in t] for t in history.transactions] == [[71, 72, 73]]


async def test_run_history_waits_for_a_burst_to_pass_then_writes_it_in_one_transaction() -> None:
    pipeline, _, history = _pipeline(FakeRest([], []))
    pipeline._history_quiet_s = 0.1  # the production defaults, scaled down
    pipeline._history_defer_s = 5.0
    await pipeline.on_snapshot(snapshot(orders=(order(7, OrderStatus.WORKING),)))
    await pipeline.on_changes([change(command(70, 7, "cl-7"))])
    task = asyncio.create_task(pipeline.run_history())
    try:
        for fill_id in (71, 72, 73):  # a burst: one change every 30 ms
            await pipeline.on_changes([change(fill(fill_id, 7, 1, "6000"))])
            await asyncio.sleep(0.03)
            assert history.transactions == []  # nothing written while changes keep coming
            assert pipeline.history_backlog >= 1  # taken or queued, never lost from sight
        for _ in range(100):
            if history.transactions:
                break
            await asyncio.sleep(0.01)
        assert [[r["fill_id"] for r in t] for t in history.transactions] == [[71, 72, 73]]
        assert pipeline.history_backlog == 0
    finally:
        task.cancel()


async def test_run_history_under_changes_that_never_stop_writes_after_the_defer_bound() -> None:
    pipeline, _, history = _pipeline(FakeRest([], []))
    pipeline._history_quiet_s = 10.0
    pipeline._history_defer_s = 0.1
    await pipeline.on_snapshot(snapshot(orders=(order(7, OrderStatus.WORKING),)))
    await pipeline.on_changes([change(command(70, 7, "cl-7"))])
    await pipeline.on_changes([change(fill(71, 7, 1, "6000"))])
    task = asyncio.create_task(pipeline.run_history())
    try:
        await asyncio.sleep(0.05)
        assert history.transactions == []
        for _ in range(100):
            if history.transactions:
                break
            await asyncio.sleep(0.01)
        assert [[r["fill_id"] for r in t] for t in history.transactions] == [[71]]
    finally:
        task.cancel()
