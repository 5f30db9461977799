"""The ops API's view of Redis: one round trip per call (``shared.services.ops.ports.OpsStore``).

Reads are one pipeline (``MGET`` plus list heads and sizes); a kill-switch change is one Lua
script that changes the key, pushes the change onto ``ops:changes`` (trimmed) and publishes
the event together, so a change is never made without its record or recorded without being
made; a quote is one script that finds the contract in the root's map and reads its quote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared import redis_keys as keys
from shared.adapters.notify_feed import notifiable, queue_feed
from shared.adapters.redis_errors import redis_unavailable
from shared.adapters.redis_ledger import decode_hash
from shared.adapters.redis_replies import optional_text, text
from shared.ports import LedgerEntry
from shared.services.ops.ports import Reading, SwitchChange, SwitchResult

# KEYS: switch key, journal list, notification feed. ARGV: value ('' = delete), journal entry,
# channel, message, journal length, replace ('1'/'0'), feed length ('' = not notifiable).
# Returns {changed (1/0), previous value or false}.
_SWITCH = """
local old = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if not old then return {0, false} end
  redis.call('DEL', KEYS[1])
else
  if old and ARGV[6] ~= '1' then return {0, old} end
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
redis.call('PUBLISH', ARGV[3], ARGV[4])
if ARGV[7] ~= '' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'event', ARGV[4])
end
return {1, old}
"""

# KEYS: the root's contract map. ARGV: how to pick (name | continuous | front), its value.
# Returns {map or false, quote or false}; the quote key is built here from the map's id.
_MAP_AND_QUOTE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {false, false} end
local ok, doc = pcall(cjson.decode, raw)
if not ok or type(doc) ~= 'table' then return {raw, false} end
local name
if ARGV[1] == 'name' then
  name = ARGV[2]
elseif ARGV[1] == 'continuous' then
  if type(doc['continuous']) == 'table' then name = doc['continuous'][ARGV[2]] end
else
  name = doc['front']
end
if type(name) ~= 'string' or type(doc['contracts']) ~= 'table' then return {raw, false} end
local entry = doc['contracts'][name]
if type(entry) ~= 'table' or type(entry['id']) ~= 'number' then return {raw, false} end
local quote = redis.call('GET', '__QUOTE__' .. string.format('%d', entry['id']))
return {raw, quote or false}
""".replace("__QUOTE__", keys.QUOTE_PREFIX)


class RedisOpsStore:
    """Implement the ops API's Redis port on one client."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._switch = client.register_script(_SWITCH)
        self._map_and_quote = client.register_script(_MAP_AND_QUOTE)

    async def read(
        self,
        strings: Sequence[str],
        *,
        lists: Mapping[str, int] | None = None,
        list_sizes: Sequence[str] = (),
        set_sizes: Sequence[str] = (),
    ) -> Reading:
        """Read string keys, list heads and sizes in one pipeline."""
        heads = dict(lists or {})
        pipe = self._redis.pipeline(transaction=False)
        if strings:
            pipe.mget(list(strings))
        for key, count in heads.items():
            pipe.lrange(key, 0, count - 1)
        for key in list_sizes:
            pipe.llen(key)
        for key in set_sizes:
            pipe.zcard(key)
        try:
            replies = list(await pipe.execute()) if len(pipe) else []
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        values = tuple(optional_text(v) for v in replies.pop(0)) if strings else ()
        found_lists = {key: tuple(text(v) for v in replies.pop(0)) for key in heads}
        sizes = {key: int(replies.pop(0)) for key in [*list_sizes, *set_sizes]}
        return Reading(values, found_lists, sizes)

    async def switch(self, change: SwitchChange) -> SwitchResult:
        """Apply a kill-switch change, its journal entry and its event in one script."""
        args: list[str | int] = [
            change.value or "",
            change.journal_entry,
            change.channel,
            change.message,
            keys.OPS_CHANGES_KEPT,
            "1" if change.replace else "0",
            keys.NOTIFY_FEED_MAXLEN if notifiable(change.channel) else "",
        ]
        try:
            changed, previous = await self._switch(
                keys=[change.key, keys.OPS_CHANGES, keys.NOTIFY_FEED], args=args
            )
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        return SwitchResult(bool(changed), optional_text(previous))

    async def publish(self, channel: str, message: str) -> None:
        """Publish an event; a failure is counted and logged, never raised."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.publish(channel, message)
        queue_feed(pipe, channel, message)  # notifiable events also go to the feed, same trip
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            redis_unavailable(exc)  # counted; the journal is the record, the event a courtesy

    async def ledgers(self, signal_ids: Sequence[str]) -> dict[str, list[LedgerEntry]]:
        """Return the ledger rows of several signals in one pipeline."""
        if not signal_ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for signal_id in signal_ids:
            pipe.hgetall(keys.ledger_signal(signal_id))
        try:
            hashes: list[Any] = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        return {
            signal_id: decode_hash(signal_id, found.items())[0]
            for signal_id, found in zip(signal_ids, hashes, strict=True)
        }

    async def map_and_quote(
        self, root: str, pick: tuple[str, str]
    ) -> tuple[str | None, str | None]:
        """Return a root's map and the quote of the contract ``pick`` names, in one script."""
        try:
            raw_map, raw_quote = await self._map_and_quote(
                keys=[keys.contract_map(root)], args=list(pick)
            )
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        return optional_text(raw_map), optional_text(raw_quote)
