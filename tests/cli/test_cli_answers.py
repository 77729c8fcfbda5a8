"""What the ``wolkvox`` command shows of Wolkvox's answers, in real subprocesses against
FakeWolkvox (on a thread): an answer that is not Wolkvox's is an error (exit 4), never
"(nothing)" or an empty file; ``find`` reads at 80 columns; ``quota`` shows the server's
limit after its TOKEN LIMIT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wolkvox_async.testing import FakeWolkvox


@pytest.fixture
def env(served: FakeWolkvox, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "WOLKVOX_SERVER": served.server,
        "WOLKVOX_TOKEN": served.token,
        "WOLKVOX_BASE_URL": served.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


def wolkvox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "wolkvox_async", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert env["WOLKVOX_TOKEN"] not in done.stdout + done.stderr
    return done


# ---- a base URL whose path is wrong -----------------------------------------------------


def test_find_with_a_wrong_base_url_path_exits_4_naming_the_url(
    served: FakeWolkvox, env: dict[str, str]
) -> None:
    served.create_campaign()
    wrong = {**env, "WOLKVOX_BASE_URL": served.url + "/wrong"}
    found = wolkvox(wrong, "find", "--customer-id", "c1")
    assert found.returncode == 4, found.stderr
    assert "(nothing)" not in found.stdout and found.stdout == ""
    url = f"{served.url}/wrong/api/v2/campaign.php?api=find_record&customer_id=c1"
    assert url in found.stderr
    assert "text/plain" in found.stderr and "'404: Not Found'" in found.stderr
    assert "WOLKVOX_BASE_URL" in found.stderr  # where the wrong URL came from
    as_json = wolkvox(wrong, "--json", "find", "--customer-id", "c1")
    assert as_json.returncode == 4
    error = json.loads(as_json.stdout)["error"]  # not []
    assert error["exit_code"] == 4 and url in error["message"]
    # The right base URL: no hit is still an empty answer, exit 0.
    nothing = wolkvox(env, "--json", "find", "--customer-id", "c1")
    assert nothing.returncode == 0 and json.loads(nothing.stdout) == []


@pytest.mark.parametrize("output", ["csv", "jsonl"])
def test_export_with_a_wrong_base_url_path_writes_nothing_and_exits_4(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, output: str
) -> None:
    camp = served.create_campaign()
    wrong = {**env, "WOLKVOX_BASE_URL": served.url + "/wrong"}
    target = tmp_path / f"results.{output}"
    args = ["export", "campaign_3", camp.id, "--start", "2026-11-01", "--end", "2026-11-03"]
    done = wolkvox(wrong, *args, "--format", output, "-o", str(target))
    assert done.returncode == 4, done.stderr
    assert f"{served.url}/wrong/api/v2/reports_manager.php?api=campaign_3" in done.stderr
    assert "'404: Not Found'" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]  # nothing written


# ---- find at 80 columns -------------------------------------------------------------------


def _load(served: FakeWolkvox, campaigns: int, **fields: object) -> list[str]:
    """The same customer in ``campaigns`` campaigns (a phone search finds them all)."""
    record = {
        "customer_id": "C1",
        "customer_name": "María José [/b]",  # brackets: text, not rich markup
        "customer_last_name": "Rodríguez Pérez",
        "tel1": "+573001234567",
        "tel2": "3109876543",
        "tel3": "+576015551234",
        "opt1": "gold",
        **fields,
    }
    made = []
    for _ in range(campaigns):
        camp = served.create_campaign()
        camp.records.append({k: str(v) for k, v in record.items()})
        made.append(camp.id)
    return made


def assert_readable(out: str, width: int = 80) -> None:
    assert "…" not in out  # nothing cut
    for line in out.splitlines():
        assert len(line) <= width, line
    for phone in ("+573001234567", "3109876543", "+576015551234"):
        assert phone in out  # whole, never split or cut
    assert "[/b]" in out


@pytest.mark.parametrize("campaigns", [1, 3, 6])
def test_find_is_readable_at_80_columns(
    served: FakeWolkvox, env: dict[str, str], campaigns: int
) -> None:
    ids = _load(served, campaigns)
    done = wolkvox({**env, "COLUMNS": "80"}, "find", "--phone", "3109876543")
    assert done.returncode == 0, done.stderr
    assert_readable(done.stdout)
    for cid in ids:
        assert cid in done.stdout
    if campaigns <= 3:  # one field per line, each named in full
        assert done.stdout.count("customer_last_name  Rodríguez Pérez") == campaigns
        assert f"record {campaigns} of {campaigns}" in done.stdout
    else:  # a table of the fields that tell the hits apart, each header once
        header = done.stdout.splitlines()[0].split()
        assert header == ["campaign", "customer", "name", "phones"]  # (no calls yet)
        assert done.stdout.count("+576015551234") == campaigns


def test_find_falls_back_to_one_field_per_line_when_no_table_fits(
    served: FakeWolkvox, env: dict[str, str]
) -> None:
    long_id = "CUSTOMER-0000000000000000000000000001"
    _load(served, 5, customer_id=long_id, customer_name="Ana María de los Ángeles [/b]")
    done = wolkvox({**env, "COLUMNS": "80"}, "find", "--customer-id", long_id)
    assert done.returncode == 0, done.stderr
    assert_readable(done.stdout)
    assert done.stdout.count(long_id) == 5 and "record 5 of 5" in done.stdout


# ---- quota after the server's TOKEN LIMIT ----------------------------------------------


@pytest.mark.parametrize("read_first", [False, True], ids=["unknown-limit", "token_info-first"])
def test_quota_shows_the_servers_limit_after_its_token_limit(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, read_first: bool
) -> None:
    """An upload runs into the server's TOKEN LIMIT (8 calls a day, 2 in flight): `quota`
    then says 8 — what the server counted — not our count of attempts (9 or 10)."""
    served.world.operations[served.server].daily_quota = 8
    served.latency = 0.02  # both slots in use when the quota runs out
    camp = served.create_campaign()
    leads = tmp_path / "leads.csv"
    leads.write_text("customer_id,tel1\n" + "".join(f"c{i},300{i:07d}\n" for i in range(20_000)))
    if read_first:
        [stats] = json.loads(wolkvox(env, "--json", "quota").stdout)
        assert (stats["used"], stats["limit"], stats["source"]) == (1, 8, "server")
    load = wolkvox(env, "upload", camp.id, str(leads), "--chunk-size", "1000")
    assert load.returncode == 3, load.stderr
    done = wolkvox(env, "--json", "quota")
    assert done.returncode == 0, done.stderr
    [stats] = json.loads(done.stdout)
    assert (stats["used"], stats["limit"]) == (8, 8) == (served.quota_used(), 8)
    assert stats["source"] == "ledger (spent)"  # the server refuses token_info too now


# ---- the server as users write it ------------------------------------------------------


def test_the_server_as_users_write_it_in_the_env_and_on_the_command_line(
    served: FakeWolkvox, env: dict[str, str]
) -> None:
    """Public scripts keep WV_SERVER="wv0016" or the whole URL from the browser; the docs
    write 0016. Each form reaches the same server, whose digits go in the wolkvox_server
    header of every call (--no-server-header / WOLKVOX_SERVER_HEADER=0: none)."""
    camp = served.create_campaign()
    n = str(int(served.server))  # "14" for "0014"
    forms = [f"wv{served.server}", f"WV{served.server}.wolkvox.com", n]
    forms += [f"https://wv{served.server}.wolkvox.com/api/v2/campaign.php?api=find_record"]
    for i, form in enumerate(forms):
        by_env = wolkvox({**env, "WOLKVOX_SERVER": form}, "find", "--customer-id", f"e{i}")
        assert by_env.returncode == 0, (form, by_env.stderr)
        by_option = wolkvox(env, "--server", form, "find", "--customer-id", f"o{i}")
        assert by_option.returncode == 0, (form, by_option.stderr)
    assert len(served.requests) == 2 * len(forms)
    assert {r.wolkvox_server for r in served.requests} == {served.server}
    sent = len(served.requests)
    off = wolkvox(env, "--no-server-header", "find", "--campaign", camp.id, "--customer-id", "x")
    assert off.returncode == 0, off.stderr
    off = wolkvox({**env, "WOLKVOX_SERVER_HEADER": "0"}, "find", "--customer-id", "y")
    assert off.returncode == 0, off.stderr
    assert [r.wolkvox_server for r in list(served.requests)[sent:]] == [None, None]


@pytest.mark.parametrize("form", ["wv0016.evil.com", "https://evil.com/wv0016", "server 16"])
def test_a_server_in_no_accepted_form_is_refused_showing_the_forms(
    served: FakeWolkvox, env: dict[str, str], form: str
) -> None:
    done = wolkvox({**env, "WOLKVOX_SERVER": form}, "find", "--customer-id", "c1")
    assert done.returncode == 2, done.stderr
    said = " ".join(done.stderr.split())
    assert repr(form) in said
    assert "'0016', 16, 'wv0016', 'wv0016.wolkvox.com' or 'https://wv0016.wolkvox.com'" in said
    assert served.stats.requests == 0


# ---- what the docs ask each request to carry ---------------------------------------------


def test_upload_and_start_stop_send_what_the_campaign_is(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """add_record's campaign_status is the campaign's current state (read once per run)
    or --campaign-status as given; start/stop carry type_campaign, --type or the
    campaign's own (read once)."""
    camp = served.create_campaign(type="preview")  # created Stopped
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("customer_id,tel1\na1,3001\na2,3002\n")
    second.write_text("customer_id,tel1\nb1,3003\n")
    loaded = wolkvox(env, "upload", camp.id, str(first), "--type", "preview")
    assert loaded.returncode == 0, loaded.stderr
    given = wolkvox(
        env, "upload", camp.id, str(second), "--type", "preview", "--campaign-status", "Stopped"
    )
    assert given.returncode == 0, given.stderr
    assert wolkvox(env, "campaigns", "start", camp.id).returncode == 0
    assert wolkvox(env, "campaigns", "stop", camp.id, "--type", "preview").returncode == 0
    sent = [
        (r.api, r.query.get("campaign_status"), r.query.get("type_campaign"))
        for r in served.requests
        if r.api != "token_info"
    ]
    assert sent == [
        ("campaigns", None, None),  # the state the first load sends
        ("add_record", "stop", "preview"),
        ("add_record", "stopped", "preview"),  # given (the choice as listed): nothing read
        ("campaigns", None, None),  # another process: the type read once
        ("start", None, "preview"),
        ("stop", None, "preview"),  # --type: nothing read
    ]
    assert served.campaign(camp.id).status == "Stopped" and len(camp.records) == 3
