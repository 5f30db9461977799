"""Deliver local-queue messages to Service Bus-triggered functions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from azure.functions.servicebus import ServiceBusMessage

from local.devhost.invoke import invoke
from local.devhost.loader import FunctionSpec
from local.queue_processor import SessionProcessor
from shared.adapters.local_queue import LocalQueue, ReceivedMessage


def to_function_message(message: ReceivedMessage, lock_duration_s: float) -> ServiceBusMessage:
    """Build the ``func.ServiceBusMessage`` the worker would pass for this delivery."""
    locked_until = message.enqueued_time + timedelta(seconds=lock_duration_s)
    return ServiceBusMessage(
        body=message.body,
        message_id=message.message_id,
        session_id=message.session_id,
        delivery_count=message.delivery_count,
        sequence_number=message.sequence_number,
        enqueued_sequence_number=message.sequence_number,
        enqueued_time_utc=message.enqueued_time,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time,
        expires_at_utc=message.expires_at,
        locked_until=locked_until,
        lock_token=message.lock_token,
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        application_properties=dict(message.application_properties),
        user_properties=dict(message.application_properties),
        trigger_metadata={
            "MessageId": message.message_id,
            "SessionId": message.session_id,
            "DeliveryCount": message.delivery_count,
            "SequenceNumber": message.sequence_number,
        },
    )


class QueueTrigger:
    """Pump one queue into one Service Bus-triggered function."""

    def __init__(self, spec: FunctionSpec, queue: LocalQueue, max_concurrent_sessions: int) -> None:
        if str(spec.trigger.get("cardinality", "ONE")).upper() != "ONE":
            raise ValueError(f"{spec.name}: only cardinality ONE is supported by the dev host")
        self.spec = spec
        self.queue = queue
        self.delivered = 0
        self._processor = SessionProcessor(
            queue, self._handle, max_concurrent_sessions=max_concurrent_sessions, idle_poll_s=0.5
        )

    async def _handle(self, message: ReceivedMessage) -> None:
        self.delivered += 1
        await invoke(self.spec, to_function_message(message, self.queue.lock_duration_s))

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set."""
        await self._processor.run(stop)
