"""What the benchmark scripts share: FakeWolkvox in its own process, a raw session to it,
a redis-server on a free loopback port, lead rows, and the results/plots folder."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from wolkvox_async.calls._protocol import RawRequest, RawResponse
from wolkvox_async.calls._transport import AiohttpTransport

TOKEN = "bench-token"
RESULTS = Path(__file__).parent / "results"
MACHINE = "2-core VM, Python 3.11, simulator and client each in its own process"


class Noted(AiohttpTransport):
    """Our transport, calling ``note(request)`` as each request is handed to aiohttp (the
    moment its slot is granted): what a benchmark compares or replays."""

    def __init__(self, note: Callable[[RawRequest], object]) -> None:
        super().__init__()
        self.note = note

    async def send(self, request: RawRequest, written: Any = None) -> RawResponse:
        self.note(request)
        return await super().send(request, written)


def lead(i: int) -> dict[str, str]:
    """One lead as users hold them: three fields of a CRM export."""
    return {"customer_id": f"b{i}", "customer_name": f"Lead {i}", "tel1": f"3{i:09d}"}


class Simulator:
    """FakeWolkvox in a subprocess (its own core), and a raw session to drive it."""

    def __init__(self, latency_ms: float, licenses: int, *extra: str) -> None:
        self._trace = Path(tempfile.mkdtemp()) / "timeline.json"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wolkvox_async.testing",
                "--port",
                "0",
                "--token",
                TOKEN,
                "--latency",
                str(latency_ms),
                "--licenses",
                str(licenses),
                "--trace",
                str(self._trace),
                *extra,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        # Its own core: a child inherits the parent's affinity, so under ``taskset -c 1``
        # it would share the client's core and evict its caches between calls (a real
        # Wolkvox runs elsewhere). The cores the client is not pinned to, where there are.
        others = set(range(os.cpu_count() or 1)) - os.sched_getaffinity(0)
        if others:
            os.sched_setaffinity(self.proc.pid, others)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().split(" on ")[1].split()[0]

    async def call(
        self, session: aiohttp.ClientSession, method: str, query: str, body: Any = None
    ) -> tuple[int, Any]:
        async with session.request(
            method,
            f"{self.url}/api/v2/{query}",
            headers={"wolkvox-token": TOKEN},
            data=None if body is None else json.dumps(body).encode(),
        ) as resp:
            return resp.status, await resp.json(content_type=None)

    async def new_campaign(self, session: aiohttp.ClientSession) -> str:
        _, body = await self.call(
            session,
            "POST",
            "campaign.php?api=create_campaign&type_campaign=predictive",
            {"campaign_name": "bench", "skill_id": "1"},
        )
        return str(body["data"][0]["id_campaign"])

    async def used(self, session: aiohttp.ClientSession) -> int:
        """Quota units used today (this read costs one more)."""
        _, body = await self.call(session, "GET", "information.php?api=token_info")
        return int(body["data"][0]["all_token_today"])

    async def stored(self, session: aiohttp.ClientSession, campaign: str) -> int:
        """Records the campaign holds (campaign_15's total)."""
        _, body = await self.call(
            session, "GET", f"campaign.php?api=campaign_15&campaign_id={campaign}"
        )
        return int(body["total_records"])

    def stop(self) -> list[tuple[float, float]]:
        """Stop it; each request's (arrived, answered) in time.monotonic() seconds."""
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if not self._trace.exists():
            return []
        timeline = [tuple(pair) for pair in json.loads(self._trace.read_text())]
        shutil.rmtree(self._trace.parent, ignore_errors=True)
        return sorted(timeline)  # type: ignore[arg-type]


def summarize(
    table: list[dict[str, Any]], by: tuple[str, ...], value: str = "ratio_to_bound"
) -> list[dict[str, Any]]:
    """One row per ``by`` group of runs: the median run (by ``value``), with the number of
    runs and the spread (min–max) of ``value`` and, where present, of ratio_to_reference."""
    out = []
    for key in dict.fromkeys(tuple(row[k] for k in by) for row in table):
        runs = sorted((r for r in table if tuple(r[k] for k in by) == key), key=lambda r: r[value])
        row = {**runs[len(runs) // 2], "runs": len(runs)}
        row[f"{value}_spread"] = f"{runs[0][value]}–{runs[-1][value]}"
        if "ratio_to_reference" in row:
            refs = sorted(r["ratio_to_reference"] for r in runs)
            row["reference_spread"] = f"{refs[0]}–{refs[-1]}"
        out.append(row)
    return out


def slot_idle_ms(timeline: list[tuple[float, float]], slots: int = 2) -> float:
    """Milliseconds per call the token's ``slots`` stood idle at the server between the
    first arrival and the last answer (a slot is busy from a request's arrival, its body
    included, to its answer)."""
    if not timeline:
        return float("nan")
    span = max(end for _, end in timeline) - timeline[0][0]
    busy = sum(end - start for start, end in timeline)
    return (slots * span - busy) / len(timeline) * 1000


def add_record_path(campaign: str) -> str:
    return (
        "campaign.php?api=add_record&type_campaign=predictive"
        f"&campaign_id={campaign}&campaign_status=start"
    )


async def semaphore_gather(url: str, campaign: str, rows: list[dict[str, str]]) -> tuple[int, int]:
    """The peer users write with asyncio: every 10,000-record chunk at once through an
    asyncio.Semaphore(2). Returns (records stored, chunks refused with 403)."""
    gate = asyncio.Semaphore(2)
    async with aiohttp.ClientSession() as session:

        async def one(chunk: list[dict[str, str]]) -> tuple[int, int]:
            async with (
                gate,
                session.post(
                    f"{url}/api/v2/{add_record_path(campaign)}",
                    data=json.dumps(chunk).encode(),
                    headers={"wolkvox-token": TOKEN},
                ) as resp,
            ):
                await resp.read()
                return (len(chunk), 0) if resp.status == 201 else (0, int(resp.status == 403))

        done = await asyncio.gather(
            *(one(rows[i : i + 10_000]) for i in range(0, len(rows), 10_000))
        )
    return sum(landed for landed, _ in done), sum(refused for _, refused in done)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Redis:
    """A throwaway redis-server on 127.0.0.1, or None where it is not installed."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.url: str | None = None
        self.plain_url: str | None = None
        if shutil.which("redis-server"):
            port = free_port()
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
                stdout=subprocess.DEVNULL,
            )
            self.plain_url = f"redis://127.0.0.1:{port}/0"
            # Started just now, for the benchmark: no call of before can be running, so a
            # process finding no ledger need not wait a lease lifetime (restart fence off).
            self.url = f"{self.plain_url}?restart_fence=0"
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


LOAD_COLUMNS: list[tuple[str, str, int]] = [
    ("records", "records", 8),
    ("records_stored", "stored", 8),
    ("records_per_s", "records/s", 9),
    ("ratio_to_bound", "/bound", 6),
    ("quota_units", "quota", 6),
    ("refusals_403", "403s", 5),
]
"""The columns every upload table shows, after its own leading ones."""


def publish(name: str, table: list[dict[str, Any]], columns: list[tuple[str, str, int]]) -> Path:
    """Print ``table`` and write it to benchmarks/results/``name``.json."""
    print_table(table, columns)
    return save(name, table)


def save(name: str, table: list[dict[str, Any]]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": MACHINE, "rows": table}, indent=2))
    return path


def print_table(table: list[dict[str, Any]], columns: list[tuple[str, str, int]]) -> None:
    """Print ``table`` with (key, heading, width) columns; the first is left-aligned."""
    (key0, head0, w0), *rest = columns
    print(f"{head0:{w0}} " + " ".join(f"{head:>{w}}" for _, head, w in rest))
    for row in table:
        print(f"{row[key0]!s:{w0}} " + " ".join(f"{row.get(key, '')!s:>{w}}" for key, _, w in rest))
