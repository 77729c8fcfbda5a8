"""Print the README's benchmark tables (Markdown) from benchmarks/results/*.json.

python benchmarks/report.py
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from _common import RESULTS


def _rows(name: str) -> list[dict[str, Any]]:
    path = RESULTS / f"{name}.json"
    return list(json.loads(path.read_text())["rows"]) if path.exists() else []


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    lines += [
        "| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in row) + " |"
        for row in rows
    ]
    return "\n".join(lines)


def _print(name: str, head: list[str], row: Callable[[dict[str, Any]], list[Any]]) -> None:
    rows = _rows(name)
    if rows:
        print(f"<!-- {name} -->")
        print(_table(head, [row(r) for r in rows]))
        print()


def main() -> None:
    _print(
        "upload_throughput",
        [
            "contender",
            "L ms",
            "records/s",
            "÷ bound",
            "spread",
            "÷ ref",
            "CPU µs/rec",
            "pre-send ms",
            "idle ms",
            "403s",
        ],
        lambda r: [
            r["contender"],
            int(r["latency_ms"]),
            r["records_per_s"],
            r["ratio_to_bound"],
            r["ratio_to_bound_spread"],
            f"{r['ratio_to_reference']} ({r['reference_spread']})"
            if "ratio_to_reference" in r
            else "",
            r["client_cpu_us_per_record"],
            r.get("pre_send_ms", ""),
            r.get("slot_idle_ms_per_call", ""),
            r["refusals_403"],
        ],
    )
    _print(
        "download",
        [
            "contender",
            "rows received (unique)",
            "requests",
            "floor",
            "÷ floor",
            "wall s",
            "÷ ref (spread)",
            "CPU µs/row",
        ],
        lambda r: [
            r["contender"],
            f"{r['rows_received']:,} ({r['rows_unique']:,})",
            r["requests"],
            r["request_floor"],
            r["requests_ratio"],
            r["elapsed_s"],
            f"{r['wall_vs_reference']} ({r['wall_vs_reference_spread']})",
            r["client_cpu_us_per_row"],
        ],
    )
    _print(
        "own_path",
        ["contender", "µs per call", "min", "spread"],
        lambda r: [r["contender"], r["us_per_call"], r["us_min"], r["us_spread"]],
    )
    for name in ("interactive", "interactive_telemetry"):
        _print(
            name,
            ["contender", "µs per call", "spread", "× bare", "× bare spread"],
            lambda r: [
                r["contender"],
                r["us_per_call"],
                r["us_spread"],
                r["x_bare"],
                r["x_bare_spread"],
            ],
        )
    _print(
        "many_tokens",
        [
            "L ms",
            "tokens",
            "records/s",
            "÷ N bounds",
            "CPU µs/rec",
            "CPU share",
            "start s",
            "÷ after start",
        ],
        lambda r: [
            int(r["latency_ms"]),
            r["tokens"],
            r["records_per_s"],
            r["ratio_to_bound"],
            r["client_cpu_us_per_record"],
            r["client_cpu_share"],
            r.get("start_s", ""),
            r.get("ratio_after_start", ""),
        ],
    )
    _print(
        "many_workers",
        ["contender", "processes", "records/s", "÷ bound", "spread", "stored / sent", "403s"],
        lambda r: [
            r["contender"],
            r["processes"],
            r["records_per_s"],
            r["ratio_to_bound"],
            r.get("ratio_to_bound_spread", ""),
            f"{r['records_stored']:,} / {r['records']:,}",
            r["refusals_403"],
        ],
    )
    _print(
        "scheduler_overhead",
        ["contender", "waiting", "µs per call", "× Semaphore"],
        lambda r: [r["contender"], r["waiting"], r["us_per_call"], r["x_semaphore"]],
    )
    _print(
        "memory",
        ["contender", "records", "peak RSS MiB", "× the 1M run", "elapsed s"],
        lambda r: [
            r["contender"],
            r["records"],
            r["peak_rss_mib"],
            r["rss_vs_smallest"],
            r["elapsed_s"],
        ],
    )


if __name__ == "__main__":
    main()
