"""The timers' view of Redis: whole contract maps, owner-only locks, intents and events.

Every contract map is one JSON string written by one ``SET ... EX`` (``save``), so a reader's
single ``GET`` sees either the old map or the new one, never a mix. Locks are ``SET NX PX``
with a random owner token and are released only by their owner (a Lua compare-and-delete),
so a slow holder whose lock expired cannot release the next holder's lock.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared import redis_keys as keys
from shared.adapters.notify_feed import queue_feed
from shared.adapters.redis_errors import redis_unavailable
from shared.adapters.redis_replies import text
from shared.adapters.redis_scripts import DELETE_IF_EQUAL

log = logging.getLogger(__name__)


class RedisTimerStore:
    """Implement the contract-map store, locks, event bus and intent reader on one client."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    # --- contract maps ----------------------------------------------------------------------

    async def load(self, root: str) -> dict[str, Any] | None:
        """Return one root's contract map, or None when there is none (or it is unreadable)."""
        try:
            raw = await self._redis.get(keys.contract_map(root))
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            log.warning("discarding an unreadable contract map for %s", root)
            return None
        return doc if isinstance(doc, dict) else None

    async def save(self, root: str, doc: Mapping[str, Any], ttl_s: int) -> None:
        """Replace one root's map in a single SET with a TTL."""
        try:
            await self._redis.set(keys.contract_map(root), json.dumps(doc), ex=ttl_s)
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc

    async def roots(self) -> list[str]:
        """Return the roots that have a map now (the executor may have added some on demand)."""
        prefix = keys.contract_map("")
        try:
            found = [
                text(k).removeprefix(prefix)
                async for k in self._redis.scan_iter(match=keys.CONTRACT_MAP_PATTERN, count=200)
            ]
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        return sorted(found)

    # --- locks --------------------------------------------------------------------------------

    async def acquire(self, key: str, ttl_s: float) -> str | None:
        """Take ``key`` for ``ttl_s`` seconds; return the owner token, or None when held."""
        token = uuid.uuid4().hex
        try:
            taken = await self._redis.set(key, token, nx=True, px=int(ttl_s * 1000))
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        return token if taken else None

    async def release(self, key: str, token: str) -> None:
        """Release ``key`` if ``token`` still owns it."""
        try:
            await self._redis.eval(DELETE_IF_EQUAL, 1, key, token)
        except (RedisError, OSError):
            # The lock expires on its own; failing the run for this would only repeat the work.
            log.warning("could not release lock %s; it expires by itself", key)

    async def held(self, key: str) -> bool:
        """Tell whether someone holds ``key``."""
        try:
            return bool(await self._redis.exists(key))
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc

    # --- events and intents -------------------------------------------------------------------

    async def publish(self, event: str, payload: Mapping[str, Any]) -> None:
        """Publish an event on its channel; pub/sub is best effort (the journal is the record)."""
        message = keys.event_message(event, payload)
        pipe = self._redis.pipeline(transaction=False)
        pipe.publish(event, message)
        queue_feed(pipe, event, message)  # notifiable events also go to the feed, same trip
        try:
            await pipe.execute()
        except (RedisError, OSError):
            log.warning("could not publish %s; the journal still has it", event)

    async def intents(self, strategy_id: str) -> dict[str, str]:
        """Return a strategy's intended positions: ``{account}:{root}`` -> JSON text."""
        try:
            raw = await self._redis.hgetall(keys.intended_positions(strategy_id))
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        return {text(k): text(v) for k, v in raw.items()}
