"""The Lua scripts of the Redis backend: one script per transition, Redis TIME as the clock.

Each script restates ``_rules.decide`` (admission) or one state change, reads the time with
``redis.call('TIME')`` (plus ``ARGV`` offset, zero outside tests), and touches only keys
under one hash tag, the operation's, so a decision is one slot on Redis Cluster. Every key
written gets a TTL. Numbers come back as strings: Redis would truncate Lua floats.

Keys of an operation ``{tag}``: ``leases:<token>`` (sorted set, score = expiry),
``state:<token>`` (hash: cap_until, paused_until), ``quota`` (hash: used:<day>,
limit:<day>, day = days since epoch in Wolkvox time), ``stamp:<poll key>`` (hash: at, lease),
``epoch`` (hash: id, created, recovering_until, and the replication id and cluster node
that last wrote it).

A lost ledger (a restart without persistence, a flush, a failover to an empty replica)
would forget the leases of calls still running at Wolkvox and let new ones in beside them.
So each process remembers the ``epoch`` id it last saw; an admission that finds the epoch
gone, or another than it knew, treats the state as lost and admits nothing on the
operation until a lease lifetime after the new epoch began (``recovering``). A failover
keeps the keys but may lose their last writes (replication is asynchronous): a ledger
written under another replication id than the node's own starts a new epoch too, unless a
Cluster reshard carried it here whole from another node.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ADMIT", "IN_FLIGHT", "RELEASE", "SET_QUOTA", "SET_STATE"]

_NOW: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
"""

_RAISE_STATE: Final = """
local function raise_state(key, field, seconds, now)
  local untl = now + seconds
  local current = tonumber(redis.call('HGET', key, field) or '0')
  if untl > current then redis.call('HSET', key, field, tostring(untl)) end
  local cap_until = tonumber(redis.call('HGET', key, 'cap_until') or '0')
  local paused = tonumber(redis.call('HGET', key, 'paused_until') or '0')
  redis.call('PEXPIRE', key, math.ceil((math.max(cap_until, paused) - now + 60) * 1000))
end
"""

_KEEP_LEASES: Final = """
local function keep_leases(key, now)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('PEXPIRE', key, math.ceil((tonumber(last[2]) - now + 60) * 1000))
  end
end
"""

# KEYS: leases, state, quota, stamp, epoch
# ARGV: offset, lease_id, limit (-1 = unknown), cap, lease_ttl, poll_interval, has_poll, tz_offset,
#       corrects_quota ('1': a token_info read that corrects the ledger, never refused for it),
#       known epoch ('' = none yet), a new epoch id (used if there is none),
#       reserve (units a BULK call must leave), reserve_fraction (of the limit),
#       on a cluster ('1': the node's id tells a reshard from a failover)
# Every reply ends with the epoch id, for the process to remember.
ADMIT: Final = (
    _NOW
    + _KEEP_LEASES
    + """
local day = math.floor((now + tonumber(ARGV[8])) / 86400)
local resets = (day + 1) * 86400 - tonumber(ARGV[8])
local info = redis.call('INFO', 'replication')
local replid = string.match(info, 'master_replid:(%w+)') or ''
local node = ''
if ARGV[14] == '1' then node = redis.call('CLUSTER', 'MYID') end
local epoch = redis.call('HGET', KEYS[5], 'id')
local wrote = redis.call('HGET', KEYS[5], 'replid')
local failed_over = false
if epoch and wrote and wrote ~= replid then
  -- Another history wrote this ledger. Keys that a reshard carried here from another node
  -- are whole; on a promoted replica (the writer is its replid2) or a restarted node (same
  -- id), the writes of the last moments may be missing: start a new epoch, as if lost.
  local previous = string.match(info, 'master_replid2:(%w+)') or ''
  local moved = ARGV[14] == '1' and wrote ~= previous
    and redis.call('HGET', KEYS[5], 'node') ~= node
  if not moved then epoch = false; failed_over = true end
end
if not epoch then
  epoch = ARGV[11]
  local recovering = 0
  if ARGV[10] ~= '' or failed_over then
    -- Born of a loss: a process that knew no epoch before reads the day's count too ('!').
    epoch = epoch .. '!'
    recovering = now + tonumber(ARGV[5])
  end
  redis.call('HSET', KEYS[5], 'id', epoch, 'created', tostring(now),
    'recovering_until', tostring(recovering))
elseif ARGV[10] ~= '' and epoch ~= ARGV[10] then
  local since = tonumber(redis.call('HGET', KEYS[5], 'created') or tostring(now))
  local was = tonumber(redis.call('HGET', KEYS[5], 'recovering_until') or '0')
  local untl = math.max(was, since + tonumber(ARGV[5]))
  redis.call('HSET', KEYS[5], 'recovering_until', tostring(untl))
end
if wrote ~= replid then redis.call('HSET', KEYS[5], 'replid', replid, 'node', node) end
redis.call('EXPIRE', KEYS[5], 4 * 86400)
local recovering_until = tonumber(redis.call('HGET', KEYS[5], 'recovering_until') or '0')
if recovering_until > now then
  return {'B', 'recovering', tostring(recovering_until), tostring(day), epoch}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local leases = redis.call('ZCARD', KEYS[1])
local cap_until = tonumber(redis.call('HGET', KEYS[2], 'cap_until') or '0')
local paused = tonumber(redis.call('HGET', KEYS[2], 'paused_until') or '0')
local used = tonumber(redis.call('HGET', KEYS[3], 'used:' .. day) or '0')
local limit = tonumber(redis.call('HGET', KEYS[3], 'limit:' .. day) or ARGV[3])
if limit >= 0 and used >= limit and ARGV[9] ~= '1' then
  return {'E', tostring(used), tostring(limit), tostring(resets), tostring(day), '0', epoch}
end
if limit >= 0 and ARGV[9] ~= '1' then
  local reserved = math.max(tonumber(ARGV[12]), math.ceil(limit * tonumber(ARGV[13])))
  reserved = math.min(limit, reserved)
  if reserved > 0 and used >= limit - reserved then
    return {'E', tostring(used), tostring(limit), tostring(resets), tostring(day),
      tostring(reserved), epoch}
  end
end
if paused > now then
  return {'B', 'paused', tostring(paused), tostring(day), epoch}
end
if ARGV[7] == '1' then
  local at = redis.call('HGET', KEYS[4], 'at')
  if at then
    local free = tonumber(at) + tonumber(ARGV[6])
    if free > now then
      return {'B', 'poll_interval', tostring(free), tostring(day), epoch}
    end
  end
end
local cap = tonumber(ARGV[4])
if cap_until > now and cap > 1 then cap = 1 end
if leases >= cap then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local retry = -1
  if first[2] then retry = tonumber(first[2]) end
  if cap_until > now and leases < tonumber(ARGV[4]) and (retry < 0 or cap_until < retry) then
    retry = cap_until
  end
  return {'B', 'concurrency', tostring(retry), tostring(day), epoch}
end
local expires = now + tonumber(ARGV[5])
-- A lease that fills the token says until when the next caller would be blocked (decide's
-- full_until): the earliest expiry, or the end of a lowered cap below the normal one.
local full = -1
if not (leases + 1 < cap or (limit >= 0 and used + 1 >= limit)) then
  full = expires
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if first[2] and tonumber(first[2]) < full then full = tonumber(first[2]) end
  if cap_until > now and leases + 1 < tonumber(ARGV[4]) and cap_until < full then
    full = cap_until
  end
end
redis.call('ZADD', KEYS[1], expires, ARGV[2])
keep_leases(KEYS[1], now)
redis.call('HINCRBY', KEYS[3], 'used:' .. day, 1)
redis.call('HDEL', KEYS[3], 'used:' .. (day - 3), 'limit:' .. (day - 3))
redis.call('EXPIRE', KEYS[3], 4 * 86400)
if ARGV[7] == '1' then
  redis.call('HSET', KEYS[4], 'at', tostring(now), 'lease', ARGV[2])
  redis.call('PEXPIRE', KEYS[4], math.ceil((tonumber(ARGV[6]) + 60) * 1000))
end
return {'G', tostring(expires), tostring(day), tostring(now), tostring(full), epoch}
"""
)

# KEYS: leases, quota, stamp, state
# ARGV: offset, lease_id, hold_seconds (<= 0: free now), refund, unstamp, day, channel, token,
#       cap_for, pause_for (seconds; 0: none), spent ('1': the day is spent at its count),
#       PUBLISH or SPUBLISH (a cluster's channel is in the keys' slot: sharded pub/sub)
# What the server said is applied here, before the release is published and anyone woken.
RELEASE: Final = (
    _NOW
    + _KEEP_LEASES
    + _RAISE_STATE
    + """
local hold = tonumber(ARGV[3])
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if hold > 0 and score and tonumber(score) > now then  -- an expired lease is not revived
  redis.call('ZADD', KEYS[1], 'XX', now + hold, ARGV[2])
  keep_leases(KEYS[1], now)
else
  redis.call('ZREM', KEYS[1], ARGV[2])
end
if ARGV[4] == '1' then
  local used = tonumber(redis.call('HGET', KEYS[2], 'used:' .. ARGV[6]) or '0')
  if used > 0 then redis.call('HINCRBY', KEYS[2], 'used:' .. ARGV[6], -1) end
end
if (ARGV[4] == '1' or ARGV[5] == '1') and redis.call('HGET', KEYS[3], 'lease') == ARGV[2] then
  redis.call('DEL', KEYS[3])
end
if tonumber(ARGV[9]) > 0 then raise_state(KEYS[4], 'cap_until', tonumber(ARGV[9]), now) end
if tonumber(ARGV[10]) > 0 then raise_state(KEYS[4], 'paused_until', tonumber(ARGV[10]), now) end
if ARGV[11] == '1' then
  local used = redis.call('HGET', KEYS[2], 'used:' .. ARGV[6]) or '0'
  redis.call('HSET', KEYS[2], 'limit:' .. ARGV[6], used)
  redis.call('EXPIRE', KEYS[2], 4 * 86400)
end
redis.call(ARGV[12], ARGV[7], ARGV[8])
return 1
"""
)

# KEYS: state;  ARGV: offset, field (cap_until | paused_until), seconds
SET_STATE: Final = (
    _NOW
    + _RAISE_STATE
    + """
raise_state(KEYS[1], ARGV[2], tonumber(ARGV[3]), now)
return 1
"""
)

# KEYS: quota;  ARGV: offset, day, used, limit (-1 = keep), since (-1 = none): the calls
# counted since ``since`` are added to the server's count (Backend.set_quota).
SET_QUOTA: Final = """
local used = tonumber(ARGV[3])
if tonumber(ARGV[5]) >= 0 then
  local now = tonumber(redis.call('HGET', KEYS[1], 'used:' .. ARGV[2]) or '0')
  used = used + math.max(0, now - tonumber(ARGV[5]))
end
redis.call('HSET', KEYS[1], 'used:' .. ARGV[2], used)
if tonumber(ARGV[4]) >= 0 then redis.call('HSET', KEYS[1], 'limit:' .. ARGV[2], ARGV[4]) end
redis.call('EXPIRE', KEYS[1], 4 * 86400)
return 1
"""

# KEYS: leases;  ARGV: offset
IN_FLIGHT: Final = (
    _NOW
    + """
return redis.call('ZCOUNT', KEYS[1], '(' .. tostring(now), '+inf')
"""
)
