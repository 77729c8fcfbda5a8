"""The recipes under examples/, run as their users run them: in real subprocesses, against
FakeWolkvox over loopback (and a real redis-server for the workers). The docs site
includes these very files."""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import json
import os
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import wolkvox_async
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


def readme_quickstart() -> str:
    """The code block of the README's Quick start."""
    readme = (EXAMPLES.parent / "README.md").read_text()
    section = readme[readme.index("## Quick start") :]
    return section[section.index("```python\n") + 10 : section.index("\n```\n") + 1]


QUICKSTART_SAYS = [
    r"created campaign \d+",
    r"added 100 records",
    r"found customer 42, phone 3000000042",
    r"recall: customer_id 42 has been updated .* to phone 3000000042",
    r"300 dial attempts in the last 7 days; the first 3:",
    *[r"  \d{12}  300\d{7}  2\d{3}-\d\d-\d\d \d\d:\d\d:\d\d-05:00  [a-z-]+"] * 3,
    r"quota used today: \d+ of 3000 calls",
]


async def test_the_readme_quickstart_runs_as_shown_and_says_what_it_did(
    tmp_path: Path,
) -> None:
    code = readme_quickstart()
    recipe = (EXAMPLES / "quickstart.py").read_text()
    assert code == recipe[recipe.index("import asyncio") :]  # the README shows the file
    readme = (EXAMPLES.parent / "README.md").read_text()
    shown = readme[readme.index("It prints, for example:") :].split("```")[1].splitlines()[1:]
    for line, pattern in zip(shown, QUICKSTART_SAYS, strict=True):  # the sample output too
        assert re.fullmatch(pattern, line), (pattern, line)
    (tmp_path / "quickstart.py").write_text(code)  # saved and run as the README says
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    for script, cwd in ((tmp_path / "quickstart.py", tmp_path), (EXAMPLES / "quickstart.py", None)):
        status, out = await run(sys.executable, str(script), env=env, cwd=cwd)
        assert status == 0, out
        lines = out.splitlines()
        assert len(lines) == len(QUICKSTART_SAYS), out
        for line, pattern in zip(lines, QUICKSTART_SAYS, strict=True):
            assert re.fullmatch(pattern, line), (pattern, line)


# ---- FastAPI service ------------------------------------------------------------------


@asynccontextmanager
async def serving(env: dict[str, str]) -> AsyncIterator[str]:
    """The recipe's app under uvicorn, in its own process; its base URL. Nothing it says
    on its way out holds a traceback or the token."""
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
        env=env,
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
    assert env["WOLKVOX_TOKEN"] not in rest


@pytest.fixture
async def service(fake: FakeWolkvox) -> AsyncIterator[str]:
    async with serving(env_for(fake, WOLKVOX_MAX_WAIT="0.5", WOLKVOX_TELEMETRY="1")) as url:
        yield url


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


async def _lookup(service: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    async with aiohttp.ClientSession(base_url=service) as http:
        async with http.get("/customers/C1") as resp:
            return resp.status, await resp.json(), dict(resp.headers)


async def test_the_service_says_why_wolkvox_failed(fake: FakeWolkvox) -> None:
    """A wrong token, a wrong base URL and a Wolkvox that went down: each a status with a
    reason (never a 500 with a traceback, never "no such customer")."""
    async with serving(env_for(fake, WOLKVOX_TOKEN="not-the-token")) as url:
        status, body, headers = await _lookup(url)
        assert status == 503, body
        assert "credentials are wrong" in body["detail"]
        assert "Retry-After" not in headers  # trying again will not help: its operator will
    async with serving(env_for(fake, WOLKVOX_BASE_URL=fake.url + "/wrong")) as url:
        status, body, _ = await _lookup(url)
        assert status == 502, body
        assert (
            "did not come from Wolkvox" in body["detail"] and "WOLKVOX_BASE_URL" in body["detail"]
        )
    async with FakeWolkvox(licenses=3) as doomed:
        camp = doomed.create_campaign()
        async with WolkvoxClient(
            server=doomed.server, token=doomed.token, base_url=doomed.url
        ) as wv:
            await wv.add_record(camp.id, [Record(customer_id="C1", phones=("3001234567",))])
        async with serving(env_for(doomed)) as url:
            status, _, _ = await _lookup(url)
            assert status == 200
            await doomed.close()  # the server goes down
            status, body, headers = await _lookup(url)
            assert status == 503, body
            assert "cannot be reached" in body["detail"]
            assert int(headers["Retry-After"]) >= 1


def test_the_service_answers_every_error_class() -> None:
    spec = importlib.util.spec_from_file_location(
        "fastapi_service", EXAMPLES / "fastapi_service.py"
    )
    assert spec is not None and spec.loader is not None
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    expected = {
        "ConfigError": 422,
        "QuotaSpent": 429,
        "QuotaExhausted": 429,
        "QuotaReserved": 429,
        "TokenLimitExceeded": 429,
        "WaitTooLong": 503,
        "SchedulerRefusal": 503,
        "SchedulerUnavailable": 503,
        "Maintenance": 503,
        "TooManySimultaneous": 503,
        "TransportError": 503,
        "ClientClosed": 503,
        "RequestTimeout": 504,
        "InvalidToken": 503,
        "Unauthorized": 503,
        "Forbidden": 503,
        "NotWolkvox": 502,
        "ResponseDecodeError": 502,
        "ServerError": 502,
        "ApiError": 502,
        "BadRequest": 400,
        "NotFound": 404,
        "CampaignFull": 409,
        "TruncatedAnswer": 422,
        "WolkvoxError": 502,
        "InsufficientQuota": 503,
        "ReconcileError": 502,
        "DownloadError": 502,
        "LoadRunning": 409,
        "AlreadyLoaded": 409,
        "JournalError": 503,
    }
    errors = {
        name: cls
        for name in wolkvox_async.__all__
        if isinstance(cls := getattr(wolkvox_async, name), type)
        and issubclass(cls, wolkvox_async.WolkvoxError)
    }
    assert set(errors) == set(expected)  # a new error class needs its answer here
    for name, cls in errors.items():
        answer = recipe.answer_for(cls.__new__(cls))
        assert answer.status == expected[name], name
        assert answer.reason


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
        # Only 3 calls left today: the campaign's state is read (the status add_record
        # sends), 2 chunks of 10,000 land, the other 40,000 wait for the reset. (Main said
        # "20000 wait": the rows not read yet were in no count.)
        operation = fake.world.operations[fake.server]
        operation.used[wolkvox_day(fake.clock())] = operation.limit - 3
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
