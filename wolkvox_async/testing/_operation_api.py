"""The simulator's configuration.php, agentbox.php recalls, real_time.php recall and
information.php agents / activity_codes, as the docs give them.

Requests, bodies, codes and messages follow wolkvox-api.md §2, §5 #1, #7 and the Postman
collection "wolkvox APIs (ES)" it names (§0): add_ip answers ``"201"`` (a string), an IP
already registered ``"404"``, an invalid one ``"406"``; remove_ip ``"202"``, ``"404"`` not
registered (public code reads those codes, §2); configuration add_dnc ``201`` and
remove_dnc ``202`` (ints, "x telephones were added/deleted"); agentbox recall ``"200"``
"Recall has been successful"; information agents ``"code": ""`` and activity_codes
``"code": "0"`` (their samples, §1, §9.4); real_time recall ``"200"`` with the sample's
``id_campaing`` spelling. The HTTP status is the body code's (inferred, §1).

Where the docs are silent the simulator chooses, and says so here: edit_recall and
delete_recall answer ``"200"`` "Recall has been updated/deleted successfully" (their
samples are empty); a sixth permanent IP is refused 400 (the docs say at most 5); the
agentbox calls need an agent the world knows (:meth:`World.add_agent`: "the agent must
be logged in") and the customer's record in a predictive campaign, else 404; an unknown
recall to edit or delete is 404; no scheduled recall, agent or code is the 404 of an
empty list (§4.2); configuration DNC blocks never end (``date_delete`` blank).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any, Final

from .._time import to_wolkvox_time
from ._replies import Context, Handler, Reply, bad_params, error, ok
from ._state import Campaign, ScheduledRecall

__all__ = ["OPERATION_API"]

_DATE: Final = "%Y-%m-%d %H:%M:%S"
_MAX_PERMANENT_IPS: Final = 5
_TYPE_CALL: Final = {"inbound": "inbound", "outbound": "outbound", "all": "all"}
_TYPE_CALL["inbound/outbound"] = "all"


def _coded(status: int, msg: str, error_name: str | None = None) -> Reply:
    """An answer whose body code is a string, as add_ip/remove_ip send it."""
    return Reply(status=status, payload={"code": str(status), "error": error_name, "msg": msg})


def _ip_of(ctx: Context) -> str | Reply:
    body = ctx.body
    ip = body.get("ip") if isinstance(body, dict) else None
    if not isinstance(ip, str) or not ip:
        return bad_params()
    try:
        return str(ipaddress.IPv4Address(ip))
    except ValueError:
        return _coded(406, f"IP: {ip} is not a valid IP", "NOT ACCEPTABLE")


def _add_ip(ctx: Context) -> Reply:
    ip = _ip_of(ctx)
    if isinstance(ip, Reply):
        return ip
    ips = ctx.operation.ips
    if ip in ips:
        return _coded(404, f"IP: {ip} is already registered", "NOT FOUND")
    permanent = str(ctx.body.get("permanent", "no")).lower() == "yes"  # default "no"
    if permanent and sum(1 for kept, _ in ips.values() if kept) >= _MAX_PERMANENT_IPS:
        return error(400, "BAD REQUEST", "THE OPERATION ALREADY HAS 5 PERMANENT IPS")
    ips[ip] = (permanent, str(ctx.body.get("description", "")))
    return _coded(201, f"IP: {ip} has been added successfully")


def _remove_ip(ctx: Context) -> Reply:
    ip = _ip_of(ctx)
    if isinstance(ip, Reply):
        return ip
    if ctx.operation.ips.pop(ip, None) is None:
        return _coded(404, f"IP: {ip} is not registered", "NOT FOUND")
    return _coded(202, f"IP: {ip} has been deleted successfully")


def _add_dnc(ctx: Context) -> Reply:
    body = ctx.body
    if not isinstance(body, dict) or body.get("type_call") not in _TYPE_CALL:
        return bad_params()
    phones = body.get("telephones")
    if not isinstance(phones, list) or not phones or not all(isinstance(p, str) for p in phones):
        return bad_params()
    kind = _TYPE_CALL[body["type_call"]]
    for phone in phones:
        ctx.operation.dnc[phone] = (kind, None)
    return ok(201, f"{len(phones)} telephones were added")


def _remove_dnc(ctx: Context) -> Reply:
    body = ctx.body
    kind = body.get("type", "all") if isinstance(body, dict) else None
    phones = body.get("telephones") if isinstance(body, dict) else None
    if kind not in ("inbound", "outbound", "all") or not phones:
        return bad_params()
    dnc = ctx.operation.dnc
    if phones == "all":
        phones = [phone for phone, (held, _) in dnc.items() if kind in ("all", held)]
    if not isinstance(phones, list):
        return bad_params()
    gone = sum(1 for phone in phones if dnc.pop(str(phone), None) is not None)
    return ok(202, f"{gone} telephones were deleted")


def _recall_target(ctx: Context, phone_key: str) -> tuple[Campaign, str] | Reply:
    """The agent, campaign and customer of an agentbox recall, each checked."""
    query = ctx.query
    agent, cid, customer = query.get("agent_id"), query.get("id_camp"), query.get("id_customer")
    if not agent or not cid or not customer or not query.get(phone_key):
        return bad_params()
    if agent not in ctx.world.agents:
        return error(404, "NOT FOUND", f"agent_id {agent} is not logged in")
    camp = ctx.world.campaigns.get(cid)
    if camp is None or camp.type != "predictive":
        return error(404, "NOT FOUND", f"id_camp {cid} is not a predictive campaign")
    if not camp.record_of(customer):
        return error(404, "NOT FOUND", f"id_customer {customer} is not in campaign {cid}")
    if query.get("recall_style") not in ("auto", "manual"):
        return bad_params()
    return camp, customer


def _moment(text: str | None) -> datetime | None:
    try:
        return None if text is None or len(text) != 14 else datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        return None


def _schedule(phone_key: str, date_key: str, verb: str, *, new: bool) -> Handler:
    def handler(ctx: Context) -> Reply:
        target = _recall_target(ctx, phone_key)
        if isinstance(target, Reply):
            return target
        camp, customer = target
        at = _moment(ctx.query.get(date_key))
        if at is None:
            return error(400, "BAD REQUEST", f"{date_key.upper()} MUST BE YYYYmmddHHiiss")
        recalls = ctx.world.recalls
        if not new and (camp.id, customer) not in recalls:
            return error(404, "NOT FOUND", f"no recall of id_customer {customer} to edit")
        recalls[camp.id, customer] = ScheduledRecall(
            camp.id, customer, ctx.query[phone_key], at, ctx.query["recall_style"],
            ctx.query["agent_id"],
        )  # fmt: skip
        return ok("200", f"Recall has been {verb}")

    return handler


def _delete_recall(ctx: Context) -> Reply:
    target = _recall_target(ctx, "telephone")
    if isinstance(target, Reply):
        return target
    camp, customer = target
    if ctx.world.recalls.pop((camp.id, customer), None) is None:
        return error(404, "NOT FOUND", f"no recall of id_customer {customer} to delete")
    return ok("200", "Recall has been deleted successfully")


def _listed(code: str, rows: list[dict[str, Any]]) -> Reply:
    if not rows:
        return error(404, "NOT FOUND", "0 records were found")
    return ok(code, f"{len(rows)} records were found", rows, status=200)


def _recalls(ctx: Context) -> Reply:
    kind = ctx.query.get("type")
    if kind not in ("all", "manual", "auto"):
        return bad_params()
    rows = [
        {
            "type_recall": r.style,
            "date_recall": to_wolkvox_time(r.at).strftime(_DATE),
            "phone_number": r.telephone,
            "id_campaing": r.campaign_id,  # sic, as the sample spells it
            "id_agent": r.agent_id,
        }
        for r in sorted(ctx.world.recalls.values(), key=lambda r: r.at)
        if kind in ("all", r.style)
    ]
    return _listed("200", rows)


def _agents(ctx: Context) -> Reply:
    wanted = ctx.query.get("agent")
    rows = [dict(a) for a in ctx.world.agents.values() if not wanted or a["agent_id"] == wanted]
    return _listed("", rows)  # code "" as the sample shows (like information campaigns)


def _activity_codes(ctx: Context) -> Reply:
    wanted = ctx.query.get("cod_act")
    rows = [dict(c) for c in ctx.world.activity_codes if not wanted or c["cod_act"] == wanted]
    if not rows:
        return error(404, "NOT FOUND", "0 records were found")
    return ok("0", f" {len(rows)} records were found", rows, status=200)  # "0": success


OPERATION_API: dict[str, dict[str, tuple[str, Handler]]] = {
    "configuration": {
        "add_ip": ("POST", _add_ip),
        "remove_ip": ("DELETE", _remove_ip),
        "add_dnc": ("POST", _add_dnc),
        "remove_dnc": ("DELETE", _remove_dnc),
    },
    "agentbox": {
        "recall": ("POST", _schedule("telefono", "rellamada", "successful", new=True)),
        "edit_recall": ("PUT", _schedule("telephone", "recall", "updated successfully", new=False)),
        "delete_recall": ("DELETE", _delete_recall),
    },
    "real_time": {"recall": ("GET", _recalls)},
    "information": {"agents": ("GET", _agents), "activity_codes": ("GET", _activity_codes)},
}
"""file -> api -> (method, handler), beside campaign.php and the reports."""
