"""Client CPU per report row: the fast row reader against the general (cattrs) path.

Reads the same campaign_3 rows both ways in one run, in this process only (no server:
decoding is pure CPU), and prints µs per row of process CPU time for each, their ratio,
and the spread over the repeats.

    python benchmarks/row_decoding.py --rows 50000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import MappingProxyType
from typing import Any

from wolkvox_async._convert import CONVERTER
from wolkvox_async.models import PhoneResult


def row(i: int) -> dict[str, str]:
    """A campaign_3 row as the simulator (and the docs' sample) shapes it."""
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


def per_row(rows: list[Any]) -> float:
    started = time.process_time()
    for data in rows:
        CONVERTER.structure(data, PhoneResult)
    return (time.process_time() - started) / len(rows) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    plain = [row(i) for i in range(args.rows)]
    general = [MappingProxyType(data) for data in plain]  # not a dict: the general path
    fast, slow = [], []
    for _ in range(args.repeats):  # interleaved: both see the same machine
        fast.append(per_row(plain))
        slow.append(per_row(general))
    print(f"{args.rows:,} campaign_3 rows, {args.repeats} repeats, process CPU time")
    for name, runs in (("fast reader", fast), ("general path", slow)):
        print(
            f"  {name:13} median {statistics.median(runs):6.2f} µs/row "
            f"(min {min(runs):.2f}, max {max(runs):.2f})"
        )
    ratio = [s / f for f, s in zip(fast, slow, strict=True)]
    print(f"  general ÷ fast: median {statistics.median(ratio):.2f} (min {min(ratio):.2f})")


if __name__ == "__main__":
    main()
