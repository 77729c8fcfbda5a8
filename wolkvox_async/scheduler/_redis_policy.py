"""What the Redis backend asks of the server: it must not evict our keys.

A Redis with ``maxmemory`` set and a ``maxmemory-policy`` other than ``noeviction``
deletes keys to make room when it is full — managed offerings often default to one
(``volatile-lru``, ``allkeys-lru``). Our ledger then vanishes under running calls: every
process that knew it pauses the operation for a lease lifetime (the ledger notices the
loss, its epoch lives in the same key as the leases), a process that starts after the
eviction and is the first to look cannot tell it from a new ledger and admits at once
beside the calls it forgot, and an evicted poll stamp lets a report be read again within
its 5 minutes. Sidekiq and Celery ask for ``noeviction`` for the same reason. So at first
use, and again after a lost ledger (a failover may bring another node and its
configuration), the backend reads the policy — ``CONFIG GET``, or ``INFO memory`` where
CONFIG is disabled, as on several managed services — of every primary that may hold our
keys, and refuses anything else with :class:`SchedulerUnavailable` naming the policy and
the fix, unless the user opted in (``?allow_eviction=1``). A policy it cannot read at all
is refused too: the limits are never left to a setting nobody checked.
"""

from __future__ import annotations

from typing import Any

from .._errors import SchedulerUnavailable
from ._redis_connect import text

__all__ = ["FIX", "check", "policies"]

FIX = (
    "set maxmemory-policy to noeviction (CONFIG SET maxmemory-policy noeviction, or your "
    "provider's parameter group), or accept the risk with ?allow_eviction=1 in the backend "
    "URL (RedisBackend(..., allow_eviction=True))"
)


async def check(client: Any, *, cluster: bool, where: str) -> None:
    """Return if every primary that may hold our keys runs ``noeviction``.

    Raises:
        SchedulerUnavailable: another policy, or one that cannot be read.
    """
    for name, policy, failures in await policies(client, cluster=cluster):
        at = "" if name is None else f" (node {name})"
        if policy is None:
            reason = (
                f"its maxmemory-policy{at} cannot be read ({'; '.join(failures)}), and the "
                "ledger needs noeviction: let this Redis user run CONFIG GET or INFO if the "
                f"policy is noeviction; otherwise {FIX}"
            )
        elif policy != "noeviction":
            reason = (
                f"maxmemory-policy is {policy}{at}: a full Redis deletes keys, the ledger's "
                "among them, and calls would then run beside calls it counted; " + FIX
            )
        else:
            continue
        raise SchedulerUnavailable(backend=where, reason=reason, unreachable=False)


async def policies(client: Any, *, cluster: bool) -> list[tuple[str | None, str | None, list[str]]]:
    """(node name or None for the only one, its policy or None, why it could not be read)
    of every primary that may hold our keys: what :func:`check` judges, and ``doctor``
    shows."""
    nodes = client.get_primaries() if cluster else [None]
    found = []
    for node in nodes:
        policy, failures = await _policy(client, node)
        found.append((None if node is None else str(node.name), policy, failures))
    return found


async def _policy(client: Any, node: Any) -> tuple[str | None, list[str]]:
    """The policy of one node (or of the only one), and why it could not be read."""
    import redis.exceptions as e

    on = {} if node is None else {"target_nodes": node}
    failures: list[str] = []
    try:
        found = await client.config_get("maxmemory-policy", **on)
        value = _field(found, "maxmemory-policy")
        if value:
            return value, failures
        failures.append("CONFIG GET: no such setting")
    except e.ResponseError as exc:  # disabled, renamed or not allowed by an ACL
        failures.append(f"CONFIG GET: {exc}")
    try:
        value = _field(await client.info("memory", **on), "maxmemory_policy")
        if value:
            return value, failures
        failures.append("INFO memory: no maxmemory_policy")
    except e.ResponseError as exc:
        failures.append(f"INFO memory: {exc}")
    return None, failures


def _field(reply: Any, name: str) -> str | None:
    """A field of a CONFIG GET or INFO reply, whether the client decodes or not."""
    if not isinstance(reply, dict):
        return None
    value = reply.get(name, reply.get(name.encode()))
    return None if value is None else str(text(value))
