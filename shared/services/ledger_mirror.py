"""Copy the ledger's changed signals from Redis to Table storage, off the broker's path.

The executor claims and records in Redis (one round trip each); this copies every changed
signal's rows to ``{TABLE_PREFIX}Ledger`` (one Table transaction per signal, up to 100 rows,
MERGE so properties written there by older versions survive). It runs in the worker's loop
(about every second, each signal once it has settled for two seconds) and in the
``ledger_mirror`` timer (every minute, everything changed; the only copier when no worker is
deployed). Each batch is leased, so two copiers never write the same signal at
once, and a copier that dies mid-batch only delays its signals by the lease.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.domain.errors import DependencyUnavailable
from shared.ports import Ledger, LedgerEntry

log = logging.getLogger(__name__)

_TABLE_BATCH = 100  # Table storage's limit of operations per transaction


class Outbox(Protocol):
    """The changed signals (``shared.adapters.redis_ledger.LedgerOutbox``)."""

    async def lease(
        self, limit: int, lease_s: float, settle_s: float = 0.0
    ) -> list[tuple[str, list[LedgerEntry], str | None]]:
        """Take up to ``limit`` signals changed at least ``settle_s`` ago, for ``lease_s``."""
        ...

    async def release(self, mirrored: Sequence[tuple[str, str | None]]) -> None:
        """Forget mirrored (signal, version)s unless written again meanwhile."""
        ...


@dataclass(frozen=True, slots=True)
class MirrorRun:
    """What one drain did."""

    mirrored: int = 0
    rows: int = 0
    failed: int = 0


class LedgerMirror:
    """Drain the outbox into the archive, one leased batch at a time."""

    def __init__(
        self,
        outbox: Outbox,
        archive: Ledger,
        *,
        batch: int = 50,
        lease_s: float = 30.0,
        settle_s: float = 0.0,
    ) -> None:
        self._outbox = outbox
        self._archive = archive
        self._batch = batch
        self._lease_s = lease_s
        # A signal is written several times within a second or two (claim, answers, fills):
        # waiting that long after its first change copies it once instead of each time.
        self._settle_s = settle_s

    async def drain(self, max_batches: int = 100) -> MirrorRun:
        """Copy changed signals until none is due (or ``max_batches`` ran).

        Table storage failing stops the drain without raising: the signals not copied stay
        leased and come back when the lease ends. Redis failing raises
        ``DependencyUnavailable``.
        """
        mirrored = rows = failed = 0
        for _ in range(max_batches):
            leased = await self._outbox.lease(self._batch, self._lease_s, self._settle_s)
            done: list[tuple[str, str | None]] = []
            for signal_id, entries, version in leased:
                try:
                    for start in range(0, len(entries), _TABLE_BATCH):
                        await self._archive.update_all(entries[start : start + _TABLE_BATCH])
                except DependencyUnavailable as exc:
                    failed = len(leased) - len(done)
                    log.warning(
                        "ledger rows of %d signal(s) not copied to Table storage yet: %s",
                        failed,
                        exc.message,
                    )
                    break
                done.append((signal_id, version))
                rows += len(entries)
            await self._outbox.release(done)
            mirrored += len(done)
            if failed or len(leased) < self._batch:
                break
        return MirrorRun(mirrored, rows, failed)
