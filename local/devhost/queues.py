"""Deliver local-queue messages to Service Bus-triggered functions."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.functions.servicebus import ServiceBusMessage

from local.devhost.invoke import invoke
from local.devhost.loader import FunctionSpec
from local.queue_processor import DEFAULT_MAX_LOCK_RENEWAL_S, SessionProcessor
from shared.adapters.local_queue import LocalQueue, ReceivedMessage

# The longest the pump sleeps without news. It wakes at once on a send (a token pushed by the
# send script, popped by a blocking BLPOP) and on time for a scheduled message or a lapsed
# session lock (``LocalQueue.next_wake_s``); this cap only bounds what nothing announces.
IDLE_WAIT_CAP_S = 5.0

_TIMESPAN = re.compile(r"(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)")


def timespan_s(value: str) -> float:
    """Read a host.json TimeSpan (``[-][d.]hh:mm:ss[.fff]``) as seconds; negative = infinite.

    ``maxAutoLockRenewalDuration`` uses ``-00:00:00.0010000`` for "renew for ever"
    (ServiceBusOptions.cs), which comes back as ``inf``.
    """
    match = _TIMESPAN.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not a TimeSpan: {value!r}")
    sign, days, hours, minutes, seconds = match.groups()
    if sign:
        return float("inf")
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def max_lock_renewal_s(service_bus: Mapping[str, Any]) -> float:
    """Return host.json ``extensions.serviceBus.maxAutoLockRenewalDuration`` in seconds."""
    value = service_bus.get("maxAutoLockRenewalDuration")
    return DEFAULT_MAX_LOCK_RENEWAL_S if value is None else timespan_s(str(value))


def to_function_message(message: ReceivedMessage, lock_duration_s: float) -> ServiceBusMessage:
    """Build the ``func.ServiceBusMessage`` the worker would pass for this delivery."""
    # When this delivery's lock runs out unless renewed (the receive time plus the lock).
    locked_until = message.locked_until or datetime.now(UTC) + timedelta(seconds=lock_duration_s)
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

    def __init__(
        self,
        spec: FunctionSpec,
        queue: LocalQueue,
        max_concurrent_sessions: int,
        *,
        max_lock_renewal_s: float = DEFAULT_MAX_LOCK_RENEWAL_S,
    ) -> None:
        if str(spec.trigger.get("cardinality", "ONE")).upper() != "ONE":
            raise ValueError(f"{spec.name}: only cardinality ONE is supported by the dev host")
        self.spec = spec
        self.queue = queue
        self.delivered = 0
        self.max_concurrent_sessions = max_concurrent_sessions
        # The session lock is renewed while the function runs, like the Functions host does
        # up to host.json maxAutoLockRenewalDuration, so a slow order keeps its session.
        self._processor = SessionProcessor(
            queue,
            self._handle,
            max_concurrent_sessions=max_concurrent_sessions,
            idle_poll_s=IDLE_WAIT_CAP_S,
            max_lock_renewal_s=max_lock_renewal_s,
        )

    async def _handle(self, message: ReceivedMessage) -> None:
        self.delivered += 1
        await invoke(self.spec, to_function_message(message, self.queue.lock_duration_s))

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set."""
        await self._processor.run(stop)
