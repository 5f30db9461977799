"""No journal row is lost: failed writes are retried, parked in Redis with their reason, and
written once Table storage is back — exactly once, however often the drain runs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from azure.data.tables.aio import TableServiceClient

from functions.timers import _drain_parked_journal_rows as drain_parked_journal_rows
from local.services import AZURITE_ACCOUNT, AZURITE_KEY, AzuriteTables, free_port
from shared.adapters.tables_journal import DrainRun, JournalRetry, TablesAlertJournal
from shared.adapters.tables_pending import RedisPendingRows
from shared.adapters.tradovate.backoff import Backoff
from shared.ports import AlertRecord

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
FAST_RETRY = JournalRetry(attempts=3, backoff=Backoff(base_s=0.01, cap_s=0.05))


def record(signal_id: str, raw: str = '{"intent":"buy","secret":"***"}') -> AlertRecord:
    return AlertRecord("nq", signal_id, "accepted", AT, f"corr-{signal_id}", raw)


def service_at(connection_string: str) -> Callable[[], TableServiceClient]:
    # No SDK-level retries: the journal's own bounded retries are what is under test.
    return lambda: TableServiceClient.from_connection_string(connection_string, retry_total=0)


def connection_to(port: int) -> str:
    """Return a connection string for Azurite's development account on ``port``."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"TableEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


@pytest.fixture
async def pending(redis_url: str) -> AsyncIterator[RedisPendingRows]:
    client = aioredis.Redis.from_url(redis_url)
    yield RedisPendingRows(client)
    await client.aclose()


async def rows_of(connection_string: str, table: str, signal_id: str) -> list[dict[str, object]]:
    async with TableServiceClient.from_connection_string(connection_string) as service:
        client = service.get_table_client(table)
        query = "PartitionKey eq @pk and RowKey eq @rk"
        entities = client.query_entities(query, parameters={"pk": "nq", "rk": signal_id})
        return [dict(e) async for e in entities]


async def wait_for(predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():  # type: ignore[misc]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_journal_with_tables_down_retries_parks_with_reason_then_drains_exactly_once(
    pending: RedisPendingRows, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    connection = connection_to(port)
    journal = TablesAlertJournal(
        service_at(connection), "alertsdurable", pending=pending, retry=FAST_RETRY
    )
    try:
        with caplog.at_level(logging.INFO, logger="shared.adapters.tables_journal"):
            await journal.record_alert(record("lost-1"))  # returns: the row is parked
        retries = [r for r in caplog.records if "try " in r.getMessage()]
        assert len(retries) == FAST_RETRY.attempts - 1, caplog.text
        assert "parked for a later write" in caplog.text
        assert "ServiceRequestError" in caplog.text
        [parked] = await pending.peek(10)
        reason = json.loads(parked)["reason"]
        assert reason["kind"] == "ServiceRequestError"
        assert reason["status"] is None
        assert reason["message"]

        with AzuriteTables("127.0.0.1", port) as azurite:  # Table storage is back
            # The next write reaches Tables, and drains the parked row behind it.
            await journal.record_alert(record("next-1"))

            async def drained() -> bool:
                return await pending.peek(10) == []

            await wait_for(drained)
            stored = await journal.get_alert("nq", "lost-1")
            assert stored == record("lost-1")
            # Draining again (the timer, another instance) writes nothing twice.
            await pending.park(parked)
            run = await journal.drain_pending()
            assert (run.written, run.buried, run.waiting) == (1, 0, 0)
            assert len(await rows_of(azurite.connection_string, "alertsdurable", "lost-1")) == 1
            assert await journal.drain_pending() == DrainRun()
    finally:
        await journal.close()


async def test_journal_with_table_gone_logs_status_and_error_code_and_drains_once_back(
    pending: RedisPendingRows, caplog: pytest.LogCaptureFixture
) -> None:
    with AzuriteTables("127.0.0.1", None) as azurite:
        table = f"alertsgone{free_port()}"
        journal = TablesAlertJournal(
            service_at(azurite.connection_string), table, pending=pending, retry=FAST_RETRY
        )
        try:
            await journal.record_alert(record("first"))  # creates the table
            async with TableServiceClient.from_connection_string(
                azurite.connection_string
            ) as service:
                await service.delete_table(table)
                with caplog.at_level(logging.INFO):
                    await journal.record_alert(record("while-gone"))
                # A 404 is not retried (another try cannot cure it); parked at once, with why.
                assert "status=404 error_code=TableNotFound" in caplog.text
                assert not [r for r in caplog.records if "try " in r.getMessage()]
                [parked] = await pending.peek(10)
                reason = json.loads(parked)["reason"]
                assert (reason["status"], reason["error_code"]) == (404, "TableNotFound")

                # Still away: the drain stops at the first row and keeps it.
                run = await journal.drain_pending()
                assert (run.written, run.waiting) == (0, 1)

                await service.create_table(table)  # Table storage is back
            with caplog.at_level(logging.INFO):
                await drain_parked_journal_rows(journal)  # what the ledger_mirror timer runs
            assert "1 parked row(s) written" in caplog.text
            assert await pending.peek(10) == []
            assert len(await rows_of(azurite.connection_string, table, "while-gone")) == 1
        finally:
            await journal.close()


async def test_journal_with_row_refused_for_good_dead_letters_it_with_reason(
    pending: RedisPendingRows, azurite: AzuriteTables, redis_url: str
) -> None:
    table = f"alertsrefused{free_port()}"
    journal = TablesAlertJournal(
        service_at(azurite.connection_string), table, pending=pending, retry=FAST_RETRY
    )
    try:
        await journal.record_alert(record("too-big", raw="x" * 70_000))  # parked: 400
        await journal.record_alert(record("fine"))  # reaches Tables: drains behind it

        async def drained() -> bool:
            return await pending.peek(10) == []

        await wait_for(drained)
        assert await journal.drain_pending() == DrainRun()
        client = aioredis.Redis.from_url(redis_url)
        [dead] = await client.lrange(pending.dead_key, 0, -1)
        await client.aclose()
        reason = json.loads(dead)["reason"]
        assert (reason["status"], reason["error_code"]) == (400, "PropertyValueTooLarge")
        assert await journal.get_alert("nq", "fine") is not None
    finally:
        await journal.close()
