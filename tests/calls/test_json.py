"""Answers are parsed by msgspec (``_json``) and read exactly as ``json.loads`` reads them:
integers past 64 bits, a BOM, lone surrogates, invalid UTF-8, and what msgspec refuses."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wolkvox_async import _errors as e
from wolkvox_async._config import ClientConfig
from wolkvox_async.calls import _json
from wolkvox_async.calls import _routes as routes
from wolkvox_async.calls._protocol import RawResponse, build_request, parse_response

CONFIG = ClientConfig(server="0014", token="t" * 40)


def _answer(body: bytes) -> Any:
    request = build_request(CONFIG.base_url, CONFIG.token, routes.FIND_RECORD, {"customer_id": "1"})
    return parse_response(request, RawResponse(status=200, body=body)).payload


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 is not 1.0; NaN is NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**130), 2**130)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),  # lone surrogates included
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(value=values, ascii_only=st.booleans(), bom=st.booleans())
def test_every_document_reads_as_the_stdlib_reads_it(
    value: Any, ascii_only: bool, bom: bool
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    try:
        body = text.encode()  # a lone surrogate has no UTF-8
    except UnicodeEncodeError:
        body = text.encode("utf-8", "surrogatepass")
    body = b"\xef\xbb\xbf" + body if bom else body
    try:
        expected = json.loads(body.decode("utf-8-sig"))
    except ValueError as exc:
        with pytest.raises(type(exc)):
            _json.loads(body)
        return
    assert _same(_json.loads(body), expected)


def test_the_common_answer_is_not_parsed_by_the_stdlib(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("json.loads was called")

    monkeypatch.setattr(json, "loads", refuse)
    body = b'{"code":200,"msg":"ok","data":[{"customer_id":"c1","telephone":"300"}]}'
    assert _answer(body) == [{"customer_id": "c1", "telephone": "300"}]


@pytest.mark.parametrize(
    ("body", "payload"),
    [
        # past 64 bits, both signs: exact (orjson reads them as floats)
        (
            b'{"code":200,"data":[{"id":123456789012345678901234567890}]}',
            [{"id": 12345678901234567890123456789 * 10}],
        ),
        (b'{"code":200,"data":[-18446744073709551617]}', [-18446744073709551617]),
        # a BOM (a PHP file saved with one): skipped
        (b'\xef\xbb\xbf{"code":200,"data":["a"]}', ["a"]),
        # a lone surrogate escape: the stdlib's lone surrogate (msgspec refuses it)
        (b'{"code":200,"data":["x\\ud800y"]}', ["x\ud800y"]),
        # a pair of escapes is one character
        (b'{"code":200,"data":["\\ud83d\\ude00"]}', ["\U0001f600"]),
        # NaN and a number past the float range, as the stdlib reads them
        (b'{"code":200,"data":[1e400]}', [math.inf]),
    ],
)
def test_awkward_answers_read_as_before(body: bytes, payload: Any) -> None:
    assert _same(_answer(body), payload)


@pytest.mark.parametrize(
    "body",
    [
        b'{"code":200,"data":["\xff"]}',  # invalid UTF-8
        b'{"code":200,"data":["\xed\xa0\x80"]}',  # a surrogate encoded raw: not UTF-8
        b'{"code":200,"data":["\xc0\xaf"]}',  # an overlong encoding
        b'{"code":200,"data":[' + b"9" * 5000 + b"]}",  # past the stdlib's 4,300 digits
        b'{"code":200,"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # nested too deep
    ],
    ids=["invalid", "raw-surrogate", "overlong", "5000-digits", "deep"],
)
def test_bodies_that_are_not_json_are_decode_errors(body: bytes) -> None:
    """Not UTF-8, or not a document Python can hold: a ResponseDecodeError naming the body,
    never a bare ValueError (a 5,000-digit number raised one from json.loads before)."""
    with pytest.raises(e.ResponseDecodeError, match="not JSON"):
        _answer(body)
