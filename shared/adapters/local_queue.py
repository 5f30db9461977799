"""Provide the local signals queue: Service Bus session-queue semantics on a Redis server.

The local stack and the tests use it in place of Azure Service Bus, so the webhook and the
executor run against the same behaviour they meet in Azure:

- ``MessageId`` duplicate detection within a window (a duplicate is accepted and dropped);
- one FIFO per ``SessionId``, one consumer per session at a time, parallel sessions;
- peek-lock delivery with a delivery count, abandon → redelivery, and dead-lettering with
  ``MaxDeliveryCountExceeded`` once the count is spent (also when consumers crash: the
  session lock expires and the message comes back with a higher count);
- time-to-live (``TTLExpiredException``) and scheduled delivery;
- dead letters listed, replayed (a new send of the same message, refused while its MessageId
  is inside the duplicate-detection window, where Service Bus would drop it) and purged.

Each operation is one atomic Lua script (``local_queue_lua``). The Redis server is expected to
persist (``local.services.RedisServer`` runs it with an append-only file), so, as in Service
Bus, an acknowledged send survives a restart of the server; session locks are keys with an
absolute expiry there too, so a message locked when Redis went down stays locked until its
lock lapses and then comes back with a higher delivery count.
"""

from __future__ import annotations

import base64
import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from shared.adapters import local_queue_lua as lua
from shared.adapters.redis_replies import text
from shared.domain.errors import DependencyUnavailable
from shared.ports import OutboundMessage, PropertyValue

# The signals queue's lockDuration (infra/: PT20S, Service Bus allows 5 s to 5 min). When a
# host dies holding a session, another takes it once this lapses. Hosts renew it while a
# handler runs, so a long order keeps it: the Functions host renews min(remaining / 2, 10 s)
# before expiry (Azure.Messaging.ServiceBus ReceiverManager.CalculateRenewDelay), and 20 s
# is the shortest lock for which that margin is the full 10 s (the Tradovate retry budget),
# as it was with the old 60 s lock. local.queue_processor renews every third of it.
# https://learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement
DEFAULT_LOCK_DURATION_S = 20.0


class SessionLockLost(Exception):
    """The session lock expired or was taken over; the message will be redelivered."""


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One delivery of a message, locked for the session that received it."""

    body: bytes
    message_id: str
    session_id: str
    sequence_number: int
    delivery_count: int
    enqueued_time: datetime
    lock_token: str
    correlation_id: str | None = None
    content_type: str | None = None
    application_properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    scheduled_enqueue_time: datetime | None = None
    expires_at: datetime | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message moved to the dead-letter store, with Service Bus's reason name."""

    message_id: str
    session_id: str
    body: bytes
    reason: str
    description: str
    delivery_count: int
    dead_lettered_at: datetime
    sequence_number: int = 0
    enqueued_time: datetime | None = None
    correlation_id: str | None = None
    content_type: str | None = None
    application_properties: Mapping[str, PropertyValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadLetterReplay:
    """What a replay did: the dead letters sent again (with the copy's sequence number), and
    those left in place because their MessageId is still inside the duplicate-detection window
    (with the seconds until it closes)."""

    replayed: tuple[tuple[DeadLetter, int], ...]
    waiting: tuple[tuple[DeadLetter, float], ...]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _now_precise_ms() -> float:
    """Return the time in milliseconds since the epoch, to the microsecond."""
    return time.time_ns() // 1000 / 1000


class LocalQueue:
    """Send to and receive from one Redis-backed session queue."""

    def __init__(
        self,
        client: aioredis.Redis,
        queue_name: str,
        *,
        duplicate_window_s: float = 600,
        max_delivery_count: int = 5,
        lock_duration_s: float = DEFAULT_LOCK_DURATION_S,
        default_ttl_s: float | None = 3600,
    ) -> None:
        if max_delivery_count < 1:
            raise ValueError("max_delivery_count must be at least 1")
        if lock_duration_s <= 0:
            raise ValueError("lock_duration_s must be positive")
        self._redis = client
        self.queue_name = queue_name
        self._prefix = f"lq:{queue_name}:"
        self._window_ms = int(duplicate_window_s * 1000)
        self.max_delivery_count = max_delivery_count
        self.lock_duration_s = lock_duration_s
        self._lock_ms = int(lock_duration_s * 1000)
        self._default_ttl_ms = int(default_ttl_s * 1000) if default_ttl_s else 0
        self._send = client.register_script(lua.SEND)
        self._accept = client.register_script(lua.ACCEPT_SESSION)
        self._receive = client.register_script(lua.RECEIVE)
        self._accept_receive = client.register_script(lua.ACCEPT_RECEIVE)
        self._next_wake = client.register_script(lua.NEXT_WAKE)
        self._complete = client.register_script(lua.COMPLETE)
        self._abandon = client.register_script(lua.ABANDON)
        self._dead_letter = client.register_script(lua.DEAD_LETTER)
        self._renew = client.register_script(lua.RENEW)
        self._release = client.register_script(lua.RELEASE)
        self._replay_dead = client.register_script(lua.REPLAY_DEAD_LETTERS)
        self._purge_dead = client.register_script(lua.PURGE_DEAD_LETTER)

    # --- sending (the SignalQueue port) -------------------------------------------------------

    async def send(self, messages: Sequence[OutboundMessage]) -> None:
        """Enqueue all messages atomically; duplicates within the window are dropped."""
        await self.send_and_report(messages)

    async def send_and_report(self, messages: Sequence[OutboundMessage]) -> list[int]:
        """Enqueue like ``send`` and return each sequence number (0 for a dropped duplicate)."""
        if not messages:
            return []
        # The enqueued time is kept to the microsecond (Service Bus gives whole milliseconds),
        # so the hop from the send to the delivery can be measured; the script's clock
        # (duplicate window, due times, expiry checks) stays in whole milliseconds.
        stamp = _now_precise_ms()
        now = int(stamp)
        batch = [self._encode(m, stamp) for m in messages]
        try:
            result = await self._send(args=[self._prefix, now, self._window_ms, json.dumps(batch)])
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable(f"the local queue could not be reached: {exc}") from exc
        return [int(x) for x in cast("list[Any]", result)]

    def _encode(self, message: OutboundMessage, now_ms: float) -> dict[str, Any]:
        due = _ms(message.scheduled_enqueue_time) if message.scheduled_enqueue_time else 0
        ttl_ms = (
            int(message.time_to_live.total_seconds() * 1000)
            if message.time_to_live is not None
            else self._default_ttl_ms
        )
        record = {
            "body": base64.b64encode(message.body).decode("ascii"),
            "message_id": message.message_id,
            "session_id": message.session_id,
            "correlation_id": message.correlation_id,
            "content_type": message.content_type,
            "properties": dict(message.application_properties),
            "enqueued_ms": now_ms,
            "scheduled_ms": due or None,
        }
        # ExpiresAt is the enqueued (or scheduled) time plus the time-to-live, as precise as
        # the enqueued time; the script compares whole milliseconds, rounded up.
        expires = max(due, now_ms) + ttl_ms if ttl_ms else 0
        record["expires_ms"] = expires or None
        return {
            "mid": message.message_id,
            "sid": message.session_id,
            "rec": json.dumps(record),
            "due": due,
            "exp": math.ceil(expires),
        }

    async def close(self) -> None:
        """Close the Redis connection pool."""
        await self._redis.aclose()

    # --- receiving -------------------------------------------------------------------------------

    async def accept_session(self, token: str) -> str | None:
        """Lock the longest-waiting free session for ``token``; None when there is none."""
        result = await self._accept(args=[self._prefix, _now_ms(), token, self._lock_ms])
        if not result:
            return None
        return text(result)

    async def accept_and_receive(self, token: str) -> ReceivedMessage | None:
        """Lock the longest-waiting free session for ``token`` and peek-lock its head.

        ``accept_session`` and ``receive`` in one atomic step (one round trip): the
        returned message's ``session_id`` is the session now locked for ``token``. None
        when no free session has a message to deliver (nothing is left locked then).
        """
        args: list[str | int] = [
            self._prefix, _now_ms(), token, self._lock_ms, self.max_delivery_count
        ]  # fmt: skip
        return self._accepted(await self._accept_receive(args=args), token)

    async def wait_and_accept(
        self, tokens: Sequence[str], timeout_s: float
    ) -> list[ReceivedMessage]:
        """Block until a wake token comes or ``timeout_s`` passes, then ``accept_and_receive``
        once for each of ``tokens``, in the same turn of the server; return what was taken.

        The commands go as one pipeline on one connection: Redis runs the accepts as soon as
        the blocking pop returns, and writes them to its append-only file together with the
        send that woke it, so messages reach an idle receiver after one durable write (the
        send's), not two; an alert fanned out to two sessions is taken whole by two tokens.
        Each message's ``lock_token`` is the token that took it. Cancelling this call while
        it blocks may leave a delivery unread, its session locked until the lock lapses;
        callers cancel it only when they stop.
        """
        pipe = self._redis.pipeline(transaction=False)
        pipe.blpop([self._prefix + "wake"], timeout=timeout_s)
        for token in tokens:
            # now_ms 0: the script reads the server's clock when it finally runs.
            pipe.evalsha(
                self._accept_receive.sha, 0, self._prefix, 0, token, self._lock_ms,
                self.max_delivery_count,
            )  # fmt: skip
        _, *results = await pipe.execute(raise_on_error=False)
        taken: list[ReceivedMessage] = []
        for token, result in zip(tokens, results, strict=True):
            if isinstance(result, NoScriptError):  # a restarted Redis forgot the script
                message = await self.accept_and_receive(token)
                return [*taken, message] if message is not None else taken
            if isinstance(result, Exception):
                raise result
            if (message := self._accepted(result, token)) is not None:
                taken.append(message)
        return taken

    def _accepted(self, result: Any, token: str) -> ReceivedMessage | None:
        if not result:
            return None
        _session, seq, raw, delivery_count, now = cast("list[Any]", result)
        # The record names its session, the one just locked; its lock runs from ``now``.
        return self._decode(
            int(seq), raw, int(delivery_count), token, _from_ms(int(now) + self._lock_ms)
        )

    async def receive(self, session_id: str, token: str) -> ReceivedMessage | None:
        """Peek-lock the head of a locked session (renewing its lock); None when it is empty."""
        now = _now_ms()
        result = cast(
            "list[Any]",
            await self._receive(
                args=[self._prefix, session_id, token, now, self.max_delivery_count, self._lock_ms]
            ),
        )
        status = int(result[0])
        if status == -1:
            raise SessionLockLost(f"session {session_id!r} is no longer locked by this receiver")
        if status == 0:
            return None
        # Like Service Bus's LockedUntilUtc: a session's messages share the session lock.
        locked_until = _from_ms(now + self._lock_ms)
        return self._decode(int(result[1]), result[2], int(result[3]), token, locked_until)

    def _decode(
        self, seq: int, raw: bytes, delivery_count: int, token: str, locked_until: datetime
    ) -> ReceivedMessage:
        record = json.loads(raw)
        scheduled, expires = record.get("scheduled_ms"), record.get("expires_ms")
        return ReceivedMessage(
            body=base64.b64decode(record["body"]),
            message_id=record["message_id"],
            session_id=record["session_id"],
            sequence_number=seq,
            delivery_count=delivery_count,
            enqueued_time=_from_ms(float(record["enqueued_ms"])),
            lock_token=token,
            correlation_id=record.get("correlation_id"),
            content_type=record.get("content_type"),
            application_properties=record.get("properties") or {},
            scheduled_enqueue_time=_from_ms(scheduled) if scheduled else None,
            expires_at=_from_ms(expires) if expires else None,
            locked_until=locked_until,
        )

    async def complete(self, message: ReceivedMessage) -> None:
        """Remove a handled message for good."""
        self._check(
            await self._complete(
                args=[self._prefix, message.session_id, message.lock_token, message.sequence_number]
            ),
            message,
        )

    async def abandon(self, message: ReceivedMessage, description: str) -> bool:
        """Give a message back for redelivery; return True if it was dead-lettered instead."""
        result = await self._abandon(
            args=[
                self._prefix,
                message.session_id,
                message.lock_token,
                message.sequence_number,
                self.max_delivery_count,
                _now_ms(),
                description[:1024],
            ]
        )
        self._check(result, message)
        return int(result) == 2

    async def dead_letter(self, message: ReceivedMessage, reason: str, description: str) -> None:
        """Move a message to the dead-letter store with an explicit reason."""
        self._check(
            await self._dead_letter(
                args=[
                    self._prefix,
                    message.session_id,
                    message.lock_token,
                    message.sequence_number,
                    _now_ms(),
                    reason,
                    description[:1024],
                ]
            ),
            message,
        )

    @staticmethod
    def _check(result: Any, message: ReceivedMessage) -> None:
        if int(result) == -1:
            raise SessionLockLost(f"lost the lock on session {message.session_id!r}")
        if int(result) == -2:
            raise SessionLockLost(f"message {message.message_id!r} is no longer at the head")

    async def renew_session_lock(self, session_id: str, token: str) -> datetime:
        """Extend the session lock (and so its messages' locks) by the lock duration.

        Return the new lock expiry. Raise ``SessionLockLost`` if the lock lapsed or another
        receiver holds it now; Redis errors propagate, the caller decides whether to retry.
        """
        now = _now_ms()
        if int(await self._renew(args=[self._prefix, session_id, token, self._lock_ms])) == -1:
            raise SessionLockLost(f"lost the lock on session {session_id!r}")
        return _from_ms(now + self._lock_ms)

    async def release_session(self, session_id: str, token: str) -> None:
        """Unlock a session so any receiver can take it (a no-op if the lock is gone)."""
        await self._release(args=[self._prefix, session_id, token, _now_ms()])

    async def wait_for_work(self, timeout_s: float) -> bool:
        """Block in Redis until a send (or a release of a non-empty session) pushes a wake
        token, or ``timeout_s`` passes; return whether a token came.

        Redis checks a blocked command's timeout on its own clock tick (every 100 ms), so
        a caller that must wake on time keeps its own timer (see ``next_wake_s``).
        """
        return await self._redis.blpop([self._prefix + "wake"], timeout=timeout_s) is not None

    async def next_wake_s(self) -> float | None:
        """Return how long an idle receiver may wait for a wake token before there is work
        no send announces: 0 when a session can be accepted now, else the seconds until the
        next scheduled message is due or a lock on a waiting session lapses; None when
        neither is pending."""
        left_ms = int(await self._next_wake(args=[self._prefix, _now_ms()]))
        return None if left_ms < 0 else left_ms / 1000

    # --- inspection ------------------------------------------------------------------------------

    async def dead_letters(self) -> list[DeadLetter]:
        """Return every dead-lettered message, oldest first."""
        entries = await self._redis.lrange(self._prefix + "dlq", 0, -1)
        return [_dead_letter(raw) for raw in entries]

    async def counts(self) -> dict[str, int]:
        """Return how many messages are active, scheduled and dead-lettered."""
        sessions = await self._redis.zrange(self._prefix + "ready", 0, -1)
        active = 0
        for sid in sessions:
            key = self._prefix + "s:" + text(sid)
            active += int(await self._redis.llen(key))
        return {
            "active": active,
            "scheduled": int(await self._redis.zcard(self._prefix + "sched")),
            "dead_lettered": int(await self._redis.llen(self._prefix + "dlq")),
        }

    async def dead_letter_count(self) -> int:
        """Return how many messages are dead-lettered (one LLEN)."""
        try:
            return int(await self._redis.llen(self._prefix + "dlq"))
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable(f"the local queue could not be reached: {exc}") from exc

    async def replay_dead_letters(
        self, sequence_numbers: Sequence[int] = (), *, limit: int = 100
    ) -> DeadLetterReplay:
        """Send dead letters again (these, or every one when none are named), atomically.

        Each goes back as a new send of the same message, as Service Bus would take it: same
        MessageId, SessionId, body and properties; a new sequence number, delivery count 0, the
        queue's time-to-live. One whose MessageId is still inside the duplicate-detection
        window stays dead-lettered (such a send would be accepted and silently dropped) and is
        reported as waiting. At most ``limit`` are replayed.
        """
        args: list[str | int] = [
            self._prefix, _now_ms(), self._window_ms, self._default_ttl_ms, max(limit, 0)
        ]  # fmt: skip
        args += [str(int(n)) for n in sequence_numbers]
        try:
            replayed, waiting = cast("list[Any]", await self._replay_dead(args=args))
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable(f"the local queue could not be reached: {exc}") from exc
        return DeadLetterReplay(
            replayed=tuple((_dead_letter(raw), int(new)) for _, new, raw in replayed),
            waiting=tuple(
                (_dead_letter(raw), max(int(left), 0) / 1000) for _, left, raw in waiting
            ),
        )

    async def purge_dead_letter(self, sequence_number: int) -> DeadLetter | None:
        """Delete one dead letter for good; return it, or None when it is not dead-lettered."""
        try:
            raw = await self._purge_dead(args=[self._prefix, str(int(sequence_number))])
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable(f"the local queue could not be reached: {exc}") from exc
        return None if raw is None else _dead_letter(raw)


def _dead_letter(raw: bytes | str) -> DeadLetter:
    entry = json.loads(raw)
    record = json.loads(entry["rec"])
    enqueued = record.get("enqueued_ms")
    properties = record.get("properties")
    return DeadLetter(
        message_id=record["message_id"],
        session_id=record["session_id"],
        body=base64.b64decode(record["body"]),
        reason=entry["reason"],
        description=entry["description"],
        delivery_count=int(entry["dc"]),
        dead_lettered_at=_from_ms(int(entry["at"])),
        sequence_number=int(entry.get("seq") or 0),
        enqueued_time=_from_ms(float(enqueued)) if enqueued else None,
        correlation_id=record.get("correlation_id"),
        content_type=record.get("content_type"),
        application_properties=properties if isinstance(properties, dict) else {},
    )


def new_receiver_token() -> str:
    """Return a fresh, unguessable lock-owner token for one session acquisition."""
    return uuid.uuid4().hex
