"""The dead-letter ops' Redis: the local queue's dead letters, the change log, the watch's marks.

- ``LocalDeadLetters`` implements the ``DeadLetters`` port on the local queue
  (``shared.adapters.local_queue``): a listing is one ``LRANGE``; a replay, a replay of all
  and a purge are one Lua script each, so a dead letter is never both back on the queue and
  still dead-lettered, nor sent twice.
- ``RedisChangeLog`` pushes a change onto ``ops:changes`` (trimmed, as trading-control changes
  are) and publishes its ``risk.alert`` event in one script.
- ``RedisReportedMarks`` keeps ``dlq:reported:{queue}``: a sorted set of the sequence numbers
  the watch reported (score = when the reporting run listed them). ``ZADD NX`` decides who
  reports a dead letter, so two runs at once or a restart never report one twice; marks of dead
  letters gone before a complete listing are dropped; the key lives 30 days past the last run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared import redis_keys as keys
from shared.adapters.local_queue import DeadLetter, LocalQueue
from shared.adapters.redis_errors import redis_unavailable
from shared.ports import Clock
from shared.services.ops.dead_letters import (
    DeadLetterCount,
    DeadLetteredMessage,
    ReplayBatch,
    Replayed,
    Waiting,
)

MARKS_TTL_S = 30 * 86_400

# KEYS: the change list. ARGV: entry, channel, message, how many entries to keep.
_APPEND = """
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[4]) - 1)
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""

# KEYS: the marks. ARGV: listed_at_ms, complete ('1'/'0'), ttl_s, then the sequence numbers.
# Returns the sequence numbers nobody had marked. With a complete listing, a mark older than it
# whose dead letter the listing no longer holds is dropped: that dead letter is gone for good
# (a replayed message comes back under a new sequence number).
_CLAIM = """
local listed, complete = tonumber(ARGV[1]), ARGV[2] == '1'
local seen, fresh = {}, {}
for i = 4, #ARGV do
  seen[ARGV[i]] = true
  if redis.call('ZADD', KEYS[1], 'NX', listed, ARGV[i]) == 1 then fresh[#fresh + 1] = ARGV[i] end
end
if complete then
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. listed)) do
    if not seen[member] then redis.call('ZREM', KEYS[1], member) end
  end
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return fresh
"""


def reported_marks_key(queue_name: str) -> str:
    """Return the key of the watch's marks for one queue."""
    return f"dlq:reported:{queue_name}"


def to_message(letter: DeadLetter) -> DeadLetteredMessage:
    """Convert the local queue's dead letter into the port's record."""
    return DeadLetteredMessage(
        sequence_number=letter.sequence_number,
        message_id=letter.message_id,
        session_id=letter.session_id,
        body=letter.body,
        delivery_count=letter.delivery_count,
        reason=letter.reason,
        description=letter.description,
        enqueued_at=letter.enqueued_time,
        dead_lettered_at=letter.dead_lettered_at,
        correlation_id=letter.correlation_id,
        content_type=letter.content_type,
        application_properties=dict(letter.application_properties),
    )


class LocalDeadLetters:
    """Implement the ``DeadLetters`` port on the local (Redis) queue."""

    backend = "local"

    def __init__(self, queue: LocalQueue, clock: Clock) -> None:
        self._queue = queue
        self._clock = clock

    @property
    def queue_name(self) -> str:
        """Name the queue."""
        return self._queue.queue_name

    async def _all(self) -> list[DeadLetteredMessage]:
        try:
            letters = await self._queue.dead_letters()
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        return sorted((to_message(x) for x in letters), key=lambda m: m.sequence_number)

    async def browse(self, *, after: int | None, limit: int) -> list[DeadLetteredMessage]:
        """Return up to ``limit`` dead letters by sequence number, after ``after``."""
        letters = await self._all()
        return [x for x in letters if after is None or x.sequence_number > after][:limit]

    async def inspect(self, sequence_number: int) -> DeadLetteredMessage | None:
        """Return one dead letter, or None."""
        return next((x for x in await self._all() if x.sequence_number == sequence_number), None)

    async def replay(self, sequence_number: int) -> Replayed | Waiting | None:
        """Send one dead letter again and remove it, atomically."""
        done = await self._queue.replay_dead_letters([sequence_number], limit=1)
        batch = self._batch(done.replayed, done.waiting)
        if batch.replayed:
            return batch.replayed[0]
        return batch.waiting[0] if batch.waiting else None

    async def replay_all(self, limit: int) -> ReplayBatch:
        """Replay up to ``limit`` dead letters, oldest dead-lettered first, atomically."""
        done = await self._queue.replay_dead_letters(limit=limit)
        return self._batch(done.replayed, done.waiting)

    def _batch(
        self,
        replayed: Sequence[tuple[DeadLetter, int]],
        waiting: Sequence[tuple[DeadLetter, float]],
    ) -> ReplayBatch:
        now = self._clock.now()
        return ReplayBatch(
            replayed=tuple(Replayed(to_message(x), new) for x, new in replayed),
            waiting=tuple(
                Waiting(to_message(x), now + timedelta(seconds=left)) for x, left in waiting
            ),
        )

    async def purge(self, sequence_number: int) -> DeadLetteredMessage | None:
        """Delete one dead letter, atomically."""
        letter = await self._queue.purge_dead_letter(sequence_number)
        return None if letter is None else to_message(letter)

    async def count(self) -> DeadLetterCount:
        """Count the dead letters (one ``LLEN``)."""
        return DeadLetterCount(await self._queue.dead_letter_count())

    async def close(self) -> None:
        """Release nothing: the queue's Redis pool belongs to the container."""


class RedisChangeLog:
    """Implement the ``ChangeLog`` port: ``ops:changes`` and the event, in one script."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._append = client.register_script(_APPEND)

    async def append(self, entry: str, channel: str, message: str) -> None:
        """Push the change (keeping the last ``OPS_CHANGES_KEPT``) and publish its event."""
        args: list[str | int] = [entry, channel, message, keys.OPS_CHANGES_KEPT]
        try:
            await self._append(keys=[keys.OPS_CHANGES], args=args)
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc


class RedisReportedMarks:
    """Implement the ``ReportedMarks`` port on one sorted set per queue."""

    def __init__(self, client: aioredis.Redis, queue_name: str) -> None:
        self._claim = client.register_script(_CLAIM)
        self._key = reported_marks_key(queue_name)

    async def claim(
        self, sequence_numbers: Sequence[int], listed_at_ms: int, *, complete: bool
    ) -> list[int]:
        """Mark these as reported in one script; return those nobody had marked."""
        args: list[str | int] = [listed_at_ms, "1" if complete else "0", MARKS_TTL_S]
        args += [str(int(n)) for n in sequence_numbers]
        try:
            fresh = cast("list[Any]", await self._claim(keys=[self._key], args=args))
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        return [int(x) for x in fresh]
