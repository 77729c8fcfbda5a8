"""The Redis ledger's heartbeats, and the ledgers read whole for ``status``.

Heartbeats live in one hash, ``<prefix>:heartbeats`` (field: the process's heartbeat id;
value: "expires at body", Redis times), written by a script of its own that reads Redis
TIME, sweeps the fields whose time ran out and gives the key the TTL of the newest one:
nothing is added to an admission's or a release's script. Reading takes TIME and the
heartbeats in one script, then each named operation's ledger hash (``_redis_lua``): its
leases per token, the lowered caps and pauses, the day's quota and the lost-ledger pause
(``recovering_until``). An operation is found by name (its keys are hashed): those the
heartbeats name, and those the reader asks for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from datetime import date, timedelta
from typing import Any, Final

from ._heartbeat import RawLedger
from ._redis_connect import text

__all__ = ["BEAT", "DROP", "READ", "operations_of", "raw_ledger"]

_CLOCK: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
"""

BEAT: Final = (
    _CLOCK
    + """
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ends = tonumber(string.match(all[i + 1], '^(%S+)'))
  if ends <= now then redis.call('HDEL', KEYS[1], all[i]) end
end
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[2], string.format('%.6f %.6f ', now + ttl, now) .. ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl * 1000))
return 1
"""
)
"""KEYS: heartbeats; ARGV: offset, id, ttl, body."""

DROP: Final = "return redis.call('HDEL', KEYS[1], ARGV[1])"
"""KEYS: heartbeats; ARGV: id."""

READ: Final = (
    _CLOCK
    + """
local out = {string.format('%.6f', now)}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do out[#out + 1] = all[i]; out[#out + 1] = all[i + 1] end
return out
"""
)
"""KEYS: heartbeats; ARGV: offset. Replies Redis's time, then id, value pairs."""

_DAY_ZERO = date(1970, 1, 1)
_BEAT = re.compile(r"(\S+) (\S+) (.*)", re.DOTALL)


def raw_ledger(
    reply: list[Any], ledgers: dict[str, dict[Any, Any]], operations: Collection[str]
) -> RawLedger:
    """READ's ``reply`` and the ``ledgers`` (operation → its hash, HGETALL) as one
    :class:`RawLedger`; ``operations`` were asked for (shown even with nothing in them)."""
    parts = [text(p) for p in reply]
    at = float(parts[0])
    beats = []
    for key, value in zip(parts[1::2], parts[2::2], strict=True):
        found = _BEAT.fullmatch(value)
        if found and float(found[1]) > at:
            beats.append((key, float(found[2]), found[3]))
    leases, quota, tokens, fences, owners = [], [], [], [], []
    for operation, raw in ledgers.items():
        fields = {text(k): text(v) for k, v in raw.items()}
        caps: dict[str, list[float]] = {}
        for field, value in fields.items():
            kind, _, rest = field.partition(":")
            if kind == "leases":
                owners.append((rest, operation))
                pairs = value.split()
                for lease_id, ends in zip(pairs[::2], pairs[1::2], strict=True):
                    if float(ends) > at:
                        leases.append((rest, lease_id, float(ends)))
            elif kind in ("cap", "pause") and float(value) > at:
                caps.setdefault(rest, [0.0, 0.0])[kind == "pause"] = float(value)
            elif kind == "used":
                day = (_DAY_ZERO + timedelta(days=int(rest))).isoformat()
                limit = fields.get(f"limit:{rest}")
                quota.append((operation, day, int(value), None if limit is None else int(limit)))
        recovering = float(fields.get("recovering_until", "0"))
        if recovering > at:
            fences.append((operation, recovering))
        tokens += [(token, cap, pause) for token, (cap, pause) in caps.items()]
    return RawLedger(
        at=at,
        beats=tuple(sorted(beats)),
        leases=tuple(sorted(leases, key=lambda lease: lease[2])),
        quota=tuple(quota),
        tokens=tuple(tokens),
        fences=tuple(fences),
        operations=tuple(owners),
    )


def operations_of(reply: list[Any]) -> set[str]:
    """The operations READ's live heartbeats name."""
    parts = [text(p) for p in reply]
    at, found = float(parts[0]), set()
    for value in parts[2::2]:
        beat = _BEAT.fullmatch(value)
        if beat and float(beat[1]) > at:
            try:
                tokens = json.loads(beat[3]).get("tokens", {})
                found |= {str(t["operation"]) for t in tokens.values()}
            except (ValueError, AttributeError, KeyError, TypeError):
                continue  # (a heartbeat of another version: its leases still show)
    return found
