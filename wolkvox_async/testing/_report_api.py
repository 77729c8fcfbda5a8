"""The simulator's campaign reports: campaign_1..campaign_10 and detail.

Every report is computed from the campaign's call attempts in date_ini..date_end
(inclusive, Wolkvox time). Limits as documented (§3.1, §10): at most 31 calendar dates per
query, at most 60,000 rows per answer (truncate or refuse, a knob), an empty window is
HTTP 404. campaign_3, a row per attempt and the largest answers, is made off the event
loop (``Reply.later``), so that a 60,000-row page does not hold the token's other request.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ._replies import Context, Handler, Reply, bad_params, error, ok
from ._state import Attempt, Campaign, Management

__all__ = ["DETAIL", "REPORT_API", "rows_reply", "span"]

_DATE = "%Y-%m-%d %H:%M:%S"
_RESULT_WORD = {  # campaign_1/4 use the lower-case vocabulary of §6.1
    "ANSWER": "answer",
    "NO-ANSWER": "no-answer",
    "BUSY": "busy",
    "ANSWER-MACHINE": "answer-machine",
    "CONGESTION": "congestion",
    "FAILED": "failed",
    "ABANDON": "abandon",
}


def span(ctx: Context) -> tuple[datetime, datetime] | Reply:
    """The query's date_ini..date_end, checked as every date-range report checks them."""
    ini, end = (ctx.query.get(k, "") for k in ("date_ini", "date_end"))
    if not ini or not end:
        return bad_params()
    try:
        start, stop = (datetime.strptime(v, "%Y%m%d%H%M%S") for v in (ini, end))
    except ValueError:
        return error(400, "BAD REQUEST", "DATES MUST BE YYYYmmddHHiiss")
    if len(ini) != 14 or len(end) != 14 or start > stop:
        return error(400, "BAD REQUEST", "DATES MUST BE YYYYmmddHHiiss AND IN ORDER")
    # "31 days" read strictly: calendar dates, both ends counted (1 Jan 00:00 to 1 Feb
    # 00:00 is 32 of them), as a server counting days inclusively would.
    if (stop.date() - start.date()).days + 1 > ctx.knobs.max_span_days:
        status = ctx.knobs.span_error_status
        return error(
            status, "BAD REQUEST", f"THE DATE RANGE CANNOT EXCEED {ctx.knobs.max_span_days} DAYS"
        )
    return start, stop


def _window(ctx: Context) -> tuple[list[Campaign], datetime, datetime] | Reply:
    if not ctx.query.get("campaign_id"):
        return bad_params()
    dates = span(ctx)
    if isinstance(dates, Reply):
        return dates
    start, stop = dates
    cid = ctx.query["campaign_id"]
    if cid == "all":
        return list(ctx.world.campaigns.values()), start, stop
    camp = ctx.world.campaigns.get(cid)
    if camp is None:
        return error(404, "NOT FOUND", f"campaign_id {cid} does not exist")
    return [camp], start, stop


def rows_reply(ctx: Context, code: int | str, rows: list[dict[str, str]]) -> Reply:
    if not rows:
        if ctx.knobs.empty_report_404:
            return error(404, "NOT FOUND", "0 records were found")
        return ok(code, "0 records were found", [], status=200)
    cap = ctx.knobs.download_cap
    if len(rows) > cap:
        if ctx.knobs.cap_mode == "error":
            return error(400, "BAD REQUEST", f"THE QUERY EXCEEDS {cap} RECORDS")
        if ctx.knobs.shuffle_at_cap:
            random.Random(len(rows)).shuffle(rows)  # unsorted: which rows are cut is arbitrary
        rows = rows[:cap]
    return ok(code, f"{len(rows)} records were found", rows, status=200)


def _report(
    code: int | str,
    build: Callable[[Context, list[tuple[Campaign, Attempt]]], list[dict[str, str]]],
) -> Handler:
    def handler(ctx: Context) -> Reply:
        window = _window(ctx)
        if isinstance(window, Reply):
            return window
        return rows_reply(ctx, code, build(ctx, _attempts(*window)))

    return handler


def _attempts(
    camps: list[Campaign], start: datetime, stop: datetime
) -> list[tuple[Campaign, Attempt]]:
    attempts = [(c, a) for c in camps for a in c.attempts_between(start, stop)]
    if len(camps) > 1:
        attempts.sort(key=lambda pair: pair[1])
    return attempts


def _phone_report(ctx: Context) -> Reply:
    """campaign_3, a row per attempt: the attempts and their records are read here, on the
    loop; the rows and their JSON are made in a thread (``Reply.later``)."""
    window = _window(ctx)
    if isinstance(window, Reply):
        return window
    # Rows past the cap are never sent: one more than the cap is read, not a whole window
    # of 300,000 (seconds of simulator time per download request).
    pairs = _attempts(*window)[: ctx.knobs.download_cap + 1]
    read = [(c.id, c.record_of(a.customer_id), a) for c, a in pairs]
    return Reply(status=200, payload=None, later=lambda: rows_reply(ctx, 200, _phone_rows(read)))


def _shares(values: list[str], key: str) -> list[dict[str, str]]:
    total = len(values)
    return [
        {key: value, "records": str(n), "percent": f"{100 * n / total:.2f}"}
        for value, n in Counter(values).items()
    ]


def _final_results(ctx: Context, pairs: list[tuple[Campaign, Attempt]]) -> list[dict[str, str]]:
    last = {(c.id, a.customer_id): a.result for c, a in pairs}
    return _shares([_RESULT_WORD.get(r, r.lower()) for r in last.values()], "result")


def _attempt_results(ctx: Context, pairs: list[tuple[Campaign, Attempt]]) -> list[dict[str, str]]:
    return _shares([_RESULT_WORD.get(a.result, a.result.lower()) for _, a in pairs], "result")


def _codes(ctx: Context, pairs: list[tuple[Campaign, Attempt]]) -> list[dict[str, str]]:
    return _shares([a.cod_act for _, a in pairs], "cod_act")


_OPTS = tuple(f"opt{i}" for i in range(1, 13))


def _phone_rows(read: list[tuple[str, dict[str, str], Attempt]]) -> list[dict[str, str]]:
    rows = []
    for campaign_id, rec, a in read:
        get = rec.get
        row = {
            "campaign_id": campaign_id,
            "customer_name": get("customer_name", ""),
            "customer_last_name": get("customer_last_name", ""),
            "id_type": get("id_type", ""),
            "customer_id": a.customer_id,
            # Naive, as stored: isoformat gives strftime(_DATE)'s text at a fifth of its cost.
            "date": a.at.strftime(_DATE) if a.at.tzinfo else a.at.isoformat(" ", "seconds"),
            "telephone": a.telephone,
            "result": a.result,
        }
        for key in _OPTS:
            row[key] = get(key, "")
        row["conn_id"] = a.conn_id
        rows.append(row)
    return rows


def _preview_calls(ctx: Context, pairs: list[tuple[Campaign, Attempt]]) -> list[dict[str, str]]:
    return [
        {
            "type_of_row": "call",
            "campaign_id": c.id,
            "customer_name": "",
            "customer_last_name": "",
            "result": "rpc" if a.result == "ANSWER" else "clean",
            "last_code_act": a.cod_act,
            "comments_customer_reg": "",
            "customer_id": a.customer_id,
            "agent_id": "1001",
            "conn_id": a.conn_id,
            "telephone": a.telephone,
            "hang_up": "agent",
            "type_interaction": "out_pre",
            "call_result": a.result.lower(),
            "date": a.at.strftime("%Y-%m-%d"),
            "time": a.at.strftime("%H:%M:%S"),
            "cod_act": a.cod_act,
            "comments": "",
        }
        for c, a in pairs
    ]


def _machine(pairs: list[tuple[Campaign, Attempt]]) -> list[tuple[Campaign, Attempt]]:
    return [(c, a) for c, a in pairs if a.result in ("ANSWER-MACHINE", "ANSWER")]


def _amd_totals(ctx: Context, pairs: list[tuple[Campaign, Attempt]]) -> list[dict[str, str]]:
    counts = Counter(c.id for c, a in pairs if a.result == "ANSWER-MACHINE")
    return [{"campaign_id": cid, "total_amd": str(n)} for cid, n in counts.items()]


def _amd_details(ctx: Context, pairs: list[tuple[Campaign, Attempt]]) -> list[dict[str, str]]:
    return [
        {
            "customer_id": a.customer_id,
            "campaign_id": c.id,
            "file_name": f"amd_{a.conn_id}.wav",
            "telephone": a.telephone,
            "result": "machine" if a.result == "ANSWER-MACHINE" else "human",
            "date": a.at.strftime(_DATE),
        }
        for c, a in _machine(pairs)
    ]


def _by_phone(ctx: Context, pairs: list[tuple[Campaign, Attempt]]) -> list[dict[str, str]]:
    per_phone: dict[str, dict[str, int]] = {}
    for _, a in pairs:
        counts = per_phone.setdefault(a.telephone, {})
        key = a.result.lower().replace("-", "_")
        counts[key] = counts.get(key, 0) + 1
    columns = ("no_answer", "answer_machine", "busy", "congestion", "failed")
    return [
        {
            "telephone": phone,
            "total_machine_recognitions": str(sum(counts.values())),
            **{col: str(counts.get(col, 0)) for col in columns},
        }
        for phone, counts in per_phone.items()
    ]


def _whatsapp(ctx: Context, pairs: list[tuple[Campaign, Attempt]]) -> list[dict[str, str]]:
    status = {"ANSWER": "delivered", "FAILED": "failed", "NO-ANSWER": "submitted"}
    return [
        {
            "campaing_id": c.id,  # sic, as documented (§6.1 campaign_9)
            "telephone": a.telephone,
            "status": status.get(a.result, "accepted"),
            "errors": "",
            "date": a.at.strftime(_DATE),
            "last_update": a.at.strftime(_DATE),
        }
        for c, a in pairs
    ]


def _turbo(ctx: Context, pairs: list[tuple[Campaign, Attempt]]) -> list[dict[str, str]]:
    counts = Counter(a.result for _, a in pairs)
    return [{"machinecode": code, "cantidad": str(n)} for code, n in counts.items()]


def _detail(ctx: Context, pairs: list[tuple[Campaign, Attempt]]) -> list[dict[str, str]]:
    """Managed records of the window: each call (with its conn_id), and with ``detail=all``
    the records coded without a call too (codify), whose conn_id is blank (§5 #6)."""
    rows = []
    for camp, a in pairs:
        rec = camp.record_of(a.customer_id)
        row: dict[str, Any] = {k: v for k, v in rec.items() if k not in _NOT_IN_DETAIL}
        row.update(
            customer_id=a.customer_id,
            agent_id="",
            date=a.at.strftime(_DATE),
            calls="1",
            conn_id=a.conn_id,
            recall="",
            result=a.result,
            cod_act=a.cod_act,
            cod_act_2="",
            recall_count="0",
            comments="",
        )
        rows.append(row)
    return rows


def _managed_row(camp: Campaign, m: Management) -> dict[str, str]:
    """A record coded without a call: managed, no conn_id (``detail=all`` only)."""
    rec = camp.record_of(m.customer_id)
    row: dict[str, Any] = {k: v for k, v in rec.items() if k not in _NOT_IN_DETAIL}
    row.update(
        customer_id=m.customer_id,
        agent_id="",
        date=m.at.strftime(_DATE),
        calls=str(len(camp.dials_of(m.customer_id))),
        conn_id="",
        recall="",
        result="",
        cod_act=m.cod_act,
        cod_act_2=m.cod_act_2,
        recall_count="0",
        comments=m.comment,
    )
    return row


_NOT_IN_DETAIL = {"age", "email", "recall_date", "recall_telephone", "agent_id"}

REPORT_API: dict[str, Handler] = {
    "campaign_1": _report(200, _final_results),
    "campaign_2": _report(200, _codes),
    "campaign_3": _phone_report,
    "campaign_4": _report(200, _attempt_results),
    "campaign_5": _report(200, _preview_calls),
    "campaign_6": _report(200, _amd_totals),
    "campaign_7": _report(200, _amd_details),
    "campaign_8": _report(200, _by_phone),
    "campaign_9": _report(200, _whatsapp),
    "campaign_10": _report("200", _turbo),  # string code on campaign_10 (§6.1)
}


def _detail_report(ctx: Context) -> Reply:
    """campaign.php detail (§5 #6; code "200", a string): ``detail=default`` (or none)
    gives the records managed with a call (a conn_id), ``detail=all`` also those managed
    without one, in time order."""
    window = _window(ctx)
    if isinstance(window, Reply):
        return window
    mode = ctx.query.get("detail", "default")
    if mode not in ("default", "all"):
        return error(400, "BAD REQUEST", "DETAIL MUST BE default OR all")
    camps, start, stop = window
    calls = [(c, a) for c in camps for a in c.attempts_between(start, stop)]
    rows = _detail(ctx, calls)
    if mode == "all":
        rows += [_managed_row(c, m) for c in camps for m in c.managed if start <= m.at <= stop]
        rows.sort(key=lambda row: row["date"])  # (YYYY-mm-dd HH:ii:ss sorts as text)
    elif len(camps) > 1:
        rows.sort(key=lambda row: row["date"])
    return rows_reply(ctx, "200", rows)


DETAIL = _detail_report
