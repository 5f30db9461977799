"""The history recorder: each fill once, linked to its signal, and retried after an outage."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from shared import redis_keys as keys
from shared.adapters.tables_common import TRANSACTION_ROWS
from shared.domain.broker import OrderStatus
from shared.domain.errors import DependencyUnavailable
from tests.unit.worker.builders import AT, change, command, fill, order, report, version
from tests.unit.worker.fakes import FakeHistory, FakeLedgerWrites, FakeRedis
from worker.book import Book
from worker.recorder import HistoryRecorder, SignalLinker

LEDGER = FakeLedgerWrites()


def _setup() -> tuple[HistoryRecorder, FakeRedis, FakeHistory, list[tuple[str, Any]], Book]:
    redis, history = FakeRedis(), FakeHistory()
    LEDGER.entries.clear()
    LEDGER.down_signals.clear()
    LEDGER.merges = 0
    events: list[tuple[str, Any]] = []

    async def publish(batch: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        events.extend(batch)

    recorder = HistoryRecorder(
        redis,  # type: ignore[arg-type]
        history,  # type: ignore[arg-type]
        LEDGER,
        linker=SignalLinker(redis),  # type: ignore[arg-type]
        publish=publish,
        now=lambda: AT,
    )
    book = Book()
    book.apply(change(order(7, OrderStatus.FILLED)))
    book.apply(change(command(70, 7, "cl-7")))
    index = {"signal_id": "sig-7", "strategy": "s", "account": "DEMO10001", "leg": "entry"}
    redis.values[keys.cl_ord_index("cl-7")] = json.dumps(index)
    return recorder, redis, history, events, book


async def test_record_fills_with_linked_fill_writes_row_ledger_event_once() -> None:
    recorder, redis, history, events, book = _setup()
    effects = book.apply(change(fill(71, 7, 2, "6000.5")))
    await recorder.record_fills(effects.fills, book)
    await recorder.record_fills(effects.fills, book)  # a resync delivers it again
    assert [r["fill_id"] for r in history.rows["fills"]] == [71]
    [leg] = LEDGER.entries
    assert (leg.signal_id, leg.row_key, leg.status) == ("sig-7", "cl-7", "filled")
    assert leg.fields["fill_price"] == "6000.5"
    assert [name for name, _ in events] == ["order.filled"]
    assert events[0][1]["signal_id"] == "sig-7"
    assert "71" in redis.sets[keys.WORKER_FILLS_RECORDED]


async def test_record_fills_with_tables_down_keeps_fill_pending_until_it_is_written() -> None:
    recorder, _, history, events, book = _setup()
    effects = book.apply(change(fill(72, 7, 1, "6001")))
    history.down = True
    await recorder.record_fills(effects.fills, book)
    assert recorder.pending == 1
    assert events == []
    history.down = False
    await recorder.record_fills((), book)
    assert recorder.pending == 0
    assert [r["fill_id"] for r in history.rows["fills"]] == [72]


async def test_record_fills_with_redis_down_keeps_the_batch_and_raises() -> None:
    recorder, redis, _, _, book = _setup()
    effects = book.apply(change(fill(73, 7, 1, "6001")))
    redis.down = True
    try:
        await recorder.record_fills(effects.fills, book)
    except DependencyUnavailable:
        pass
    else:
        raise AssertionError("expected DependencyUnavailable")
    assert recorder.pending == 1


async def test_record_executions_with_cancel_marks_the_ledger_cancelled() -> None:
    recorder, _, history, _, _ = _setup()
    reports = [
        (report(80, 7, "New", OrderStatus.WORKING), "cl-7"),
        (report(81, 7, "Canceled", OrderStatus.CANCELED), "cl-7"),
        (report(82, 9, "Canceled", OrderStatus.CANCELED), None),
    ]
    await recorder.record_executions(reports)
    await recorder.record_executions(reports)
    assert len(history.rows["executions"]) == 3
    assert [(e.row_key, e.status) for e in LEDGER.entries] == [("cl-7", "cancelled")]


async def test_signal_linker_caches_hits_and_ignores_bad_index_values() -> None:
    redis = FakeRedis()
    linker = SignalLinker(redis)  # type: ignore[arg-type]
    assert await linker.link(None) is None
    assert await linker.link("absent") is None
    redis.values[keys.cl_ord_index("bad")] = "{"
    assert await linker.link("bad") is None
    redis.values[keys.cl_ord_index("ok")] = json.dumps({"signal_id": "s"})
    assert (await linker.link("ok")) is not None
    redis.down = True
    assert (await linker.link("ok")) is not None  # cached: no Redis call


async def test_announce_then_record_publishes_order_filled_once() -> None:
    recorder, _, history, events, book = _setup()
    effects = book.apply(change(fill(74, 7, 1, "6002")))
    await recorder.announce(effects.fills, book)
    assert [(name, body["signal_id"]) for name, body in events] == [("order.filled", "sig-7")]
    await recorder.record_fills(effects.fills, book)
    assert len(events) == 1
    assert [r["fill_id"] for r in history.rows["fills"]] == [74]


async def test_record_executions_writes_one_transaction_per_day_and_merges_per_signal() -> None:
    recorder, redis, history, _, _ = _setup()
    index = {"signal_id": "sig-8", "strategy": "s", "account": "DEMO10001", "leg": "entry"}
    redis.values[keys.cl_ord_index("cl-8")] = json.dumps(index)
    reports = [
        (report(90, 7, "New", OrderStatus.WORKING), "cl-7"),
        (report(91, 8, "New", OrderStatus.WORKING), "cl-8"),
        (report(92, 7, "Canceled", OrderStatus.CANCELED), "cl-7"),
        (report(93, 8, "Canceled", OrderStatus.CANCELED), "cl-8"),
        (report(94, 9, "New", OrderStatus.WORKING), None),
    ]
    await recorder.record_executions(reports)
    # Two signals and an unlinked order, all of one day: one Table transaction.
    assert [[r["report_id"] for r in t] for t in history.transactions] == [[90, 91, 92, 93, 94]]
    assert [r.get("signal_id") for r in history.transactions[0]] == [
        "sig-7", "sig-8", "sig-7", "sig-8", None
    ]  # fmt: skip
    assert redis.mgets == [[keys.cl_ord_index("cl-7"), keys.cl_ord_index("cl-8")]]
    assert LEDGER.merges == 2  # one script per signal
    assert sorted((e.signal_id, e.status) for e in LEDGER.entries) == [
        ("sig-7", "cancelled"), ("sig-8", "cancelled")
    ]  # fmt: skip
    assert set(redis.sets[keys.WORKER_EXECUTIONS_RECORDED]) == {"90", "91", "92", "93", "94"}


def _second_signal(book: Book, redis: FakeRedis) -> None:
    book.apply(change(order(8, OrderStatus.FILLED)))
    book.apply(change(command(80, 8, "cl-8")))
    index = {"signal_id": "sig-8", "strategy": "s", "account": "DEMO10001", "leg": "entry"}
    redis.values[keys.cl_ord_index("cl-8")] = json.dumps(index)


async def test_record_fills_with_one_day_failing_records_the_others_and_retries_it() -> None:
    recorder, redis, history, events, book = _setup()
    _second_signal(book, redis)
    effects = book.apply(change(fill(75, 7, 1, "6000")))
    next_day = replace(fill(76, 8, 1, "6001"), timestamp=AT + timedelta(days=1))
    effects.merge(book.apply(change(next_day)))
    history.down_partitions = {"2026-03-03"}
    await recorder.record_fills(effects.fills, book)
    assert [(r["PartitionKey"], r["fill_id"]) for r in history.rows["fills"]] == [
        ("2026-03-02", 75)
    ]
    assert list(recorder.pending_fills) == [76]
    assert [e.signal_id for e in LEDGER.entries] == ["sig-7"]  # sig-8's end waits with its row
    assert set(redis.sets[keys.WORKER_FILLS_RECORDED]) == {"75"}
    assert [body["fill_id"] for _, body in events] == [75]
    history.down_partitions = set()
    await recorder.record_fills((), book)
    assert recorder.pending == 0
    assert [r["fill_id"] for r in history.rows["fills"]] == [75, 76]
    assert [body["fill_id"] for _, body in events] == [75, 76]


async def test_record_fills_with_one_signals_ledger_failing_marks_only_the_others() -> None:
    recorder, redis, history, _, book = _setup()
    _second_signal(book, redis)
    effects = book.apply(change(fill(75, 7, 1, "6000")))
    effects.merge(book.apply(change(fill(76, 8, 1, "6001"))))
    LEDGER.down_signals = {"sig-8"}
    await recorder.record_fills(effects.fills, book)
    assert [[r["fill_id"] for r in t] for t in history.transactions] == [[75, 76]]
    assert [e.signal_id for e in LEDGER.entries] == ["sig-7"]
    assert set(redis.sets[keys.WORKER_FILLS_RECORDED]) == {"75"}  # 76 is written, not marked
    assert list(recorder.pending_fills) == [76]
    LEDGER.down_signals = set()
    await recorder.record_fills((), book)
    assert [r["fill_id"] for r in history.rows["fills"]] == [75, 76, 76]  # the same row again
    assert [e.signal_id for e in LEDGER.entries] == ["sig-7", "sig-8"]
    assert set(redis.sets[keys.WORKER_FILLS_RECORDED]) == {"75", "76"}
    assert recorder.pending == 0


async def test_record_executions_of_more_rows_than_one_transaction_splits_the_day() -> None:
    recorder, _, history, _, _ = _setup()
    count = TRANSACTION_ROWS + 5
    await recorder.record_executions(
        (report(1000 + n, 9, "New", OrderStatus.WORKING), None) for n in range(count)
    )
    assert [len(t) for t in history.transactions] == [TRANSACTION_ROWS, 5]
    assert recorder.pending == 0


async def test_record_fills_with_two_fills_of_one_order_merges_the_leg_end_once() -> None:
    recorder, _, history, _, book = _setup()
    effects = book.apply(change(fill(77, 7, 1, "6000")))
    effects.merge(book.apply(change(fill(78, 7, 3, "6004"))))
    await recorder.record_fills(effects.fills, book)
    assert len(history.transactions) == 1
    [leg] = LEDGER.entries
    assert (leg.fields["filled_qty"], leg.fields["fill_price"]) == (4, "6003")  # the average


async def test_record_fills_of_a_partly_filled_order_say_partially_filled_until_complete() -> None:
    recorder, _, _, _, book = _setup()
    book.apply(change(version(70, 7, qty=3)))
    await recorder.record_fills(book.apply(change(fill(81, 7, 1, "6000"))).fills, book)
    await recorder.record_fills(book.apply(change(fill(82, 7, 2, "6003"))).fills, book)
    assert [(e.status, e.fields["filled_qty"], e.fields["fill_price"]) for e in LEDGER.entries] == [
        ("partially_filled", 1, "6000"),
        ("filled", 3, "6002"),
    ]


async def test_exit_fill_and_cancel_name_their_signal_and_leave_the_ledger_alone() -> None:
    recorder, redis, history, events, book = _setup()
    book.apply(change(order(8, OrderStatus.FILLED)))
    book.apply(change(command(80, 8, "cl-7.tp")))
    exit_index = {"signal_id": "sig-7", "strategy": "s", "account": "DEMO10001",
                  "leg": "entry.tp", "ledger": False}  # fmt: skip
    redis.values[keys.cl_ord_index("cl-7.tp")] = json.dumps(exit_index)
    effects = book.apply(change(fill(81, 8, 1, "6010")))
    await recorder.record_fills(effects.fills, book)
    [row] = history.rows["fills"]
    assert (row["signal_id"], row["leg"], row["strategy"]) == ("sig-7", "entry.tp", "s")
    assert LEDGER.entries == []  # no ledger row of the exit's, and the entry's untouched
    assert [(name, body["leg"]) for name, body in events] == [("order.filled", "entry.tp")]
    await recorder.record_executions([(report(82, 8, "Canceled", OrderStatus.CANCELED), "cl-7.tp")])
    assert history.rows["executions"][0]["signal_id"] == "sig-7"
    assert LEDGER.entries == []


async def test_signal_linker_links_a_breakeven_stop_through_its_entry_as_an_exit() -> None:
    redis = FakeRedis()
    linker = SignalLinker(redis)  # type: ignore[arg-type]
    entry = {"signal_id": "sig-9", "strategy": "s", "account": "A", "leg": "entry.2"}
    redis.values[keys.cl_ord_index("tbabc-entry.2")] = json.dumps(entry)
    stop, entry_link, stray = await linker.link_all(
        ["tbabc-entry.2-be", "tbabc-entry.2", "manual-be"]
    )
    assert stop is not None
    assert entry_link is not None
    assert (stop.signal_id, stop.leg, stop.ledger) == ("sig-9", "entry.2.be", False)
    assert (entry_link.leg, entry_link.ledger) == ("entry.2", True)
    assert stray is None  # "-be" on an order no signal placed links nothing
    # An index entry of its own wins over the entry's.
    redis.values[keys.cl_ord_index("tbdef-entry-be")] = json.dumps({"signal_id": "own"})
    redis.values[keys.cl_ord_index("tbdef-entry")] = json.dumps({"signal_id": "parent"})
    [own] = await linker.link_all(["tbdef-entry-be"])
    assert own is not None
    assert own.signal_id == "own"
