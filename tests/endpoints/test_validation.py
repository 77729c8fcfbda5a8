"""Bad input is refused with a message naming the field, before anything is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import pytest

from wolkvox_async import ConfigError, DncEntry, FilterRule, Record, WolkvoxClient
from wolkvox_async.testing import FakeWolkvox

NOW = datetime(2026, 11, 20, 12)
EARLIEST_PLUS_5 = datetime.min.replace(tzinfo=timezone(timedelta(hours=5)))
LATEST = datetime.max
Call = Callable[[WolkvoxClient], Awaitable[Any]]

BAD_CALLS: list[tuple[str, Call, str]] = [
    (
        "dates out of order",
        lambda wv: wv.phone_results("1", NOW, NOW - timedelta(seconds=1)),
        "after end",
    ),
    (
        "span over 31 days",
        lambda wv: wv.final_results("1", NOW - timedelta(days=32), NOW),
        "31 days",
    ),
    (
        "aware dates compared in Wolkvox time",
        lambda wv: wv.phone_results(
            "1", NOW.replace(tzinfo=UTC), NOW.replace(tzinfo=timezone(timedelta(hours=3)))
        ),
        "after end",
    ),
    ("date not a datetime", lambda wv: wv.phone_results("1", "2026-01-01", NOW), "start"),
    ("campaign id with a path", lambda wv: wv.start_campaign("12/../x"), "campaign_id"),
    ("campaign id 'all' outside reports", lambda wv: wv.stop_campaign("all"), "campaign_id"),
    ("unicode digits in campaign id", lambda wv: wv.start_campaign("١٢"), "campaign_id"),
    (
        "too many records",
        lambda wv: wv.add_record("1", [{"customer_id": str(i)} for i in range(10_001)]),
        "10000",
    ),
    ("no records", lambda wv: wv.add_record("1", []), "at least one"),
    (
        "unknown record field",
        lambda wv: wv.add_record("1", [{"customer_id": "1", "tle1": "3"}]),
        "tle1",
    ),
    (
        "opt6 over 100",
        lambda wv: wv.add_record("1", [{"customer_id": "1", "opt6": "x" * 101}]),
        "opt6",
    ),
    (
        "opt7 over 200",
        lambda wv: wv.add_record("1", [{"customer_id": "1", "opt7": "x" * 201}]),
        "opt7",
    ),
    (
        "row number named",
        lambda wv: wv.add_record("1", [{"customer_id": "1"}, {"customer_id": ""}]),
        "row 2",
    ),
    (
        "agent_id on predictive",
        lambda wv: wv.add_record("1", [Record(customer_id="1", agent_id="9")]),
        "agent_id",
    ),
    (
        "email on preview",
        lambda wv: wv.add_record(
            "1", [Record(customer_id="1", email="a@b")], campaign_type="preview"
        ),
        "email",
    ),
    (
        "bad campaign type",
        lambda wv: wv.add_record("1", [Record(customer_id="1")], campaign_type="robot"),
        "campaign_type",
    ),
    (
        "recall on preview",
        lambda wv: wv.recall("1", customer_id="1", telephone="3", at=NOW, campaign_type="preview"),
        "predictive",
    ),
    (
        "recall without datetime",
        lambda wv: wv.recall("1", customer_id="1", telephone="3", at="now"),
        "at",
    ),
    ("speed over 100", lambda wv: wv.set_speed("1", 101), "speed"),
    ("find with nothing", lambda wv: wv.find_record(), "customer_phone"),
    (
        "remove id with comma",
        lambda wv: wv.remove_records("1", ["1,2"], campaign_type="predictive"),
        "comma",
    ),
    (
        "result filter unknown",
        lambda wv: wv.clear_campaign("1", campaign_type="predictive", result="zzz"),
        "result",
    ),
    (  # found by the fuzz: str() of it raised a bare ValueError
        "result filter a huge int",
        lambda wv: wv.remove_records("1", ["7"], campaign_type="predictive", result=10**5000),
        "result",
    ),
    (
        "create without name",
        lambda wv: wv.create_campaign(name=" ", campaign_type="predictive", skill_id="1"),
        "name",
    ),
    (
        "create end before start",
        lambda wv: wv.create_campaign(
            name="n",
            campaign_type="predictive",
            skill_id="1",
            start_time=time(18),
            end_time=time(8),
        ),
        "start_time",
    ),
    (
        "amd on preview",
        lambda wv: wv.create_campaign(name="n", campaign_type="preview", skill_id="1", amd="COL"),
        "amd",
    ),
    (
        "amd unknown",
        lambda wv: wv.create_campaign(name="n", campaign_type="predictive", skill_id="1", amd="XX"),
        "amd",
    ),
    (
        "13 opt labels",
        lambda wv: wv.create_campaign(
            name="n", campaign_type="predictive", skill_id="1", opt_labels=["l"] * 13
        ),
        "opt_labels",
    ),
    ("edit nothing", lambda wv: wv.edit_campaign("1"), "at least one"),
    (
        "edit bad label key",
        lambda wv: wv.edit_campaign("1", opt_labels={"opt13": "x"}),
        "opt0..opt12",
    ),
    ("delete nothing", lambda wv: wv.delete_campaigns([]), "at least one"),
    ("dnc nothing", lambda wv: wv.add_dnc([]), "at least one"),
    ("recall_records bad field", lambda wv: wv.recall_records("1", field="x", value="y"), "field"),  # type: ignore[arg-type]
    (
        "filter bad connector",
        lambda wv: wv.filter_campaign("1", campaign_type="preview", rules=[], connector="xor"),
        "connector",
    ),  # type: ignore[arg-type]
    # Found by tests/test_fuzz.py: wrong kinds of collection, and blanks that were skipped.
    ("one dict for records", lambda wv: wv.add_record("1", {"customer_id": "c"}), "records"),  # type: ignore[arg-type]
    ("no records at all", lambda wv: wv.add_record("1", None), "records"),  # type: ignore[arg-type]
    ("entries not a list", lambda wv: wv.add_dnc(b"300"), "entries"),  # type: ignore[arg-type]
    ("entries of numbers", lambda wv: wv.add_dnc([300]), "entries"),  # type: ignore[list-item]
    ("ids as a datetime", lambda wv: wv.delete_campaigns(datetime.now()), "campaign_ids"),  # type: ignore[arg-type]
    (
        "rules not rules",
        lambda wv: wv.filter_campaign("1", campaign_type="preview", rules=["x"]),
        "rules",
    ),  # type: ignore[list-item]
    ("blank search", lambda wv: wv.find_record(customer_id="", customer_phone=""), "customer"),
    (
        "labels None",
        lambda wv: wv.create_campaign(
            name="n", campaign_type="preview", skill_id="1", opt_labels=None
        ),
        "opt_labels",
    ),  # type: ignore[arg-type]
    ("amd as a list", lambda wv: wv.edit_campaign("1", amd_conf=["COL"]), "amd_conf"),  # type: ignore[arg-type]
    ("upload a bool", lambda wv: wv.upload_records("1", False), "records"),  # type: ignore[arg-type]
    (
        "window start a string",
        lambda wv: wv.iter_phone_results("1", "2026-11-01", datetime.now()),
        "start",
    ),  # type: ignore[arg-type]
    # Issue 15: values that escaped as ValueError, TypeError, OverflowError or
    # UnicodeEncodeError, or that were sent (a 400, a quota unit) instead of refused.
    ("a 4,301-digit campaign id", lambda wv: wv.start_campaign(10**4300), "campaign_id"),
    (
        "a 4,301-digit record value",
        lambda wv: wv.add_record("1", [{"customer_id": "1", "tel1": 10**4300}]),
        "tel1",
    ),
    (
        "a record key that is not text",
        lambda wv: wv.add_record("1", [{"customer_id": "1", 5: "x"}]),
        "unknown field",
    ),  # type: ignore[dict-item]
    (
        "a NaN record value",
        lambda wv: wv.add_record("1", [{"customer_id": "1", "age": float("nan")}]),
        "age",
    ),
    (
        "datetime.min at +05:00",
        lambda wv: wv.recall("1", customer_id="1", telephone="3", at=EARLIEST_PLUS_5),
        "at",
    ),
    (
        "a recall_date that overflows",
        lambda wv: wv.add_record("1", [Record(customer_id="1", recall_date=EARLIEST_PLUS_5)]),
        "recall_date",
    ),
    ("a window ending at datetime.max", lambda wv: wv.phone_results("1", NOW, LATEST), "end"),
    (
        "windows ending at datetime.max",
        lambda wv: wv.iter_phone_results("1", NOW, LATEST),
        "end",
    ),
    ("a lone surrogate", lambda wv: wv.find_record(customer_id="a\ud800"), "surrogate"),
    ("a NUL in an id", lambda wv: wv.add_record("1", [{"customer_id": "a\x00b"}]), "customer_id"),
    (
        "a 10 MB phone",
        lambda wv: wv.add_record("1", [{"customer_id": "1", "tel1": "3" * 10_000_000}]),
        "tel1",
    ),
    ("a 100 KB customer id", lambda wv: wv.find_record(customer_id="x" * 100_000), "customer_id"),
    (
        "description as bytes",
        lambda wv: wv.create_campaign(
            name="n", campaign_type="preview", skill_id="1", description=b""
        ),
        "description",
    ),  # type: ignore[arg-type]
    (
        "description infinite",
        lambda wv: wv.create_campaign(
            name="n", campaign_type="preview", skill_id="1", description=float("inf")
        ),
        "description",
    ),  # type: ignore[arg-type]
    (
        "comment infinite",
        lambda wv: wv.codify(
            "1", campaign_type="preview", customer_id="1", cod_act="1", comment=float("inf")
        ),
        "comment",
    ),  # type: ignore[arg-type]
    (
        "edit description NaN",
        lambda wv: wv.edit_campaign("1", description=float("nan")),
        "description",
    ),  # type: ignore[arg-type]
    (
        "a name with a NUL",
        lambda wv: wv.create_campaign(name="a\x00", campaign_type="preview", skill_id="1"),
        "name",
    ),
    (
        "campaign_status not a status",
        lambda wv: wv.add_record("1", [{"customer_id": "1"}], campaign_status="go"),
        "campaign_status",
    ),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("call", "named"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
async def test_refused_before_sending(
    fake: FakeWolkvox, client: WolkvoxClient, call: Call, named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        await call(client)
    assert fake.stats.requests == 0


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: Record(customer_id=""), "customer_id"),
        (lambda: Record(customer_id="1", phones=tuple("1" * 11)), "tel1..tel10"),
        (lambda: Record(customer_id="1", opts=("",) * 13), "opt1..opt12"),
        (lambda: Record(customer_id="1", customer_name=5), "customer_name"),
        (lambda: Record(customer_id="1", phones=(3001,)), "tel1"),
        (lambda: DncEntry(telephone=" "), "telephone"),
        (lambda: DncEntry(telephone="1", days_block=0), "days_block"),
        (lambda: FilterRule(field="opt1", operator="~", value="x"), "operator"),
    ],
)
def test_models_validate_on_construction(build: Callable[[], object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        build()


def test_a_lone_phone_string_is_one_phone() -> None:
    assert Record(customer_id="1", phones="3001").phones == ("3001",)


def test_wire_dicts_are_checked_and_normalised_without_records() -> None:
    from datetime import UTC

    from wolkvox_async.endpoints._records import to_wire
    from wolkvox_async.models import CampaignType

    wire = to_wire(
        {"customer_id": 7, "tel1": 3001234567, "recall_date": datetime(2026, 1, 1, 15, tzinfo=UTC)},
        CampaignType.PREDICTIVE,
    )
    assert (wire["customer_id"], wire["tel1"], wire["recall_date"]) == (
        "7",
        "3001234567",
        "20260101100000",
    )
    assert set(wire) == {"customer_id", "tel1", "recall_date"}  # only what is set
    assert to_wire(wire, CampaignType.PREDICTIVE) is wire  # checked once, passed through
    for bad, named in [
        ({"customer_id": "1", "recall_date": "20261301000000"}, "recall_date"),
        ({"customer_id": "1", "opt2": ["x"]}, "opt2"),
        ({"customer_id": "1", "agent_id": "9"}, "agent_id"),
        ({"customer_id": " "}, "customer_id"),
        ({"tel1": "3"}, "customer_id"),
    ]:
        with pytest.raises(ConfigError, match=named):
            to_wire(bad, CampaignType.PREDICTIVE, row=3)


def test_rows_are_checked_in_batches_with_their_row_numbers() -> None:
    from wolkvox_async.endpoints._records import to_wire_rows
    from wolkvox_async.models import CampaignType

    mine = {"customer_id": "1", "tel1": "300", "opt1": "x" * 100}
    items = [
        mine,
        {"customer_id": "2", "opt1": "x" * 101},  # over the opt1 limit
        {"customer_id": "3", "agent_id": "7"},  # preview-only field
        {"customer_id": "4", "customer_name": "", "tel2": 3001},  # blank dropped, int as text
        Record(customer_id="5", phones=("301",)),
    ]
    records, rows, bad = to_wire_rows(items, CampaignType.PREDICTIVE, first_row=11)
    assert rows == [11, 14, 15]
    assert records == [
        mine,
        {"customer_id": "4", "tel2": "3001"},
        {"customer_id": "5", "tel1": "301"},
    ]
    # Not copied: a load's reader encodes each batch before anything else runs, so the
    # caller's dict cannot change between its check and its encoding.
    assert records[0] is mine
    assert [(row, str(exc)) for row, _, exc in bad] == [
        (12, "row 12: opt1 is 101 characters long; at most 100"),
        (13, "row 13: agent_id is not accepted on predictive campaigns"),
    ]


async def test_campaign_status_is_checked_before_sending(fake: FakeWolkvox) -> None:
    camp = fake.create_campaign()
    lead = {"customer_id": "1", "tel1": "300"}
    async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
        for bad in ("go", True, 2, "", "start stop"):
            with pytest.raises(ConfigError, match="campaign_status must be CampaignStatus"):
                await wv.add_record(camp.id, [lead], campaign_status=bad)  # type: ignore[arg-type]
            with pytest.raises(ConfigError, match="campaign_status must be CampaignStatus"):
                await wv.upload_records(camp.id, [lead], campaign_status=bad)  # type: ignore[arg-type]
    assert fake.stats.requests == 0
