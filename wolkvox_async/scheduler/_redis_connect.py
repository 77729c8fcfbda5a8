"""Where the Redis backend connects: one node, a Cluster, or the primary Sentinel names.

The URLs follow what Python users already write for ``limits`` and Prefect:

- ``redis://[user:pass@]host:port/db`` and ``rediss://…``: one node (redis-py's own URL);
- ``redis+cluster://[user:pass@]host:port[,host:port…]``: a Cluster, any nodes to start from;
- ``redis+sentinel://[user:pass@]host[:port][,host[:port]…]/service[/db]``: the primary
  the sentinels name for ``service`` (sentinels on port 26379 unless said); the URL's
  credentials are the data nodes', ``?sentinel_username=&sentinel_password=`` the
  sentinels'. ``rediss+…`` uses TLS for every connection.

Options of ours in any of them: ``fallback=memory`` (admit locally while Redis is away),
``allow_eviction=1`` (accept a Redis that may evict keys, ``_redis_policy``) and
``restart_fence=0`` (a process that finds no ledger on a Redis started less than a lease
lifetime ago does not wait: for a Redis known to be new, as in tests; ``_redis_lua``).

A ready-made redis-py asyncio client (``Redis`` or ``RedisCluster``) is taken as is: its
owner closes it. A URL gives each event loop a client of its own (redis-py's clients
belong to the loop that opened them).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import attrs

from .._errors import ConfigError

__all__ = ["Target", "Topology", "adopt", "parse", "reason", "text", "unreachable"]

_TIMEOUTS = {"socket_connect_timeout": 2.0, "socket_timeout": 5.0}
"""A Redis that does not answer within these is unreachable: the caller gets
SchedulerUnavailable (nothing sent) instead of waiting on it."""


class Topology(enum.Enum):
    SINGLE = "single"
    CLUSTER = "cluster"
    SENTINEL = "sentinel"


@attrs.frozen
class Target:
    """How to reach one Redis deployment."""

    topology: Topology
    where: str
    """For messages: scheme, hosts and service, never credentials."""
    connect: Callable[[], tuple[Any, list[Any]]]
    """A client for the running loop, and what to close with it (empty: not ours)."""
    fallback: str | None = None
    """``?fallback=memory``: admit locally while Redis is away."""
    allow_eviction: bool = False
    """``?allow_eviction=1``: accept a ``maxmemory-policy`` other than ``noeviction``."""
    restart_fence: bool = True
    """``?restart_fence=0``: no lost-ledger pause for a fresh process on a new Redis."""


def adopt(client: Any) -> Target:
    """A redis-py asyncio client the caller made (and closes)."""
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

    if isinstance(client, RedisCluster):
        topology = Topology.CLUSTER
    elif isinstance(client, Redis):
        topology = Topology.SINGLE  # a Sentinel's master_for client is a Redis too
    else:
        raise ConfigError(
            f"backend must be a redis.asyncio Redis or RedisCluster client, got "
            f"{type(client).__module__}.{type(client).__qualname__}"
        )
    return Target(topology, f"redis client {type(client).__name__}", lambda: (client, []))


def parse(url: str) -> Target:
    """The target a backend URL names.

    Raises:
        ConfigError: an unknown scheme, a missing host or service, a bad port.
    """
    scheme, _, rest = url.partition("://")
    base, _, kind = scheme.lower().partition("+")
    if base not in ("redis", "rediss") or kind not in ("", "cluster", "sentinel"):
        raise ConfigError(f"not a Redis URL: {_safe(url)!r}")
    query = dict(parse_qsl(urlsplit(url).query))
    fallback = query.pop("fallback", None)
    if fallback not in (None, "memory"):
        raise ConfigError(f"fallback must be 'memory', got {fallback!r}")
    allow_eviction = _flag(query, "allow_eviction", False)
    restart_fence = _flag(query, "restart_fence", True)
    target = _target(url, base, kind, rest, query, fallback)
    return attrs.evolve(target, allow_eviction=allow_eviction, restart_fence=restart_fence)


def _flag(query: dict[str, str], name: str, default: bool) -> bool:
    value = query.pop(name, None)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 in the Redis URL, got {value!r}")


def _target(
    url: str, base: str, kind: str, rest: str, query: dict[str, str], fallback: str | None
) -> Target:
    if kind == "":
        return _single(url, base, query, fallback)
    netloc, _, path = rest.split("?", 1)[0].partition("/")
    userinfo, _, hostlist = netloc.rpartition("@")
    hosts = [
        _host(part, 26379 if kind == "sentinel" else 6379, url) for part in hostlist.split(",")
    ]
    where = f"{base}+{kind}://{','.join(f'{h}:{p}' for h, p in hosts)}"
    auth = _credentials(userinfo)
    if kind == "cluster":
        if path.strip("/") not in ("", "0"):
            raise ConfigError(f"a Redis Cluster has only database 0: {_safe(url)!r}")
        return Target(Topology.CLUSTER, where, _cluster(hosts, base, auth, query), fallback)
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ConfigError(f"redis+sentinel:// needs /service_name after the hosts: {_safe(url)!r}")
    if db and not db.isdigit():
        raise ConfigError(f"the database after the service must be a number: {_safe(url)!r}")
    connect = _sentinel(hosts, service, int(db or 0), base, auth, query)
    return Target(Topology.SENTINEL, f"{where}/{service}", connect, fallback)


def _single(url: str, base: str, query: dict[str, str], fallback: str | None) -> Target:
    parts = urlsplit(url)
    plain = parts._replace(query=urlencode(query)).geturl()

    def connect() -> tuple[Any, list[Any]]:
        import redis.asyncio as aioredis

        client = aioredis.from_url(plain, decode_responses=True, **_TIMEOUTS)
        return client, [client]

    try:
        where = f"{base}://{parts.hostname}:{parts.port or 6379}"
    except ValueError as exc:
        raise ConfigError(f"bad port in {_safe(url)!r}: {exc}") from None
    _check_single(plain, url)
    return Target(Topology.SINGLE, where, connect, fallback)


def _check_single(plain: str, url: str) -> None:
    """redis-py reads a one-node URL's options only when it first connects: a name it does
    not take was a TypeError from deep inside the first call (a traceback from ``wolkvox
    status``). Asked now, as the other topologies' options are (no I/O: a connection
    object is made, not opened)."""
    from redis.asyncio import ConnectionPool

    try:
        pool = ConnectionPool.from_url(plain)
        pool.connection_class(**pool.connection_kwargs)
    except TypeError as exc:  # (its text names the option: "unexpected keyword 'pool'")
        raise ConfigError(f"unknown option in the Redis URL {_safe(url)!r}: {exc}") from None
    except ValueError as exc:  # ("Invalid value for 'socket_timeout' in connection URL.")
        raise ConfigError(f"{exc} ({_safe(url)!r})") from None


def _cluster(
    hosts: list[tuple[str, int]], base: str, auth: dict[str, Any], query: dict[str, str]
) -> Callable[[], tuple[Any, list[Any]]]:
    options = _options(query)  # checked now, before any connection

    def connect() -> tuple[Any, list[Any]]:
        from redis.asyncio.cluster import ClusterNode, RedisCluster

        client = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in hosts],
            ssl=base == "rediss",
            decode_responses=True,
            **auth,
            **options,
        )
        return client, [client]

    return connect


def _sentinel(
    hosts: list[tuple[str, int]],
    service: str,
    db: int,
    base: str,
    auth: dict[str, Any],
    query: dict[str, str],
) -> Callable[[], tuple[Any, list[Any]]]:
    # The sentinels' own credentials, if they have any (often they have none).
    own = {
        k: query.pop(f"sentinel_{k}") for k in ("username", "password") if f"sentinel_{k}" in query
    }
    tls = {"ssl": True} if base == "rediss" else {}
    options = _options(query)

    def connect() -> tuple[Any, list[Any]]:
        from redis.asyncio import sentinel as module
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # Each sentinel is asked once: redis-py's default retries with backoff made a
        # call wait ~8 s when none answered; the next sentinel is the retry.
        ask_once = {"retry": Retry(NoBackoff(), 0), **own, **tls, **_TIMEOUTS}
        make: Any = module.Sentinel  # untyped in redis-py
        sentinel = make(hosts, sentinel_kwargs=ask_once, **tls, **_TIMEOUTS)
        client = sentinel.master_for(service, db=db, decode_responses=True, **auth, **options)
        return client, [client, *sentinel.sentinels]

    return connect


def _options(query: dict[str, str]) -> dict[str, Any]:
    """The URL's other options, as redis-py reads them (timeouts are seconds)."""
    options: dict[str, Any] = dict(_TIMEOUTS)
    for key, value in query.items():
        if key not in ("socket_connect_timeout", "socket_timeout"):
            raise ConfigError(f"unknown option {key!r} in the Redis URL")
        try:
            options[key] = float(value)
        except ValueError:
            raise ConfigError(f"{key} must be a number of seconds, got {value!r}") from None
    return options


def _host(part: str, default_port: int, url: str) -> tuple[str, int]:
    host, sep, port = part.rpartition(":") if not part.endswith("]") else (part, "", "")
    if not sep:
        host, port = part, str(default_port)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"bad host:port {part!r} in {_safe(url)!r}")
    return host, int(port)


def _credentials(userinfo: str) -> dict[str, Any]:
    if not userinfo:
        return {}
    user, sep, password = userinfo.partition(":")
    found: dict[str, Any] = {"username": unquote(user)} if user else {}
    if sep:
        found["password"] = unquote(password)
    return found


def _safe(url: str) -> str:
    """The URL without its credentials, for messages."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


def unreachable() -> tuple[type[BaseException], ...]:
    """What redis-py raises while there is no primary to ask: a dropped or refused
    connection, a Sentinel that names none yet, a Cluster whose slot has no master."""
    import redis.exceptions as e

    return (
        e.ConnectionError,
        e.TimeoutError,
        e.ClusterError,
        e.RedisClusterException,
        e.TryAgainError,
        e.MasterDownError,
        e.ReadOnlyError,
        e.SlotNotCoveredError,
        OSError,
    )


def reason(exc: BaseException) -> str:
    """What went wrong, in a line: redis-py appends the repr of every sentinel client
    asked (a thousand characters) to "No master found"."""
    return f"{type(exc).__name__}: {str(exc).split(' : <', 1)[0]}"


def text(value: Any) -> Any:
    """A reply part as text (a caller's client may not decode)."""
    return value.decode() if isinstance(value, bytes) else value
