"""Keep the alert journal in Azure Table storage (Azurite locally).

Table ``{prefix}Alerts``: PartitionKey = strategy id, RowKey = signal id, so one strategy's
alerts sit together and each is a point read by id. A duplicate of an accepted alert is a
second row ``{signal id}.dup.{correlation id}`` beside it rather than an overwrite.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.tables_common import (
    TRANSACTION_ROWS,
    LazyTable,
    table_errors,
)
from shared.domain.errors import DependencyUnavailable
from shared.ports import AlertRecord

if TYPE_CHECKING:
    from azure.data.tables.aio import TableServiceClient

_FIELDS = (
    "status", "correlation_id", "raw_redacted", "reason_code", "reason", "alert_format",
    "signal_json", "extras_json", "client_ip", "messages",
)  # fmt: skip


def _row_key(record: AlertRecord) -> str:
    if record.status == "duplicate":
        return f"{record.signal_id}.dup.{record.correlation_id}"
    return record.signal_id


def to_entity(record: AlertRecord) -> dict[str, Any]:
    """Render a record as a table entity (None values are left out, as Tables stores no nulls)."""
    entity: dict[str, Any] = {
        "PartitionKey": record.strategy_id,
        "RowKey": _row_key(record),
        "signal_id": record.signal_id,
        "received_at": record.received_at,
    }
    if record.tv_time is not None:
        entity["tv_time"] = record.tv_time
    for name in _FIELDS:
        value = getattr(record, name)
        if value is not None:
            entity[name] = value
    return entity


def from_entity(entity: dict[str, Any]) -> AlertRecord:
    """Rebuild a record from a table entity."""
    optional: dict[str, Any] = {name: entity.get(name) for name in _FIELDS if name != "messages"}
    return AlertRecord(
        strategy_id=str(entity["PartitionKey"]),
        signal_id=str(entity["signal_id"]),
        received_at=_aware(entity["received_at"]),
        tv_time=_aware(entity["tv_time"]) if entity.get("tv_time") else None,
        messages=int(entity.get("messages", 0)),
        **optional,
    )


def next_batch(waiting: list[_Waiting]) -> tuple[list[_Waiting], list[_Waiting]]:
    """Split off the next transaction: rows of the first waiting row's strategy, in arrival
    order, each RowKey once (a transaction may not touch a row twice), within the limits."""
    partition = waiting[0][0]["PartitionKey"]
    batch: list[_Waiting] = []
    rest: list[_Waiting] = []
    keys: set[str] = set()
    size = 0
    for item in waiting:
        entity = item[0]
        fits = (
            entity["PartitionKey"] == partition
            and entity["RowKey"] not in keys
            and len(batch) < TRANSACTION_ROWS
        )
        cost = sum(len(str(value)) for value in entity.values()) if fits else 0
        if not fits or (batch and size + cost > _TRANSACTION_BYTES):
            rest.append(item)
            continue
        batch.append(item)
        keys.add(entity["RowKey"])
        size += cost
    return batch, rest


async def _settle(written: asyncio.Future[None], write: Awaitable[None]) -> None:
    try:
        await write
    except DependencyUnavailable as exc:
        _fail(written, exc)
    else:
        _succeed(written)


def _succeed(written: asyncio.Future[None]) -> None:
    if not written.done():  # its caller may have been cancelled meanwhile
        written.set_result(None)


def _fail(written: asyncio.Future[None], exc: DependencyUnavailable) -> None:
    if not written.done():
        written.set_exception(exc)


def _unavailable(exc: Exception) -> DependencyUnavailable:
    return DependencyUnavailable(f"{_WRITE}: {type(exc).__name__}")


def _aware(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("the journal stores timezone-aware times only")
    return moment


log = logging.getLogger(__name__)

_WRITE = "the journal could not be written"
_TRANSACTION_BYTES = 2_000_000  # well under its 4 MiB limit per transaction request

_Waiting = tuple[dict[str, Any], "asyncio.Future[None]"]


class TablesAlertJournal:
    """Implement the ``AlertJournal`` port on one table, created on first use.

    Writes are group-committed: an alert journaled while another write is under way waits for
    it, then goes with every other alert of its strategy that arrived meanwhile in one entity-
    group transaction (up to 100 rows). A lone alert is one upsert, as before; in a burst the
    journal costs a request per strategy and turn instead of one per alert. A transaction that
    fails is retried row by row, so one bad row never costs its neighbours their record.
    """

    def __init__(self, service_factory: Callable[[], TableServiceClient], table_name: str) -> None:
        self._table = LazyTable(service_factory, table_name)
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None

    async def record_alert(self, record: AlertRecord) -> None:
        """Upsert the alert's row; return once written (else raise ``DependencyUnavailable``)."""
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        self._waiting.append((to_entity(record), written))
        writer = self._writer
        if writer is None or writer.done() or writer.get_loop() is not loop:
            self._writer = loop.create_task(self._write_waiting())
        await written

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = next_batch(self._waiting)
            try:
                if len(batch) == 1:
                    await _settle(batch[0][1], self._upsert(batch[0][0]))
                else:
                    await self._commit(batch)
            except Exception as exc:  # a caller must never wait for ever on a lost write
                log.exception("journal write of %d alert(s) failed unexpectedly", len(batch))
                for _, written in batch:
                    _fail(written, _unavailable(exc))

    async def _commit(self, batch: list[_Waiting]) -> None:
        from azure.core.exceptions import AzureError
        from azure.data.tables import TableTransactionError

        try:
            table = await self._table.client()
            await table.submit_transaction([("upsert", entity) for entity, _ in batch])
        except TableTransactionError:
            # The service refused one of the rows, so none was written: row by row, the
            # others keep their record and only the refused one's caller hears of it.
            for entity, written in batch:
                await _settle(written, self._upsert(entity))
            return
        except (AzureError, OSError) as exc:
            failure = _unavailable(exc)
            for _, written in batch:
                _fail(written, failure)
            return
        for _, written in batch:
            _succeed(written)

    async def _upsert(self, entity: dict[str, Any]) -> None:
        with table_errors(_WRITE):
            table = await self._table.client()
            await table.upsert_entity(entity)

    async def get_alert(self, strategy_id: str, signal_id: str) -> AlertRecord | None:
        """Point-read one alert by strategy and id."""
        from azure.core.exceptions import ResourceNotFoundError

        with table_errors("the journal could not be read"):
            table = await self._table.client()
            try:
                entity = await table.get_entity(partition_key=strategy_id, row_key=signal_id)
            except ResourceNotFoundError:
                return None
        return from_entity(dict(entity))

    async def duplicates_of(self, strategy_id: str, signal_id: str) -> list[AlertRecord]:
        """Return the duplicate deliveries recorded for one alert."""
        table = await self._table.client()
        low, high = f"{signal_id}.dup.", f"{signal_id}.dup/"
        query = "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high"
        entities = table.query_entities(
            query, parameters={"pk": strategy_id, "low": low, "high": high}
        )
        return [from_entity(dict(e)) async for e in entities]

    async def close(self) -> None:
        """Close the table clients."""
        await self._table.close()
