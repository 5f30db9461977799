"""Hold the Lua scripts that make each local-queue operation atomic inside Redis.

Key layout under the prefix ``lq:{queue}:``:

- ``seq``            sequence-number counter
- ``d:{message_id}`` duplicate-detection marker, expires after the detection window
- ``m:{seq}``        hash: ``rec`` (JSON record), ``sid``, ``dc`` (delivery count), ``exp``
                     (expiry, ms since epoch, 0 = never), ``err`` (last abandon reason)
- ``s:{session}``    list of sequence numbers, the session's FIFO; the head is "in flight"
                     until it is completed, abandoned past the limit or dead-lettered
- ``ready``          sorted set of sessions holding messages, scored by when they queued
- ``lock:{session}`` the session lock: the owner's token, with a time-to-live
- ``sched``          sorted set of scheduled sequence numbers by due time
- ``dlq``            list of dead-lettered records (JSON)
- ``wake``           list of tokens pushed on every send (and release or replay that leaves
                     work), popped by an idle receiver's BLPOP so it wakes at once

Keys are built inside the scripts, so this transport targets a single Redis server, which
is what the local stack runs; it is not meant for a Redis cluster.

Durability: Redis 7 logs a script's effects, not the script, to the append-only file, and logs
every relative expiry (``SET ... PX``, ``PEXPIRE``) as an absolute one (``PXAT``,
``PEXPIREAT``). So after a restart a session lock still lapses when it would have, and a
delivery count incremented by ``RECEIVE`` is not lost with the process.
(github.com/redis/redis/pull/8474: "Always replicate TTLs as absolute timestamps").
"""

from __future__ import annotations

# Shared helper, prepended to the scripts that can dead-letter.
_DEAD_LETTER = """
local function dead_letter(p, sid, seq, reason, description, now)
  local k = p .. 'm:' .. seq
  local entry = cjson.encode({
    seq = tonumber(seq), rec = redis.call('HGET', k, 'rec'),
    dc = tonumber(redis.call('HGET', k, 'dc')), reason = reason,
    description = description, at = now })
  redis.call('LPOP', p .. 's:' .. sid)
  redis.call('DEL', k)
  redis.call('RPUSH', p .. 'dlq', entry)
  if redis.call('LLEN', p .. 's:' .. sid) == 0 then redis.call('ZREM', p .. 'ready', sid) end
end
"""

# ARGV: prefix, now_ms, dedupe_window_ms, JSON array of {mid, sid, rec, due, exp}
# Returns one sequence number per message, 0 where it was a duplicate.
SEND = """
local p, now, win = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i, m in ipairs(cjson.decode(ARGV[4])) do
  if redis.call('SET', p .. 'd:' .. m.mid, '1', 'NX', 'PX', win) then
    local seq = redis.call('INCR', p .. 'seq')
    redis.call('HSET', p .. 'm:' .. seq, 'rec', m.rec, 'sid', m.sid, 'dc', 0, 'exp', m.exp)
    if m.due > now then
      redis.call('ZADD', p .. 'sched', m.due, seq)
    else
      redis.call('RPUSH', p .. 's:' .. m.sid, seq)
      redis.call('ZADD', p .. 'ready', 'NX', now, m.sid)
    end
    out[i] = seq
  else
    out[i] = 0
  end
end
redis.call('RPUSH', p .. 'wake', '1')
redis.call('LTRIM', p .. 'wake', -64, -1)
return out
"""

# Shared helper: moves scheduled messages that are due onto their sessions' FIFOs.
_PROMOTE = """
local function promote(p, now)
  for _, seq in ipairs(redis.call('ZRANGEBYSCORE', p .. 'sched', '-inf', now, 'LIMIT', 0, 500)) do
    redis.call('ZREM', p .. 'sched', seq)
    local sid = redis.call('HGET', p .. 'm:' .. seq, 'sid')
    if sid then
      redis.call('RPUSH', p .. 's:' .. sid, seq)
      redis.call('ZADD', p .. 'ready', 'NX', now, sid)
    end
  end
end
"""

# ARGV: prefix, now_ms, token, lock_ms. Promotes due scheduled messages, then locks the
# session that has waited longest and is not locked by anyone. Returns its id or false.
ACCEPT_SESSION = (
    _PROMOTE
    + """
local p, now, token, lock_ms = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
promote(p, now)
for _, sid in ipairs(redis.call('ZRANGE', p .. 'ready', 0, 999)) do
  if redis.call('SET', p .. 'lock:' .. sid, token, 'NX', 'PX', lock_ms) then return sid end
end
return false
"""
)

# Shared helper, prepended (after ``_DEAD_LETTER``) to the scripts that peek-lock a message:
# dead-letters expired and spent messages at the head of a locked session, then counts the
# delivery of the first live one. Returns {0} when the session is empty (and takes it off
# ``ready``), else {1, seq, rec, delivery_count}.
_TAKE_HEAD = """
local function take_head(p, sid, now, max_dc)
  while true do
    local seq = redis.call('LINDEX', p .. 's:' .. sid, 0)
    if not seq then
      redis.call('ZREM', p .. 'ready', sid)
      return {0}
    end
    local k = p .. 'm:' .. seq
    local exp = tonumber(redis.call('HGET', k, 'exp'))
    local dc = tonumber(redis.call('HGET', k, 'dc'))
    if exp > 0 and exp <= now then
      dead_letter(p, sid, seq, 'TTLExpiredException', 'the message expired before delivery', now)
    elseif dc >= max_dc then
      local last = redis.call('HGET', k, 'err') or 'the lock expired while the message was held'
      dead_letter(p, sid, seq, 'MaxDeliveryCountExceeded', last, now)
    else
      dc = redis.call('HINCRBY', k, 'dc', 1)
      return {1, tonumber(seq), redis.call('HGET', k, 'rec'), dc}
    end
  end
end
"""

# ARGV: prefix, session, token, now_ms, max_delivery_count, lock_ms
# Returns {-1} lock lost, {0} session empty, or {1, seq, rec, delivery_count}.
RECEIVE = (
    _DEAD_LETTER
    + _TAKE_HEAD
    + """
local p, sid, token = ARGV[1], ARGV[2], ARGV[3]
local now, max_dc, lock_ms = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if redis.call('GET', p .. 'lock:' .. sid) ~= token then return {-1} end
redis.call('PEXPIRE', p .. 'lock:' .. sid, lock_ms)
return take_head(p, sid, now, max_dc)
"""
)

# ARGV: prefix, now_ms (0 = the server's clock), token, lock_ms, max_delivery_count.
# ``ACCEPT_SESSION`` and ``RECEIVE`` in one step (one round trip, one append-only-file write):
# promotes due scheduled messages, locks the longest-waiting free session and peek-locks its
# head. A session found empty (its messages expired or spent) is unlocked again and the next
# one is tried. The server's clock is for a call queued behind a blocking wait (see
# ``LocalQueue.wait_and_accept``), which runs later than its caller could stamp it.
# Returns {session, seq, rec, delivery_count, now_ms} or false when no session has a message.
ACCEPT_RECEIVE = (
    _DEAD_LETTER
    + _TAKE_HEAD
    + _PROMOTE
    + """
local p, now, token = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local lock_ms, max_dc = tonumber(ARGV[4]), tonumber(ARGV[5])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
promote(p, now)
for _, sid in ipairs(redis.call('ZRANGE', p .. 'ready', 0, 999)) do
  if redis.call('SET', p .. 'lock:' .. sid, token, 'NX', 'PX', lock_ms) then
    local head = take_head(p, sid, now, max_dc)
    if head[1] == 1 then return {sid, head[2], head[3], head[4], now} end
    redis.call('DEL', p .. 'lock:' .. sid)
  end
end
return false
"""
)

# ARGV: prefix, now_ms. Read-only: how long an idle receiver may sleep before there can be
# work no send announces on ``wake``. Returns 0 when a session could be accepted now, else
# the milliseconds until the next scheduled message is due or the next lock on a waiting
# session lapses (a crashed holder's), whichever is sooner; -1 when neither is pending.
NEXT_WAKE = """
local p, now = ARGV[1], tonumber(ARGV[2])
local wait = -1
local first = redis.call('ZRANGE', p .. 'sched', 0, 0, 'WITHSCORES')
if first[2] then wait = math.max(tonumber(first[2]) - now, 0) end
for _, sid in ipairs(redis.call('ZRANGE', p .. 'ready', 0, 999)) do
  local left = redis.call('PTTL', p .. 'lock:' .. sid)
  if left == -2 then return 0 end
  if left >= 0 and (wait < 0 or left < wait) then wait = left end
end
return wait
"""

# ARGV: prefix, session, token, seq. Returns 1 done, -1 lock lost, -2 not the head.
COMPLETE = """
local p, sid, token, seq = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('GET', p .. 'lock:' .. sid) ~= token then return -1 end
if redis.call('LINDEX', p .. 's:' .. sid, 0) ~= seq then return -2 end
redis.call('LPOP', p .. 's:' .. sid)
redis.call('DEL', p .. 'm:' .. seq)
if redis.call('LLEN', p .. 's:' .. sid) == 0 then redis.call('ZREM', p .. 'ready', sid) end
return 1
"""

# ARGV: prefix, session, token, seq, max_delivery_count, now_ms, description
# Returns 1 abandoned (will be redelivered), 2 dead-lettered, -1 lock lost, -2 not the head.
ABANDON = (
    _DEAD_LETTER
    + """
local p, sid, token, seq = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max_dc, now, description = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
if redis.call('GET', p .. 'lock:' .. sid) ~= token then return -1 end
if redis.call('LINDEX', p .. 's:' .. sid, 0) ~= seq then return -2 end
redis.call('HSET', p .. 'm:' .. seq, 'err', description)
if tonumber(redis.call('HGET', p .. 'm:' .. seq, 'dc')) >= max_dc then
  dead_letter(p, sid, seq, 'MaxDeliveryCountExceeded', description, now)
  return 2
end
return 1
"""
)

# ARGV: prefix, session, token, seq, now_ms, reason, description
# Returns 1 dead-lettered, -1 lock lost, -2 not the head.
DEAD_LETTER = (
    _DEAD_LETTER
    + """
local p, sid, token, seq = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('GET', p .. 'lock:' .. sid) ~= token then return -1 end
if redis.call('LINDEX', p .. 's:' .. sid, 0) ~= seq then return -2 end
dead_letter(p, sid, seq, ARGV[6], ARGV[7], tonumber(ARGV[5]))
return 1
"""
)

# ARGV: prefix, session, token, lock_ms. Returns 1 renewed, -1 lock lost.
RENEW = """
if redis.call('GET', ARGV[1] .. 'lock:' .. ARGV[2]) ~= ARGV[3] then return -1 end
redis.call('PEXPIRE', ARGV[1] .. 'lock:' .. ARGV[2], tonumber(ARGV[4]))
return 1
"""

# ARGV: prefix, session, token, now_ms. Unlocks the session and, if it still holds
# messages, sends it to the back of the line so other sessions get their turn.
RELEASE = """
local p, sid, token, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('GET', p .. 'lock:' .. sid) ~= token then return -1 end
redis.call('DEL', p .. 'lock:' .. sid)
if redis.call('LLEN', p .. 's:' .. sid) > 0 then
  redis.call('ZADD', p .. 'ready', 'XX', now, sid)
  redis.call('RPUSH', p .. 'wake', '1')
  redis.call('LTRIM', p .. 'wake', -64, -1)
end
return 1
"""

# Dead letters (the ops API): put some back on the queue, or delete one, in one step each.

# ARGV: prefix, now_ms, dedupe_window_ms, ttl_ms (0 = none), limit, then the sequence numbers
# to replay (none = every dead letter, oldest first). A replay is a new send of the same
# message (MessageId, SessionId, body, properties): a new sequence number, delivery count 0,
# enqueued now, the queue's time-to-live; it logs the MessageId for duplicate detection, as a
# send does. A dead letter whose MessageId is still inside the detection window stays where it
# is (Service Bus would accept that send and drop it) and is reported with the window's rest.
# Returns {replayed, waiting}: replayed = {{old_seq, new_seq, entry}, ...} (at most ``limit``),
# waiting = {{seq, window_left_ms, entry}, ...}.
REPLAY_DEAD_LETTERS = """
local p, now, win = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local wanted = nil
if #ARGV > 5 then
  wanted = {}
  for i = 6, #ARGV do wanted[ARGV[i]] = true end
end
local replayed, waiting = {}, {}
for _, raw in ipairs(redis.call('LRANGE', p .. 'dlq', 0, -1)) do
  if #replayed >= limit then break end
  local entry = cjson.decode(raw)
  local seq = string.format('%d', entry.seq)
  if wanted == nil or wanted[seq] then
    local rec = cjson.decode(entry.rec)
    local marker = p .. 'd:' .. rec.message_id
    local left = redis.call('PTTL', marker)
    if left ~= -2 then
      waiting[#waiting + 1] = {seq, left, raw}
    else
      redis.call('LREM', p .. 'dlq', 1, raw)
      redis.call('SET', marker, '1', 'PX', win)
      local new = redis.call('INCR', p .. 'seq')
      local exp = 0
      if ttl > 0 then exp = now + ttl end
      rec.enqueued_ms = now
      rec.scheduled_ms = cjson.null
      if exp > 0 then rec.expires_ms = exp else rec.expires_ms = cjson.null end
      redis.call('HSET', p .. 'm:' .. new, 'rec', cjson.encode(rec), 'sid', rec.session_id,
        'dc', 0, 'exp', exp)
      redis.call('RPUSH', p .. 's:' .. rec.session_id, new)
      redis.call('ZADD', p .. 'ready', 'NX', now, rec.session_id)
      replayed[#replayed + 1] = {seq, new, raw}
    end
  end
end
if #replayed > 0 then
  redis.call('RPUSH', p .. 'wake', '1')
  redis.call('LTRIM', p .. 'wake', -64, -1)
end
return {replayed, waiting}
"""

# ARGV: prefix, seq. Deletes that dead letter; returns its entry, or false if it is not there.
PURGE_DEAD_LETTER = """
for _, raw in ipairs(redis.call('LRANGE', ARGV[1] .. 'dlq', 0, -1)) do
  local entry = cjson.decode(raw)
  if string.format('%d', entry.seq) == ARGV[2] then
    redis.call('LREM', ARGV[1] .. 'dlq', 1, raw)
    return raw
  end
end
return false
"""
