"""Drain the notification feed: classify, filter, gate, render and deliver each event once.

Every notifier (the worker's, blocking on the feed; the ``notify`` timer's, every
``NOTIFY_SCHEDULE``) reads through the same consumer group, so an entry goes to one of them.
An entry is acknowledged once handled, whatever the delivery's outcome: a channel that keeps
failing is retried ``attempts`` times with capped back-off, then the failure is recorded in
its status (``/api/health``) and the feed moves on. Entries a notifier read but never
acknowledged (it crashed, or Redis failed half-way) are taken over after
``reclaim_idle_ms``; the gate answers a re-delivered entry as it answered the first time,
so a crash between the decision and the send does not swallow the notification.

Per channel, the gate (``ports.Gate``) sends a notification once per ``NOTIFY_DEDUPE_S`` for
its kind and subject, at most ``NOTIFY_RATE_LIMIT`` messages per ``NOTIFY_RATE_WINDOW_S``,
and folds the excess into one summary that goes out as soon as a window has room for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from shared.domain.masking import mask_text
from shared.ports import Clock
from shared.services.notify.classify import classify
from shared.services.notify.model import Message, Notification
from shared.services.notify.policy import NotifyPolicy
from shared.services.notify.ports import (
    DeliveryFailed,
    Feed,
    FeedEntry,
    Gate,
    Sender,
    StatusBook,
    Verdict,
)
from shared.services.notify.render import render, render_summary

log = logging.getLogger(__name__)

_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class Tuning:
    """How the notifier reads and retries; the defaults suit production."""

    batch: int = 100
    reclaim_idle_ms: int = 60_000
    attempts: int = 3
    retry_base_s: float = 0.5
    retry_cap_s: float = 5.0


@dataclass(slots=True)
class DrainReport:
    """Count what one step or drain did."""

    read: int = 0
    notifiable: int = 0
    sent: int = 0
    duplicates: int = 0
    folded: int = 0
    summaries: int = 0
    failed: int = 0

    def add(self, other: DrainReport) -> None:
        """Add another report's counts to this one."""
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def digest(notification: Notification) -> str:
    """Return the de-duplication digest of a notification's kind and subject."""
    key = f"{notification.kind.value}\n{notification.subject}".encode()
    return hashlib.sha256(key).hexdigest()[:24]


class Notifier:
    """Turn feed entries into messages on the configured channels."""

    def __init__(
        self,
        feed: Feed,
        gate: Gate,
        status: StatusBook,
        senders: Mapping[str, Sender],
        policy: NotifyPolicy,
        clock: Clock,
        *,
        secrets: Iterable[str] = (),
        tuning: Tuning | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._feed = feed
        self._gate = gate
        self._status = status
        self._senders = dict(senders)
        self._policy = policy
        self._clock = clock
        self._secrets = [s for s in secrets if s]
        self._tuning = tuning or Tuning()
        self._sleep = sleep

    @property
    def channels(self) -> tuple[str, ...]:
        """Return the names of the configured channels."""
        return tuple(self._senders)

    async def step(self, block_ms: int | None = None) -> DrainReport:
        """Run one round: a summary that is due, entries a crashed notifier left, then one
        batch of new entries (waiting up to ``block_ms`` for it when given)."""
        report = DrainReport()
        await self._summaries(report)
        t = self._tuning
        await self._handle(await self._feed.reclaim(t.reclaim_idle_ms, t.batch), report)
        await self._handle(await self._feed.read(t.batch, block_ms), report)
        return report

    async def drain(self, budget_s: float) -> DrainReport:
        """Handle what the feed holds, for at most about ``budget_s`` (the timer's run)."""
        total = DrainReport()
        deadline = self._clock.monotonic() + budget_s
        while True:
            report = await self.step()
            total.add(report)
            if report.read == 0 or self._clock.monotonic() >= deadline:
                break
        return total

    async def aclose(self) -> None:
        """Close every channel's client."""
        for sender in self._senders.values():
            await sender.aclose()

    async def _handle(self, entries: Sequence[FeedEntry], report: DrainReport) -> None:
        done: list[str] = []
        try:
            for entry in entries:
                report.read += 1
                await self._one(entry, report)
                done.append(entry.entry_id)
        finally:
            if done:
                await self._feed.ack(done)

    async def _one(self, entry: FeedEntry, report: DrainReport) -> None:
        if entry.event is None:
            log.warning("skipping unreadable notification feed entry %s", entry.entry_id)
            return
        notification = classify(entry.event, self._clock.now())
        if notification is None:
            return
        report.notifiable += 1
        message: Message | None = None
        for channel, sender in self._senders.items():
            if not self._policy.wants(channel, notification):
                continue
            verdict = await self._gate.admit(
                channel,
                notification.kind.value,
                digest(notification),
                entry.entry_id,
                self._clock.now(),
            )
            if verdict is Verdict.DUPLICATE:
                report.duplicates += 1
            elif verdict is Verdict.FOLDED:
                report.folded += 1
            else:
                message = message or render(notification, self._secrets)
                await self._deliver(channel, sender, message, report)

    async def _summaries(self, report: DrainReport) -> None:
        for channel, sender in self._senders.items():
            folded = await self._gate.take_folded(channel, self._clock.now())
            if folded is not None and folded.total > 0:
                report.summaries += 1
                await self._deliver(channel, sender, render_summary(folded), report)

    async def _deliver(
        self, channel: str, sender: Sender, message: Message, report: DrainReport
    ) -> None:
        t = self._tuning
        failure: DeliveryFailed | None = None
        for attempt in range(t.attempts):
            try:
                await sender.send(message)
            except DeliveryFailed as exc:
                failure = exc
                if not exc.retryable or attempt == t.attempts - 1:
                    break
                wait_s = exc.retry_after_s
                await self._sleep(min(t.retry_cap_s, wait_s or t.retry_base_s * 2**attempt))
                continue
            report.sent += 1
            await self._status.record(channel, self._clock.now(), None)
            return
        report.failed += 1
        detail = mask_text(failure.detail if failure else "not sent", self._secrets)
        detail = detail[:_ERROR_CHARS]
        log.warning("notification not delivered on %s: %s", channel, detail)
        await self._status.record(channel, self._clock.now(), detail)
