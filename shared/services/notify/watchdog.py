"""Watch the worker from outside and publish ``system.health`` on each transition.

The ``watchdog`` timer reads ``worker:heartbeat`` (``{"at", "state", "host", ...}``, written
every 2 s by the worker with a short TTL) and its own last view (``{notify}:watchdog``), and
publishes one event per change:

- **worker** ``down`` when the newest heartbeat it has seen is older than ``WORKER_STALE_S``
  (a dead worker stops writing; its key expires, but the watchdog remembers when it last beat),
  ``recovered`` when a fresh heartbeat comes back;
- **socket** ``down`` when a fresh heartbeat has said the trading socket is not ``live`` for
  ``SOCKET_DOWN_S`` (measured from the first run that saw it so), ``recovered`` once it is.

Nothing is published until a heartbeat has been seen once, so the lean deployment (no worker)
never alerts; ``WORKER_STALE_S=0`` turns both checks off. The new view and the events are
written together (``WatchStore.commit``), and one run at a time holds a lock, so a transition
is published exactly once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from shared import redis_keys as keys
from shared.ports import Clock

log = logging.getLogger(__name__)

CHANNEL = "system.health"
LIVE = "live"
_LOCK_TTL_S = 30.0

Event = tuple[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Limits:
    """How long the heartbeat may be silent, and the socket not live, before an alert."""

    worker_stale_s: float
    socket_down_s: float


@dataclass(frozen=True, slots=True)
class WatchState:
    """What the watchdog knows between runs (ISO times)."""

    last_beat: str | None = None
    host: str | None = None
    worker_down_since: str | None = None
    socket_bad_since: str | None = None
    socket_down_since: str | None = None

    def dumps(self) -> str:
        """Serialise for ``{notify}:watchdog``."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | None) -> WatchState:
        """Read the stored view; anything unreadable starts afresh."""
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(**{k: v if isinstance(v, str) else None for k, v in known.items()})


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def parse_heartbeat(raw: str | None) -> dict[str, Any] | None:
    """Return the heartbeat document if it is readable and has a time."""
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and _time(doc.get("at")) is not None else None


def _seconds(later: datetime, earlier: str | None) -> float:
    start = _time(earlier)
    return 0.0 if start is None else (later - start).total_seconds()


def _worker(
    state: WatchState, fresh: bool, now: datetime, limits: Limits
) -> tuple[WatchState, list[Event]]:
    silent_s = _seconds(now, state.last_beat)
    if not fresh and state.worker_down_since is None and silent_s > limits.worker_stale_s:
        event = {
            "check": "worker",
            "status": "down",
            "since": state.last_beat,
            "host": state.host,
            "detail": f"no heartbeat for {silent_s:.0f} s (limit {limits.worker_stale_s:g} s)",
        }
        # A socket that was failing when the worker died is judged afresh when it is back.
        state = replace(state, worker_down_since=state.last_beat, socket_bad_since=None)
        return state, [(CHANNEL, event)]
    if fresh and state.worker_down_since is not None:
        event = {
            "check": "worker",
            "status": "recovered",
            "since": state.worker_down_since,
            "host": state.host,
            "detail": f"heartbeat back after {_seconds(now, state.worker_down_since):.0f} s",
        }
        return replace(state, worker_down_since=None), [(CHANNEL, event)]
    return state, []


def _socket(
    state: WatchState, socket: str, now: datetime, limits: Limits
) -> tuple[WatchState, list[Event]]:
    if socket == LIVE:
        if state.socket_down_since is None:
            return replace(state, socket_bad_since=None), []
        down_s = _seconds(now, state.socket_down_since)
        event = {
            "check": "socket",
            "status": "recovered",
            "since": state.socket_down_since,
            "state": socket,
            "detail": f"trading socket live again after {down_s:.0f} s",
        }
        return replace(state, socket_bad_since=None, socket_down_since=None), [(CHANNEL, event)]
    bad_since = state.socket_bad_since or now.isoformat()
    state = replace(state, socket_bad_since=bad_since)
    bad_s = _seconds(now, bad_since)
    if state.socket_down_since is not None or bad_s < limits.socket_down_s:
        return state, []
    event = {
        "check": "socket",
        "status": "down",
        "since": bad_since,
        "state": socket,
        "detail": f"trading socket {socket} for {bad_s:.0f} s (limit {limits.socket_down_s:g} s)",
    }
    return replace(state, socket_down_since=bad_since), [(CHANNEL, event)]


def observe(
    state: WatchState, heartbeat: Mapping[str, Any] | None, now: datetime, limits: Limits
) -> tuple[WatchState, list[Event]]:
    """Fold one reading of the heartbeat into the view; return it and the events to publish."""
    if heartbeat is not None:
        beat = _time(heartbeat.get("at"))
        newest = _time(state.last_beat)
        if beat is not None and (newest is None or beat > newest):
            host = heartbeat.get("host")
            state = replace(
                state, last_beat=beat.isoformat(), host=host if isinstance(host, str) else None
            )
    if state.last_beat is None:
        return state, []  # never seen a worker: the lean deployment has none
    fresh = heartbeat is not None and _seconds(now, state.last_beat) <= limits.worker_stale_s
    state, events = _worker(state, fresh, now, limits)
    if fresh and heartbeat is not None:
        state, more = _socket(state, str(heartbeat.get("state", "")), now, limits)
        events += more
    return state, [(channel, {**event, "at": now.isoformat()}) for channel, event in events]


class WatchStore(Protocol):
    """The watchdog's Redis: one read, and one atomic write of the view with its events."""

    async def read(self) -> tuple[str | None, str | None]:
        """Return the raw heartbeat and the stored view."""
        ...

    async def commit(self, state: str, events: Sequence[Event]) -> None:
        """Store the view and publish the events (each also on the feed), atomically."""
        ...


class Locks(Protocol):
    """Owner-only locks (``shared.adapters.redis_timers.RedisTimerStore``)."""

    async def acquire(self, key: str, ttl_s: float) -> str | None:
        """Take ``key``; return the owner token, or None when held."""
        ...

    async def release(self, key: str, token: str) -> None:
        """Release ``key`` if ``token`` still owns it."""
        ...


@dataclass(frozen=True, slots=True)
class WatchReport:
    """Say whether the run happened and what it published."""

    ran: bool
    events: tuple[Mapping[str, Any], ...] = ()
    reason: str | None = None


class Watchdog:
    """Run one watchdog pass."""

    def __init__(self, store: WatchStore, locks: Locks, clock: Clock, limits: Limits) -> None:
        self._store = store
        self._locks = locks
        self._clock = clock
        self._limits = limits

    async def run(self) -> WatchReport:
        """Read the heartbeat, publish the transitions it shows, and remember the view."""
        if self._limits.worker_stale_s <= 0:
            return WatchReport(False, reason="off (WORKER_STALE_S=0)")
        token = await self._locks.acquire(keys.NOTIFY_WATCHDOG_LOCK, _LOCK_TTL_S)
        if token is None:
            return WatchReport(False, reason="another run holds the lock")
        try:
            raw_beat, raw_state = await self._store.read()
            previous = WatchState.loads(raw_state)
            state, events = observe(
                previous, parse_heartbeat(raw_beat), self._clock.now(), self._limits
            )
            if state != previous or events:
                await self._store.commit(state.dumps(), events)
            for _, event in events:
                log.warning(
                    "watchdog: %s %s (%s)", event["check"], event["status"], event["detail"]
                )
            return WatchReport(True, tuple(event for _, event in events))
        finally:
            await self._locks.release(keys.NOTIFY_WATCHDOG_LOCK, token)
