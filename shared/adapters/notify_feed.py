"""The notification feed in Redis: appended by every publisher, read through a consumer group.

Pub/sub forgets an event nobody is listening to, so each publisher also appends every event of
a ``NOTIFY_CHANNELS`` channel to the stream ``{notify}:feed`` (``XADD ... MAXLEN ~``) in the
round trip it already makes: ``queue_feed`` adds the command to the publisher's pipeline (the
ops API's kill-switch script appends it itself). The notifiers read the stream
with ``XREADGROUP`` through the group ``notifiers`` (one consumer per process), so each entry
goes to one of them, and take over with ``XAUTOCLAIM`` what a crashed consumer left pending.

The group is made on first use, starting ``GROUP_START_S`` back: a notifier switched on long
after the feed began does not replay days of old events, and one that starts a little after
a publisher still sees what it published. Errors are ``DependencyUnavailable``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from shared import redis_keys as keys
from shared.adapters.redis_errors import redis_unavailable
from shared.adapters.redis_replies import text
from shared.services.notify.ports import FeedEntry

log = logging.getLogger(__name__)

GROUP_START_S = 600
FIELD = "event"


def notifiable(channel: str) -> bool:
    """Tell whether events on ``channel`` are copied to the feed."""
    return channel in keys.NOTIFY_CHANNELS


def queue_feed(pipe: Any, channel: str, message: str) -> None:
    """Add the feed append of one published event to a pipeline (nothing for other channels)."""
    if notifiable(channel):
        pipe.xadd(
            keys.NOTIFY_FEED,
            {FIELD: message},
            maxlen=keys.NOTIFY_FEED_MAXLEN,
            approximate=True,
        )


def _entry(entry_id: Any, fields: Any) -> FeedEntry:
    raw = None
    if isinstance(fields, dict):
        raw = fields.get(FIELD.encode(), fields.get(FIELD))
    try:
        event = json.loads(text(raw)) if raw is not None else None
    except ValueError:
        event = None
    return FeedEntry(text(entry_id), event if isinstance(event, dict) else None)


class RedisNotifyFeed:
    """Read the feed as one consumer of the notifiers' group."""

    def __init__(self, client: aioredis.Redis, consumer: str) -> None:
        self._redis = client
        self._consumer = consumer
        self._group_ready = False

    async def _ensure_group(self) -> None:
        start_ms = int(time.time() * 1000) - GROUP_START_S * 1000
        try:
            await self._redis.xgroup_create(
                keys.NOTIFY_FEED, keys.NOTIFY_GROUP, id=f"{max(start_ms, 0)}-0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _call(self, command: str, *args: Any, **kwargs: Any) -> Any:
        # A missing group (first use, or the key was deleted) is made and the command repeated.
        try:
            if not self._group_ready:
                await self._ensure_group()
            try:
                return await getattr(self._redis, command)(*args, **kwargs)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self._ensure_group()
                return await getattr(self._redis, command)(*args, **kwargs)
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc

    async def read(self, count: int, block_ms: int | None) -> list[FeedEntry]:
        """Return up to ``count`` entries never delivered to any consumer."""
        reply = await self._call(
            "xreadgroup",
            keys.NOTIFY_GROUP,
            self._consumer,
            {keys.NOTIFY_FEED: ">"},
            count=count,
            block=block_ms,
        )
        entries: list[FeedEntry] = []
        for _stream, items in reply or []:
            entries.extend(_entry(entry_id, fields) for entry_id, fields in items)
        return entries

    async def reclaim(self, min_idle_ms: int, count: int) -> list[FeedEntry]:
        """Take over entries pending longer than ``min_idle_ms`` with any consumer."""
        reply = await self._call(
            "xautoclaim",
            keys.NOTIFY_FEED,
            keys.NOTIFY_GROUP,
            self._consumer,
            min_idle_ms,
            start_id="0-0",
            count=count,
        )
        claimed = reply[1] if isinstance(reply, list | tuple) and len(reply) > 1 else []
        found = [_entry(entry_id, fields) for entry_id, fields in claimed if fields is not None]
        if found:
            log.warning("took over %d notification(s) another notifier left pending", len(found))
        return found

    async def ack(self, entry_ids: Sequence[str]) -> None:
        """Acknowledge handled entries."""
        if entry_ids:
            await self._call("xack", keys.NOTIFY_FEED, keys.NOTIFY_GROUP, *entry_ids)
