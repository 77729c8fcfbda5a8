"""The simulator's campaign.php: the 17 endpoints of wolkvox-api.md §5 over the World.

Each handler takes the query, the decoded JSON body and the world, and returns a
:class:`Reply` with the code type (int or string) and ``msg`` text the docs show for
that endpoint (§10 "Success envelopes and exact code types per endpoint").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from .._time import to_wolkvox_time
from ..models import CampaignType
from ..models._fields import DOCUMENTED_MAX_LENGTHS, FIELD_MAX_LENGTHS, NOT_FOR
from ._export import exported
from ._replies import Context, Handler, Reply, bad_params, error, ok
from ._state import Campaign, Management

__all__ = ["CAMPAIGN_API", "Context"]

_RECORD_KEYS: Final = frozenset(FIELD_MAX_LENGTHS)


_CAMPAIGN_STATUSES: Final = {
    **dict.fromkeys(("start", "started", "1"), "Started"),
    **dict.fromkeys(("stop", "stopped", "0"), "Stopped"),
}
"""add_record's campaign_status (any case): Postman's start/stop, public code's stopped/1."""
_DATE: Final = "%Y-%m-%d %H:%M:%S"


def _impossible(when: str) -> bool:
    """Whether ``when`` is not a real YYYYmmddHHiiss moment (a 31 February, a 25th hour)."""
    try:
        datetime.strptime(when, "%Y%m%d%H%M%S")
    except ValueError:
        return True
    return len(when) != 14


# Field lengths only where the docs give one (opt1–opt6 100, opt7–opt12 200, recall_date's
# 14-digit form, §5 #2.1); the client's own bounds on the other fields (models._fields) are
# its guesses, not the server's, and are not enforced here. A field the docs do not list is
# refused (our choice: their table is the whole record). Preview campaigns store a
# predictive-only field they are sent; a predictive one refuses a preview-only field
# (agent_id) unless it is blank.
_UNBOUNDED: Final = 1 << 62
_MAX_LENGTH: Final = {key: DOCUMENTED_MAX_LENGTHS.get(key, _UNBOUNDED) for key in _RECORD_KEYS}
_PREDICTIVE_MAX_LENGTH: Final = {
    **_MAX_LENGTH,
    **dict.fromkeys(NOT_FOR[CampaignType.PREDICTIVE], 0),
}


def _add_dnc(ctx: Context) -> Reply:
    entries = ctx.body
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and e.get("telephone") for e in entries
    ):
        return bad_params()
    n = len(entries)
    for entry in entries:  # campaign.php's DNC blocks outbound dialing for days_block days
        days = str(entry.get("days_block", "15"))
        until = ctx.now + timedelta(days=int(days) if days.isdigit() else 15)
        ctx.operation.dnc[str(entry["telephone"])] = ("outbound", until)
    data = [{"total_added": str(n), "total_rejected": "0", "total_sent": str(n)}]
    return ok(201, f"{n} telephones were added", data)


def _record_problem(record: Any, limits: dict[str, int]) -> str | None:
    # One lookup per field: the simulator must check a 10,000-record chunk well inside
    # the latency it models, or it (not the client) bounds the upload benchmark.
    if type(record) is not dict:
        return "EVERY RECORD MUST BE AN OBJECT OF STRINGS"
    for key, value in record.items():
        if type(value) is not str:
            return "EVERY RECORD MUST BE AN OBJECT OF STRINGS"
        if len(value) > limits.get(key, -1):
            if key == "agent_id":
                return "AGENT_ID IS ONLY FOR PREVIEW CAMPAIGNS"
            if key not in limits:
                unknown = sorted(record.keys() - _RECORD_KEYS)
                return f"UNKNOWN FIELDS: {', '.join(unknown)}"
            return f"{key.upper()} EXCEEDS {limits[key]} CHARACTERS"
    return None


def _add_record(ctx: Context) -> Reply:
    camp = ctx.campaign()
    if isinstance(camp, Reply):
        return camp
    if ctx.query.get("type_campaign") is None:
        return bad_params()
    # Predictive add_record takes the campaign's "current status" (§5 #2.1; Postman
    # start/stop, public code stopped/1); preview's Postman request has none.
    status = ctx.query.get("campaign_status")
    state = _CAMPAIGN_STATUSES.get(status.lower()) if status is not None else None
    if state is None and (camp.type == "predictive" or status is not None):
        return bad_params()
    records = ctx.body
    if not isinstance(records, list) or not records:
        return bad_params()
    if len(records) > ctx.knobs.max_upload:
        return error(
            400, "BAD REQUEST", f"THE MAXIMUM OF RECORDS PER REQUEST IS {ctx.knobs.max_upload}"
        )
    limits = _MAX_LENGTH if camp.type == "preview" else _PREDICTIVE_MAX_LENGTH
    for record in records:
        problem = _record_problem(record, limits)
        if problem is None and "recall_date" in record and _impossible(record["recall_date"]):
            problem = "RECALL_DATE MUST BE A VALID YYYYmmddHHiiss"
        if problem:
            return error(400, "BAD REQUEST", problem)
    capacity = ctx.world.capacity(ctx.operation)
    if len(camp.records) + len(records) > capacity:
        # Observed by public code: HTTP 404 whose body mentions licenses / 50000.
        return error(
            404,
            "NOT FOUND",
            f"The campaign cannot exceed {capacity} records for the licenses of the operation "
            "(maximum 50000 records with 1-2 licenses)",
        )
    camp.add_records(records)
    ctx.world.stats.records_added[camp.id] += len(records)
    if state is not None and ctx.knobs.add_record_sets_status:
        camp.status = state
    return ok("201", "All records has been added successfully", [{"total_registers": " "}])


def _clear(ctx: Context) -> Reply:
    camp = ctx.campaign()
    if isinstance(camp, Reply):
        return camp
    result = ctx.query.get("result")
    if result:
        wanted = result.upper()
        last = {a.customer_id: a.result for a in camp.attempts}
        camp.keep_records(lambda r: last.get(r.get("customer_id", "")) != wanted)
    else:
        camp.keep_records(lambda r: False)
    return ok(202, f"All records has been deleted of campaign_id {camp.id} successfully")


def _create(ctx: Context) -> Reply:
    kind = ctx.query.get("type_campaign")
    body = ctx.body
    if kind not in ("preview", "predictive") or not isinstance(body, dict):
        return bad_params()
    if not body.get("campaign_name") or not body.get("skill_id"):
        return bad_params()
    if refused := _not_a_string(body, ("campaign_name", "skill_id")):
        return refused
    camp = ctx.world.new_campaign(
        name=body["campaign_name"],
        type=kind,
        skill_id=body["skill_id"],
        description=body.get("campaign_description", ""),
        settings=dict(body),
    )
    data = [{"id_campaign": camp.id, "name_campaign": camp.name}]
    return ok(201, f"The {camp.id} campaign_id has been created successfully", data)


def _not_a_string(body: dict[str, Any], keys: tuple[str, ...]) -> Reply | None:
    """400 naming the first of ``keys`` whose value is not a String. Every documented body
    field is one (§1, "even numbers": ``"speed": "100"``); our choice where the docs are
    silent: a PHP server might take 100 for "100", but a simulator that took it would pass
    code the documented type refuses (add_record refuses a record not all strings too)."""
    bad = next((k for k in keys if k in body and not isinstance(body[k], str)), None)
    return None if bad is None else error(400, "BAD REQUEST", f"{bad.upper()} MUST BE A STRING")


def _target(ctx: Context, *keys: str) -> tuple[Campaign, dict[str, Any]] | Reply:
    """The campaign of the query and a JSON-object body holding ``keys`` (Strings), or the
    error."""
    camp = ctx.campaign()
    if isinstance(camp, Reply):
        return camp
    body = ctx.body
    if not isinstance(body, dict) or any(not body.get(k) for k in keys):
        return bad_params()
    return _not_a_string(body, keys) or (camp, body)


def _codify(ctx: Context) -> Reply:
    target = _target(ctx, "cod_act", "customer_id")
    if isinstance(target, Reply):
        return target
    camp, body = target
    if refused := _not_a_string(body, ("cod_act_2", "comment")):
        return refused
    optional = [body.get(k, "") for k in ("cod_act_2", "comment")]
    # Managed without a call: shown by detail=all only (§5 #6), and in the export.
    at = to_wolkvox_time(ctx.now)
    camp.managed.append(Management(at, body["customer_id"], body["cod_act"], *optional))
    return ok(202, f"customer_id {body['customer_id']} has been coded")


def _recall(ctx: Context) -> Reply:
    target = _target(ctx, "recall_date", "recall_telephone", "customer_id")
    if isinstance(target, Reply):
        return target
    camp, body = target
    if camp.type != "predictive":
        return error(400, "BAD REQUEST", "THE RECALL API DOES NOT WORK FOR PREVIEW CAMPAIGNS")
    when = body["recall_date"]
    if _impossible(when):
        return error(400, "BAD REQUEST", "RECALL_DATE MUST BE A VALID YYYYmmddHHiiss")
    return ok(
        202,
        f"customer_id {body['customer_id']} has been updated and will be call back on "
        f"{when} to phone {body['recall_telephone']}",
    )


def _remove(ctx: Context) -> Reply:
    target = _target(ctx, "customer_id")
    if isinstance(target, Reply):
        return target
    camp, body = target
    ids = set(body["customer_id"].split(","))
    camp.keep_records(lambda r: r.get("customer_id") not in ids)
    return ok(202, f"customer_id {body['customer_id']} has been deleted successfully")


def _speed(ctx: Context) -> Reply:
    target = _target(ctx, "speed")
    if isinstance(target, Reply):
        return target
    camp, body = target
    speed = body["speed"]
    if not (speed.isascii() and speed.isdigit()) or not 0 <= int(speed) <= 100:
        return error(400, "BAD REQUEST", "SPEED MUST BE BETWEEN 0 AND 100")
    camp.speed = int(body["speed"])
    return ok(202, f"The speed of {camp.id} campaign_id has been updated successfully")


def _set_status(status: str) -> Handler:
    def handler(ctx: Context) -> Reply:
        camp = ctx.campaign()
        if isinstance(camp, Reply):
            return camp
        camp.status = status
        return ok(202, f"The {camp.id} campaign_id has been {status.lower()} successfully")

    return handler


def _find(ctx: Context) -> Reply:
    cid, cust, phone = (ctx.query.get(k) for k in ("campaign_id", "customer_id", "customer_phone"))
    if not cid and not cust and not phone:
        return bad_params()  # the docs: campaign_id or customer_phone may be omitted
    camps = [ctx.world.campaigns[cid]] if cid in ctx.world.campaigns else []
    if not cid:
        camps = list(ctx.world.campaigns.values())
    hits = []
    for camp in camps:
        for rec in camp.records:
            phones = {rec.get(f"tel{i}") for i in range(1, 11)}
            if (not cust or rec.get("customer_id") == cust) and (not phone or phone in phones):
                row = {k: rec.get(k, "") for k in _FOUND_KEYS}
                # Its last call (date, conn_id, result) and how many (§5 #12); blank and
                # "0" for a record never dialled.
                dials = camp.dials_of(rec.get("customer_id", ""))
                last = dials[-1] if dials else None
                row.update(
                    date=last.at.strftime(_DATE) if last else "",
                    calls=str(len(dials)),
                    conn_id=last.conn_id if last else "",
                    result=last.result if last else "",
                    campaign_id=camp.id,
                )
                hits.append(row)
    hits = hits[: ctx.knobs.download_cap]  # 60,000 rows per call, as every read (§3.1)
    if not hits and ctx.knobs.find_record_no_hit_404:
        return error(404, "NOT FOUND", "0 records were found")
    # Public code and the Postman samples: no hit is a 200 with an empty list.
    return ok("200", f"{len(hits)} records were found", hits)


_FOUND_KEYS = (
    ["customer_name", "customer_last_name", "customer_id", "country", "state", "city"]
    + ["zone", "address"]
    + [f"opt{i}" for i in range(1, 13)]
    + [f"tel{i}" for i in range(1, 11)]
)


def _delete(ctx: Context) -> Reply:
    body = ctx.body
    ids = body.get("campaign_ids") if isinstance(body, dict) else None
    if ids is None:
        ids = [ctx.query["campaign_id"]] if ctx.query.get("campaign_id") else None
    if not isinstance(ids, list) or not ids:
        return bad_params()
    deleted = sum(1 for cid in ids if ctx.world.campaigns.pop(str(cid), None) is not None)
    failed = len(ids) - deleted
    return ok("200", f"{deleted} campaigns deleted successfully. {failed} operations failed.")


def _filter(ctx: Context) -> Reply:
    target = _target(ctx, "filter_active")
    if isinstance(target, Reply):
        return target
    camp, body = target
    n = str(len(camp.records))
    data = {
        "total_records": n,
        "pending_records": n,
        "applied_filter": str(body.get("filters", "")),
    }
    return ok(202, "Campaign filter successfully updated", data)


def _export(ctx: Context) -> Reply:
    camp = ctx.campaign()
    if isinstance(camp, Reply):
        return camp
    codes = {m.customer_id: m for m in camp.managed}  # the last codification of each
    rows = [
        exported(camp, r, codes.get(r.get("customer_id", "")))
        for r in camp.records[: ctx.knobs.download_cap]
    ]
    payload = {
        "code": "200",
        "total_records": str(len(camp.records)),  # the whole count, even past the cap
        "campaign_id": camp.id,
        "records": rows,
    }
    return Reply(status=200, payload=payload)


def _recall_records(ctx: Context) -> Reply:
    target = _target(ctx, "field", "value")
    if isinstance(target, Reply):
        return target
    camp, body = target
    value = body["value"].upper()
    affected = sum(1 for a in camp.attempts if a.result == value)
    data = [
        {
            "campaign_id": camp.id,
            "field": body["field"],
            "value": body["value"],
            "normalized_value": value,
            "affected_records": str(affected),
        }
    ]
    return ok("200", f"{affected} record(s) have been marked for recall successfully", data)


def _edit(ctx: Context) -> Reply:
    camp = ctx.campaign()
    if isinstance(camp, Reply):
        return camp
    body = ctx.body
    if not isinstance(body, dict) or not body:
        return bad_params()
    if body.get("type_camp") not in (None, "Predictive", "Preview"):
        return error(400, "BAD REQUEST", "TYPE_CAMP MUST BE Predictive OR Preview")
    camp.settings.update(body)
    camp.name = body.get("campaign_name", camp.name)
    data = [{"campaign_id": camp.id, "campaign_name": camp.name, **body}]
    return ok("200", "Campaign has been updated successfully", data)


CAMPAIGN_API: dict[str, tuple[str, Handler]] = {
    "add_dnc": ("POST", _add_dnc),
    "add_record": ("POST", _add_record),
    "clear_campaign": ("DELETE", _clear),
    "create_campaign": ("POST", _create),
    "codify": ("PUT", _codify),
    "recall": ("PUT", _recall),
    "remove_record": ("DELETE", _remove),
    "speed": ("PUT", _speed),
    "start": ("PUT", _set_status("Started")),
    "stop": ("PUT", _set_status("Stopped")),
    "find_record": ("GET", _find),
    "delete_campaign": ("DELETE", _delete),
    "campaign_filter": ("PUT", _filter),
    "campaign_15": ("GET", _export),
    "recall_records": ("PUT", _recall_records),
    "edit_campaign": ("PUT", _edit),
}
"""api -> (method, handler). ``detail`` is served with the reports (it reads attempts)."""
