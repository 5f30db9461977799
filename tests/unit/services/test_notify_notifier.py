"""The notifier against in-memory fakes: what is sent where, retries, acknowledgements."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import redis_keys as keys
from shared.domain.clock import ManualClock
from shared.domain.errors import DependencyUnavailable
from shared.services.notify.model import Folded, Message, Severity
from shared.services.notify.notifier import Notifier, Tuning
from shared.services.notify.policy import NotifyPolicy
from shared.services.notify.ports import DeliveryFailed, FeedEntry, Verdict

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
SECRET_URL = "https://hooks.slack.com/services/T000/B000/SECRETSECRETSECRET"


def entry(n: int, channel: str, **payload: Any) -> FeedEntry:
    return FeedEntry(f"{n}-0", json.loads(keys.event_message(channel, payload)))


def rejected(n: int) -> FeedEntry:
    return entry(n, "order.rejected", signal_id=f"s{n}", leg="entry", account="DEMO1")


class FakeFeed:
    def __init__(self, entries: Sequence[FeedEntry] = (), stale: Sequence[FeedEntry] = ()):
        self.entries = list(entries)
        self.stale = list(stale)
        self.acked: list[str] = []
        self.blocks: list[int | None] = []

    async def read(self, count: int, block_ms: int | None) -> list[FeedEntry]:
        self.blocks.append(block_ms)
        taken, self.entries = self.entries[:count], self.entries[count:]
        return taken

    async def reclaim(self, min_idle_ms: int, count: int) -> list[FeedEntry]:
        taken, self.stale = self.stale, []
        return taken

    async def ack(self, entry_ids: Sequence[str]) -> None:
        self.acked.extend(entry_ids)


class FakeGate:
    """Send each digest once, at most ``limit`` in total, fold the rest; hand the folded
    counts over once the test opens a new window."""

    def __init__(self, limit: int = 100, *, fail_after: int | None = None) -> None:
        self.limit = limit
        self.window_open = False
        self.sent: dict[tuple[str, str], str] = {}
        self.folded: dict[str, list[str]] = {}
        self.calls = 0
        self.fail_after = fail_after

    async def admit(
        self, channel: str, kind: str, digest: str, entry_id: str, at: datetime
    ) -> Verdict:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise DependencyUnavailable("Redis could not be reached")
        if (channel, digest) in self.sent:
            return Verdict.DUPLICATE
        if sum(1 for c, _ in self.sent if c == channel) >= self.limit:
            self.folded.setdefault(channel, []).append(kind)
            return Verdict.FOLDED
        self.sent[(channel, digest)] = entry_id
        return Verdict.SEND

    async def take_folded(self, channel: str, at: datetime) -> Folded | None:
        if not self.window_open:
            return None
        kinds = self.folded.pop(channel, [])
        if not kinds:
            return None
        return Folded(len(kinds), {k: kinds.count(k) for k in set(kinds)}, "first", "last")


class FakeStatus:
    def __init__(self) -> None:
        self.records: list[tuple[str, str | None]] = []

    async def record(self, channel: str, at: datetime, error: str | None) -> None:
        self.records.append((channel, error))


class FakeSender:
    def __init__(self, failures: Sequence[DeliveryFailed] = ()) -> None:
        self.failures = list(failures)
        self.sent: list[Message] = []
        self.attempts = 0
        self.closed = False

    async def send(self, message: Message) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)

    async def aclose(self) -> None:
        self.closed = True


def make(
    feed: FakeFeed,
    senders: Mapping[str, FakeSender],
    *,
    gate: FakeGate | None = None,
    policy: NotifyPolicy | None = None,
) -> tuple[Notifier, FakeGate, FakeStatus, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    gate = gate or FakeGate()
    status = FakeStatus()
    notifier = Notifier(
        feed,
        gate,
        status,
        senders,
        policy or NotifyPolicy(),
        ManualClock(NOW),
        secrets=[SECRET_URL],
        tuning=Tuning(attempts=3, retry_base_s=0.5, retry_cap_s=2.0),
        sleep=sleep,
    )
    return notifier, gate, status, waits


async def test_step_with_notifiable_and_other_events_sends_and_acks_all() -> None:
    feed = FakeFeed([rejected(1), entry(2, "price.update"), FeedEntry("3-0", None)])
    hook = FakeSender()
    notifier, _, status, _ = make(feed, {"webhook": hook})
    report = await notifier.step(1000)
    assert [m.title for m in hook.sent] == ["Order rejected for ***O1"]
    assert feed.acked == ["1-0", "2-0", "3-0"]
    assert feed.blocks == [1000]
    assert (report.read, report.notifiable, report.sent) == (3, 1, 1)
    assert status.records == [("webhook", None)]


async def test_step_with_entries_left_pending_handles_them_first() -> None:
    feed = FakeFeed([rejected(2)], stale=[rejected(1)])
    hook = FakeSender()
    notifier, _, _, _ = make(feed, {"webhook": hook})
    await notifier.step()
    assert [m.fields["subject"] for m in hook.sent] == ["s1:entry", "s2:entry"]
    assert feed.acked == ["1-0", "2-0"]


async def test_policy_with_a_critical_email_minimum_sends_warnings_to_the_webhook_only() -> None:
    feed = FakeFeed([rejected(1), entry(2, "queue.dead_lettered", message_id="m")])
    hook, mail = FakeSender(), FakeSender()
    policy = NotifyPolicy(min_severity={"email": Severity.CRITICAL})
    notifier, _, _, _ = make(feed, {"webhook": hook, "email": mail}, policy=policy)
    await notifier.step()
    assert len(hook.sent) == 2
    assert [m.severity for m in mail.sent] == [Severity.CRITICAL]


async def test_delivery_with_transient_failures_retries_with_capped_backoff() -> None:
    hook = FakeSender(
        [
            DeliveryFailed("webhook answered HTTP 503", retryable=True),
            DeliveryFailed("webhook answered HTTP 429", retryable=True, retry_after_s=30),
        ]
    )
    notifier, _, status, waits = make(FakeFeed([rejected(1)]), {"webhook": hook})
    report = await notifier.step()
    assert hook.attempts == 3
    assert waits == [0.5, 2.0]  # back-off, then the service's delay capped at 2 s
    assert (report.sent, report.failed) == (1, 0)
    assert status.records == [("webhook", None)]


async def test_delivery_failing_for_good_is_recorded_masked_and_the_entry_acked() -> None:
    hook = FakeSender([DeliveryFailed(f"could not post to {SECRET_URL}", retryable=True)] * 3)
    feed = FakeFeed([rejected(1)])
    notifier, _, status, waits = make(feed, {"webhook": hook})
    report = await notifier.step()
    assert hook.attempts == 3
    assert len(waits) == 2
    assert report.failed == 1
    [(channel, error)] = status.records
    assert channel == "webhook"
    assert error is not None
    assert SECRET_URL not in error
    assert "SECRETSECRET" not in error
    assert feed.acked == ["1-0"]


async def test_delivery_with_a_final_failure_does_not_retry() -> None:
    hook = FakeSender([DeliveryFailed("webhook answered HTTP 404", retryable=False)])
    notifier, _, status, waits = make(FakeFeed([rejected(1)]), {"webhook": hook})
    await notifier.step()
    assert (hook.attempts, waits) == (1, [])
    assert status.records == [("webhook", "webhook answered HTTP 404")]


async def test_a_storm_over_the_limit_is_folded_into_one_summary() -> None:
    feed = FakeFeed([rejected(n) for n in range(1000)])
    hook = FakeSender()
    notifier, gate, _, _ = make(feed, {"webhook": hook}, gate=FakeGate(limit=5))
    report = await notifier.drain(60.0)
    assert (report.read, report.sent, report.folded) == (1000, 5, 995)
    assert len(feed.acked) == 1000
    gate.window_open = True
    assert (await notifier.step()).summaries == 1  # the next window: the summary goes out
    assert len(hook.sent) == 6
    assert "995 more notification(s)" in hook.sent[-1].title
    assert hook.sent[-1].fields["per_kind"] == {"order_rejected": 995}


async def test_duplicates_with_the_same_subject_are_sent_once() -> None:
    feed = FakeFeed([rejected(1), rejected(1), rejected(1)])
    hook = FakeSender()
    notifier, _, _, _ = make(feed, {"webhook": hook})
    report = await notifier.step()
    assert (len(hook.sent), report.duplicates) == (1, 2)


async def test_redis_failing_mid_batch_acks_only_what_was_handled() -> None:
    feed = FakeFeed([rejected(1), rejected(2), rejected(3)])
    notifier, _, _, _ = make(feed, {"webhook": FakeSender()}, gate=FakeGate(fail_after=1))
    with pytest.raises(DependencyUnavailable):
        await notifier.step()
    assert feed.acked == ["1-0"]  # the others stay pending, to be taken over


async def test_aclose_closes_every_channel() -> None:
    hook, mail = FakeSender(), FakeSender()
    notifier, _, _, _ = make(FakeFeed(), {"webhook": hook, "email": mail})
    assert notifier.channels == ("webhook", "email")
    await notifier.aclose()
    assert hook.closed
    assert mail.closed
