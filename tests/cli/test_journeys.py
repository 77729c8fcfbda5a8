"""Journeys: seeded random sequences of what users do with the ``wolkvox`` command, in
real subprocesses against two FakeWolkvox servers, with every invariant checked after
every step (issue 30, item 10).

A journey is one user (one state folder) with two simulators, "test" and "production"
(the same server number at another address, the same campaign ids), a JSONL and a CSV
file of leads, and a campaign of call results on each simulator. Its steps are drawn from
what users do: upload, the same upload again, ``--resume``, a second command while one
runs (plain, ``--resume``, ``--wait``, the same upload on the other simulator, an
export), Ctrl-C, SIGTERM and SIGKILL at random moments, export and ``export --resume``,
the same commands against the other simulator, a simulator stopped and started on its
port (its state kept) while a command runs, a changed file, a slow network. A command
that fails says what to run next; a later step runs it as printed (``shlex.split``), and
the journey ends by following every printed command to its end.

After every step:

* no record is ever twice in a campaign, and none is there that no version of its file
  held; the token is never printed, no traceback; never 3 calls in flight at a simulator,
  never a 403 SIMULTANEOUS;
* exit 0 of an upload: the campaign holds every valid record of the file, as it is now,
  exactly once; of an export: the output holds every row of its span exactly once, and
  nothing partial is left beside it;
* a non-zero exit says what to run next: a command (run later, as printed), or a fact the
  user acts on as told (the file changed: put it back or ``--restart``; another command
  runs: let it end); Ctrl-C and SIGTERM exit 130/143 with their command; every printed
  command, followed, ends in exit 0 within a few runs;
* no step waits out the 5-minute polling rule for a read that was not delivered: exit 3
  for it is accepted only after the same export completed (its reads were delivered), or
  after a run of it was SIGKILLed with a read in flight (documented in docs/cli.md: such
  a read may wait its 5 minutes; the export is then left, the journey cannot wait).

Why a seeded runner and not Hypothesis' ``RuleBasedStateMachine``: a step is a process
signalled at a wall-clock moment, so a journey never replays exactly; Hypothesis would
call a failure that does not reproduce "Flaky" and give up, and would shrink by running
hundreds of journeys of subprocesses. What finds and explains a bug here is the journey
as a transcript of commands a user could type, with what each printed; a fixed number of
journeys from the suite's printed seed (``helpers.seed()``, fixed under CI) keeps the run
bounded (``WOLKVOX_JOURNEYS``, default 4, about a minute on 2 cores), and one journey
replays alone: ``WOLKVOX_TEST_SEED=<seed> WOLKVOX_JOURNEY=<n>``.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any

import attrs
import helpers
import pytest
from redis_server import free_port

from wolkvox_async.scheduler._sqlite_ledger import SKEW_ALLOWED
from wolkvox_async.testing import Attempt, FakeWolkvox, Fault

COMMAND = [sys.executable, "-m", "wolkvox_async"]
SEED = helpers.seed()
JOURNEYS = int(os.environ.get("WOLKVOX_JOURNEYS", "4"))
ONLY = os.environ.get("WOLKVOX_JOURNEY")
LIMIT = 1.0
"""Seconds the simulators run one call (Wolkvox: 60), and the commands are told so: a
killed command's calls, and its slots in the ledger, are over 1 s later."""
STEP_TIMEOUT = 90.0
"""No command may take longer (a silent wait of minutes is a failure)."""
SPANS = [("2026-05-01", "2026-07-31"), ("2026-06-15", "2026-06-15"), ("2026-05-31", "2026-06-01")]
"""The exports' date spans (three 31-day windows; one whole day; two days across a month)."""


def ctrl_c_reaches_it() -> None:
    """In the child: Ctrl-C interrupts it, as in a terminal's foreground (pytest run in the
    background hands its children SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# ---- the world: simulators, files, loads and exports ---------------------------------


class Simulator:
    """A FakeWolkvox on a thread and a port of its own, stopped and started again with
    its state (an outage: the same address, the same campaigns); a campaign per file of
    leads, and one of call results."""

    def __init__(self, name: str, rng: Random) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = FakeWolkvox(
            licenses=10, port=free_port(), call_limit=LIMIT, seed=rng.randrange(1 << 30)
        )
        self.up = False
        self.start()
        self.leads = {fmt: self.fake.create_campaign(name=f"Leads {fmt}").id for fmt in FORMATS}
        results = self.fake.create_campaign(name="Results")
        self.results = results.id
        results.add_attempts(_attempts(name, rng))

    def _do(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def start(self) -> None:
        self._do(self.fake.start())
        self.up = True

    def stop(self) -> None:
        self._do(self.fake.close())  # calls running are cut: their answers are lost
        self.up = False

    def close(self) -> None:
        if self.up:
            self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()

    def inject(self, fault: Fault, api: str) -> None:
        self.loop.call_soon_threadsafe(lambda: self.fake.inject(fault, api=api))

    def env(self, base: dict[str, str]) -> dict[str, str]:
        fake = self.fake
        return {
            **base,
            "WOLKVOX_SERVER": fake.server,
            "WOLKVOX_TOKEN": fake.token,
            "WOLKVOX_BASE_URL": fake.url,
        }

    def records(self, campaign_id: str) -> list[tuple[str, str]]:
        return [
            (r.get("customer_id", ""), r.get("tel1", ""))
            for r in list(self.fake.campaign(campaign_id).records)
        ]


def _attempts(name: str, rng: Random) -> list[Attempt]:
    """Call results from 20 April to 10 August, and one at each edge of every span: its
    first and last second, and the seconds just outside."""
    start = datetime(2026, 4, 20)
    moments = [start + timedelta(seconds=rng.randrange(112 * 86_400)) for _ in range(2_500)]
    for first, last in SPANS:
        begin = datetime.fromisoformat(first)
        end = datetime.fromisoformat(last) + timedelta(days=1)
        moments += [begin, begin - timedelta(seconds=1), end - timedelta(seconds=1), end]
    return [
        Attempt(at=at, conn_id=f"{name}-{i:05d}", customer_id="c1", telephone="3", result="BUSY")
        for i, at in enumerate(moments)
    ]


FORMATS = ("jsonl", "csv")


class Leads:
    """A file of leads as the user has it now, its earlier versions, and every record any
    version held. A row may be invalid (JSONL: a field too long; CSV: a cell missing)."""

    def __init__(self, folder: Path, fmt: str, rng: Random) -> None:
        self.fmt = fmt
        self.path = folder / f"leads.{fmt}"
        self.rows: list[tuple[str, str, bool]] = []  # (customer_id, tel1, valid)
        self.versions: list[list[tuple[str, str, bool]]] = []
        self.ever: set[tuple[str, str]] = set()
        self.made = 0
        self.add(rng.randrange(300, 1_300))
        if rng.random() < 0.3:
            self.break_row(rng)
        self.write()

    def add(self, n: int) -> None:
        for _ in range(n):
            self.made += 1
            self.rows.append((f"{self.fmt}{self.made}", f"300{self.made:07d}", True))

    def break_row(self, rng: Random) -> None:
        i = rng.randrange(len(self.rows))
        self.rows[i] = (*self.rows[i][:2], False)

    def write(self) -> None:
        self.versions.append(list(self.rows))
        self.ever |= {(cid, tel) for cid, tel, ok in self.rows if ok}
        if self.fmt == "jsonl":
            lines = []
            for cid, tel, ok in self.rows:
                row = {"customer_id": cid, "tel1": tel}
                if not ok:
                    row["opt7"] = "x" * 201  # Wolkvox takes 200 characters
                lines.append(json.dumps(row) + "\n")
            self.path.write_text("".join(lines))
        else:
            lines = ["id,name,phone\n"]
            for cid, tel, ok in self.rows:
                lines.append(f"{cid},Name {cid},{tel}\n" if ok else f"{cid},{tel}\n")
            self.path.write_text("".join(lines))

    def valid(self) -> Counter[tuple[str, str]]:
        return Counter((cid, tel) for cid, tel, ok in self.rows if ok)

    @property
    def has_bad(self) -> bool:
        return not all(ok for _, _, ok in self.rows)

    def change(self, rng: Random) -> str:
        """Change the file as users do: more leads, a bad row fixed, a phone corrected."""
        bad = [i for i, (_, _, ok) in enumerate(self.rows) if not ok]
        choice = rng.random()
        if bad and choice < 0.5:
            i = rng.choice(bad)
            self.rows[i] = (*self.rows[i][:2], True)
            said = f"fixed row {i + 1}"
        elif choice < 0.8:
            n = rng.randrange(1, 200)
            self.add(n)
            said = f"appended {n} rows"
        else:
            i = rng.randrange(len(self.rows))
            cid, tel, ok = self.rows[i]
            self.rows[i] = (cid, tel[:-1] + str((int(tel[-1]) + 1) % 10), ok)
            said = f"corrected the phone of row {i + 1}"
        self.write()
        return said

    def revert(self) -> bool:
        """Put the file back as it was before its last change (False: there was none)."""
        if len(self.versions) < 2:
            return False
        self.versions.pop()
        self.rows = list(self.versions.pop())
        self.write()
        return True


@attrs.define(eq=False)
class Job:
    """A load or an export as the user knows it: the command that starts it, and the
    commands the last run of it printed (to run next)."""

    sim: Simulator
    argv: list[str]
    next: list[list[str]] = attrs.field(factory=list)
    done: bool = False
    started: bool = False
    twin: Job = attrs.field(default=None, repr=False)
    """The same command against the other simulator."""

    @property
    def name(self) -> str:
        return f"{self.argv[0]} on {self.sim.name}"


@attrs.define(eq=False)
class Load(Job):
    leads: Leads | None = None
    campaign: str = ""


@attrs.define(eq=False)
class Export(Job):
    output: Path = Path()
    fmt: str = "csv"
    span: tuple[str, str] = ("", "")
    completed_at: float | None = None
    """When a run of it exited 0: every read of it was delivered."""
    killed_at: float | None = None
    """When a run of it reading windows was SIGKILLed."""
    parked: bool = False
    """A continuation refused for the polling rule after a SIGKILL: its 5 minutes are
    documented; the journey cannot wait them."""

    def expected(self) -> Counter[str]:
        first = datetime.fromisoformat(self.span[0])
        last = datetime.fromisoformat(self.span[1]) + timedelta(days=1, seconds=-1)
        camp = self.sim.fake.campaign(self.sim.results)
        return Counter(a.conn_id for a in camp.attempts if first <= a.at <= last)

    def written(self) -> Counter[str]:
        text = self.output.read_text(encoding="utf-8")
        if self.fmt == "jsonl":
            return Counter(json.loads(line)["conn_id"] for line in text.splitlines())
        return Counter(row["conn_id"] for row in csv.DictReader(text.splitlines()))

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.output.parent.glob(self.output.name + ".partial*"))


# ---- one run of a command ------------------------------------------------------------


@attrs.define(eq=False)
class Run:
    """A command started in the background; its output read as it comes."""

    job: Job
    argv: list[str]
    proc: subprocess.Popen[str]
    began: float
    out: list[str] = attrs.field(factory=list)
    err: list[str] = attrs.field(factory=list)
    readers: list[threading.Thread] = attrs.field(factory=list)
    signalled: signal.Signals | None = None
    signalled_at: float = 0.0
    reading: bool = False
    """For an export signalled: its checkpoint existed then (a read may have been out)."""
    code: int | None = None

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def finish(self) -> int:
        try:
            self.code = self.proc.wait(STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"{shlex.join(self.argv)}: still running after {STEP_TIMEOUT} s"
            ) from None
        for reader in self.readers:
            reader.join(30)
        return self.code


def _pump(stream: Any, into: list[str]) -> None:
    with stream:
        for line in stream:
            into.append(line)


class Journey:
    """One user's journey: its world, its steps, the checks after each."""

    def __init__(self, index: int, folder: Path) -> None:
        self.index = index
        self.rng = Random(f"{SEED}-{index}")
        self.folder = folder
        self.began = time.monotonic()
        self.transcript: list[str] = []
        rng = self.rng
        self.sims = [Simulator("test", rng), Simulator("production", rng)]
        self.base = {
            **os.environ,
            "XDG_STATE_HOME": str(folder / "state"),
            "WOLKVOX_SERVER_LIMIT": str(LIMIT),
            "COLUMNS": "250",  # one line per message, as a wide terminal shows it
        }
        self.files = {fmt: Leads(folder, fmt, rng) for fmt in FORMATS}
        self.loads: list[Load] = []
        self.exports: list[Export] = []
        for sim in self.sims:
            for fmt, leads in self.files.items():
                argv = ["upload", sim.leads[fmt], str(leads.path), "--chunk-size", "100"]
                if fmt == "csv":
                    argv += ["--map", "customer_id=id", "--map", "tel1=phone"]
                if rng.random() < 0.2:
                    argv.append("--skip-invalid")
                self.loads.append(Load(sim, argv, leads=leads, campaign=sim.leads[fmt]))
            for n, span in enumerate(SPANS):
                fmt = rng.choice(["csv", "jsonl"])
                output = folder / f"{sim.name}-{n}.{fmt}"
                argv = ["export", "campaign_3", sim.results, "--start", span[0]]
                argv += ["--end", span[1], "--format", fmt, "-o", str(output)]
                self.exports.append(Export(sim, argv, output=output, fmt=fmt, span=span))

        half = len(self.loads) // 2
        for a, b in zip(self.loads[:half], self.loads[half:], strict=True):
            a.twin, b.twin = b, a
        half = len(self.exports) // 2
        for c, d in zip(self.exports[:half], self.exports[half:], strict=True):
            c.twin, d.twin = d, c

    def close(self) -> None:
        for sim in self.sims:
            sim.close()

    def say(self, line: str) -> None:
        self.transcript.append(f"{time.monotonic() - self.began:7.2f}s  {line}")

    def story(self) -> str:
        return (
            f"journey {self.index} (replay: WOLKVOX_TEST_SEED={SEED} "
            f"WOLKVOX_JOURNEY={self.index}):\n" + "\n".join(self.transcript)
        )

    # ---- running commands -------------------------------------------------------------

    def launch(self, job: Job, argv: list[str]) -> Run:
        if self.rng.random() < 0.15 and "--json" not in argv:
            argv = ["--json", *argv]
        proc = subprocess.Popen(
            [*COMMAND, *argv],
            env=job.sim.env(self.base),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=ctrl_c_reaches_it,
        )
        run = Run(job, argv, proc, time.monotonic())
        assert proc.stdout is not None and proc.stderr is not None
        for stream, into in ((proc.stdout, run.out), (proc.stderr, run.err)):
            reader = threading.Thread(target=_pump, args=(stream, into), daemon=True)
            reader.start()
            run.readers.append(reader)
        job.started = True
        self.say(f"[{job.sim.name}] $ wolkvox {shlex.join(argv)}   (pid {proc.pid})")
        return run

    def signal(self, run: Run, sig: signal.Signals) -> None:
        if run.proc.poll() is not None:
            return
        run.signalled, run.signalled_at = sig, time.monotonic()
        if isinstance(run.job, Export):
            run.reading = Path(str(run.job.output) + ".partial.json").exists()
        run.proc.send_signal(sig)
        self.say(f"    {sig.name} to pid {run.proc.pid}")

    def moment(self, run: Run) -> None:
        """Wait for a random moment of ``run``: at a random time (often before its first
        request), or once it has done some of its work."""
        rng = self.rng
        if rng.random() < 0.4:
            time.sleep(rng.uniform(0, 1.2))
            return
        deadline = time.monotonic() + 20
        job = run.job
        if isinstance(job, Load):
            before = len(job.sim.fake.campaign(job.campaign).records)
            goal = before + rng.randrange(1, 1_000)

            def reached() -> bool:
                return len(job.sim.fake.campaign(job.campaign).records) >= goal
        else:
            assert isinstance(job, Export)
            checkpoint = Path(str(job.output) + ".partial.json")
            want_rows = rng.random() < 0.5

            def reached() -> bool:
                if not checkpoint.exists():
                    return False
                if not want_rows:
                    return True
                try:
                    return json.loads(checkpoint.read_text())["through"] is not None
                except (ValueError, KeyError, OSError):
                    return False

        while not reached() and run.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.003)
        time.sleep(rng.uniform(0, 0.05))

    def finish(self, run: Run) -> None:
        """Wait for ``run`` to end and judge what it did."""
        code = run.finish()
        said = " ".join(run.stderr.split())
        self.say(f"    pid {run.proc.pid} -> exit {code}: {said[-700:]}")
        self.judge(run, code)

    def do(self, job: Job, argv: list[str]) -> Run:
        run = self.launch(job, argv)
        self.finish(run)
        return run

    # ---- the checks -------------------------------------------------------------------

    def check_world(self) -> None:
        """What holds after every step, whatever ran."""
        for sim in self.sims:
            fake = sim.fake
            assert fake.stats.peak_in_flight[fake.token] <= 2, fake.stats
            assert fake.stats.refusals["simultaneous"] == 0, fake.stats.refusals
            for fmt, campaign_id in sim.leads.items():
                held = Counter(sim.records(campaign_id))
                twice = [cid for cid, n in Counter(c for c, _ in held.elements()).items() if n > 1]
                assert not twice, f"{sim.name} campaign {campaign_id} holds twice: {twice[:5]}"
                strangers = set(held) - self.files[fmt].ever
                assert not strangers, f"{sim.name} campaign {campaign_id}: {list(strangers)[:5]}"

    def judge(self, run: Run, code: int) -> None:
        text = "".join(run.out) + run.stderr
        said = " ".join(run.stderr.split())
        for sim in self.sims:
            assert sim.fake.token not in text, "a token was printed"
        job = run.job
        again = [a for a in run.argv if a != "--json"]
        if run.signalled is signal.SIGINT and code == -signal.SIGINT and _starting(run.stderr):
            # Ctrl-C while Python imports the package, before any code of the command
            # runs: Python's own traceback (see the report of issue 30, item 10).
            job.next = [again]
            return
        assert "Traceback" not in text, run.stderr
        assert "Unclosed" not in text and "ERROR asyncio" not in text, run.stderr
        if isinstance(job, Export) and job.output.exists() and not job.leftovers():
            # However it ended, its file is there: it must be whole (signalled as it
            # ended, a run may have done all of it).
            assert job.written() == job.expected(), f"{job.output.name} is not whole"
            job.done, job.completed_at = True, job.completed_at or time.monotonic()
        if run.signalled is not None and code == -run.signalled:
            # Killed (SIGKILL; SIGTERM before the command could handle it): nothing said,
            # the user runs the same command again.
            assert run.signalled is signal.SIGKILL or not said, said
            job.next = [again]
            if isinstance(job, Export) and run.reading:
                job.killed_at = run.signalled_at
            return
        if run.signalled in (signal.SIGINT, signal.SIGTERM) and code in (130, 143):
            assert code == (130 if run.signalled is signal.SIGINT else 143), said
            printed = commands(run.stderr)
            if said == "interrupted":  # as it started: nothing done, nothing to continue
                printed = [again]
            assert printed, f"interrupted without the command that continues: {said}"
            job.next = printed
            return
        assert code in (0, 2, 3, 4), f"exit {code}: {said}"
        if isinstance(job, Load):
            self.judge_load(job, run, code, said)
        else:
            assert isinstance(job, Export)
            self.judge_export(job, run, code, said)

    def judge_load(self, job: Load, run: Run, code: int, said: str) -> None:
        assert job.leads is not None
        held = Counter(job.sim.records(job.campaign))
        if code == 0:
            want = job.leads.valid()
            assert held == want, (
                f"exit 0, but campaign {job.campaign} on {job.sim.name} holds "
                f"{sum(held.values())} records, {len(set(held) - set(want))} not in the file "
                f"and {len(set(want) - set(held))} of the file missing"
            )
            job.done, job.next = True, []
            return
        job.done = False
        printed = commands(run.stderr)
        if "is running (pid" in said:
            assert code == 2 and "--resume" not in said, said  # issue 30, item 1
            assert printed, said
            job.next = printed
        elif "changed since it was loaded" in said:  # a finished load, its file changed since
            assert code == 2, said
            job.next = [[*job.argv, "--restart"]]
        elif "no stopped load of" in said:  # --resume with nothing to resume
            assert code == 2 and "run without --resume" in said, said
            job.next = [list(job.argv)]
        elif printed:
            job.next = printed
        else:
            raise AssertionError(f"exit {code} without a command to run next: {said}")

    def judge_export(self, job: Export, run: Run, code: int, said: str) -> None:
        if code == 0:
            written = job.written()
            assert written == job.expected(), (
                f"exit 0, but {job.output.name} has {sum(written.values())} rows, "
                f"{sum((written - job.expected()).values())} extra, "
                f"{sum((job.expected() - written).values())} missing"
            )
            assert not job.leftovers(), job.leftovers()
            job.done, job.next, job.completed_at = True, [], time.monotonic()
            return
        printed = commands(run.stderr)
        if code == 3:
            self.judge_polling(job, said)
            return
        if "is running (pid" in said:  # another export into the same file: let it end
            assert code == 2 and "--resume" not in said, said
            job.next = [[a for a in run.argv if a != "--json"]]
        elif "no stopped export into" in said:
            assert code == 2, said
            job.next = [] if job.done else [job.argv]
        elif printed:
            job.next = printed
        else:
            # Nothing written, nothing kept: the same command starts it again.
            assert code == 4 and not job.leftovers(), (said, job.leftovers())
            job.next = [job.argv]

    def judge_polling(self, job: Export, said: str) -> None:
        """Exit 3 for the polling rule: only for a read delivered within 5 minutes."""
        found = re.search(r"within its polling interval; retry at (\S+)", said)
        assert found, f"exit 3: {said}"
        retry_at = datetime.fromisoformat(found.group(1))
        wait = (retry_at - datetime.now(UTC)).total_seconds()
        assert wait <= 300 + 1, said
        if job.completed_at is not None:  # it read every window of it: nothing is lost
            assert job.written() == job.expected()  # the output was left as it was
            job.next = []
            return
        assert job.killed_at is not None, (
            "refused for 5 minutes, but no read of this export was delivered: it was "
            f"never completed nor killed ({said})"
        )
        # docs/cli.md: after a SIGKILL a read it had in flight may wait its 5 minutes,
        # counted on the SQLite ledger's time. With the killed command's leases still live
        # in it, a newcomer takes the ledger's time as it stands but no more than
        # SKEW_ALLOWED (the commands' leases live ~1.6 s here) behind its own clock, so
        # that a host clock ahead cannot end them early (scheduler/_sqlite_ledger.py): the
        # wait ends at most 5 minutes + SKEW_ALLOWED after the kill, however late the
        # next command comes (seed 1171405315, journey 3: 299 s, 8 s after the kill).
        assert wait <= 300 + 2, said
        killed_wall = time.time() - (time.monotonic() - job.killed_at)
        assert retry_at.timestamp() - killed_wall <= 300 + SKEW_ALLOWED + 2, said
        job.parked, job.next = True, []
        self.say(f"    (left: its 5 minutes after the SIGKILL end at {retry_at:%H:%M:%S})")

    # ---- the steps --------------------------------------------------------------------

    def pick_job(self) -> Job:
        jobs: list[Job] = [*self.loads, *(e for e in self.exports if not e.parked)]
        pending = [j for j in jobs if j.next]
        if pending and self.rng.random() < 0.4:
            return self.rng.choice(pending)
        started = [j for j in jobs if j.started]
        if started and self.rng.random() < 0.5:
            return self.rng.choice(started)
        return self.rng.choice(jobs)

    def command_for(self, job: Job) -> list[str]:
        """What the user runs for ``job`` now: what it printed last (mostly), else the
        command as first typed, sometimes with --resume."""
        rng = self.rng
        if job.next and rng.random() < 0.8:
            return self.follow(job)
        if rng.random() < 0.25:
            return [*job.argv, "--resume"]
        return list(job.argv)

    def follow(self, job: Job) -> list[str]:
        """A printed command, and what the message says to do before it."""
        argv = self.rng.choice(job.next)
        if isinstance(job, Load) and "--yes" in argv:
            # "they would be in the campaign twice unless it was cleared": clear it first.
            self.helper(job.sim, ["campaigns", "clear", job.campaign])
        return argv

    def helper(self, sim: Simulator, argv: list[str]) -> None:
        """A command the user runs on the side (clearing a campaign): it just works."""
        self.say(f"[{sim.name}] $ wolkvox {shlex.join(argv)}")
        done = subprocess.run(
            [*COMMAND, *argv],
            env=sim.env(self.base),
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
        )
        assert done.returncode == 0, done.stderr

    def step(self) -> None:
        rng = self.rng
        acts: list[tuple[float, Callable[[], None]]] = [
            (4, self.act_run),
            (3, self.act_interrupt),
            (2, self.act_beside),
            (1.5, self.act_outage),
            (1, self.act_change),
            (1, self.act_network),
        ]
        act = rng.choices([a for _, a in acts], [w for w, _ in acts])[0]
        act()
        self.check_world()

    def act_run(self) -> None:
        job = self.pick_job()
        self.do(job, self.command_for(job))

    def act_interrupt(self) -> None:
        job = self.pick_job()
        run = self.launch(job, self.command_for(job))
        self.moment(run)
        self.signal(
            run, self.rng.choice([signal.SIGINT, signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
        )
        self.finish(run)

    def act_beside(self) -> None:
        """A second command while one runs: the same one (plain, --resume, --wait), the
        same on the other simulator, or another job on the same simulator."""
        rng = self.rng
        job = self.pick_job()
        first = self.launch(job, self.command_for(job))
        self.moment(first)
        choice = rng.random()
        if choice < 0.6:
            other = job
            argv = list(job.argv)
            extra = rng.choice([[], ["--resume"], ["--wait"] if isinstance(job, Load) else []])
            argv += extra
        elif choice < 0.8:  # the same command against the other simulator
            other = job.twin
            argv = self.command_for(other)
        else:
            others = [
                j
                for j in (*self.loads, *self.exports)
                if j.sim is job.sim and j is not job and not (isinstance(j, Export) and j.parked)
            ]
            other = rng.choice(others)
            argv = self.command_for(other)
        second = self.launch(other, argv)
        if rng.random() < 0.3:
            self.moment(second)
            self.signal(rng.choice([first, second]), rng.choice([signal.SIGINT, signal.SIGKILL]))
        self.finish(first)
        self.finish(second)

    def act_outage(self) -> None:
        """The simulator stopped and started again on its port while a command runs."""
        rng = self.rng
        job = self.pick_job()
        run = self.launch(job, self.command_for(job))
        self.moment(run)
        sim = job.sim
        sim.stop()
        down = rng.uniform(0.1, 2.5)
        self.say(f"    {sim.name} stopped for {down:.1f} s")
        time.sleep(down)
        sim.start()
        self.finish(run)

    def act_change(self) -> None:
        leads = self.rng.choice(list(self.files.values()))
        self.say(f"    {leads.path.name}: {leads.change(self.rng)}")
        for load in self.loads:
            if load.leads is leads:
                load.done = False

    def act_network(self) -> None:
        """A slower or faster network; now and then an answer lost after the request."""
        rng = self.rng
        sim = rng.choice(self.sims)
        sim.fake.latency = rng.choice([0.0, (0.005, 0.03), (0.02, 0.1), (0.05, 0.25)])
        self.say(f"    {sim.name}: latency {sim.fake.latency}")
        if rng.random() < 0.3:
            api = rng.choice(["add_record", "campaign_3"])
            sim.inject(Fault.RESET, api)
            self.say(f"    {sim.name}: the next {api} answer is lost")

    # ---- the end ----------------------------------------------------------------------

    def settle(self) -> None:
        """Follow every printed command to its end; then every job that ran is done."""
        for job in [*self.loads, *self.exports]:
            if isinstance(job, Export) and job.parked:
                continue
            if not job.started:
                continue
            for _ in range(8):
                if job.done and not job.next:
                    break
                argv = self.follow(job) if job.next else list(job.argv)
                self.do(job, argv)
                self.check_world()
                if isinstance(job, Export) and job.parked:
                    break
                if isinstance(job, Load) and not job.done and job.leads is not None:
                    self.user_acts_on(job)
            else:
                raise AssertionError(f"{job.name}: 8 printed commands followed, never done")

    def user_acts_on(self, job: Load) -> None:
        """What a message asks of the user beside a command (the file put back)."""


def _starting(stderr: str) -> bool:
    """A KeyboardInterrupt raised while ``python -m wolkvox_async`` imports the package."""
    lines = stderr.strip().splitlines()
    return bool(lines) and lines[-1] == "KeyboardInterrupt" and "_get_module_details" in stderr


_PRINTED = re.compile(r"wolkvox (?:-[-\w]+(?:=\S+)? (?:[^-\s]\S* )?)*(upload|export|campaigns) ")


def commands(stderr: str) -> list[list[str]]:
    """The ``wolkvox`` commands a message says to run next, as the user would paste them."""
    found = []
    for line in stderr.splitlines():
        at = line.find("wolkvox ")
        # Options given before the subcommand are repeated in it (`wolkvox --json upload`).
        while at >= 0 and not re.match(_PRINTED, line[at:]):
            at = line.find("wolkvox ", at + 1)
        if at < 0:
            continue
        text = line[at:].split("   (")[0].strip()
        words = shlex.split(text)
        found.append(words[1:])
    return found


@pytest.fixture
def journey(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journey]:
    trip = Journey(request.param, tmp_path)
    try:
        yield trip
    finally:
        trip.close()


INDEXES = [int(ONLY)] if ONLY is not None else list(range(JOURNEYS))


@pytest.mark.slow
@pytest.mark.parametrize("journey", INDEXES, indirect=True, ids=lambda i: f"journey{i}")
def test_journey(journey: Journey) -> None:
    print(f"seed {SEED}, journey {journey.index}")
    rng = journey.rng
    try:
        for _ in range(rng.randrange(6, 11)):
            journey.step()
        journey.settle()
    except BaseException as exc:
        raise AssertionError(f"{exc}\n\n{journey.story()}") from exc
