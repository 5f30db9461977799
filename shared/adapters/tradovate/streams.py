"""Offer the worker two ready-made sessions: the user's data and market-data quotes.

``UserSyncSession`` sends ``user/syncrequest`` after every (re)authorization, hands the
snapshot to ``on_snapshot`` (rebuild live state from it: events missed while disconnected
are not replayed, reference §4.9) and every later ``props`` change to ``on_change``.
``QuoteSession`` remembers its ``md/subscribeQuote`` symbols and re-subscribes after every
reconnect. Callbacks run on the socket's dispatcher thread: keep them short or hand off.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from shared.adapters.tradovate import encode, parse
from shared.adapters.tradovate.frames import Event
from shared.adapters.tradovate.ws import SocketState, TradovateSocket
from shared.adapters.tradovate.wsconn import Connector
from shared.adapters.tradovate.wstypes import SocketConfig, SocketHealth, SocketTokenSource
from shared.domain.broker import EntityChange, Quote, ServerShutdown, SyncSnapshot
from shared.domain.errors import BridgeError

logger = logging.getLogger(__name__)

StateCallback = Callable[[SocketState, BaseException | None], None]


class _Session:
    socket: TradovateSocket

    def start(self) -> None:
        """Start connecting in the background."""
        self.socket.start()

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait until authorized (and, for user data, synced); raise if the session failed."""
        return self.socket.wait_ready(timeout_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the socket and stop its threads."""
        self.socket.stop(timeout_s)

    def health(self) -> SocketHealth:
        """Return the socket's health snapshot."""
        return self.socket.health()


class UserSyncSession(_Session):
    """Keep the trading socket subscribed to the user's orders, fills, positions and cash."""

    def __init__(
        self,
        config: SocketConfig,
        tokens: SocketTokenSource,
        *,
        on_snapshot: Callable[[SyncSnapshot], None],
        on_change: Callable[[EntityChange], None],
        on_shutdown: Callable[[ServerShutdown], None] | None = None,
        on_state: StateCallback | None = None,
        account_ids: tuple[int, ...] = (),
        connector: Connector | None = None,
    ) -> None:
        self._on_snapshot = on_snapshot
        self._on_change = on_change
        self._on_shutdown = on_shutdown
        self._account_ids = account_ids
        self._synced = threading.Event()
        self.syncs = 0
        self.socket = TradovateSocket(
            config,
            tokens,
            on_message=self._handle,
            on_ready=self._sync,
            on_state=self._state_changed(on_state),
            connector=connector,
        )

    def wait_synced(self, timeout_s: float) -> bool:
        """Wait until the first snapshot of the current connection was delivered."""
        if not self.socket.wait_ready(timeout_s):
            return False
        return self._synced.wait(timeout_s)

    def _state_changed(self, outer: StateCallback | None) -> StateCallback:
        def changed(state: SocketState, error: BaseException | None) -> None:
            if state is not SocketState.READY:
                self._synced.clear()
            if outer is not None:
                outer(state, error)

        return changed

    def _sync(self, socket: TradovateSocket) -> None:
        token = socket.session_token
        user_ids = () if token is None or token.user_id is None else (token.user_id,)
        try:
            body = encode.sync_request(user_ids, self._account_ids)
            data = socket.call("user/syncrequest", body=body)
            snapshot = parse.sync_snapshot(data)
        except (BridgeError, ValueError) as exc:
            # Live state must never run on a stale snapshot: reconnect and sync again.
            logger.warning("tradovate syncrequest failed; reconnecting", extra={"error": str(exc)})
            socket.reconnect()
            return
        self.syncs += 1
        self._on_snapshot(snapshot)
        self._synced.set()

    def _handle(self, event: Event) -> None:
        if event.kind == "props":
            for change in parse.entity_changes(event.data):
                self._on_change(change)
        elif event.kind == "shutdown" and self._on_shutdown is not None:
            self._on_shutdown(parse.shutdown(event.data))


class QuoteSession(_Session):
    """Keep market-data quote subscriptions alive across reconnects."""

    def __init__(
        self,
        config: SocketConfig,
        tokens: SocketTokenSource,
        *,
        on_quote: Callable[[Quote], None],
        on_shutdown: Callable[[ServerShutdown], None] | None = None,
        on_state: StateCallback | None = None,
        connector: Connector | None = None,
    ) -> None:
        self._on_quote = on_quote
        self._on_shutdown = on_shutdown
        self._symbols: set[str | int] = set()
        self._lock = threading.Lock()
        self.socket = TradovateSocket(
            config,
            tokens,
            on_message=self._handle,
            on_ready=self._resubscribe,
            on_state=on_state,
            connector=connector,
        )

    @property
    def symbols(self) -> frozenset[str | int]:
        """Return the symbols (contract names or ids) currently wanted."""
        with self._lock:
            return frozenset(self._symbols)

    def subscribe(self, symbol: str | int) -> None:
        """Subscribe to quotes for a contract name or id (now if connected, else on connect)."""
        with self._lock:
            self._symbols.add(symbol)
        if self.socket.state is SocketState.READY:
            self.socket.call("md/subscribeQuote", body={"symbol": symbol})

    def unsubscribe(self, symbol: str | int) -> None:
        """Stop quotes for a contract."""
        with self._lock:
            self._symbols.discard(symbol)
        if self.socket.state is SocketState.READY:
            self.socket.call("md/unsubscribeQuote", body={"symbol": symbol})

    def _resubscribe(self, socket: TradovateSocket) -> None:
        for symbol in sorted(self.symbols, key=str):
            try:
                socket.call("md/subscribeQuote", body={"symbol": symbol})
            except BridgeError as exc:
                logger.warning(
                    "tradovate quote subscription failed",
                    extra={"symbol": symbol, "error": str(exc)},
                )

    def _handle(self, event: Event) -> None:
        if event.kind == "md":
            for quote in parse.quotes(event.data):
                self._on_quote(quote)
        elif event.kind == "shutdown" and self._on_shutdown is not None:
            self._on_shutdown(parse.shutdown(event.data))
