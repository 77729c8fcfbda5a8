"""FakeWolkvox answers with the documented code type and envelope of each endpoint (§10)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from wolkvox_async.testing import FakeWolkvox

DATES = "date_ini=20261101000000&date_end=20261120000000"


async def _answer(fake: FakeWolkvox, method: str, query: str, body: Any = None) -> tuple[int, Any]:
    file, _, rest = query.partition("?")
    async with aiohttp.ClientSession() as session:
        async with session.request(
            method,
            f"{fake.url}/api/v2/{file}.php?{rest}",
            headers={"wolkvox-token": fake.token},
            data=None if body is None else json.dumps(body),
        ) as resp:
            return resp.status, await resp.json(content_type=None)


@pytest.fixture
async def world(fake: FakeWolkvox) -> str:
    camp = fake.create_campaign()
    camp.add_records([{"customer_id": "1", "tel1": "3001"}])
    start = datetime(2026, 11, 1)
    fake.add_call_results(camp.id, start, start + timedelta(days=10), 20)
    return camp.id


# (method, query with {c} for the campaign id, body, expected HTTP status, expected code)
WIRE = [
    ("POST", "campaign?api=add_dnc", [{"telephone": "1", "days_block": "3"}], 201, 201),
    (
        "POST",
        "campaign?api=add_record&type_campaign=predictive&campaign_id={c}&campaign_status=start",
        [{"customer_id": "2"}],
        201,
        "201",
    ),
    (
        "POST",
        "campaign?api=create_campaign&type_campaign=preview",
        {"campaign_name": "n", "skill_id": "1"},
        201,
        201,
    ),
    ("PUT", "campaign?api=codify&campaign_id={c}", {"cod_act": "1", "customer_id": "1"}, 202, 202),
    (
        "GET",
        "campaign?api=detail&type_campaign=predictive&campaign_id={c}&" + DATES,
        None,
        200,
        "200",
    ),
    (
        "PUT",
        "campaign?api=recall&campaign_id={c}",
        {"recall_date": "20261120100000", "recall_telephone": "3", "customer_id": "1"},
        202,
        202,
    ),
    ("PUT", "campaign?api=speed&campaign_id={c}", {"speed": "10"}, 202, 202),
    ("PUT", "campaign?api=start&campaign_id={c}", None, 202, 202),
    ("PUT", "campaign?api=stop&type_campaign=predictive&campaign_id={c}", None, 202, 202),
    ("GET", "campaign?api=find_record&customer_id=1", None, 200, "200"),
    ("PUT", "campaign?api=campaign_filter&campaign_id={c}", {"filter_active": "no"}, 202, 202),
    ("GET", "campaign?api=campaign_15&campaign_id={c}", None, 200, "200"),
    (
        "PUT",
        "campaign?api=recall_records&campaign_id={c}",
        {"field": "Cod_Machine", "value": "BUSY"},
        200,
        "200",
    ),
    ("PUT", "campaign?api=edit_campaign&campaign_id={c}", {"turbo_dial": "yes"}, 200, "200"),
    *[
        ("GET", f"reports_manager?api=campaign_{n}&campaign_id={{c}}&" + DATES, None, 200, 200)
        for n in range(1, 10)
    ],
    ("GET", "reports_manager?api=campaign_10&campaign_id={c}&" + DATES, None, 200, "200"),
    ("GET", "information?api=campaigns", None, 200, ""),
    ("GET", "information?api=token_info", None, 200, "200"),
    (
        "DELETE",
        "campaign?api=remove_record&type_campaign=predictive&campaign_id={c}",
        {"customer_id": "2"},
        202,
        202,
    ),
    (
        "DELETE",
        "campaign?api=clear_campaign&type_campaign=predictive&campaign_id={c}",
        None,
        202,
        202,
    ),
    ("DELETE", "campaign?api=delete_campaign", {"campaign_ids": ["{c}"]}, 200, "200"),
]


async def test_code_types_per_endpoint(fake: FakeWolkvox, world: str) -> None:
    for method, query, body, status, code in WIRE:
        sent = json.loads(json.dumps(body).replace("{c}", world)) if body is not None else None
        got_status, answer = await _answer(fake, method, query.format(c=world), sent)
        assert (got_status, answer["code"]) == (status, code), query
        assert type(answer["code"]) is type(code), query
        if "records" in answer:
            assert "error" not in answer and "data" not in answer  # the export envelope
        else:
            assert answer["error"] is None
        rows = answer.get("data") or answer.get("records") or []
        for row in rows if isinstance(rows, list) else [rows]:
            assert all(isinstance(v, str | dict) for v in row.values()), query


async def test_real_time_campaigns_is_a_bare_array(fake: FakeWolkvox, world: str) -> None:
    status, answer = await _answer(fake, "GET", "real_time?api=campaigns")
    assert status == 200
    assert isinstance(answer, list) and answer[0]["campaign"] == world
    assert answer[0]["status"] == "stopped"
