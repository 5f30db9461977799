"""Execute signals: the Service Bus session-queue trigger on ``%SIGNALS_QUEUE_NAME%``.

Sessions keep one FIFO per account and instrument. A normal return completes the message;
a raised error abandons it, so Service Bus re-delivers it (delivery count + 1) and finally
dead-letters it with the error as the description. Refusals and broker rejections are
journaled and complete normally: re-sending them would not change the answer.

Back-off between deliveries. Abandon makes a message "available again for immediate
processing" (learn.microsoft.com/en-us/dotnet/api/azure.messaging.servicebus.
servicebusreceiver.abandonmessageasync), and the Functions host abandons on an unhandled
error without any delay, so a transient failure (a broker throttling for a second) used to
burn every delivery within tens of milliseconds and dead-letter a signal that one pause
would have saved. ``@app.retry`` does nothing for Service Bus triggers. So before raising a
transient error (``is_retryable``) the trigger itself waits, by delivery count n:

    delay = uniform(0, min(QUEUE_RETRY_BACKOFF_MAX_S, QUEUE_RETRY_BACKOFF_BASE_S * 2**(n-1)))

("full jitter", so sessions that failed together do not come back together). An unreadable
message, a permanent error, and the last delivery (n == QUEUE_MAX_DELIVERY_COUNT, which is
dead-lettered anyway) raise at once.

Why wait inside the function rather than re-send a copy with a scheduled enqueue time:

- While the function runs, the host keeps renewing the session lock, up to host.json
  ``maxAutoLockRenewalDuration`` (ours 00:05:00; learn.microsoft.com/en-nz/dotnet/api/azure.
  messaging.servicebus.servicebussessionprocessoroptions.maxautolockrenewalduration), and a
  session hands out one message at a time (``maxConcurrentCallsPerSession`` 1), so nothing
  queued behind the failing signal overtakes it: the per-instrument FIFO holds.
- A scheduled re-send would carry the same MessageId, which duplicate detection drops within
  its window (QUEUE_DUPLICATE_WINDOW_S); a new MessageId would break the executor's
  exactly-once key; and the copy would join the back of the session, behind later signals.
- The cost is a held session and a function that runs longer. Every wait of one message
  together is at most QUEUE_RETRY_BACKOFF_MAX_S x (QUEUE_MAX_DELIVERY_COUNT - 1), which
  Settings keeps under host.json ``functionTimeout`` (00:02:00; learn.microsoft.com/azure/
  azure-functions/functions-host-json#functiontimeout), since a timed-out run is not
  abandoned but left until its lock lapses.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import azure.functions as func

from shared.adapters.tradovate.backoff import Backoff
from shared.container import get_container
from shared.domain.errors import BridgeError, InvalidSignal, is_retryable
from shared.telemetry_names import ATTR_ACCOUNT, ATTR_REASON, ATTR_STRATEGY

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.services.envelope import Envelope
    from shared.services.execute import Outcome

# The executor, the envelope codec and telemetry are imported by the function when it first
# runs: the host imports every blueprint to index it, and an instance that only serves HTTP
# (Flex scales the HTTP group and each queue function apart) never pays for them.

bp = func.Blueprint()
log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RedeliveryWait:
    """How the trigger sleeps and draws jitter before a transient failure is abandoned."""

    sleep: Sleep = asyncio.sleep
    rng: Callable[[], float] = random.random


_wait = RedeliveryWait()


def use_redelivery_wait(wait: RedeliveryWait) -> RedeliveryWait:
    """Install how the trigger waits (tests pass a recording sleep); return the previous."""
    global _wait  # one per process, like the container
    previous, _wait = _wait, wait
    return previous


def redelivery_delay_s(delivery_count: int, settings: Settings, rng: Callable[[], float]) -> float:
    """Return how long to wait before delivery ``delivery_count`` (1-based) is abandoned.

    Zero on the last delivery: it is dead-lettered, not redelivered.
    """
    if delivery_count >= settings.queue_max_delivery_count:
        return 0.0
    # Backoff's own delay() is "equal jitter" (never below half); here full jitter spreads
    # sessions that failed at the same moment, and the rising ceiling still backs off.
    schedule = Backoff(settings.queue_retry_backoff_base_s, settings.queue_retry_backoff_max_s)
    return rng() * schedule.ceiling(max(delivery_count, 1) - 1)


class UnreadableMessage(BridgeError):
    """A queue message that is not a signal envelope; it ends in the dead-letter queue."""

    code = "unreadable_message"


@bp.function_name("execute")
@bp.service_bus_queue_trigger(
    arg_name="msg",
    connection="ServiceBusConnection",
    queue_name="%SIGNALS_QUEUE_NAME%",
    is_sessions_enabled=True,
)
async def execute(msg: func.ServiceBusMessage) -> None:
    """Plan and place one signal for one account, exactly once."""
    from shared.services.envelope import from_body
    from shared.services.execute import Delivery
    from shared.telemetry import correlation_scope

    try:
        envelope = from_body(msg.get_body())
    except InvalidSignal as exc:
        # Re-delivery cannot fix it; raising sends it to the dead-letter queue with the reason.
        _count_dead_letter(msg, force=True)
        raise UnreadableMessage(f"message {msg.message_id}: {exc.message}") from exc
    enqueued = msg.enqueued_time_utc
    if enqueued is not None and enqueued.tzinfo is None:
        enqueued = enqueued.replace(tzinfo=UTC)  # the host gives UTC without saying so
    delivery = Delivery(
        envelope,
        msg.message_id or "",
        msg.delivery_count or 1,
        dequeued_at=datetime.now(UTC),
        enqueued_at=enqueued,
    )
    with correlation_scope(envelope.correlation_id):
        try:
            outcome = await get_container().executor.execute(delivery)
        except Exception as exc:
            _count_dead_letter(msg)
            if is_retryable(exc):
                await _back_off(msg, delivery.delivery_count, exc)
            raise
    _record(envelope, outcome)
    log.info(
        "signal %s for %s: %s %s (delivery %d)",
        envelope.signal_id,
        envelope.account,
        outcome.status,
        outcome.detail,
        delivery.delivery_count,
    )


async def _back_off(msg: func.ServiceBusMessage, delivery_count: int, exc: Exception) -> None:
    """Wait before a transient failure is abandoned, so its redelivery is not immediate."""
    delay_s = redelivery_delay_s(delivery_count, get_container().settings, _wait.rng)
    if delay_s <= 0:
        return
    log.warning(
        "message %s failed transiently on delivery %d (%s); waiting %.2f s before it goes back",
        msg.message_id,
        delivery_count,
        exc,
        delay_s,
    )
    await _wait.sleep(delay_s)


def _record(envelope: Envelope, outcome: Outcome) -> None:
    from shared.telemetry import get_metrics

    metrics = get_metrics()
    labels = {ATTR_STRATEGY: envelope.strategy_id, ATTR_ACCOUNT: envelope.account}
    if outcome.status == "done":
        metrics.orders_placed.add(len(outcome.orders), labels)
        elapsed_ms = (datetime.now(UTC) - envelope.received_at).total_seconds() * 1000
        metrics.signal_to_order_ms.record(elapsed_ms, labels)
    elif outcome.status == "rejected":
        metrics.orders_rejected.add(1, labels)
    elif outcome.status == "denied":
        reason = outcome.detail.split(":", 1)[0]
        metrics.orders_denied.add(1, {**labels, ATTR_REASON: reason})


def _count_dead_letter(msg: func.ServiceBusMessage, *, force: bool = False) -> None:
    # This delivery is the last when its count reaches the queue's maximum.
    last = (msg.delivery_count or 1) >= get_container().settings.queue_max_delivery_count
    if force or last:
        from shared.telemetry import get_metrics

        get_metrics().dead_letters.add(1)
        log.error("message %s goes to the dead-letter queue", msg.message_id)
