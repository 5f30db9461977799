"""Read the alert journal for the ops API, and probe Table storage for readiness.

The journal's table (``{prefix}Alerts``, written by ``shared.adapters.tables_journal``) keys
alerts by strategy and id; the ops API also needs them by time, which Table storage answers
with a filter on ``received_at`` (a scan of the partition, or of the table without a
strategy), bounded by ``max_rows``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.tables_common import LazyTable, table_errors
from shared.adapters.tables_journal import from_entity, read_alert
from shared.ports import AlertRecord

if TYPE_CHECKING:
    from azure.data.tables.aio import TableServiceClient

_READ = "the journal could not be read"
# A row no writer ever creates: reading it proves the table answers (404 is the good case).
_PROBE_PARTITION, _PROBE_ROW = "~ops", "~probe"


class TablesJournalReader:
    """Implement ``JournalReader`` and ``Probe`` on the alert journal's table."""

    def __init__(self, service_factory: Callable[[], TableServiceClient], table_name: str) -> None:
        self._table = LazyTable(service_factory, table_name)

    async def alerts_between(
        self, since: datetime, until: datetime, strategy_id: str | None, max_rows: int
    ) -> list[AlertRecord]:
        """Return up to ``max_rows`` alerts received in [since, until)."""
        query = "received_at ge @since and received_at lt @until"
        params: dict[str, object] = {"since": since, "until": until}
        if strategy_id is not None:
            query = "PartitionKey eq @pk and " + query
            params["pk"] = strategy_id
        found: list[AlertRecord] = []
        with table_errors(_READ):
            table = await self._table.client()
            async for entity in table.query_entities(
                query, parameters=params, results_per_page=min(max_rows, 1000)
            ):
                found.append(from_entity(dict(entity)))
                if len(found) >= max_rows:
                    break
        return found

    async def get_alert(self, strategy_id: str, signal_id: str) -> AlertRecord | None:
        """Point-read one alert."""
        return await read_alert(self._table, strategy_id, signal_id)

    async def find_alert(self, signal_id: str) -> AlertRecord | None:
        """Find an alert by id in any strategy's partition."""
        with table_errors(_READ):
            table = await self._table.client()
            async for entity in table.query_entities(
                "RowKey eq @id", parameters={"id": signal_id}, results_per_page=1
            ):
                return from_entity(dict(entity))
        return None

    async def probe(self) -> None:
        """Read a row that does not exist; raise ``DependencyUnavailable`` unless Tables answers."""
        from azure.core.exceptions import ResourceNotFoundError

        with table_errors("Table storage did not answer", code="tables_unavailable"):
            table = await self._table.client()
            try:
                await table.get_entity(partition_key=_PROBE_PARTITION, row_key=_PROBE_ROW)
            except ResourceNotFoundError:
                return

    async def close(self) -> None:
        """Close the table clients."""
        await self._table.close()


class TablesFillReader:
    """Implement ``FillReader`` on the worker's ``{prefix}Fills`` table (``worker.history``).

    A signal's fills are found by ``signal_id`` within the days from ``since`` on: the table
    is partitioned by the fill's UTC day (``undated`` sorts after every date, so it is read
    too), and a signal's exits may fill days after its entry."""

    def __init__(self, service_factory: Callable[[], TableServiceClient], table_name: str) -> None:
        self._factory = service_factory
        self._table_name = table_name
        self._service: TableServiceClient | None = None

    async def signal_fills(self, signal_id: str, since: date) -> list[dict[str, Any]]:
        """Return the signal's fill rows from ``since`` on ([] when there is no history)."""
        from azure.core.exceptions import ResourceNotFoundError

        query = "PartitionKey ge @day and signal_id eq @id"
        params = {"day": since.isoformat(), "id": signal_id}
        found: list[dict[str, Any]] = []
        with table_errors("the fill history could not be read"):
            if self._service is None:
                self._service = self._factory()
            # Read only: the worker creates the table; a deployment without one has none.
            table = self._service.get_table_client(self._table_name)
            try:
                async for entity in table.query_entities(query, parameters=params):
                    found.append(dict(entity))
            except ResourceNotFoundError:
                return []
        return found

    async def close(self) -> None:
        """Close the service client."""
        service, self._service = self._service, None
        if service is not None:
            await service.close()
