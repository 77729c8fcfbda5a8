"""Client CPU per report row: an answer's bytes to row objects, part by part.

Reads one 60,000-row campaign_3 answer (the largest a window returns) the way a download
does — the answer parsed (parse_response: msgspec, ``_json``), then the rows by the
generated fast reader (structure_rows) — and, for comparison, the rows by the general
cattrs path (each row as a read-only mapping, which the fast reader leaves to it), and the
same bytes parsed by the stdlib (what parse_response used before) and by orjson. In this
process only (no server: decoding is pure CPU); µs per row of process CPU time, median and
spread over the repeats, interleaved so every part sees the same machine.

    taskset -c 1 python benchmarks/row_decoding.py --rows 60000 --repeats 7

The rows repeat as a report's do (840 distinct dates, the same opts: the reader reads each
distinct date and series once per answer); ``--distinct-dates`` gives every row its own
date (one attempt each, as most are) with a campaign's shared opts; ``--distinct`` gives
every row its own date and opts, the reader's worst case. "bytes to rows, one pass" is
what a download pays per row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import orjson

from wolkvox_async._config import ClientConfig
from wolkvox_async.calls import _routes as routes
from wolkvox_async.calls._convert import CONVERTER, structure_rows
from wolkvox_async.calls._protocol import RawResponse, build_request, parse_response
from wolkvox_async.models import PhoneResult


def row(i: int, distinct: bool = False, *, dates: bool = False) -> dict[str, str]:
    """A campaign_3 row as the simulator (and the docs' sample) shapes it; ``distinct``:
    a date (one attempt every 44 s from Nov 1st) and opts of its own; ``dates``: a date
    of its own, the opts shared (a campaign's labels)."""
    if distinct or dates:
        own = {"date": str(datetime(2026, 11, 1) + timedelta(seconds=44 * i))}
        return {**row(i), **own, **({"opt1": f"x{i}"} if distinct else {})}
    return {
        "conn_id": f"{i:012d}",
        "telephone": f"300{i:07d}",
        "date": f"2026-11-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}",
        "result": ("NO-ANSWER", "ANSWER", "BUSY")[i % 3],
        "campaign_id": "7001",
        "customer_id": f"c{i}",
        "customer_name": "Juan",
        "customer_last_name": "Pérez",
        "id_type": "CC",
        "opt1": "x",
        "opt2": "y",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--distinct", action="store_true", help="no two rows share a value")
    parser.add_argument(
        "--distinct-dates", action="store_true", help="each row its own date, opts shared"
    )
    args = parser.parse_args()
    n = args.rows
    data = [row(i, args.distinct, dates=args.distinct_dates) for i in range(n)]
    body = json.dumps({"code": 200, "msg": "ok", "data": data}).encode()
    config = ClientConfig(server="0014", token="t" * 40)
    request = build_request(
        config.base_url, config.token, routes.REPORT_CAMPAIGN_3, {"campaign_id": "7001"}
    )
    envelope = parse_response(request, RawResponse(status=200, body=body))
    proxies = [MappingProxyType(data) for data in envelope.payload]  # the general path

    parts: dict[str, Callable[[], Any]] = {
        "JSON (ours, msgspec)": lambda: parse_response(request, RawResponse(status=200, body=body)),
        "JSON (stdlib)": lambda: json.loads(body.decode("utf-8-sig")),
        "JSON (orjson)": lambda: orjson.loads(body),
        "rows, fast reader (ours)": lambda: structure_rows(request, envelope, PhoneResult),
        "rows, general path": lambda: [CONVERTER.structure(p, PhoneResult) for p in proxies],
        # As a download does it: parse then rows, timed as one (the collector's passes
        # over the parsed dicts and the new rows fall where they fall).
        "bytes to rows, one pass": lambda: structure_rows(
            request, parse_response(request, RawResponse(status=200, body=body)), PhoneResult
        ),
    }
    runs: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(args.repeats):
        for name, part in parts.items():
            started = time.process_time()
            part()
            runs[name].append((time.process_time() - started) / n * 1e6)
    shape = (
        "no two alike"
        if args.distinct
        else "each its own date"
        if args.distinct_dates
        else "repeating as a report's do"
    )
    print(f"one answer of {n:,} campaign_3 rows ({shape}), {args.repeats} repeats, CPU µs per row")
    for name, values in runs.items():
        print(
            f"  {name:26} median {statistics.median(values):5.2f} "
            f"(min {min(values):.2f}, max {max(values):.2f})"
        )
    json_us, rows_us = runs["JSON (ours, msgspec)"], runs["rows, fast reader (ours)"]
    ours = [j + r for j, r in zip(json_us, rows_us, strict=True)]
    print(f"  {'parse + rows, summed':26} median {statistics.median(ours):5.2f}")


if __name__ == "__main__":
    main()
