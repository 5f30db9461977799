"""The worker's history tables against real Azurite: transactions, merges, signal lookups."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from local.services import AzuriteTables, free_port
from shared.adapters.tables_common import TRANSACTION_ROWS, build_table_service
from shared.domain.errors import DependencyUnavailable
from worker.history import TablesHistory

pytestmark = pytest.mark.integration


@pytest.fixture
async def history(azurite: AzuriteTables) -> AsyncIterator[TablesHistory]:
    tables = TablesHistory(
        lambda: build_table_service(
            service_uri=None, connection_string=azurite.connection_string, client_id=None
        ),
        f"hist{free_port()}",  # fresh tables per test
    )
    yield tables
    await tables.close()


def _row(n: int, **fields: object) -> dict[str, object]:
    return {"PartitionKey": "2026-12-04", "RowKey": f"{n:06d}", "qty": n, **fields}


async def test_upsert_partition_with_more_rows_than_one_transaction_writes_them_all(
    history: TablesHistory,
) -> None:
    rows = [_row(n) for n in range(TRANSACTION_ROWS + 30)]
    await history.upsert_partition("fills", rows)
    stored = await history.read("fills", "2026-12-04")
    assert [r["qty"] for r in stored] == list(range(TRANSACTION_ROWS + 30))


async def test_upsert_partition_written_again_merges_and_keeps_other_properties(
    history: TablesHistory,
) -> None:
    await history.upsert_partition("executions", [_row(1, note="first"), _row(2)])
    await history.upsert_partition("executions", [_row(1, qty=5)])  # a resync writes it again
    stored = {r["RowKey"]: r for r in await history.read("executions", "2026-12-04")}
    assert (stored["000001"]["qty"], stored["000001"]["note"]) == (5, "first")
    assert stored["000002"]["qty"] == 2


async def test_signal_rows_finds_a_signals_rows_across_days(history: TablesHistory) -> None:
    await history.upsert_partition("fills", [_row(1, signal_id="sig-9"), _row(2, signal_id="s2")])
    later = {"PartitionKey": "2026-12-05", "RowKey": "000003", "qty": 3, "signal_id": "sig-9"}
    await history.upsert_partition("fills", [later, {**later, "RowKey": "000004", "qty": 4}])
    rows = await history.signal_rows("fills", "sig-9")
    assert sorted((r["PartitionKey"], r["qty"]) for r in rows) == [
        ("2026-12-04", 1), ("2026-12-05", 3), ("2026-12-05", 4)
    ]  # fmt: skip
    # The filter's value is a parameter, never spliced into the query text.
    assert await history.signal_rows("fills", "sig-9' or signal_id ne '") == []


async def test_upsert_partition_refuses_rows_of_two_partitions(history: TablesHistory) -> None:
    with pytest.raises(ValueError, match="one partition"):
        await history.upsert_partition(
            "fills", [_row(1), {**_row(2), "PartitionKey": "2026-12-05"}]
        )


async def test_upsert_partition_with_tables_unreachable_says_which_table(
    azurite: AzuriteTables,
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/devstoreaccount1"  # nothing listens here
    connection = azurite.connection_string.replace(azurite.endpoint, nowhere)
    tables = TablesHistory(
        lambda: build_table_service(service_uri=None, connection_string=connection, client_id=None),
        "histdown",
    )
    try:
        with pytest.raises(DependencyUnavailable, match="fills table") as caught:
            await tables.upsert_partition("fills", [_row(1)])
        assert caught.value.code == "tables_unavailable"
    finally:
        await tables.close()
