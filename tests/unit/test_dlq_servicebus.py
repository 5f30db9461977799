"""The Service Bus dead-letter adapter at its seam: a fake SDK client records every call.

The fake keeps a dead-letter subqueue with Service Bus's behaviour that the adapter relies on:
peek by sequence number, receive in sequence order skipping locked messages, complete removes,
abandon unlocks and counts a delivery. Received properties arrive as bytes, as the SDK gives them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus.exceptions import ServiceBusConnectionError

from local.services import REPO_ROOT
from shared.adapters.servicebus_dlq import ServiceBusDeadLetters, body_of
from shared.domain.clock import ManualClock
from shared.domain.errors import Conflict, DependencyUnavailable
from shared.services.ops.dead_letters import Replayed, Waiting

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=1)


class FakeReceived:
    """What the SDK hands out for a received (or peeked) dead letter."""

    def __init__(self, seq: int, enqueued: datetime = OLD) -> None:
        self.sequence_number = seq
        self.message_id = f"sig{seq}:DEMO1"
        self.session_id = "DEMO1-NQ"
        self.correlation_id = f"corr-{seq}"
        self.content_type = "application/json"
        self.enqueued_time_utc = enqueued
        self.delivery_count = 5
        self.dead_letter_reason = "MaxDeliveryCountExceeded"
        self.dead_letter_error_description = "order/placeorder failed"
        self.application_properties: dict[Any, Any] = {
            b"strategy": b"trend",
            b"signal_id": f"sig{seq}".encode(),
            b"attempt": 2,
            b"DeadLetterReason": b"MaxDeliveryCountExceeded",
            b"DeadLetterErrorDescription": b"order/placeorder failed",
        }
        self._body = f'{{"signal_id":"sig{seq}"}}'.encode()

    @property
    def body(self) -> Iterator[bytes]:
        return iter([self._body[:5], self._body[5:]])  # the SDK yields data sections


class FakeSubQueue:
    def __init__(self, *messages: FakeReceived) -> None:
        self.messages = {m.sequence_number: m for m in messages}
        self.locked: set[int] = set()
        self.log: list[tuple[str, Any]] = []
        self.fail_complete = False


class FakeReceiver:
    def __init__(self, queue: FakeSubQueue) -> None:
        self.q = queue
        self.closed = False

    async def peek_messages(
        self,
        max_message_count: int,
        *,
        sequence_number: int,
        timeout: float,  # noqa: ASYNC109 - mirrors the SDK signature
    ) -> list[FakeReceived]:
        self.q.log.append(("peek", (sequence_number, max_message_count)))
        found = [self.q.messages[n] for n in sorted(self.q.messages) if n >= sequence_number]
        return found[:max_message_count]

    async def receive_messages(
        self, max_message_count: int = 1, max_wait_time: float | None = None
    ) -> list[FakeReceived]:
        free = [n for n in sorted(self.q.messages) if n not in self.q.locked][:max_message_count]
        self.q.locked.update(free)
        self.q.log.append(("receive", tuple(free)))
        return [self.q.messages[n] for n in free]

    async def complete_message(self, message: FakeReceived) -> None:
        if self.q.fail_complete:
            raise ServiceBusConnectionError(message="link detached")
        self.q.log.append(("complete", message.sequence_number))
        self.q.locked.discard(message.sequence_number)
        del self.q.messages[message.sequence_number]

    async def abandon_message(self, message: FakeReceived) -> None:
        self.q.log.append(("abandon", message.sequence_number))
        self.q.locked.discard(message.sequence_number)
        message.delivery_count += 1

    async def close(self) -> None:
        self.closed = True


class FakeSender:
    def __init__(self, queue: FakeSubQueue) -> None:
        self.q = queue
        self.sent: list[ServiceBusMessage] = []

    async def send_messages(self, message: ServiceBusMessage, timeout: float) -> None:  # noqa: ASYNC109 - mirrors the SDK signature
        self.q.log.append(("send", message.message_id))
        self.sent.append(message)

    async def close(self) -> None:
        return None


class FakeClient:
    def __init__(self, queue: FakeSubQueue) -> None:
        self.q = queue
        self.receivers: list[dict[str, Any]] = []
        self.sender = FakeSender(queue)
        self.sender_queues: list[str] = []
        self.closed = False
        self.fail_with: Exception | None = None

    def get_queue_receiver(self, queue_name: str, **kwargs: Any) -> FakeReceiver:
        if self.fail_with is not None:
            raise self.fail_with
        self.receivers.append({"queue_name": queue_name, **kwargs})
        return FakeReceiver(self.q)

    def get_queue_sender(self, queue_name: str) -> FakeSender:
        self.sender_queues.append(queue_name)
        return self.sender

    async def close(self) -> None:
        self.closed = True


def adapter(
    *messages: FakeReceived, window_s: float = 600
) -> tuple[ServiceBusDeadLetters, FakeClient]:
    client = FakeClient(FakeSubQueue(*messages))
    made: list[FakeClient] = []

    def factory() -> Any:
        made.append(client)
        return client

    letters = ServiceBusDeadLetters(
        "signals", factory, ManualClock(NOW), duplicate_window_s=600, batch_size=2,
        receive_wait_s=0.01,
    )  # fmt: skip
    return letters, client


def steps(client: FakeClient, *kinds: str) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in client.q.log if k in kinds]


async def test_replay_sends_a_copy_with_every_field_then_completes_only_the_target() -> None:
    letters, client = adapter(*(FakeReceived(n) for n in (10, 11, 12, 13)))
    outcome = await letters.replay(12)
    assert isinstance(outcome, Replayed)
    assert (outcome.letter.sequence_number, outcome.removed) == (12, True)
    [copy] = client.sender.sent
    assert (copy.message_id, copy.session_id) == ("sig12:DEMO1", "DEMO1-NQ")
    assert (copy.correlation_id, copy.content_type) == ("corr-12", "application/json")
    assert copy.application_properties == {"strategy": "trend", "signal_id": "sig12", "attempt": 2}
    assert b"".join(copy.body) == b'{"signal_id":"sig12"}'
    assert client.sender_queues == ["signals"]
    # In order: the batches up to the target, its copy sent, it completed, the others let go.
    assert steps(client, "receive", "send", "complete", "abandon") == [
        ("receive", (10, 11)), ("receive", (12, 13)), ("send", "sig12:DEMO1"),
        ("complete", 12), ("abandon", 10), ("abandon", 11), ("abandon", 13),
    ]  # fmt: skip
    assert sorted(client.q.messages) == [10, 11, 13]
    assert client.q.locked == set()
    [opened] = client.receivers
    assert opened == {
        "queue_name": "signals",
        "sub_queue": ServiceBusSubQueue.DEAD_LETTER,
        "receive_mode": ServiceBusReceiveMode.PEEK_LOCK,
        "prefetch_count": 0,
    }


async def test_replay_inside_the_duplicate_window_waits_and_touches_nothing() -> None:
    young = FakeReceived(5, enqueued=NOW - timedelta(minutes=3))
    letters, client = adapter(young)
    outcome = await letters.replay(5)
    assert isinstance(outcome, Waiting)
    assert outcome.replayable_at == young.enqueued_time_utc + timedelta(minutes=10, seconds=5)
    assert steps(client, "receive", "send", "complete", "abandon") == []
    assert client.sender.sent == []


async def test_replay_of_a_sequence_number_not_dead_lettered_is_none_and_sends_nothing() -> None:
    letters, client = adapter(FakeReceived(3), FakeReceived(9))
    assert await letters.replay(4) is None
    assert client.sender.sent == []
    assert steps(client, "receive") == []


async def test_replay_of_a_target_another_receiver_holds_is_a_conflict() -> None:
    letters, client = adapter(*(FakeReceived(n) for n in (1, 2, 3)))
    client.q.locked.add(2)
    with pytest.raises(Conflict) as info:
        await letters.replay(2)
    assert info.value.code == "dead_letter_locked"
    assert client.sender.sent == []
    assert steps(client, "abandon") == [("abandon", 1), ("abandon", 3)]


async def test_replay_whose_completion_fails_reports_the_copy_sent_but_not_removed() -> None:
    letters, client = adapter(FakeReceived(7))
    client.q.fail_complete = True
    outcome = await letters.replay(7)
    assert isinstance(outcome, Replayed)
    assert outcome.removed is False
    assert [m.message_id for m in client.sender.sent] == ["sig7:DEMO1"]
    assert 7 in client.q.messages


async def test_purge_completes_the_target_without_sending() -> None:
    letters, client = adapter(FakeReceived(1), FakeReceived(2))
    purged = await letters.purge(2)
    assert purged is not None
    assert purged.message_id == "sig2:DEMO1"
    assert client.sender.sent == []
    assert steps(client, "complete", "abandon") == [("complete", 2), ("abandon", 1)]
    assert await letters.purge(2) is None


async def test_replay_all_sends_the_old_abandons_the_young_and_respects_the_limit() -> None:
    young = FakeReceived(2, enqueued=NOW - timedelta(minutes=1))
    letters, client = adapter(FakeReceived(1), young, FakeReceived(3), FakeReceived(4))
    batch = await letters.replay_all(limit=2)
    assert [r.letter.sequence_number for r in batch.replayed] == [1, 3]
    assert [w.letter.sequence_number for w in batch.waiting] == [2]
    assert [m.message_id for m in client.sender.sent] == ["sig1:DEMO1", "sig3:DEMO1"]
    assert sorted(client.q.messages) == [2, 4]
    assert client.q.locked == set()


async def test_browse_pages_through_peek_and_reads_the_dead_letter_fields() -> None:
    letters, client = adapter(*(FakeReceived(n) for n in range(1, 8)))
    found = await letters.browse(after=2, limit=4)
    assert [x.sequence_number for x in found] == [3, 4, 5, 6]
    first = found[0]
    assert (first.reason, first.description) == (
        "MaxDeliveryCountExceeded",
        "order/placeorder failed",
    )
    assert first.application_properties == {"strategy": "trend", "signal_id": "sig3", "attempt": 2}
    assert first.body == b'{"signal_id":"sig3"}'
    assert (first.enqueued_at, first.dead_lettered_at) == (OLD, None)
    assert steps(client, "peek")[0] == ("peek", (3, 4))
    assert (await letters.inspect(5)) is not None
    assert await letters.inspect(99) is None
    counted = await letters.count()
    assert (counted.total, counted.exact) == (7, True)
    assert steps(client, "receive", "complete", "abandon", "send") == []  # browsing changes nothing


async def test_a_service_bus_failure_is_dependency_unavailable_and_starts_afresh() -> None:
    letters, client = adapter(FakeReceived(1))
    client.fail_with = ServiceBusConnectionError(message="namespace unreachable")
    with pytest.raises(DependencyUnavailable) as info:
        await letters.browse(after=None, limit=10)
    assert "Service Bus" in info.value.message
    assert client.closed is True
    client.fail_with = None
    assert [x.sequence_number for x in await letters.browse(after=None, limit=10)] == [1]


def test_body_of_accepts_bytes_text_and_sections() -> None:
    class Holder:
        def __init__(self, body: Any) -> None:
            self.body = body

    assert body_of(Holder(b"ab")) == b"ab"  # type: ignore[arg-type]
    assert body_of(Holder("ab")) == b"ab"  # type: ignore[arg-type]
    assert body_of(Holder(iter([b"a", b"b"]))) == b"ab"  # type: ignore[arg-type]


def test_importing_the_adapter_loads_no_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, shared.adapters.servicebus_dlq; "
        "print(sorted(m for m in sys.modules if m.startswith('azure')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
