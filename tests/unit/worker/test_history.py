"""Table rows for fills, executions and the ledger's end, and the clOrdId index link."""

from __future__ import annotations

from decimal import Decimal

from shared.domain.broker import OrderStatus
from shared.ports import LedgerEntry
from tests.unit.worker.builders import AT, fill, report
from worker.history import (
    UNLINKED,
    SignalLink,
    cancelled_ledger_entry,
    execution_entity,
    fill_entity,
    filled_ledger_entry,
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


def test_fill_entity_with_link_is_keyed_by_signal_and_fill_id() -> None:
    entity = fill_entity(fill(70, 7, 2, "6000.25"), 10001, "cl-7", LINK, "ESH6", AT)
    assert (entity["PartitionKey"], entity["RowKey"]) == ("sig-1", "70")
    assert (entity["price"], entity["qty"], entity["leg"]) == ("6000.25", 2, "entry")
    unlinked = fill_entity(fill(71, 7, 1, "1"), 10001, None, None, None, AT)
    assert unlinked["PartitionKey"] == UNLINKED
    assert "cl_ord_id" not in unlinked  # Table storage stores no nulls


def test_execution_entity_rows_sort_by_order_then_report() -> None:
    entity = execution_entity(report(12, 7, "Canceled", OrderStatus.CANCELED), "cl-7", LINK, AT)
    assert entity["RowKey"] == "000000000007-000000000012"
    assert entity["status"] == "canceled"
    assert (
        execution_entity(report(1, 2, "New", OrderStatus.WORKING), None, None, AT)["PartitionKey"]
        == UNLINKED
    )


def test_ledger_entries_merge_only_the_ending() -> None:
    filled = filled_ledger_entry(LINK, "cl-7", 3, Decimal("6000.5"), AT)
    assert filled == LedgerEntry(
        "sig-1", "cl-7", "filled", {"filled_at": AT, "fill_price": "6000.5", "filled_qty": 3}
    )
    cancelled = cancelled_ledger_entry(LINK, "cl-7", AT)
    assert (cancelled.status, cancelled.fields) == ("cancelled", {"cancelled_at": AT})
