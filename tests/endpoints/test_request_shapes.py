"""Each method sends exactly the documented request (aioresponses: request shapes only).

Every request is a superset of the docs' example for its endpoint: the URL query keys,
the headers and the body keys of the example (quoted in :data:`DOCS`, from the seed pages
in ``shared/seeds/`` where there is one, else as wolkvox-api.md §5–§6 restate the site and
Postman) are all in what we send. Where the docs disagree (the site's URL carries
``type_campaign`` on speed/start/stop/recall, Postman's does not) the superset is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, time
from typing import Any

import attrs
import pytest
from aioresponses import aioresponses
from helpers import CompatResponse
from yarl import URL

import wolkvox_async as w
from wolkvox_async import CampaignStatus, CampaignType, DncEntry, FilterRule, Record, WolkvoxClient

TOKEN = "6b65792d666f722d73686170652d7465737473"
START, END = datetime(2026, 11, 1), datetime(2026, 11, 20, 23, 59, 59)
DATES = {"date_ini": "20261101000000", "date_end": "20261120235959"}
OK_ACTION = {"code": 202, "error": None, "msg": "done"}
OK_ROWS = {"code": 200, "error": None, "msg": "1 records were found", "data": [{}]}

Call = Callable[[WolkvoxClient], Awaitable[Any]]


def _report_call(method: str) -> Call:
    return lambda wv: getattr(wv, method)("all", START, END)


# (id, call, method, file, query without api, body, answer)
CASES: list[tuple[str, Call, str, str, dict[str, str], Any, Any]] = [
    (
        "add_dnc",
        lambda wv: wv.add_dnc([DncEntry(telephone="3001", days_block=15)]),
        "POST",
        "campaign",
        {},
        [{"telephone": "3001", "days_block": "15"}],
        OK_ROWS,
    ),
    (
        "add_record_predictive",
        lambda wv: wv.add_record(
            "12",
            [Record(customer_id="1", phones=("3001",))],
            campaign_status=CampaignStatus.STARTED,
        ),
        "POST",
        "campaign",
        {"type_campaign": "predictive", "campaign_id": "12", "campaign_status": "start"},
        "RECORDS",
        {"code": "201", "error": None, "msg": "ok", "data": [{"total_registers": "1"}]},
    ),
    (
        "add_record_preview",
        lambda wv: wv.add_record(
            "12",
            [{"customer_id": "1", "agent_id": "77"}],
            campaign_type=CampaignType.PREVIEW,
            campaign_status="stopped",  # as given: what public code sends
        ),
        "POST",
        "campaign",
        {"type_campaign": "preview", "campaign_id": "12", "campaign_status": "stopped"},
        "RECORDS",
        {"code": "201", "error": None, "msg": "ok"},
    ),
    (
        "clear_campaign",
        lambda wv: wv.clear_campaign("12", campaign_type="predictive", result="NO ANSWER"),
        "DELETE",
        "campaign",
        {"type_campaign": "predictive", "campaign_id": "12", "result": "no-answer"},
        None,
        OK_ACTION,
    ),
    (
        "create_campaign",
        lambda wv: wv.create_campaign(
            name="Leads",
            campaign_type="predictive",
            skill_id="4069",
            opt_labels=("City",),
            amd="COL",
        ),
        "POST",
        "campaign",
        {"type_campaign": "predictive"},
        {
            "campaign_name": "Leads",
            "campaign_description": "",
            "start_time": "080000",
            "end_time": "180000",
            "skill_id": "4069",
            "opt1": "City",
            **{f"opt{i}": "" for i in range(2, 13)},
            "enable_edition": "no",
            "amd": "COL",
        },
        {
            "code": 201,
            "error": None,
            "msg": "ok",
            "data": [{"id_campaign": "5", "name_campaign": "Leads"}],
        },
    ),
    (
        "codify",
        lambda wv: wv.codify(
            "12",
            campaign_type="preview",
            customer_id="3",
            cod_act="002",
            cod_act_2="A01",
            comment="c",
        ),
        "PUT",
        "campaign",
        {"type_campaign": "preview", "campaign_id": "12"},
        {"cod_act": "002", "comment": "c", "cod_act_2": "A01", "customer_id": "3"},
        OK_ACTION,
    ),
    (
        "detail",
        lambda wv: wv.campaign_detail(
            "12", START, END, campaign_type="predictive", include_unmanaged=True
        ),
        "GET",
        "campaign",
        {"type_campaign": "predictive", "campaign_id": "12", **DATES, "detail": "all"},
        None,
        OK_ROWS,
    ),
    (
        "recall",
        lambda wv: wv.recall("12", customer_id="3", telephone="3001", at=datetime(2024, 4, 26, 16)),
        "PUT",
        "campaign",
        {"type_campaign": "predictive", "campaign_id": "12"},
        {"recall_date": "20240426160000", "recall_telephone": "3001", "customer_id": "3"},
        OK_ACTION,
    ),
    (
        "remove_record",
        lambda wv: wv.remove_records("12", ["1", "2"], campaign_type="predictive"),
        "DELETE",
        "campaign",
        {"type_campaign": "predictive", "campaign_id": "12"},
        {"customer_id": "1,2"},
        OK_ACTION,
    ),
    (
        "speed",
        lambda wv: wv.set_speed("12", 80, campaign_type="predictive"),
        "PUT",
        "campaign",
        {"type_campaign": "predictive", "campaign_id": "12"},
        {"speed": "80"},
        OK_ACTION,
    ),
    (
        "start",
        lambda wv: wv.start_campaign(12, campaign_type=CampaignType.PREDICTIVE),
        "PUT",
        "campaign",
        {"type_campaign": "predictive", "campaign_id": "12"},
        None,
        OK_ACTION,
    ),
    (
        "stop",
        lambda wv: wv.stop_campaign("12", campaign_type="preview"),
        "PUT",
        "campaign",
        {"type_campaign": "preview", "campaign_id": "12"},
        None,
        OK_ACTION,
    ),
    (
        "find_record",
        lambda wv: wv.find_record(campaign_id="12", customer_id="1 2", customer_phone="+57 300"),
        "GET",
        "campaign",
        {"campaign_id": "12", "customer_phone": "+57 300", "customer_id": "1 2"},
        None,
        OK_ROWS,
    ),
    (
        "delete_campaign",
        lambda wv: wv.delete_campaigns(["23910", "23911"]),
        "DELETE",
        "campaign",
        {},
        {"campaign_ids": ["23910", "23911"]},
        {
            "code": "200",
            "error": None,
            "msg": "2 campaigns deleted successfully. 0 operations failed.",
        },
    ),
    (
        "campaign_filter",
        lambda wv: wv.filter_campaign(
            "12",
            campaign_type="predictive",
            rules=[FilterRule(field="opt1", operator="like", value="a")],
        ),
        "PUT",
        "campaign",
        {"type_campaign": "predictive", "campaign_id": "12"},
        {
            "filter_active": "yes",
            "connector": "and",
            "filters": [{"field": "opt1", "operator": "like", "value": "a"}],
        },
        {"code": 202, "error": None, "msg": "ok", "data": {"total_records": "1"}},
    ),
    (
        "campaign_15",
        lambda wv: wv.export_campaign("12"),
        "GET",
        "campaign",
        {"campaign_id": "12"},
        None,
        {"code": "200", "total_records": "0", "campaign_id": "12", "records": []},
    ),
    (
        "recall_records",
        lambda wv: wv.recall_records("12", field="Cod_Machine", value="FAILED"),
        "PUT",
        "campaign",
        {"campaign_id": "12"},
        {"field": "Cod_Machine", "value": "FAILED"},
        OK_ROWS,
    ),
    (
        "edit_campaign",
        lambda wv: wv.edit_campaign(
            "12", name="N", start_time=time(8), end_time=time(17, 30), turbo_dial=False
        ),
        "PUT",
        "campaign",
        {"campaign_id": "12"},
        {
            "campaign_name": "N",
            "turbo_dial": "no",
            "start_time": "08:00:00",
            "end_time": "17:30:00",
        },
        OK_ROWS,
    ),
    *[
        (
            f"campaign_{n}",
            _report_call(name),
            "GET",
            "reports_manager",
            {"campaign_id": "all", **DATES},
            None,
            OK_ROWS,
        )
        for n, name in enumerate(
            [
                "final_results",
                "code_results",
                "phone_results",
                "attempt_results",
                "preview_calls",
                "amd_totals",
                "amd_details",
                "machine_codes_by_phone",
                "whatsapp_statuses",
                "turbo_dial_counts",
            ],
            start=1,
        )
    ],
    (
        "campaigns",
        lambda wv: wv.campaigns("12"),
        "GET",
        "information",
        {"campaign": "12"},
        None,
        OK_ROWS,
    ),
    ("token_info", lambda wv: wv.token_info(), "GET", "information", {}, None, OK_ROWS),
    (
        "get_dnc",
        lambda wv: wv.dnc_list("inbound"),
        "GET",
        "information",
        {"type": "inbound"},
        None,
        OK_ROWS,
    ),
    ("real_time_campaigns", lambda wv: wv.realtime_campaigns(), "GET", "real_time", {}, None, [{}]),
    # The operation's reports (issue 32, item 6): Postman "Reportes" > CDR / Agentes /
    # Interacciones y Chats, e.g. `reports_manager.php?api=cdr_5&date_ini={{date_ini}}&
    # date_end={{date_end}}`: dates only, no campaign_id.
    *[
        (
            name,
            lambda wv, m=method: getattr(wv, m)(START, END),
            "GET",
            "reports_manager",
            DATES,
            None,
            OK_ROWS,
        )
        for name, method in [
            ("cdr_1", "call_details"),
            ("cdr_5", "unconnected_calls"),
            ("cdr_6", "unconnected_results"),
            ("agent_1", "agent_state_times"),
            ("agent_3", "agent_aux_times"),
            ("agent_7", "agent_sessions"),
            ("agent_8", "agent_hourly_states"),
            ("chat_1", "chats"),
            ("chat_2", "chat_conversations"),
            ("chat_16", "chat_agent_productivity"),
        ]
    ],
    (
        # Postman "Configuración" 9: POST configuration.php?api=add_ip,
        # {"ip": "192.xxx.x.xxx", "permanent": "no", "description": "This is my IP"}
        "add_ip",
        lambda wv: wv.add_ip(" 203.0.113.7 ", description="This is my IP"),
        "POST",
        "configuration",
        {},
        {"ip": "203.0.113.7", "permanent": "no", "description": "This is my IP"},
        {"code": "201", "error": None, "msg": "IP: 203.0.113.7 has been added successfully"},
    ),
    (
        # Postman "Configuración" 10: DELETE configuration.php?api=remove_ip, {"ip": "..."}
        "remove_ip",
        lambda wv: wv.remove_ip("203.0.113.7"),
        "DELETE",
        "configuration",
        {},
        {"ip": "203.0.113.7"},
        {"code": "202", "error": None, "msg": "IP: 203.0.113.7 has been deleted successfully"},
    ),
    (
        # Postman "Configuración" 1: POST configuration.php?api=add_dnc,
        # {"type_call": "inbound/outbound", "telephones": ["93000000007", ...]}
        "config_add_dnc",
        lambda wv: wv.block_numbers(["93000000007", "93000000008"], direction="inbound"),
        "POST",
        "configuration",
        {},
        {"type_call": "inbound", "telephones": ["93000000007", "93000000008"]},
        {"code": 201, "error": None, "msg": "2 telephones were added"},
    ),
    (
        # Postman "Configuración" 8: DELETE configuration.php?api=remove_dnc,
        # {"telephones": ["93000000003", "93000000004"], "type": "all"}
        "config_remove_dnc",
        lambda wv: wv.unblock_numbers(["93000000003", "93000000004"]),
        "DELETE",
        "configuration",
        {},
        {"telephones": ["93000000003", "93000000004"], "type": "all"},
        {"code": 202, "error": None, "msg": "2 telephones were deleted"},
    ),
    (
        # wolkvox-api.md §5 #1: {"telephones": "all", "type": "inbound"|"outbound"}
        "config_remove_dnc_all",
        lambda wv: wv.unblock_numbers("all", direction="outbound"),
        "DELETE",
        "configuration",
        {},
        {"telephones": "all", "type": "outbound"},
        {"code": 202, "error": None, "msg": "5 telephones were deleted"},
    ),
    (
        # Postman "Agentes V2": POST agentbox.php?agent_id={{agent_id}}&api=recall&
        # id_camp=..&id_customer=..&telefono=..&rellamada=..&recall_style=..&name_recall=..
        "agent_recall",
        lambda wv: wv.agent_recall(
            "1001",
            "12",
            customer_id="3",
            telephone="3001",
            at=datetime(2023, 11, 22, 10, 15, 20),
            style="manual",
            name="Ana",
        ),
        "POST",
        "agentbox",
        {
            "agent_id": "1001",
            "id_camp": "12",
            "id_customer": "3",
            "telefono": "3001",
            "rellamada": "20231122101520",
            "recall_style": "manual",
            "name_recall": "Ana",
        },
        None,
        {"code": "200", "error": None, "msg": "Recall has been successful"},
    ),
    (
        # Postman "Agentes V2": PUT agentbox.php?api=edit_recall&agent_id=..&id_camp=..&
        # id_customer=..&telephone=..&recall=..&recall_style=..&name_recall=..
        "edit_recall",
        lambda wv: wv.edit_agent_recall(
            1001, 12, customer_id="3", telephone="3001", at=datetime(2023, 11, 22, 10, 15, 20)
        ),
        "PUT",
        "agentbox",
        {
            "agent_id": "1001",
            "id_camp": "12",
            "id_customer": "3",
            "telephone": "3001",
            "recall": "20231122101520",
            "recall_style": "auto",
        },
        None,
        {"code": "200", "error": None, "msg": "done"},
    ),
    (
        # Postman "Agentes V2": DELETE agentbox.php?api=delete_recall&agent_id=..&
        # id_camp=..&id_customer=..&telephone=..&recall_style=..&name_recall=..
        "delete_recall",
        lambda wv: wv.delete_agent_recall("1001", "12", customer_id="3", telephone="3001"),
        "DELETE",
        "agentbox",
        {
            "agent_id": "1001",
            "id_camp": "12",
            "id_customer": "3",
            "telephone": "3001",
            "recall_style": "auto",
        },
        None,
        {"code": "200", "error": None, "msg": "done"},
    ),
    (
        # Postman "Tiempo Real" 10: GET real_time.php?api=recall&type=all
        "real_time_recall",
        lambda wv: wv.scheduled_recalls(),
        "GET",
        "real_time",
        {"type": "all"},
        None,
        OK_ROWS,
    ),
    # Postman "Información" 5 and 9: GET information.php?api=agents (optional &agent=)
    # and ?api=activity_codes (optional &cod_act=).
    ("agents", lambda wv: wv.agents(1001), "GET", "information", {"agent": "1001"}, None, OK_ROWS),
    (
        "activity_codes",
        lambda wv: wv.activity_codes("002"),
        "GET",
        "information",
        {"cod_act": "002"},
        None,
        {"code": "0", "error": None, "msg": " 1 records were found", "data": [{}]},
    ),
    (
        # §5 #13 "old form": DELETE campaign.php?api=delete_campaign&type_campaign={type}&
        # campaign_id={id}, no body.
        "delete_campaign_url",
        lambda wv: wv.delete_campaign("23910", campaign_type="preview"),
        "DELETE",
        "campaign",
        {"type_campaign": "preview", "campaign_id": "23910"},
        None,
        {
            "code": "200",
            "error": None,
            "msg": "1 campaigns deleted successfully. 0 operations failed.",
        },
    ),
]


@attrs.frozen
class Doc:
    """The docs' example request of an endpoint, quoted."""

    url: str
    """The example's URL as the docs print it (placeholders kept)."""
    source: str
    """Where it is quoted from."""
    headers: tuple[str, ...] = ("wolkvox-token",)
    """The example's header names."""
    body: tuple[str, ...] = ()
    """The example body's keys (of each object, for an array)."""
    optional: tuple[str, ...] = ()
    """Keys of the example the docs call optional, which we send only when given."""

    @property
    def query(self) -> set[str]:
        """The example URL's query keys; ``[&key=...]`` marks an optional one."""
        required = re.sub(r"\[[^]]*\]|\(.*\)", "", self.url)
        return set(re.findall(r"[?&]([a-z_]+)=", required)) - {"api"}


_JSON = ("wolkvox-token", "Content-Type")
_SEED = "shared/seeds/"
_RECORD_FIELDS = [  # the field table of seed 000 (tel2..tel10 in §5 #2.1, agent_id #2.2)
    *("customer_name", "customer_last_name", "id_type", "customer_id", "age", "gender"),
    *("country", "state", "city", "zone", "address", "tel_extra", "email", "agent_id"),
    *("recall_date", "recall_telephone"),
    *(f"opt{i}" for i in range(1, 13)),
    *(f"tel{i}" for i in range(1, 11)),
]
_SITE = "wolkvox-api.md §5, restating the site and Postman"
_OPERATION_REPORTS = (
    *("cdr_1", "cdr_5", "cdr_6", "agent_1", "agent_3", "agent_7", "agent_8"),
    *("chat_1", "chat_2", "chat_16"),
)
_REPORT = Doc(
    "https://wv{{wolkvox_server}}.wolkvox.com/api/v2/reports_manager.php?api=campaign_3"
    "&campaign_id={{campaign_id}}&date_ini={{YYYYmmddHHiiss}}&date_end={{YYYYmmddHHiiss}}",
    _SEED + "002 (campaign_3; campaign_1..10 alike, wolkvox-api.md §6.1)",
)
DOCS: dict[str, Doc] = {
    "add_dnc": Doc(
        "POST campaign.php?api=add_dnc",
        _SITE + " #1",
        _JSON,
        ("telephone", "days_block"),
    ),
    "add_record_predictive": Doc(
        "https://wv{{wolkvox_server}}.wolkvox.com/api/v2/campaign.php?api=add_record"
        "&type_campaign=predictive&campaign_id={{campaign_id}}&campaign_status={{campaign_status}}",
        _SEED + "000 (its field table: no field is marked required)",
        _JSON,
    ),
    "add_record_preview": Doc(
        "POST campaign.php?api=add_record&type_campaign=preview&campaign_id={id}&campaign_status=",
        _SITE + " #2.2 (the site's URL; Postman's omits campaign_status)",
        _JSON,
    ),
    "clear_campaign": Doc(
        "DELETE campaign.php?api=clear_campaign&type_campaign={type}&campaign_id={id}[&result={r}]",
        _SITE + " #3",
    ),
    "create_campaign": Doc(
        "https://wv{{wolkvox_server}}.wolkvox.com/api/v2/campaign.php?api=create_campaign"
        "&type_campaign={{type_campaign}}",
        _SEED + "003 (cURL sample)",
        _JSON,
        (
            *("campaign_name", "campaign_description", "start_time", "end_time", "skill_id"),
            *(f"opt{i}" for i in range(1, 13)),
            "enable_edition",
        ),
    ),
    "codify": Doc(
        "PUT campaign.php?api=codify&type_campaign={type}&campaign_id={id}",
        _SITE + ' #5: {"cod_act":"002","cod_act_2":"A01","comment":"...","customer_id":"3"}',
        _JSON,
        ("cod_act", "cod_act_2", "comment", "customer_id"),
        optional=("cod_act_2",),  # "only if the second code level is enabled"
    ),
    "detail": Doc(
        "GET campaign.php?api=detail&type_campaign={type}&campaign_id={id}"
        "&date_ini={YYYYmmddHHiiss}&date_end={YYYYmmddHHiiss}[&detail=default|all]",
        _SITE + " #6",
    ),
    "recall": Doc(
        "https://wv{{wolkvox_server}}.wolkvox.com/api/v2/campaign.php?api=recall"
        "&type_campaign={{type_campaign}}&campaign_id={{campaign_id}}",
        _SEED + "004 (cURL sample; its URL line and Postman omit type_campaign)",
        _JSON,
        ("recall_date", "recall_telephone", "customer_id"),
    ),
    "remove_record": Doc(
        "DELETE campaign.php?api=remove_record&type_campaign={type}&campaign_id={id}[&result={r}]",
        _SITE + ' #8: {"customer_id":"100000000,200000000,300000000"}',
        _JSON,
        ("customer_id",),
    ),
    "speed": Doc(
        "PUT campaign.php?api=speed&type_campaign={type}&campaign_id={id}",
        _SITE + ' #9 ("site URL also has type_campaign"): {"speed":"100"}',
        _JSON,
        ("speed",),
    ),
    "start": Doc(
        "PUT campaign.php?api=start&type_campaign={type}&campaign_id={id}",
        _SITE + ' #10 ("site URL also has type_campaign")',
    ),
    "stop": Doc(
        "PUT campaign.php?api=stop&type_campaign={type}&campaign_id={id}",
        _SITE + ' #11 ("site URL also has type_campaign")',
    ),
    "find_record": Doc(
        "https://wv{{wolkvox_server}}.wolkvox.com/api/v2/campaign.php?api=find_record"
        "&campaign_id={{campaign_id}}&customer_phone={{customer_phone}}"
        "&customer_id={{customer_id}}",
        _SEED + '001 (cURL sample; "either campaign_id or customer_phone may be omitted")',
        ("wolkvox_server", "wolkvox-token"),
    ),
    "delete_campaign": Doc(
        "DELETE campaign.php?api=delete_campaign",
        _SITE + ' #13 (new form): {"campaign_ids":["23910","23911"]}',
        _JSON,
        ("campaign_ids",),
    ),
    "campaign_filter": Doc(
        "PUT campaign.php?api=campaign_filter&type_campaign={type}&campaign_id={id}",
        _SITE + " #14",
        _JSON,
        ("filter_active", "connector", "filters"),
    ),
    "campaign_15": Doc("GET campaign.php?api=campaign_15&campaign_id={id}", _SITE + " #15"),
    "recall_records": Doc(
        "PUT campaign.php?api=recall_records&campaign_id={id}",
        _SITE + ' #16: {"field":"Cod_Machine","value":"..."}',
        _JSON,
        ("field", "value"),
    ),
    "edit_campaign": Doc(
        "PUT campaign.php?api=edit_campaign&campaign_id={id}",
        _SITE + " #17: body keys all optional (only the settings to change are sent)",
        _JSON,
    ),
    **{f"campaign_{n}": _REPORT for n in range(1, 11)},
    "campaigns": Doc("GET information.php?api=campaigns[&campaign={id}]", "wolkvox-api.md §6.2"),
    "token_info": Doc(
        "GET information.php?api=token_info",
        "wolkvox-api.md §2 (its cURL sample sends wolkvox_server)",
        ("wolkvox_server", "wolkvox-token"),
    ),
    "get_dnc": Doc("GET information.php?api=get_dnc&type=inbound|outbound|all", _SITE + " #1"),
    "real_time_campaigns": Doc("GET real_time.php?api=campaigns", "wolkvox-api.md §6.3"),
    # The operation's reports: public code (wolkvox-api.md §6.1 "related CDR reports", §8
    # SantiagoAnalista/wolkvox-rendimiento, sharkedd/follow-up-wolkvox-python) calls them as
    # campaign_N without a campaign.
    **{
        name: Doc(
            f"GET reports_manager.php?api={name}&date_ini={{YYYYmmddHHiiss}}"
            "&date_end={YYYYmmddHHiiss}",
            "wolkvox-api.md §6.1, §8 (public code)",
        )
        for name in _OPERATION_REPORTS
    },
    "add_ip": Doc(
        "POST configuration.php?api=add_ip",
        "wolkvox-api.md §2 (IP firewall): body {ip, permanent, description}",
        _JSON,
        ("ip", "permanent", "description"),
    ),
    "remove_ip": Doc(
        "DELETE configuration.php?api=remove_ip",
        "wolkvox-api.md §2 (IP firewall): body {ip}",
        _JSON,
        ("ip",),
    ),
    "config_add_dnc": Doc(
        "POST configuration.php?api=add_dnc",
        _SITE + " #1 (sibling)",
        _JSON,
        ("type_call", "telephones"),
    ),
    "config_remove_dnc": Doc(
        "DELETE configuration.php?api=remove_dnc",
        _SITE + " #1 (sibling)",
        _JSON,
        ("telephones",),
        ("type",),
    ),
    "config_remove_dnc_all": Doc(
        "DELETE configuration.php?api=remove_dnc",
        _SITE + " #1 (sibling)",
        _JSON,
        ("telephones", "type"),
    ),
    "agent_recall": Doc(
        "POST agentbox.php?agent_id=..&api=recall&id_camp=..&id_customer=..&telefono=.."
        "&rellamada=..&recall_style=..&name_recall=..",
        "wolkvox-api.md §5 #7 (related, different API)",
    ),
    # edit_recall and delete_recall are named beside it, with no example: their keys are
    # those of the recall they name.
    "edit_recall": Doc(
        "PUT agentbox.php?agent_id=..&api=edit_recall&id_camp=..&id_customer=..",
        "wolkvox-api.md §5 #7 (named, no example)",
    ),
    "delete_recall": Doc(
        "DELETE agentbox.php?agent_id=..&api=delete_recall&id_camp=..&id_customer=..",
        "wolkvox-api.md §5 #7 (named, no example)",
    ),
    "real_time_recall": Doc(
        "GET real_time.php?api=recall&type=all|manual|auto", "wolkvox-api.md §5 #7 (related)"
    ),
    "agents": Doc("GET information.php?api=agents[&agent={id}]", "wolkvox-api.md §8 (public code)"),
    "activity_codes": Doc(
        "GET information.php?api=activity_codes[&cod_act={code}]",
        "wolkvox-api.md §8 (public code)",
    ),
    "delete_campaign_url": Doc(
        "DELETE campaign.php?api=delete_campaign&type_campaign={type}&campaign_id={id}",
        _SITE + " #13 (old form)",
    ),
}


# The case id is the api selector, except where one api has several cases or names.
API_OF = {
    "add_record_predictive": "add_record",
    "add_record_preview": "add_record",
    "real_time_campaigns": "campaigns",
    "config_add_dnc": "add_dnc",
    "config_remove_dnc": "remove_dnc",
    "config_remove_dnc_all": "remove_dnc",
    "agent_recall": "recall",
    "real_time_recall": "recall",
    "delete_campaign_url": "delete_campaign",
}


@pytest.mark.parametrize(
    ("api", "call", "method", "file", "query", "body", "answer"),
    [(API_OF.get(case[0], case[0]), *case[1:]) for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_request_shape(
    api: str, call: Call, method: str, file: str, query: dict[str, str], body: Any, answer: Any
) -> None:
    with aioresponses() as mocked:
        mocked.add(
            re.compile(r".*"),
            method=method,
            payload=answer,
            status=200,
            response_class=CompatResponse,
        )
        async with WolkvoxClient(server="0014", token=TOKEN) as wv:
            await call(wv)
        [(sent_method, url)] = list(mocked.requests)
        [sent] = mocked.requests[(sent_method, url)]
    assert sent_method == method
    assert isinstance(url, URL)
    assert (url.scheme, url.host, url.path) == (
        "https",
        "wv0014.wolkvox.com",
        f"/api/v2/{file}.php",
    )
    assert url.query.get("api") == api  # (aioresponses sorts the query: no order to see)
    assert {k: v for k, v in url.query.items() if k != "api"} == query
    headers = sent.kwargs["headers"]
    assert headers["wolkvox-token"] == TOKEN
    assert headers["wolkvox_server"] == "0014"  # on every call (the find_record seed's)
    data = sent.kwargs["data"]
    if body is None:
        assert data is None
    else:
        assert headers["Content-Type"] == "application/json"
        sent_body = json.loads(data.decode())
        if body == "RECORDS":
            assert isinstance(sent_body, list)  # add_record always sends a JSON array
            assert sent_body[0]["customer_id"] == "1"
            assert ("agent_id" in sent_body[0]) is (query.get("type_campaign") == "preview")
        else:
            assert sent_body == body


@pytest.mark.parametrize(
    ("call", "method", "answer", "says"),
    [
        (
            lambda wv: wv.create_campaign(name="N", campaign_type="preview", skill_id="1"),
            "POST",
            {"code": 201, "error": None, "msg": "created", "data": [{}]},
            "names no campaign id",
        ),
        (
            lambda wv: wv.delete_campaigns(["1", "2"]),
            "DELETE",
            {"code": "200", "error": None, "msg": "done", "data": []},
            "cannot tell how many",
        ),
    ],
)
async def test_answers_that_say_too_little_are_decode_errors(
    call: Call, method: str, answer: Any, says: str
) -> None:
    """A create without an id, a delete message we cannot read: never taken as done."""
    with aioresponses() as mocked:
        mocked.add(
            re.compile(r".*"), method=method, payload=answer, status=200,
            response_class=CompatResponse,
        )  # fmt: skip
        async with WolkvoxClient(server="0014", token=TOKEN) as wv:
            with pytest.raises(w.ResponseDecodeError, match=says):
                await call(wv)


async def _sent(call: Call, method: str, answer: Any, **options: Any) -> tuple[URL, Any, Any]:
    """The one request ``call`` makes: its URL, headers and JSON body (or None)."""
    with aioresponses() as mocked:
        mocked.add(
            re.compile(r".*"), method=method, payload=answer, status=200,
            response_class=CompatResponse,
        )  # fmt: skip
        async with WolkvoxClient(token=TOKEN, **{"server": "0014", **options}) as wv:
            await call(wv)
        [(_, url)] = list(mocked.requests)
        [sent] = mocked.requests[(method, url)]
    data = sent.kwargs["data"]
    return url, sent.kwargs["headers"], None if data is None else json.loads(data.decode())


@pytest.mark.parametrize(
    ("case", "call", "method", "answer"),
    [(case[0], case[1], case[2], case[6]) for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_every_request_is_a_superset_of_the_docs_example(
    case: str, call: Call, method: str, answer: Any
) -> None:
    """Query keys, header names and body keys of the docs' example are all sent."""
    doc = DOCS.get(case)
    assert doc is not None, f"{case}: quote the docs' example of this endpoint in DOCS"
    url, headers, body = await _sent(call, method, answer)
    missing = doc.query - set(url.query)
    assert not missing, f"{case}: the docs' example ({doc.source}) has {missing} in its URL"
    assert {"wolkvox-token", "wolkvox_server"} <= set(headers)
    assert set(doc.headers) <= set(headers), f"{case}: headers of {doc.source}"
    if doc.body:
        objects = body if isinstance(body, list) else [body]
        for sent in objects:
            missing = set(doc.body) - set(sent) - set(doc.optional)
            assert not missing, f"{case}: the docs' example ({doc.source}) has body keys {missing}"
    if case.startswith("add_record"):
        # A record's keys are its data: each one a documented field, none required.
        assert isinstance(body, list)
        for record in body:
            assert set(record) <= set(_RECORD_FIELDS)


def test_every_endpoint_case_quotes_its_example() -> None:
    assert {case[0] for case in CASES} <= set(DOCS)


@pytest.mark.parametrize(
    ("total", "read"),
    [
        *[(5, 5), ("5", 5), (" 12 ", 12), (" ", None), ("", None), (None, None), (-1, None)],
        *[(True, None), ("٥", None), (2.5, None), ("n/a", None)],
    ],
)
async def test_total_registers_is_read_as_the_docs_type_it(total: object, read: object) -> None:
    """The add_record table types total_registers ``int``; its sample sends ``" "``."""
    answer = {
        "code": "201",
        "error": None,
        "msg": "All records has been added successfully",
        "data": [{"total_registers": total}],
    }
    with aioresponses() as mocked:
        mocked.add(
            re.compile(r".*"), method="POST", payload=answer, status=200,
            response_class=CompatResponse,
        )  # fmt: skip
        async with WolkvoxClient(server="0014", token=TOKEN) as wv:
            result = await wv.add_record("12", [{"customer_id": "1"}], campaign_status="start")
    assert (result.sent, result.total_registers) == (1, read)


async def test_the_server_header_can_be_turned_off_for_a_proxy() -> None:
    url, headers, _ = await _sent(lambda wv: wv.token_info(), "GET", OK_ROWS, server_header=False)
    assert "wolkvox_server" not in headers and headers["wolkvox-token"] == TOKEN
    url, headers, _ = await _sent(lambda wv: wv.token_info(), "GET", OK_ROWS, server="wv0016")
    assert (url.host, headers["wolkvox_server"]) == ("wv0016.wolkvox.com", "0016")


async def test_start_stop_and_speed_send_the_campaigns_own_type_read_once() -> None:
    """The site's URLs carry type_campaign; a caller who does not give it gets the
    campaign's own, read with one information.php campaigns call and kept."""
    info = {
        "code": "",
        "error": None,
        "msg": "1 records were found",
        "data": [{"campaign_id": "12", "type_campaign": "preview", "status": "Stopped"}],
    }
    with aioresponses() as mocked:
        mocked.add(
            re.compile(r".*information\.php.*"), method="GET", payload=info, status=200,
            response_class=CompatResponse,
        )  # fmt: skip
        for _ in range(3):
            mocked.add(
                re.compile(r".*campaign\.php.*"), method="PUT", payload=OK_ACTION, status=200,
                response_class=CompatResponse,
            )  # fmt: skip
        async with WolkvoxClient(server="0014", token=TOKEN) as wv:
            await wv.start_campaign("12")
            await wv.set_speed("12", 10)
            await wv.stop_campaign(12)
        sent = [(method, url) for (method, url), calls in mocked.requests.items() for _ in calls]
    [(_, read)] = [(m, u) for m, u in sent if m == "GET"]
    assert dict(read.query) == {"api": "campaigns", "campaign": "12"}
    puts = [u for m, u in sent if m == "PUT"]
    assert [(u.query["api"], u.query["type_campaign"]) for u in puts] == [
        ("start", "preview"),
        ("speed", "preview"),
        ("stop", "preview"),
    ]
