"""Declare what the notifier reads and writes, as Protocols the adapters implement.

``Feed``, ``Gate`` and ``StatusBook`` are Redis (``shared.adapters.notify_state``); a
``Sender`` is one delivery channel (``shared.adapters.notify_webhook``,
``shared.adapters.notify_email``). Errors::

    DeliveryFailed            a channel did not take a message (retryable or not)
    DependencyUnavailable     Redis failed (shared.domain.errors): the entries stay pending
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from shared.services.notify.model import Folded, Message


class DeliveryFailed(Exception):
    """A channel refused or did not answer; ``detail`` is safe to store and show."""

    def __init__(self, detail: str, *, retryable: bool, retry_after_s: float | None = None):
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One event read from the feed: its stream id and the event (None if unreadable)."""

    entry_id: str
    event: Mapping[str, Any] | None


class Verdict(StrEnum):
    """What the gate decided for one notification on one channel."""

    SEND = "send"
    DUPLICATE = "duplicate"
    FOLDED = "folded"


class Feed(Protocol):
    """The notification feed: a Redis stream read through one consumer group."""

    async def read(self, count: int, block_ms: int | None) -> list[FeedEntry]:
        """Return up to ``count`` new entries for this consumer (waiting ``block_ms`` if set)."""
        ...

    async def reclaim(self, min_idle_ms: int, count: int) -> list[FeedEntry]:
        """Take over entries another consumer read but did not acknowledge in ``min_idle_ms``."""
        ...

    async def ack(self, entry_ids: Sequence[str]) -> None:
        """Acknowledge handled entries (they are never delivered again)."""
        ...


class Gate(Protocol):
    """De-duplicate and rate-limit one channel's notifications, atomically."""

    async def admit(
        self, channel: str, kind: str, digest: str, entry_id: str, at: datetime
    ) -> Verdict:
        """Decide whether a notification is sent, a duplicate, or folded into the summary."""
        ...

    async def take_folded(self, channel: str, at: datetime) -> Folded | None:
        """Return (and clear) what was folded, if the rate limit lets a summary go out now."""
        ...


class StatusBook(Protocol):
    """Keep each channel's record of deliveries for the health endpoint."""

    async def record(self, channel: str, at: datetime, error: str | None) -> None:
        """Record a delivery (``error`` None) or a failure with its sanitised reason."""
        ...


class Sender(Protocol):
    """Deliver a rendered message on one channel; raise ``DeliveryFailed``."""

    async def send(self, message: Message) -> None:
        """Send one message."""
        ...

    async def aclose(self) -> None:
        """Release the channel's client."""
        ...
