"""The upload journal (bulk/_journal.py): it names its load — server, operation, campaign,
type, chunk size — so a journal of another load is never taken for this one; a path that
cannot be a journal, and a disk that fills mid-load, are JournalErrors naming the file and
what to do, before anything is sent where they can be found first; counts against a
stream's known total."""

from __future__ import annotations

import resource
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_accounted, worker

import wolkvox_async as w
from wolkvox_async import Record, WolkvoxClient
from wolkvox_async.testing import FakeWolkvox, serving_in_thread


def records(n: int) -> list[Record]:
    return [Record(customer_id=f"j{i}", phones=(f"300{i:07d}",)) for i in range(n)]


def client_for(fake: FakeWolkvox, **kw: Any) -> WolkvoxClient:
    return WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url, **kw)


async def test_a_finished_journal_of_another_server_is_refused_not_taken_as_loaded(
    tmp_path: Path,
) -> None:
    # Main today: "already finished", nothing sent, and the second server holds nothing.
    journal = tmp_path / "load.journal"
    async with FakeWolkvox() as test_server, FakeWolkvox() as production:
        first, other = test_server.create_campaign(), production.create_campaign()
        assert first.id == other.id  # each server's first campaign: the same number
        async with client_for(test_server) as wv:
            assert (await wv.upload_records(first.id, records(50), journal=journal)).complete
        async with client_for(production) as wv:
            with pytest.raises(w.ConfigError, match="belongs to another load: its server") as e:
                await wv.upload_records(other.id, records(50), journal=journal)
        assert test_server.url.removeprefix("http://") in str(e.value)
        assert production.url.removeprefix("http://") in str(e.value)
        assert production.stats.requests == 0 and not other.records


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"campaign_type": "preview"}, "campaign type 'predictive' (this load: 'preview')"),
        ({"chunk_size": 20}, "chunk size 50 (this load: 20)"),
        ({"campaign": True}, "campaign"),
    ],
)
async def test_a_journal_of_other_options_is_refused_naming_them(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    journal = tmp_path / "load.journal"
    async with FakeWolkvox() as fake:
        camp, preview = fake.create_campaign(), fake.create_campaign(type="preview")
        async with client_for(fake) as wv:
            await wv.upload_records(camp.id, records(50), chunk_size=50, journal=journal)
            sent = fake.stats.requests
            options: dict[str, Any] = {"chunk_size": 50, **change}
            target = camp.id
            if options.pop("campaign", False) or options.get("campaign_type") == "preview":
                target = preview.id
            with pytest.raises(w.ConfigError, match="belongs to another load") as info:
                await wv.upload_records(target, records(50), journal=journal, **options)
        assert named in str(info.value)
        assert fake.stats.requests == sent


async def test_a_journal_written_before_it_named_its_server_still_resumes(tmp_path: Path) -> None:
    # A journal of version 0.2 names its campaign and chunk size only: what it does not
    # name is not a difference, and the resume writes the whole identity.
    journal = tmp_path / "old.journal"
    conn = sqlite3.connect(journal)
    conn.executescript(
        "CREATE TABLE job (spec TEXT NOT NULL);"
        "CREATE TABLE chunks (idx INTEGER PRIMARY KEY, state TEXT NOT NULL,"
        " landed INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        """INSERT INTO job VALUES ('{"campaign": "7001", "chunk_size": 50}');"""
        "INSERT INTO chunks VALUES (0, 'done', 50);"
    )
    conn.commit()
    conn.close()
    async with FakeWolkvox() as fake:
        camp = fake.create_campaign()
        camp.add_records([{"customer_id": f"j{i}", "tel1": "3"} for i in range(50)])
        async with client_for(fake) as wv:
            report = await wv.upload_records(camp.id, records(120), chunk_size=50, journal=journal)
    assert report.complete and len(camp.records) == 120
    meta = w.bulk._journal.read_meta(journal)
    assert meta is not None and meta["job"]["server"] == fake.url.removeprefix("http://")


def _under_a_file(path: Path) -> None:
    path.parent.rmdir()
    path.parent.write_text("a file where the journal's folder should be")


def _another_programs_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.mkdir(), "it is a folder"),
        (lambda p: p.write_text("customer_id,tel1\n1,3\n"), "not an upload journal"),
        (_another_programs_database, "another program's database (tables invoices)"),
        (_under_a_file, "File exists"),
    ],
    ids=["folder", "text", "other-db", "under-a-file"],
)
async def test_a_path_that_cannot_be_a_journal_is_refused_before_anything_is_sent(
    tmp_path: Path, make: Any, says: str
) -> None:
    # Main today: raw sqlite3 errors (or another program's database changed under it).
    journal = tmp_path / "state" / "load.journal"
    journal.parent.mkdir()
    make(journal)
    before = journal.read_bytes() if journal.is_file() else None
    async with FakeWolkvox() as fake:
        camp = fake.create_campaign()
        async with client_for(fake) as wv:
            with pytest.raises(w.JournalError) as info:
                await wv.upload_records(camp.id, records(10), journal=journal)
        assert fake.stats.requests == 0
    assert str(journal) in str(info.value) and says in str(info.value)
    assert "journal path" in info.value.fix
    assert before is None or journal.read_bytes() == before  # not ours: untouched


@pytest.mark.slow
def test_a_disk_that_fills_mid_load_is_a_journal_error_and_the_resume_is_exact(
    tmp_path: Path,
) -> None:
    """The worker may write 150 KB per file (RLIMIT_FSIZE, as a full disk answers): its
    journal's WAL outgrows that mid-load. A JournalError naming the file and the fix, not a
    sqlite3 traceback; then the load, run again with room, lands every record once."""
    journal = tmp_path / "load.journal"

    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))

    with serving_in_thread(licenses=10) as fake:
        camp = fake.create_campaign()
        args = [sys.executable, worker("upload_worker.py"), fake.url, fake.token, camp.id]
        args += ["6000", str(journal), "-", "100"]
        full = subprocess.run(
            args, preexec_fn=full_disk, capture_output=True, text=True, timeout=120
        )
        assert full.returncode == 1, full.stdout + full.stderr
        [said] = [
            line
            for line in full.stderr.splitlines()
            if line.startswith("wolkvox_async.bulk._outcomes.JournalError: journal ")
        ]
        assert str(journal) in said and "the disk is full or failing" in said
        assert "sqlite3.OperationalError" not in full.stderr  # no raw traceback of it
        assert "free some space" in full.stderr
        assert 0 < len(camp.records) < 6_000
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        landed = Counter(r["customer_id"] for r in camp.records)
    assert landed == Counter(f"k{i}" for i in range(6_000))


async def test_a_stream_of_known_length_is_counted_against_it() -> None:
    # Main today, a 1,000-row stream stopped by the quota says "200 of 400 records landed,
    # 200 pending": the 600 rows never read are in no count.
    def stream() -> Iterator[Record]:
        yield from records(1_000)

    async with FakeWolkvox() as fake:
        fake.world.operations[fake.server].daily_quota = 2
        camp = fake.create_campaign()
        async with client_for(fake) as wv:
            with pytest.raises(w.TokenLimitExceeded) as info:
                await wv.upload_records(
                    camp.id, stream(), chunk_size=100, total=1_000, campaign_status="stop"
                )
    report = info.value.upload_report
    assert report is not None and report.records_landed == len(camp.records) == 200
    assert report.records_total == report.records_read == 1_000
    assert report.records_unread > 0
    assert report.records_pending == 800
    assert_accounted(report)
    assert (
        f"200 of 1,000 records landed, 800 pending (not in the campaign; "
        f"{report.records_unread:,} of them not yet read)" in report.summary()
    )


async def test_a_rejected_row_says_its_row_once() -> None:
    rows: list[Any] = [{"customer_id": str(i), "tel1": "3"} for i in range(5)]
    rows[2] = {"customer_id": "2", "opt7": "x" * 201}
    async with FakeWolkvox() as fake:
        camp = fake.create_campaign()
        async with client_for(fake) as wv:
            report = await wv.upload_records(camp.id, rows, on_invalid="skip")
    [failure] = report.failures
    assert failure.row == 3 and failure.reason.startswith("opt7 "), failure
