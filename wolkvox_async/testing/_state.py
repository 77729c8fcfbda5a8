"""FakeWolkvox's in-memory world: operations, tokens, quota, campaigns, call attempts, stats.

Pure data and rules, no HTTP. The rules restate wolkvox-api.md §10: the daily quota is
per operation (shared by its tokens), licenses × 1000, reset at midnight GMT-5; a campaign
holds 50,000 records with ≤ 2 licenses, else 7,000 × licenses (help-centre FAQ).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import attrs

from .._time import WOLKVOX_TZ, to_wolkvox_time

__all__ = [
    "Attempt",
    "Campaign",
    "FakeStats",
    "Management",
    "Operation",
    "ScheduledRecall",
    "World",
    "wolkvox_day",
]

# Result spellings as campaign_3 real data shows them (upper case, hyphenated, §7).
ATTEMPT_RESULTS = (
    "ANSWER",
    "NO-ANSWER",
    "BUSY",
    "ANSWER-MACHINE",
    "CONGESTION",
    "FAILED",
    "ABANDON",
)


class Attempt(NamedTuple):
    """One dial attempt; ``at`` is naive Wolkvox time (GMT-5)."""

    at: datetime
    conn_id: str
    customer_id: str
    telephone: str
    result: str
    cod_act: str = ""


class ScheduledRecall(NamedTuple):
    """A recall scheduled in a campaign (campaign.php recall or agentbox.php recall)."""

    campaign_id: str
    customer_id: str
    telephone: str
    at: datetime
    """When it is dialed (naive Wolkvox time)."""
    style: str
    """auto or manual."""
    agent_id: str = ""


class Management(NamedTuple):
    """A record coded without a call (codify, §5 #5): managed, but with no conn_id, so only
    ``detail=all`` shows it (§5 #6); ``at`` is naive Wolkvox time."""

    at: datetime
    customer_id: str
    cod_act: str
    cod_act_2: str = ""
    comment: str = ""


@attrs.define(kw_only=True)
class Campaign:
    """A campaign and everything stored in it."""

    id: str
    name: str
    type: str
    skill_id: str
    description: str = ""
    status: str = "Stopped"
    speed: int = 0
    settings: dict[str, Any] = attrs.field(factory=dict)
    records: list[dict[str, str]] = attrs.field(factory=list)
    attempts: list[Attempt] = attrs.field(factory=list)
    managed: list[Management] = attrs.field(factory=list)
    """Codifications, in the order they came."""
    _sorted: bool = True
    _stamps: list[datetime] = attrs.field(factory=list)
    _index: dict[str, dict[str, str]] | None = None
    _dials: dict[str, list[Attempt]] | None = None

    def add_records(self, records: Iterable[dict[str, str]]) -> None:
        self.records.extend(records)
        self._index = None

    def keep_records(self, keep: Callable[[dict[str, str]], bool]) -> None:
        self.records = [r for r in self.records if keep(r)]
        self._index = None

    def record_of(self, customer_id: str) -> dict[str, str]:
        """The (last) record loaded with ``customer_id``, or {}."""
        if self._index is None:
            self._index = {r.get("customer_id", ""): r for r in self.records}
        return self._index.get(customer_id, {})

    def add_attempts(self, attempts: Iterable[Attempt]) -> None:
        self.attempts.extend(attempts)
        self._sorted = False
        self._dials = None

    def dials_of(self, customer_id: str) -> list[Attempt]:
        """The dial attempts of a customer's record, in time order."""
        if self._dials is None:
            self.attempts_between(datetime.min, datetime.max)  # (sorts them)
            self._dials = {}
            for attempt in self.attempts:
                self._dials.setdefault(attempt.customer_id, []).append(attempt)
        return self._dials.get(customer_id, [])

    def last_code(self, customer_id: str) -> Management | None:
        """The customer's last codification, if any."""
        return next((m for m in reversed(self.managed) if m.customer_id == customer_id), None)

    def attempts_between(self, start: datetime, end: datetime) -> list[Attempt]:
        """Attempts with start <= at <= end, in time order (then conn_id)."""
        if not self._sorted:
            self.attempts.sort()
            self._stamps = [a.at for a in self.attempts]
            self._sorted = True
        lo = bisect.bisect_left(self._stamps, start)
        hi = bisect.bisect_right(self._stamps, end)
        return self.attempts[lo:hi]


@attrs.define(kw_only=True)
class Operation:
    """An operation: a server number, licenses, its tokens and its daily consumption."""

    server: str
    licenses: int
    daily_quota: int | None = None
    tokens: set[str] = attrs.field(factory=set)
    used: Counter[date] = attrs.field(factory=Counter)
    used_by_token: Counter[tuple[str, date]] = attrs.field(factory=Counter)
    dnc: dict[str, tuple[str, datetime | None]] = attrs.field(factory=dict)
    """Blocked numbers: (inbound/outbound/all, when the block ends; None: never)."""
    ips: dict[str, tuple[bool, str]] = attrs.field(factory=dict)
    """The API firewall's IPs: (permanent, description)."""

    @property
    def limit(self) -> int:
        return self.daily_quota if self.daily_quota is not None else self.licenses * 1000


_ACTIVITY_CODES: tuple[dict[str, str], ...] = tuple(
    {
        "cod_act": code,
        "description_cod_act": text,
        "hit": hit,
        "rpc": hit,
        "chat": "yes",
        "studio": "no",
        "voice": "yes",
        "type_code": "cod_act1",
        "interactions": "no",
    }
    for code, text, hit in (("001", "Sale", "yes"), ("002", "Call back later", "no"))
)


@attrs.define(kw_only=True)
class FakeStats:
    """What the simulator saw; tests assert on it."""

    in_flight: Counter[str] = attrs.field(factory=Counter)
    """Requests being handled now, per token."""
    peak_in_flight: Counter[str] = attrs.field(factory=Counter)
    """The most requests ever in flight at once, per token."""
    calls: Counter[str] = attrs.field(factory=Counter)
    """Calls charged to the quota, per operation (server number)."""
    requests: int = 0
    """Every request received, charged or not."""
    refusals: Counter[str] = attrs.field(factory=Counter)
    """Refusals by kind: simultaneous, token_limit, invalid_token, no_token, maintenance."""
    records_added: Counter[str] = attrs.field(factory=Counter)
    """Records stored per campaign id."""


@attrs.define(kw_only=True)
class World:
    """All operations and campaigns of one FakeWolkvox."""

    operations: dict[str, Operation] = attrs.field(factory=dict)
    campaigns: dict[str, Campaign] = attrs.field(factory=dict)
    stats: FakeStats = attrs.field(factory=FakeStats)
    campaign_capacity: int | None = None
    agents: dict[str, dict[str, str]] = attrs.field(factory=dict)
    """The operation's agents by id, as information.php agents lists them."""
    activity_codes: list[dict[str, str]] = attrs.field(factory=lambda: list(_ACTIVITY_CODES))
    """As information.php activity_codes lists them."""
    recalls: dict[tuple[str, str], ScheduledRecall] = attrs.field(factory=dict)
    """Scheduled recalls by (campaign, customer)."""
    report_rows: dict[str, list[tuple[datetime, dict[str, str]]]] = attrs.field(factory=dict)
    """Rows of the operation-wide reports the simulator cannot derive from call attempts
    (agent_*, chat_*), by report: (moment, row), served when the moment is in the window."""
    _ids: Iterator[int] = attrs.field(factory=lambda: itertools.count(7001))
    _conn_ids: Iterator[int] = attrs.field(factory=lambda: itertools.count(1))

    def operation_of(self, token: str) -> Operation | None:
        return next((op for op in self.operations.values() if token in op.tokens), None)

    def capacity(self, op: Operation) -> int:
        if self.campaign_capacity is not None:
            return self.campaign_capacity
        return 50_000 if op.licenses <= 2 else 7_000 * op.licenses

    def charge(self, op: Operation, token: str, now: datetime) -> bool:
        """Count one call for today (GMT-5); False when the quota was already spent."""
        day = wolkvox_day(now)
        if op.used[day] >= op.limit:
            return False
        op.used[day] += 1
        op.used_by_token[token, day] += 1
        self.stats.calls[op.server] += 1
        return True

    def add_agent(self, agent_id: str, *, name: str = "", status: str = "Ready") -> None:
        """Add an agent (information agents lists it; agentbox calls need it)."""
        self.agents[agent_id] = {
            "agent_id": agent_id,
            "agent_name": name or f"Agent {agent_id}",
            "agent_dni": "",
            "agent_status": status,
            "last_use": "",
            "agent_sso": "",
            "enabled": "yes",
        }

    def add_report_rows(self, report: str, rows: Iterable[tuple[datetime, dict[str, str]]]) -> None:
        """Rows an operation-wide report serves (agent_1..., chat_1...), each with its
        moment (naive = Wolkvox time): a query returns those in its window, as given."""
        kept = self.report_rows.setdefault(report, [])
        kept += [(to_wolkvox_time(at), dict(row)) for at, row in rows]
        kept.sort(key=lambda pair: pair[0])

    def new_campaign(self, **fields: Any) -> Campaign:
        campaign = Campaign(id=str(next(self._ids)), **fields)
        self.campaigns[campaign.id] = campaign
        return campaign

    def synthetic_attempts(
        self,
        campaign: Campaign,
        start: datetime,
        end: datetime,
        count: int,
        *,
        seed: int = 0,
    ) -> list[Attempt]:
        """``count`` attempts spread uniformly over start..end, on the campaign's records,
        each at a whole second, as Wolkvox stores them: an attempt at 23:59:59.7 would fall
        between two windows a client cut to the second (…23:59:59 and 00:00:00…), and no
        read of Wolkvox's could return it."""
        rng = random.Random(seed)
        lo, hi = to_wolkvox_time(start), to_wolkvox_time(end).replace(microsecond=0)
        if lo.microsecond:
            lo = min(lo.replace(microsecond=0) + timedelta(seconds=1), max(hi, lo))
        span = int((hi - lo).total_seconds())
        customers = [(r.get("customer_id", ""), r.get("tel1", "")) for r in campaign.records]
        attempts = []
        for _ in range(count):
            at = lo + timedelta(seconds=rng.randint(0, span))
            if customers:
                customer_id, phone = rng.choice(customers)
            else:
                customer_id = str(rng.randint(1, 10**9))
                phone = f"3{rng.randint(0, 10**9 - 1):09d}"
            attempts.append(
                Attempt(
                    at=at,
                    conn_id=f"{next(self._conn_ids):012d}",
                    customer_id=customer_id,
                    telephone=phone,
                    result=rng.choice(ATTEMPT_RESULTS),
                    cod_act=rng.choice(("001", "002", "TIMEOUTACW")),
                )
            )
        return attempts


def wolkvox_day(now: datetime) -> date:
    """The calendar day in Wolkvox time (the quota resets at midnight GMT-5)."""
    aware = now if now.tzinfo else now.replace(tzinfo=WOLKVOX_TZ)
    return aware.astimezone(WOLKVOX_TZ).date()
