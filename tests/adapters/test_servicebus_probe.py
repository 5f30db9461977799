"""The Service Bus queue's readiness probe at its seam: the sender's link opens, or 503."""

from __future__ import annotations

import pytest
from azure.servicebus.exceptions import ServiceBusAuthorizationError

from shared.adapters.servicebus import ServiceBusSignalQueue
from shared.domain.errors import DependencyUnavailable


class Sender:
    def __init__(self, error: Exception | None) -> None:
        self.error, self.batches, self.closed = error, 0, False

    async def create_message_batch(self) -> object:
        if self.error is not None:
            raise self.error
        self.batches += 1
        return object()

    async def close(self) -> None:
        self.closed = True


class Client:
    def __init__(self, sender: Sender) -> None:
        self.sender, self.closed = sender, False

    def get_queue_sender(self, queue_name: str) -> Sender:
        return self.sender

    async def close(self) -> None:
        self.closed = True


async def test_probe_opens_the_sender_link_without_sending() -> None:
    sender = Sender(None)
    queue = ServiceBusSignalQueue("signals", lambda: Client(sender))  # type: ignore[arg-type,return-value]
    await queue.probe()
    await queue.probe()
    assert sender.batches == 2


async def test_probe_refused_is_dependency_unavailable_and_starts_afresh() -> None:
    sender = Sender(ServiceBusAuthorizationError(message="no Send claim"))
    client = Client(sender)
    queue = ServiceBusSignalQueue("signals", lambda: client)  # type: ignore[arg-type,return-value]
    with pytest.raises(DependencyUnavailable) as info:
        await queue.probe()
    assert "ServiceBusAuthorizationError" in info.value.message
    assert sender.closed
    assert client.closed
