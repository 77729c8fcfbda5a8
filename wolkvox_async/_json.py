"""Reading Wolkvox's JSON answers: msgspec's parser, giving what ``json.loads`` gives.

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

import json
from typing import Any, Final

import msgspec

__all__ = ["REFUSED", "loads", "parse"]

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
