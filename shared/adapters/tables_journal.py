"""Keep the alert journal in Azure Table storage (Azurite locally).

Table ``{prefix}Alerts``: PartitionKey = strategy id, RowKey = signal id, so one strategy's
alerts sit together and each is a point read by id. A duplicate of an accepted alert is a
second row ``{signal id}.dup.{correlation id}`` beside it rather than an overwrite.

No row is lost silently. These are background writes (the webhook answered long before), so a
failed write is retried: ``JournalRetry.attempts`` tries with capped exponential back-off and
jitter, for the failures another try can cure (no connection, timeouts, 408/429/5xx). A row that
still fails is parked with its reason (HTTP status, the service's error code, message) in a
durable list, ``PendingRows`` (``RedisPendingRows``: Redis ``journal:pending``, which the
webhook needs anyway), and logged. A later drain writes it: in the background after the next
journal write that reaches Table storage, and from the ``ledger_mirror`` timer
(``drain_pending``). Row keys are deterministic and every write is an upsert, so a row drained
twice, or by two instances at once, is still one row. A row the service refuses for what it
holds (400/413: too large, invalid) is moved to ``journal:pending:dead`` with its reason
rather than retried for ever.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.adapters.tables_batch import upsert_transaction
from shared.adapters.tables_common import (
    TRANSACTION_ROWS,
    LazyTable,
    table_errors,
)
from shared.adapters.tables_pending import (
    PendingRows,
    TableFailure,
    aware,
    park_item,
    table_failure,
    unpark_item,
)
from shared.adapters.tradovate.backoff import Backoff
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
        received_at=aware(entity["received_at"]),
        tv_time=aware(entity["tv_time"]) if entity.get("tv_time") else None,
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


def _succeed(written: asyncio.Future[None]) -> None:
    if not written.done():  # its caller may have been cancelled meanwhile
        written.set_result(None)


def _fail(written: asyncio.Future[None], exc: DependencyUnavailable) -> None:
    if not written.done():
        written.set_exception(exc)


log = logging.getLogger(__name__)

_WRITE = "the journal could not be written"
_TRANSACTION_BYTES = 2_000_000  # well under its 4 MiB limit per transaction request
# While a backlog lasts, the least time from one write's start to the next one's. A write is
# cheap now (about half a millisecond of CPU, most of it fixed per request), so without it a
# burst went out as many transactions of one or two rows: measured through the dev host with
# 16 clients, 755-785 alerts/s with Azurite at 0.30-0.33 ms of CPU per alert, against 800-849
# and 0.18 ms with 15 ms. Only alerts that arrive while another write is under way wait.
BACKLOG_SPACING_S = 0.015

_Waiting = tuple[dict[str, Any], "asyncio.Future[None]"]


def _row(entity: dict[str, Any]) -> str:
    return f"{entity['PartitionKey']}/{entity['RowKey']}"


def _unavailable(failure: TableFailure) -> DependencyUnavailable:
    return DependencyUnavailable(f"{_WRITE}: {failure}")


@dataclass(frozen=True)
class JournalRetry:
    """Bound a write's retries: ``attempts`` tries in all, ``backoff`` between them."""

    attempts: int = 3
    backoff: Backoff = field(default_factory=lambda: Backoff(base_s=0.2, cap_s=2.0))
    drain_batch: int = 200  # rows per drain, so one drain never runs for long
    drain_check_s: float = 60.0  # how often a writer looks for rows parked by another process

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")


@dataclass(frozen=True, slots=True)
class DrainRun:
    """What one drain did: rows written, rows dead-lettered, rows still waiting."""

    written: int = 0
    buried: int = 0
    waiting: int = 0


class TablesAlertJournal:
    """Implement the ``AlertJournal`` port on one table, created on first use.

    Writes are group-committed: an alert journaled while another write is under way waits for
    it, then goes with every other alert of its strategy that arrived meanwhile in one entity-
    group transaction (up to 100 rows). While such a backlog lasts, a write starts at least
    ``spacing_s`` after the one before (unless 100 rows wait), so a transaction gathers more
    than the few alerts of one request's time. An alert that finds no write under way is
    written at once (a lone one as one upsert); in a burst the journal costs a request per
    strategy and turn instead of one per alert. A transaction that the service refuses for
    one row is retried row by row, so one bad row never costs its neighbours their record. A
    write that fails is retried, then parked in ``pending`` (see the module docstring);
    without ``pending`` its caller hears ``DependencyUnavailable``.
    """

    def __init__(
        self,
        service_factory: Callable[[], TableServiceClient],
        table_name: str,
        *,
        pending: PendingRows | None = None,
        retry: JournalRetry | None = None,
        spacing_s: float = BACKLOG_SPACING_S,
    ) -> None:
        self._table = LazyTable(service_factory, table_name)
        self._spacing_s = spacing_s
        self._pending = pending
        self._retry = retry or JournalRetry()
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None
        self._drainer: asyncio.Task[DrainRun] | None = None
        self._parked_here = False
        self._last_drain_check = float("-inf")

    async def record_alert(self, record: AlertRecord) -> None:
        """Upsert the alert's row; return once written or parked (else raise
        ``DependencyUnavailable``)."""
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        self._waiting.append((to_entity(record), written))
        writer = self._writer
        if writer is None or writer.done() or writer.get_loop() is not loop:
            self._writer = loop.create_task(self._write_waiting())
        await written

    async def _write_waiting(self) -> None:
        reached = False
        started: float | None = None  # when this run's last write started (monotonic)
        while self._waiting:
            if started is not None and len(self._waiting) < TRANSACTION_ROWS:
                # Alerts came in while the last write was under way: a backlog. Let the next
                # transaction fill for a moment rather than send it with one or two rows.
                await asyncio.sleep(max(0.0, started + self._spacing_s - time.monotonic()))
            started = time.monotonic()
            batch, self._waiting = next_batch(self._waiting)
            try:
                if len(batch) == 1:
                    reached |= await self._write_row(*batch[0])
                else:
                    reached |= await self._commit(batch)
            except Exception as exc:  # a caller must never wait for ever on a lost write
                log.exception("journal write of %d alert(s) failed unexpectedly", len(batch))
                for _, written in batch:
                    _fail(written, _unavailable(table_failure(exc)))
        if reached:
            self._start_drain()

    async def _write_row(self, entity: dict[str, Any], written: asyncio.Future[None]) -> bool:
        """Write one row (retried); park it if that fails. Tell whether Tables took it."""
        from azure.core.exceptions import AzureError

        try:
            await self._retrying(functools.partial(self._upsert, entity))
        except (AzureError, OSError) as exc:
            await self._park([(entity, written)], table_failure(exc))
            return False
        _succeed(written)
        return True

    async def _commit(self, batch: list[_Waiting]) -> bool:
        from azure.core.exceptions import AzureError
        from azure.data.tables import TableTransactionError

        try:
            await self._retrying(functools.partial(self._submit, batch))
        except TableTransactionError:
            # The service refused one of the rows, so none was written: row by row, the
            # others keep their record and only the refused one is parked.
            reached = False
            for entity, written in batch:
                reached |= await self._write_row(entity, written)
            return reached
        except (AzureError, OSError) as exc:
            await self._park(batch, table_failure(exc))
            return False
        for _, written in batch:
            _succeed(written)
        return True

    async def _retrying(self, operation: Callable[[], Awaitable[None]]) -> None:
        from azure.core.exceptions import AzureError
        from azure.data.tables import TableTransactionError

        attempts = self._retry.attempts
        for attempt in range(attempts):
            try:
                await operation()
                return
            except TableTransactionError:
                raise  # a row was refused: row by row, never the same transaction again
            except (AzureError, OSError) as exc:
                failure = table_failure(exc)
                if not failure.retryable or attempt + 1 >= attempts:
                    raise
                delay_s = self._retry.backoff.delay(attempt)
                log.warning(
                    "journal write failed (%s); try %d of %d in %.2f s",
                    failure, attempt + 2, attempts, delay_s,
                )  # fmt: skip
                await asyncio.sleep(delay_s)

    async def _park(self, batch: list[_Waiting], failure: TableFailure) -> None:
        if self._pending is None:
            rows = ", ".join(_row(entity) for entity, _ in batch[:5])
            log.error("journal row(s) %s not written and not parked: %s", rows, failure)
            for _, written in batch:
                _fail(written, _unavailable(failure))
            return
        parked: list[str] = []
        for entity, written in batch:
            try:
                await self._pending.park(park_item(entity, failure))
            except DependencyUnavailable as exc:
                log.error("journal row %s LOST: %s; parking failed: %s", _row(entity), failure, exc)
                _fail(written, _unavailable(failure))
                continue
            parked.append(_row(entity))
            self._parked_here = True
            _succeed(written)
        if parked:
            shown = ", ".join(parked[:5]) + (
                f" and {len(parked) - 5} more" if len(parked) > 5 else ""
            )
            log.warning("journal row(s) %s parked for a later write: %s", shown, failure)

    async def _submit(self, batch: list[_Waiting]) -> None:
        table = await self._table.client()
        await upsert_transaction(table, [entity for entity, _ in batch])

    async def _upsert(self, entity: dict[str, Any]) -> None:
        table = await self._table.client()
        await table.upsert_entity(entity)

    # --- the pending rows ----------------------------------------------------------------

    def _start_drain(self) -> None:
        """After a write reached Tables, drain parked rows in the background (one at a time)."""
        if self._pending is None or (self._drainer is not None and not self._drainer.done()):
            return
        now = time.monotonic()
        if not self._parked_here and now - self._last_drain_check < self._retry.drain_check_s:
            return
        self._last_drain_check = now
        self._parked_here = False
        self._drainer = asyncio.get_running_loop().create_task(self._drain_quietly())

    async def _drain_quietly(self) -> DrainRun:
        try:
            return await self.drain_pending()
        except DependencyUnavailable as exc:
            log.warning("parked journal rows not drained: %s", exc.message)
        except Exception:  # the boundary of a background task: nobody else would hear of it
            log.exception("draining parked journal rows failed unexpectedly")
        self._parked_here = True  # try again after the next write (the timer drains too)
        return DrainRun()

    async def drain_pending(self) -> DrainRun:
        """Write parked rows to Table storage, oldest first, up to one batch; stop at the first
        failure another try could cure (Tables is still away), dead-letter refused rows."""
        from azure.core.exceptions import AzureError

        if self._pending is None:
            return DrainRun()
        items = await self._pending.peek(self._retry.drain_batch)
        written = buried = 0
        for index, item in enumerate(items):
            try:
                entity = unpark_item(item)
                await self._retrying(functools.partial(self._upsert, entity))
            except (ValueError, KeyError, TypeError):
                log.error("parked journal row is unreadable; dead-lettered: %.200s", item)
                await self._pending.bury(item)
                buried += 1
                continue
            except (AzureError, OSError) as exc:
                failure = table_failure(exc)
                if failure.row_refused:
                    log.error("parked journal row refused for good; dead-lettered: %s", failure)
                    await self._pending.bury(item)
                    buried += 1
                    continue
                log.warning("parked journal rows still wait for Table storage: %s", failure)
                self._parked_here = True
                return DrainRun(written, buried, len(items) - index)
            await self._pending.remove(item)
            written += 1
        if written or buried:
            log.info("parked journal rows: %d written, %d dead-lettered", written, buried)
        return DrainRun(written, buried, 0)

    # --- reads ---------------------------------------------------------------------------

    async def get_alert(self, strategy_id: str, signal_id: str) -> AlertRecord | None:
        """Point-read one alert by strategy and id."""
        return await read_alert(self._table, strategy_id, signal_id)

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
        """Let a running drain finish, then close the table clients."""
        drainer, self._drainer = self._drainer, None
        if drainer is not None and not drainer.done():
            await asyncio.gather(drainer, return_exceptions=True)
        await self._table.close()


async def read_alert(table: LazyTable, strategy_id: str, signal_id: str) -> AlertRecord | None:
    """Point-read one alert of the journal's table by strategy and id (None if absent)."""
    from azure.core.exceptions import ResourceNotFoundError

    with table_errors("the journal could not be read"):
        client = await table.client()
        try:
            entity = await client.get_entity(partition_key=strategy_id, row_key=signal_id)
        except ResourceNotFoundError:
            return None
    return from_entity(dict(entity))
