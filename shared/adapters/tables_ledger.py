"""Keep the execution ledger in Table storage: exactly-once claims by conditional insert.

Table ``{prefix}Ledger``: PartitionKey = signal id, RowKey = client order id (one row per
leg) or ``exec:{account}`` (one summary per account), so a signal's whole story is one
partition. ``claim`` is ``create_entity``, which fails if the row exists: two deliveries of
the same message cannot both claim a leg.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from shared.adapters.tables_batch import upsert_transaction
from shared.adapters.tables_common import TRANSACTION_ROWS, LazyTable, table_errors
from shared.domain.errors import DependencyUnavailable
from shared.ports import LedgerEntry

if TYPE_CHECKING:
    from azure.data.tables.aio import TableServiceClient


def to_entity(entry: LedgerEntry) -> dict[str, Any]:
    """Render a ledger entry as a table entity (None values are left out)."""
    entity: dict[str, Any] = {
        "PartitionKey": entry.signal_id,
        "RowKey": entry.row_key,
        "status": entry.status,
    }
    entity.update({k: v for k, v in entry.fields.items() if v is not None})
    return entity


def from_entity(entity: dict[str, Any]) -> LedgerEntry:
    """Rebuild a ledger entry from a table entity."""
    skip = {"PartitionKey", "RowKey", "status", "Timestamp", "etag"}
    fields = {k: v for k, v in entity.items() if k not in skip and not k.startswith("odata")}
    return LedgerEntry(
        signal_id=str(entity["PartitionKey"]),
        row_key=str(entity["RowKey"]),
        status=str(entity.get("status", "")),
        fields=fields,
    )


_WRITE = "the ledger could not be written"


class TablesLedger:
    """Implement the ``Ledger`` port on one table, created on first use."""

    def __init__(self, service_factory: Callable[[], TableServiceClient], table_name: str) -> None:
        self._table = LazyTable(service_factory, table_name)

    async def claim(self, entry: LedgerEntry) -> LedgerEntry | None:
        """Insert the row unless it exists; return the existing row when it does."""
        from azure.core.exceptions import ResourceExistsError

        with table_errors(_WRITE):
            table = await self._table.client()
            try:
                await table.create_entity(to_entity(entry))
                return None
            except ResourceExistsError:
                existing = await table.get_entity(entry.signal_id, entry.row_key)
                return from_entity(dict(existing))

    async def update(self, entry: LedgerEntry) -> None:
        """Merge the row's status and fields."""
        from azure.data.tables import UpdateMode

        with table_errors(_WRITE):
            table = await self._table.client()
            await table.upsert_entity(to_entity(entry), mode=UpdateMode.MERGE)

    async def rows(self, signal_id: str) -> list[LedgerEntry]:
        """Return every row of one signal's partition."""
        with table_errors("the ledger could not be read"):
            table = await self._table.client()
            entities = table.query_entities("PartitionKey eq @pk", parameters={"pk": signal_id})
            return [from_entity(dict(e)) async for e in entities]

    async def claim_all(self, entries: Sequence[LedgerEntry]) -> bool:
        """Insert the rows in one entity-group transaction; False if any row exists."""
        from azure.data.tables import TableTransactionError

        self._one_partition(entries)
        with table_errors(_WRITE):
            table = await self._table.client()
            try:
                await table.submit_transaction([("create", to_entity(e)) for e in entries])
            except TableTransactionError as exc:
                code = getattr(exc, "error_code", None)
                if code == "EntityAlreadyExists":
                    return False
                raise DependencyUnavailable(f"{_WRITE}: {code}") from exc
        return True

    async def update_all(self, entries: Sequence[LedgerEntry]) -> None:
        """Merge the rows in one entity-group transaction."""
        if not entries:
            return
        self._one_partition(entries)
        with table_errors(_WRITE):
            table = await self._table.client()
            await upsert_transaction(table, [to_entity(e) for e in entries])

    @staticmethod
    def _one_partition(entries: Sequence[LedgerEntry]) -> None:
        # Table storage transactions span one partition and at most 100 operations.
        if len({e.signal_id for e in entries}) != 1 or len(entries) > TRANSACTION_ROWS:
            raise ValueError("a ledger transaction holds 1 to 100 rows of one signal")

    async def close(self) -> None:
        """Close the table clients."""
        await self._table.close()
