"""The signals queue's dead letters on Azure Service Bus (the ``DeadLetters`` port).

Everything goes through a receiver on the queue's dead-letter subqueue
(``sub_queue=DEAD_LETTER``, ``PEEK_LOCK``; that subqueue has no sessions, even on a session
queue) and, for a replay, the queue's sender. The client signs in like the signals sender
(``shared.adapters.servicebus.build_client``: the managed identity, or a connection string
locally); the function app's "Azure Service Bus Data Receiver" role on the queue covers its
dead-letter subqueue. The SDK is imported on first use, never at import (cold start).

- **List, inspect, count** browse (``peek_messages``): nothing is locked or changed. Ids are
  sequence numbers, which dead-lettering keeps. Service Bus has no dead-lettered time, so
  ``dead_lettered_at`` is None here. A count browses too, up to ``SCAN_MAX``: the exact count
  (``deadLetterMessageCount``) needs the management API's Manage right, which the app does not
  hold on purpose.
- **Replay / purge one.** Service Bus cannot receive one message of a dead-letter queue by id
  (``receive_deferred_messages`` only finds deferred ones), so the receiver takes messages in
  order, in batches, until it holds the target, keeping the others locked so they are not
  handed out again; then it sends a copy of the target (a replay), completes it, and abandons
  the rest. Cost: the messages ahead of the target are received too, one round trip per batch
  of ``batch_size``, and each abandon raises its delivery count by one (a dead letter is never
  dead-lettered again for that). A target another receiver holds cannot be received: 409
  ``dead_letter_locked``, try again after the lock duration.
- **Replay all** receives up to ``limit`` messages in batches; each one outside the duplicate-
  detection window is sent and completed; the others stay locked until the end, then are
  abandoned and reported as waiting.
- **The copy** keeps the body, MessageId, SessionId, correlation id, content type and
  application properties (minus ``DeadLetterReason``/``DeadLetterErrorDescription``, which
  Service Bus adds); Service Bus gives it a new sequence number, enqueued time and the queue's
  time-to-live. It is sent before the dead letter is completed: if the completion fails, the
  dead letter stays and the answer says so (``removed: false``); replaying it again is safe,
  the executor's ledger keeps the signal exactly-once.
- **Duplicate detection.** A copy whose MessageId was sent within ``duplicate_window_s``
  (enqueued time + window, plus a margin for clock skew) would be accepted and dropped; such a
  dead letter is not replayed but reported waiting with ``replayable_at``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.domain.errors import Conflict, DependencyUnavailable
from shared.ports import Clock, PropertyValue
from shared.services.ops.dead_letters import (
    DeadLetterCount,
    DeadLetteredMessage,
    ReplayBatch,
    Replayed,
    Waiting,
)

if TYPE_CHECKING:
    from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage
    from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver

log = logging.getLogger(__name__)

ClientFactory = Callable[[], "ServiceBusClient"]

PEEK_PAGE = 250
SCAN_MAX = 5000
# Properties Service Bus adds when it dead-letters a message; the copy does not carry them.
_DEAD_LETTER_PROPERTIES = frozenset({"DeadLetterReason", "DeadLetterErrorDescription"})
_CLOCK_MARGIN = timedelta(seconds=5)


def _text(value: Any) -> Any:
    # Received application properties arrive with bytes keys and string values as bytes.
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def properties_of(message: ServiceBusReceivedMessage) -> dict[str, PropertyValue]:
    """Return a received message's own application properties as text (dead-letter ones out)."""
    found: dict[str, PropertyValue] = {}
    for key, value in (message.application_properties or {}).items():
        name = str(_text(key))
        if name in _DEAD_LETTER_PROPERTIES:
            continue
        value = _text(value)
        found[name] = value if isinstance(value, str | int | bool) else str(value)
    return found


def body_of(message: ServiceBusReceivedMessage) -> bytes:
    """Return a received message's body as bytes (the SDK gives bytes or chunks of bytes)."""
    body: Any = message.body
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return b"".join(bytes(chunk) for chunk in body)


def to_record(message: ServiceBusReceivedMessage) -> DeadLetteredMessage:
    """Convert a received (or peeked) dead letter into the port's record."""
    return DeadLetteredMessage(
        sequence_number=int(message.sequence_number or 0),
        message_id=str(message.message_id or ""),
        session_id=message.session_id,
        body=body_of(message),
        delivery_count=int(message.delivery_count or 0),
        reason=message.dead_letter_reason,
        description=message.dead_letter_error_description,
        enqueued_at=message.enqueued_time_utc,
        dead_lettered_at=None,
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        application_properties=properties_of(message),
    )


def copy_of(message: ServiceBusReceivedMessage) -> ServiceBusMessage:
    """Build the message a replay sends: the dead letter as it was originally sent."""
    from azure.servicebus import ServiceBusMessage

    return ServiceBusMessage(
        body_of(message),
        message_id=message.message_id,
        session_id=message.session_id,
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        application_properties=properties_of(message),  # type: ignore[arg-type]
    )


class ServiceBusDeadLetters:
    """Implement the ``DeadLetters`` port on a Service Bus queue's dead-letter subqueue."""

    backend = "servicebus"

    def __init__(
        self,
        queue_name: str,
        client_factory: ClientFactory,
        clock: Clock,
        *,
        duplicate_window_s: float,
        batch_size: int = 50,
        receive_wait_s: float = 1.0,
        timeout_s: float = 10.0,
    ) -> None:
        self._queue_name = queue_name
        self._client_factory = client_factory
        self._clock = clock
        self._window = timedelta(seconds=duplicate_window_s)
        self._batch_size = batch_size
        self._receive_wait_s = receive_wait_s
        self._timeout_s = timeout_s
        self._lock = asyncio.Lock()  # the SDK's clients are not coroutine-safe
        self._client: ServiceBusClient | None = None

    @property
    def queue_name(self) -> str:
        """Name the queue."""
        return self._queue_name

    @asynccontextmanager
    async def _receiver(self) -> AsyncIterator[ServiceBusReceiver]:
        from azure.core.exceptions import AzureError
        from azure.servicebus import ServiceBusReceiveMode, ServiceBusSubQueue

        async with self._lock:
            receiver = None
            try:
                if self._client is None:
                    self._client = self._client_factory()
                receiver = self._client.get_queue_receiver(
                    self._queue_name,
                    sub_queue=ServiceBusSubQueue.DEAD_LETTER,
                    receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
                    prefetch_count=0,
                )
                yield receiver
            except (AzureError, OSError, TimeoutError) as exc:  # ServiceBusError is an AzureError
                # The connection may be broken for good; the next call starts afresh.
                client, self._client = self._client, None
                if client is not None:
                    await _quietly(client.close())
                raise DependencyUnavailable(
                    f"Service Bus did not answer for the dead-letter queue: {type(exc).__name__}"
                ) from exc
            finally:
                if receiver is not None:
                    await _quietly(receiver.close())

    async def _peek(self, receiver: ServiceBusReceiver, start: int, count: int) -> list[Any]:
        return list(
            await receiver.peek_messages(
                max_message_count=count, sequence_number=start, timeout=self._timeout_s
            )
        )

    async def _browse(
        self, receiver: ServiceBusReceiver, after: int | None, limit: int
    ) -> list[DeadLetteredMessage]:
        found: list[DeadLetteredMessage] = []
        start = (after or 0) + 1
        while len(found) < limit:
            page = await self._peek(receiver, start, min(PEEK_PAGE, limit - len(found)))
            if not page:
                break  # a page may hold fewer than asked; only an empty one ends the queue
            found += [to_record(m) for m in page]
            start = found[-1].sequence_number + 1
        return found

    async def browse(self, *, after: int | None, limit: int) -> list[DeadLetteredMessage]:
        """Browse up to ``limit`` dead letters from sequence number ``after + 1``."""
        async with self._receiver() as receiver:
            return await self._browse(receiver, after, limit)

    async def inspect(self, sequence_number: int) -> DeadLetteredMessage | None:
        """Browse the one dead letter with this sequence number, if it is there."""
        async with self._receiver() as receiver:
            page = await self._peek(receiver, sequence_number, 1)
        if page and int(page[0].sequence_number or 0) == sequence_number:
            return to_record(page[0])
        return None

    async def count(self) -> DeadLetterCount:
        """Count by browsing, up to ``SCAN_MAX`` (``exact`` False beyond)."""
        async with self._receiver() as receiver:
            found = await self._browse(receiver, None, SCAN_MAX + 1)
        return DeadLetterCount(min(len(found), SCAN_MAX), exact=len(found) <= SCAN_MAX)

    def _replayable_at(self, message: ServiceBusReceivedMessage) -> datetime | None:
        """Return when a copy would no longer be dropped as a duplicate, if that is later."""
        enqueued = message.enqueued_time_utc
        if enqueued is None:
            return None
        ready = enqueued + self._window + _CLOCK_MARGIN
        return ready if ready > self._clock.now() else None

    async def replay(self, sequence_number: int) -> Replayed | Waiting | None:
        """Receive the target, send its copy, complete it; abandon what came before it."""
        return await self._take(sequence_number, resend=True)

    async def purge(self, sequence_number: int) -> DeadLetteredMessage | None:
        """Receive the target and complete it; abandon what came before it."""
        outcome = await self._take(sequence_number, resend=False)
        return outcome.letter if isinstance(outcome, Replayed) else None

    async def _take(self, sequence_number: int, *, resend: bool) -> Replayed | Waiting | None:
        async with self._receiver() as receiver:
            peeked = await self._peek(receiver, sequence_number, 1)
            if not peeked or int(peeked[0].sequence_number or 0) != sequence_number:
                return None
            if resend and (ready := self._replayable_at(peeked[0])) is not None:
                return Waiting(to_record(peeked[0]), ready)
            held: list[Any] = []
            try:
                target = await self._receive_until(receiver, sequence_number, held)
                if target is None:
                    raise Conflict(
                        f"dead letter {sequence_number} is locked by another receiver; try "
                        "again once its lock expires",
                        code="dead_letter_locked",
                    )
                return await self._settle(receiver, target, resend=resend)
            finally:
                await self._abandon(receiver, held)

    async def _receive_until(
        self, receiver: ServiceBusReceiver, sequence_number: int, held: list[Any]
    ) -> Any:
        """Receive in order until the target arrives; every other message goes to ``held``."""
        while True:
            batch = await receiver.receive_messages(
                max_message_count=self._batch_size, max_wait_time=self._receive_wait_s
            )
            if not batch:
                return None
            target = None
            for message in batch:
                if int(message.sequence_number or 0) == sequence_number:
                    target = message
                else:
                    held.append(message)
            # Messages come in sequence order: past the target means someone else holds it.
            if target is not None or int(batch[-1].sequence_number or 0) > sequence_number:
                return target

    async def _settle(
        self, receiver: ServiceBusReceiver, message: Any, *, resend: bool
    ) -> Replayed:
        from azure.core.exceptions import AzureError

        if resend:
            await self._send(copy_of(message))
        try:
            await receiver.complete_message(message)
        except (AzureError, OSError, TimeoutError) as exc:
            if not resend:
                raise
            log.warning(
                "replayed %s but could not remove its dead letter (%s); a second replay is safe",
                message.message_id,
                type(exc).__name__,
            )
            return Replayed(to_record(message), removed=False)
        return Replayed(to_record(message))

    async def _send(self, message: ServiceBusMessage) -> None:
        if self._client is None:  # _receiver made it; kept for the type checker
            self._client = self._client_factory()
        sender = self._client.get_queue_sender(queue_name=self._queue_name)
        try:
            await sender.send_messages(message, timeout=self._timeout_s)
        finally:
            await _quietly(sender.close())

    async def _abandon(self, receiver: ServiceBusReceiver, held: Sequence[Any]) -> None:
        for message in held:
            await _quietly(receiver.abandon_message(message))

    async def replay_all(self, limit: int) -> ReplayBatch:
        """Receive up to ``limit`` dead letters; send and complete each one outside the
        duplicate-detection window; abandon the rest at the end."""
        replayed: list[Replayed] = []
        waiting: dict[int, Waiting] = {}  # a held message whose lock lapsed may come again
        async with self._receiver() as receiver:
            held: list[Any] = []
            try:
                while len(replayed) < limit:
                    batch = await receiver.receive_messages(
                        max_message_count=min(self._batch_size, limit - len(replayed)),
                        max_wait_time=self._receive_wait_s,
                    )
                    if not batch:
                        break
                    for message in batch:
                        ready = self._replayable_at(message)
                        if ready is not None or len(replayed) >= limit:
                            held.append(message)
                            if ready is not None:
                                letter = to_record(message)
                                waiting[letter.sequence_number] = Waiting(letter, ready)
                            continue
                        replayed.append(await self._settle(receiver, message, resend=True))
            finally:
                await self._abandon(receiver, held)
        return ReplayBatch(tuple(replayed), tuple(waiting.values()))

    async def close(self) -> None:
        """Close the client."""
        async with self._lock:
            client, self._client = self._client, None
            if client is not None:
                await _quietly(client.close())


async def _quietly(step: Any) -> None:
    try:
        await step
    except Exception:  # releasing a link must not hide the answer or the error before it
        log.debug("closing or abandoning a Service Bus handle failed", exc_info=True)
