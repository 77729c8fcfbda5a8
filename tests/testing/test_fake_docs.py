"""FakeWolkvox follows the docs where they speak, and its choices where they are silent are
its knobs' defaults (wolkvox-api.md §5, §9, §10)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from wolkvox_async import CallResult, Forbidden, Maintenance, WolkvoxClient
from wolkvox_async.testing import FakeWolkvox, Knobs
from wolkvox_async.testing._state import Attempt

DAY = datetime(2026, 11, 10)
FIXTURES = Path(__file__).parent.parent / "fixtures"  # the docs' sample answers


async def raw(fake: FakeWolkvox, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request as a user's own code would send it; the answer's status and JSON."""
    async with aiohttp.ClientSession() as session:
        async with session.request(
            method,
            f"{fake.url}/api/v2/{path}",
            headers={"wolkvox-token": fake.token, "wolkvox_server": fake.server},
            data=None if body is None else json.dumps(body),
        ) as resp:
            return resp.status, await resp.json(content_type=None)


def client_for(fake: FakeWolkvox) -> WolkvoxClient:
    return WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, max_attempts=1, strict=True
    )


# Each documented body, with every value a JSON number instead of the documented String.
NUMBERS = [
    ("PUT", "campaign.php?api=speed&campaign_id={c}", {"speed": 100}),
    ("PUT", "campaign.php?api=speed&campaign_id={c}", {"speed": 50.5}),
    ("PUT", "campaign.php?api=codify&campaign_id={c}", {"cod_act": 2, "customer_id": 3}),
    (
        "PUT",
        "campaign.php?api=codify&campaign_id={c}",
        {"cod_act": "002", "customer_id": "3", "comment": 7},
    ),
    (
        "PUT",
        "campaign.php?api=recall&campaign_id={c}",
        {"recall_date": 20261120100000, "recall_telephone": 300, "customer_id": 1},
    ),
    ("DELETE", "campaign.php?api=remove_record&campaign_id={c}", {"customer_id": 1}),
    ("PUT", "campaign.php?api=recall_records&campaign_id={c}", {"field": 1, "value": 2}),
    ("PUT", "campaign.php?api=campaign_filter&campaign_id={c}", {"filter_active": 1}),
    (
        "POST",
        "campaign.php?api=create_campaign&type_campaign=predictive",
        {"campaign_name": 5, "skill_id": 4069},
    ),
]


@pytest.mark.parametrize(("method", "path", "body"), NUMBERS, ids=lambda v: str(v)[:40])
async def test_a_number_where_the_docs_type_a_string_is_a_400_never_a_500(
    fake: FakeWolkvox, method: str, path: str, body: Any
) -> None:
    """Every documented body field is a String, even numbers (§1: ``"speed": "100"``).
    The simulator answers another JSON type 400 naming the field (it crashed with HTTP 500
    on ``{"speed": 100}``): a PHP server might take 100 for "100", but a simulator that did
    would pass code the documented type refuses — its choice, stated in _campaign_api."""
    camp = fake.create_campaign()
    status, reply = await raw(fake, method, path.format(c=camp.id), body)
    assert status == 400, reply
    assert "MUST BE A STRING" in reply["msg"]
    assert fake.campaign(camp.id).speed == 0


async def test_type_campaign_is_taken_with_or_without_it(fake: FakeWolkvox) -> None:
    """The site's URLs carry type_campaign on speed, start, stop and recall; Postman's omit
    it (§9.2): both are answered, and a wrong one is refused."""
    camp = fake.create_campaign()
    recall = {"recall_date": "20261120100000", "recall_telephone": "3", "customer_id": "1"}
    for tail in ("", "&type_campaign=predictive", "&type_campaign=Predictive"):
        c = f"campaign_id={camp.id}{tail}"
        assert (await raw(fake, "PUT", f"campaign.php?api=speed&{c}", {"speed": "5"}))[0] == 202
        assert (await raw(fake, "PUT", f"campaign.php?api=start&{c}"))[0] == 202
        assert (await raw(fake, "PUT", f"campaign.php?api=stop&{c}"))[0] == 202
        assert (await raw(fake, "PUT", f"campaign.php?api=recall&{c}", recall))[0] == 202
    wrong = f"campaign.php?api=start&campaign_id={camp.id}&type_campaign=preview"
    assert (await raw(fake, "PUT", wrong))[0] == 400
    assert {r.wolkvox_server for r in fake.requests} == {fake.server}  # taken, and logged


@pytest.mark.parametrize("status", ["start", "Stop", "STARTED", "stopped", "1", "0"])
async def test_campaign_status_is_read_in_any_case(fake: FakeWolkvox, status: str) -> None:
    """The client sends a caller's campaign_status as given: the simulator reads the
    documented words (Postman's start/stop, public code's stopped/1) in any case."""
    camp = fake.create_campaign()
    path = f"campaign.php?api=add_record&type_campaign=predictive&campaign_id={camp.id}"
    one = [{"customer_id": "1"}]
    assert (await raw(fake, "POST", f"{path}&campaign_status={status}", one))[0] == 201
    assert (await raw(fake, "POST", f"{path}&campaign_status=go", one))[0] == 400


async def test_detail_honours_default_and_all() -> None:
    """§5 #6: ``detail=default`` returns only records with a conn_id (a call); ``all``
    includes records managed without one (here: coded through codify, no call)."""
    fake = FakeWolkvox(clock=lambda: DAY.replace(hour=15, tzinfo=UTC))  # 10:00 in Bogota
    async with fake:
        await _detail_default_and_all(fake)


async def _detail_default_and_all(fake: FakeWolkvox) -> None:
    camp = fake.create_campaign()
    camp.add_records([{"customer_id": c, "tel1": f"30{c}"} for c in ("1", "2")])
    camp.add_attempts([Attempt(DAY.replace(hour=9), "000000000001", "1", "301", "ANSWER", "001")])
    async with client_for(fake) as wv:
        await wv.codify(
            camp.id, campaign_type="predictive", customer_id="2", cod_act="007", comment="mail"
        )
        start, end = DAY - timedelta(days=10), DAY + timedelta(days=10)
        default = await wv.campaign_detail(camp.id, start, end, campaign_type="predictive")
        every = await wv.campaign_detail(
            camp.id, start, end, campaign_type="predictive", include_unmanaged=True
        )
    assert [(r.customer_id, r.conn_id) for r in default] == [("1", "000000000001")]
    assert sorted((r.customer_id, r.conn_id, r.cod_act, r.comments) for r in every) == [
        ("1", "000000000001", "001", None),
        ("2", None, "007", "mail"),
    ]
    bad = f"campaign.php?api=detail&campaign_id={camp.id}&date_ini=20261101000000"
    status, _ = await raw(fake, "GET", bad + "&date_end=20261120000000&detail=some")
    assert status == 400  # the docs name default and all


async def test_find_record_answers_the_date_and_calls_of_a_dialled_record(
    fake: FakeWolkvox,
) -> None:
    """§5 #12: ``date`` (of the last call) and ``calls`` (how many); a record never dialled
    has neither."""
    camp = fake.create_campaign()
    camp.add_records([{"customer_id": "1", "tel1": "301"}, {"customer_id": "2", "tel1": "302"}])
    camp.add_attempts(
        [
            Attempt(DAY.replace(hour=9), "000000000001", "1", "301", "NO-ANSWER"),
            Attempt(DAY.replace(hour=11, minute=5), "000000000002", "1", "301", "ANSWER"),
        ]
    )
    async with client_for(fake) as wv:
        [dialled] = await wv.find_record(campaign_id=camp.id, customer_id="1")
        [fresh] = await wv.find_record(campaign_id=camp.id, customer_id="2")
    assert (dialled.date, dialled.calls, dialled.conn_id, dialled.result) == (
        DAY.replace(hour=11, minute=5, tzinfo=dialled.date.tzinfo if dialled.date else None),
        2,
        "000000000002",
        CallResult.ANSWER,
    )
    assert (fresh.date, fresh.calls, fresh.conn_id, fresh.result) == (None, 0, None, None)


async def test_the_export_carries_every_documented_field(fake: FakeWolkvox) -> None:
    """§5 #15 lists 61 keys per record (cod_rslt1/2, description_cod1/2, comentarios,
    rellamada_count, last_dial_tele, history_dial_tel, rellamada_info among them): each
    record has every one, as the docs' sample does; the typed rows read them all."""
    camp = fake.create_campaign()
    camp.add_records(
        [
            {"customer_id": "1", "tel1": "301", "tel2": "302", "recall_telephone": "309"},
            {"customer_id": "2"},
        ]
    )
    camp.add_attempts(
        [
            Attempt(DAY.replace(hour=9), "000000000001", "1", "301", "NO-ANSWER", "001"),
            Attempt(DAY.replace(hour=10), "000000000002", "1", "302", "ANSWER-MACHINE", "002"),
        ]
    )
    async with client_for(fake) as wv:  # strict: an unknown key would be an error
        await wv.codify(
            camp.id, campaign_type="predictive", customer_id="1", cod_act="A1",
            cod_act_2="B2", comment="call later",
        )  # fmt: skip
        export = await wv.export_campaign(camp.id)
    from wolkvox_async.testing._export import EXPORT_KEYS

    status, body = await raw(fake, "GET", f"campaign.php?api=campaign_15&campaign_id={camp.id}")
    sample = json.loads((FIXTURES / "campaign_15.json").read_text())
    documented = list(sample["records"][0])
    assert list(EXPORT_KEYS) == documented  # the docs' sample, in its order
    assert status == 200 and all(list(record) == documented for record in body["records"])
    one, two = export.records
    assert (one.result, one.result_raw, one.calls, one.conn_id) == (
        CallResult.ANSWER_MACHINE,
        "ANSWER MACHINE",  # the export's spaced words (§7)
        2,
        "000000000002",
    )
    assert (one.code_1, one.code_2, one.comments) == ("A1", "B2", "call later")
    assert (one.last_dialed_telephone, one.dial_history) == ("302", "301,302")
    assert (one.recall_telephone, one.recall_count) == ("309", 0)
    assert (two.calls, two.result, two.last_dialed_telephone) == (0, None, None)


@pytest.mark.parametrize(
    ("body", "text", "error"),
    [
        ("json", "THE SERVER IS UNDER MAINTENANCE, TRY AGAIN LATER", Maintenance),  # ours
        ("json", "Servidor en mantenimiento programado", Maintenance),
        ("json", "SERVICE TEMPORARILY DISABLED", Forbidden),  # a text we do not know
        ("html", "Server under maintenance", Maintenance),
        ("html", "Service Unavailable", Forbidden),
    ],
)
async def test_the_maintenance_403_in_either_body(body: str, text: str, error: type) -> None:
    """The help centre says maintenance answers HTTP 403; its body was not retrievable
    (§2). Served as Wolkvox's envelope or as a page, with a text the client may not know:
    a 403 naming maintenance pauses the token (Maintenance), any other fails at once
    (Forbidden) — never taken for a decode error, nor for "not Wolkvox"."""
    knobs = Knobs(maintenance_body=body, maintenance_text=text)  # type: ignore[arg-type]
    async with FakeWolkvox(knobs=knobs) as fake:
        fake.maintenance = True
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"{fake.url}/api/v2/information.php?api=token_info",
                headers={"wolkvox-token": fake.token},
            ) as resp:
                assert resp.status == 403
                assert resp.content_type == ("text/html" if body == "html" else "application/json")
                assert text in await resp.text()
        async with client_for(fake) as wv:
            with pytest.raises(error) as info:
                await wv.token_info()
        assert type(info.value) is error and info.value.http_status == 403
        assert fake.quota_used() == 0  # "consumption is disabled": nothing charged
