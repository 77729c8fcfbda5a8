"""The simulator's information and real_time reads: the campaigns as listed, the token's
consumption (token_info), the operation's do-not-call list (get_dnc), and the real-time
campaign board (a bare array, §6.3).
"""

from __future__ import annotations

from .._time import to_wolkvox_time
from ._replies import Context, Handler, Reply, bad_params, error, ok
from ._state import wolkvox_day

__all__ = ["INFO_API", "REALTIME_API"]

_DATE = "%Y-%m-%d %H:%M:%S"


def _info_campaigns(ctx: Context) -> Reply:
    wanted = ctx.query.get("campaign")
    camps = [c for c in ctx.world.campaigns.values() if not wanted or c.id == wanted]
    data = [
        {
            "campaign_id": c.id,
            "campaign_name": c.name,
            "campaign_description": c.description,
            "type_campaign": c.type,
            "status": c.status,
            "records": str(len(c.records)),
            "speed": str(c.speed),
            "dial_mode": "autopilot",
            "last_use": "",
            "recycled": "0",
            "turbo_dial": "no",
            "skill_id": c.skill_id,
        }
        for c in camps
    ]
    return ok("", f"{len(data)} records were found", data, status=200)  # code "" (§6.2)


def _token_info(ctx: Context) -> Reply:
    op, day = ctx.operation, wolkvox_day(ctx.now)
    token = ctx.token
    data = [
        {
            "description": "FakeWolkvox token",
            "token_limit": str(op.limit),
            "token_use_today": str(op.used_by_token[token, day]),
            "all_token_today": str(op.used[day]),
            "available_consumption_options": str(max(0, op.limit - op.used[day])),
        }
    ]
    return ok("200", " 1 records were found", data)


def _realtime(ctx: Context) -> Reply:
    rows = [
        {
            "campaign": c.id,
            "speed": str(c.speed),
            "status": c.status.lower(),  # lower case here, capitalised in information (§9.7)
            "skill_id": c.skill_id,
            "records": str(len(c.records)),
            "clean": str(len(c.records)),
            "dial": "0",
            "answer": "0",
            "no_answer": "0",
            "busy/congestion/failed": "0",
            "answer_machine": "0",
            "penetration_day": "0%",
            "penetration_now": "0%",
            "hits": "0",
            "calls_x_min": "0",
            "recycled": "0",
        }
        for c in ctx.world.campaigns.values()
    ]
    return Reply(status=200, payload=rows)  # a bare array, as documented (§6.3)


def _get_dnc(ctx: Context) -> Reply:
    wanted = ctx.query.get("type")
    if wanted not in ("inbound", "outbound", "all"):
        return bad_params()
    data = [
        {
            "phone_number": phone,
            "type": kind,
            "date_delete": "" if until is None else to_wolkvox_time(until).strftime(_DATE),
        }
        for phone, (kind, until) in ctx.operation.dnc.items()
        if wanted == "all" or kind in (wanted, "all")
    ]
    if not data:
        return error(404, "NOT FOUND", "no records were found")  # an empty list (§4.2)
    return ok("200", f"{len(data)} records were found", data)


INFO_API: dict[str, Handler] = {
    "campaigns": _info_campaigns,
    "token_info": _token_info,
    "get_dnc": _get_dnc,
}
REALTIME_API: dict[str, Handler] = {"campaigns": _realtime}
