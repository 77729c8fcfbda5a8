"""Attacks on ``wolkvox export --format parquet|arrow`` as a new user meets it (issue 35,
item 3), in real subprocesses against FakeWolkvox over loopback: killed while the file is
assembled, a reset mid-export then the printed advice followed literally, pyarrow
missing in a real process, two exports of one span into one file, ``--resume`` after it
finished, the 60,000-row cap and the inclusive end date."""

from __future__ import annotations

import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_export import PYTHON, Lines, attempt, conn_ids, ctrl_c_reaches_it, wolkvox

from wolkvox_async import report_schema
from wolkvox_async.testing import FakeWolkvox, Fault
from wolkvox_async.testing._faults import FaultPlan

ARGS = ["--start", "2026-05-01", "--end", "2026-07-31"]
__all__ = ["env"]


@pytest.fixture
def env(served: FakeWolkvox, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "WOLKVOX_SERVER": served.server,
        "WOLKVOX_TOKEN": served.token,
        "WOLKVOX_BASE_URL": served.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


def _read(path: Path, fmt: str) -> pa.Table:
    return pq.read_table(path) if fmt == "parquet" else pa.ipc.open_file(path).read_all()


def _advice(said: str) -> list[str]:
    """The command printed after "continue with:", as a user pastes it (``wolkvox`` is
    this tree's ``python -m wolkvox_async``)."""
    line = next(line for line in said.splitlines() if "continue with: " in line)
    words = shlex.split(line.split("continue with: ", 1)[1])
    assert words[0] == "wolkvox", line
    return [*PYTHON, *words[1:]]


def _killed_runs_calls_over(served: FakeWolkvox) -> None:
    """Wait until the calls a killed run left at the simulator are answered, as they are
    long before "five minutes later" (a fresh ledger stands for those minutes; without
    this, under load, its calls would meet the killed run's there: a third in flight)."""
    deadline = time.monotonic() + 60
    while served.stats.in_flight[served.token]:
        assert time.monotonic() < deadline, "the killed run's calls never ended"
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt", "sig"),
    [("parquet", signal.SIGKILL), ("arrow", signal.SIGKILL), ("parquet", signal.SIGINT)],
    ids=["parquet-SIGKILL", "arrow-SIGKILL", "parquet-SIGINT"],
)
def test_an_export_stopped_while_its_file_is_assembled_ends_whole(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, fmt: str, sig: signal.Signals
) -> None:
    """A signal after every window is in, while the spool is read into the file. SIGKILL:
    the spool and checkpoint stand, and the same command with --resume makes the file
    with every row once, at once (no request: every window was written). Ctrl-C: the
    command ends as done (the work is over), or says what to run."""
    camp = served.create_campaign()
    attempts = served.add_call_results(
        camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 150_000
    )
    target = tmp_path / f"results.{fmt}"
    command = [*PYTHON, "export", "campaign_3", camp.id, *ARGS, "--format", fmt, "-o", str(target)]
    assembling = tmp_path / f"results.{fmt}.partial.assembling"
    proc = subprocess.Popen(
        command, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_reaches_it
    )
    stderr = Lines(proc)
    while not assembling.exists():
        assert proc.poll() is None, stderr.text()
        time.sleep(0.001)
    proc.send_signal(sig)
    code = proc.wait(60)
    said = stderr.text()
    assert "Traceback" not in said, said
    if sig == signal.SIGINT:
        assert code == 0 and "150,000 rows" in said, said
        table = _read(target, fmt)
        assert table.num_rows == 150_000
        assert not list(tmp_path.glob(f"results.{fmt}.partial*"))
        return
    assert not target.exists(), "killed too late: the file was already renamed"
    before = served.stats.requests
    done = subprocess.run(
        [*command, "--resume"], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, stderr.text() + done.stderr
    assert served.stats.requests == before
    table = _read(target, fmt)
    assert table.schema == report_schema("campaign_3")
    assert Counter(table.column("conn_id").to_pylist()) == Counter(a.conn_id for a in attempts)
    assert not list(tmp_path.glob(f"results.{fmt}.partial*"))


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_a_reset_mid_export_then_the_printed_command_gives_every_row_once(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, fmt: str
) -> None:
    camp = served.create_campaign()
    attempts = served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 3_000)
    target = tmp_path / f"results.{fmt}"
    command = [*PYTHON, "export", "campaign_3", camp.id, *ARGS, "--format", fmt, "-o", str(target)]
    # The second window's connection drops after the server ran it, every time (an outage
    # for that window): its 5 attempts fail and the export stops.
    # A call reset after sending holds its slot for the server's limit: 1 s here.
    served.call_limit = 1.0
    env = {**env, "WOLKVOX_SERVER_LIMIT": "1"}
    served.inject(Fault.RESET, times=5, api="campaign_3", query={"date_ini": "20260601000000"})
    failed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert failed.returncode not in (0, 2) and "Traceback" not in failed.stderr, failed.stderr
    assert served.token not in failed.stderr + failed.stdout
    assert not target.exists()
    served.faults = FaultPlan()  # the outage is over
    done = subprocess.run(
        _advice(failed.stderr), env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, failed.stderr + done.stderr
    table = _read(target, fmt)
    assert Counter(table.column("conn_id").to_pylist()) == Counter(a.conn_id for a in attempts)
    assert not list(tmp_path.glob(f"results.{fmt}.partial*"))


@pytest.mark.slow
def test_ctrl_c_in_the_first_request_then_the_printed_command(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    camp = served.create_campaign()
    attempts = served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 3_000)
    target = tmp_path / "results.parquet"
    command = [*PYTHON, "export", "campaign_3", camp.id, *ARGS, "--format", "parquet"]
    served.inject(Fault.HELD, api="campaign_3")
    proc = subprocess.Popen(
        [*command, "-o", str(target)],
        env={**env, "WOLKVOX_LOG_LEVEL": "DEBUG"},
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_it,
    )
    stderr = Lines(proc)
    while not any("-> GET" in line for line in stderr.lines):
        assert proc.poll() is None, stderr.text()
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130
    served.let_go()
    said = stderr.text()
    assert "Traceback" not in said
    done = subprocess.run(_advice(said), env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, said + done.stderr
    table = pq.read_table(target)
    assert Counter(table.column("conn_id").to_pylist()) == Counter(a.conn_id for a in attempts)


def test_without_pyarrow_a_real_process_names_the_extra_before_any_request(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    camp = served.create_campaign()
    no_arrow = (
        "import sys; sys.modules['pyarrow'] = None; from wolkvox_async.cli import main; main()"
    )
    for extra in ([], ["--resume"]):
        args = ["export", "campaign_3", camp.id, *ARGS, "--format", "parquet"]
        args += ["-o", str(tmp_path / "x.parquet"), *extra]
        done = subprocess.run(
            [sys.executable, "-c", no_arrow, *args], env=env, capture_output=True, text=True
        )
        said = " ".join((done.stdout + done.stderr).split())
        assert done.returncode == 2, said
        assert 'pip install "wolkvox-async[arrow]"' in said and "Traceback" not in said
    assert served.stats.requests == 0 and not list(tmp_path.glob("x.parquet*"))


def test_two_exports_into_one_file_at_once_one_is_refused(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    camp = served.create_campaign()
    attempts = served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 3_000)
    served.latency = 0.3
    target = tmp_path / "results.parquet"
    command = [
        *PYTHON,
        "export",
        "campaign_3",
        camp.id,
        *ARGS,
        "--format",
        "parquet",
        "-o",
        str(target),
    ]
    first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "results.parquet.partial.lock"
    while not lock.exists():
        assert first.poll() is None
        time.sleep(0.002)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 2 and "is running" in second.stderr, second.stderr
    said = first.communicate(timeout=180)[1]
    assert first.returncode == 0, said
    table = pq.read_table(target)
    assert Counter(table.column("conn_id").to_pylist()) == Counter(a.conn_id for a in attempts)


def test_resume_after_the_export_finished_says_so_and_keeps_the_file(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    camp = served.create_campaign()
    served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 300)
    target = tmp_path / "results.parquet"
    args = ["export", "campaign_3", camp.id, *ARGS, "--format", "parquet", "-o", str(target)]
    assert wolkvox(env, *args).exit_code == 0
    made = target.read_bytes()
    again = wolkvox(env, *args, "--resume")
    assert again.exit_code == 2 and "no stopped export" in again.output, again.output
    assert target.read_bytes() == made


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_exactly_the_cap_in_one_window_and_the_edges_of_the_span(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, fmt: str
) -> None:
    """Exactly 60,000 rows in window 1 (the cap: continued, none twice), and rows on the first
    and last second of the span and of each window (the end date is included)."""
    camp = served.create_campaign()
    day = datetime(2026, 5, 10)
    attempts = served.add_call_results(camp.id, day, day.replace(hour=20), 60_000 - 2)
    edges = [
        datetime(2026, 5, 1),
        datetime(2026, 5, 31, 23, 59, 59),
        datetime(2026, 6, 1),
        datetime(2026, 7, 31, 23, 59, 59),
    ]
    extra = [attempt(at, f"edge-{n}", phone=f"+5700{n}") for n, at in enumerate(edges)]
    served.world.campaigns[camp.id].add_attempts(extra)
    outside = [
        attempt(datetime(2026, 8, 1), "after"),
        attempt(datetime(2026, 4, 30, 23, 59, 59), "before"),
    ]
    served.world.campaigns[camp.id].add_attempts(outside)
    target = tmp_path / f"results.{fmt}"
    done = wolkvox(env, "export", "campaign_3", camp.id, *ARGS, "--format", fmt, "-o", str(target))
    assert done.exit_code == 0, done.output
    table = _read(target, fmt)
    want = Counter(a.conn_id for a in [*attempts, *extra])
    assert Counter(table.column("conn_id").to_pylist()) == want
    phones = dict(
        zip(table.column("conn_id").to_pylist(), table.column("telephone").to_pylist(), strict=True)
    )
    assert phones["edge-0"] == "+57000"


@pytest.mark.parametrize("fault", ["wrong-path", "refused-port", "other-token"])
def test_a_misconfigured_export_leaves_the_file_and_nothing_beside_it(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, fault: str
) -> None:
    """A wrong base URL path, a refused port, a token Wolkvox does not know: the export
    fails with its documented code and a message, the token never shown, an existing
    file untouched and no spool left with nothing to continue."""
    camp = served.create_campaign()
    served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 300)
    target = tmp_path / "results.parquet"
    target.write_bytes(b"yesterday's file")
    token = env["WOLKVOX_TOKEN"]
    if fault == "wrong-path":
        env = {**env, "WOLKVOX_BASE_URL": served.url + "/api/v2"}
    elif fault == "refused-port":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**env, "WOLKVOX_BASE_URL": f"http://127.0.0.1:{port}"}
    else:
        token = "0" * 20 + "another-operations-token"
        env = {**env, "WOLKVOX_TOKEN": token}
    command = [*PYTHON, "export", "campaign_3", camp.id, *ARGS, "--format", "parquet"]
    done = subprocess.run(
        [*command, "-o", str(target)], env=env, capture_output=True, text=True, timeout=300
    )
    said = done.stdout + done.stderr
    assert done.returncode in (3, 4), said
    assert "Traceback" not in said and token not in said and served.token not in said
    assert target.read_bytes() == b"yesterday's file"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("results")) == [
        "results.parquet"
    ], said


@pytest.mark.slow
def test_three_exports_on_one_token_at_once_never_have_a_third_request_out(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """Each download keeps two requests out while it delivers a window's rows: three
    processes on one token (one ledger) still have two out at Wolkvox, never a 403."""
    served.latency = 0.05
    camps = [served.create_campaign() for _ in range(3)]
    for camp in camps:
        served.add_call_results(camp.id, datetime(2026, 1, 1), datetime(2026, 7, 31), 20_000)
    procs = []
    for n, camp in enumerate(camps):
        fmt = ("parquet", "arrow", "csv")[n]
        command = [*PYTHON, "export", "campaign_3", camp.id, "--start", "2026-01-01"]
        command += ["--end", "2026-07-31", "--format", fmt, "-o", str(tmp_path / f"{n}.{fmt}")]
        procs.append(subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        said = proc.communicate(timeout=300)[1]
        assert proc.returncode == 0, said
    assert not served.stats.refusals, served.stats.refusals
    assert max(served.stats.peak_in_flight.values()) == 2
    assert pq.read_table(tmp_path / "0.parquet").num_rows == 20_000
    assert _read(tmp_path / "1.arrow", "arrow").num_rows == 20_000


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_an_export_killed_at_a_random_moment_resumes_to_every_row_once(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, seed: int
) -> None:
    """SIGKILL at a seeded moment of a 7-window Parquet export, a window at the cap
    among them, then the same command with --resume (with a ledger past the 5 minutes
    if a read the killed run had out must wait them): every row once."""
    rng = random.Random(seed)
    camp = served.create_campaign()
    attempts = served.add_call_results(camp.id, datetime(2026, 1, 1), datetime(2026, 7, 31), 30_000)
    dense = datetime(2026, 3, 3)
    attempts += served.add_call_results(camp.id, dense, dense + timedelta(hours=20), 62_000)
    served.latency = 1.0  # 5 rounds of 2 requests at least: past the latest kill (3 s)
    target = tmp_path / "results.parquet"
    command = [*PYTHON, "export", "campaign_3", camp.id, "--start", "2026-01-01"]
    command += ["--end", "2026-07-31", "--format", "parquet", "-o", str(target)]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.3, 3.0))
    proc.kill()
    proc.wait(60)
    assert not target.exists(), f"seed {seed}: the export ended before the kill"
    if not (tmp_path / "results.parquet.partial.json").exists():
        # Killed before it made anything: --resume says so, and the command starts it.
        nothing = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True)
        assert nothing.returncode == 2 and "no stopped export" in nothing.stderr
        assert not list(tmp_path.glob("results.parquet*")), "a file beside no checkpoint"
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return
    done = subprocess.run(
        [*command, "--resume"], env=env, capture_output=True, text=True, timeout=300
    )
    first_said = ""
    if done.returncode == 3:
        assert "within its polling interval" in done.stderr, done.stderr
        first_said = done.stderr
        _killed_runs_calls_over(served)
        later = {**env, "XDG_STATE_HOME": str(tmp_path / "five-minutes-later")}
        done = subprocess.run(
            [*command, "--resume"], env=later, capture_output=True, text=True, timeout=300
        )
    assert done.returncode == 0, first_said + done.stderr
    got = Counter(pq.read_table(target).column("conn_id").to_pylist())
    assert got == Counter(a.conn_id for a in attempts)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_resume_refused_for_its_5_minutes_keeps_what_it_continues(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, fmt: str
) -> None:
    """SIGKILL with the first reads out, no window written yet: the checkpoint and spool
    stand. The same command with --resume is refused for the killed run's reads (their
    5 minutes, exit 3, the time to retry): retried then, as said, it must continue, not
    find its checkpoint deleted by the refusal ("no stopped export ... to resume")."""
    camp = served.create_campaign()
    attempts = served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 600)
    served.latency = 3.0
    target = tmp_path / f"results.{fmt}"
    command = [*PYTHON, "export", "campaign_3", camp.id, *ARGS, "--format", fmt, "-o", str(target)]
    checkpoint = tmp_path / f"results.{fmt}.partial.json"
    proc = subprocess.Popen(
        command, env={**env, "WOLKVOX_LOG_LEVEL": "DEBUG"}, stderr=subprocess.PIPE, text=True
    )
    stderr = Lines(proc)
    while not (any("-> GET" in line for line in stderr.lines) and checkpoint.exists()):
        assert proc.poll() is None, stderr.text()
        time.sleep(0.002)
    proc.kill()
    proc.wait(60)
    stderr.text()
    served.latency = 0.0
    refused = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True)
    assert refused.returncode == 3, refused.stderr
    assert "within its polling interval; retry at" in refused.stderr
    assert "Traceback" not in refused.stderr
    # Five minutes later (a ledger that has seen them pass), the same command, as said:
    _killed_runs_calls_over(served)
    later = {**env, "XDG_STATE_HOME": str(tmp_path / "five-minutes-later")}
    assert _advice(refused.stderr)[-1] == "--resume", refused.stderr
    assert "(through None)" not in refused.stderr
    done = subprocess.run(_advice(refused.stderr), env=later, capture_output=True, text=True)
    assert done.returncode == 0, refused.stderr + done.stderr
    if fmt == "parquet":
        got = Counter(pq.read_table(target).column("conn_id").to_pylist())
    else:
        got = conn_ids(target)
    assert got == Counter(a.conn_id for a in attempts)
