"""The watchdog's transitions: down once, recovered once, silent without a worker."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.clock import ManualClock
from shared.services.notify.watchdog import Limits, Watchdog, WatchState, observe

T0 = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
LIMITS = Limits(worker_stale_s=60, socket_down_s=30)


def beat(at: datetime, state: str = "live") -> dict[str, Any]:
    return {"at": at.isoformat(), "state": state, "host": "w1", "pid": 1}


class Run:
    """Feed readings one after another and keep every event."""

    def __init__(self) -> None:
        self.state = WatchState()
        self.events: list[Mapping[str, Any]] = []

    def at(self, seconds: float, heartbeat: Mapping[str, Any] | None) -> list[str]:
        self.state, events = observe(self.state, heartbeat, T0 + timedelta(seconds=seconds), LIMITS)
        self.events += [e for _, e in events]
        return [f"{e['check']} {e['status']}" for _, e in events]


def test_a_deployment_without_a_worker_never_alerts() -> None:
    run = Run()
    assert [run.at(s, None) for s in (0, 100, 1000, 100_000)] == [[], [], [], []]


def test_a_worker_that_dies_is_down_once_after_the_limit_then_recovered_once() -> None:
    run = Run()
    assert run.at(0, beat(T0)) == []
    assert run.at(30, beat(T0 + timedelta(seconds=28))) == []
    # Killed after its beat at 28 s: the key expires, the watchdog remembers the beat.
    assert run.at(60, None) == []
    assert run.at(88, None) == []  # silent exactly the limit: not yet
    assert run.at(89, None) == ["worker down"]
    assert run.at(120, None) == []
    assert run.at(600, None) == []
    assert run.at(630, beat(T0 + timedelta(seconds=629))) == ["worker recovered"]
    assert run.at(660, beat(T0 + timedelta(seconds=659))) == []
    down, back = run.events
    assert down["since"] == back["since"] == (T0 + timedelta(seconds=28)).isoformat()
    assert down["host"] == "w1"
    assert "no heartbeat for 61 s" in down["detail"]


def test_a_stale_heartbeat_still_present_counts_as_down() -> None:
    run = Run()
    run.at(0, beat(T0))
    assert run.at(61, beat(T0)) == ["worker down"]  # the same old beat (a hung worker)


def test_a_socket_not_live_for_the_limit_is_down_once_then_recovered() -> None:
    run = Run()
    assert run.at(0, beat(T0, "backoff")) == []
    assert run.at(20, beat(T0 + timedelta(seconds=20), "connecting")) == []
    assert run.at(30, beat(T0 + timedelta(seconds=30), "backoff")) == ["socket down"]
    assert run.at(40, beat(T0 + timedelta(seconds=40), "backoff")) == []
    assert run.at(50, beat(T0 + timedelta(seconds=50), "live")) == ["socket recovered"]
    assert run.at(60, beat(T0 + timedelta(seconds=60), "syncing")) == []
    assert run.at(70, beat(T0 + timedelta(seconds=70), "live")) == []  # back within the limit


def test_a_dead_worker_is_not_also_reported_as_a_socket_down() -> None:
    run = Run()
    run.at(0, beat(T0, "backoff"))
    assert run.at(100, None) == ["worker down"]
    # Back with a socket still connecting: judged afresh, no immediate socket alert.
    assert run.at(110, beat(T0 + timedelta(seconds=110), "connecting")) == ["worker recovered"]
    assert run.at(120, beat(T0 + timedelta(seconds=120), "live")) == []


def test_state_with_a_stored_view_round_trips_and_survives_garbage() -> None:
    state = WatchState(last_beat="t", host="h", worker_down_since="t")
    assert WatchState.loads(state.dumps()) == state
    assert WatchState.loads("not json") == WatchState()
    assert WatchState.loads('{"last_beat": 5, "other": "x"}') == WatchState()


class FakeStore:
    def __init__(self, heartbeat: str | None) -> None:
        self.heartbeat = heartbeat
        self.view: str | None = None
        self.commits: list[Sequence[tuple[str, Mapping[str, Any]]]] = []

    async def read(self) -> tuple[str | None, str | None]:
        return self.heartbeat, self.view

    async def commit(self, state: str, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        self.view = state
        self.commits.append(events)


class FakeLocks:
    def __init__(self, held: bool = False) -> None:
        self.held = held
        self.released: list[str] = []

    async def acquire(self, key: str, ttl_s: float) -> str | None:
        return None if self.held else "token"

    async def release(self, key: str, token: str) -> None:
        self.released.append(key)


async def test_watchdog_run_publishes_each_transition_once_across_runs() -> None:
    clock = ManualClock(T0)
    store, locks = FakeStore(json.dumps(beat(T0))), FakeLocks()
    dog = Watchdog(store, locks, clock, LIMITS)
    assert (await dog.run()).events == ()
    store.heartbeat = None
    clock.advance(61)
    first = await dog.run()
    clock.advance(30)
    second = await dog.run()
    assert [(e["check"], e["status"]) for e in first.events] == [("worker", "down")]
    assert second.events == ()
    assert [c for _, c in [("x", e) for e in store.commits] if c] == [store.commits[1]]
    assert locks.released == ["lock:watchdog"] * 3


async def test_watchdog_run_off_or_locked_does_nothing() -> None:
    store = FakeStore(json.dumps(beat(T0)))
    off = Watchdog(store, FakeLocks(), ManualClock(T0), Limits(0, 30))
    assert (await off.run()).reason == "off (WORKER_STALE_S=0)"
    held = Watchdog(store, FakeLocks(held=True), ManualClock(T0), LIMITS)
    assert not (await held.run()).ran
    assert store.commits == []
