"""Declare what the ops use cases read and write, as Protocols the adapters implement.

``OpsStore`` is Redis (``shared.adapters.ops_redis``): every method is one round trip.
``JournalReader`` and ``ChangeJournal`` are Table storage (``shared.adapters.ops_tables``);
``BrokerReads`` is the Tradovate REST client the executor uses (``TradovateRest``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from shared.domain.broker import Account, CashBalanceSnapshot, Contract, Order, Position
    from shared.ports import AlertRecord, LedgerEntry


@dataclass(frozen=True, slots=True)
class Reading:
    """What one round trip read: string values in the order asked, list heads, sizes."""

    strings: tuple[str | None, ...]
    lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sizes: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SwitchChange:
    """Set (``value``) or delete (``value`` None) one kill-switch key, atomically with the
    change's journal entry and its event.

    A set leaves an existing key alone unless ``replace``; a delete of a missing key does
    nothing. Only a change that happened is journaled and published.
    """

    key: str
    value: str | None
    journal_entry: str
    channel: str
    message: str
    replace: bool = False


@dataclass(frozen=True, slots=True)
class SwitchResult:
    """Say whether the change happened and what the key held before."""

    changed: bool
    previous: str | None


class OpsStore(Protocol):
    """The ops API's Redis: each call is one round trip."""

    async def read(
        self,
        strings: Sequence[str],
        *,
        lists: Mapping[str, int] | None = None,
        list_sizes: Sequence[str] = (),
        set_sizes: Sequence[str] = (),
    ) -> Reading:
        """Read string keys (MGET), the first n items of lists, and list and sorted-set sizes."""
        ...

    async def switch(self, change: SwitchChange) -> SwitchResult:
        """Apply a kill-switch change with its journal entry and event, atomically."""
        ...

    async def publish(self, channel: str, message: str) -> None:
        """Publish an event; best effort (a dashboard missing it must not fail a change)."""
        ...

    async def ledgers(self, signal_ids: Sequence[str]) -> dict[str, list[LedgerEntry]]:
        """Return the ledger working copy's rows of several signals (empty when forgotten)."""
        ...

    async def map_and_quote(
        self, root: str, pick: tuple[str, str]
    ) -> tuple[str | None, str | None]:
        """Return a root's contract map and the quote of the contract ``pick`` names in it:
        ``("name", "NQZ6")``, ``("continuous", "1")`` or ``("front", "")``."""
        ...


class JournalReader(Protocol):
    """Read the alert journal (Table storage)."""

    async def alerts_between(
        self, since: datetime, until: datetime, strategy_id: str | None, max_rows: int
    ) -> list[AlertRecord]:
        """Return alerts received in [since, until), of one strategy or all, at most
        ``max_rows`` (in no particular order)."""
        ...

    async def get_alert(self, strategy_id: str, signal_id: str) -> AlertRecord | None:
        """Point-read one alert."""
        ...

    async def find_alert(self, signal_id: str) -> AlertRecord | None:
        """Find an alert by id whatever its strategy."""
        ...


class FillReader(Protocol):
    """Read the worker's fill history (Table storage, partitioned by the fill's UTC day)."""

    async def signal_fills(self, signal_id: str, since: date) -> list[dict[str, Any]]:
        """Return the fills that name ``signal_id`` (its entries' and its exits'), from the
        day ``since`` on (nothing when the history does not exist)."""
        ...


class ChangeJournal(Protocol):
    """Keep trading-control changes durably (the events table)."""

    async def record(self, kind: str, event_id: str, payload: Mapping[str, Any]) -> None:
        """Upsert one change."""
        ...


@runtime_checkable
class Probe(Protocol):
    """Check one dependency; raise ``DependencyUnavailable`` when it cannot be used."""

    async def probe(self) -> None:
        """Touch the dependency as cheaply as it allows."""
        ...


class BrokerReads(Protocol):
    """The Tradovate REST reads behind the live cache (``TradovateRest``)."""

    async def accounts(self) -> tuple[Account, ...]:
        """Return the user's accounts."""
        ...

    async def positions(self, account_id: int | None = None) -> tuple[Position, ...]:
        """Return positions, of one account or all."""
        ...

    async def orders(self, account_id: int | None = None) -> tuple[Order, ...]:
        """Return orders, of one account or all."""
        ...

    async def cash_balance_snapshot(self, account_id: int) -> CashBalanceSnapshot:
        """Return an account's balance with realized and open P&L."""
        ...

    async def contract(self, contract_id: int) -> Contract:
        """Return one contract by id."""
        ...
