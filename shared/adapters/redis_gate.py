"""Rate-limit and de-duplicate alerts in Redis, shared by every function instance."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.domain.errors import DependencyUnavailable

# Delete a claim only if it still holds our value (a later alert may own it by now).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisAlertGate:
    """Implement the ``AlertGate`` port: fixed one-minute windows and SET NX claims."""

    def __init__(self, client: aioredis.Redis, *, clock: Callable[[], float] = time.time) -> None:
        self._redis = client
        self._clock = clock
        self._release = client.register_script(_RELEASE)

    async def hit(self, strategy_id: str, limit_per_min: int) -> int | None:
        """Count one alert in the current minute; return seconds to wait if over the limit."""
        now = self._clock()
        key = f"rl:{strategy_id}:{int(now // 60)}"
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable(
                f"Redis could not be reached: {type(exc).__name__}"
            ) from exc
        if int(count) <= limit_per_min:
            return None
        return max(1, math.ceil(60 - now % 60))

    async def claim(self, key: str, value: str, ttl_s: int) -> str | None:
        """Claim ``key`` for ``ttl_s``; return None if ours, else the value already there."""
        try:
            for _ in range(3):
                if await self._redis.set(key, value, nx=True, ex=ttl_s):
                    return None
                existing = await self._redis.get(key)
                if existing is not None:
                    return existing.decode() if isinstance(existing, bytes) else str(existing)
                # The claim expired between SET and GET: try again.
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable(
                f"Redis could not be reached: {type(exc).__name__}"
            ) from exc
        raise DependencyUnavailable("could not claim a de-duplication key", code="dedupe_contended")

    async def release(self, key: str, value: str) -> None:
        """Delete the claim if it still holds ``value``."""
        try:
            await self._release(keys=[key], args=[value])
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable(
                f"Redis could not be reached: {type(exc).__name__}"
            ) from exc
