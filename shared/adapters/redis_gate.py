"""Rate-limit and de-duplicate alerts in Redis, shared by every function instance.

One script does both in a single round trip. Keys carry the strategy id as a hash tag
(``rl:{nq-trend}:…``, ``dd:{nq-trend}:…``) so both land in one slot on a clustered Azure
Managed Redis, where a script may only touch keys of one slot.

``admit_announced`` also publishes the alert's ``webhook.received`` event from that script
(PUBLISH names no key, so the one-slot rule holds): an admitted alert's event as given, a
duplicate's with the first alert's id, status ``duplicate`` and no messages, and nothing for
an alert over the rate limit. The event costs the webhook no round trip of its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.adapters.redis_errors import redis_unavailable
from shared.adapters.redis_replies import text
from shared.adapters.redis_scripts import DELETE_IF_EQUAL
from shared.ports import Admission
from shared.redis_keys import event_message

# KEYS: rate key, dedupe key ('' = none). ARGV: limit, signal id, ttl seconds; then the
# channel to announce the answer on ('' = none), the admitted alert's event, and the event of
# a duplicate (its signal_id replaced here by the first alert's).
# Returns {0} admitted, {1} over the limit, {2, existing id} duplicate.
_ADMIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], 120) end
if n > tonumber(ARGV[1]) then return {1} end
local existing = false
if KEYS[2] ~= '' and not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'EX', tonumber(ARGV[3])) then
  existing = redis.call('GET', KEYS[2])
  if not existing then redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[3])) end
end
if existing then
  if ARGV[4] ~= '' then
    local event = cjson.decode(ARGV[6])
    event['signal_id'] = existing
    redis.call('PUBLISH', ARGV[4], cjson.encode(event))
  end
  return {2, existing}
end
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return {0}
"""
_SOURCE = "webhook"


def _tag(strategy_id: str) -> str:
    return "{" + strategy_id + "}"


class RedisAlertGate:
    """Implement the ``AlertGate`` port: fixed one-minute windows and SET NX claims."""

    def __init__(self, client: aioredis.Redis, *, clock: Callable[[], float] = time.time) -> None:
        self._redis = client
        self._clock = clock
        self._admit = client.register_script(_ADMIT)
        self._release = client.register_script(DELETE_IF_EQUAL)

    async def admit(
        self,
        strategy_id: str,
        limit_per_min: int,
        dedupe_key: str | None,
        signal_id: str,
        ttl_s: int,
    ) -> Admission:
        """Count one alert in this minute, then claim its de-duplication key, atomically."""
        return await self._run(
            strategy_id, limit_per_min, dedupe_key, signal_id, ttl_s, ("", "", "")
        )

    async def admit_announced(
        self,
        strategy_id: str,
        limit_per_min: int,
        dedupe_key: str | None,
        signal_id: str,
        ttl_s: int,
        channel: str,
        event: Mapping[str, Any],
    ) -> Admission:
        """Admit as :meth:`admit` does and publish the answer's event on ``channel``, in the
        same script: ``event`` with ``signal_id`` and status ``accepted`` when admitted, with
        the first alert's id, status ``duplicate`` and no messages for a duplicate."""
        accepted = event_message(
            channel, {**event, "signal_id": signal_id, "status": "accepted"}, source=_SOURCE
        )
        duplicate = event_message(
            channel, {**event, "signal_id": "", "status": "duplicate", "messages": 0},
            source=_SOURCE,
        )  # fmt: skip
        announce = (channel, accepted, duplicate)
        return await self._run(strategy_id, limit_per_min, dedupe_key, signal_id, ttl_s, announce)

    async def _run(
        self,
        strategy_id: str,
        limit_per_min: int,
        dedupe_key: str | None,
        signal_id: str,
        ttl_s: int,
        announce: tuple[str, str, str],
    ) -> Admission:
        now = self._clock()
        tag = _tag(strategy_id)
        keys = [f"rl:{tag}:{int(now // 60)}", f"dd:{tag}:{dedupe_key}" if dedupe_key else ""]
        try:
            result: Any = await self._admit(
                keys=keys, args=[limit_per_min, signal_id, max(ttl_s, 1), *announce]
            )
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        if int(result[0]) == 1:
            return Admission(retry_after_s=max(1, math.ceil(60 - now % 60)))
        if int(result[0]) == 2:
            existing = result[1]
            return Admission(duplicate_of=text(existing))
        return Admission()

    async def announce(self, channel: str, event: Mapping[str, Any]) -> None:
        """Publish one event on ``channel`` (its own round trip: for the rare failure path)."""
        try:
            await self._redis.publish(channel, event_message(channel, event, source=_SOURCE))
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc

    async def release(self, strategy_id: str, dedupe_key: str, signal_id: str) -> None:
        """Delete the claim if it still holds ``signal_id``."""
        try:
            await self._release(keys=[f"dd:{_tag(strategy_id)}:{dedupe_key}"], args=[signal_id])
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
