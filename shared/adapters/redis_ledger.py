"""Keep the execution ledger's working copy in Redis, with Table storage as its durable record.

The claim before a broker call must be fast: it sits between the signal and the order.
Here every ledger write is one Lua script (one round trip) on one hash per signal, and the
Table-storage copy is written afterwards by ``LedgerMirror`` (the worker's loop and the
``ledger_mirror`` timer), off the broker's critical path.

Layout (``shared.redis_keys``; one hash slot, ``{ledger}``, so every script's keys live on
one shard; the outbox scripts build signal keys from the ids they read, within that slot):

- ``{ledger}:sig:{SIGNAL_ID}``: hash, field = row key (client order id or ``exec:{account}``)
  -> JSON ``{"s": status, "f": {name: typed text}}``; the field ``__v`` counts writes. The
  typed text is ``s:`` text, ``i:`` integer, ``b:1``/``b:0``, or ``d:`` ISO-8601 time, so the
  scripts merge strings only (Lua's number handling cannot corrupt an order id).
- ``{ledger}:dirty``: sorted set of signal ids whose hash changed since the last mirror,
  scored by when they first changed (or the end of a mirror's lease). The mirror waits until
  a signal has settled for a moment, so the burst of writes around one order (claim,
  answer, fill) reaches Table storage as one transaction.

A claim is a conditional insert: ``claim_all`` writes every row or none. Every other write
is a merge (``_MERGE``), and the executor (claim, then the broker's answer) and the worker
(fills, cancels, from the WebSocket) race to a leg's row, so the merge gives the same row
whichever of them writes first:

- A leg's status only moves forward: claimed < sent < acknowledged (the executor's) <
  partially_filled < filled = cancelled (the worker's). A write whose status ranks below the
  row's arrives *behind*: it keeps the row's status. Statuses outside that order (rejected,
  replan, already_cancelled, superseded, a summary's) replace whatever was there.
- A behind write only adds the fields the row lacks (an acknowledgement after the fill adds
  ``order_id``, ``sent_at``, ``acked_at``, ``broker_status``); a write that is not behind
  also updates the fields it carries (a fill's quantity and price grow). No write removes a
  field: a row's fields are the union of every write's.
- ``order_id`` is written once: the first value stays, whichever side wrote it. A later write
  with a different one is a conflict (two orders behind one clOrdId): the row keeps the first,
  records the refused one as ``order_id_conflict`` and ``update_all`` logs a warning.
The hashes expire (``LEDGER_TTL_DAYS``); ``rows`` then falls back to the Table-storage copy.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from shared import redis_keys as keys
from shared.adapters.redis_errors import redis_unavailable
from shared.adapters.redis_replies import text
from shared.ports import Ledger, LedgerEntry

log = logging.getLogger(__name__)

DIRTY = keys.LEDGER_DIRTY
signal_key = keys.ledger_signal
VERSION_FIELD = "__v"


# Shared by the write scripts: bump the version, keep the hash alive, mark it for the mirror.
_TOUCH = """
local function touch(ttl, now_ms, signal_id)
  redis.call('HINCRBY', KEYS[1], '__v', 1)
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[2], 'NX', now_ms, signal_id)
end
"""

# KEYS: hash, dirty. ARGV: signal id, ttl s, now ms, then row, value pairs.
# Returns 1 when every row was inserted, 0 (nothing written) when any row existed.
_CLAIM_ALL = (
    _TOUCH
    + """
for i = 4, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then return 0 end
end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
touch(ARGV[2], ARGV[3], ARGV[1])
return 1
"""
)

# KEYS: hash, dirty. ARGV: signal id, ttl s, now ms, row, value.
# Returns false when inserted, else the existing row's value.
_CLAIM = (
    _TOUCH
    + """
local existing = redis.call('HGET', KEYS[1], ARGV[4])
if existing then return existing end
redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
touch(ARGV[2], ARGV[3], ARGV[1])
return false
"""
)

# KEYS: hash, dirty. ARGV: signal id, ttl s, now ms, then row, value pairs. Merges rows by
# the rule in the module docstring, whichever of the executor and the worker writes first.
# Returns a flat list of row, kept order id, refused order id for each order-id conflict.
_MERGE = (
    _TOUCH
    + """
local rank = {claimed = 1, sent = 2, acknowledged = 3, partially_filled = 4,
              filled = 5, cancelled = 5}
local conflicts = {}
for i = 4, #ARGV, 2 do
  local incoming = cjson.decode(ARGV[i + 1])
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if raw then
    local row = cjson.decode(raw)
    local now_rank, new_rank = rank[row.s], rank[incoming.s]
    local behind = now_rank and new_rank and new_rank < now_rank
    for name, value in pairs(incoming.f) do
      local held = row.f[name]
      if held == nil then
        row.f[name] = value
      elseif name == 'order_id' then
        if held ~= value then
          if row.f.order_id_conflict == nil then row.f.order_id_conflict = value end
          conflicts[#conflicts + 1] = ARGV[i]
          conflicts[#conflicts + 1] = held
          conflicts[#conflicts + 1] = value
        end
      elseif not behind then
        row.f[name] = value
      end
    end
    if not behind then row.s = incoming.s end
    redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(row))
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
touch(ARGV[2], ARGV[3], ARGV[1])
return conflicts
"""
)

# KEYS: dirty. ARGV: now ms, lease ms, limit, settle ms. Leases up to ``limit`` signals that
# have been waiting at least ``settle`` and returns, per signal, {signal id, HGETALL of its
# hash} (empty when the hash expired).
_LEASE = """
local due = redis.call(
  'ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[4], 'LIMIT', 0, ARGV[3])
local out = {}
for _, signal_id in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[1] + ARGV[2], signal_id)
  out[#out + 1] = {signal_id, redis.call('HGETALL', '__PREFIX__' .. signal_id)}
end
return out
""".replace("__PREFIX__", signal_key(""))

# KEYS: dirty. ARGV: now ms, then signal id, version pairs. Forgets a mirrored signal unless
# it was written again meanwhile, in which case it is due again at once.
_RELEASE = """
for i = 2, #ARGV, 2 do
  local current = redis.call('HGET', '__PREFIX__' .. ARGV[i], '__v')
  if (not current) or current == ARGV[i + 1] then
    redis.call('ZREM', KEYS[1], ARGV[i])
  else
    redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i])
  end
end
return 1
""".replace("__PREFIX__", signal_key(""))


def _typed(value: Any) -> str:
    if isinstance(value, bool):
        return "b:1" if value else "b:0"
    if isinstance(value, int):
        return f"i:{value}"
    if isinstance(value, datetime):
        return f"d:{value.isoformat()}"
    return f"s:{value}"


def _untyped(typed: str) -> str | int | bool | datetime:
    kind, _, value = typed.partition(":")
    if kind == "i":
        return int(value)
    if kind == "b":
        return value == "1"
    if kind == "d":
        return datetime.fromisoformat(value)
    return value


def encode_row(entry: LedgerEntry) -> str:
    """Render a row's status and fields (None values left out) as the hash value."""
    fields = {k: _typed(v) for k, v in entry.fields.items() if v is not None}
    return json.dumps({"s": entry.status, "f": fields}, separators=(",", ":"))


def decode_row(signal_id: str, row_key: str, raw: str | bytes) -> LedgerEntry:
    """Rebuild a ledger entry from its hash value."""
    data = json.loads(raw)
    fields = data.get("f") or {}  # Lua's cjson renders an empty object as []
    return LedgerEntry(
        signal_id, row_key, str(data["s"]), {k: _untyped(v) for k, v in fields.items()}
    )


def decode_hash(
    signal_id: str, pairs: Iterable[tuple[Any, Any]]
) -> tuple[list[LedgerEntry], str | None]:
    """Turn a hash's (field, value) pairs into rows and the hash's version."""
    rows: list[LedgerEntry] = []
    version: str | None = None
    for raw_name, value in pairs:
        name = text(raw_name)
        if name == VERSION_FIELD:
            version = text(value)
        else:
            rows.append(decode_row(signal_id, name, value))
    return rows, version


def _log_conflicts(signal_id: str, conflicts: Any) -> None:
    for start in range(0, len(conflicts or ()), 3):
        row_key, kept, refused = (text(v) for v in conflicts[start : start + 3])
        log.warning(
            "ledger: two order ids for one leg; kept the first",
            extra={
                "signal_id": signal_id,
                "row_key": row_key,
                "order_id": _untyped(kept),
                "order_id_conflict": _untyped(refused),
            },
        )


def _now_ms() -> int:
    return int(time.time() * 1000)


class RedisLedger:
    """Implement the ``Ledger`` port in Redis; each operation is one round trip."""

    def __init__(
        self, client: aioredis.Redis, *, ttl_s: int, archive: Ledger | None = None
    ) -> None:
        """``archive`` is the Table-storage copy ``rows`` reads once Redis has forgotten."""
        self._redis = client
        self._ttl_s = ttl_s
        self._archive = archive
        self._claim_all = client.register_script(_CLAIM_ALL)
        self._claim = client.register_script(_CLAIM)
        self._merge = client.register_script(_MERGE)

    @property
    def client(self) -> aioredis.Redis:
        """Return the Redis client the ledger writes through (to share its round trips)."""
        return self._redis

    def queue_claim_all(self, pipe: Any, entries: Sequence[LedgerEntry]) -> None:
        """Add ``claim_all``'s script to ``pipe`` (by SHA; ``claim_all_result`` reads it)."""
        keys, argv = self._args(entries)
        pipe.evalsha(self._claim_all.sha, len(keys), *keys, *argv)

    async def claim_all_result(self, entries: Sequence[LedgerEntry], result: Any) -> bool:
        """Read a queued ``claim_all``'s reply; run it alone when Redis lacked the script."""
        if isinstance(result, NoScriptError):
            return await self.claim_all(entries)
        if isinstance(result, Exception):
            raise redis_unavailable(result) from result
        return bool(result)

    def queue_merge(self, pipe: Any, entries: Sequence[LedgerEntry]) -> None:
        """Add ``update_all``'s script to ``pipe`` (by SHA; ``merge_result`` reads it)."""
        keys, argv = self._args(entries)
        pipe.evalsha(self._merge.sha, len(keys), *keys, *argv)

    async def merge_result(self, entries: Sequence[LedgerEntry], result: Any) -> None:
        """Read a queued merge's reply; run it alone when Redis lacked the script."""
        if isinstance(result, NoScriptError):
            await self.update_all(entries)
            return
        if isinstance(result, Exception):
            raise redis_unavailable(result) from result
        _log_conflicts(entries[0].signal_id, result)

    def _args(self, entries: Sequence[LedgerEntry]) -> tuple[list[str], list[Any]]:
        signal_ids = {e.signal_id for e in entries}
        if len(signal_ids) != 1:
            raise ValueError("one ledger write holds rows of exactly one signal")
        (signal_id,) = signal_ids
        argv: list[Any] = [signal_id, self._ttl_s, _now_ms()]
        for entry in entries:
            argv += [entry.row_key, encode_row(entry)]
        return [signal_key(signal_id), DIRTY], argv

    async def claim_all(self, entries: Sequence[LedgerEntry]) -> bool:
        """Insert the rows together; False (and nothing written) if any row exists."""
        keys, argv = self._args(entries)
        try:
            return bool(await self._claim_all(keys=keys, args=argv))
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc

    async def claim(self, entry: LedgerEntry) -> LedgerEntry | None:
        """Insert the row unless it exists; return the existing row when it does."""
        keys, argv = self._args([entry])
        try:
            existing = await self._claim(keys=keys, args=argv)
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        return None if existing is None else decode_row(entry.signal_id, entry.row_key, existing)

    async def update(self, entry: LedgerEntry) -> None:
        """Merge the row's status and fields."""
        await self.update_all([entry])

    async def update_all(self, entries: Sequence[LedgerEntry]) -> None:
        """Merge the rows together."""
        if not entries:
            return
        keys, argv = self._args(entries)
        try:
            conflicts = await self._merge(keys=keys, args=argv)
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        _log_conflicts(entries[0].signal_id, conflicts)

    async def rows(self, signal_id: str) -> list[LedgerEntry]:
        """Return every row of one signal, from Table storage once Redis has forgotten it."""
        try:
            found = await self._redis.hgetall(signal_key(signal_id))
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        rows, _ = decode_hash(signal_id, found.items())
        if not rows and self._archive is not None:
            return await self._archive.rows(signal_id)
        return rows


class LedgerOutbox:
    """Hand the mirror the signals whose ledger rows changed, under a lease."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._lease = client.register_script(_LEASE)
        self._release = client.register_script(_RELEASE)

    async def lease(
        self, limit: int, lease_s: float, settle_s: float = 0.0
    ) -> list[tuple[str, list[LedgerEntry], str | None]]:
        """Take up to ``limit`` signals changed at least ``settle_s`` ago, for ``lease_s``:
        (signal, rows, version)."""
        args = [_now_ms(), int(lease_s * 1000), limit, int(settle_s * 1000)]
        try:
            due = await self._lease(keys=[DIRTY], args=args)
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        leased = []
        for raw_id, flat in due:  # HGETALL inside a script replies field, value, field, ...
            signal_id = text(raw_id)
            rows, version = decode_hash(signal_id, zip(flat[0::2], flat[1::2], strict=True))
            leased.append((signal_id, rows, version))
        return leased

    async def release(self, mirrored: Sequence[tuple[str, str | None]]) -> None:
        """Forget the mirrored (signal, version)s; a signal written since stays due."""
        if not mirrored:
            return
        argv: list[Any] = [_now_ms()]
        for signal_id, version in mirrored:
            argv += [signal_id, version or ""]
        try:
            await self._release(keys=[DIRTY], args=argv)
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
