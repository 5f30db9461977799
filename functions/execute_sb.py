"""Execute signals: the Service Bus session-queue trigger on ``%SIGNALS_QUEUE_NAME%``.

Sessions keep one FIFO per account and instrument. A normal return completes the message;
a raised error abandons it, so Service Bus re-delivers it (delivery count + 1) and finally
dead-letters it with the error as the description. Refusals and broker rejections are
journaled and complete normally: re-sending them would not change the answer.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.container import get_container
from shared.domain.errors import BridgeError, InvalidSignal

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
    from shared.services.envelope import from_body
    from shared.services.execute import Delivery

    try:
        envelope = from_body(msg.get_body())
    except InvalidSignal as exc:
        # Re-delivery cannot fix it; raising sends it to the dead-letter queue with the reason.
        raise UnreadableMessage(f"message {msg.message_id}: {exc.message}") from exc
    delivery = Delivery(envelope, msg.message_id or "", msg.delivery_count or 1)
    outcome = await get_container().executor.execute(delivery)
    log.info(
        "signal %s for %s: %s %s (delivery %d)",
        envelope.signal_id,
        envelope.account,
        outcome.status,
        outcome.detail,
        delivery.delivery_count,
    )
