"""``wolkvox upload`` as people run it, in real subprocesses against FakeWolkvox: one load
of a file at a time (a second command is refused naming the first, or waits with
``--wait``), on one host or two hosts of one Redis; a journal of another server, campaign
or options is never taken for "already loaded"; ``--restart`` asks before sending again
what landed. Every test checks the campaign: no record twice."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import helpers
import pytest

from wolkvox_async.testing import FakeWolkvox, serving_in_thread

COMMAND = [sys.executable, "-m", "wolkvox_async"]


@pytest.fixture
def env(served: FakeWolkvox, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "WOLKVOX_SERVER": served.server,
        "WOLKVOX_TOKEN": served.token,
        "WOLKVOX_BASE_URL": served.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        # The simulator stops calls after 1 s and the command knows it: a killed
        # command's slots in the ledger are free 1 s later, not Wolkvox's 60.
        "WOLKVOX_SERVER_LIMIT": "1",
    }


def leads(path: Path, n: int, prefix: str = "u") -> Path:
    path.write_text(
        "".join(json.dumps({"customer_id": f"{prefix}{i}", "tel1": "3"}) + "\n" for i in range(n))
    )
    return path


def once(n: int, prefix: str = "u") -> Counter[str]:
    return Counter(f"{prefix}{i}" for i in range(n))


def landed(fake: FakeWolkvox, campaign_id: str) -> Counter[str]:
    return Counter(r["customer_id"] for r in fake.campaign(campaign_id).records)


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wolkvox(env: dict[str, str], *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*COMMAND, *args], env=env, capture_output=True, text=True, timeout=120, **kw
    )  # type: ignore[call-overload]
    if env["WOLKVOX_TOKEN"]:
        assert env["WOLKVOX_TOKEN"] not in done.stdout + done.stderr
    return done  # type: ignore[no-any-return]


def mid_load(fake: FakeWolkvox, campaign_id: str, proc: subprocess.Popen[str]) -> None:
    """Until ``proc`` has landed records (it holds the load, it has not finished)."""
    deadline = time.monotonic() + 60
    while not fake.campaign(campaign_id).records:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the load never started"
        time.sleep(0.005)
    assert proc.poll() is None, "the load finished before the test could run beside it"


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """Its exit code and what it said on stderr, once it ended (its pipes closed)."""
    _, err = proc.communicate(timeout=120)
    return proc.returncode, oneline(err)


def waiting(proc: subprocess.Popen[str]) -> str:
    """Until ``proc`` (run with --wait) says it waits for a running load; what it said."""
    assert proc.stderr is not None
    said = ""
    for line in proc.stderr:
        said += line
        if "waiting for it to end" in line:
            return said
    raise AssertionError(f"it never waited (exit {proc.wait()}): {said}")


def oneline(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.slow
def test_two_uploads_of_one_file_at_once_never_double(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """Main today: the second is told "a stopped load exists … --resume"; following that
    advice while the first runs stored 40,000 of 100,000 twice (6 of 8 tries). Each try
    here starts the second at a random moment of the first (seeded), follows whatever it
    prints, and checks the campaign."""
    run_seed = helpers.seed()
    rng = random.Random(run_seed)
    source = leads(tmp_path / "leads.jsonl", 3_000)
    served.latency = (0.01, 0.03)
    for attempt in range(6):
        camp = served.create_campaign()
        upload = ["upload", camp.id, str(source), "--chunk-size", "100"]
        if attempt % 2:  # both started at the same instant: one takes the journal
            both = [start(env, *upload), start(env, *upload)]
            outcomes = sorted(finish(proc) for proc in both)
            if outcomes[1][0] == 2:  # refused while the other ran
                assert "is running (pid" in outcomes[1][1], (outcomes, run_seed)
                assert "--resume" not in outcomes[1][1]
            else:  # (a machine so slow that one started after the other finished)
                assert any("already loaded" in said for _, said in outcomes), outcomes
            assert outcomes[0][0] == 0, (outcomes, run_seed)
            assert landed(served, camp.id) == once(3_000), f"try {attempt}, seed {run_seed}"
            continue
        first = start(env, *upload)
        mid_load(served, camp.id, first)
        served.latency = 0.3  # the first runs a while yet (a second or more)
        time.sleep(rng.uniform(0, 0.3))
        second = wolkvox(env, *upload)
        said = oneline(second.stderr)
        if second.returncode == 0:  # (a machine so slow the first ended meanwhile)
            assert first.poll() is not None and "already loaded" in said, said
        else:  # refused while the first runs: named, and no --resume
            assert second.returncode == 2, said
            assert f"is running (pid {first.pid} on host {socket.gethostname()}, since" in said
            assert "--resume" not in said and "--wait" in said, said
        resumed = wolkvox(env, *upload, "--resume")  # the old advice, followed at once
        assert resumed.returncode in (0, 2), resumed.stderr
        if resumed.returncode == 2:
            assert "is running" in resumed.stderr and "--resume" not in oneline(resumed.stderr)
        served.latency = (0.01, 0.03)
        assert finish(first)[0] == 0
        assert landed(served, camp.id) == once(3_000), f"try {attempt}, seed {run_seed}"


@pytest.mark.slow
def test_two_resumes_of_one_killed_load_at_once_land_each_record_once(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    # Main today: both resumes run, 66,000 of 100,000 stored twice.
    source = leads(tmp_path / "leads.jsonl", 4_000)
    served.latency = (0.01, 0.03)
    served.call_limit = 1.0
    camp = served.create_campaign()
    upload = ["upload", camp.id, str(source), "--chunk-size", "100"]
    killed = start(env, *upload)
    mid_load(served, camp.id, killed)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=30)
    both = [start(env, *upload, "--resume") for _ in range(2)]
    outcomes = [finish(p) for p in both]
    codes = sorted(code for code, _ in outcomes)
    assert codes in ([0, 0], [0, 2]), outcomes  # one ran; the other refused, or found it done
    for code, said in outcomes:
        if code == 2:
            assert "is running (pid" in said and "--resume" not in said, said
        elif "already loaded" in said:
            assert "nothing sent" in said
    assert landed(served, camp.id) == once(4_000)


@pytest.mark.slow
def test_wait_waits_for_the_running_upload_then_sends_nothing(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    source = leads(tmp_path / "leads.jsonl", 3_000)
    served.latency = 0.5  # slow, until the second command waits (then fast)
    camp = served.create_campaign()
    upload = ["upload", camp.id, str(source), "--chunk-size", "100"]
    first = start(env, *upload)
    mid_load(served, camp.id, first)
    second = start(env, *upload, "--wait")
    waiting(second)
    served.latency = 0.0
    _, err = second.communicate(timeout=120)
    assert first.poll() is not None  # it returned after the first ended
    said = oneline(err)
    assert second.returncode == 0, said
    assert "already loaded 3,000 records into campaign" in said and "nothing sent" in said
    assert finish(first)[0] == 0
    assert landed(served, camp.id) == once(3_000)


@pytest.mark.slow
def test_two_hosts_on_one_redis_load_a_file_once(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, redis_url: str
) -> None:
    """Two hosts (each its own state folder, so its own journal) of one Redis ledger. Main
    today: both load, 100,000 records twice, nothing warns."""
    source = leads(tmp_path / "leads.jsonl", 3_000)
    served.latency = 0.5  # slow, until host B has met it (then fast)
    camp = served.create_campaign()
    upload = ["upload", camp.id, str(source), "--chunk-size", "100"]
    host_a = {**env, "WOLKVOX_REDIS_URL": redis_url, "XDG_STATE_HOME": str(tmp_path / "a")}
    host_b = {**host_a, "XDG_STATE_HOME": str(tmp_path / "b")}
    first = start(host_a, *upload)
    mid_load(served, camp.id, first)
    refused = wolkvox(host_b, *upload)
    said = oneline(refused.stderr)
    assert refused.returncode == 2, said
    assert f"a load of campaign {camp.id} from this input is running (pid {first.pid}" in said
    assert "--resume" not in said
    assert first.poll() is None
    second = start(host_b, *upload, "--wait")  # waits for host A, then: loaded there
    waiting(second)
    served.latency = 0.0
    _, err = second.communicate(timeout=120)
    assert finish(first)[0] == 0
    said = oneline(err)
    assert second.returncode == 0, said
    assert f"already loaded 3,000 records into campaign {camp.id}" in said
    assert f"by pid {first.pid} on host" in said and str(tmp_path / "a") in said
    assert landed(served, camp.id) == once(3_000)
    again = wolkvox(host_b, *upload)  # later, plain: still nothing sent
    assert again.returncode == 0 and "already loaded" in again.stderr
    assert landed(served, camp.id) == once(3_000)
    # The campaign cleared, host B loads it again on purpose.
    served.campaign(camp.id).keep_records(lambda _: False)
    reloaded = wolkvox(host_b, *upload, "--restart", "--yes")
    assert reloaded.returncode == 0, reloaded.stderr
    assert landed(served, camp.id) == once(3_000)


def test_the_same_command_against_another_server_runs_there(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    # Main today: "already loaded 5,000 records … nothing sent", exit 0, and 0 records on
    # the second server (its first campaign is also 7001).
    source = leads(tmp_path / "leads.jsonl", 500)
    camp = served.create_campaign()
    assert wolkvox(env, "upload", camp.id, str(source)).returncode == 0
    with serving_in_thread(licenses=10) as production:
        other = production.create_campaign()
        assert other.id == camp.id
        there = {**env, "WOLKVOX_TOKEN": production.token, "WOLKVOX_BASE_URL": production.url}
        done = wolkvox(there, "upload", other.id, str(source))
        assert done.returncode == 0, done.stderr
        assert "already loaded" not in done.stderr
        assert landed(production, other.id) == once(500)
    assert landed(served, camp.id) == once(500)


def test_a_journal_given_for_another_campaign_or_other_options_is_never_already_loaded(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "leads.csv"
    source.write_text("id,phone\n" + "".join(f"{i},300{i:07d}\n" for i in range(300)))
    journal = tmp_path / "same.journal"
    first, second = served.create_campaign(), served.create_campaign()
    mapped = ["--map", "customer_id=id", "--map", "tel1=phone"]
    base = ["upload", first.id, str(source), "--journal", str(journal), *mapped]
    assert wolkvox(env, *base, "--chunk-size", "100").returncode == 0
    # Main today: "already loaded 300 records into campaign B", exit 0, 0 in B.
    other = wolkvox(env, "upload", second.id, str(source), "--journal", str(journal), *mapped)
    said = oneline(other.stderr)
    assert other.returncode == 2 and "is of another load: its campaign" in said, said
    assert first.id in said and second.id in said and "nothing sent" in said
    assert not second.records
    # A changed option that changes what reaches the campaign is named (exit 2) ...
    for changed, named in (
        (["--map", "customer_id=phone", "--map", "tel1=id"], "--map"),
        (["--type", "preview"], "--type 'preview' (the load used 'predictive')"),
    ):
        rerun = wolkvox(env, "upload", first.id, str(source), "--journal", str(journal), *changed)
        said = oneline(rerun.stderr)
        assert rerun.returncode == 2 and named in said and "nothing sent" in said, said
    # ... one that only cuts it otherwise is named too, and changes nothing (exit 0).
    cut = wolkvox(env, *base, "--chunk-size", "50")
    said = oneline(cut.stderr)
    assert cut.returncode == 0 and "already loaded 300 records" in said, said
    assert "--chunk-size 50 (the load used 100)" in said
    assert landed(served, first.id) == once(300, "")


@pytest.mark.slow
def test_restart_of_a_load_that_landed_records_asks_for_yes(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    # Main today: --restart, as the refusal offered, sent again the 40,000 that landed.
    rows = [{"customer_id": f"u{i}", "tel1": "3"} for i in range(1_000)]
    rows[500] = {"customer_id": "u500", "opt7": "x" * 201}  # stops the load at row 501
    source = tmp_path / "leads.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    camp = served.create_campaign()
    upload = ["upload", camp.id, str(source), "--chunk-size", "100"]
    stopped = wolkvox(env, *upload)
    assert stopped.returncode == 2 and "row 501" in stopped.stderr
    assert len(camp.records) == 500
    for args in (upload, ["--json", *upload]):  # no terminal; --json: no prompt either way
        refused = wolkvox(env, *args, "--restart", stdin=subprocess.DEVNULL)
        said = oneline(refused.stderr)
        assert refused.returncode == 2, said
        assert "--restart sends again the 500 records this load landed" in said
        assert "--restart --yes" in said and "Nothing sent" in said
        assert len(camp.records) == 500
    assert json.loads(refused.stdout)["error"]["exit_code"] == 2
    resumed = wolkvox(env, *upload, "--resume", "--skip-invalid")  # the journal was kept
    assert resumed.returncode == 0, resumed.stderr
    assert landed(served, camp.id) == Counter(f"u{i}" for i in range(1_000) if i != 500)
    camp.keep_records(lambda _: False)  # cleared: now a restart is what the user wants
    restarted = wolkvox(env, *upload, "--skip-invalid", "--restart", "--yes")
    assert restarted.returncode == 0, restarted.stderr
    assert landed(served, camp.id) == Counter(f"u{i}" for i in range(1_000) if i != 500)


def test_a_config_error_leaves_nothing_behind_and_the_corrected_command_just_runs(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    # Main today: a missing token, --quota-reserve -5 or a wrong token left a journal,
    # and the corrected command was refused as "a stopped load exists".
    source = leads(tmp_path / "leads.jsonl", 300)
    camp = served.create_campaign()
    upload = ["upload", camp.id, str(source), "--chunk-size", "100"]
    journals = tmp_path / "state"
    for broken, args in (
        ({"WOLKVOX_TOKEN": ""}, upload),
        ({}, ["--quota-reserve", "-5", *upload]),
        ({"WOLKVOX_TOKEN": "0" * 56}, upload),  # sent, refused: nothing landed
        ({}, [*upload, "--journal", str(tmp_path)]),  # a folder
        ({}, [*upload, "--journal", str(source)]),  # not a journal
    ):
        failed = wolkvox({**env, **broken}, *args)
        assert failed.returncode in (2, 4), failed.stderr
        assert "Traceback" not in failed.stderr and "sqlite3." not in failed.stderr
        assert not list(journals.rglob("*.journal")), broken
        assert not camp.records
    assert source.read_text().startswith('{"customer_id": "u0"')  # untouched
    done = wolkvox(env, *upload)
    assert done.returncode == 0, done.stderr
    assert landed(served, camp.id) == once(300)


def test_short_and_long_csv_rows_are_errors_naming_their_line(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    # Main today: a row with a cell missing loads without its phone, silently; a row with
    # a cell too many loses it; --skip-invalid says "row 500: row 500: …".
    rows = [f"c{i},Name {i},300{i:07d}" for i in range(600)]
    rows[499] = "c499,3004990000"  # the name left out: the phone would land as a name
    rows[549] = "c549,Name, Jr.,3005490000"  # an unquoted comma
    source = tmp_path / "leads.csv"
    source.write_text("customer_id,customer_name,tel1\n" + "\n".join(rows) + "\n")
    camp = served.create_campaign()
    upload = ["upload", camp.id, str(source), "--chunk-size", "100"]
    stopped = wolkvox(env, *upload)
    said = oneline(stopped.stderr)
    assert stopped.returncode == 2, said
    assert "row 500: 2 cells where the header has 3" in said
    assert "row 500 is line 501 of leads.csv" in said
    assert len(camp.records) <= 400  # the bad row's chunk was never sent
    assert not any(r["customer_id"] == "c499" for r in camp.records)
    skipped = wolkvox(env, *upload, "--resume", "--skip-invalid")
    said = oneline(skipped.stderr)
    assert skipped.returncode == 0, said
    assert "row 500 (leads.csv line 501): 2 cells where the header has 3" in said
    assert "row 550 (leads.csv line 551): 4 cells where the header has 3" in said
    assert "row 500: row 500" not in said
    assert landed(served, camp.id) == Counter(f"c{i}" for i in range(600) if i not in (499, 549))
    assert all(r.get("tel1", "").startswith("300") for r in camp.records)


@pytest.mark.slow
def test_a_stop_counts_against_the_files_rows(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    # Main today: "38,000 of 48,000 records landed, 10,000 pending" for a 100,000-row file.
    source = leads(tmp_path / "leads.jsonl", 5_000)
    camp = served.create_campaign()
    served.world.operations[served.server].daily_quota = served.quota_used() + 3
    stopped = wolkvox(env, "--json", "upload", camp.id, str(source), "--chunk-size", "100")
    said = oneline(stopped.stderr)
    assert stopped.returncode == 3, said
    pending = 5_000 - len(camp.records)
    assert f"{len(camp.records):,} of 5,000 records landed, {pending:,} pending" in said
    assert "of them not yet read" in said


def _in_a_terminal(env: dict[str, str], args: list[str], answer: bytes) -> tuple[int, str]:
    """Run the command with a terminal for its input and output, answer its prompt."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*COMMAND, *args], env=env, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    shown = b""
    with contextlib.suppress(OSError):  # the terminal closes when the command exits
        while chunk := os.read(leader, 4096):
            shown += chunk
            if b"[y/N]" in shown and answer:
                os.write(leader, answer)
                answer = b""
    os.close(leader)
    return proc.wait(60), " ".join(shown.decode(errors="replace").split())


@pytest.mark.slow
def test_restart_in_a_terminal_asks_before_sending_again(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    source = leads(tmp_path / "leads.jsonl", 300)
    camp = served.create_campaign()
    upload = ["upload", camp.id, str(source), "--chunk-size", "100"]
    assert wolkvox(env, *upload).returncode == 0
    code, screen = _in_a_terminal({**env, "COLUMNS": "200"}, [*upload, "--restart"], b"n\n")
    assert code == 2, screen
    assert "--restart sends again the 300 records this load landed" in screen
    assert "Send them again? [y/N]" in screen and "nothing sent" in screen
    assert landed(served, camp.id) == once(300)
    camp.keep_records(lambda _: False)  # cleared: now yes
    code, screen = _in_a_terminal({**env, "COLUMNS": "200"}, [*upload, "--restart"], b"y\n")
    assert code == 0, screen
    assert landed(served, camp.id) == once(300)


@pytest.mark.slow
def test_ctrl_c_while_waiting_sends_nothing_and_leaves_the_running_load_alone(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    source = leads(tmp_path / "leads.jsonl", 3_000)
    served.latency = 0.5
    camp = served.create_campaign()
    upload = ["upload", camp.id, str(source), "--chunk-size", "100"]
    first = start(env, *upload)
    mid_load(served, camp.id, first)
    second = subprocess.Popen(
        [*COMMAND, *upload, "--wait"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = waiting(second)
    second.send_signal(signal.SIGINT)
    code, said = finish(second)
    assert code == 130 and "interrupted while waiting: nothing sent" in said, (said, seen)
    served.latency = 0.0
    assert finish(first)[0] == 0
    assert landed(served, camp.id) == once(3_000)
