"""The alert journal against real Azurite: group commit, and one bad row costs only itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from local.services import AzuriteTables, free_port
from shared.adapters import tables_journal
from shared.adapters.tables_journal import TablesAlertJournal, next_batch, to_entity
from shared.domain.errors import DependencyUnavailable
from shared.ports import AlertRecord

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def _record(signal_id: str, strategy: str = "nq", raw: str = '{"intent":"buy"}') -> AlertRecord:
    return AlertRecord(strategy, signal_id, "accepted", AT, f"corr-{signal_id}", raw)


@dataclass
class Spied:
    journal: TablesAlertJournal
    requests: list[str] = field(default_factory=list)  # the journal's requests, in order
    sent: asyncio.Event = field(default_factory=asyncio.Event)  # set by the first one


@pytest.fixture
async def journal(azurite: AzuriteTables, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Spied]:
    from shared.adapters.tables_common import build_table_service

    journal = TablesAlertJournal(
        lambda: build_table_service(
            service_uri=None, connection_string=azurite.connection_string, client_id=None
        ),
        f"alerts{free_port()}",  # a fresh table per test
    )
    # Count the requests the journal makes: its table client's single upserts (wrapped once
    # the client exists) and its transactions, each one ``$batch`` request when it succeeds.
    table = await journal._table.client()
    spied = Spied(journal)
    upsert, submit = table.upsert_entity, tables_journal.upsert_transaction

    async def counted_upsert(*args: Any, **kwargs: Any) -> Any:
        spied.requests.append("upsert")
        spied.sent.set()
        return await upsert(*args, **kwargs)

    async def counted_submit(client: Any, entities: Any, **kwargs: Any) -> Any:
        spied.requests.append(f"transaction of {len(entities)}")
        spied.sent.set()
        return await submit(client, entities, **kwargs)

    table.upsert_entity = counted_upsert  # type: ignore[method-assign]
    monkeypatch.setattr(tables_journal, "upsert_transaction", counted_submit)
    yield spied
    await journal.close()


async def test_record_alert_alone_is_one_upsert(
    journal: Spied,
) -> None:
    tables, requests = journal.journal, journal.requests
    await tables.record_alert(_record("a1"))
    assert requests == ["upsert"]
    stored = await tables.get_alert("nq", "a1")
    assert stored is not None
    assert stored.raw_redacted == '{"intent":"buy"}'


async def test_record_alert_in_a_burst_shares_transactions_per_strategy(
    journal: Spied,
) -> None:
    tables, requests = journal.journal, journal.requests
    records = [_record(f"b{n}", "nq" if n % 3 else "cl") for n in range(150)]
    await asyncio.gather(*(tables.record_alert(r) for r in records))
    for record in records:
        assert await tables.get_alert(record.strategy_id, record.signal_id) == record
    # All 150 queued before the first write started: 50 of cl, then 100 and 0 of nq.
    assert requests == ["transaction of 50", "transaction of 100"]


async def test_record_alert_while_a_write_is_under_way_joins_the_next_transaction(
    journal: Spied,
) -> None:
    tables, requests = journal.journal, journal.requests
    first = asyncio.create_task(tables.record_alert(_record("e0")))
    await journal.sent.wait()  # the first alert's upsert has gone out
    await asyncio.gather(first, *(tables.record_alert(_record(f"e{n}")) for n in range(1, 6)))
    assert requests == ["upsert", "transaction of 5"]
    assert await tables.get_alert("nq", "e5") is not None


async def test_record_alert_during_a_backlog_spaces_the_writes_and_a_lone_one_goes_at_once(
    azurite: AzuriteTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.adapters.tables_common import build_table_service

    spacing_s = 0.3  # wide, so the arrivals below land inside it on a busy machine too
    journal = TablesAlertJournal(
        lambda: build_table_service(
            service_uri=None, connection_string=azurite.connection_string, client_id=None
        ),
        f"alerts{free_port()}",
        spacing_s=spacing_s,
    )
    writes: list[tuple[float, int]] = []  # (start, rows)
    table = await journal._table.client()
    upsert, submit = table.upsert_entity, tables_journal.upsert_transaction
    hold = asyncio.Event()  # keeps the first write under way while the backlog builds

    async def counted_upsert(*args: Any, **kwargs: Any) -> Any:
        writes.append((time.monotonic(), 1))
        if len(writes) == 1:
            await hold.wait()
        return await upsert(*args, **kwargs)

    async def counted_submit(client: Any, entities: Any, **kwargs: Any) -> Any:
        writes.append((time.monotonic(), len(entities)))
        return await submit(client, entities, **kwargs)

    table.upsert_entity = counted_upsert  # type: ignore[method-assign]
    monkeypatch.setattr(tables_journal, "upsert_transaction", counted_submit)
    try:
        first = asyncio.create_task(journal.record_alert(_record("s0")))
        await asyncio.sleep(0)
        backlog = [asyncio.create_task(journal.record_alert(_record(f"s{n}"))) for n in (1, 2)]
        await asyncio.sleep(0.005)
        hold.set()  # the first write ends with two rows waiting; three more arrive meanwhile
        for n in (3, 4, 5):
            await asyncio.sleep(0.01)
            backlog.append(asyncio.create_task(journal.record_alert(_record(f"s{n}"))))
        await asyncio.gather(first, *backlog)
        assert [rows for _, rows in writes] == [1, 5]
        assert writes[1][0] - writes[0][0] >= spacing_s * 0.9

        began = time.monotonic()  # nothing under way: the next alert goes at once
        await journal.record_alert(_record("lone"))
        assert time.monotonic() - began < spacing_s
        assert writes[-1][1] == 1
    finally:
        await journal.close()


async def test_record_alert_with_one_row_refused_writes_the_others(
    journal: Spied,
) -> None:
    tables, requests = journal.journal, journal.requests
    too_big = "x" * 70_000  # over Table storage's 64 KiB per property
    records = [_record("c0"), _record("c1"), _record("c2", raw=too_big), _record("c3")]
    results = await asyncio.gather(
        *(tables.record_alert(r) for r in records), return_exceptions=True
    )
    assert [type(r).__name__ for r in results] == [
        "NoneType", "NoneType", "DependencyUnavailable", "NoneType"
    ]  # fmt: skip
    assert await tables.get_alert("nq", "c3") is not None
    assert await tables.get_alert("nq", "c2") is None
    # Together first; refused for one row, so row by row: the others keep their record.
    assert requests == ["transaction of 4", "upsert", "upsert", "upsert", "upsert"]


async def test_record_alert_with_tables_unreachable_fails_every_waiting_caller(
    azurite: AzuriteTables,
) -> None:
    from shared.adapters.tables_common import build_table_service

    nowhere = f"http://127.0.0.1:{free_port()}/devstoreaccount1"
    connection = azurite.connection_string.replace(azurite.endpoint, nowhere)
    tables = TablesAlertJournal(
        lambda: build_table_service(service_uri=None, connection_string=connection, client_id=None),
        "alertsdown",
    )
    try:
        results = await asyncio.gather(
            *(tables.record_alert(_record(f"d{n}")) for n in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, DependencyUnavailable) for r in results), results
    finally:
        await tables.close()


def _waiting(strategy: str, row: str, raw: str = "x") -> tuple[dict[str, Any], Any]:
    return to_entity(_record(row, strategy, raw)), None


def test_next_batch_takes_the_first_strategy_once_per_row_within_the_limits() -> None:
    waiting = [
        _waiting("nq", "1"), _waiting("cl", "2"), _waiting("nq", "3"), _waiting("nq", "1"),
    ]  # fmt: skip
    batch, rest = next_batch(waiting)
    assert [e["RowKey"] for e, _ in batch] == ["1", "3"]
    assert [(e["PartitionKey"], e["RowKey"]) for e, _ in rest] == [("cl", "2"), ("nq", "1")]
    many = [_waiting("nq", str(n)) for n in range(130)]
    batch, rest = next_batch(many)
    assert (len(batch), len(rest)) == (100, 30)
    large = [_waiting("nq", str(n), raw="y" * 60_000) for n in range(60)]
    batch, rest = next_batch(large)
    assert 0 < len(batch) < 60  # held under the size limit
    assert len(batch) + len(rest) == 60
