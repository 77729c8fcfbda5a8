"""The one converter: strings everywhere on the wire, typed values in the models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cattrs
import pytest

from wolkvox_async import WOLKVOX_TZ, CallResult, CampaignStatus, Record
from wolkvox_async._time import format_query_datetime, to_wolkvox_time
from wolkvox_async.calls._convert import CONVERTER, STRICT_CONVERTER
from wolkvox_async.models import (
    CampaignInfo,
    CampaignSettings,
    FoundRecord,
    PhoneResult,
    ResultShare,
    TokenInfo,
)


def test_numbers_blank_and_flags() -> None:
    info = CONVERTER.structure(
        {"token_limit": "3000", "token_use_today": 12, "all_token_today": "", "description": " "},
        TokenInfo,
    )
    assert (info.token_limit, info.token_use_today, info.all_token_today) == (3000, 12, None)
    assert info.description is None
    settings = CONVERTER.structure({"turbo_dial": "yes", "enable_edition": "no"}, CampaignSettings)
    assert settings.turbo_dial is True
    assert settings.enable_edition is False


def test_bad_flag_is_an_error_not_true() -> None:
    with pytest.raises(cattrs.BaseValidationError) as info:
        CONVERTER.structure({"turbo_dial": "maybe"}, CampaignSettings)
    assert "turbo_dial" in " ".join(cattrs.transform_error(info.value))


def test_response_dates_are_aware_gmt_minus_5() -> None:
    row = CONVERTER.structure({"date": "2023-11-22 10:15:20"}, PhoneResult)
    assert row.date == datetime(2023, 11, 22, 15, 15, 20, tzinfo=UTC)
    assert row.date is not None and row.date.utcoffset() == timedelta(hours=-5)
    assert CONVERTER.structure({"date": "0000-00-00 00:00:00"}, PhoneResult).date is None
    assert CONVERTER.structure({"date": "2024-04-26-16"}, FoundRecord).date == datetime(
        2024, 4, 26, 16, tzinfo=WOLKVOX_TZ
    )


def test_values_in_the_shapes_public_code_shows_are_read() -> None:
    row = CONVERTER.structure({"date": "2023-11-22 10:15:20.000"}, PhoneResult)
    assert row.date == datetime(2023, 11, 22, 10, 15, 20, tzinfo=WOLKVOX_TZ)
    assert row.unread is None
    for count in ("1,234", "1.234", "1234", " 1,234 "):
        assert CONVERTER.structure({"records": count}, ResultShare).records == 1234
    assert CONVERTER.structure({"records": "1,234,567"}, ResultShare).records == 1_234_567


def test_an_unreadable_value_is_none_and_named_and_strict_refuses_it() -> None:
    raw = {"conn_id": "c1", "date": "22/11/2023", "result": "ANSWER", "opt1": "x"}
    row = CONVERTER.structure(raw, PhoneResult)
    assert (row.conn_id, row.date, row.result, row.opts) == ("c1", None, CallResult.ANSWER, ("x",))
    assert row.unread is not None and row.unread.fields == ("date",) and row.unread.row == raw
    assert row == CONVERTER.structure({**raw, "date": ""}, PhoneResult)  # unread: not compared
    with pytest.raises(cattrs.BaseValidationError):
        STRICT_CONVERTER.structure(raw, PhoneResult)
    share = CONVERTER.structure({"records": "many", "percent": "12,5"}, ResultShare)
    assert (share.records, share.percent, share.unread.fields) == (None, 12.5, ("records",))


def test_request_dates_naive_means_wolkvox_time_aware_is_converted() -> None:
    assert format_query_datetime(datetime(2023, 11, 22, 10, 15, 20)) == "20231122101520"
    utc = datetime(2023, 11, 22, 15, 15, 20, tzinfo=UTC)
    assert format_query_datetime(utc) == "20231122101520"
    assert to_wolkvox_time(utc) == datetime(2023, 11, 22, 10, 15, 20)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ANSWER-MACHINE", CallResult.ANSWER_MACHINE),
        ("ANSWER MACHINE", CallResult.ANSWER_MACHINE),
        ("answer-machine", CallResult.ANSWER_MACHINE),
        ("No answer", CallResult.NO_ANSWER),
        ("NO-ANSWER", CallResult.NO_ANSWER),
        ("do-not-call_clean", CallResult.DO_NOT_CALL_CLEAN),
        ("Do not call", CallResult.DO_NOT_CALL),
        ("WRONG NUMBER", CallResult.WRONG_NUMBER),
        ("Chanunavail", CallResult.CHANUNAVAIL),
        ("something new", CallResult.OTHER),
    ],
)
def test_result_vocabularies_normalise_and_keep_raw(raw: str, expected: CallResult) -> None:
    row = CONVERTER.structure({"result": raw}, PhoneResult)
    assert row.result is expected
    assert row.result_raw == raw


def test_status_casing_of_both_endpoints() -> None:
    for raw in ("Started", "started"):
        assert CONVERTER.structure({"status": raw}, CampaignInfo).status is CampaignStatus.STARTED


def test_phones_and_opts_gather_in_order() -> None:
    row = CONVERTER.structure({"tel1": "1", "tel2": "", "tel3": "3", "opt12": "z"}, FoundRecord)
    assert row.phones == ("1", None, "3")
    assert row.opts == (None,) * 11 + ("z",)


def test_record_round_trip_through_wire_keys() -> None:
    record = Record(
        customer_id="9",
        customer_name="Ana",
        phones=("3001", "3002"),
        opts=("a", "", "c"),
        recall_date=datetime(2024, 4, 26, 21, 0, tzinfo=UTC),
    )
    wire = CONVERTER.unstructure(record)
    # Only the fields the record sets go on the wire (blank ones read back as absent).
    assert wire["tel2"] == "3002" and "tel3" not in wire
    assert wire["opt3"] == "c" and "opt2" not in wire and "opt12" not in wire
    assert wire["recall_date"] == "20240426160000"
    assert all(isinstance(v, str) for v in wire.values())
    back = CONVERTER.structure(wire, Record)
    assert back.phones == record.phones
    assert back.opts == record.opts
    assert back.recall_date == datetime(2024, 4, 26, 16, tzinfo=WOLKVOX_TZ)
