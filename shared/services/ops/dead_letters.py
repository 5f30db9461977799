"""See and repair the signals queue's dead letters: list, inspect, replay, purge, count, watch.

A queue message the executor could not take (a broker down past every redelivery, an envelope
it cannot read, an expired message) ends in the queue's dead-letter store with Service Bus's
reason (``MaxDeliveryCountExceeded``, ``TTLExpiredException``, ...). Ids are the messages'
sequence numbers; a MessageId (``{signal id}:{account}``) finds its dead letter too.

**Replay** sends the original message again (body, MessageId, SessionId, correlation id,
content type, application properties) to the signals queue, then removes the dead letter.
Exactly once does not rest on the queue but on the executor's ledger, which is keyed by the
signal and account the body names: a replay of a signal that was already executed plans
nothing and places nothing. That is also why send-then-remove is safe: if the removal fails
after the send, the dead letter stays, and replaying it again sends a copy the ledger ignores.
A replay goes through every risk gate like any alert (an entry whose TradingView time is older
than ``max_alert_age_s`` is denied ``stale_alert``).

**Duplicate detection.** The queue drops a message whose MessageId it saw within its
detection window (``QUEUE_DUPLICATE_WINDOW_S``, 10 minutes) after accepting the send, so a
replay inside the window would vanish while the dead letter is removed. A dead letter whose
MessageId is still inside the window is therefore left alone: 409 ``in_duplicate_window``
with ``replayable_at``; a replay of all reports it as ``waiting``.

Every replay and purge is journaled like a trading-control change: pushed onto ``ops:changes``
and published on ``risk.alert`` together (kind ``dlq_replayed`` / ``dlq_purged``), then copied
to the events table (PartitionKey ``queue.dead_letters``).

**The watch** (``functions/ops_dlq.py``'s timer) publishes one ``queue.dead_lettered`` event
per dead letter, once: a Redis mark claimed atomically per sequence number decides who reports
it, so two runs at once, or a restart, never report one twice.

Pure: the ports below are implemented by ``shared.adapters.dlq_redis`` (the local queue, the
change log, the marks) and ``shared.adapters.servicebus_dlq`` (Azure Service Bus).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from shared import redis_keys as keys
from shared.domain.errors import Conflict, DependencyUnavailable, InvalidRequest, NotFound
from shared.domain.masking import MASK, is_secret_name, mask_text
from shared.ports import Clock, PropertyValue
from shared.services.contracts import EventBus
from shared.services.ops.ports import ChangeJournal
from shared.services.ops.requests import Actor, number, parse_body, reason_of

log = logging.getLogger(__name__)

CHANGE_CHANNEL = "risk.alert"
WATCH_CHANNEL = "queue.dead_lettered"
JOURNAL_KIND = "queue.dead_letters"
# How many dead letters one listing, id search or watch run reads at most (Service Bus browses
# them 250 at a time); the API says so (``total_exact``) when there are more.
SCAN_MAX = 5000
REPLAY_ALL_DEFAULT = 100
REPLAY_ALL_MAX = 500
_JOURNALED_MESSAGES = 20  # a replay of all journals the first 20 by name, and the count
_ID_MAX_CHARS = 128  # Service Bus's MessageId limit
_LIST_PARAMS = frozenset({"limit", "cursor", "order"})
_CHANGE_FIELDS = frozenset({"reason"})
_REPLAY_ALL_FIELDS = frozenset({"reason", "limit"})


@dataclass(frozen=True, slots=True)
class DeadLetteredMessage:
    """One dead letter as a backend holds it (``body`` is the message as it was sent)."""

    sequence_number: int
    message_id: str
    session_id: str | None
    body: bytes
    delivery_count: int
    reason: str | None
    description: str | None
    enqueued_at: datetime | None
    dead_lettered_at: datetime | None
    correlation_id: str | None = None
    content_type: str | None = None
    application_properties: Mapping[str, PropertyValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Replayed:
    """A dead letter sent again; ``removed`` is False when the send worked and the removal
    did not (it is still dead-lettered, and replaying it again is safe)."""

    letter: DeadLetteredMessage
    new_sequence_number: int | None = None
    removed: bool = True


@dataclass(frozen=True, slots=True)
class Waiting:
    """A dead letter left in place: its MessageId is inside the duplicate-detection window."""

    letter: DeadLetteredMessage
    replayable_at: datetime


@dataclass(frozen=True, slots=True)
class ReplayBatch:
    """What a replay of every dead letter did."""

    replayed: tuple[Replayed, ...] = ()
    waiting: tuple[Waiting, ...] = ()


@dataclass(frozen=True, slots=True)
class DeadLetterCount:
    """How many dead letters there are; ``exact`` is False past what a backend counts."""

    total: int
    exact: bool = True


class DeadLetters(Protocol):
    """The signals queue's dead-letter store (local Redis queue or Service Bus)."""

    @property
    def backend(self) -> str:
        """Name the backend: ``local`` or ``servicebus``."""
        ...

    @property
    def queue_name(self) -> str:
        """Name the queue whose dead letters these are."""
        ...

    async def browse(self, *, after: int | None, limit: int) -> list[DeadLetteredMessage]:
        """Return up to ``limit`` dead letters by ascending sequence number, after ``after``."""
        ...

    async def inspect(self, sequence_number: int) -> DeadLetteredMessage | None:
        """Return one dead letter, or None when it is not dead-lettered."""
        ...

    async def replay(self, sequence_number: int) -> Replayed | Waiting | None:
        """Send one dead letter again and remove it; None when it is not dead-lettered."""
        ...

    async def replay_all(self, limit: int) -> ReplayBatch:
        """Replay up to ``limit`` dead letters, oldest first; report those still waiting."""
        ...

    async def purge(self, sequence_number: int) -> DeadLetteredMessage | None:
        """Delete one dead letter; return it, or None when it is not dead-lettered."""
        ...

    async def count(self) -> DeadLetterCount:
        """Count the dead letters."""
        ...

    async def close(self) -> None:
        """Release what the adapter opened."""
        ...


class ChangeLog(Protocol):
    """Keep a change on ``ops:changes`` and publish its event, together (Redis)."""

    async def append(self, entry: str, channel: str, message: str) -> None:
        """Push ``entry`` onto the change list (trimmed) and publish ``message``."""
        ...


class ReportedMarks(Protocol):
    """Remember which dead letters the watch reported (Redis, shared by every instance)."""

    async def claim(
        self, sequence_numbers: Sequence[int], listed_at_ms: int, *, complete: bool
    ) -> list[int]:
        """Mark these as reported; return those nobody had marked. ``complete`` says the list
        is every dead letter as of ``listed_at_ms``, so older marks of others can go."""
        ...


class InDuplicateWindow(Conflict):
    """Refuse a replay the queue would drop as a duplicate; say when it can be replayed."""

    code = "in_duplicate_window"

    def __init__(self, message: str, *, replayable_at: datetime) -> None:
        super().__init__(message)
        self.replayable_at = replayable_at

    def to_dict(self) -> dict[str, str]:
        """Render the error with the moment the window closes."""
        return {**super().to_dict(), "replayable_at": self.replayable_at.isoformat()}


class Order(StrEnum):
    """Say which dead letters a listing shows first (by sequence number)."""

    NEWEST = "newest"
    OLDEST = "oldest"


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One page of the listing: its size, its order and where the last page ended."""

    limit: int = 50
    order: Order = Order.NEWEST
    cursor: int | None = None


@dataclass(frozen=True, slots=True)
class DeadLetterChange:
    """A replay or purge: why, who, and (replay of all) how many at most."""

    reason: str
    actor: Actor
    limit: int = REPLAY_ALL_DEFAULT


def read_list_query(params: Mapping[str, str]) -> ListQuery:
    """Validate the listing's query parameters (400 ``bad_filter`` / ``bad_cursor``)."""
    unknown = sorted(set(params) - _LIST_PARAMS)
    if unknown:
        raise InvalidRequest(
            f"unknown parameter {unknown[0]!r}", code="bad_filter", field=unknown[0]
        )
    raw_order = params.get("order") or Order.NEWEST.value
    try:
        order = Order(raw_order)
    except ValueError:
        raise InvalidRequest(
            "order is newest or oldest", code="bad_filter", field="order"
        ) from None
    limit = number(params, "limit", 50, 1, 200)
    if limit != int(limit):
        raise InvalidRequest("limit is a whole number", code="bad_filter", field="limit")
    return ListQuery(int(limit), order, _read_cursor(params.get("cursor"), order))


def _cursor(order: Order, sequence_number: int) -> str:
    raw = f"{order.value[0]}:{sequence_number}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(raw: str | None, order: Order) -> int | None:
    if not raw:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        tag, _, value = text.partition(":")
        if tag == order.value[0] and value.isdigit():
            return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidRequest(
        "cursor is not one this API gave out for this order", code="bad_cursor", field="cursor"
    )


def read_change(raw: bytes, actor: Actor, *, replay_all: bool = False) -> DeadLetterChange:
    """Read a replay or purge body: ``reason`` (required), and ``limit`` for a replay of all."""
    body = parse_body(raw, _REPLAY_ALL_FIELDS if replay_all else _CHANGE_FIELDS)
    reason = reason_of(body)
    limit = body.get("limit", REPLAY_ALL_DEFAULT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= REPLAY_ALL_MAX:
        raise InvalidRequest(
            f"limit is a whole number from 1 to {REPLAY_ALL_MAX}",
            code="invalid_field",
            field="limit",
        )
    return DeadLetterChange(reason=str(reason), actor=actor, limit=limit)


def sequence_of(id_text: str) -> int | None:
    """Return the sequence number an id names, or None when it is not a number."""
    digits = id_text.isascii() and id_text.isdigit() and len(id_text) <= 20
    return int(id_text) if digits else None


def envelope_fields(letter: DeadLetteredMessage) -> dict[str, Any]:
    """Return the signal id, strategy and account the message is for (body, else properties)."""
    body = _json_body(letter.body)
    found = body if isinstance(body, dict) else {}
    props = letter.application_properties
    out: dict[str, Any] = {}
    for name in ("signal_id", "strategy", "account"):
        value = found.get(name, props.get(name))
        out[name] = str(value) if value is not None else None
    return out


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(mask_text(body.decode("utf-8", "replace")))
    except ValueError:
        return None


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def summarize(letter: DeadLetteredMessage) -> dict[str, Any]:
    """Render one dead letter for a listing."""
    return {
        "id": letter.sequence_number,
        "message_id": letter.message_id,
        "session_id": letter.session_id,
        **envelope_fields(letter),
        "reason": letter.reason,
        "description": letter.description,
        "delivery_count": letter.delivery_count,
        "enqueued_at": _when(letter.enqueued_at),
        "dead_lettered_at": _when(letter.dead_lettered_at),
    }


def describe(letter: DeadLetteredMessage) -> dict[str, Any]:
    """Render one dead letter whole: the envelope parsed (secret-like fields masked)."""
    parsed = _json_body(letter.body)
    text = None if parsed is not None else mask_text(letter.body.decode("utf-8", "replace"))
    properties = {
        name: MASK if is_secret_name(name) else value
        for name, value in letter.application_properties.items()
    }
    return {
        **summarize(letter),
        "correlation_id": letter.correlation_id,
        "content_type": letter.content_type,
        "application_properties": properties,
        "body": parsed if parsed is not None else text,
        "body_is_json": parsed is not None,
        "body_bytes": len(letter.body),
    }


def _reference(letter: DeadLetteredMessage) -> dict[str, Any]:
    return {
        "id": letter.sequence_number,
        "message_id": letter.message_id,
        **envelope_fields(letter),
    }


def _replayed_view(outcome: Replayed) -> dict[str, Any]:
    return {
        **_reference(outcome.letter),
        "session_id": outcome.letter.session_id,
        "new_sequence_number": outcome.new_sequence_number,
        "removed": outcome.removed,
    }


def _waiting_view(waiting: Waiting) -> dict[str, Any]:
    return {**_reference(waiting.letter), "replayable_at": waiting.replayable_at.isoformat()}


def _change_id(at: datetime, text: str) -> str:
    # Newest first in the events table's RowKey order, as trading-control changes are.
    left_ms = 10**13 - int(at.timestamp() * 1000)
    return f"{left_ms:013d}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


class DeadLetterOps:
    """The ops API's dead-letter routes over one queue's dead-letter store."""

    def __init__(
        self,
        letters: DeadLetters,
        changes: ChangeLog,
        journal: ChangeJournal,
        clock: Clock,
    ) -> None:
        self._letters = letters
        self._changes = changes
        self._journal = journal
        self._clock = clock

    def _head(self) -> dict[str, Any]:
        return {
            "queue": self._letters.queue_name,
            "backend": self._letters.backend,
            "as_of": self._clock.now().isoformat(),
        }

    async def page(self, query: ListQuery) -> dict[str, Any]:
        """Return one page of dead letters and the cursor of the next."""
        if query.order is Order.OLDEST:
            counted = await self._letters.count()
            page = await self._letters.browse(after=query.cursor, limit=query.limit + 1)
        else:  # newest first: every dead letter is read anyway, so it counts them too
            every = await self._letters.browse(after=None, limit=SCAN_MAX + 1)
            counted = DeadLetterCount(min(len(every), SCAN_MAX), exact=len(every) <= SCAN_MAX)
            page = sorted(every[:SCAN_MAX], key=lambda letter: -letter.sequence_number)
            if query.cursor is not None:
                page = [x for x in page if x.sequence_number < query.cursor]
            page = page[: query.limit + 1]
        more = len(page) > query.limit
        page = page[: query.limit]
        return {
            **self._head(),
            "total": counted.total,
            "total_exact": counted.exact,
            "order": query.order.value,
            "dead_letters": [summarize(x) for x in page],
            "next": _cursor(query.order, page[-1].sequence_number) if more and page else None,
        }

    async def show(self, id_text: str) -> dict[str, Any]:
        """Return one dead letter whole."""
        return {**self._head(), **describe(await self._find(id_text))}

    async def _find(self, id_text: str) -> DeadLetteredMessage:
        sequence_number = sequence_of(id_text)
        found: DeadLetteredMessage | None = None
        if sequence_number is not None:
            found = await self._letters.inspect(sequence_number)
        elif id_text and len(id_text) <= _ID_MAX_CHARS and id_text.isprintable():
            same = [
                x
                for x in await self._letters.browse(after=None, limit=SCAN_MAX)
                if x.message_id == id_text
            ]
            if len(same) > 1:
                ids = ", ".join(str(x.sequence_number) for x in same)
                raise Conflict(
                    f"message {id_text!r} is dead-lettered more than once (ids {ids}): name one",
                    code="ambiguous_id",
                )
            found = same[0] if same else None
        if found is None:
            raise self._missing(id_text)
        return found

    def _missing(self, id_text: str) -> NotFound:
        shown = id_text if len(id_text) <= _ID_MAX_CHARS and id_text.isprintable() else "?"
        return NotFound(
            f"no dead letter {shown!r} in queue {self._letters.queue_name} (replayed, purged, "
            "or never dead-lettered)",
            code="not_dead_lettered",
        )

    async def replay(self, id_text: str, change: DeadLetterChange) -> dict[str, Any]:
        """Send one dead letter back to the queue and remove it; journal and publish that."""
        letter = await self._find(id_text)
        outcome = await self._letters.replay(letter.sequence_number)
        if outcome is None:
            raise self._missing(id_text)  # replayed or purged by someone else meanwhile
        if isinstance(outcome, Waiting):
            raise InDuplicateWindow(
                f"message {letter.message_id!r} was sent less than the queue's duplicate-"
                "detection window ago, so the queue would drop the replay as a duplicate; "
                f"replay it after {outcome.replayable_at.isoformat()}",
                replayable_at=outcome.replayable_at,
            )
        journaled = await self._record("dlq_replayed", change, [outcome.letter], every=False)
        answer: dict[str, Any] = {
            **self._head(),
            "replayed": _replayed_view(outcome),
            "journaled": journaled,
        }
        if not outcome.removed:
            answer["warning"] = (
                "the message was sent but the dead letter could not be removed; replaying it "
                "again is safe (the executor's ledger keeps the signal exactly-once)"
            )
        return answer

    async def replay_all(self, change: DeadLetterChange) -> dict[str, Any]:
        """Replay up to ``change.limit`` dead letters, oldest first; journal the batch."""
        batch = await self._letters.replay_all(change.limit)
        letters = [x.letter for x in batch.replayed]
        journaled = (
            await self._record("dlq_replayed", change, letters, every=True) if letters else False
        )
        remaining = await self._letters.count()
        return {
            **self._head(),
            "count": len(letters),
            "replayed": [_replayed_view(x) for x in batch.replayed],
            "waiting": [_waiting_view(x) for x in batch.waiting],
            "remaining": remaining.total,
            "journaled": journaled,
        }

    async def purge(self, id_text: str, change: DeadLetterChange) -> dict[str, Any]:
        """Delete one dead letter for good; journal and publish that."""
        letter = await self._find(id_text)
        purged = await self._letters.purge(letter.sequence_number)
        if purged is None:
            raise self._missing(id_text)
        journaled = await self._record("dlq_purged", change, [purged], every=False)
        return {**self._head(), "purged": summarize(purged), "journaled": journaled}

    async def _record(
        self,
        kind: str,
        change: DeadLetterChange,
        letters: Sequence[DeadLetteredMessage],
        *,
        every: bool,
    ) -> bool:
        at = self._clock.now()
        entry: dict[str, Any] = {
            "kind": kind,
            "action": "replayed" if kind == "dlq_replayed" else "purged",
            "scope": f"queue:{self._letters.queue_name}",
            "queue": self._letters.queue_name,
            "all": every,
            "count": len(letters),
            "messages": [_reference(x) for x in letters[:_JOURNALED_MESSAGES]],
            "reason": change.reason,
            "by": change.actor.to_dict(),
            "at": at.isoformat(),
        }
        entry["id"] = _change_id(at, json.dumps(entry, separators=(",", ":")))
        text = json.dumps(entry, separators=(",", ":"))
        message = keys.event_message(CHANGE_CHANNEL, entry, source="ops")
        recorded = True
        try:
            await self._changes.append(text, CHANGE_CHANNEL, message)
        except DependencyUnavailable as exc:
            log.warning("dead-letter change %s not on ops:changes (%s)", entry["id"], exc.message)
            recorded = False
        try:
            await self._journal.record(JOURNAL_KIND, entry["id"], entry)
        except DependencyUnavailable as exc:
            log.warning(
                "dead-letter change %s not in the events table (%s)", entry["id"], exc.message
            )
            recorded = False
        return recorded


@dataclass(frozen=True, slots=True)
class WatchReport:
    """What one watch run saw and reported."""

    seen: int
    reported: tuple[int, ...]
    complete: bool


class DeadLetterWatch:
    """Publish one ``queue.dead_lettered`` event per dead letter, exactly once."""

    def __init__(
        self, letters: DeadLetters, marks: ReportedMarks, bus: EventBus, clock: Clock
    ) -> None:
        self._letters = letters
        self._marks = marks
        self._bus = bus
        self._clock = clock

    async def run(self) -> WatchReport:
        """Look at the dead letters and report each one no run reported before."""
        listed_at = self._clock.now()
        letters = await self._letters.browse(after=None, limit=SCAN_MAX)
        complete = len(letters) < SCAN_MAX
        fresh = set(
            await self._marks.claim(
                [x.sequence_number for x in letters],
                int(listed_at.timestamp() * 1000),
                complete=complete,
            )
        )
        reported = []
        for letter in letters:
            if letter.sequence_number in fresh:
                await self._bus.publish(WATCH_CHANNEL, self._event(letter, listed_at))
                reported.append(letter.sequence_number)
        return WatchReport(seen=len(letters), reported=tuple(reported), complete=complete)

    def _event(self, letter: DeadLetteredMessage, seen_at: datetime) -> dict[str, Any]:
        return {
            "queue": self._letters.queue_name,
            **summarize(letter),
            "detected_at": seen_at.isoformat(),
        }
