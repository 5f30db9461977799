"""Execute signals: the Service Bus session-queue trigger on ``%SIGNALS_QUEUE_NAME%``.

Sessions keep one FIFO per account and instrument. A normal return completes the message;
a raised error abandons it, so Service Bus re-delivers it (delivery count + 1) and finally
dead-letters it with the error as the description. Refusals and broker rejections are
journaled and complete normally: re-sending them would not change the answer.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func

from shared.container import get_container
from shared.domain.errors import BridgeError, InvalidSignal
from shared.services.envelope import Envelope, from_body
from shared.services.execute import Delivery, Outcome
from shared.telemetry import correlation_scope, get_metrics
from shared.telemetry_names import ATTR_ACCOUNT, ATTR_REASON, ATTR_SCOPE, ATTR_STRATEGY

bp = func.Blueprint()
log = logging.getLogger(__name__)


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
        except Exception:
            _count_dead_letter(msg)
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


def _record(envelope: Envelope, outcome: Outcome) -> None:
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
        if reason.startswith("kill_switch_"):
            scope = reason.removeprefix("kill_switch_")
            metrics.kill_switch_engaged.add(1, {**labels, ATTR_SCOPE: scope})


def _count_dead_letter(msg: func.ServiceBusMessage, *, force: bool = False) -> None:
    # This delivery is the last when its count reaches the queue's maximum.
    last = (msg.delivery_count or 1) >= get_container().settings.queue_max_delivery_count
    if force or last:
        get_metrics().dead_letters.add(1)
        log.error("message %s goes to the dead-letter queue", msg.message_id)
