"""Send signals to the Azure Service Bus session queue with the async SDK.

One client and one sender per process, created on first use (never at import: the
Functions worker imports ``function_app`` to index it) and shared behind an
``asyncio.Lock`` because the SDK's clients are not coroutine-safe. The client signs in
with the function app's managed identity (``ServiceBusConnection__fullyQualifiedNamespace``
and optionally ``__clientId``), or, only where no namespace is set (the local stack), with a
connection string.

The SDK's own retries are kept short: TradingView gives up after 3 s, and a webhook that
cannot enqueue must answer 503 quickly so TradingView re-sends (DESIGN.md rule 3).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from shared.domain.errors import DependencyUnavailable, InvalidSignal
from shared.ports import OutboundMessage

if TYPE_CHECKING:
    from azure.servicebus import ServiceBusMessage
    from azure.servicebus.aio import ServiceBusClient, ServiceBusSender

log = logging.getLogger(__name__)

ClientFactory = Callable[[], "ServiceBusClient"]


def build_client(
    *,
    fully_qualified_namespace: str | None,
    connection_string: str | None,
    client_id: str | None,
) -> ServiceBusClient:
    """Create (without connecting) a Service Bus client from identity or a connection string.

    The namespace wins when both are set: the IaC disables SAS keys on the namespace
    (``disableLocalAuth``), so in Azure a connection string can only fail.
    """
    from azure.servicebus.aio import ServiceBusClient

    retry: dict[str, Any] = {"retry_total": 1, "retry_backoff_factor": 0.2, "retry_backoff_max": 1}
    if fully_qualified_namespace:
        if connection_string:
            log.warning(
                "ServiceBusConnection is ignored: the namespace is set, so the managed identity "
                "signs in (remove the connection string setting)"
            )
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential(managed_identity_client_id=client_id)
        return ServiceBusClient(fully_qualified_namespace, credential, **retry)
    if connection_string:
        return ServiceBusClient.from_connection_string(connection_string, **retry)
    raise DependencyUnavailable(
        "no Service Bus namespace or connection string is configured",
        code="queue_not_configured",
    )


def to_sdk_message(message: OutboundMessage) -> ServiceBusMessage:
    """Convert a port message into the SDK's message, field for field."""
    from azure.servicebus import ServiceBusMessage

    return ServiceBusMessage(
        message.body,
        message_id=message.message_id,
        session_id=message.session_id,
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        application_properties=dict(message.application_properties),  # type: ignore[arg-type]
        time_to_live=message.time_to_live,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time,
    )


class ServiceBusSignalQueue:
    """Implement the ``SignalQueue`` port on an Azure Service Bus queue."""

    def __init__(
        self,
        queue_name: str,
        client_factory: ClientFactory,
        *,
        send_timeout_s: float = 2.0,
    ) -> None:
        self._queue_name = queue_name
        self._client_factory = client_factory
        self._send_timeout_s = send_timeout_s
        self._lock = asyncio.Lock()
        self._client: ServiceBusClient | None = None
        self._sender: ServiceBusSender | None = None

    async def send(self, messages: Sequence[OutboundMessage]) -> None:
        """Send all messages as one batch; raise ``DependencyUnavailable`` if none were sent."""
        if not messages:
            return
        from azure.servicebus.exceptions import MessageSizeExceededError, ServiceBusError

        sdk_messages = [to_sdk_message(m) for m in messages]
        async with self._lock:
            try:
                sender = self._ensure_sender()
                await sender.send_messages(sdk_messages, timeout=self._send_timeout_s)
            except MessageSizeExceededError as exc:
                raise InvalidSignal(
                    "the alert is too large for one queue message", code="message_too_large"
                ) from exc
            except (ServiceBusError, OSError, TimeoutError) as exc:
                # The connection may be broken for good; start afresh on the next send.
                await self._reset()
                raise DependencyUnavailable(
                    f"Service Bus did not accept the message: {type(exc).__name__}"
                ) from exc

    async def probe(self) -> None:
        """Open the sender's link if it is not open (proves the namespace answers and the
        identity may send); raise ``DependencyUnavailable`` if it cannot be opened.

        ``create_message_batch`` opens the link to learn its size limit and sends nothing;
        once open, the SDK keeps it alive, so later probes cost no round trip.
        """
        from azure.core.exceptions import AzureError

        async with self._lock:
            try:
                await self._ensure_sender().create_message_batch()
            except (AzureError, OSError, TimeoutError) as exc:  # ServiceBusError is an AzureError
                await self._reset()
                raise DependencyUnavailable(
                    f"Service Bus did not open the sender: {type(exc).__name__}"
                ) from exc

    def _ensure_sender(self) -> ServiceBusSender:
        if self._sender is None:
            if self._client is None:
                self._client = self._client_factory()
            self._sender = self._client.get_queue_sender(queue_name=self._queue_name)
        return self._sender

    async def _reset(self) -> None:
        sender, client = self._sender, self._client
        self._sender = self._client = None
        for closable in (sender, client):
            if closable is not None:
                try:
                    await closable.close()
                except Exception:  # closing a broken link must not mask the send error
                    log.debug("closing a Service Bus handle failed", exc_info=True)

    async def close(self) -> None:
        """Close the sender and the client."""
        async with self._lock:
            await self._reset()
