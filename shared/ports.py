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
    """Look up secrets (Key Vault in Azure, the environment locally)."""

    async def get_secret(self, key_vault_name: str, env_name: str) -> str:
        """Return the secret under the name this store uses, or raise ``ConfigError``."""
        ...


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One received alert as the journal keeps it: accepted, duplicate or refused."""

    strategy_id: str
    signal_id: str
    status: str  # accepted | duplicate | refused
    received_at: datetime
    correlation_id: str
    raw_redacted: str
    reason_code: str | None = None
    reason: str | None = None
    alert_format: str | None = None
    signal_json: str | None = None
    extras_json: str | None = None
    tv_time: datetime | None = None
    client_ip: str | None = None
    messages: int = 0


class AlertJournal(Protocol):
    """Keep every received alert, findable by strategy and id."""

    async def record_alert(self, record: AlertRecord) -> None:
        """Store (or overwrite) the record of one alert."""
        ...

    async def get_alert(self, strategy_id: str, signal_id: str) -> AlertRecord | None:
        """Return the record of one alert, or None."""
        ...


@dataclass(frozen=True, slots=True)
class Admission:
    """The gate's answer for one alert: admitted, rate-limited, or a duplicate."""

    retry_after_s: int | None = None
    duplicate_of: str | None = None

    @property
    def admitted(self) -> bool:
        """Tell whether the alert may proceed."""
        return self.retry_after_s is None and self.duplicate_of is None


class AlertGate(Protocol):
    """Rate-limit and de-duplicate alerts across every instance (Redis in production)."""

    async def admit(
        self,
        strategy_id: str,
        limit_per_min: int,
        dedupe_key: str | None,
        signal_id: str,
        ttl_s: int,
    ) -> Admission:
        """Count the alert against the strategy's limit, then claim ``dedupe_key`` (if any)."""
        ...

    async def release(self, strategy_id: str, dedupe_key: str, signal_id: str) -> None:
        """Drop a claim made for ``signal_id`` (after a failed enqueue), leaving others' alone."""
        ...
