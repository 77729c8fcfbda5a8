"""Each method sends exactly the documented request (aioresponses: request shapes only)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, time
from typing import Any

import pytest
from aioresponses import aioresponses
from helpers import CompatResponse
from yarl import URL

import wolkvox_async as w
from wolkvox_async import CampaignType, DncEntry, FilterRule, Record, WolkvoxClient

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
        lambda wv: wv.add_record("12", [Record(customer_id="1", phones=("3001",))]),
        "POST",
        "campaign",
        {"type_campaign": "predictive", "campaign_id": "12", "campaign_status": "start"},
        "RECORDS",
        {"code": "201", "error": None, "msg": "ok", "data": [{"total_registers": "1"}]},
    ),
    (
        "add_record_preview",
        lambda wv: wv.add_record(
            "12", [{"customer_id": "1", "agent_id": "77"}], campaign_type=CampaignType.PREVIEW
        ),
        "POST",
        "campaign",
        {"type_campaign": "preview", "campaign_id": "12"},
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
            "12", campaign_type="preview", customer_id="3", cod_act="002", comment="c"
        ),
        "PUT",
        "campaign",
        {"type_campaign": "preview", "campaign_id": "12"},
        {"cod_act": "002", "comment": "c", "customer_id": "3"},
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
        {"campaign_id": "12"},
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
        lambda wv: wv.set_speed("12", 80),
        "PUT",
        "campaign",
        {"campaign_id": "12"},
        {"speed": "80"},
        OK_ACTION,
    ),
    (
        "start",
        lambda wv: wv.start_campaign(12),
        "PUT",
        "campaign",
        {"campaign_id": "12"},
        None,
        OK_ACTION,
    ),
    (
        "stop",
        lambda wv: wv.stop_campaign("12"),
        "PUT",
        "campaign",
        {"campaign_id": "12"},
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
