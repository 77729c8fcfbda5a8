"""The ``wolkvox`` command, driven against FakeWolkvox (running in a background thread)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pty
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import helpers
import pytest
from click.testing import CliRunner, Result
from helpers import worker
from redis_server import free_port

from wolkvox_async.cli._app import cli
from wolkvox_async.testing import FakeWolkvox, Fault


@pytest.fixture
def env(served: FakeWolkvox, tmp_path: Path) -> dict[str, str]:
    return {
        "WOLKVOX_SERVER": served.server,
        "WOLKVOX_TOKEN": served.token,
        "WOLKVOX_BASE_URL": served.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


def ctrl_c_reaches_it() -> None:
    """In the child: Ctrl-C interrupts it, as in a terminal's foreground. (A test run as
    a background job, e.g. `.ci/run &`, hands its children SIGINT ignored, and Python then
    never raises KeyboardInterrupt: the load would run to its end.)"""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wolkvox(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    if env["WOLKVOX_TOKEN"]:
        assert env["WOLKVOX_TOKEN"] not in result.output  # never printed, not even on errors
    return result


def as_json(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_campaign_commands(served: FakeWolkvox, env: dict[str, str]) -> None:
    [made] = as_json(
        wolkvox(env, "--json", "campaigns", "create", "--name", "Leads", "--skill", "4069")
    )  # type: ignore[misc]
    cid = made["id"]
    assert cid in served.world.campaigns
    assert as_json(wolkvox(env, "--json", "campaigns", "start", cid))[0]["action"] == "start"  # type: ignore[index]
    [info] = as_json(wolkvox(env, "--json", "campaigns", "list"))  # type: ignore[misc]
    assert (info["campaign_id"], info["status"]) == (cid, "started")
    wolkvox(env, "campaigns", "speed", cid, "30")
    wolkvox(env, "campaigns", "stop", cid)
    wolkvox(env, "campaigns", "clear", cid)
    assert served.campaign(cid).status == "Stopped" and served.campaign(cid).speed == 30
    table = wolkvox(env, "campaigns", "list", "--campaign", cid)  # another read than the first
    assert "Leads" in table.output and table.exit_code == 0
    again = wolkvox(env, "campaigns", "list")  # the first read again, within 5 minutes
    assert again.exit_code == 3 and "polling interval; retry at" in again.output
    assert wolkvox(env, "campaigns", "delete", cid).exit_code == 0
    assert cid not in served.world.campaigns


def test_upload_csv_with_mapping_then_find_recall_export(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    camp = served.create_campaign()
    source = tmp_path / "leads.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "phone", "ignored"])
        for i in range(2_500):
            writer.writerow(
                [f"r{i}", '=HYPERLINK("http://x")' if i == 0 else f"Name {i}", f"300{i:07d}", "x"]
            )
    nothing = wolkvox(env, "upload", camp.id, str(source), "--resume")  # no load to resume
    assert nothing.exit_code == 2 and "no stopped load" in nothing.output
    assert served.stats.requests == 0
    result = wolkvox(
        env,
        "--json",
        "upload",
        camp.id,
        str(source),
        "--chunk-size",
        "1000",
        "--map",
        "customer_id=id",
        "--map",
        "customer_name=name",
        "--map",
        "tel1=phone",
    )
    [summary] = as_json(result)  # type: ignore[misc]
    # 3 chunks, and the read of the campaign's state they tell Wolkvox (campaign_status)
    assert summary["records_landed"] == 2_500 and summary["requests"] == 1 + 3
    assert Counter(r["customer_id"] for r in camp.records) == Counter(f"r{i}" for i in range(2_500))
    # A finished load is remembered: the same command, plain or --resume, sends nothing.
    sent = served.stats.requests
    upload_args = ["upload", camp.id, str(source), "--chunk-size", "1000"]
    upload_args += ["--map", "customer_id=id", "--map", "customer_name=name", "--map", "tel1=phone"]
    for again in (wolkvox(env, *upload_args), wolkvox(env, *upload_args, "--resume")):
        assert again.exit_code == 0, again.output
        assert "already loaded 2,500 records into campaign" in again.output
        assert "--restart to load again" in again.output
    assert served.stats.requests == sent and len(camp.records) == 2_500
    with source.open("a", newline="") as handle:
        csv.writer(handle).writerow(["r9999", "Late", "3009999999", "x"])
    changed = wolkvox(env, *upload_args)
    assert changed.exit_code == 2 and "changed since it was loaded" in changed.output
    assert served.stats.requests == sent

    [hit] = as_json(wolkvox(env, "--json", "find", "--campaign", camp.id, "--customer-id", "r7"))  # type: ignore[misc]
    assert hit["tel1"] == "3000000007"
    assert (
        "call back"
        in wolkvox(env, "recall", camp.id, "r7", "3000000007", "2026-11-24T10:00").output
    )

    start = datetime(2026, 8, 1)
    served.add_call_results(camp.id, start, start + timedelta(days=60), 500)
    export = ["export", "campaign_3", camp.id, "--start", "2026-08-01"]
    export += ["--end", "2026-09-30T23:59:59"]
    out = wolkvox(env, *export)
    assert out.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 500 and "conn_id" in rows[0]
    again = wolkvox(env, *export)
    assert again.exit_code == 3 and "polling interval" in again.output  # not a silent 5-min wait
    target = tmp_path / "out.jsonl"
    exported = wolkvox(
        env,
        "export",
        "campaign_3",
        camp.id,
        "--start",
        "2026-08-01T00:00:01",
        "--end",
        "2026-09-30T12:00",
        "--format",
        "jsonl",
        "-o",
        str(target),
    )
    assert exported.exit_code == 0, exported.output
    assert len(target.read_text().splitlines()) > 450  # the window starts a second later


def test_quota_and_exit_codes(served: FakeWolkvox, env: dict[str, str], tmp_path: Path) -> None:
    [stats] = as_json(wolkvox(env, "--json", "--licenses", "2", "quota"))  # type: ignore[misc]
    assert (stats["used"], stats["limit"]) == (1, 10_000)  # the server's word beats --licenses
    assert wolkvox({**env, "WOLKVOX_TOKEN": ""}, "campaigns", "list").exit_code == 2  # usage
    served.world.operations[served.server].daily_quota = 2
    assert wolkvox(env, "campaigns", "list").exit_code == 0
    limit = wolkvox(env, "campaigns", "list", "--campaign", "1")
    assert limit.exit_code == 3 and "TOKEN LIMIT" in limit.output  # the server's limit
    sent = served.stats.requests
    refused = wolkvox(env, "campaigns", "list", "--campaign", "2")
    assert refused.exit_code == 3 and "resets at" in refused.output  # the ledger knows
    assert served.stats.requests == sent  # nothing sent
    # Spent, the quota still shows what the ledger knows (exit 0), as JSON too.
    [spent] = as_json(wolkvox(env, "quota", "--json"))  # type: ignore[misc]
    assert spent["used"] >= spent["limit"] and spent["resets_at"]
    assert spent["source"] == "ledger (spent)"
    fresh = {**env, "WOLKVOX_TOKEN": "not-the-token", "XDG_STATE_HOME": str(tmp_path / "other")}
    assert wolkvox(fresh, "quota").exit_code == 4  # 403 PLEASE VALIDATE TOKEN


@pytest.mark.slow
@pytest.mark.parametrize("presses", [1, 2])
def test_upload_interrupted_then_resumed(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, presses: int
) -> None:
    """Ctrl-C once (chunks in flight finish) or twice (at once): exit 130, the resume
    command printed, and --resume lands every record exactly once."""
    camp = served.create_campaign()
    source = tmp_path / "leads.jsonl"
    source.write_text(
        "".join(json.dumps({"customer_id": f"j{i}", "tel1": "3"}) + "\n" for i in range(3_000))
    )
    served.latency = 0.15
    # Calls abandoned by a second Ctrl-C hold their slots until the server must be done:
    # 1 s here (the simulator stops calls then), not Wolkvox's 60.
    served.call_limit = 1.0
    env = {**env, "WOLKVOX_SERVER_LIMIT": "1"}
    command = [
        sys.executable,
        "-m",
        "wolkvox_async",
        "upload",
        camp.id,
        str(source),
        "--chunk-size",
        "100",
    ]
    proc = subprocess.Popen(
        command,
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_it,
    )
    while len(camp.records) < 200:  # mid-load, however slowly the machine started it
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.005)
    for _ in range(presses):
        proc.send_signal(signal.SIGINT)  # Ctrl-C mid-load
        time.sleep(0.02)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and served.token not in stderr
    assert 0 < len(camp.records) < 3_000
    again = subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 2 and "--resume" in again.stderr  # never a silent second load
    served.latency = 0.0
    done = subprocess.run(
        [*command, "--resume"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert Counter(r["customer_id"] for r in camp.records) == Counter(f"j{i}" for i in range(3_000))


def test_demo_runs_end_to_end(env: dict[str, str]) -> None:
    summary = as_json(
        wolkvox(
            env, "--json", "demo", "--records", "40000", "--results", "4000", "--latency-ms", "100"
        )
    )
    assert isinstance(summary, dict)
    assert summary["records_loaded"] == summary["records_in_campaign"] == 40_000
    assert summary["rows_exported"] == 4_000
    # Both slots used (the simulator on its own thread), never a third, no refusal.
    assert summary["peak_in_flight_per_token"] == 2 and summary["limit_refusals"] == 0


def test_fake_server_command() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wolkvox_async", "fake-server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "FakeWolkvox listening on http://127.0.0.1:" in proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_missing_extra_names_it() -> None:
    code = "import sys; sys.modules['click'] = None; from wolkvox_async.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert "pip install 'wolkvox-async[cli]'" in result.stderr


@pytest.mark.slow
def test_upload_killed_at_twenty_random_moments_lands_every_record_once(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """SIGKILL (no cleanup at all) at 20 random points of one load, resumed each time."""
    seed = helpers.seed()
    rng = random.Random(seed)
    n = 10_000
    camp = served.create_campaign()
    source = tmp_path / "leads.jsonl"
    source.write_text(
        "".join(json.dumps({"customer_id": f"k{i}", "tel1": "3"}) + "\n" for i in range(n))
    )
    served.latency = (0.01, 0.04)
    # The simulator stops calls after 1 s instead of Wolkvox's 60 (which would make this
    # test take an hour; the rule is the same), and the loaders are told so: a dead
    # loader's leases in the ledger, and its calls in flight, are over by then.
    served.call_limit = 1.0
    run_env = {**os.environ, **env, "WOLKVOX_SERVER_LIMIT": "1"}
    command = [sys.executable, "-m", "wolkvox_async", "upload", camp.id, str(source)]
    command += ["--chunk-size", "100"]
    targets = sorted(rng.randrange(0, n) for _ in range(20))  # records landed at each kill
    live = 0
    for target in targets:
        started = [*command, "--resume"] if live or len(camp.records) else command
        proc = subprocess.Popen(started, env=run_env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while len(camp.records) < target and proc.poll() is None:
            assert time.monotonic() < deadline, f"stalled before {target} records (seed {seed})"
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.05))  # anywhere in a call: before, during, after
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=30)
        assert served.token not in stderr
        if proc.returncode == -signal.SIGKILL:
            live += 1
        else:  # it finished first: a finished load, and one a run again must not double
            assert proc.returncode == 0 and len(camp.records) == n, f"{stderr} (seed {seed})"
    assert live >= 15, f"only {live} of 20 kills hit a running load (seed {seed})"
    done = subprocess.run(
        [*command, "--resume"], env=run_env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    landed = Counter(r["customer_id"] for r in camp.records)
    assert landed == Counter(f"k{i}" for i in range(n)), f"seed {seed}"
    calls = Counter(r.api for r in served.requests)
    assert calls["campaign_15"] > 0  # chunks caught in flight were reconciled, not resent


@pytest.mark.slow
def test_upload_beside_a_busy_token_never_exits_0_with_records_missing(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """Another process holds the token: the load waits patiently and lands every record
    once; and when its patience runs out it exits 3, prints the resume command, and that
    command, pasted, lands exactly the rest."""
    camp, lookups = served.create_campaign(), served.create_campaign()
    source = tmp_path / "leads.jsonl"
    source.write_text(
        "".join(json.dumps({"customer_id": f"b{i}", "tel1": "3"}) + "\n" for i in range(2_000))
    )
    served.latency = 0.05
    run_env = {**os.environ, **env}
    busy_worker = worker("busy_worker.py")
    busy = subprocess.Popen(
        [sys.executable, busy_worker, "raw", served.url, served.token, lookups.id, "1.0"],
        stdout=subprocess.PIPE,
    )
    command = [sys.executable, "-m", "wolkvox_async", "upload", camp.id, str(source)]
    command += ["--chunk-size", "250"]
    try:
        waited = subprocess.run(command, env=run_env, capture_output=True, text=True, timeout=120)
    finally:
        busy.communicate(timeout=30)
    assert served.stats.refusals["simultaneous"] > 0
    assert waited.returncode == 0, waited.stderr
    assert Counter(r["customer_id"] for r in camp.records) == Counter(f"b{i}" for i in range(2_000))

    other = served.create_campaign()
    served.elsewhere = 2  # now someone holds both slots until we say
    command[4] = other.id
    gave_up = subprocess.run(
        [*command, "--patience", "0.5"], env=run_env, capture_output=True, text=True, timeout=120
    )
    assert gave_up.returncode == 3, gave_up.stderr
    assert served.token not in gave_up.stderr + gave_up.stdout
    # Reading stopped with the load: what was read is all pending, nothing is "failed".
    assert re.search(r"\(patience\): 0 of ([\d,]+) records landed, \1 pending", gave_up.stderr)
    hint = gave_up.stderr.rsplit("continue with: ", 1)[1].split()
    # Nothing landed, so no journal was kept: the printed command is the same load again
    # (its options included), not a --resume of a journal that does not exist.
    assert hint == ["wolkvox", "upload", other.id, str(source), "--chunk-size", "250"]
    assert "no journal was kept" in gave_up.stderr
    assert not list((tmp_path / "state").rglob(f"{other.id}-*.journal"))
    assert not other.records
    served.elsewhere = 0
    done = subprocess.run(
        [sys.executable, "-m", "wolkvox_async", *hint[1:]],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert Counter(r["customer_id"] for r in other.records) == Counter(
        f"b{i}" for i in range(2_000)
    )


@pytest.mark.slow
def test_every_upload_path_exits_with_its_documented_code(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """Each way an upload can end, as a person meets it (real subprocesses): the exit code
    the README documents, a message naming what happened, and what reached the server."""
    source = tmp_path / "leads.jsonl"
    source.write_text(
        "".join(json.dumps({"customer_id": f"e{i}", "tel1": "3"}) + "\n" for i in range(300))
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"customer_id": "x", "opt7": "y" * 201}) + "\n")
    closed = f"http://127.0.0.1:{free_port()}"
    op = served.world.operations[served.server]

    def upload(
        case_env: dict[str, str], campaign: str, *extra: str
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "wolkvox_async", "upload", campaign, *extra]
        return subprocess.run(
            command, env={**os.environ, **case_env}, capture_output=True, text=True, timeout=120
        )

    def state(name: str) -> dict[str, str]:  # each case its own ledger and journals
        return {**env, "XDG_STATE_HOME": str(tmp_path / name)}

    cases: list[tuple[str, Any, int, str]] = [
        ("done", lambda: upload(state("a"), done_camp, str(source), "--chunk-size", "100"), 0, ""),
        (
            "partial by the server's quota",
            lambda: upload(state("q"), quota_camp, str(source), "--chunk-size", "100"),
            3,
            "TOKEN LIMIT EXCEEDED",
        ),
        (
            "refused by the local ledger",
            lambda: upload(state("q"), quota_camp, str(source), "--chunk-size", "100", "--resume"),
            3,
            "resets at",
        ),
        (
            "bad token",
            lambda: upload({**state("t"), "WOLKVOX_TOKEN": "0" * 56}, fresh(), str(source)),
            4,
            "PLEASE VALIDATE TOKEN",
        ),
        (
            "unknown campaign",
            lambda: upload(state("u"), "999999", str(source), "--chunk-size", "100"),
            4,
            "999999",
        ),
        (
            "network down",
            lambda: upload(
                {**state("n"), "WOLKVOX_BASE_URL": closed}, fresh(), str(source), "--patience", "0"
            ),
            4,
            "continue with: wolkvox upload",
        ),
        ("bad input", lambda: upload(state("b"), fresh(), str(bad)), 2, "row 1"),
    ]
    campaigns: list[str] = []

    def fresh() -> str:
        campaigns.append(served.create_campaign().id)
        return campaigns[-1]

    done_camp, quota_camp = fresh(), fresh()
    for name, run_case, code, message in cases:
        before = served.stats.requests
        op.daily_quota = None
        if name == "partial by the server's quota":
            op.daily_quota = served.quota_used() + 2  # two more calls today, then 403
        if name == "refused by the local ledger":
            op.daily_quota = 0  # our ledger remembers the 403: nothing reaches the server
        result = run_case()
        output = result.stdout + result.stderr
        assert result.returncode == code, f"{name}: {output}"
        assert message in output, f"{name}: {output}"
        assert served.token not in output and "0" * 56 not in output
        if code:
            assert "error:" in result.stderr, name
        if name in ("bad token", "unknown campaign"):  # fatal: the load stops at once
            assert served.stats.requests - before <= 2, name
        if name in ("bad input", "refused by the local ledger"):  # nothing was sent
            assert served.stats.requests == before, name
        if name == "bad input":  # refused before anything was sent, and no journal left
            assert served.stats.requests == before
            assert not list((tmp_path / "b").rglob("*.journal"))
    assert Counter(r["customer_id"] for r in served.campaign(done_camp).records) == Counter(
        f"e{i}" for i in range(300)
    )
    # Interrupted (Ctrl-C) exits 130: test_upload_interrupted_then_resumed.


def test_export_never_destroys_a_file_and_resumes_where_it_stopped(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    camp = served.create_campaign()
    start = datetime(2026, 5, 1)
    served.add_call_results(camp.id, start, start + timedelta(days=120), 2_000)
    target = tmp_path / "results.csv"
    target.write_text("yesterday's results\n")
    args = ["export", "campaign_3", camp.id, "--start", "2026-05-01", "--end", "2026-08-30"]
    args += ["-o", str(target)]
    # Fails at its third window (an answer that is not JSON: never retried), whichever of
    # the two windows in flight, the 2nd and the 3rd, reaches the server first.
    served.inject(Fault.HTML, api="campaign_3", query={"date_ini": "20260702000000"})
    for fault in (Fault.WRONG_CONTENT_TYPE, Fault.WRONG_CONTENT_TYPE):
        served.inject(fault, api="campaign_3")
    failed = wolkvox(env, *args)
    assert failed.exit_code == 4, failed.output
    assert target.read_text() == "yesterday's results\n"  # untouched
    partial = tmp_path / "results.csv.partial"
    assert partial.exists() and (tmp_path / "results.csv.partial.json").exists()
    assert re.search(r"after [\d,]+ rows \(through 2026-07-01T23:59:59", failed.output), (
        failed.output
    )
    assert "not " + str(target) in failed.output
    hint = failed.output.rsplit("continue with: ", 1)[1].split()
    assert hint[:2] == ["wolkvox", "export"] and hint[-1] == "--resume"
    assert wolkvox(env, *args).exit_code == 2  # no silent fresh start over a resumable one
    # Windows are read two at a time: the 4th (of 4) was read beside the failed 3rd. It is
    # kept, not read again on resume (Wolkvox would refuse that read for 5 minutes).
    ahead = tmp_path / "results.csv.partial.ahead"
    kept = json.loads((tmp_path / "results.csv.partial.json").read_text())["ahead"]
    assert [w["start"] for w in kept] == ["2026-08-02T00:00:00"] and ahead.exists()

    served.latency = 0.0
    reads = sum(1 for r in served.requests if r.api == "campaign_3")
    done = wolkvox(env, *hint[1:])
    assert done.exit_code == 0, done.output
    assert sum(1 for r in served.requests if r.api == "campaign_3") == reads + 1  # the 3rd
    assert not partial.exists() and not (tmp_path / "results.csv.partial.json").exists()
    assert not ahead.exists()
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 2_000  # every row once: none lost, none written twice
    assert len({(r["conn_id"], r["date"]) for r in rows}) == 2_000

    refused = wolkvox(env, *args)  # the same reads again within 5 minutes: exit 3
    assert refused.exit_code == 3, refused.output
    assert len(list(csv.DictReader(io.StringIO(target.read_text())))) == 2_000  # untouched
    assert not partial.exists()
    assert wolkvox(env, *args, "--resume").exit_code == 2  # nothing to resume


def test_an_export_whose_first_window_fails_keeps_the_second_read_beside_it(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    # The first two windows are asked for at once: the 1st fails (not JSON: never retried)
    # and the 2nd, read beside it, arrived whole. It is spooled into the checkpoint, not
    # wasted: the printed --resume reads the 1st and the 3rd only, every row once.
    camp = served.create_campaign()
    start = datetime(2026, 5, 1)
    served.add_call_results(camp.id, start, start + timedelta(days=80), 900)
    target = tmp_path / "results.csv"
    args = ["export", "campaign_3", camp.id, "--start", "2026-05-01", "--end", "2026-07-20"]
    args += ["-o", str(target)]
    served.inject(Fault.HTML, api="campaign_3", query={"date_ini": "20260501000000"})
    failed = wolkvox(env, *args)
    assert failed.exit_code == 4, failed.output
    kept = json.loads((tmp_path / "results.csv.partial.json").read_text())["ahead"]
    assert [w["start"] for w in kept] == ["2026-06-01T00:00:00"]
    hint = failed.output.rsplit("continue with: ", 1)[1].split()
    reads = sum(1 for r in served.requests if r.api == "campaign_3")
    done = wolkvox(env, *hint[1:])
    assert done.exit_code == 0, done.output
    asked = [r.query["date_ini"] for r in served.requests if r.api == "campaign_3"][reads:]
    assert sorted(asked) == ["20260501000000", "20260702000000"]
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len({(r["conn_id"], r["date"]) for r in rows}) == len(rows) == 900
    assert [r["date"] for r in rows] == sorted(r["date"] for r in rows)


@pytest.mark.slow
def test_export_of_a_day_above_the_cap_writes_every_row_once(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    # The real 60,000-row cap: the capped window is continued from its last row (asked for
    # before the answer is parsed), and the file holds every row once.
    camp = served.create_campaign()
    day = datetime(2026, 5, 3)
    served.add_call_results(camp.id, day, day + timedelta(hours=20), 65_000, seed=9)
    target = tmp_path / "day.csv"
    args = ["export", "campaign_3", camp.id, "--start", "2026-05-01", "--end", "2026-05-20"]
    done = wolkvox(env, *args, "-o", str(target))
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 65_000 == len({r["conn_id"] for r in rows})
    assert sum(1 for r in served.requests if r.api == "campaign_3") == 2


def test_input_the_upload_reads_gets_clear_errors(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    camp = served.create_campaign()
    latin = tmp_path / "latin.csv"
    latin.write_bytes("customer_id,customer_name\r\n1,José\r\n2,Núñez\r\n".encode("cp1252"))
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfcustomer_id,tel1\r\nb1,300\r\n")
    empty, header = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_text("")
    header.write_text("customer_id,tel1\n")

    wrong = wolkvox(env, "upload", camp.id, str(latin))
    assert wrong.exit_code == 2 and "latin.csv line 2" in wrong.output
    assert "--encoding" in wrong.output and served.stats.requests == 0
    assert not list((tmp_path / "state").rglob("*.journal"))  # nothing sent: no journal
    right = wolkvox(env, "upload", camp.id, str(latin), "--encoding", "cp1252")
    assert right.exit_code == 0, right.output
    assert {r["customer_name"] for r in camp.records} == {"José", "Núñez"}
    assert wolkvox(env, "upload", camp.id, str(bom)).exit_code == 0  # a BOM is no column name
    assert any(r["customer_id"] == "b1" for r in camp.records)
    for path, says in ((empty, "is empty"), (header, "has a header and no rows")):
        result = wolkvox(env, "upload", camp.id, str(path))
        assert result.exit_code == 2 and says in result.output, result.output

    # --json after the subcommand too, and errors as JSON on standard output.
    [stats] = as_json(wolkvox(env, "quota", "--json"))  # type: ignore[misc]
    assert "used" in stats
    failed = wolkvox(env, "upload", camp.id, str(empty), "--json")
    assert failed.exit_code == 2
    error = json.loads(failed.stdout)["error"]
    assert error["exit_code"] == 2 and "is empty" in error["message"]


def test_version_and_usage_errors_as_json() -> None:
    version = subprocess.run(
        [sys.executable, "-m", "wolkvox_async", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("wolkvox, version 0.")
    usage = subprocess.run(
        [sys.executable, "-m", "wolkvox_async", "upload", "--json"],
        capture_output=True,
        text=True,
    )
    assert usage.returncode == 2
    assert "Missing argument" in json.loads(usage.stdout)["error"]["message"]


@pytest.mark.parametrize("then", ["fix", "skip"])
def test_a_bad_row_after_records_landed_says_how_to_continue(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, then: str
) -> None:
    camp = served.create_campaign()
    source = tmp_path / "leads.jsonl"
    rows = [{"customer_id": f"r{i}", "tel1": "3"} for i in range(500)]
    rows[249] = {"customer_id": "r249", "opt7": "x" * 201}
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    stopped = wolkvox(env, "upload", camp.id, str(source), "--chunk-size", "100")
    assert stopped.exit_code == 2, stopped.output
    assert "row 250" in stopped.output and "opt7" in stopped.output
    assert re.search(r"upload stopped: (\d+) of [\d,]+ records landed", stopped.output)
    landed = len(camp.records)
    assert 0 < landed <= 200 and f"{landed} of" in stopped.output
    assert "--resume --skip-invalid" in stopped.output
    if then == "fix":
        rows[249] = {"customer_id": "r249", "tel1": "3"}
        source.write_text("".join(json.dumps(row) + "\n" for row in rows))
        done = wolkvox(env, "upload", camp.id, str(source), "--resume")
        expected = Counter(f"r{i}" for i in range(500))
    else:
        done = wolkvox(env, "upload", camp.id, str(source), "--resume", "--skip-invalid")
        expected = Counter(f"r{i}" for i in range(500) if i != 249)
    assert done.exit_code == 0, done.output
    assert Counter(r["customer_id"] for r in camp.records) == expected


def test_a_corrupt_ledger_exits_3_naming_the_file(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    ledger = tmp_path / "state" / "wolkvox-async" / "ledger.db"
    ledger.parent.mkdir(parents=True)
    ledger.write_bytes(b"not a database" * 100)
    result = wolkvox(env, "campaigns", "list")
    assert result.exit_code == 3, result.output
    assert str(ledger) in result.output.replace("\n", "") and "corrupt" in result.output
    assert served.stats.requests == 0


def test_export_shows_progress_in_a_terminal_only(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    camp = served.create_campaign()
    start = datetime(2026, 5, 1)
    served.add_call_results(camp.id, start, start + timedelta(days=90), 3_000)
    served.latency = 0.05
    args = ["export", "campaign_3", camp.id, "--start", "2026-05-01", "--end", "2026-07-30"]
    command = [sys.executable, "-m", "wolkvox_async", *args, "-o", str(tmp_path / "a.csv")]
    leader, follower = pty.openpty()  # a terminal, as a person runs it
    proc = subprocess.Popen(
        command,
        env={**os.environ, **env, "COLUMNS": "120"},
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    with contextlib.suppress(OSError):  # the terminal closes when the export exits
        while chunk := os.read(leader, 4096):
            shown += chunk
    os.close(leader)
    assert proc.wait(60) == 0
    screen = shown.decode(errors="replace")
    assert "exporting:" in screen and "rows/s" in screen and "3/3" in screen, screen
    args[4] = "2026-05-02"  # other windows (the same reads again would wait their 5 minutes)
    quiet = wolkvox(env, "--json", *args, "-o", str(tmp_path / "b.csv"))  # not a terminal
    assert quiet.exit_code == 0 and "rows/s" not in quiet.output


def test_finished_journals_are_kept_90_days(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    camp = served.create_campaign()
    files = []
    for name in ("old", "recent", "next"):
        source = tmp_path / f"{name}.jsonl"
        source.write_text(json.dumps({"customer_id": name, "tel1": "3"}) + "\n")
        files.append(source)
    for source in files[:2]:
        assert wolkvox(env, "upload", camp.id, str(source)).exit_code == 0
    assert len(list((tmp_path / "state").rglob("*.journal"))) == 2
    day = 86_400
    aged = {files[0]: time.time() - 91 * day, files[1]: time.time() - 10 * day}
    for path in (tmp_path / "state").rglob("*.journal"):  # (each names its file inside)
        [loaded] = [f for f in files[:2] if str(f) in path.read_bytes().decode("latin-1")]
        os.utime(path, (aged[loaded], aged[loaded]))
    assert wolkvox(env, "upload", camp.id, str(files[2])).exit_code == 0  # prunes on its way
    left = [p.read_bytes().decode("latin-1") for p in (tmp_path / "state").rglob("*.journal")]
    assert len(left) == 2  # the recent one and the new one
    assert not any(str(files[0]) in text for text in left)
    assert any(str(files[1]) in text for text in left)


def test_export_writes_an_unreadable_value_as_sent_and_says_so(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    camp = served.create_campaign()
    served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 5, 20), 500)
    served.inject(Fault.BAD_VALUE, api="campaign_3")
    target = tmp_path / "results.csv"
    args = ["export", "campaign_3", camp.id, "--start", "2026-05-01", "--end", "2026-05-20"]
    done = wolkvox(env, *args, "-o", str(target))
    assert done.exit_code == 0, done.output
    assert "1 rows had values that could not be read" in " ".join(done.output.split())
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 500
    assert [r["date"] for r in rows].count("31/02/2023") == 1  # as Wolkvox sent it
    assert "unread" not in rows[0]


def test_the_interactive_reserve_is_shown_and_holds_uploads_back(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    served.world.operations[served.server].daily_quota = 40
    camp = served.create_campaign()
    source = tmp_path / "leads.csv"
    source.write_text("customer_id,tel1\n" + "".join(f"{i},300{i:07d}\n" for i in range(30)))
    env = {**env, "WOLKVOX_QUOTA_RESERVE": "25"}
    [shown] = as_json(wolkvox(env, "--json", "quota"))  # type: ignore[misc]
    assert (shown["used"], shown["reserved"], shown["available_to_bulk"]) == (1, 25, 14)
    held = wolkvox(env, "upload", camp.id, str(source), "--chunk-size", "1")
    assert held.exit_code == 3, held.output  # a limit: 31 calls needed, 14 left to bulk
    said = " ".join(held.output.split())
    assert "are reserved for interactive calls (quota_reserve: 25)" in said
    # Its share, and not one more: the campaign's state read (the status it sends), then
    # 13 chunks.
    assert len(served.campaign(camp.id).records) == 13
    assert wolkvox(env, "campaigns", "list").exit_code == 0  # interactive: still served
    hint = said.rsplit("continue with: ", 1)[1].split()
    done = wolkvox({**env, "WOLKVOX_QUOTA_RESERVE": "0"}, *hint[1:])
    assert done.exit_code == 0, done.output
    assert len(served.campaign(camp.id).records) == 30  # the rest, each once
    assert wolkvox(env, "--quota-reserve", "lots", "quota").exit_code == 2


def test_two_uploads_at_once_share_what_the_reserve_leaves_to_bulk(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    # Two commands started together, one ledger (the user's state folder): between them
    # they land exactly what the reserve leaves to bulk work, and both stop resumable.
    served.world.operations[served.server].daily_quota = 60
    run_env = {**os.environ, **env, "WOLKVOX_QUOTA_RESERVE": "40"}
    procs, camps = [], []
    for name in ("a", "b"):
        camp = served.create_campaign()
        source = tmp_path / f"{name}.csv"
        source.write_text(
            "customer_id,tel1\n" + "".join(f"{name}{i},300{i:07d}\n" for i in range(30))
        )
        command = [sys.executable, "-m", "wolkvox_async", "upload", camp.id, str(source)]
        command += ["--chunk-size", "1"]
        camps.append(camp)
        procs.append(subprocess.Popen(command, env=run_env, stderr=subprocess.PIPE, text=True))
    outputs = [proc.communicate(timeout=120)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [3, 3], outputs
    assert all("reserved for interactive calls" in " ".join(out.split()) for out in outputs)
    # A command that finds the limit unknown reads it once (token_info) before loading:
    # a reserve holds nothing back without it. All of it is bulk work: 60 - 40 calls.
    # Two reads that cross may each count the other once (the ledger cannot know whether
    # the server's count included a call admitted while it was read): never past the
    # reserve, at most one unit left unused.
    reads = sum(1 for r in served.requests if r.api == "token_info")
    assert 1 <= reads <= 2
    # Each load reads its campaign's state (the status add_record sends) once, before its
    # first chunk; a load whose share is no more than that read sends nothing, not even it.
    states = [r.query["campaign"] for r in served.requests if r.api == "campaigns"]
    assert len(states) == len(set(states)) and set(states) <= {c.id for c in camps}
    assert {c.id for c in camps if served.campaign(c.id).records} <= set(states)
    landed = sum(len(served.campaign(c.id).records) for c in camps)
    spent = landed + reads + len(states)
    assert 20 - reads <= spent <= 20  # and that share of one unit may be left unused
    assert served.quota_used() == spent
    assert served.stats.refusals["token_limit"] == served.stats.refusals["simultaneous"] == 0
    assert wolkvox(env, "find", "--customer-id", "a0").exit_code == 0  # the CRM: served


@pytest.mark.parametrize(
    ("url", "code", "says"),
    [
        ("redis+sentinel://:hunter2@127.0.0.1:1", 2, "needs /service_name after the hosts"),
        ("redis+cluster://:hunter2@127.0.0.1:1?socket_timeout=soon", 2, "number of seconds"),
        ("redis+sentinel://:hunter2@127.0.0.1:1/svc", 3, "No master found for 'svc');"),
        ("redis+cluster://:hunter2@127.0.0.1:1", 3, "cannot be connected"),
    ],
)
def test_a_redis_url_that_reaches_no_redis_says_so_in_a_line(
    served: FakeWolkvox, env: dict[str, str], url: str, code: int, says: str
) -> None:
    # A wrong URL is a usage error; a Redis that cannot be reached, a limit error with
    # nothing sent: one line each, no password, no traceback, no repr of redis-py's pools.
    result = wolkvox({**env, "WOLKVOX_REDIS_URL": url}, "campaigns", "list")
    assert result.exit_code == code, result.output
    assert says in result.output
    assert ("nothing was sent" in result.output) is (code == 3)
    assert "hunter2" not in result.output and "<redis." not in result.output
    assert len(result.output.splitlines()) == 1
    assert not served.requests


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["cluster", "sentinel"])
def test_two_uploads_at_once_share_the_token_through_a_cluster_or_sentinel(
    served: FakeWolkvox,
    env: dict[str, str],
    tmp_path: Path,
    kind: str,
    request: pytest.FixtureRequest,
) -> None:
    # As a team runs it on two hosts: two commands at once, one WOLKVOX_REDIS_URL.
    served.latency = 0.02
    run_env = {**os.environ, **env, "WOLKVOX_REDIS_URL": request.getfixturevalue(f"{kind}_url")}
    procs, camps = [], []
    for name in ("a", "b"):
        camps.append(served.create_campaign())
        source = tmp_path / f"{name}.csv"
        source.write_text(
            "customer_id,tel1\n" + "".join(f"{name}{i},300{i:07d}\n" for i in range(40))
        )
        command = [sys.executable, "-m", "wolkvox_async", "upload", camps[-1].id, str(source)]
        command += ["--chunk-size", "5"]
        procs.append(subprocess.Popen(command, env=run_env, stderr=subprocess.PIPE, text=True))
    outputs = [proc.communicate(timeout=120)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert [len(served.campaign(c.id).records) for c in camps] == [40, 40]
    assert served.stats.peak_in_flight[served.token] == 2  # both slots used, never three
    assert served.stats.refusals["simultaneous"] == 0
