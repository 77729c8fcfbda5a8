"""Print the README's benchmark tables (Markdown) from benchmarks/results/*.json.

python benchmarks/report.py
"""

from __future__ import annotations

import json
from typing import Any

from _common import RESULTS


def _rows(name: str) -> list[dict[str, Any]]:
    return list(json.loads((RESULTS / f"{name}.json").read_text())["rows"])


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    lines += [
        "| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in row) + " |"
        for row in rows
    ]
    return "\n".join(lines)


def main() -> None:
    print(
        _table(
            ["contender", "L ms", "records/s", "÷ bound", "stored / sent", "quota units", "403s"],
            [
                [
                    r["contender"],
                    int(r["latency_ms"]),
                    r["records_per_s"],
                    r["ratio_to_bound"],
                    f"{r['records_stored']:,} / {r['records']:,}",
                    r["quota_units"],
                    r["refusals_403"],
                ]
                for r in _rows("upload_throughput")
            ],
        )
    )
    print()
    print(
        _table(
            ["contender", "waiting", "µs per call", "× Semaphore"],
            [
                [r["contender"], r["waiting"], r["us_per_call"], r["x_semaphore"]]
                for r in _rows("scheduler_overhead")
            ],
        )
    )
    print()
    print(
        _table(
            ["contender", "processes", "records/s", "÷ bound", "stored / sent", "403s"],
            [
                [
                    r["contender"],
                    r["processes"],
                    r["records_per_s"],
                    r["ratio_to_bound"],
                    f"{r['records_stored']:,} / {r['records']:,}",
                    r["refusals_403"],
                ]
                for r in _rows("many_workers")
            ],
        )
    )
    print()
    print(
        _table(
            [
                "contender",
                "rows stored",
                "rows received (unique)",
                "requests",
                "lower bound",
                "÷ bound",
                "elapsed s",
                "bound s",
            ],
            [
                [
                    r["contender"],
                    r["rows_stored"],
                    f"{r['rows_received']:,} ({r['rows_unique']:,})",
                    r["requests"],
                    r["request_lower_bound"],
                    r["requests_ratio"],
                    r["elapsed_s"],
                    r["elapsed_bound_s"],
                ]
                for r in _rows("download")
            ],
        )
    )
    print()
    print(
        _table(
            ["contender", "records", "peak RSS MiB", "× the 1M run", "elapsed s"],
            [
                [
                    r["contender"],
                    r["records"],
                    r["peak_rss_mib"],
                    r["rss_vs_smallest"],
                    r["elapsed_s"],
                ]
                for r in _rows("memory")
            ],
        )
    )


if __name__ == "__main__":
    main()
