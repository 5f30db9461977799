"""Declare the ports: the Protocols that adapters implement and services depend on.

Services and trigger functions speak only to these types. The composition root
(``shared.container``) picks the concrete adapter: Azure Service Bus or the local
Redis-backed transport, Key Vault or the environment, and so on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

PropertyValue = str | int | bool


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """Describe one message to put on the signals queue.

    ``message_id`` drives duplicate detection and ``session_id`` keeps one FIFO per
    account and instrument, exactly as the Service Bus queue is configured in ``infra/``.
    """

    body: bytes
    message_id: str
    session_id: str
    correlation_id: str | None = None
    content_type: str = "application/json"
    application_properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    time_to_live: timedelta | None = None
    scheduled_enqueue_time: datetime | None = None

    def __post_init__(self) -> None:
        if not self.message_id or len(self.message_id) > 128:
            raise ValueError("message_id must be 1 to 128 characters (Service Bus limit)")
        if not self.session_id or len(self.session_id) > 128:
            raise ValueError("session_id must be 1 to 128 characters (Service Bus limit)")
        if self.scheduled_enqueue_time is not None and self.scheduled_enqueue_time.tzinfo is None:
            raise ValueError("scheduled_enqueue_time must be timezone-aware")


@runtime_checkable
class SignalQueue(Protocol):
    """Put messages on the signals queue durably, or raise ``DependencyUnavailable``.

    A message whose ``message_id`` was already sent within the duplicate-detection
    window is accepted and silently dropped, as Service Bus does.
    """

    async def send(self, messages: Sequence[OutboundMessage]) -> None:
        """Enqueue all ``messages``; return only once they are durable."""
        ...

    async def close(self) -> None:
        """Release connections held by the adapter."""
        ...


class Clock(Protocol):
    """Tell the time; injected so tests control it."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware in UTC."""
        ...

    def monotonic(self) -> float:
        """Return a monotonic reading in seconds."""
        ...


class SecretStore(Protocol):
    """Look up secrets by name (Key Vault in Azure, the environment locally)."""

    def get_secret(self, name: str) -> str:
        """Return the secret's value or raise ``ConfigError`` naming the missing secret."""
        ...
