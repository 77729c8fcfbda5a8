"""Sans-I/O protocol: request building, the error mapping of every documented row, decoding."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wolkvox_async import _errors as e
from wolkvox_async._config import ClientConfig
from wolkvox_async.calls import _routes as routes
from wolkvox_async.calls._convert import STRICT_CONVERTER, structure_rows
from wolkvox_async.calls._protocol import (
    RawRequest,
    RawResponse,
    build_request,
    error_class,
    last_object,
    parse_response,
    rows_at_most,
)
from wolkvox_async.calls._retry import RetryPolicy, retry_delay
from wolkvox_async.models import PhoneResult

TOKEN = "7b2274657374227d2d3230323631313233"
CONFIG = ClientConfig(server="0014", token=TOKEN)


def _parse(route: routes.Route, status: int, body: Any, *, raw: bytes | None = None) -> Any:
    request = build_request(CONFIG.base_url, CONFIG.token, route)
    data = raw if raw is not None else json.dumps(body).encode()
    return parse_response(request, RawResponse(status=status, body=data))


# wolkvox-api.md §4.1: every row of the global response-code table, plus §2 maintenance.
DOCUMENTED_ERRORS = [
    (400, "BAD REQUEST", "THE API YOU WANT TO CONSULT DOES NOT EXIST", e.BadRequest),
    (400, "BAD REQUEST", "SOME PARAMETERS ARE REQUIRED", e.BadRequest),
    (401, "UNAUTHORIZED", "PLEASE ENTER THE WOLKVOX-TOKEN", e.Unauthorized),
    (403, "FORBIDDEN", "TOKEN LIMIT EXCEEDED", e.TokenLimitExceeded),
    (
        403,
        "FORBIDDEN",
        "EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS PER TOKEN (2)",
        e.TooManySimultaneous,
    ),
    (403, "FORBIDDEN", "PLEASE VALIDATE TOKEN", e.InvalidToken),
    # An empty or unknown 403 (a firewall page, the docs' unpublished "incorrect, expired
    # or malformed token" row) fails at once; only a maintenance message pauses the token.
    (403, "FORBIDDEN", "", e.Forbidden),
    (403, "FORBIDDEN", "Access denied by the firewall", e.Forbidden),
    (403, "FORBIDDEN", "THE SERVER IS UNDER MAINTENANCE, TRY AGAIN LATER", e.Maintenance),
    (403, "FORBIDDEN", "Servidor en mantenimiento", e.Maintenance),
    (500, "INTERNAL SERVER ERROR", "", e.ServerError),
    (503, "SERVICE UNAVAILABLE", "", e.ServerError),
]


@pytest.mark.parametrize(("status", "name", "msg", "cls"), DOCUMENTED_ERRORS)
@pytest.mark.parametrize("code_as", [int, str])
def test_documented_error_rows(status: int, name: str, msg: str, cls: type, code_as: type) -> None:
    body = {"code": code_as(status), "error": name, "msg": msg}
    with pytest.raises(cls) as info:
        _parse(routes.START, status, body)
    assert type(info.value) is cls
    assert info.value.http_status == status
    assert info.value.body_code == str(status)


@pytest.mark.parametrize(("status", "name", "msg", "cls"), DOCUMENTED_ERRORS)
def test_body_code_is_checked_on_http_200(status: int, name: str, msg: str, cls: type) -> None:
    with pytest.raises(cls):
        _parse(routes.TOKEN_INFO, 200, {"code": str(status), "error": name, "msg": msg})


def test_http_error_with_success_body_code_is_still_an_error() -> None:
    with pytest.raises(e.ServerError):
        _parse(routes.TOKEN_INFO, 502, {"code": "200", "msg": "ok", "data": []})


def test_report_404_is_an_empty_result() -> None:
    envelope = _parse(routes.REPORT_CAMPAIGN_3, 404, {"code": 404, "msg": "0 records were found"})
    assert envelope.payload == []
    # Only with Wolkvox's JSON: a 404 with nothing in it may come from anything on the way.
    with pytest.raises(e.NotWolkvox, match="empty body"):
        _parse(routes.REPORT_CAMPAIGN_3, 404, None, raw=b"")


def test_404_on_non_report_route_is_not_found() -> None:
    with pytest.raises(e.NotFound):
        _parse(routes.START, 404, {"code": 404, "msg": "campaign_id 9 does not exist"})


FULL_MESSAGES = [
    "The campaign exceeds the licenses of the operation",
    "maximum 50000 records",
    "50.000 max",
]


@pytest.mark.parametrize("msg", FULL_MESSAGES)
@pytest.mark.parametrize("route", [routes.ADD_RECORD, routes.CREATE_CAMPAIGN], ids=str)
def test_campaign_full(msg: str, route: routes.Route) -> None:
    with pytest.raises(e.CampaignFull):
        _parse(route, 404, {"code": 404, "error": "NOT FOUND", "msg": msg})


@pytest.mark.parametrize("msg", [*FULL_MESSAGES, "no data for the licenses of campaign 50000"])
@pytest.mark.parametrize(
    "route",
    [r for r in routes.ALL_ROUTES if r not in (routes.ADD_RECORD, routes.CREATE_CAMPAIGN)],
    ids=lambda r: r.name,
)
def test_a_404_mentioning_licenses_keeps_its_routes_meaning_elsewhere(
    msg: str, route: routes.Route
) -> None:
    """Campaign-full is seen on add_record only (and may be on create_campaign): a report's
    404 "no data" that happens to say "licenses" or "50000" stays empty; any other route's
    404 stays NotFound."""
    body = {"code": 404, "error": "NOT FOUND", "msg": msg}
    if route.empty_on_404:
        assert _parse(route, 404, body).payload == []
    else:
        with pytest.raises(e.NotFound) as info:
            _parse(route, 404, body)
        assert type(info.value) is e.NotFound


@pytest.mark.parametrize(
    ("status", "raw", "why", "foreign"),
    [
        (200, b"", "empty body", False),
        (200, b"<html>oops</html>", "not JSON", True),
        (200, b'{"code": "200", "data": [', r"not JSON \(cut short\?\)", False),
        (200, b"\xff\xfe\x00", "not JSON", True),
        (200, b"[1, 2]", "a JSON list, not Wolkvox's", True),
        (200, b'"just a string"', "a JSON str, not Wolkvox's", True),
    ],
)
def test_undocumented_bodies_raise_decode_error(
    status: int, raw: bytes, why: str, foreign: bool
) -> None:
    with pytest.raises(e.ResponseDecodeError, match=why) as info:
        _parse(routes.TOKEN_INFO, status, None, raw=raw)
    assert isinstance(info.value, e.NotWolkvox) is foreign


@pytest.mark.parametrize("route", [routes.FIND_RECORD, routes.REPORT_CAMPAIGN_3])
def test_an_empty_200_is_not_an_empty_result(route: routes.Route) -> None:
    # Only a 404 (or an empty list) means "no data"; an empty body is a broken answer.
    with pytest.raises(e.ResponseDecodeError, match="empty body"):
        _parse(route, 200, None, raw=b"")
    assert _parse(route, 404, {"code": "404", "msg": "0 records were found"}).payload == []


def test_html_error_page_on_5xx_is_server_error() -> None:
    with pytest.raises(e.ServerError, match="Bad Gateway"):
        _parse(routes.TOKEN_INFO, 502, None, raw=b"<html><title>502 Bad Gateway</title></html>")


def test_code_variants_that_mean_success() -> None:
    for code in (200, "200", "201", 202, "", "0", None):
        envelope = _parse(
            routes.INFO_CAMPAIGNS, 200, {"code": code, "msg": "1 records", "data": []}
        )
        assert envelope.payload == []


def test_rows_accept_lone_object_and_reject_other_shapes() -> None:
    request = build_request(CONFIG.base_url, CONFIG.token, routes.REPORT_CAMPAIGN_3)
    one = parse_response(
        request, RawResponse(status=200, body=b'{"code":200,"data":{"conn_id":"1"}}')
    )
    assert structure_rows(request, one, PhoneResult)[0].conn_id == "1"
    bad = parse_response(request, RawResponse(status=200, body=b'{"code":200,"data":"x"}'))
    with pytest.raises(e.ResponseDecodeError, match="data is a str"):
        structure_rows(request, bad, PhoneResult)
    wrong = parse_response(
        request, RawResponse(status=200, body=b'{"code":200,"data":[{"date":"soon"}]}')
    )
    [row] = structure_rows(request, wrong, PhoneResult)  # delivered, the date unread
    assert row.date is None and row.unread is not None and row.unread.fields == ("date",)
    with pytest.raises(e.ResponseDecodeError, match="date"):
        structure_rows(request, wrong, PhoneResult, STRICT_CONVERTER)


def test_build_request_encodes_query_values_and_keeps_token_in_header() -> None:
    request = build_request(
        CONFIG.base_url,
        CONFIG.token,
        routes.FIND_RECORD,
        {"customer_id": "a b&c=d/é", "customer_phone": "+57 300#1", "campaign_id": None},
    )
    assert request.url == (
        "https://wv0014.wolkvox.com/api/v2/campaign.php?api=find_record"
        "&customer_id=a%20b%26c%3Dd%2F%C3%A9&customer_phone=%2B57%20300%231"
    )
    assert request.headers["wolkvox-token"] == TOKEN
    assert TOKEN not in request.url
    assert TOKEN not in repr(request)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "code": st.one_of(
            st.integers(-5, 999), st.sampled_from(["200", "201", "", "0", "x"]), json_values
        ),
        "msg": st.one_of(st.text(max_size=40), json_values),
        "data": json_values,
        "error": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(
    status=st.integers(100, 599),
    body=st.one_of(envelopes.map(lambda d: json.dumps(d).encode()), st.binary(max_size=64)),
    route=st.sampled_from(routes.ALL_ROUTES),
)
def test_fuzzed_answers_only_raise_wolkvox_errors(
    status: int, body: bytes, route: routes.Route
) -> None:
    request = build_request(CONFIG.base_url, CONFIG.token, route)
    try:
        envelope = parse_response(request, RawResponse(status=status, body=body))
        structure_rows(request, envelope, PhoneResult)
    except e.ApiError as exc:
        assert TOKEN not in str(exc)
        assert TOKEN not in repr(exc)


def test_error_class_is_pure_and_total() -> None:
    assert error_class(routes.START, 202, 202, "ok") is None
    assert error_class(routes.START, 200, "201", "ok") is None
    assert error_class(routes.START, 418, None, "teapot") is e.ApiError
    assert error_class(routes.REPORT_CAMPAIGN_1, 404, 404, "0 records were found") is None


@pytest.mark.parametrize("fast", [True, False], ids=["orjson", "stdlib"])
def test_upload_rows_encode_to_the_same_json_either_way(
    fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wolkvox_async.calls._json as protocol  # (where the body encoders live)

    assert protocol._orjson_dumps is not None  # a dependency
    if not fast:
        monkeypatch.setattr(protocol, "_orjson_dumps", None)
    rows = [
        {"customer_id": "1", "customer_name": 'Bogotá "D.C."\\n\t', "tel1": "+57 300"},
        {"customer_id": "2", "opt1": "😀 \x00 \u2028"},
        {"customer_id": "3", "opt2": "lone \udc80 surrogate"},  # orjson refuses: stdlib then
    ]
    assert json.loads(protocol.encode_rows(rows)) == rows


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        (b'{"code": "200", "error": "SOMETHING WENT WRONG", "msg": "", "data": []}', e.ApiError),
        (b'{"code": "", "error": {"detail": "x"}, "msg": "x", "data": []}', e.ApiError),
        (b'{"code": "200", "error": null, "msg": "ok", "data": []}', None),
    ],
)
def test_a_truthy_error_field_is_a_failure(body: bytes, cls: type[Exception] | None) -> None:
    request = build_request(CONFIG.base_url, CONFIG.token, routes.FIND_RECORD, {"customer_id": "1"})
    if cls is None:
        assert parse_response(request, RawResponse(status=200, body=body)).payload == []
    else:
        with pytest.raises(cls):
            parse_response(request, RawResponse(status=200, body=body))


@pytest.mark.parametrize("text", ["50000", "50.000", "50,000", "the licenses allow no more"])
def test_campaign_full_in_every_spelling(text: str) -> None:
    request = build_request(CONFIG.base_url, CONFIG.token, routes.ADD_RECORD, {"campaign_id": "1"})
    body = f'{{"code": 404, "msg": "The campaign cannot exceed {text} records"}}'.encode()
    with pytest.raises(e.CampaignFull):
        parse_response(request, RawResponse(status=404, body=body))


@given(st.dictionaries(st.sampled_from(["campaign_id", "customer_id", "date_ini"]), st.text()))
def test_query_values_are_encoded_as_urlencode_with_quote_does(pairs: dict[str, str]) -> None:
    from urllib.parse import quote, urlencode

    try:
        expected = urlencode([("api", routes.FIND_RECORD.api), *pairs.items()], quote_via=quote)
    except (TypeError, ValueError):  # a lone surrogate: both refuse it
        with pytest.raises((TypeError, ValueError)):
            build_request("https://x", "t", routes.FIND_RECORD, pairs)
        return
    url = build_request("https://x", "t", routes.FIND_RECORD, pairs).url
    assert url.split("?", 1)[1] == expected


_FLAT = st.dictionaries(
    st.sampled_from(["date", "conn_id", "result", "opt1"]),
    st.one_of(st.text(max_size=8), st.integers(), st.none()),
    min_size=1,
)


@given(rows=st.lists(_FLAT, min_size=1, max_size=20), compact=st.booleans())
def test_the_last_row_is_read_from_the_raw_answer(
    rows: list[dict[str, Any]], compact: bool
) -> None:
    # What a download continues from before the answer is parsed: never fewer rows than
    # there are (an under-count would skip a window's continuation), and the last row.
    separators = (",", ":") if compact else (", ", ": ")
    body = json.dumps(
        {"code": "200", "msg": "ok", "data": rows}, separators=separators, ensure_ascii=compact
    )
    found = last_object(body.encode())
    if any("{" in str(v) or "}" in str(v) for v in rows[-1].values()):
        return  # a brace inside the last row's text: None or another object, never raised
    assert found == rows[-1]
    assert rows_at_most(body.encode()) >= len(rows)


def test_an_answer_without_a_last_object_tells_nothing() -> None:
    for body in (b"", b"[]", b'{"code":"200","data":[]}'[:-3], b"not json {", b"{}", b"[1, 2]"):
        assert last_object(body) is None


# ---- not Wolkvox: an answer that is not its JSON is never "no data" (issue 30) ----------

NGINX_404 = (
    b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Hotel WiFi - Sign in</title></head>"
    b'<body><form action="/login">'
)
NO_DATA = json.dumps({"code": 404, "error": "NOT FOUND", "msg": "0 records were found"}).encode()
EMPTY_ROUTES = [routes.FIND_RECORD, routes.REPORT_CAMPAIGN_3, routes.DETAIL, routes.GET_DNC]


def _answer(
    route: routes.Route,
    status: int,
    body: bytes,
    content_type: str = "text/plain",
    location: str = "",
) -> tuple[RawRequest, Any]:
    """Parse one answer to ``route``: (request, envelope or the error raised)."""
    request = build_request("https://proxy.example/wrong", TOKEN, route, {"campaign_id": "7"})
    extra = {"location": location} if location else {}
    response = RawResponse(status=status, content_type=content_type, body=body, **extra)
    try:
        return request, parse_response(request, response)
    except e.WolkvoxError as exc:
        return request, exc


@pytest.mark.parametrize("route", EMPTY_ROUTES, ids=lambda r: r.name)
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"404: Not Found", "text/plain"),  # aiohttp's, a wrong path under the base URL
        (NGINX_404, "text/html"),
        (b'{"detail":"Not Found"}', "application/json"),  # another service's JSON
        (b"", "text/html"),
        (b'{"error": "not found"}', "application/json"),
        (b'{"code": 404, "message": "Not Found"}', "application/json"),
    ],
    ids=["aiohttp-text", "nginx-html", "other-json", "empty", "json-without-code", "code-only"],
)
def test_a_404_that_is_not_wolkvox_json_is_an_error_not_no_data(
    route: routes.Route, body: bytes, content_type: str
) -> None:
    request, got = _answer(route, 404, body, content_type)
    assert type(got) is e.NotWolkvox, got
    text = str(got)
    assert request.url in text  # what was asked
    assert content_type in text  # what came back
    shown = " ".join(body.decode().split())[:30] if body else "empty body"
    assert shown in text
    assert "base URL" in text
    assert got.http_status == 404 and got.body_code is None
    # Its documented "no data", with Wolkvox's JSON, stays an empty result.
    _, empty = _answer(route, 404, NO_DATA, "text/html")  # (PHP's default content type)
    assert empty.payload == []


@pytest.mark.parametrize(
    ("route", "status", "body", "content_type", "expected"),
    [
        # A captive portal or login page answering 200: not Wolkvox, never rows.
        (routes.FIND_RECORD, 200, LOGIN_PAGE, "text/html", e.NotWolkvox),
        (routes.REPORT_CAMPAIGN_3, 200, LOGIN_PAGE, "text/html", e.NotWolkvox),
        (routes.EXPORT, 200, LOGIN_PAGE, "text/html", e.NotWolkvox),
        (routes.ADD_RECORD, 200, LOGIN_PAGE, "text/html", e.NotWolkvox),
        # JSON, but not Wolkvox's: no code, no msg.
        (routes.FIND_RECORD, 200, b"{}", "application/json", e.NotWolkvox),
        (routes.FIND_RECORD, 200, b'{"data": []}', "application/json", e.NotWolkvox),
        (routes.FIND_RECORD, 200, b'{"code": 200, "items": []}', "application/json", e.NotWolkvox),
        (
            routes.REPORT_CAMPAIGN_3,
            200,
            b'{"status":"ok","items":[]}',
            "application/json",
            e.NotWolkvox,
        ),
        (routes.FIND_RECORD, 200, b"[]", "application/json", e.NotWolkvox),
        # Wolkvox's own answers, broken on the way: decode errors, not "not Wolkvox".
        (
            routes.FIND_RECORD,
            200,
            b'{"code": "200", "data": [',
            "application/json",
            e.ResponseDecodeError,
        ),
        (routes.FIND_RECORD, 200, b"", "application/json", e.ResponseDecodeError),
        # Other statuses with a foreign body.
        (routes.START, 404, b"404: Not Found", "text/plain", e.NotWolkvox),  # not NotFound
        (routes.ADD_RECORD, 404, b"<p>Apache licensed 50000 pages</p>", "text/html", e.NotWolkvox),
        (
            routes.FIND_RECORD,
            400,
            b"<html><title>400 Bad Request</title>",
            "text/html",
            e.NotWolkvox,
        ),
        (
            routes.FIND_RECORD,
            401,
            b"<html>401 Authorization Required</html>",
            "text/html",
            e.NotWolkvox,
        ),
        (routes.FIND_RECORD, 405, b"405: Method Not Allowed", "text/plain", e.NotWolkvox),
        (routes.FIND_RECORD, 301, b"", "text/html", e.NotWolkvox),
        # A 5xx page is the server's (or a proxy's) error, whatever its body: retried on reads.
        (
            routes.FIND_RECORD,
            502,
            NGINX_404.replace(b"404 Not Found", b"502 Bad Gateway"),
            "text/html",
            e.ServerError,
        ),
        (routes.REPORT_CAMPAIGN_3, 503, b"503: Service Unavailable", "text/plain", e.ServerError),
        (routes.REPORT_CAMPAIGN_3, 504, b"", "text/html", e.ServerError),
        # A 403 page keeps its 403 meaning: a firewall's is Forbidden, maintenance pauses.
        (
            routes.FIND_RECORD,
            403,
            b"<h1>Forbidden</h1> your IP is not allowed",
            "text/html",
            e.Forbidden,
        ),
        (
            routes.FIND_RECORD,
            403,
            b"<h1>Servidor en mantenimiento</h1>",
            "text/html",
            e.Maintenance,
        ),
    ],
)
def test_every_status_and_body_that_is_not_wolkvox_json(
    route: routes.Route, status: int, body: bytes, content_type: str, expected: type[Exception]
) -> None:
    request, got = _answer(route, status, body, content_type)
    assert type(got) is expected, got
    text = str(got)
    assert request.url in text and f"-> {status}" in text
    if expected is not e.ResponseDecodeError or body:
        assert content_type in text or expected is e.ResponseDecodeError


def test_not_wolkvox_is_never_retried_and_a_5xx_page_is_on_reads() -> None:
    policy = RetryPolicy()
    _, foreign = _answer(routes.FIND_RECORD, 404, b"404: Not Found")
    _, portal = _answer(routes.REPORT_CAMPAIGN_3, 200, LOGIN_PAGE, "text/html")
    for error in (foreign, portal):
        assert isinstance(error, e.NotWolkvox)
        assert retry_delay(policy, 1, routes.FIND_RECORD, error) is None
    _, gateway = _answer(routes.FIND_RECORD, 502, b"<title>502 Bad Gateway</title>", "text/html")
    assert isinstance(gateway, e.ServerError)
    assert retry_delay(policy, 1, routes.FIND_RECORD, gateway) is not None
    assert retry_delay(policy, 1, routes.ADD_RECORD, gateway) is None  # may have run
    assert "502 Bad Gateway" in str(gateway) and "text/html" in str(gateway)


def test_a_redirect_names_where_it_pointed() -> None:
    _, got = _answer(
        routes.FIND_RECORD, 301, b"", "text/html", location="https://wv0014.wolkvox.com/x"
    )
    assert isinstance(got, e.NotWolkvox)
    assert "redirected to 'https://wv0014.wolkvox.com/x'" in str(got)


def test_a_foreign_body_is_shown_short_and_without_the_token() -> None:
    page = b"<html><body>" + b"x" * 5_000 + b" echo " + TOKEN.encode() + b"</body></html>"
    _, got = _answer(routes.FIND_RECORD, 404, page, "text/html")
    assert isinstance(got, e.NotWolkvox)
    assert TOKEN not in str(got) and TOKEN not in repr(got)
    assert TOKEN.encode() not in got.raw_body
    assert len(str(got)) < 500 and "5,0" in str(got)  # the size, not the whole page
    _, cut = _answer(routes.FIND_RECORD, 404, b"token=" + TOKEN.encode(), "text/plain")
    assert TOKEN[:8] not in str(cut)  # redacted before the preview is cut


@settings(max_examples=200, deadline=None)
@given(
    status=st.integers(100, 599),
    body=st.one_of(
        st.binary(max_size=64),
        st.sampled_from([b"404: Not Found", NGINX_404, LOGIN_PAGE, b"{}", b'{"detail": "x"}']),
    ),
    route=st.sampled_from(routes.ALL_ROUTES),
)
def test_no_answer_without_wolkvox_json_is_ever_a_success(
    status: int, body: bytes, route: routes.Route
) -> None:
    request = build_request(CONFIG.base_url, CONFIG.token, route)
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and ({"code", "msg"} & set(doc)):
        return  # (maybe) Wolkvox's shape: judged by its code
    if isinstance(doc, list) and route.shape is routes.Shape.BARE_LIST:
        return
    with pytest.raises(e.ApiError):
        parse_response(request, RawResponse(status=status, body=body))


@pytest.mark.parametrize(
    "msg",
    [
        "done for {token}",  # as is
        "done for {upper}",  # any case
        "done for {escaped}",  # JSON-escaped
        "cut at {tail}",  # a piece at the end (8+ characters)
        "{head} and more",  # a piece at the start
    ],
)
def test_a_success_message_never_keeps_the_token(msg: str) -> None:
    """parse_response tells a message without the token without calling redact; one with
    it, in any form redact knows, is redacted on a success too."""
    token = "tok/EN-1234567890abcdef"
    text = msg.format(
        token=token,
        upper=token.upper(),
        escaped=token.replace("/", "\\/"),
        tail=token[:10],
        head=token[-10:],
    )
    body = json.dumps({"code": "200", "msg": text, "data": []}).encode()
    request = build_request("https://x", token, routes.FIND_RECORD, {})
    envelope = parse_response(request, RawResponse(status=200, body=body))
    assert token.lower()[:8] not in envelope.message.lower()
    assert token.lower()[-8:] not in envelope.message.lower()
    assert "***" in envelope.message
