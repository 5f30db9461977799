"""Store writes that travel with a ledger write, in one Redis round trip where possible.

The executor's ledger writes (the claim before the first broker call, the answers after
it, the fills at the end) each carry store writes that belong with them: the clOrdId index,
the entry stamp and the expectation; events; the intended position and the stop-management
hand-over. ``StoreWrites`` says which; a store that can send them in the ledger write's
pipeline (``BatchedStore``: ``RedisExecutionStore`` over the ledger's Redis) makes one round
trip of both; any other store makes them one after the other, in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from shared.ports import Events, ExecutionStore, Ledger, LedgerEntry
from shared.structural import conforms


@dataclass(frozen=True, slots=True)
class StoreWrites:
    """Execution-store writes that travel with one ledger write (``BatchedStore``)."""

    events: Events = ()
    links: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # clOrdId -> signal
    stamp: tuple[str, str, datetime] | None = None  # account, root, entry time (cooldown)
    expecting: tuple[int, int, str] | None = None  # account id, contract id, expectation
    intent: tuple[str, str, str, int, str, datetime] | None = None  # ``record_intent``'s args
    instructions: tuple[int, Mapping[str, str]] | None = None  # ``store_instructions``' args


@runtime_checkable
class BatchedStore(Protocol):
    """A store that makes its writes in the ledger write's round trip."""

    async def claim_with(
        self, ledger: Ledger, entries: list[LedgerEntry], writes: StoreWrites
    ) -> bool:
        """Claim ``entries`` (all or none) and make ``writes``; return whether claimed."""
        ...

    async def update_with(
        self, ledger: Ledger, entries: list[LedgerEntry], writes: StoreWrites
    ) -> None:
        """Merge ``entries`` and make ``writes``."""
        ...


async def write_with(
    store: ExecutionStore, ledger: Ledger, entries: list[LedgerEntry], writes: StoreWrites
) -> None:
    """Merge ``entries`` into the ledger and make ``writes``: one round trip when the store
    batches, else the store's writes first (events, intent, hand-over), then the ledger's."""
    if conforms(store, BatchedStore):  # type: ignore[type-abstract]
        await store.update_with(ledger, entries, writes)
        return
    for event, payload in writes.events:
        await store.publish(event, payload)
    if writes.links or writes.stamp is not None:
        await store.link_orders(writes.links, writes.stamp, expecting=writes.expecting)
    elif writes.expecting is not None:
        await store.expect(*writes.expecting)
    if writes.intent is not None:
        await store.record_intent(*writes.intent)
    if writes.instructions is not None:
        await store.store_instructions(*writes.instructions)
    if entries:
        await ledger.update_all(entries)


async def claim_with(
    store: ExecutionStore, ledger: Ledger, entries: list[LedgerEntry], writes: StoreWrites
) -> bool:
    """Claim ``entries`` (all or none), then make ``writes``; one round trip when batched."""
    if conforms(store, BatchedStore):  # type: ignore[type-abstract]
        return await store.claim_with(ledger, entries, writes)
    claimed = await ledger.claim_all(entries)
    await store.link_orders(
        writes.links, writes.stamp, events=writes.events, expecting=writes.expecting
    )
    return claimed
