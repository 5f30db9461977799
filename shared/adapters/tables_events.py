"""Journal the timers' events (contract rolls, position drift) in Table storage.

Table ``{prefix}Events``: PartitionKey = event name (``contract.rolled``, ``position.drift``),
RowKey = the event's deterministic id, so a retried or doubled timer run upserts the same row
instead of adding a second one. Scalar payload fields become columns (filterable in the portal);
the whole payload is kept as JSON in ``payload_json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shared.adapters.tables_common import LazyTable, table_errors

if TYPE_CHECKING:
    from azure.data.tables.aio import TableServiceClient

# Characters Table storage refuses in keys (and control characters).
_BAD_KEY_CHARS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def row_key(event_id: str) -> str:
    """Return ``event_id`` made safe as a RowKey."""
    return _BAD_KEY_CHARS.sub("_", event_id)[:512]


def to_entity(kind: str, event_id: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Render one event as a table entity."""
    entity: dict[str, Any] = {
        "PartitionKey": kind,
        "RowKey": row_key(event_id),
        "event_id": event_id,
        "payload_json": json.dumps(payload, default=str, sort_keys=True),
    }
    for name, value in payload.items():
        if _COLUMN.match(name) and isinstance(value, str | int | bool) and name not in entity:
            entity[name] = value
    return entity


class TablesEventJournal:
    """Keep timer events in one table, created on first use."""

    def __init__(self, service_factory: Callable[[], TableServiceClient], table_name: str) -> None:
        self._table = LazyTable(service_factory, table_name)

    async def record(self, kind: str, event_id: str, payload: Mapping[str, Any]) -> None:
        """Upsert the event's row."""
        with table_errors("the event journal could not be written"):
            table = await self._table.client()
            await table.upsert_entity(to_entity(kind, event_id, payload))

    async def events(self, kind: str) -> list[dict[str, Any]]:
        """Return every journaled payload of one kind (for operators and tests)."""
        with table_errors("the event journal could not be read"):
            table = await self._table.client()
            rows = table.query_entities("PartitionKey eq @kind", parameters={"kind": kind})
            return [json.loads(row["payload_json"]) async for row in rows]

    async def close(self) -> None:
        """Close the table clients."""
        await self._table.close()
