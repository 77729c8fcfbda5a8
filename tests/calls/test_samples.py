"""The documented response samples structure cleanly with the strict converter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wolkvox_async import models as m
from wolkvox_async._config import ClientConfig
from wolkvox_async.calls import _routes as routes
from wolkvox_async.calls._convert import STRICT_CONVERTER, structure_rows
from wolkvox_async.calls._protocol import RawResponse, build_request, parse_response

FIXTURES = Path(__file__).parent.parent / "fixtures"
CONFIG = ClientConfig(server="0014", token="t0ken")

# sample file -> (route, model of each data row; None for actions without data)
SAMPLES: dict[str, tuple[routes.Route, type[Any] | None]] = {
    "add_dnc": (routes.ADD_DNC, m.DncResult),
    "add_record": (routes.ADD_RECORD, None),
    "clear_campaign": (routes.CLEAR_CAMPAIGN, None),
    "create_campaign": (routes.CREATE_CAMPAIGN, m.CampaignCreated),
    "codify": (routes.CODIFY, None),
    "detail": (routes.DETAIL, m.DetailRow),
    "recall": (routes.RECALL, None),
    "remove_record": (routes.REMOVE_RECORD, None),
    "speed": (routes.SPEED, None),
    "start": (routes.START, None),
    "stop": (routes.STOP, None),
    "find_record": (routes.FIND_RECORD, m.FoundRecord),
    "delete_campaign": (routes.DELETE_CAMPAIGN, None),
    "campaign_filter": (routes.CAMPAIGN_FILTER, m.FilterResult),
    "recall_records": (routes.RECALL_RECORDS, m.RecallRecordsResult),
    "edit_campaign": (routes.EDIT_CAMPAIGN, m.CampaignSettings),
    "campaign_1": (routes.REPORT_CAMPAIGN_1, m.ResultShare),
    "campaign_2": (routes.REPORT_CAMPAIGN_2, m.CodeShare),
    "campaign_3": (routes.REPORT_CAMPAIGN_3, m.PhoneResult),
    "campaign_4": (routes.REPORT_CAMPAIGN_4, m.ResultShare),
    "campaign_5": (routes.REPORT_CAMPAIGN_5, m.PreviewCallRow),
    "campaign_6": (routes.REPORT_CAMPAIGN_6, m.AmdTotal),
    "campaign_7": (routes.REPORT_CAMPAIGN_7, m.AmdDetail),
    "campaign_8": (routes.REPORT_CAMPAIGN_8, m.MachineCodesByPhone),
    "campaign_9": (routes.REPORT_CAMPAIGN_9, m.WhatsAppStatus),
    "campaign_10": (routes.REPORT_CAMPAIGN_10, m.TurboDialCount),
    "information_campaigns": (routes.INFO_CAMPAIGNS, m.CampaignInfo),
    "token_info": (routes.TOKEN_INFO, m.TokenInfo),
    "real_time_campaigns": (routes.REALTIME_CAMPAIGNS, m.RealTimeCampaign),
}


def test_every_fixture_file_is_covered() -> None:
    on_disk = {p.stem for p in FIXTURES.glob("*.json")}
    assert on_disk == set(SAMPLES) | {"campaign_15"}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_structures_strictly(name: str) -> None:
    route, model = SAMPLES[name]
    body = (FIXTURES / f"{name}.json").read_bytes()
    request = build_request(CONFIG.base_url, CONFIG.token, route)
    envelope = parse_response(request, RawResponse(status=200, body=body))
    if model is None:
        assert envelope.payload is None or envelope.payload == [{"total_registers": " "}]
        assert envelope.message
        return
    rows = structure_rows(request, envelope, model, STRICT_CONVERTER)
    assert len(rows) == 1


def test_export_sample_maps_spanish_keys() -> None:
    body = json.loads((FIXTURES / "campaign_15.json").read_text())
    body["records"][0].update(
        nombre_cliente="Ana", id_cliente="77", resultado="ANSWER MACHINE", llamadas="3"
    )
    export = STRICT_CONVERTER.structure(body, m.Export)
    record = export.records[0]
    assert (record.customer_name, record.customer_id, record.calls) == ("Ana", "77", 3)
    assert record.result is m.CallResult.ANSWER_MACHINE
    assert record.result_raw == "ANSWER MACHINE"


def test_strict_converter_refuses_unknown_keys() -> None:
    with pytest.raises(ValueError, match="surprise"):
        STRICT_CONVERTER.structure(
            {"machinecode": "A", "cantidad": "1", "surprise": ""}, m.TurboDialCount
        )
