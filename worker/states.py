"""Name the worker's connection states and the only transitions allowed between them.

::

    disconnected ─▶ connecting ─▶ authorizing ─▶ syncing ─▶ live
                        ▲  │            │            │        │
                        │  ▼            ▼            ▼        ▼
                        └── backoff ◀───┴────────────┴────────┘
                              │
    any ──▶ stopped_auth_failure (token refused twice / login impossible: alert, no retry)
    any ──▶ stopped (SIGTERM)

``syncing`` means authorized but the ``user/syncrequest`` snapshot is not applied yet; only
``live`` lets ``worker:sync`` say ``synced``. The socket client (``TradovateSocket``) drives
connecting / authorizing / ready / reconnecting; the worker adds syncing → live on top.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from shared.adapters.tradovate.ws import SocketState

logger = logging.getLogger(__name__)


class WorkerState(StrEnum):
    """Say where one socket of the worker stands."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    AUTHORIZING = "authorizing"
    SYNCING = "syncing"
    LIVE = "live"
    BACKOFF = "backoff"
    STOPPED_AUTH_FAILURE = "stopped_auth_failure"
    STOPPED = "stopped"


S = WorkerState
_ENDINGS = frozenset({S.BACKOFF, S.STOPPED, S.STOPPED_AUTH_FAILURE})
ALLOWED: dict[WorkerState, frozenset[WorkerState]] = {
    S.DISCONNECTED: frozenset({S.CONNECTING, S.STOPPED, S.STOPPED_AUTH_FAILURE}),
    S.CONNECTING: frozenset({S.AUTHORIZING}) | _ENDINGS,
    S.AUTHORIZING: frozenset({S.SYNCING}) | _ENDINGS,
    S.SYNCING: frozenset({S.LIVE}) | _ENDINGS,
    S.LIVE: frozenset({S.SYNCING}) | _ENDINGS,
    S.BACKOFF: frozenset({S.CONNECTING, S.STOPPED, S.STOPPED_AUTH_FAILURE}),
    S.STOPPED_AUTH_FAILURE: frozenset({S.STOPPED}),
    S.STOPPED: frozenset(),
}

# What the socket client's own states mean for the worker (READY = authorized, not synced).
FROM_SOCKET: dict[SocketState, WorkerState] = {
    SocketState.NEW: S.DISCONNECTED,
    SocketState.CONNECTING: S.CONNECTING,
    SocketState.AUTHORIZING: S.AUTHORIZING,
    SocketState.READY: S.SYNCING,
    SocketState.RECONNECTING: S.BACKOFF,
    SocketState.FAILED: S.STOPPED_AUTH_FAILURE,
    SocketState.STOPPED: S.STOPPED,
}


@dataclass(frozen=True, slots=True)
class Transition:
    """Record one state change of one socket."""

    socket: str
    previous: WorkerState
    state: WorkerState
    at: datetime
    reason: str | None = None
    allowed: bool = True

    def payload(self) -> dict[str, object]:
        """Describe the transition for the ``ws.state`` event."""
        return {
            "socket": self.socket,
            "state": self.state.value,
            "previous": self.previous.value,
            "reason": self.reason,
        }


class StateMachine:
    """Hold one socket's state, count attempts, and report every transition."""

    def __init__(
        self, socket: str, on_transition: Callable[[Transition], None] | None = None
    ) -> None:
        self.socket = socket
        self.state = S.DISCONNECTED
        self.since = time.monotonic()
        self.attempts = 0
        self.syncs = 0
        self.illegal = 0
        self._on_transition = on_transition

    def move(self, state: WorkerState, reason: str | None = None) -> Transition | None:
        """Enter ``state``; an unexpected transition is logged and counted, then followed."""
        if state is self.state:
            return None
        allowed = state in ALLOWED[self.state]
        if not allowed:
            # The socket's view is the truth; a transition we did not foresee is a bug to see.
            self.illegal += 1
            logger.error(
                "unexpected worker state transition %s -> %s on %s",
                self.state.value,
                state.value,
                self.socket,
            )
        transition = Transition(self.socket, self.state, state, datetime.now(UTC), reason, allowed)
        self.state, self.since = state, time.monotonic()
        if state is S.CONNECTING:
            self.attempts += 1
        elif state is S.LIVE:
            self.syncs += 1
        if self._on_transition is not None:
            self._on_transition(transition)
        return transition

    @property
    def stopped(self) -> bool:
        """Tell whether the socket will not reconnect by itself."""
        return self.state in (S.STOPPED, S.STOPPED_AUTH_FAILURE)

    def seconds_in_state(self) -> float:
        """Return how long the current state has lasted."""
        return time.monotonic() - self.since
