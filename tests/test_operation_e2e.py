"""The operation's endpoints end to end (issue 32, item 6): WolkvoxClient -> loopback ->
FakeWolkvox. configuration.php's IP firewall and DNC lists, agentbox.php's recalls and
real_time.php's list of them, information.php's agents and activity codes, the URL form of
delete_campaign; and the simulator answering them as the docs show (codes and their types
read raw, as a client of another language would)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp
import pytest

from wolkvox_async import ConfigError, NotFound, Record, WolkvoxClient
from wolkvox_async.testing import FakeWolkvox

AT = datetime(2026, 11, 24, 10, 0)


def _client(fake: FakeWolkvox, **kw: Any) -> WolkvoxClient:
    # poll_interval=0: these tests read a list again right after changing it.
    return WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, strict=True, poll_interval=0, **kw
    )


async def test_ip_allow_listing_runs_twice_without_error() -> None:
    """A new integration's first call: add its IP. Run on every start, the second add
    finds it registered (body code 404, public code) and says so, without raising."""
    async with FakeWolkvox() as fake, _client(fake) as wv:
        first = await wv.add_ip("203.0.113.7", permanent=True, description="etl-1")
        again = await wv.add_ip("203.0.113.7")
        assert (first.changed, again.changed) == (True, False)
        assert fake.world.operations[fake.server].ips == {"203.0.113.7": (True, "etl-1")}
        assert "already registered" in again.message
        removed, absent = await wv.remove_ip("203.0.113.7"), await wv.remove_ip("203.0.113.7")
        assert (removed.changed, absent.changed) == (True, False)
        assert fake.world.operations[fake.server].ips == {}
        sent = fake.stats.requests
        for bad in ("203.0.113", "2001:db8::1", "", 7, "203.0.113.7/24"):
            with pytest.raises(ConfigError, match="IPv4"):
                await wv.add_ip(bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="IPv4"):
            await wv.remove_ip("localhost")
        assert fake.stats.requests == sent  # refused before any request


async def test_a_sixth_permanent_ip_is_refused_by_the_server() -> None:
    async with FakeWolkvox() as fake, _client(fake) as wv:
        for last in range(1, 6):
            await wv.add_ip(f"198.51.100.{last}", permanent=True)
        assert (await wv.add_ip("198.51.100.9")).changed  # a temporary one still goes
        with pytest.raises(Exception, match="5 PERMANENT IPS"):
            await wv.add_ip("198.51.100.6", permanent=True)


async def test_numbers_blocked_by_configuration_show_in_the_dnc_list() -> None:
    async with FakeWolkvox() as fake, _client(fake) as wv:
        await wv.block_numbers(["3001", "3002"], direction="inbound")
        await wv.block_numbers(["3003"])
        listed = {(row.phone_number, row.type, row.date_delete) for row in await wv.dnc_list()}
        assert listed == {
            ("3001", "inbound", None),
            ("3002", "inbound", None),
            ("3003", "all", None),
        }
        assert "1 telephones were deleted" in (await wv.unblock_numbers(["3002"])).message
        assert (
            "1 telephones were deleted"
            in (await wv.unblock_numbers("all", direction="inbound")).message
        )
        assert [row.phone_number for row in await wv.dnc_list()] == ["3003"]
        sent = fake.stats.requests
        for bad in ([], ["3001", ""], "3001", [3001]):
            with pytest.raises(ConfigError, match="telephone"):
                await wv.block_numbers(bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="at most 10,000"):
            await wv.block_numbers([str(n) for n in range(10_001)])
        with pytest.raises(ConfigError, match="direction"):
            await wv.unblock_numbers("all", direction="sideways")  # type: ignore[arg-type]
        assert fake.stats.requests == sent


async def test_agent_recalls_are_scheduled_edited_listed_and_deleted() -> None:
    """agentbox.php recall / edit_recall / delete_recall and real_time.php recall: the
    agent APIs "do not affect the assigned consumption" (§2), so the simulator charges them
    nothing; the client's ledger counts them (it over-counts, never under-counts)."""
    async with FakeWolkvox() as fake, _client(fake) as wv:
        camp = fake.create_campaign()
        await wv.add_record(camp.id, [Record(customer_id="42", phones=("3000000042",))])
        fake.world.add_agent("1001", name="Ana")
        assert await wv.scheduled_recalls() == ()  # none: the empty list's 404
        used = fake.quota_used()
        done = await wv.agent_recall(
            "1001", camp.id, customer_id="42", telephone="3000000042", at=AT
        )
        assert done.message == "Recall has been successful"
        [recall] = await wv.scheduled_recalls()
        assert (recall.campaign_id, recall.agent_id, recall.phone_number) == (
            camp.id,
            "1001",
            "3000000042",
        )
        assert (recall.type_recall, recall.date_recall.replace(tzinfo=None)) == ("auto", AT)
        later = AT.replace(hour=16)
        await wv.edit_agent_recall(
            "1001", camp.id, customer_id="42", telephone="3000000042", at=later, style="manual"
        )
        assert await wv.scheduled_recalls("auto") == ()
        [moved] = await wv.scheduled_recalls("manual")
        assert (moved.type_recall, moved.date_recall.replace(tzinfo=None)) == ("manual", later)
        await wv.delete_agent_recall("1001", camp.id, customer_id="42", telephone="3000000042")
        assert await wv.scheduled_recalls() == ()
        assert fake.quota_used() == used + 4  # the three agentbox calls cost nothing
        with pytest.raises(NotFound, match="no recall"):
            await wv.delete_agent_recall("1001", camp.id, customer_id="42", telephone="3000000042")
        with pytest.raises(NotFound, match="not logged in"):
            await wv.agent_recall("2002", camp.id, customer_id="42", telephone="3", at=AT)
        sent = fake.stats.requests
        for bad in ({"agent_id": "ag1"}, {"style": "later"}, {"customer_id": ""}, {"at": "x"}):
            args: dict[str, Any] = {"agent_id": "1001", "customer_id": "42", "at": AT}
            args.update(bad)
            with pytest.raises(ConfigError):
                await wv.agent_recall(args.pop("agent_id"), camp.id, telephone="3", **args)
        assert fake.stats.requests == sent


async def test_agents_and_activity_codes() -> None:
    async with FakeWolkvox() as fake, _client(fake) as wv:
        fake.world.add_agent("1001", name="Ana")
        fake.world.add_agent("1002", name="Luis", status="Logout")
        assert [(a.agent_id, a.agent_name) for a in await wv.agents()] == [
            ("1001", "Ana"),
            ("1002", "Luis"),
        ]
        [luis] = await wv.agents(1002)
        assert luis.agent_status == "Logout"
        codes = await wv.activity_codes()  # answered with "code": "0", its success
        assert [(c.cod_act, c.hit, c.voice, c.studio) for c in codes] == [
            ("001", True, True, False),
            ("002", False, True, False),
        ]
        [one] = await wv.activity_codes("002")
        assert one.description_cod_act == "Call back later"
        assert await wv.activity_codes("999") == ()


async def test_delete_campaign_takes_the_url_form() -> None:
    async with FakeWolkvox() as fake, _client(fake) as wv:
        camp = fake.create_campaign(type="preview")
        result = await wv.delete_campaign(camp.id, campaign_type="preview")
        assert (result.deleted, result.failed) == (1, 0)
        assert camp.id not in fake.world.campaigns
        [sent] = [r for r in fake.requests if r.api == "delete_campaign"]
        assert (sent.method, sent.query, sent.body) == (
            "DELETE",
            {"type_campaign": "preview", "campaign_id": camp.id},
            None,
        )
        again = await wv.delete_campaign(camp.id, campaign_type="preview")
        assert (again.deleted, again.failed) == (0, 1)


# Each new endpoint's answer as its docs show it: (method, file, query, body) -> code.
ANSWERS = [
    ("POST", "configuration", "add_ip", {}, {"ip": "203.0.113.9"}, 201, "201"),
    ("POST", "configuration", "add_ip", {}, {"ip": "203.0.113.9"}, 404, "404"),
    ("POST", "configuration", "add_ip", {}, {"ip": "300.1.1.1"}, 406, "406"),
    ("DELETE", "configuration", "remove_ip", {}, {"ip": "203.0.113.9"}, 202, "202"),
    ("DELETE", "configuration", "remove_ip", {}, {"ip": "203.0.113.9"}, 404, "404"),
    ("POST", "configuration", "add_dnc", {}, {"type_call": "inbound/outbound",
     "telephones": ["93000000007"]}, 201, 201),
    ("DELETE", "configuration", "remove_dnc", {}, {"telephones": ["93000000007"],
     "type": "all"}, 202, 202),
    ("GET", "information", "agents", {}, None, 200, ""),
    ("GET", "information", "activity_codes", {}, None, 200, "0"),
    ("GET", "reports_manager", "cdr_5", {"date_ini": "20261101000000",
     "date_end": "20261101235959"}, None, 404, 404),
]  # fmt: skip


async def test_the_simulator_answers_as_the_docs_show() -> None:
    async with FakeWolkvox() as fake:
        fake.world.add_agent("1001")
        async with aiohttp.ClientSession() as http:
            for method, file, api, query, body, status, code in ANSWERS:
                url = f"{fake.url}/api/v2/{file}.php"
                async with http.request(
                    method,
                    url,
                    params={"api": api, **query},
                    json=body,
                    headers={"wolkvox-token": fake.token, "wolkvox_server": fake.server},
                ) as answer:
                    got = await answer.json()
                assert (answer.status, got["code"]) == (status, code), (api, got)
                assert type(got["code"]) is type(code), (api, got)
