"""The worker's state machine: allowed transitions, attempt counting, illegal moves seen."""

from __future__ import annotations

import pytest

from shared.adapters.tradovate.ws import SocketState
from worker.states import ALLOWED, FROM_SOCKET, StateMachine, Transition, WorkerState

S = WorkerState


def test_state_machine_with_normal_session_counts_attempts_and_syncs() -> None:
    seen: list[Transition] = []
    machine = StateMachine("trading", seen.append)
    for state in (S.CONNECTING, S.AUTHORIZING, S.SYNCING, S.LIVE, S.BACKOFF, S.CONNECTING):
        machine.move(state)
    assert machine.move(S.CONNECTING) is None  # same state: no transition
    assert (machine.attempts, machine.syncs, machine.illegal) == (2, 1, 0)
    assert [t.state for t in seen] == [
        S.CONNECTING,
        S.AUTHORIZING,
        S.SYNCING,
        S.LIVE,
        S.BACKOFF,
        S.CONNECTING,
    ]
    assert seen[3].payload() == {
        "socket": "trading",
        "state": "live",
        "previous": "syncing",
        "reason": None,
    }
    assert machine.seconds_in_state() >= 0
    assert not machine.stopped


def test_state_machine_with_unexpected_transition_follows_and_counts_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    machine = StateMachine("trading")
    transition = machine.move(S.LIVE, "skipped ahead")
    assert transition is not None
    assert not transition.allowed
    assert machine.illegal == 1
    assert machine.state is S.LIVE
    assert "disconnected -> live" in caplog.text


def test_stopped_states_end_the_machine() -> None:
    machine = StateMachine("md")
    machine.move(S.STOPPED_AUTH_FAILURE, "refused")
    assert machine.stopped
    assert ALLOWED[S.STOPPED] == frozenset()


def test_every_socket_state_maps_to_a_worker_state() -> None:
    assert set(FROM_SOCKET) == set(SocketState)
    assert FROM_SOCKET[SocketState.READY] is S.SYNCING  # authorized is not yet synced
