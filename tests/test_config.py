"""ClientConfig: validation at construction, redaction of the token."""

from __future__ import annotations

import pytest

from wolkvox_async import ConfigError, WolkvoxClient
from wolkvox_async._config import ClientConfig

TOKEN = "7b22736563726574227d2d3230323631313233313230303030"


HOSTILE_SERVERS = [
    "evil.com#",
    "0014.attacker",
    "../",
    "٠٠١٤",  # Arabic-Indic digits
    "0014 ",
    "",
    "0014/x",
    "\uff10\uff11",  # fullwidth digits
    "+14",
    "wv0014.evil.com",
    "wv0014.wolkvox.com.evil.com",
    "wv0014.wolkvox.com.",
    "wv0014.wol\u212avox.com",  # a Kelvin sign: a "k" to a case-folding regex
    "wv0014.wolkvox.com/api",  # a path needs the scheme: then it is a URL
    "https://wv0014.wolkvox.com.evil.com",
    "https://evil.com/wv0014.wolkvox.com",
    "https://wv0014.wolkvox.com@evil.com",
    "https://user@wv0014.wolkvox.com",
    "https://wv0014.wolkvox.com:8443",
    "https://wv0014.wolkvox.com\\@evil.com",
    "https://wv0014.wolkvox.com/\n",
    "ftp://wv0014.wolkvox.com",
    "wv",
    "123456789",  # past 8 digits
    10**8,
    -1,
    True,
    1.5,
    None,
    b"0014",
]


@pytest.mark.parametrize("server", HOSTILE_SERVERS, ids=repr)
def test_hostile_server_values_are_refused_naming_the_accepted_forms(server: object) -> None:
    with pytest.raises(ConfigError, match="server must be") as info:
        ClientConfig(server=server, token=TOKEN)  # type: ignore[arg-type]
    assert "'wv0016'" in str(info.value) and "https://wv0016.wolkvox.com" in str(info.value)


@pytest.mark.parametrize(
    "server",
    [
        "0016",
        16,
        "16",
        "wv0016",
        "WV0016",
        "wv0016.wolkvox.com",
        "https://wv0016.wolkvox.com",
        "https://wv0016.wolkvox.com/",
        "http://wv0016.wolkvox.com",
        "https://wv0016.wolkvox.com/api/v2/campaign.php?api=find_record&campaign_id=1",
    ],
    ids=repr,
)
def test_the_server_as_users_write_it(server: object) -> None:
    """Public scripts keep WV_SERVER="wv0016" or a whole URL; the docs write 0016."""
    config = ClientConfig(server=server, token=TOKEN)  # type: ignore[arg-type]
    assert config.server == "0016"
    assert config.base_url == "https://wv0016.wolkvox.com"  # always https, always Wolkvox's
    assert config.operation == "0016"


def test_default_base_url_and_operation() -> None:
    config = ClientConfig(server="0014", token=TOKEN)
    assert config.base_url == "https://wv0014.wolkvox.com"
    assert config.operation == "0014"
    assert ClientConfig(server="0014", token=TOKEN, licenses=3).quota_limit == 3000
    assert ClientConfig(server="0014", token=TOKEN, licenses=3, daily_quota=10).quota_limit == 10


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"token": ""}, "token"),
        ({"token": "abc\r\nX-Evil: 1"}, "token"),
        ({"licenses": 0}, "licenses"),
        ({"licenses": True}, "licenses"),
        ({"daily_quota": -1}, "daily_quota"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": 121}, "timeout"),  # past twice the server's 60 s: not an answer
        ({"timeout": 30, "server_limit": 10}, "timeout"),
        ({"max_concurrency": 3}, "max_concurrency"),
        ({"strict": "yes"}, "strict"),
        ({"max_answer_bytes": 0}, "max_answer_bytes"),
        ({"quota_reserve": -1}, "quota_reserve"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"poll_interval": float("nan")}, "poll_interval"),
        ({"max_wait": -1}, "max_wait"),
        ({"max_wait": float("nan")}, "max_wait"),
        ({"max_wait": 10**400}, "max_wait"),  # no float holds it (found by the fuzz)
        ({"poll_interval": 10**400}, "poll_interval"),
        ({"server_limit": -60}, "server_limit"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"base_url": "https://user:pw@host"}, "base_url"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"server": "0014", "token": TOKEN, **kwargs}
    with pytest.raises(ConfigError, match=field) as info:
        ClientConfig(**args)  # type: ignore[arg-type]
    assert TOKEN not in str(info.value)


def test_token_hidden_from_reprs() -> None:
    config = ClientConfig(server="0014", token=TOKEN)
    assert TOKEN not in repr(config)
    client = WolkvoxClient(server="0014", token=TOKEN)
    assert TOKEN not in repr(client)
    assert TOKEN not in repr(client.config)


def test_turning_tls_verification_off_warns() -> None:
    with pytest.warns(UserWarning, match="TLS verification is off"):
        ClientConfig(server="0014", token=TOKEN, verify_ssl=False)


def test_the_default_timeout_leaves_a_transfer_margin_over_the_server_limit() -> None:
    from wolkvox_async import WolkvoxClient

    config = WolkvoxClient(server="0014", token=TOKEN).config
    assert config.timeout == 90  # the server's 60 s, then 30 s to receive the answer
    assert config.lease_life == 95  # the lease outlives the longest wait for an answer
    assert WolkvoxClient(server="0014", token=TOKEN, server_limit=10).config.timeout == 15
    short = WolkvoxClient(server="0014", token=TOKEN, timeout=5).config
    assert short.lease_life == 65  # the server may run a call given up on for its 60 s
