"""The Lua scripts of the Redis backend: one script per transition, Redis TIME as the clock.

Each script restates ``_rules.decide`` (admission) or one state change, reads the time with
``redis.call('TIME')`` (plus ``ARGV`` offset, zero outside tests), and touches only keys
under one hash tag, the operation's, so a decision is one slot on Redis Cluster. Every key
written gets a TTL. Numbers come back as strings: Redis would truncate Lua floats; each
admission's reply carries Redis's time, so the backend can turn the times in it into the
caller's clock.

Keys of an operation ``{tag}``: ``ledger`` (one hash: the epoch — id, created,
recovering_until, and the replication id and cluster node that last wrote it —; each
token's leases, ``leases:<token>`` = "id expiry id expiry…"; its lowered cap and pause,
``cap:<token>``, ``pause:<token>``; the quota, ``used:<day>``, ``limit:<day>``, day = days
since epoch in Wolkvox time), and ``stamp:<poll key>`` (hash: at, lease).

Why one hash. Redis evicts or expires whole keys. Leases in a key of their own could
vanish while the epoch survived, and nothing would notice the slots it forgot; in one key
with the epoch, whatever removes a lease removes the epoch, and the lost-ledger rule
below sees it.

A lost ledger (a restart without persistence, a flush, an eviction, a failover to an empty
replica) would forget the leases of calls still running at Wolkvox and let new ones in
beside them. So each process remembers the epoch id it last saw; an admission that finds
the epoch gone, or another than it knew, treats the state as lost and admits nothing on
the operation until a lease lifetime after the new epoch began (``recovering``). A
process that knew no epoch and finds none cannot tell a new ledger from a lost one, so it
asks Redis how long it has run (``INFO server``): if Redis started less than a lease
lifetime ago, the new epoch is born recovering until a lease lifetime after that start.
A failover keeps the keys but may lose their last writes (replication is asynchronous): a
ledger written under another replication id than the node's own starts a new epoch too,
unless a Cluster reshard carried it here whole from another node. Keys of the layout of
before (``epoch``, ``quota``, ``leases:<token>``) mean processes of an older version ran
here: a new ledger then starts recovering, with their quota count.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Final

from ._rules import Blocked, Decision, Exhausted, Granted, Why

__all__ = [
    "ADMIT",
    "FENCE",
    "IN_FLIGHT",
    "RELEASE",
    "SET_QUOTA",
    "SET_STATE",
    "admission",
    "day_number",
]

_DAY_ZERO = date(1970, 1, 1)


def day_number(day: str) -> int:
    """A quota day (YYYY-mm-dd) as the scripts name it: days since 1970-01-01."""
    return (date.fromisoformat(day) - _DAY_ZERO).days


def admission(reply: list[Any], now: float) -> tuple[Decision, str, bool, str]:
    """ADMIT's reply read: the decision, its times on the caller's clock (``now`` against
    Redis's time in the reply), the ledger's epoch, whether it was born of a loss in the
    last day, and the quota day."""
    kind, epoch, recent = reply[0], reply[2], reply[3] == "1"
    shift = now - float(reply[1])
    day = (_DAY_ZERO + timedelta(days=int(reply[4]))).isoformat()
    rest = reply[5:]
    decision: Decision
    if kind == "E":  # (its reset is midnight, not a moment of Redis's clock)
        decision = Exhausted(int(rest[0]), int(rest[1]), float(rest[2]), reserved=int(rest[3]))
    elif kind == "B":
        retry = float(rest[1])
        decision = Blocked(Why(rest[0]), None if retry < 0 else retry + shift)
    else:
        full = float(rest[1])
        decision = Granted(float(rest[0]) + shift, None if full < 0 else full + shift)
    return decision, epoch, recent, day


_NOW: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local function num(x) return string.format('%.6f', x) end
"""

_LEASES: Final = """
local function live_leases(key, field, now)
  local ids, ends, earliest = {}, {}, nil
  local packed = redis.call('HGET', key, field)
  if packed then
    for id, e in string.gmatch(packed, '(%S+) (%S+)') do
      local x = tonumber(e)
      if x > now then
        ids[#ids + 1] = id
        ends[#ends + 1] = x
        if earliest == nil or x < earliest then earliest = x end
      end
    end
  end
  return ids, ends, earliest
end
local function store_leases(key, field, ids, ends)
  if #ids == 0 then
    redis.call('HDEL', key, field)
    return
  end
  local parts = {}
  for i = 1, #ids do parts[#parts + 1] = ids[i] .. ' ' .. num(ends[i]) end
  redis.call('HSET', key, field, table.concat(parts, ' '))
end
"""

_STATE: Final = """
local function raise_state(key, field, seconds, now)
  local untl = now + seconds
  if untl > tonumber(redis.call('HGET', key, field) or '0') then
    redis.call('HSET', key, field, num(untl))
  end
end
"""

# The epoch an admission finds (see the module docstring), written when ``write``; without,
# what the next admission would find (scheduler_stats). Returns the id and the end of its
# recovery (0: none).
_EPOCH: Final = """
local function epoch_of(key, old_epoch, old_quota, now, ttl, known, new_id, cluster,
                        restart_fence, write)
  local info = redis.call('INFO', 'replication')
  local replid = string.match(info, 'master_replid:(%w+)') or ''
  local node = ''
  if cluster then node = redis.call('CLUSTER', 'MYID') end
  local epoch = redis.call('HGET', key, 'id')
  local wrote = redis.call('HGET', key, 'replid')
  local failed_over = false
  if epoch and wrote and wrote ~= replid then
    -- Another history wrote this ledger. Keys that a reshard carried here from another node
    -- are whole; on a promoted replica (the writer is its replid2) or a restarted node (same
    -- id), the writes of the last moments may be missing: start a new epoch, as if lost.
    local previous = string.match(info, 'master_replid2:(%w+)') or ''
    local moved = cluster and wrote ~= previous and redis.call('HGET', key, 'node') ~= node
    if not moved then
      epoch = false
      failed_over = true
    end
  end
  local recovering = tonumber(redis.call('HGET', key, 'recovering_until') or '0')
  if not epoch then
    local lost = known ~= '' or failed_over
    recovering = 0
    if lost then recovering = now + ttl end
    if restart_fence then
      local up = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)'))
      if up ~= nil and up < ttl then  -- Redis started (or restarted) within a lease lifetime
        lost = true
        recovering = math.max(recovering, now - up + ttl)
      end
    end
    local older = redis.call('EXISTS', old_epoch) == 1
    if older then
      lost = true
      recovering = math.max(recovering, now + ttl)
    end
    -- Born of a loss: a process that knew no epoch before reads the day's count too ('!').
    epoch = new_id
    if lost then epoch = epoch .. '!' end
    if write then
      redis.call('HSET', key, 'id', epoch, 'created', num(now), 'recovering_until', num(recovering))
      if older then
        local counts = redis.call('HGETALL', old_quota)
        for i = 1, #counts, 2 do redis.call('HSETNX', key, counts[i], counts[i + 1]) end
      end
    end
  elseif known ~= '' and epoch ~= known then
    local since = tonumber(redis.call('HGET', key, 'created') or num(now))
    recovering = math.max(recovering, since + ttl)
    if write then redis.call('HSET', key, 'recovering_until', num(recovering)) end
  end
  if write and wrote ~= replid then redis.call('HSET', key, 'replid', replid, 'node', node) end
  return epoch, recovering
end
-- An epoch born of a loss in the last day: a process that did not know it reads the day's
-- count too (after a day the count is the new day's own).
local function recent_loss(key, epoch, now)
  local created = tonumber(redis.call('HGET', key, 'created') or num(now))
  return string.sub(epoch, -1) == '!' and now - created < 86400
end
"""

# KEYS: ledger, stamp, the older layout's epoch and quota keys
# ARGV: offset, lease_id, limit (-1 = unknown), cap, lease_ttl, poll_interval, has_poll, tz_offset,
#       corrects_quota ('1': a token_info read that corrects the ledger, never refused for it),
#       known epoch ('' = none yet), a new epoch id (used if there is none),
#       reserve (units a BULK call must leave), reserve_fraction (of the limit),
#       on a cluster ('1': the node's id tells a reshard from a failover), token,
#       restart fence ('1': a process finding no ledger asks how long Redis has run)
# Replies: {kind, now, epoch, recent loss ('1': born of a loss in the last day), day, …}, then
# for 'G' expires, full_until; for 'B' reason, retry; for 'E' used, limit, resets, reserved;
# -1 stands for none.
ADMIT: Final = (
    _NOW
    + _LEASES
    + _STATE
    + _EPOCH
    + """
local L = KEYS[1]
local ttl = tonumber(ARGV[5])
local token = ARGV[15]
local day = math.floor((now + tonumber(ARGV[8])) / 86400)
local resets = (day + 1) * 86400 - tonumber(ARGV[8])
local epoch, recovering_until = epoch_of(L, KEYS[3], KEYS[4], now, ttl, ARGV[10], ARGV[11],
  ARGV[14] == '1', ARGV[16] == '1', true)
redis.call('EXPIRE', L, 4 * 86400)
local recent = '0'
if recent_loss(L, epoch, now) then recent = '1' end
local function reply(kind, ...)
  return {kind, num(now), epoch, recent, tostring(day), ...}
end
if recovering_until > now then
  return reply('B', 'recovering', num(recovering_until))
end
local field = 'leases:' .. token
local ids, ends, earliest = live_leases(L, field, now)
local leases = #ids
local cap_until = tonumber(redis.call('HGET', L, 'cap:' .. token) or '0')
local paused = tonumber(redis.call('HGET', L, 'pause:' .. token) or '0')
if cap_until > 0 and cap_until <= now then redis.call('HDEL', L, 'cap:' .. token) end
if paused > 0 and paused <= now then redis.call('HDEL', L, 'pause:' .. token) end
local used = tonumber(redis.call('HGET', L, 'used:' .. day) or '0')
local limit = tonumber(redis.call('HGET', L, 'limit:' .. day) or ARGV[3])
if limit >= 0 and used >= limit and ARGV[9] ~= '1' then
  return reply('E', tostring(used), tostring(limit), tostring(resets), '0')
end
if limit >= 0 and ARGV[9] ~= '1' then
  local reserved = math.max(tonumber(ARGV[12]), math.ceil(limit * tonumber(ARGV[13])))
  reserved = math.min(limit, reserved)
  if reserved > 0 and used >= limit - reserved then
    return reply('E', tostring(used), tostring(limit), tostring(resets), tostring(reserved))
  end
end
if paused > now then
  return reply('B', 'paused', num(paused))
end
if ARGV[7] == '1' then
  local at = redis.call('HGET', KEYS[2], 'at')
  if at then
    local free = tonumber(at) + tonumber(ARGV[6])
    if free > now then
      return reply('B', 'poll_interval', num(free))
    end
  end
end
local cap = tonumber(ARGV[4])
if cap_until > now and cap > 1 then cap = 1 end
if leases >= cap then
  local retry = earliest or -1
  if cap_until > now and leases < tonumber(ARGV[4]) and (retry < 0 or cap_until < retry) then
    retry = cap_until
  end
  return reply('B', 'concurrency', num(retry))
end
local expires = now + ttl
-- A lease that fills the token says until when the next caller would be blocked (decide's
-- full_until): the earliest expiry, or the end of a lowered cap below the normal one.
local full = -1
if not (leases + 1 < cap or (limit >= 0 and used + 1 >= limit)) then
  full = expires
  if earliest and earliest < full then full = earliest end
  if cap_until > now and leases + 1 < tonumber(ARGV[4]) and cap_until < full then
    full = cap_until
  end
end
ids[#ids + 1] = ARGV[2]
ends[#ends + 1] = expires
store_leases(L, field, ids, ends)
redis.call('HINCRBY', L, 'used:' .. day, 1)
redis.call('HDEL', L, 'used:' .. (day - 3), 'limit:' .. (day - 3))
if ARGV[7] == '1' then
  redis.call('HSET', KEYS[2], 'at', num(now), 'lease', ARGV[2])
  redis.call('PEXPIRE', KEYS[2], math.ceil((tonumber(ARGV[6]) + 60) * 1000))
end
return reply('G', num(expires), num(full))
"""
)

# KEYS: ledger, stamp
# ARGV: offset, lease_id, hold_seconds (<= 0: free now), refund, unstamp, day, channel, token,
#       cap_for, pause_for (seconds; 0: none), spent ('1': the day is spent at its count),
#       PUBLISH or SPUBLISH (a cluster's channel is in the keys' slot: sharded pub/sub)
# What the server said is applied here, before the release is published and anyone woken.
RELEASE: Final = (
    _NOW
    + _LEASES
    + _STATE
    + """
local L = KEYS[1]
local field = 'leases:' .. ARGV[8]
local ids, ends = live_leases(L, field, now)
local hold = tonumber(ARGV[3])
for i = #ids, 1, -1 do
  if ids[i] == ARGV[2] then  -- (an expired lease is not revived: it is not among them)
    if hold > 0 then
      ends[i] = now + hold
    else
      table.remove(ids, i)
      table.remove(ends, i)
    end
  end
end
store_leases(L, field, ids, ends)
if ARGV[4] == '1' then
  local used = tonumber(redis.call('HGET', L, 'used:' .. ARGV[6]) or '0')
  if used > 0 then redis.call('HINCRBY', L, 'used:' .. ARGV[6], -1) end
end
if (ARGV[4] == '1' or ARGV[5] == '1') and redis.call('HGET', KEYS[2], 'lease') == ARGV[2] then
  redis.call('DEL', KEYS[2])
end
if tonumber(ARGV[9]) > 0 then raise_state(L, 'cap:' .. ARGV[8], tonumber(ARGV[9]), now) end
if tonumber(ARGV[10]) > 0 then raise_state(L, 'pause:' .. ARGV[8], tonumber(ARGV[10]), now) end
if ARGV[11] == '1' then
  local used = redis.call('HGET', L, 'used:' .. ARGV[6]) or '0'
  redis.call('HSET', L, 'limit:' .. ARGV[6], used)
end
redis.call('EXPIRE', L, 4 * 86400)
redis.call(ARGV[12], ARGV[7], ARGV[8])
return 1
"""
)

# KEYS: ledger;  ARGV: offset, field (cap:<token> | pause:<token>), seconds
SET_STATE: Final = (
    _NOW
    + _STATE
    + """
raise_state(KEYS[1], ARGV[2], tonumber(ARGV[3]), now)
redis.call('EXPIRE', KEYS[1], 4 * 86400)
return 1
"""
)

# KEYS: ledger;  ARGV: offset, day, used, limit (-1 = keep), since (-1 = none): the calls
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

# KEYS: ledger;  ARGV: offset, token
IN_FLIGHT: Final = (
    _NOW
    + _LEASES
    + """
local ids = live_leases(KEYS[1], 'leases:' .. ARGV[2], now)
return #ids
"""
)

# KEYS: ledger, the older layout's epoch and quota keys
# ARGV: offset, known epoch, lease_ttl, on a cluster, restart fence (as ADMIT's)
# Reply: {now, recovering_until}: the lost-ledger pause the next admission would meet.
FENCE: Final = (
    _NOW
    + _EPOCH
    + """
local _, recovering = epoch_of(KEYS[1], KEYS[2], KEYS[3], now, tonumber(ARGV[3]), ARGV[2], '',
  ARGV[4] == '1', ARGV[5] == '1', false)
return {num(now), num(recovering)}
"""
)
