"""The record field table (models/_fields.py) drives the Record model, the wire form of a
dict and the simulator's checks: each field's limit and campaign type hold in the client;
the simulator holds only the limits the docs give (opt1–opt12, recall_date)."""

from __future__ import annotations

import json

import aiohttp
import attrs
import pytest

from wolkvox_async import ConfigError
from wolkvox_async.endpoints._records import to_wire
from wolkvox_async.models import CampaignType, Record
from wolkvox_async.models._fields import FIELDS, NOT_FOR, Form, RecordField
from wolkvox_async.testing import FakeWolkvox

TEXT_LIKE = [field for field in FIELDS if field.form is not Form.MOMENT]


def test_record_has_an_attribute_for_every_field_of_the_table() -> None:
    names = {field.name for field in attrs.fields(Record)}
    wanted = {f.wire for f in FIELDS if f.form in (Form.TEXT, Form.MOMENT)}
    assert names == wanted | {"phones", "opts"}


def _kind_for(field: RecordField) -> CampaignType:
    return field.only or CampaignType.PREDICTIVE


def _record(field: RecordField, value: str) -> dict[str, str]:
    return (
        {"customer_id": "c1", field.wire: value}
        if field.wire != "customer_id"
        else {"customer_id": value}
    )


@pytest.mark.parametrize("field", TEXT_LIKE, ids=lambda f: f.wire)
def test_the_longest_value_passes_and_one_more_is_refused_naming_the_field(
    field: RecordField,
) -> None:
    kind = _kind_for(field)
    assert to_wire(_record(field, "7" * field.max_length), kind)[field.wire]
    with pytest.raises(ConfigError, match=field.wire):
        to_wire(_record(field, "7" * (field.max_length + 1)), kind)


@pytest.mark.parametrize("kind", list(CampaignType))
def test_a_field_of_the_other_campaign_type_is_refused(kind: CampaignType) -> None:
    for wire in NOT_FOR[kind]:
        value = "20261201101500" if wire == "recall_date" else "1"
        with pytest.raises(ConfigError, match=f"{wire} is not accepted on {kind.value}"):
            to_wire({"customer_id": "c1", wire: value}, kind)


def test_documented_lengths_are_the_docs_and_the_rest_are_ours() -> None:
    """§5 #2.1: "opt1–opt6 max 100 chars, opt7–opt12 max 200"; recall_date yyyymmddhhmmss.
    No other length is documented: those bounds are the client's own."""
    documented = {f.wire: f.max_length for f in FIELDS if f.documented}
    assert documented == {
        **{f"opt{i}": 100 for i in range(1, 7)},
        **{f"opt{i}": 200 for i in range(7, 13)},
        "recall_date": 14,
    }


async def test_the_simulator_enforces_only_the_documented_lengths(fake: FakeWolkvox) -> None:
    """A field one past its bound: refused by the simulator only where the docs give the
    bound; our own bounds (phones 30, customer_id 100, text 200) are the client's, and a
    server 400 for them would be our guess tested against itself."""
    statuses: dict[tuple[str, bool], int] = {}
    async with aiohttp.ClientSession() as session:
        for field in TEXT_LIKE:
            kind = _kind_for(field)
            camp = fake.create_campaign(type=kind.value)
            for over in (False, True):
                body = [_record(field, "7" * (field.max_length + over))]
                url = (
                    f"{fake.url}/api/v2/campaign.php?api=add_record&type_campaign={kind.value}"
                    f"&campaign_id={camp.id}&campaign_status=start"
                )
                headers = {"wolkvox-token": fake.token}
                async with session.post(url, data=json.dumps(body), headers=headers) as resp:
                    statuses[field.wire, over] = resp.status
                    if resp.status == 400:
                        reply = await resp.json()
                        assert f"{field.wire.upper()} EXCEEDS {field.max_length}" in reply["msg"]
    assert {key for key, status in statuses.items() if status == 400} == {
        (field.wire, True) for field in TEXT_LIKE if field.documented
    }
    assert all(status == 201 for status in statuses.values() if status != 400)
