"""The simulator's reports of the whole operation: cdr_1, cdr_5, cdr_6 from the call
attempts of every campaign, and agent_1/3/7/8, chat_1/2/16 from rows a test adds.

They take date_ini..date_end and no campaign_id (the Postman collection's URLs), with the
limits of every report (``_report_api``): at most 31 calendar dates, at most 60,000 rows
(cut or refused, a knob), an empty window as HTTP 404 "0 records were found" (§4.2:
public code sees agent_3's empty day so), ``"code": 200`` (int) as their samples show.
Fields and vocabularies are the docs': cdr_5's results are capitalised words (§6.1, §7).

Where the docs are silent the simulator chooses, and says so here:

* cdr_1 lists the connected attempts (ANSWER, ANSWER-MACHINE, ABANDON), cdr_5 the others,
  FAILED as "Chanunavail" (cdr_5's vocabulary has no "failed"); ``destiny`` is
  "national", ``type_interaction`` "out_pre" (a predictive campaign's call), durations are
  seconds made up from the attempt's conn_id (a stable hash of it, so any conn_id works).
* cdr_6 counts cdr_5's rows per result.
* agent_* and chat_* are what :meth:`World.add_report_rows` gave, in time order, as given:
  the simulator keeps no agent sessions or chats to compute them from, and aggregates
  them for no window (a real aggregate comes per query window, as the client's windowed
  download says of aggregate reports).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Final

from ._replies import Context, Handler, Reply
from ._report_api import rows_reply, span
from ._state import Attempt, Campaign

__all__ = ["OPERATION_REPORT_API"]

_DATE: Final = "%Y-%m-%d %H:%M:%S"
_CONNECTED: Final = frozenset(["ANSWER", "ANSWER-MACHINE", "ABANDON"])
_NOT_CONNECTED: Final = {  # cdr_5's words (§6.1, §7)
    "NO-ANSWER": "No answer",
    "BUSY": "Busy",
    "CONGESTION": "Congestion",
    "FAILED": "Chanunavail",
}

Pairs = list[tuple[Campaign, Attempt]]


def _attempts(ctx: Context, start: datetime, stop: datetime, keep: Callable[[str], bool]) -> Pairs:
    pairs = [
        (camp, attempt)
        for camp in ctx.world.campaigns.values()
        for attempt in camp.attempts_between(start, stop)
        if keep(attempt.result)
    ]
    pairs.sort(key=lambda pair: pair[1])
    return pairs


def _seconds(attempt: Attempt) -> int:
    # Any conn_id (tests name attempts "first", "sep30-2330"): a stable hash, not
    # Python's hash(), which changes with each process.
    return 15 + zlib.crc32(attempt.conn_id.encode()) % 300


def _call_detail(pairs: Pairs) -> list[dict[str, str]]:
    rows = []
    for camp, a in pairs:
        seconds = _seconds(a)
        rows.append(
            {
                "agent_name": "Agent 1001",
                "date": a.at.strftime(_DATE),
                "destiny": "national",
                "telephone": a.telephone,
                "cost": "0",
                "time_seg": str(seconds),
                "time_min": str((seconds + 59) // 60),
                "cod_act": a.cod_act,
                "description_cod_act": "",
                "cod_act_2": "",
                "description_cod_act_2": "",
                "type_interaction": "out_pre",
                "customer_id": a.customer_id,
                "hang_up": "customer",
                "campaign_id": camp.id,
                "conn_id": a.conn_id,
                "skill_id": camp.skill_id,
                "skill_name": f"Skill {camp.skill_id}",
                "agent_id": "1001",
                "comment": "",
            }
        )
    return rows


def _unconnected(pairs: Pairs) -> list[dict[str, str]]:
    return [
        {
            "agent_name": "",
            "date": a.at.strftime(_DATE),
            "destiny": "national",
            "telephone": a.telephone,
            "ring_time": str(_seconds(a) % 60),
            "result": _NOT_CONNECTED[a.result],
            "type_interaction": "out_pre",
            "customer_id": a.customer_id,
            "campaign_id": camp.id,
            "agent_id": "",
            "conn_id": a.conn_id,
        }
        for camp, a in pairs
    ]


def _per_result(pairs: Pairs) -> list[dict[str, str]]:
    counts = Counter(_NOT_CONNECTED[a.result] for _, a in pairs)
    return [{"result": result, "count": str(n)} for result, n in counts.items()]


def _from_attempts(
    keep: Callable[[str], bool], build: Callable[[Pairs], list[dict[str, str]]], per_row: bool
) -> Handler:
    def handler(ctx: Context) -> Reply:
        dates = span(ctx)
        if isinstance(dates, Reply):
            return dates
        pairs = _attempts(ctx, *dates, keep)
        if per_row:  # rows past the cap are never sent: build one more than it
            pairs = pairs[: ctx.knobs.download_cap + 1]
        return rows_reply(ctx, 200, build(pairs))

    return handler


def _given(report: str) -> Handler:
    def handler(ctx: Context) -> Reply:
        dates = span(ctx)
        if isinstance(dates, Reply):
            return dates
        start, stop = dates
        rows = [
            dict(row) for at, row in ctx.world.report_rows.get(report, ()) if start <= at <= stop
        ]
        return rows_reply(ctx, 200, rows[: ctx.knobs.download_cap + 1])

    return handler


OPERATION_REPORT_API: dict[str, Handler] = {
    "cdr_1": _from_attempts(_CONNECTED.__contains__, _call_detail, per_row=True),
    "cdr_5": _from_attempts(_NOT_CONNECTED.__contains__, _unconnected, per_row=True),
    "cdr_6": _from_attempts(_NOT_CONNECTED.__contains__, _per_result, per_row=False),
    **{name: _given(name) for name in ("agent_1", "agent_3", "agent_7", "agent_8")},
    **{name: _given(name) for name in ("chat_1", "chat_2", "chat_16")},
}
"""api -> handler of reports_manager.php, beside the campaign reports (all GET)."""
