"""What a ledger says the tokens are doing now: :func:`ledger_status` and its typed value.

The ledger's leases are the truth of who holds a slot (nothing is sent without one); the
heartbeats (``_heartbeat``) say by whom, on which route and since when, and who waits. A
lease whose holder writes no heartbeat (a process of an earlier version, one frozen or
just killed) shows as held by an unknown holder, with the pid its id carries. A memory
ledger is one process's own: read from that process it shows what the process holds;
from any other, nothing — it says so (``shared`` False, with a ``note``).

Times come out as aware datetimes on the reader's clock; quota days are counted in the
tokens' zone (Wolkvox's, GMT-5, unless configured otherwise) and reset at its midnight.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Collection
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from .._config import DEFAULT_LEASE_LIFE
from .._time import WOLKVOX_TZ, day_of, next_reset
from ._backend import Backend
from ._clock import Clock, SystemClock
from ._heartbeat import KeepsHeartbeats, RawLedger
from ._schedulers import schedulers_of
from ._sqlite import SQLiteBackend

__all__ = [
    "HeldSlot",
    "LedgerStatus",
    "OperationStatus",
    "ProcessStatus",
    "TokenStatus",
    "ledger_status",
]

_PID = re.compile(r"[sr](\d+)-")


@attrs.frozen(kw_only=True)
class HeldSlot:
    """One lease in flight: a slot of its token taken."""

    lease_id: str
    known: bool
    """A live heartbeat names its holder; else host, route and since are unknown."""
    pid: int | None
    """The holder's pid (from its heartbeat, or the lease id)."""
    host: str | None
    route: str | None
    """The call's route (e.g. ``campaign.find_record``); None: held after its caller
    left (sent, no answer: the slot is kept until the server must be done) or unknown."""
    since: datetime | None
    expires: datetime
    """When the ledger frees it if never released."""
    caller_left: bool = False
    """Its holder's call is over on our side (sent, no answer), and the slot is kept
    until the server must be done with it."""


@attrs.frozen(kw_only=True)
class TokenStatus:
    """One token (shown by its key, never the token)."""

    token: str
    held: tuple[HeldSlot, ...]
    cap: int | None
    """Slots the token may hold (from the heartbeats; None: no live heartbeat)."""
    waiting_interactive: int
    waiting_bulk: int
    capped_until: datetime | None
    """The cap is 1 until then (the server refused a call for concurrency)."""
    paused_until: datetime | None
    """Nothing is admitted until then (a maintenance answer)."""
    refusals_last_hour: dict[str, int]
    """Calls refused by the scheduler (quota, reserve, max_wait, ledger unavailable)."""
    pushback_last_hour: dict[str, int]
    """Calls the server refused and that were retried, by error class."""
    pauses_last_hour: dict[str, int]
    """The server's answers that held the token back: ``maintenance`` (paused a while),
    ``simultaneous`` (someone else uses the token: the cap lowered to 1 for a minute)."""


@attrs.frozen(kw_only=True)
class OperationStatus:
    """One operation's quota day and its tokens (None: tokens whose operation no live
    heartbeat names)."""

    operation: str | None
    day: str
    quota_used: int
    quota_limit: int | None
    quota_reserved: int
    resets_at: datetime
    fenced_until: datetime | None
    """The lost-ledger pause: nothing is admitted until then."""
    tokens: tuple[TokenStatus, ...]


@attrs.frozen(kw_only=True)
class ProcessStatus:
    """A process with a live heartbeat."""

    host: str
    pid: int
    started: datetime
    seen: datetime
    """When it last wrote its heartbeat."""


@attrs.frozen(kw_only=True)
class LedgerStatus:
    """The whole ledger as read at ``read_at``."""

    backend: str
    shared: bool
    """Processes share it (SQLite, Redis); False for memory (this process only)."""
    read_at: datetime
    note: str | None
    processes: tuple[ProcessStatus, ...]
    operations: tuple[OperationStatus, ...]

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready values (datetimes ISO 8601 in the reader's zone)."""
        plain: dict[str, Any] = _plain(attrs.asdict(self, recurse=True))
        return plain


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone().isoformat(timespec="seconds")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def ledger_status(
    backend: Backend, *, clock: Clock | None = None, operations: Collection[str] = ()
) -> LedgerStatus:
    """What ``backend``'s ledger says now; ``operations``: shown even when idle (a Redis
    ledger is found by operation: those the heartbeats name, and these)."""
    clock = clock or SystemClock()
    now = clock.time()
    where = backend.where
    if isinstance(backend, SQLiteBackend) and not backend.path.exists():
        note = f"no ledger at {backend.path}: no process has used it yet"
        return _empty(where, now, True, note)
    if isinstance(backend, KeepsHeartbeats):
        raw = await backend.read_ledger(now, operations)
        found = build(raw, where, now, True, None, operations)
        if found.operations or operations or isinstance(backend, SQLiteBackend):
            return found
        # (Redis: keys hashed from the operation; none named, "nothing today" may be false)
        note = f"no live heartbeat names an operation, and {where} finds a ledger by its "
        note += "operation: name it (wolkvox status --operation 0016; operations=['0016'])"
        return attrs.evolve(found, note=note)
    note = (
        f"{where} is per process: each process keeps its own ledger, which no other can "
        "read (read here, only this process's calls show); share one with sqlite:///path "
        "or redis://host"
    )
    local = schedulers_of(backend).here()
    if not local:
        return _empty(where, now, False, note)
    beats, leases = [], []
    for scheduler in local:
        if scheduler.in_use:  # (closed: its process holds nothing open here)
            beats.append((scheduler.heartbeat.key, now, scheduler.heartbeat.body()))
        for slot in scheduler.held.values():
            ttl = scheduler.limits[slot.lease.key].lease_ttl
            leases.append((slot.lease.key, slot.lease.record.id, slot.lease.granted_at + ttl))
    quota = []
    for scheduler in local:
        for limits in scheduler.limits.values():
            day = day_of(now, limits.tz)
            state = await backend.quota(limits.operation, day)
            quota.append((limits.operation, day, state.used, state.limit_override))
    raw = RawLedger(
        at=now, beats=tuple(beats), leases=tuple(leases), quota=tuple(quota), tokens=(), fences=()
    )
    return build(raw, where, now, False, note, operations)


def _empty(where: str, now: float, shared: bool, note: str) -> LedgerStatus:
    return LedgerStatus(
        backend=where, shared=shared, read_at=_at(now), note=note, processes=(), operations=()
    )


def _at(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def _zone(name: object) -> tzinfo:
    try:
        return ZoneInfo(str(name))
    except (ValueError, KeyError, OSError):
        return WOLKVOX_TZ


def build(
    raw: RawLedger,
    where: str,
    now: float,
    shared: bool,
    note: str | None,
    operations: Collection[str] = (),
) -> LedgerStatus:
    """Join the ledger's leases with the heartbeats' annotations (``now``: the reader's
    clock; the ledger's times are moved onto it)."""
    shift = now - raw.at
    processes: list[ProcessStatus] = []
    limits: dict[str, dict[str, Any]] = {}
    waiting = Counter[tuple[str, int]]()
    hour: dict[str, tuple[Counter[str], Counter[str], Counter[str]]] = {}
    holders: list[tuple[str, dict[str, Any]]] = []
    routes: dict[str, tuple[dict[str, Any], float, dict[str, Any]]] = {}
    for _, wrote, text in raw.beats:
        try:
            beat = json.loads(text)
            host, pid = str(beat["host"]), int(beat["pid"])
        except (ValueError, KeyError, TypeError):
            continue  # (another version's heartbeat: its leases show as unknown holders)
        process = ProcessStatus(
            host=host,
            pid=pid,
            started=_at(wrote + shift - float(beat.get("age", 0))),
            seen=_at(wrote + shift),
        )
        twin = next((p for p in processes if (p.host, p.pid) == (host, pid)), None)
        if twin is not None:  # a scheduler per event loop (threads): one process
            processes.remove(twin)
            process = attrs.evolve(
                process,
                started=min(twin.started, process.started),
                seen=max(twin.seen, process.seen),
            )
        processes.append(process)
        beat["_wrote"] = wrote
        holders.append((str(beat.get("prefix", "")), beat))
        for held in beat.get("held", []):
            routes[str(held["id"])] = (held, wrote, beat)
        for token, told in beat.get("tokens", {}).items():
            limits.setdefault(token, told)
            waiting[(token, 0)] += int(told.get("waiting", [0, 0])[0])
            waiting[(token, 1)] += int(told.get("waiting", [0, 0])[1])
            mine = hour.setdefault(token, (Counter[str](), Counter[str](), Counter[str]()))
            mine[0].update(told.get("refused", {}))
            mine[1].update(told.get("retried", {}))
            mine[2].update(told.get("paused", {}))
    slots: dict[str, list[HeldSlot]] = {}
    for token, lease_id, expires in raw.leases:
        slots.setdefault(token, []).append(_slot(lease_id, expires + shift, holders, routes, shift))
    paused = {token: (cap, pause) for token, cap, pause in raw.tokens}
    by_operation: dict[str | None, list[str]] = {}
    known_ops = dict(raw.operations)
    for token in sorted(set(slots) | set(limits) | set(paused) | set(known_ops)):
        operation = limits[token]["operation"] if token in limits else known_ops.get(token)
        by_operation.setdefault(operation, []).append(token)
    for operation, _, _, _ in raw.quota:
        by_operation.setdefault(operation, [])
    for operation in operations:
        by_operation.setdefault(operation, [])
    result = []
    for operation in sorted(by_operation, key=lambda o: (o is None, o or "")):
        tokens = by_operation[operation]
        told = [limits[t] for t in tokens if t in limits]
        tz = _zone(told[0]["tz"]) if told else WOLKVOX_TZ
        day = day_of(now, tz)
        used, override = 0, None
        for op, quota_day, count, limit in raw.quota:
            if op == operation and quota_day == day:
                used, override = count, limit
        configured = [int(t["limit"]) for t in told if t.get("limit") is not None]
        limit = override if override is not None else min(configured, default=None)
        reserved = 0
        if limit is not None:
            for t in told:
                fraction = math.ceil(limit * float(t.get("reserve_fraction", 0.0)))
                reserved = max(reserved, min(limit, max(int(t.get("reserve", 0)), fraction)))
        result.append(
            OperationStatus(
                operation=operation,
                day=day,
                quota_used=used,
                quota_limit=limit,
                quota_reserved=reserved,
                resets_at=_at(next_reset(now, tz)),
                fenced_until=_fence(raw, operation, told, shift, now),
                tokens=tuple(
                    _token(t, slots, limits, waiting, paused, hour, shift, now) for t in tokens
                ),
            )
        )
    return LedgerStatus(
        backend=where,
        shared=shared,
        read_at=_at(now),
        note=note,
        processes=tuple(sorted(processes, key=lambda p: (p.host, p.pid))),
        operations=tuple(result),
    )


def _slot(
    lease_id: str,
    expires: float,
    holders: list[tuple[str, dict[str, Any]]],
    routes: dict[str, tuple[dict[str, Any], float, dict[str, Any]]],
    shift: float,
) -> HeldSlot:
    found = _PID.match(lease_id)
    pid = int(found[1]) if found else None
    annotated = routes.get(lease_id)
    if annotated is not None:
        held, wrote, beat = annotated
        since = _at(wrote + shift - float(held.get("age", 0)))
        return HeldSlot(
            lease_id=lease_id,
            known=True,
            pid=int(beat["pid"]),
            host=str(beat["host"]),
            route=str(held.get("route") or "") or None,
            since=since,
            expires=_at(expires),
        )
    for prefix, beat in holders:
        if prefix and lease_id.startswith(prefix):
            # Not among its holder's slots: admitted after its last heartbeat, or its
            # caller left and the slot is kept (its expiry then moved to sent + hold,
            # earlier than a lease lifetime after that heartbeat).
            wrote = float(beat.get("_wrote", 0.0)) + shift
            life = max((float(t.get("lease_ttl", 0)) for t in beat["tokens"].values()), default=0)
            return HeldSlot(
                lease_id=lease_id,
                known=True,
                pid=int(beat["pid"]),
                host=str(beat["host"]),
                route=None,
                since=None,
                expires=_at(expires),
                caller_left=expires - life < wrote,
            )
    return HeldSlot(
        lease_id=lease_id,
        known=False,
        pid=pid,
        host=None,
        route=None,
        since=None,
        expires=_at(expires),
    )


def _token(
    token: str,
    slots: dict[str, list[HeldSlot]],
    limits: dict[str, Any],
    waiting: Counter[tuple[str, int]],
    paused: dict[str, tuple[float, float]],
    hour: dict[str, tuple[Counter[str], Counter[str], Counter[str]]],
    shift: float,
    now: float,
) -> TokenStatus:
    cap, pause = paused.get(token, (0.0, 0.0))
    refused, retried, paused_by = hour.get(token, (Counter(), Counter(), Counter()))
    told = limits.get(token)
    return TokenStatus(
        token=token,
        held=tuple(slots.get(token, ())),
        cap=None if told is None else int(told["cap"]),
        waiting_interactive=waiting[(token, 0)],
        waiting_bulk=waiting[(token, 1)],
        capped_until=_at(cap + shift) if cap + shift > now else None,
        paused_until=_at(pause + shift) if pause + shift > now else None,
        refusals_last_hour=dict(refused),
        pushback_last_hour=dict(retried),
        pauses_last_hour=dict(paused_by),
    )


def _fence(
    raw: RawLedger, operation: str | None, told: list[Any], shift: float, now: float
) -> datetime | None:
    life = max((float(t.get("lease_ttl", 0)) for t in told), default=DEFAULT_LEASE_LIFE)
    for fenced, until in raw.fences:
        if fenced == "*":  # (SQLite: when the pause began; it lasts a lease lifetime)
            until += life
        if fenced in ("*", operation) and until + shift > now:
            return _at(until + shift)
    return None
