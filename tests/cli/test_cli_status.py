"""``wolkvox status``: a load and a service in two real processes on one ledger, read from
a third (issue 35 item 2)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import worker

from wolkvox_async.cli._app import cli
from wolkvox_async.scheduler import token_key
from wolkvox_async.testing import FakeWolkvox

WORKER = worker("status_worker.py")
LOAD, SERVICE = "campaign.add_record", "campaign.find_record"


def ctrl_c_reaches_it() -> None:
    """In the child: Ctrl-C interrupts it, as in a terminal's foreground (a test run in
    the background hands its children SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def status(backend: str, *more: str) -> dict[str, Any]:
    """``wolkvox --json status`` in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "wolkvox_async", "--json", "status", "--backend", backend, *more],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def held_by(reading: dict[str, Any]) -> set[tuple[int, str | None]]:
    """(pid, route) of every slot held in a reading."""
    return {
        (slot["pid"], slot["route"])
        for op in reading["operations"]
        for token in op["tokens"]
        for slot in token["held"]
    }


def watched(watch: subprocess.Popen[str], pids: dict[str, int]) -> None:
    """Read ``status --watch --json`` until a reading has both processes' heartbeats and
    the readings so far have each holding a slot on its route, and the load waiting."""
    assert watch.stdout is not None
    seen: set[tuple[int, str | None]] = set()
    both = waited = False
    for _ in range(60):  # one reading a second: a minute at most
        line = watch.stdout.readline()
        assert line, "the watch ended"
        reading = json.loads(line)
        both |= {p["pid"] for p in reading["processes"]} == set(pids.values())
        seen |= held_by(reading)
        tokens = [t for op in reading["operations"] for t in op["tokens"]]
        waited |= any(t["waiting_bulk"] > 0 for t in tokens)
        if both and waited and {(pids["load"], LOAD), (pids["service"], SERVICE)} <= seen:
            break
    else:
        pytest.fail(f"never saw both at work: {seen}, both: {both}, waited: {waited}")
    assert {pid for pid, _ in seen} <= set(pids.values())


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "redis", "cluster"])
def test_a_load_and_a_service_on_one_ledger_are_read_from_a_third_process(
    served: FakeWolkvox, tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """Two processes share the token through the ledger (a SQLite file, one Redis, a
    Redis Cluster): a load (upload_records, BULK)
    and a service (find_record, one after another). ``status --watch --json`` from a
    third process shows both pids, the slots each holds with its route, and the load's
    second chunk waiting for a slot; a one-shot ``status --json`` shows the
    same processes and the token only as its key; Ctrl-C ends the watch with exit 0; once
    both have closed, their heartbeats are gone and nothing is held."""
    # Calls of 1.5 s: a slot then outlives a heartbeat (one a second), so the routes of
    # the slots a reading finds are in their holders' heartbeats.
    served.latency = 1.5
    if kind == "sqlite":
        backend = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        backend = request.getfixturevalue(f"{kind}_url")
    stop = tmp_path / "stop"
    procs = {
        mode: subprocess.Popen(
            [sys.executable, WORKER, mode, served.url, served.token, backend, str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("load", "service")
    }
    try:
        for proc in procs.values():
            assert proc.stdout is not None
            assert proc.stdout.readline() == "ready\n", proc.stderr and proc.stderr.read()
        pids = {mode: proc.pid for mode, proc in procs.items()}
        watch = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wolkvox_async",
                "--json",
                "status",
                "--watch",
                *["--backend", backend],
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=ctrl_c_reaches_it,
        )
        try:
            watched(watch, pids)
            once = status(backend)
            assert {p["pid"] for p in once["processes"]} == set(pids.values())
            assert once["shared"] is True
            (op,) = once["operations"]
            assert op["operation"] == "0014" and op["quota_used"] > 0
            assert [t["token"] for t in op["tokens"]] == [token_key(served.token)]
            assert served.token not in json.dumps(once)
            watch.send_signal(signal.SIGINT)
            _, err = watch.communicate(timeout=30)
            assert watch.returncode == 0, err
        finally:
            if watch.poll() is None:
                watch.kill()
            watch.communicate()
    finally:
        stop.touch()
        for proc in procs.values():
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0 and out.endswith("done\n"), err
    after = status(backend, "--operation", "0014")
    assert after["processes"] == []
    assert held_by(after) == set()


def test_a_memory_ledger_is_said_to_be_per_process(tmp_path: Path) -> None:
    """A memory ledger belongs to the process that holds it: status says so (exit 0),
    rather than showing an empty ledger as if nothing ran."""
    runner = CliRunner()
    text = runner.invoke(cli, ["status", "--backend", "memory://"], catch_exceptions=False)
    assert text.exit_code == 0 and "per process" in text.output
    as_json = runner.invoke(cli, ["--json", "status", "--backend", "memory://"])
    reading = json.loads(as_json.output)
    assert reading["shared"] is False and "per process" in reading["note"]


def test_a_ledger_never_used_is_named_and_not_created(tmp_path: Path) -> None:
    """No file at the path: status says no process has used it, and makes none."""
    ledger = tmp_path / "ledger.db"
    reading = status(f"sqlite:///{ledger}")
    assert reading["note"].startswith(f"no ledger at {ledger}") and reading["operations"] == []
    assert not ledger.exists()


def test_the_table_shows_what_the_json_says(tmp_path: Path) -> None:
    """Without --json: a heading with the ledger, and the note of an unused ledger."""
    ledger = tmp_path / "ledger.db"
    shown = CliRunner().invoke(cli, ["status", "--backend", f"sqlite:///{ledger}"])
    assert shown.exit_code == 0, shown.output
    assert f"sqlite:///{ledger}" in shown.output and "no process has used it" in shown.output


def test_a_watch_into_a_pipe_prints_each_reading_and_ends_on_ctrl_c(tmp_path: Path) -> None:
    """``status --watch`` piped (a log, ``| tee``): each reading is printed as it is made
    (rich's Live would show only the last, at the end); Ctrl-C ends it with exit 0 and
    no traceback."""
    ledger = tmp_path / "ledger.db"
    watch = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wolkvox_async",
            "status",
            "--watch",
            "--backend",
            f"sqlite:///{ledger}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_it,
    )
    try:
        assert watch.stdout is not None
        readings = 0
        while readings < 2:  # two readings printed while it runs
            line = watch.stdout.readline()
            assert line, "the watch ended"
            readings += line.startswith("ledger ")
        watch.send_signal(signal.SIGINT)
        _, err = watch.communicate(timeout=30)
        assert watch.returncode == 0 and "Traceback" not in err, err
    finally:
        if watch.poll() is None:
            watch.kill()
        watch.communicate()
