"""webhook.received: published in the gate's admission round trip, and retracted on a 503."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from shared.domain.errors import DependencyUnavailable
from shared.ports import Admission
from shared.services.ingest import RECEIVED, AnnouncingGate, IngestDeps, Ingestor
from shared.strategies import load_strategies
from tests.fakes import FakeGate
from tests.unit.services.test_ingest import SECRET, STRATEGIES, World, alert


class AnnouncingFakeGate(FakeGate):
    """The fake gate, publishing as the Redis script does: with the admission, not after."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.plain_admits = 0
        self.announce_fails = False

    async def admit(self, *args: Any, **kwargs: Any) -> Admission:
        self.plain_admits += 1
        return await super().admit(*args, **kwargs)

    async def admit_announced(
        self,
        strategy_id: str,
        limit_per_min: int,
        dedupe_key: str | None,
        signal_id: str,
        ttl_s: int,
        channel: str,
        event: Mapping[str, Any],
    ) -> Admission:
        answer = await super().admit(strategy_id, limit_per_min, dedupe_key, signal_id, ttl_s)
        if answer.admitted:
            self.events.append((channel, {**event, "signal_id": signal_id, "status": "accepted"}))
        elif answer.duplicate_of is not None:
            dup = {**event, "signal_id": answer.duplicate_of, "status": "duplicate", "messages": 0}
            self.events.append((channel, dup))
        return answer

    async def announce(self, channel: str, event: Mapping[str, Any]) -> None:
        if self.announce_fails:
            raise DependencyUnavailable("redis down")
        self.events.append((channel, dict(event)))


class AnnouncingWorld(World):
    def __init__(self) -> None:
        super().__init__()
        self.gate = AnnouncingFakeGate()
        self.ingestor = Ingestor(
            IngestDeps(
                strategies=load_strategies(STRATEGIES),
                secrets=self.secrets,
                gate=self.gate,
                queue=self.queue,
                journal=self.journal,
                max_body_bytes=4096,
            )
        )


@pytest.fixture
def world() -> World:
    return AnnouncingWorld()


def test_the_fake_is_an_announcing_gate_and_the_plain_one_is_not() -> None:
    assert isinstance(AnnouncingFakeGate(), AnnouncingGate)
    assert not isinstance(FakeGate(), AnnouncingGate)


async def test_accepted_alert_is_announced_with_its_id_and_messages_never_its_secret(
    world: World,
) -> None:
    result = await world.send(alert(alert_id="ev-1"))
    gate = world.gate
    assert isinstance(gate, AnnouncingFakeGate)
    assert gate.plain_admits == 0
    [(channel, event)] = gate.events
    assert channel == RECEIVED == "webhook.received"
    assert event == {
        "strategy": "nq-trend", "signal_id": result.signal_id, "status": "accepted",
        "messages": 2, "format": "native", "correlation_id": "corr-1",
        "received_at": "2026-11-20T15:00:01+00:00",
    }  # fmt: skip
    assert SECRET not in json.dumps(event)


async def test_duplicate_is_announced_with_the_first_alerts_id(world: World) -> None:
    first = await world.send(alert(alert_id="ev-2"))
    again = await world.send(alert(alert_id="ev-2"))
    assert again.status == "duplicate"
    gate = world.gate
    assert isinstance(gate, AnnouncingFakeGate)
    _, event = gate.events[-1]
    assert (event["signal_id"], event["status"], event["messages"]) == (
        first.signal_id, "duplicate", 0,
    )  # fmt: skip


async def test_failed_enqueue_announces_failed_after_accepted(world: World) -> None:
    world.queue.fail_next = DependencyUnavailable("queue down")
    with pytest.raises(DependencyUnavailable):
        await world.send(alert(alert_id="ev-3"))
    gate = world.gate
    assert isinstance(gate, AnnouncingFakeGate)
    assert [e["status"] for _, e in gate.events] == ["accepted", "failed"]
    assert gate.events[1][1]["signal_id"] == gate.events[0][1]["signal_id"]
    assert gate.events[1][1]["messages"] == 0


async def test_failed_resend_of_a_duplicate_announces_failed(world: World) -> None:
    first = await world.send(alert(alert_id="ev-4"))
    world.queue.fail_next = DependencyUnavailable("queue down")
    with pytest.raises(DependencyUnavailable):
        await world.send(alert(alert_id="ev-4"))
    gate = world.gate
    assert isinstance(gate, AnnouncingFakeGate)
    assert [e["status"] for _, e in gate.events] == ["accepted", "duplicate", "failed"]
    assert gate.events[2][1]["signal_id"] == first.signal_id


async def test_a_failed_announcement_never_changes_the_answer(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    gate = world.gate
    assert isinstance(gate, AnnouncingFakeGate)
    gate.announce_fails = True
    world.queue.fail_next = DependencyUnavailable("queue down")
    with pytest.raises(DependencyUnavailable, match="queue down"):
        await world.send(alert(alert_id="ev-5"))
    assert "could not announce" in caplog.text


async def test_a_plain_gate_admits_without_an_event() -> None:
    world = World()
    result = await world.send(alert(alert_id="ev-6"))
    assert result.status == "accepted"
    world.queue.fail_next = DependencyUnavailable("queue down")
    with pytest.raises(DependencyUnavailable):
        await world.send(alert(alert_id="ev-7"))
