"""Open WebSocket connections and what the simulation pushes to them.

``flush`` is called after every request, admin action and price move: it delivers the engine's
new ``props`` events (all of one operation batched into one ``a`` frame per socket, as Tradovate
batches them, ISSUE#28) and quote snapshots for contracts whose price or volume changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from local.tradovate_sim.wire import array_frame, event_message, props_event

if TYPE_CHECKING:
    from local.tradovate_sim.sim import Simulation
    from local.tradovate_sim.ws import Connection

SHUTDOWN_REASONS = ("Maintenance", "ConnectionQuotaReached", "IPQuotaReached")


class Hub:
    """Every live connection of the server."""

    def __init__(self) -> None:
        self.connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    def add(self, conn: Connection) -> None:
        """Register a new connection."""
        self.connections.add(conn)

    def remove(self, conn: Connection) -> None:
        """Forget a finished connection."""
        self.connections.discard(conn)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine in the background, keeping a reference until it ends."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _of_kind(self, kind: str | None) -> list[Connection]:
        conns = sorted(self.connections, key=lambda c: c.number)
        return [c for c in conns if kind in (None, "all", c.kind)]

    def flush(self, sim: Simulation) -> None:
        """Deliver pending ``props`` events and quote updates."""
        events = sim.engine.take_events()
        moved = sim.engine.take_moved_contracts()
        for conn in self._of_kind("trading"):
            scope = conn.scope
            if scope is None or not events:
                continue
            messages = [
                props_event(e.entity_type, e.event_type, e.entity)
                for e in events
                if e.account_id in scope.accounts and scope.wants(e.entity_type)
            ]
            if messages:
                conn.send(array_frame(messages))
        if not moved:
            return
        now = sim.clock.now()
        for conn in self._of_kind("md"):
            quotes = [
                sim.engine.quote(sim.library.contracts[c], now) for c in moved if c in conn.quotes
            ]
            if quotes:
                conn.send(array_frame([event_message("md", {"quotes": quotes})]))

    def close_sessions(self, session_ids: list[int], reason_code: str, reason: str) -> int:
        """Close, with a ``shutdown`` event, the sockets authorized by these sessions."""
        targets = [c for c in self._of_kind(None) if c.token and c.token.session_id in session_ids]
        for conn in targets:
            self.spawn(conn.close(1000, reason, shutdown=(reason_code, reason)))
        return len(targets)

    def revoke_sockets(self, session_ids: list[int]) -> int:
        """Close (without ``shutdown``) the sockets of revoked sessions."""
        targets = [c for c in self._of_kind(None) if c.token and c.token.session_id in session_ids]
        for conn in targets:
            self.spawn(conn.close(1000, "Access token revoked"))
        return len(targets)

    def drop(self, kind: str | None, count: int | None) -> int:
        """Cut connections without a close handshake (a network failure)."""
        targets = self._of_kind(kind)[: count if count is not None else None]
        for conn in targets:
            conn.abort()
        return len(targets)

    def shutdown(self, kind: str | None, reason_code: str, reason: str, close: bool) -> int:
        """Send a ``shutdown`` event (and, if ``close``, a ``c`` frame and close)."""
        targets = self._of_kind(kind)
        for conn in targets:
            if close:
                self.spawn(conn.close(1000, reason, shutdown=(reason_code, reason)))
            else:
                conn.send(array_frame([shutdown_event(reason_code, reason)]))
        return len(targets)

    async def close_all(self, reason: str, sim: Simulation | None = None) -> None:
        """Close every connection (or those bound to ``sim``) as a planned close, with a
        ``shutdown`` event first, and wait until the closes are sent."""
        closing = [
            conn.close(1001, reason, shutdown=("Maintenance", reason))
            for conn in list(self.connections)
            if sim is None or conn.sim is sim
        ]
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)

    def describe(self) -> list[dict[str, Any]]:
        """Return the live connections for ``/admin/state``."""
        return [conn.describe() for conn in self._of_kind(None)]


def shutdown_event(reason_code: str, reason: str) -> dict[str, Any]:
    """Build the ``shutdown`` event (reference §4.5)."""
    return event_message("shutdown", {"reasonCode": reason_code, "reason": reason})
