"""Table rows for fills, executions and the ledger's end, and the clOrdId index link."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from shared.domain.broker import OrderStatus
from shared.ports import LedgerEntry
from tests.unit.worker.builders import AT, fill, report
from worker.history import (
    UNDATED,
    SignalLink,
    cancelled_ledger_entry,
    execution_entity,
    fill_entity,
    filled_ledger_entry,
    history_partition,
)

LINK = SignalLink("sig-1", "nq-trend", "DEMO10001", "entry")


def test_signal_link_from_index_reads_the_executors_json() -> None:
    index = {
        "signal_id": "sig-1",
        "strategy": "nq-trend",
        "account": "DEMO10001",
        "account_id": 10001,
        "leg": "entry",
    }
    assert SignalLink.from_index(index) == LINK
    assert SignalLink.from_index({"signal_id": "s", "strategy": 3}) == SignalLink("s")
    for bad in ([], {}, {"signal_id": ""}, {"signal_id": 4}):
        assert SignalLink.from_index(bad) is None
    exit_index = {**index, "leg": "entry.sl", "ledger": False}
    exit_link = SignalLink.from_index(exit_index)
    assert exit_link is not None
    assert (exit_link.leg, exit_link.ledger) == ("entry.sl", False)
    # Only an explicit false marks an exit: an index written before the field merges.
    for value in (None, 0, "false", True):
        link = SignalLink.from_index({**index, "ledger": value})
        assert link is not None
        assert link.ledger


def test_fill_entity_is_keyed_by_the_fill_days_date_and_padded_fill_id() -> None:
    entity = fill_entity(fill(70, 7, 2, "6000.25"), 10001, "cl-7", LINK, "ESH6", AT)
    assert (entity["PartitionKey"], entity["RowKey"]) == ("2026-03-02", "000000000070")
    assert (entity["signal_id"], entity["leg"]) == ("sig-1", "entry")
    assert (entity["price"], entity["qty"]) == ("6000.25", 2)
    unlinked = fill_entity(fill(71, 7, 1, "1"), 10001, None, None, None, AT)
    assert unlinked["PartitionKey"] == "2026-03-02"
    assert "signal_id" not in unlinked  # Table storage stores no nulls
    assert "cl_ord_id" not in unlinked


def test_fill_entity_written_again_later_keeps_its_keys() -> None:
    # The partition comes from the broker's time, so a resync on another day writes the
    # same row rather than a second one.
    first = fill_entity(fill(70, 7, 2, "6000.25"), 10001, "cl-7", LINK, "ESH6", AT)
    again = fill_entity(
        fill(70, 7, 2, "6000.25"), 10001, "cl-7", LINK, "ESH6", AT + timedelta(days=3)
    )
    assert (first["PartitionKey"], first["RowKey"]) == (again["PartitionKey"], again["RowKey"])
    assert first["recorded_at"] != again["recorded_at"]
    undated = fill_entity(replace(fill(72, 7, 1, "1"), timestamp=None), 10001, None, None, None, AT)
    assert undated["PartitionKey"] == UNDATED


def test_history_partition_is_the_utc_date() -> None:
    chicago_evening = datetime(2026, 3, 2, 19, 30, tzinfo=timezone(timedelta(hours=-6)))
    assert history_partition(chicago_evening) == "2026-03-03"  # 01:30 UTC the next day
    assert history_partition(None) == UNDATED


def test_execution_entity_rows_sort_by_order_then_report() -> None:
    entity = execution_entity(report(12, 7, "Canceled", OrderStatus.CANCELED), "cl-7", LINK, AT)
    assert entity["RowKey"] == "000000000007-000000000012"
    assert (entity["PartitionKey"], entity["signal_id"]) == ("2026-03-02", "sig-1")
    assert entity["status"] == "canceled"
    unlinked = execution_entity(report(1, 2, "New", OrderStatus.WORKING), None, None, AT)
    assert "signal_id" not in unlinked


def test_ledger_entries_merge_only_the_ending() -> None:
    filled = filled_ledger_entry(LINK, "cl-7", 3, Decimal("6000.5"), AT)
    assert filled == LedgerEntry(
        "sig-1", "cl-7", "filled", {"filled_at": AT, "fill_price": "6000.5", "filled_qty": 3}
    )
    cancelled = cancelled_ledger_entry(LINK, "cl-7", AT)
    assert (cancelled.status, cancelled.fields) == ("cancelled", {"cancelled_at": AT})
