"""The recipes under examples/, run as their users run them: in real subprocesses, against
FakeWolkvox over loopback (and a real redis-server for the workers). The docs site
includes these very files."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from wolkvox_async import WOLKVOX_TZ, Record, WolkvoxClient
from wolkvox_async.testing import FakeWolkvox, Fault
from wolkvox_async.testing._state import wolkvox_day

EXAMPLES = Path(__file__).parent.parent / "examples"


def env_for(fake: FakeWolkvox, **more: str) -> dict[str, str]:
    return {
        **os.environ,
        "WOLKVOX_SERVER": fake.server,
        "WOLKVOX_TOKEN": fake.token,
        "WOLKVOX_LICENSES": str(fake.world.operations[fake.server].licenses),
        "WOLKVOX_BASE_URL": fake.url,
        **more,
    }


async def run(*args: str, env: dict[str, str], cwd: Path | None = None) -> tuple[int, str]:
    """A subprocess to its end (bounded): exit code and everything it printed."""
    process = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_the_quickstart_runs() -> None:
    code, out = await run(sys.executable, str(EXAMPLES / "quickstart.py"), env=dict(os.environ))
    assert code == 0, out


# ---- FastAPI service ------------------------------------------------------------------


@pytest.fixture
async def service(fake: FakeWolkvox) -> AsyncIterator[str]:
    """The recipe's app under uvicorn, in its own process; its base URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "fastapi_service:app",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        cwd=EXAMPLES,
        env=env_for(fake, WOLKVOX_MAX_WAIT="0.5", WOLKVOX_TELEMETRY="1"),
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    url = None
    try:
        async with asyncio.timeout(60):
            while url is None:
                line = (await process.stderr.readline()).decode()
                assert line, "uvicorn ended before it served"
                if found := re.search(r"running on (http://127\.0\.0\.1:\d+)", line):
                    url = found.group(1)
        yield url
    finally:
        process.terminate()  # SIGTERM: uvicorn runs the lifespan's exit, closing the client
        await asyncio.wait_for(process.wait(), 30)
    rest = (await process.stderr.read()).decode()
    assert "Traceback" not in rest, rest
    assert fake.token not in rest


async def test_the_service_maps_lookups_and_refusals(fake: FakeWolkvox, service: str) -> None:
    camp = fake.create_campaign()
    async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
        await wv.upload_records(camp.id, [Record(customer_id="C1", phones=("3001234567",))])
    async with aiohttp.ClientSession(base_url=service) as http:
        async with http.get("/customers/C1", params={"campaign_id": camp.id}) as resp:
            assert resp.status == 200
            (hit,) = await resp.json()
            assert hit["customer_id"] == "C1" and hit["phones"] == ["3001234567"]
        async with http.get("/customers/nobody") as resp:
            assert resp.status == 404
        async with http.get("/customers/C1", params={"campaign_id": "x1"}) as resp:
            assert resp.status == 422
            assert "campaign_id" in (await resp.json())["detail"]

        # Two lookups hold the token's 2 slots; a third waits past max_wait: 503.
        fake.inject(Fault.HELD, times=2)
        held = [asyncio.create_task(http.get("/customers/C1")) for _ in range(2)]
        try:
            async with asyncio.timeout(30):
                while fake.stats.in_flight[fake.token] < 2:
                    await asyncio.sleep(0.01)
            async with http.get("/customers/C1") as resp:
                assert resp.status == 503
                assert int(resp.headers["Retry-After"]) >= 1
            async with http.get("/health") as resp:
                assert (await resp.json())["in_flight"] == 2
        finally:
            fake.let_go()
        for answer in await asyncio.gather(*held):
            assert answer.status == 200
            answer.release()

        # The server says the day's quota is spent: 429 until Wolkvox's midnight.
        operation = fake.world.operations[fake.server]
        operation.used[wolkvox_day(fake.clock())] = operation.limit
        async with http.get("/customers/C2") as resp:
            assert resp.status == 429
            now = datetime.now(WOLKVOX_TZ)
            midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time())
            left = (midnight.replace(tzinfo=WOLKVOX_TZ) - now).total_seconds()
            assert abs(int(resp.headers["Retry-After"]) - left) < 60


# ---- nightly loader -------------------------------------------------------------------


def write_leads(path: Path, count: int, *, bad: int | None = None) -> None:
    with path.open("w", newline="") as file:
        out = csv.writer(file)
        out.writerow(["customer_id", "customer_name", "tel1"])
        for i in range(count):
            phone = "not a phone\x00" if i == bad else f"300{i:07d}"
            out.writerow([f"L{i}", f"Lead {i}", phone])


async def test_the_nightly_loader_loads_once_and_exports(tmp_path: Path) -> None:
    async with FakeWolkvox(licenses=3) as fake:
        camp = fake.create_campaign()
        day = datetime(2026, 11, 2)
        attempts = fake.add_call_results(camp.id, day, day + timedelta(days=1), 700, seed=5)
        leads = tmp_path / "leads.csv"
        write_leads(leads, 15_000, bad=7)
        results = tmp_path / "results.csv"
        loader = [sys.executable, str(EXAMPLES / "nightly_loader.py"), str(leads), camp.id]
        results_of_the_day = ["--results", str(results), "--day", "2026-11-02"]
        code, out = await run(*loader, *results_of_the_day, env=env_for(fake))
        assert code == 0, out
        stored = Counter(r["customer_id"] for r in fake.campaign(camp.id).records)
        assert len(stored) == 14_999 and set(stored.values()) == {1}
        assert "row 7 skipped" in out or "row 8 skipped" in out
        with results.open() as file:
            rows = list(csv.DictReader(file))
        exported = {a.conn_id for a in attempts if a.at < day + timedelta(days=1)}
        assert {row["conn_id"] for row in rows} == exported
        assert len(rows) == len(exported) > 0
        assert not (tmp_path / "results.csv.partial").exists()

        # Cron runs it again: the journal says it is done; nothing is sent twice.
        calls = fake.stats.calls[fake.server]
        code, out = await run(*loader, env=env_for(fake))
        assert code == 0, out
        assert fake.stats.calls[fake.server] == calls
        assert len(fake.campaign(camp.id).records) == 14_999
        assert fake.token not in out


async def test_the_nightly_loader_stops_short_and_resumes(tmp_path: Path) -> None:
    async with FakeWolkvox(licenses=10) as fake:
        camp = fake.create_campaign()
        leads = tmp_path / "leads.csv"
        write_leads(leads, 60_000)
        loader = [sys.executable, str(EXAMPLES / "nightly_loader.py"), str(leads), camp.id]
        # Only 2 calls left today: 2 chunks of 10,000 land, the other 40,000 wait for the
        # reset. (Main said "20000 wait": the rows not read yet were in no count.)
        operation = fake.world.operations[fake.server]
        operation.used[wolkvox_day(fake.clock())] = operation.limit - 2
        code, out = await run(*loader, env=env_for(fake))
        assert code == 75, out
        assert len(fake.campaign(camp.id).records) == 20_000
        said = re.search(r"stopped short \(quota\): (\d+) of (\d+) records wait", out)
        assert said is not None and said.groups() == ("40000", "60000"), out
        assert "run again after" in out and "20,000 of 60,000 records landed" in out
        operation.used.clear()  # midnight in Wolkvox time
        code, out = await run(*loader, env=env_for(fake))
        assert code == 0, out
        assert "60,000 of 60,000 records landed" in out
        stored = Counter(r["customer_id"] for r in fake.campaign(camp.id).records)
        assert len(stored) == 60_000 and set(stored.values()) == {1}


# ---- workers over Redis ---------------------------------------------------------------


@pytest.mark.slow
async def test_redis_workers_share_the_token(redis_url: str) -> None:
    async with FakeWolkvox(licenses=3, latency=0.01) as fake:
        camp = fake.create_campaign()
        code, out = await run(
            sys.executable,
            str(EXAMPLES / "redis_workers.py"),
            "--redis",
            redis_url,
            "--workers",
            "4",
            "--calls",
            "30",
            "--campaign-id",
            camp.id,
            env=env_for(fake),
        )
        assert code == 0, out
        reports: list[dict[str, Any]] = [json.loads(line) for line in out.splitlines() if line]
        assert sorted(r["worker"] for r in reports) == [0, 1, 2, 3]
        assert fake.stats.requests == 120
        assert fake.stats.peak_in_flight[fake.token] == 2  # together, never more than 2
        assert not fake.stats.refusals
        assert fake.token not in out


async def test_the_nightly_loader_says_a_full_campaign_is_no_quota_wait(tmp_path: Path) -> None:
    async with FakeWolkvox(licenses=1, campaign_capacity=5_000) as fake:
        camp = fake.create_campaign()
        leads = tmp_path / "leads.csv"
        write_leads(leads, 6_000)
        loader = [sys.executable, str(EXAMPLES / "nightly_loader.py"), str(leads), camp.id]
        code, out = await run(*loader, env=env_for(fake, WOLKVOX_LICENSES="1"))
        assert code == 1, out
        assert "the campaign is full" in out
