"""Supervise the worker: two sockets, the state machine, and the loop tasks that feed Redis.

Tasks on the event loop (none blocks it; socket I/O stays on the client's threads):

* **consumer**: takes snapshots and changes from the bounded queue in the socket's order and
  runs them through the ``LivePipeline``; a snapshot of the current connection moves the
  state to ``live`` and queues a REST fill recovery behind it.
* **quotes**: drains the coalesced quotes, re-marks positions, wakes stop management, and
  keeps quote subscriptions equal to the contracts with positions or working orders.
* **liveness**: every ``liveness_interval_s`` writes ``worker:heartbeat`` and ``worker:sync``
  (``synced`` only when live and nothing is dirty), refreshes quote TTLs, retries history and
  dirty documents, and is the watchdog for a sync that never completes.
* **tokens**: renews the shared token ahead of expiry (a renewal, never a new login).
* **stops**: breakeven and trailing management (``worker.stops``).
* **ledger**: every ``ledger_mirror_s`` copies the ledger rows changed in Redis to Table
  storage (``shared.services.ledger_mirror``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket as socketlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.adapters.tradovate.token import TokenManager
from shared.adapters.tradovate.ws import SocketState
from shared.adapters.tradovate.wsconn import Connector
from shared.adapters.tradovate.wstypes import BlockingTokenSource, SocketConfig
from shared.domain.broker import EntityChange
from shared.domain.errors import AuthError, BridgeError, DependencyUnavailable
from shared.services.ledger_mirror import LedgerMirror
from shared.telemetry import get_metrics
from worker.instruments import ConfiguredInstruments
from worker.live_store import LiveStore
from worker.pipeline import FillSource, LivePipeline
from worker.session import LoopBridge, QuoteFeed, ShutdownNotice, SnapshotArrived, TradingSession
from worker.states import FROM_SOCKET, StateMachine, Transition, WorkerState
from worker.stops import StopManager

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Tune the worker; the defaults suit production, tests shorten them."""

    trading: SocketConfig
    market_data: SocketConfig
    account_ids: tuple[int, ...] = ()
    liveness_interval_s: float = 2.0
    liveness_ttl_s: float = 10.0
    quote_ttl_s: float = 10.0
    sync_timeout_s: float = 30.0
    queue_size: int = 10_000
    handoff_timeout_s: float = 5.0
    token_check_s: float = 60.0
    management_refresh_s: float = 1.0
    ledger_mirror_s: float = 1.0
    ledger_settle_s: float = 2.0
    instruments_refresh_s: float = 60.0


_MAX_BATCH = 500


class _RecoverFills:
    """Queue marker: recover missed fills over REST (after the snapshot it follows)."""


class Worker:
    """Own the sockets, the pipeline and the loop tasks of one worker process."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        pipeline: LivePipeline,
        store: LiveStore,
        tokens: TokenManager,
        rest: FillSource,
        stops: Callable[[Worker], StopManager] | None = None,
        connector: Connector | None = None,
        mirror: LedgerMirror | None = None,
        instruments: ConfiguredInstruments | None = None,
    ) -> None:
        self.config = config
        self._instruments = instruments
        self._configured: frozenset[int] = frozenset()
        self.pipeline = pipeline
        self.store = store
        self._tokens = tokens
        self._rest = rest
        self._connector = connector
        self._stops_factory = stops
        self._mirror = mirror
        self.trading_state = StateMachine("trading", self._on_transition)
        self.md_state = StateMachine("md", self._on_transition)
        self.sync_state = "stale"
        self.started_at = time.monotonic()
        self.stops: StopManager | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue(config.queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Future[None]] = set()
        self._quotes_ready = asyncio.Event()
        self._subscriptions_dirty = asyncio.Event()
        self._liveness_lock = asyncio.Lock()
        self._metrics = get_metrics()
        self._trading: TradingSession | None = None
        self._feed: QuoteFeed | None = None
        self._stopping = False

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start both sockets and every loop task (returns at once)."""
        loop = asyncio.get_running_loop()
        bridge = LoopBridge(loop, self._queue, self.config.handoff_timeout_s)
        tokens = BlockingTokenSource(self._tokens, loop)
        self._trading = TradingSession(
            self.config.trading,
            tokens,
            bridge,
            account_ids=self.config.account_ids,
            on_state=lambda state, error: bridge.call(self._socket_state, "trading", state, error),
            connector=self._connector,
        )
        self._feed = QuoteFeed(
            self.config.market_data,
            tokens,
            bridge,
            on_wake=self._quotes_ready.set,
            on_state=lambda state, error: bridge.call(self._socket_state, "md", state, error),
            connector=self._connector,
        )
        if self._stops_factory is not None:
            self.stops = self._stops_factory(self)
        self._spawn(self._consume(), "consumer")
        self._spawn(self._quote_loop(), "quotes")
        self._spawn(self._subscription_loop(), "subscriptions")
        self._spawn(self._liveness_loop(), "liveness")
        self._spawn(self.pipeline.run_history(), "history")
        self._spawn(self._token_loop(), "tokens")
        if self.stops is not None:
            self._spawn(self.stops.run(), "stops")
        if self._mirror is not None:
            self._spawn(self._ledger_loop(self._mirror), "ledger")
        if self._instruments is not None:
            self._spawn(self._instruments_loop(self._instruments), "instruments")
        self._trading.start()
        self._feed.start()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=f"worker-{name}")
        task.add_done_callback(self._task_ended)
        self._tasks.append(task)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stopping:
            return
        exc = task.exception()
        # A loop task never ends by itself; if one does, the process is unhealthy: say so.
        logger.error(
            "worker task ended unexpectedly",
            extra={"task": task.get_name(), "error": repr(exc)},
        )

    async def stop(self) -> None:
        """Close the sockets, stop the tasks and tell readers the cache is no longer live."""
        self._stopping = True
        for session in (self._trading, self._feed):
            if session is not None:
                await asyncio.to_thread(session.stop)
        tasks = [*self._tasks, *self._side_tasks]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5.0)
            if pending:
                logger.error("worker tasks did not stop", extra={"tasks": len(pending)})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await self.pipeline.wait_for_terms()
                await self.pipeline.drain_history()  # what is queued is written, not lost
        self.sync_state = "stopped"
        with contextlib.suppress(DependencyUnavailable):
            await self.store.clear_liveness()

    # --- states -------------------------------------------------------------------------------

    def _socket_state(self, name: str, state: SocketState, error: BaseException | None) -> None:
        machine = self.trading_state if name == "trading" else self.md_state
        if self._stopping:
            machine.move(FROM_SOCKET[state])
            return  # no writes while stopping: stop() says "stopped" itself
        target = FROM_SOCKET[state]
        reason = None if error is None else str(error)[:200]
        machine.move(target, reason)
        if name == "md" and target is WorkerState.SYNCING:
            target = WorkerState.LIVE  # market data has nothing to sync: live once authorized
            machine.move(target)
        if name == "trading" and target is not WorkerState.LIVE:
            self.sync_state = "syncing" if target is WorkerState.SYNCING else "stale"
        if name == "md" and target is not WorkerState.LIVE:
            accounts = self.pipeline.forget_marks()
            self._spawn_once(self.pipeline.write_accounts(accounts, publish_cash=True))
        if target is WorkerState.STOPPED_AUTH_FAILURE:
            self._metrics.auth_failures.add(1, {"scope": "worker", "socket": name})
        if isinstance(error, AuthError):
            logger.error(
                "worker stopped: Tradovate authorization impossible",
                extra={"socket": name, "alert": "tradovate_ws_auth", "error": reason},
            )
        self._spawn_once(self._write_liveness())

    def _spawn_once(self, coro: Coroutine[Any, Any, None]) -> None:
        # Short-lived writes triggered by a state change; they log their own failures. The
        # set keeps a reference until each ends (the loop holds tasks only weakly).
        task = asyncio.ensure_future(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_task_done)

    def _side_task_done(self, task: asyncio.Future[None]) -> None:
        self._side_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("worker side task failed", extra={"error": repr(task.exception())})

    def _on_transition(self, transition: Transition) -> None:
        connected = transition.state is WorkerState.LIVE
        attributes = {"socket": transition.socket}
        self._metrics.ws_connected.set(1 if connected else 0, attributes)
        if transition.previous is WorkerState.LIVE and not connected:
            self._metrics.ws_disconnects.add(1, attributes)
        event = {**transition.payload(), "at": transition.at.isoformat()}
        self._spawn_once(self.store.publish([("ws.state", event)]))

    @property
    def live(self) -> bool:
        """Tell whether the trading socket is synced and the documents are current."""
        return self.trading_state.state is WorkerState.LIVE

    # --- consumer -----------------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # Take whatever else is already queued (up to a bound), so a burst of changes is
            # applied as one run and written once.
            while len(batch) < _MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._handle_batch(batch)
            except DependencyUnavailable as exc:
                logger.warning("worker write failed; will retry", extra={"error": exc.message})
            except Exception:
                # A bug while applying an event leaves the book in doubt: resync from scratch.
                logger.exception("worker could not apply an event; resyncing")
                if self._trading is not None:
                    self._trading.socket.reconnect()

    async def _handle_batch(self, batch: list[Any]) -> None:
        run: list[EntityChange] = []
        for item in batch:
            if isinstance(item, EntityChange):
                run.append(item)
                continue
            await self._apply_changes(run)
            run = []
            await self._handle(item)
        await self._apply_changes(run)

    async def _apply_changes(self, changes: list[EntityChange]) -> None:
        if not changes:
            return
        effects = await self.pipeline.on_changes(changes)
        if effects.positions or effects.orders:
            self._subscriptions_dirty.set()
        if effects.fills and self.stops is not None:
            self.stops.wake()

    async def _handle(self, item: Any) -> None:
        if isinstance(item, SnapshotArrived):
            await self._apply_snapshot(item)
        elif isinstance(item, _RecoverFills):
            await self._recover_fills()
        elif isinstance(item, ShutdownNotice):
            logger.warning(
                "Tradovate announced a shutdown; reconnecting after it",
                extra={"socket": item.socket, "code": item.notice.reason_code},
            )

    async def _apply_snapshot(self, item: SnapshotArrived) -> None:
        await self.pipeline.on_snapshot(item.snapshot)
        trading = self._trading
        if trading is None or item.connection != trading.connection or not trading.ready:
            return  # an older connection's snapshot: the current one's is on its way
        self.trading_state.move(WorkerState.LIVE)
        self.sync_state = "synced"
        await self._write_liveness()
        self._subscriptions_dirty.set()
        if self.stops is not None:
            self.stops.wake()
        try:
            self._queue.put_nowait(_RecoverFills())  # behind the changes already queued
        except asyncio.QueueFull:
            await self._recover_fills()  # never wait on our own queue: this task drains it

    async def _recover_fills(self) -> None:
        try:
            await self.pipeline.recover_fills(self._rest)
        except BridgeError as exc:
            logger.warning("fill recovery over REST failed", extra={"error": exc.message})

    # --- quotes -------------------------------------------------------------------------------

    async def _quote_loop(self) -> None:
        while True:
            await self._quotes_ready.wait()
            self._quotes_ready.clear()
            if self._feed is None:
                continue
            try:
                await self.pipeline.on_quotes(self._feed.take())
            except DependencyUnavailable as exc:
                logger.warning("quotes not stored", extra={"error": exc.message})
            if self.stops is not None:
                self.stops.wake()

    async def _subscription_loop(self) -> None:
        while True:
            await self._subscriptions_dirty.wait()
            self._subscriptions_dirty.clear()
            feed = self._feed
            if feed is None or not self.live:
                continue
            # Open positions and working orders, and every traded instrument's front month
            # (its quote anchors a market entry's bracket before any position exists).
            wanted = self.pipeline.book.active_contracts() | self._configured
            if wanted != feed.wanted:
                await asyncio.to_thread(feed.update, wanted)

    async def _instruments_loop(self, instruments: ConfiguredInstruments) -> None:
        while True:
            try:
                configured = await instruments.contracts()
            except DependencyUnavailable as exc:
                logger.warning("instruments to quote not read", extra={"error": exc.message})
            else:
                if configured != self._configured:
                    self._configured = configured
                    self._subscriptions_dirty.set()
            await asyncio.sleep(self.config.instruments_refresh_s)

    # --- liveness, watchdog, tokens -----------------------------------------------------------

    def heartbeat(self) -> dict[str, Any]:
        """Return the ``worker:heartbeat`` document."""
        return {
            "at": datetime.now(UTC).isoformat(),
            "state": self.trading_state.state.value,
            "md_state": self.md_state.state.value,
            "pid": os.getpid(),
            "host": socketlib.gethostname(),
        }

    def published_sync_state(self) -> str:
        """Return what ``worker:sync`` says: synced only when live and nothing is dirty."""
        if self.sync_state == "synced" and (not self.live or self.pipeline.dirty):
            return "syncing"
        return self.sync_state

    async def _write_liveness(self) -> None:
        # One write at a time, the value read inside the lock: two writes in flight on two
        # pooled connections could land out of order and leave "synced" after "stale".
        async with self._liveness_lock:
            try:
                await self.store.set_liveness(self.heartbeat(), self.published_sync_state())
            except DependencyUnavailable as exc:
                logger.warning("worker liveness not written", extra={"error": exc.message})

    async def _liveness_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.liveness_interval_s)
            with contextlib.suppress(DependencyUnavailable):
                await self.pipeline.flush_dirty()
            await self._write_liveness()
            if self.md_state.state is WorkerState.LIVE:
                with contextlib.suppress(DependencyUnavailable):
                    await self.pipeline.refresh_quotes()
            await self.pipeline.retry_history()
            self._watchdog()

    def _watchdog(self) -> None:
        machine = self.trading_state
        stuck = machine.state is WorkerState.SYNCING and (
            machine.seconds_in_state() > self.config.sync_timeout_s
        )
        if stuck and self._trading is not None:
            logger.warning("sync did not complete in time; reconnecting")
            self._trading.socket.reconnect()

    async def _ledger_loop(self, mirror: LedgerMirror) -> None:
        while True:
            await asyncio.sleep(self.config.ledger_mirror_s)
            try:
                await mirror.drain()
            except DependencyUnavailable as exc:
                logger.warning("ledger mirror paused", extra={"error": exc.message})

    async def _token_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.token_check_s)
            try:
                await self._tokens.ensure_fresh()
            except BridgeError as exc:
                logger.warning("token renewal failed", extra={"code": exc.code})

    # --- health -------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Describe the worker for ``/healthz``: connected, last message age, sync state."""
        trading = self._trading
        socket_health = None if trading is None else trading.socket.health()
        age = None if socket_health is None else round(socket_health.last_frame_age_s, 3)
        silence = self.config.trading.silence_s
        healthy = (
            self.live
            and self.published_sync_state() == "synced"
            and age is not None
            and age < silence
        )
        return {
            "status": "ok" if healthy else "unhealthy",
            "healthy": healthy,
            "state": self.trading_state.state.value,
            "connected": socket_health is not None and socket_health.connected,
            "last_message_age_s": age,
            "sync": self.published_sync_state(),
            "market_data": self.md_state.state.value,
            "attempts": self.trading_state.attempts,
            "syncs": self.trading_state.syncs,
            "dirty_accounts": len(self.pipeline.dirty),
            "pending_history": self.pipeline.history_backlog,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
        }

    @property
    def trading(self) -> TradingSession | None:
        """Return the trading session (tests and diagnostics)."""
        return self._trading

    @property
    def feed(self) -> QuoteFeed | None:
        """Return the quote feed (tests and diagnostics)."""
        return self._feed
