"""The Service Bus adapter at its seam: real SDK message objects, a recording sender."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import MessageSizeExceededError, ServiceBusConnectionError

from local.services import REPO_ROOT
from shared.adapters.servicebus import ServiceBusSignalQueue, build_client, to_sdk_message
from shared.domain.errors import DependencyUnavailable, InvalidSignal
from shared.ports import OutboundMessage


class RecordingSender:
    def __init__(self, fail_with: Exception | None = None) -> None:
        self.batches: list[list[ServiceBusMessage]] = []
        self.timeouts: list[float] = []
        self.fail_with = fail_with
        self.in_flight = 0
        self.peak_in_flight = 0
        self.closed = False

    async def send_messages(self, messages: list[ServiceBusMessage], timeout: float) -> None:  # noqa: ASYNC109 - mirrors the SDK signature
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        if self.fail_with is not None:
            raise self.fail_with
        self.batches.append(messages)
        self.timeouts.append(timeout)

    async def close(self) -> None:
        self.closed = True


class RecordingClient:
    def __init__(self, sender: RecordingSender) -> None:
        self.sender = sender
        self.queue_names: list[str] = []
        self.closed = False

    def get_queue_sender(self, queue_name: str) -> RecordingSender:
        self.queue_names.append(queue_name)
        return self.sender

    async def close(self) -> None:
        self.closed = True


def message(mid: str = "sig-1:acct-1", **kw: Any) -> OutboundMessage:
    return OutboundMessage(body=b'{"a":1}', message_id=mid, session_id="10001-NQ", **kw)


def test_to_sdk_message_with_all_fields_copies_each_one() -> None:
    due = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    sdk = to_sdk_message(
        message(
            correlation_id="corr-9",
            application_properties={"strategy": "nq-trend", "attempt": 1},
            time_to_live=timedelta(minutes=30),
            scheduled_enqueue_time=due,
        )
    )
    assert sdk.message_id == "sig-1:acct-1"
    assert sdk.session_id == "10001-NQ"
    assert sdk.correlation_id == "corr-9"
    assert sdk.content_type == "application/json"
    assert sdk.application_properties == {"strategy": "nq-trend", "attempt": 1}
    assert sdk.time_to_live == timedelta(minutes=30)
    assert sdk.scheduled_enqueue_time_utc == due
    assert b"".join(sdk.body) == b'{"a":1}'


async def test_send_with_many_calls_uses_one_client_and_sender() -> None:
    sender = RecordingSender()
    made: list[RecordingClient] = []

    def factory() -> Any:
        made.append(RecordingClient(sender))
        return made[-1]

    queue = ServiceBusSignalQueue("signals", factory, send_timeout_s=1.5)
    await asyncio.gather(*(queue.send([message(f"m{i}")]) for i in range(40)))
    assert len(made) == 1
    assert made[0].queue_names == ["signals"]
    assert len(sender.batches) == 40
    assert sender.peak_in_flight == 1  # the SDK sender is not coroutine-safe
    assert set(sender.timeouts) == {1.5}
    await queue.close()
    assert sender.closed
    assert made[0].closed


async def test_send_with_several_messages_sends_one_batch() -> None:
    sender = RecordingSender()
    queue = ServiceBusSignalQueue("signals", lambda: RecordingClient(sender))  # type: ignore[arg-type,return-value]
    await queue.send([message("a"), message("b"), message("c")])
    assert [[m.message_id for m in batch] for batch in sender.batches] == [["a", "b", "c"]]


async def test_send_with_connection_error_raises_unavailable_and_reconnects() -> None:
    broken = RecordingSender(fail_with=ServiceBusConnectionError(message="link detached"))
    healthy = RecordingSender()
    clients = [RecordingClient(broken), RecordingClient(healthy)]
    queue = ServiceBusSignalQueue("signals", lambda: clients.pop(0))  # type: ignore[arg-type,return-value]
    with pytest.raises(DependencyUnavailable) as info:
        await queue.send([message()])
    assert "ServiceBusConnectionError" in info.value.message
    assert broken.closed
    await queue.send([message()])
    assert len(healthy.batches) == 1


async def test_send_with_oversized_message_is_invalid_not_unavailable() -> None:
    sender = RecordingSender(fail_with=MessageSizeExceededError(message="too big"))
    queue = ServiceBusSignalQueue("signals", lambda: RecordingClient(sender))  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidSignal) as info:
        await queue.send([message()])
    assert info.value.code == "message_too_large"


async def test_send_with_nothing_does_not_create_a_client() -> None:
    def factory() -> Any:
        raise AssertionError("no client should be built")

    await ServiceBusSignalQueue("signals", factory).send([])


async def test_build_client_with_connection_string_targets_its_namespace() -> None:
    client = build_client(
        fully_qualified_namespace=None,
        connection_string="Endpoint=sb://tb-example.servicebus.windows.net/;"
        "SharedAccessKeyName=send;SharedAccessKey=not-a-real-key",
        client_id=None,
    )
    assert client.fully_qualified_namespace == "tb-example.servicebus.windows.net"
    await client.close()


async def test_build_client_with_namespace_uses_managed_identity() -> None:
    from azure.identity.aio import DefaultAzureCredential

    client = build_client(
        fully_qualified_namespace="tb-example.servicebus.windows.net",
        connection_string=None,
        client_id="00000000-0000-0000-0000-000000000001",
    )
    assert client.fully_qualified_namespace == "tb-example.servicebus.windows.net"
    assert isinstance(client._credential, DefaultAzureCredential)
    await client.close()
    await client._credential.close()


def test_build_client_without_namespace_or_connection_is_unavailable() -> None:
    with pytest.raises(DependencyUnavailable) as info:
        build_client(fully_qualified_namespace=None, connection_string=None, client_id=None)
    assert info.value.code == "queue_not_configured"


def test_importing_the_adapter_loads_no_azure_sdk() -> None:
    code = (
        "import sys, shared.adapters.servicebus;"
        "prefixes = ('azure.servicebus', 'azure.identity');"
        "print(sorted(m for m in sys.modules if m.startswith(prefixes)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
