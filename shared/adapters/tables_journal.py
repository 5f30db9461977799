"""Keep the alert journal in Azure Table storage (Azurite locally).

Table ``{prefix}Alerts``: PartitionKey = strategy id, RowKey = signal id, so one strategy's
alerts sit together and each is a point read by id. A duplicate of an accepted alert is a
second row ``{signal id}.dup.{correlation id}`` beside it rather than an overwrite.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.tables_common import LazyTable, build_table_service
from shared.domain.errors import DependencyUnavailable
from shared.ports import AlertRecord

__all__ = ["TablesAlertJournal", "build_table_service", "from_entity", "to_entity"]

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


def _aware(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("the journal stores timezone-aware times only")
    return moment


class TablesAlertJournal:
    """Implement the ``AlertJournal`` port on one table, created on first use."""

    def __init__(self, service_factory: Callable[[], TableServiceClient], table_name: str) -> None:
        self._table = LazyTable(service_factory, table_name)

    async def record_alert(self, record: AlertRecord) -> None:
        """Upsert the alert's row."""
        from azure.core.exceptions import AzureError

        try:
            table = await self._table.client()
            await table.upsert_entity(to_entity(record))
        except (AzureError, OSError) as exc:
            raise DependencyUnavailable(
                f"the journal could not be written: {type(exc).__name__}"
            ) from exc

    async def get_alert(self, strategy_id: str, signal_id: str) -> AlertRecord | None:
        """Point-read one alert by strategy and id."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            table = await self._table.client()
            entity = await table.get_entity(partition_key=strategy_id, row_key=signal_id)
        except ResourceNotFoundError:
            return None
        except (AzureError, OSError) as exc:
            raise DependencyUnavailable(
                f"the journal could not be read: {type(exc).__name__}"
            ) from exc
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
