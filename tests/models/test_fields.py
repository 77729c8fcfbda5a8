"""The record field table (models/_fields.py) drives the Record model, the wire form of a
dict and the simulator's checks: each field's limit and campaign type hold in all three."""

from __future__ import annotations

import json

import aiohttp
import attrs
import pytest

from wolkvox_async import ConfigError
from wolkvox_async._records import to_wire
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


async def test_the_simulator_enforces_the_same_lengths(fake: FakeWolkvox) -> None:
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
    assert {key for key, status in statuses.items() if status == 400} == {
        (field.wire, True) for field in TEXT_LIKE
    }
