"""Odd values in the records a user uploads, as they come from a CRM or a spreadsheet:
each is sent as the text it means, or refused naming the field, never sent garbled."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from wolkvox_async import Record, WolkvoxClient
from wolkvox_async.testing import FakeWolkvox


class Segment(enum.StrEnum):
    GOLD = "gold"


class Text(str):
    """A str subclass, as ORMs and validators hand them out."""


ROWS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    # Before: ConfigError "opt2 must be text, not Segment" (a StrEnum is a str).
    "strenum": (
        {"customer_id": "c1", "tel1": "3001", "opt2": Segment.GOLD},
        {"customer_id": "c1", "tel1": "3001", "opt2": "gold"},
    ),
    "str subclass": (
        {"customer_id": Text("c2"), "tel1": Text("3002")},
        {"customer_id": "c2", "tel1": "3002"},
    ),
    # Before: sent as "3001234567.0" (pandas reads a column with an empty cell as floats).
    "integral floats": (
        {"customer_id": 7.0, "tel1": 3001234567.0, "opt1": 1.5},
        {"customer_id": "7", "tel1": "3001234567", "opt1": "1.5"},
    ),
    "ints and None": (
        {"customer_id": 8, "tel1": 3008, "opt1": None},
        {"customer_id": "8", "tel1": "3008"},
    ),
}


@pytest.mark.parametrize("how", ["add_record", "upload_records"])
@pytest.mark.parametrize("case", list(ROWS))
async def test_a_dict_row_is_sent_as_the_text_it_means(case: str, how: str) -> None:
    given, sent = ROWS[case]
    async with (
        FakeWolkvox() as fake,
        WolkvoxClient(
            server=fake.server, token=fake.token, base_url=fake.url, backend="memory://"
        ) as wv,
    ):
        camp = fake.create_campaign().id
        if how == "add_record":
            await wv.add_record(camp, [given], campaign_status="stopped")
        else:
            await wv.upload_records(camp, [given], campaign_status="stopped")
        [request] = [r for r in fake.requests if r.api == "add_record"]
        assert request.body == [sent]
        assert all(type(v) is str for v in request.body[0].values())


@pytest.mark.xfail(
    strict=True,
    reason="Record's validators take type(value) is str only: a StrEnum or str subclass "
    "is refused 'must be text, not Segment' (the dict path converts it)",
)
@pytest.mark.parametrize("value", [Segment.GOLD, Text("gold")], ids=["strenum", "subclass"])
def test_a_record_takes_a_str_subclass_as_text(value: str) -> None:
    record = Record(customer_id=value, phones=(value,), opts=(value,), city=value)
    assert type(record.customer_id) is str
