"""The notifier's and the watchdog's state in Redis: one script or transaction per decision.

- ``RedisNotifyGate.admit`` is one Lua script per notification and channel: the
  de-duplication mark (``SET ... PX``, holding the entry id and the verdict, so a re-delivered
  entry gets the answer it got first), the rate window (a hash: ``start`` ms, ``count``) and
  the folded counts (a hash: ``total``, ``kind:<kind>``, ``first``, ``last``) change together.
- ``RedisNotifyGate.take_folded`` hands the folded counts over (and clears them) only when the
  window has room, taking a slot for the summary in the same script.
- ``RedisStatusBook.record`` updates a channel's JSON record in one script.
- ``RedisWatchStore.commit`` writes the watchdog's view and publishes its events (each also
  appended to the feed) in one ``MULTI``.

Errors are ``DependencyUnavailable``, so the feed entries being handled stay pending and are
handled again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared import redis_keys as keys
from shared.adapters.notify_feed import queue_feed
from shared.adapters.redis_errors import redis_unavailable
from shared.adapters.redis_replies import optional_text, text
from shared.services.notify.model import Folded
from shared.services.notify.ports import Verdict

# KEYS: dedupe mark, window, folded. ARGV: entry id, now ms, dedupe ms (0 = off), limit,
# window ms, kind, event time. Returns 'send', 'duplicate' or 'folded'.
_ADMIT = """
local dedupe_ms = tonumber(ARGV[3])
if dedupe_ms > 0 then
  local seen = redis.call('GET', KEYS[1])
  if seen then
    local id, verdict = string.match(seen, '^(.*)|(%a+)$')
    if id == ARGV[1] and verdict == 'send' then return 'send' end
    return 'duplicate'
  end
end
local now, limit, window = tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[5])
local start = tonumber(redis.call('HGET', KEYS[2], 'start') or '0')
local count = tonumber(redis.call('HGET', KEYS[2], 'count') or '0')
if now - start >= window then start = now; count = 0 end
local verdict = 'folded'
if count < limit then
  verdict = 'send'
  redis.call('HSET', KEYS[2], 'start', start, 'count', count + 1)
  redis.call('PEXPIRE', KEYS[2], window * 2)
else
  redis.call('HINCRBY', KEYS[3], 'kind:' .. ARGV[6], 1)
  redis.call('HINCRBY', KEYS[3], 'total', 1)
  redis.call('HSETNX', KEYS[3], 'first', ARGV[7])
  redis.call('HSET', KEYS[3], 'last', ARGV[7])
end
if dedupe_ms > 0 then
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. verdict, 'PX', dedupe_ms)
end
return verdict
"""

# KEYS: window, folded. ARGV: now ms, limit, window ms. Returns the folded hash (flat) or false.
_TAKE_FOLDED = """
if redis.call('EXISTS', KEYS[2]) == 0 then return false end
local now, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local start = tonumber(redis.call('HGET', KEYS[1], 'start') or '0')
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
if now - start >= window then start = now; count = 0 end
if count >= limit then return false end
redis.call('HSET', KEYS[1], 'start', start, 'count', count + 1)
redis.call('PEXPIRE', KEYS[1], window * 2)
local folded = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[2])
return folded
"""

# KEYS: the channel's record. ARGV: time, error ('' = delivered).
_RECORD = """
local doc = {}
local raw = redis.call('GET', KEYS[1])
if raw then
  local ok, found = pcall(cjson.decode, raw)
  if ok and type(found) == 'table' then doc = found end
end
if ARGV[2] == '' then
  doc['sent'] = (tonumber(doc['sent']) or 0) + 1
  doc['last_success_at'] = ARGV[1]
else
  doc['failed'] = (tonumber(doc['failed']) or 0) + 1
  doc['last_failure_at'] = ARGV[1]
  doc['last_error'] = ARGV[2]
end
redis.call('SET', KEYS[1], cjson.encode(doc))
"""


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _folded(flat: Sequence[Any]) -> Folded:
    values = {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}
    per_kind = {k.removeprefix("kind:"): int(v) for k, v in values.items() if k.startswith("kind:")}
    return Folded(
        total=int(values.get("total", "0")),
        per_kind=per_kind,
        first_at=values.get("first"),
        last_at=values.get("last"),
    )


class RedisNotifyGate:
    """De-duplicate and rate-limit per channel, atomically."""

    def __init__(self, client: aioredis.Redis, *, dedupe_s: int, limit: int, window_s: int) -> None:
        self._dedupe_ms = dedupe_s * 1000
        self._limit = limit
        self._window_ms = window_s * 1000
        self._admit = client.register_script(_ADMIT)
        self._take = client.register_script(_TAKE_FOLDED)

    async def admit(
        self, channel: str, kind: str, digest: str, entry_id: str, at: datetime
    ) -> Verdict:
        """Decide send, duplicate or folded for one notification on one channel."""
        keys_ = [
            keys.notify_dedupe(channel, digest),
            keys.notify_window(channel),
            keys.notify_folded(channel),
        ]
        args: list[str | int] = [entry_id, _ms(at), self._dedupe_ms, self._limit, self._window_ms]
        try:
            verdict = await self._admit(keys=keys_, args=[*args, kind, at.isoformat()])
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        return Verdict(text(verdict))

    async def take_folded(self, channel: str, at: datetime) -> Folded | None:
        """Return and clear the folded counts when the window has room for a summary."""
        keys_ = [keys.notify_window(channel), keys.notify_folded(channel)]
        try:
            flat = await self._take(keys=keys_, args=[_ms(at), self._limit, self._window_ms])
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        return _folded(flat) if flat else None


class RedisStatusBook:
    """Keep each channel's delivery record."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._record = client.register_script(_RECORD)

    async def record(self, channel: str, at: datetime, error: str | None) -> None:
        """Record a delivery or a failure (``error``, already sanitised)."""
        try:
            await self._record(
                keys=[keys.notify_status(channel)], args=[at.isoformat(), error or ""]
            )
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc


class RedisWatchStore:
    """Read the heartbeat with the watchdog's view; write the view with its events."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def read(self) -> tuple[str | None, str | None]:
        """Return the raw heartbeat and the stored view in one MGET."""
        try:
            beat, view = await self._redis.mget(keys.WORKER_HEARTBEAT, keys.NOTIFY_WATCHDOG)
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        return optional_text(beat), optional_text(view)

    async def commit(self, state: str, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Store the view and publish the events (on their channels and the feed) together."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(keys.NOTIFY_WATCHDOG, state)
                for channel, payload in events:
                    message = keys.event_message(channel, payload, source="watchdog")
                    pipe.publish(channel, message)
                    queue_feed(pipe, channel, message)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
