"""JSON in and out: answers read by msgspec as ``json.loads`` reads them; bodies written.

Request bodies are written compact (:func:`encode_json`), upload records by orjson
(:func:`encode_rows`).

An export window is up to 60,000 rows in one answer, and its parse was half the client's
cost of a row (benchmarks/row_decoding.py). msgspec parses it in a fraction of the
stdlib's time into the same Python values: integers of any size exact (orjson reads one
past 64 bits as a float, silently: a 20-digit id sent as a number would change),
duplicate keys the last one winning, floats correctly rounded, invalid UTF-8 refused.

Where msgspec refuses a document the stdlib reads, the stdlib reads it, so no answer
reads differently than before: a BOM is skipped first (UTF-8 with a BOM is what a PHP
file saved by some editors sends), and a lone surrogate escape (``"\\ud800"``), ``NaN``
or ``Infinity`` and a number past the float range (``1e400``, read as ``inf``) go to
``json.loads``. The stdlib's own errors are the errors: :class:`UnicodeDecodeError`,
:class:`json.JSONDecodeError` (both ValueErrors) and :class:`RecursionError`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any, Final

import msgspec

from .. import _errors as e

__all__ = ["REFUSED", "encode_json", "encode_rows", "loads", "parse"]

_DECODER: Final = msgspec.json.Decoder()
_BOM: Final = b"\xef\xbb\xbf"
parse: Final = _DECODER.decode
"""msgspec's parse alone (a C method: no Python call on an answer's path); where it raises
:data:`REFUSED`, :func:`loads` reads the body as the stdlib does."""
REFUSED: Final = (msgspec.DecodeError, RecursionError)  # (ValidationError is a DecodeError)


def loads(body: bytes) -> Any:
    """The JSON document in ``body`` (UTF-8, a BOM allowed), as ``json.loads`` of its
    text reads it.

    Raises:
        ValueError: not UTF-8 (UnicodeDecodeError) or not JSON (json.JSONDecodeError).
        RecursionError: nested deeper than the stdlib reads.
    """
    text = body[3:] if body[:3] == _BOM else body
    try:
        return _DECODER.decode(text)
    except REFUSED:
        return json.loads(body.decode("utf-8-sig"))


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), check_circular=False, allow_nan=False)


def encode_json(value: Any) -> bytes:
    """The compact JSON of a request body (ASCII: the C encoder's fastest path).

    Raises:
        ConfigError: the value has no JSON form (bytes, a NaN, a lone surrogate, ...).
    """
    try:
        return _ENCODER.encode(value).encode()
    except (TypeError, ValueError, OverflowError) as exc:
        # The methods check their arguments first; this is the net under them, so a value
        # that slipped through is still refused before anything is sent.
        raise e.ConfigError(f"the request body cannot be sent as JSON: {exc}") from None


_orjson_dumps: Callable[[Any], bytes] | None = None
with contextlib.suppress(ImportError):  # a dependency; the stdlib stands in where it is absent
    from orjson import dumps as _orjson_dumps


def encode_rows(rows: list[dict[str, str]]) -> bytes:
    """The JSON of upload records: orjson (several times the stdlib encoder, a large part
    of a bulk load's CPU; benchmarks/upload_throughput.py), else :func:`encode_json`.

    The same JSON either way, but for escaping: orjson writes UTF-8, the stdlib ``\\u``
    escapes. A text orjson refuses (a lone surrogate, say) falls back to the stdlib.
    """
    if _orjson_dumps is not None:
        try:
            return _orjson_dumps(rows)
        except TypeError:  # orjson.JSONEncodeError
            pass
    return encode_json(rows)
