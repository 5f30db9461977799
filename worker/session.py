"""Run the two Tradovate sockets on their threads and hand their output to the event loop.

The socket client (``shared.adapters.tradovate.ws``) reads, heartbeats and dispatches on its
own threads; nothing here runs on the event loop except through these bridges:

* ``LoopBridge.put`` moves one item from a socket thread into the worker's bounded
  ``asyncio.Queue`` without waiting for the loop while there is room, and otherwise waits
  (on the socket's dispatcher thread, never on the loop) until there is: back-pressure. If
  the loop falls behind for ``timeout_s`` the item cannot be dropped silently, so the
  session reconnects and the next snapshot rebuilds everything.
* ``TradingSession`` sends ``user/syncrequest`` after every authorization and tags the
  snapshot with the connection it came from, so a snapshot that raced a reconnect is never
  taken for the current one.
* ``QuoteFeed`` keeps only the latest quote per contract between two loop wake-ups: quotes
  replace each other, so coalescing loses nothing and bounds memory by the number of
  contracts, whatever the tick rate.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from shared.adapters.tradovate import encode, parse
from shared.adapters.tradovate.frames import Event
from shared.adapters.tradovate.streams import QuoteSession
from shared.adapters.tradovate.ws import SocketState, TradovateSocket
from shared.adapters.tradovate.wsconn import Connector
from shared.adapters.tradovate.wstypes import SocketConfig, SocketTokenSource
from shared.domain.broker import Quote, ServerShutdown, SyncSnapshot
from shared.domain.errors import BridgeError

logger = logging.getLogger(__name__)

StateCallback = Callable[[SocketState, BaseException | None], None]


@dataclass(frozen=True, slots=True)
class SnapshotArrived:
    """A sync snapshot and the connection (its ``connects`` count) that produced it."""

    snapshot: SyncSnapshot
    connection: int


@dataclass(frozen=True, slots=True)
class ShutdownNotice:
    """The broker announced a planned close of one socket."""

    socket: str
    notice: ServerShutdown


class LoopBridge:
    """Put items from socket threads into the loop's bounded queue, waiting only for room.

    While the queue has room, ``put`` schedules the item on the loop and returns at once:
    a socket thread never waits for a loop turn per item, so a burst of changes piles up in
    the queue and the consumer applies it as one run instead of one run per loop turn. Items
    handed over but not yet queued count against the bound, so the queue never holds more
    than its size; once it is full, ``put`` waits (up to ``timeout_s``) for the consumer.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any], timeout_s: float
    ) -> None:
        self._loop = loop
        self._queue = queue
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._in_flight = 0  # scheduled on the loop, not yet in the queue

    def put(self, item: Any) -> bool:
        """Hand ``item`` over; False when the loop did not take it in time (or is gone)."""
        with self._lock:
            limit = self._queue.maxsize
            if limit <= 0 or self._queue.qsize() + self._in_flight < limit:
                try:
                    self._loop.call_soon_threadsafe(self._arrive, item)
                except RuntimeError:
                    return False  # the loop is closed: the process is stopping
                self._in_flight += 1
                return True
        return self._put_waiting(item)

    def _arrive(self, item: Any) -> None:
        with self._lock:
            self._in_flight -= 1
            try:
                self._queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                pass
        # Only when another thread's waiting put took the room first: queue behind it.
        self._loop.create_task(self._queue.put(item))

    def _put_waiting(self, item: Any) -> bool:
        put = self._queue.put(item)
        try:
            future = asyncio.run_coroutine_threadsafe(put, self._loop)
        except RuntimeError:
            put.close()
            return False  # the loop is closed: the process is stopping
        try:
            future.result(self._timeout_s)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            future.cancel()
            return False
        return True

    def call(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback(*args)`` on the loop soon (for small, non-blocking notifications)."""
        # A closed loop means the process is stopping; the notification no longer matters.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)


class TradingSession:
    """Keep the trading socket synced and feed its snapshots and changes to the loop."""

    def __init__(
        self,
        config: SocketConfig,
        tokens: SocketTokenSource,
        bridge: LoopBridge,
        *,
        account_ids: tuple[int, ...] = (),
        on_state: StateCallback | None = None,
        connector: Connector | None = None,
    ) -> None:
        self._bridge = bridge
        self._account_ids = account_ids
        self.socket = TradovateSocket(
            config,
            tokens,
            on_message=self._handle,
            on_ready=self._sync,
            on_state=on_state,
            connector=connector,
        )

    @property
    def connection(self) -> int:
        """Return the number of connections made so far (identifies the current one)."""
        return self.socket.health().connects

    @property
    def ready(self) -> bool:
        """Tell whether the socket is authorized right now."""
        return self.socket.state is SocketState.READY

    def _sync_body(self, socket: TradovateSocket) -> dict[str, Any]:
        if self._account_ids:
            return encode.sync_request((), self._account_ids)
        token = socket.session_token
        if token is None or token.user_id is None:
            raise ValueError("the session token carries no user id to sync")
        return encode.sync_request((token.user_id,), ())

    def _sync(self, socket: TradovateSocket) -> None:
        connection = self.connection
        try:
            data = socket.call("user/syncrequest", body=self._sync_body(socket))
            snapshot = parse.sync_snapshot(data)
        except (BridgeError, ValueError) as exc:
            # Live state must never run on a stale snapshot: reconnect and sync again.
            logger.warning("syncrequest failed; reconnecting", extra={"error": str(exc)[:200]})
            socket.reconnect()
            return
        if self.connection != connection or not self.ready:
            return  # the socket reconnected meanwhile; the new connection syncs itself
        self._deliver(SnapshotArrived(snapshot, connection))

    def _handle(self, event: Event) -> None:
        if event.kind == "props":
            try:
                changes = parse.entity_changes(event.data)
            except BridgeError as exc:
                # A change we cannot read leaves a hole in live state: resync instead.
                logger.error("unreadable props event; resyncing", extra={"error": exc.message})
                self.socket.reconnect()
                return
            for change in changes:
                if not self._deliver(change):
                    return
        elif event.kind == "shutdown":
            self._deliver(ShutdownNotice("trading", parse.shutdown(event.data)))

    def _deliver(self, item: Any) -> bool:
        if self._bridge.put(item):
            return True
        logger.warning("worker fell behind the trading socket; reconnecting to resync")
        self.socket.reconnect()
        return False

    def start(self) -> None:
        """Start connecting in the background."""
        self.socket.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the socket and stop its threads (blocking: call from a thread)."""
        self.socket.stop(timeout_s)


class QuoteFeed:
    """Keep quote subscriptions for the wanted contracts and coalesce quotes for the loop."""

    def __init__(
        self,
        config: SocketConfig,
        tokens: SocketTokenSource,
        bridge: LoopBridge,
        *,
        on_wake: Callable[[], None],
        on_state: StateCallback | None = None,
        connector: Connector | None = None,
    ) -> None:
        self._bridge = bridge
        self._on_wake = on_wake
        self._lock = threading.Lock()
        self._latest: dict[int, Quote] = {}
        self._scheduled = False
        self.received = 0
        self.session = QuoteSession(
            config,
            tokens,
            on_quote=self._arrived,
            on_shutdown=lambda notice: bridge.call(self._log_shutdown, notice),
            on_state=on_state,
            connector=connector,
        )

    @staticmethod
    def _log_shutdown(notice: ServerShutdown) -> None:
        logger.warning(
            "market-data socket announced a shutdown", extra={"code": notice.reason_code}
        )

    def _arrived(self, quote: Quote) -> None:
        with self._lock:
            self.received += 1
            self._latest[quote.contract_id] = quote
            if self._scheduled:
                return
            self._scheduled = True
        self._bridge.call(self._on_wake)

    def take(self) -> list[Quote]:
        """Return (and forget) the latest quote of every contract that moved."""
        with self._lock:
            quotes, self._latest = list(self._latest.values()), {}
            self._scheduled = False
        return quotes

    @property
    def wanted(self) -> frozenset[int]:
        """Return the contract ids subscribed (or to subscribe on connect)."""
        return frozenset(s for s in self.session.symbols if isinstance(s, int))

    def update(self, contracts: Iterable[int]) -> None:
        """Subscribe to new contracts and drop the others (blocking: call from a thread)."""
        target = set(contracts)
        current = set(self.wanted)
        for contract_id in sorted(target - current):
            self._safely(self.session.subscribe, contract_id)
        for contract_id in sorted(current - target):
            self._safely(self.session.unsubscribe, contract_id)

    @staticmethod
    def _safely(action: Callable[[int], None], contract_id: int) -> None:
        try:
            action(contract_id)
        except (BridgeError, OSError, TimeoutError) as exc:
            # The wanted set is already updated; the next reconnect re-subscribes it.
            logger.warning(
                "quote subscription change failed",
                extra={"contract_id": contract_id, "error": str(exc)[:200]},
            )

    def start(self) -> None:
        """Start connecting in the background."""
        self.session.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the socket (blocking: call from a thread)."""
        self.session.stop(timeout_s)
