"""WolkvoxClient: the public client, one typed method per Wolkvox endpoint.

The client owns its settings, its :class:`~wolkvox_async.calls._call.Caller` (the one path of a
request) and what it knows of its campaigns; its methods are those of the endpoint groups
it makes over them (``_assemble``), each given what it uses: campaign.php in
``_campaign_methods`` and ``_campaign_admin``, reports and information in
``_report_methods``, the other APIs in ``_operation_methods``, and uploads and windowed
downloads in ``bulk`` (the BULK caller, the record sender, the reads of a reconciliation).
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Self

import aiohttp
import attrs

from ._config import (
    DEFAULT_TIMEOUT,
    MAX_ANSWER_BYTES,
    SERVER_LIMIT,
    TRANSFER_MARGIN,
    ClientConfig,
    reserve_of,
)
from .bulk._chunks import send_records
from .bulk._methods import BulkMethods
from .bulk._needs import Parts
from .calls._call import Caller
from .calls._convert import CONVERTER, STRICT_CONVERTER
from .calls._transport import AiohttpTransport, Transport
from .endpoints._campaign_admin import CampaignAdmin
from .endpoints._campaign_methods import CampaignMethods
from .endpoints._campaign_state import CampaignFacts
from .endpoints._core import Calls, telemetry_of
from .endpoints._core import method_of as _method
from .endpoints._doctor import Doctor
from .endpoints._operation_methods import OperationMethods
from .endpoints._report_methods import ReportMethods
from .scheduler import (
    SYSTEM_CLOCK,
    Clock,
    LedgerStatus,
    Priority,
    SchedulerStats,
    ledger_status,
    resolve_backend,
)

if TYPE_CHECKING:
    from .otel import Telemetry
    from .scheduler._backends import BackendSpec

__all__ = ["WolkvoxClient"]

PollPolicy = Literal["share", "wait", "raise"]


class WolkvoxClient:
    """Async client for the Wolkvox API v2 campaign endpoints.

    Use it as an async context manager; it owns its aiohttp session unless one is
    passed::

        async with WolkvoxClient(server="0014", token=TOKEN, licenses=3) as wv:
            camp = await wv.create_campaign(
                name="Leads", campaign_type=CampaignType.PREDICTIVE, skill_id="4069"
            )
            await wv.add_record(camp.id, [Record(customer_id="1", phones=("3001234567",))])
    """

    def __init__(
        self,
        server: str,
        token: str,
        *,
        licenses: int | None = None,
        daily_quota: int | None = None,
        operation: str | None = None,
        base_url: str | None = None,
        server_header: bool = True,
        session: aiohttp.ClientSession | None = None,
        backend: BackendSpec = None,
        max_concurrency: int = 2,
        timeout: float | None = None,
        server_limit: float = SERVER_LIMIT,
        poll_interval: float = 300.0,
        poll_policy: PollPolicy = "share",
        max_wait: float | None = None,
        priority: Priority = Priority.INTERACTIVE,
        max_attempts: int = 5,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        strict: bool = False,
        quota_reserve: int | float | Mapping[Priority | str, int | float] = 0,
        verify_ssl: bool = True,
        clock: Clock | None = None,
        transport: Transport | None = None,
        telemetry: bool | Telemetry = False,
    ) -> None:
        """Create a client; no connection is made until the first call.

        ``server``, ``token`` and every other keyword not listed below is a setting,
        documented once, in :class:`~wolkvox_async.ClientConfig` (``wv.config``).

        Args:
            session: An aiohttp session to use; the client then never closes it.
            backend: Where the scheduler's state lives: ``"sqlite:///path"``,
                ``"redis://…"``, ``"redis+cluster://…"``, ``"redis+sentinel://…/service"``,
                ``"memory://"``, a redis-py asyncio client or a backend object. Clients given
                the same URL (or redis-py client) share one backend, kept in
                :data:`wolkvox_async.scheduler.BACKENDS`; clients given one backend object
                share it. Default: the per-user ledger the ``wolkvox`` command uses
                (``sqlite:///$XDG_STATE_HOME/wolkvox-async/ledger.db``), so a service and a
                command run by one user on one host share the token's 2 slots and its
                quota; ``WOLKVOX_BACKEND`` overrides it; ``memory://``, with a warning,
                where that folder is not writable.
            priority: INTERACTIVE (default) or BULK; per call:
                ``wv.with_options(priority=...)``.
            clock: Time source (tests inject a VirtualClock).
            transport: A custom transport (the default uses aiohttp).
            telemetry: OpenTelemetry spans and metrics (the ``otel`` extra): True for the
                global providers, or a :class:`wolkvox_async.otel.Telemetry`. Off by
                default; off, nothing of OpenTelemetry is imported.

        Raises:
            ConfigError: an argument is invalid; the message names it.
        """
        if timeout is None:
            timeout = (
                server_limit * (1 + TRANSFER_MARGIN)
                if isinstance(server_limit, float | int) and not isinstance(server_limit, bool)
                else DEFAULT_TIMEOUT
            )
        self._config = ClientConfig(
            server=server,
            token=token,
            licenses=licenses,
            daily_quota=daily_quota,
            operation=operation or "",
            base_url=base_url or "",
            server_header=server_header,
            timeout=timeout,
            server_limit=server_limit,
            verify_ssl=verify_ssl,
            max_concurrency=max_concurrency,
            poll_interval=poll_interval,
            poll_policy=poll_policy,
            max_wait=max_wait,
            max_attempts=max_attempts,
            max_answer_bytes=max_answer_bytes,
            strict=strict,
            quota_reserve=reserve_of(quota_reserve),
        )
        self._converter = STRICT_CONVERTER if self._config.strict else CONVERTER
        self._facts = CampaignFacts()  # shared by the views
        self._caller = Caller(
            self._config,
            transport=transport
            or AiohttpTransport(
                session, verify_ssl=verify_ssl, max_body=self._config.max_answer_bytes
            ),
            backend=resolve_backend(backend),
            clock=clock or SYSTEM_CLOCK,
            priority=Priority(priority),
            telemetry=telemetry_of(telemetry),
        )
        self._assemble()

    @property
    def config(self) -> ClientConfig:
        """The validated settings (the token is hidden from its repr)."""
        return self._config

    def __repr__(self) -> str:
        config = self._config
        return f"{type(self).__name__}(server={config.server!r}, base_url={config.base_url!r})"

    def with_options(
        self,
        *,
        priority: Priority | None = None,
        max_wait: float | None = None,
        poll_policy: PollPolicy | None = None,
    ) -> Self:
        """A view of this client with other per-call settings; it shares the session,
        the scheduler and the state, and closing it closes nothing."""
        view = copy.copy(self)  # (a subclass's own attributes too)
        changes: dict[str, Any] = {}
        if max_wait is not None:
            changes["max_wait"] = max_wait
        if poll_policy is not None:
            changes["poll_policy"] = poll_policy
        view._config = attrs.evolve(self._config, **changes) if changes else self._config
        view._converter, view._facts = self._converter, self._facts
        caller = self._caller
        view._caller = caller.view(
            view._config, caller.priority if priority is None else Priority(priority)
        )
        view._assemble()
        return view

    def _assemble(self) -> None:
        """Make the endpoint groups over this client's parts, and take their methods as
        its own (bound here, so a call runs the group's method with no step between)."""
        caller, facts, converter = self._caller, self._facts, self._converter
        calls = Calls(caller, converter)
        # Bulk work queues behind interactive calls and leaves them their reserve.
        bulk = Calls(caller.view(self._config, Priority.BULK), converter)
        groups: dict[type, object] = {
            CampaignMethods: CampaignMethods(calls, facts, send_records),
            CampaignAdmin: CampaignAdmin(calls, facts),
            ReportMethods: ReportMethods(calls, facts),
            OperationMethods: OperationMethods(calls),
            Doctor: Doctor(calls),
            BulkMethods: BulkMethods(
                Parts(calls=bulk, facts=facts, send=send_records, reads=CampaignAdmin(bulk, facts))
            ),
        }
        self._groups = groups
        own, cls = self.__dict__, type(self)
        for name, group in _EXPOSED.items():
            if cls is WolkvoxClient or getattr(cls, name) is vars(WolkvoxClient)[name]:
                own[name] = getattr(groups[group], name)  # (a subclass's override stays)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """End what the client owns (views close nothing).

        Calls queued for a slot (or waiting to retry) fail at once with
        :class:`ClientClosed`, nothing of them sent; calls in flight are waited for, so
        their answers are delivered and their slots released as their outcome says (a
        cancelled ``close()`` leaves them running); any later call raises
        :class:`ClientClosed`. Then the HTTP session, if the client created it, is closed
        (also when ``close()`` is cancelled once no call of the client runs).
        The last client of a backend in this event loop also closes the backend's
        connections for the loop (Redis, SQLite); a later client reopens them.
        """
        caller = self._caller
        if caller.is_view:
            return
        try:
            await caller.close()
        finally:
            # Cancelled once its calls had ended (while the backend closed, say: a Ctrl-C
            # as a command ends), the session is still closed; nobody else would close it.
            # Cancelled while calls run, it is theirs.
            if not caller.life.active:
                await caller.transport.close()

    # ---- the scheduler ------------------------------------------------------------------

    async def scheduler_stats(self) -> SchedulerStats:
        """In flight, queued per priority, quota used/limit/reserved/available to bulk and
        resets_at, refusals, retries."""
        caller = self._caller
        return await caller.scheduler.stats(caller.limits.token)

    async def ledger_status(self) -> LedgerStatus:
        """What the client's ledger says now: per operation and token, the slots held (by
        which host and pid, on which route, since when), callers waiting by priority,
        today's quota, pauses and the last hour's refusals, from every process sharing it
        (a memory ledger: this process only). Costs no call to Wolkvox."""
        caller = self._caller
        operation = caller.limits.operation
        return await ledger_status(caller.backend, clock=caller.clock, operations=[operation])

    async def sync_quota(self) -> SchedulerStats:
        """Read token_info (costs 1 call) and take the server's used/limit for today.

        Never refused by the local ledger (it is how a wrong count is corrected); the
        server may still answer TOKEN LIMIT EXCEEDED.
        """
        await self._caller.sync_quota()
        return await self.scheduler_stats()

    # ---- CampaignMethods -----------------------------------------------------

    add_dnc = _method(CampaignMethods.add_dnc)
    add_record = _method(CampaignMethods.add_record)
    campaign_status = _method(CampaignMethods.campaign_status)
    clear_campaign = _method(CampaignMethods.clear_campaign)
    create_campaign = _method(CampaignMethods.create_campaign)
    codify = _method(CampaignMethods.codify)
    recall = _method(CampaignMethods.recall)
    remove_records = _method(CampaignMethods.remove_records)
    set_speed = _method(CampaignMethods.set_speed)
    start_campaign = _method(CampaignMethods.start_campaign)
    stop_campaign = _method(CampaignMethods.stop_campaign)
    recall_records = _method(CampaignMethods.recall_records)

    # ---- CampaignAdmin -------------------------------------------------------

    find_record = _method(CampaignAdmin.find_record)
    delete_campaigns = _method(CampaignAdmin.delete_campaigns)
    delete_campaign = _method(CampaignAdmin.delete_campaign)
    filter_campaign = _method(CampaignAdmin.filter_campaign)
    export_campaign = _method(CampaignAdmin.export_campaign)
    edit_campaign = _method(CampaignAdmin.edit_campaign)

    # ---- ReportMethods -------------------------------------------------------

    report = _method(ReportMethods.report)
    campaign_detail = _method(ReportMethods.campaign_detail)
    final_results = _method(ReportMethods.final_results)
    code_results = _method(ReportMethods.code_results)
    phone_results = _method(ReportMethods.phone_results)
    attempt_results = _method(ReportMethods.attempt_results)
    preview_calls = _method(ReportMethods.preview_calls)
    amd_totals = _method(ReportMethods.amd_totals)
    amd_details = _method(ReportMethods.amd_details)
    machine_codes_by_phone = _method(ReportMethods.machine_codes_by_phone)
    whatsapp_statuses = _method(ReportMethods.whatsapp_statuses)
    turbo_dial_counts = _method(ReportMethods.turbo_dial_counts)
    unconnected_calls = _method(ReportMethods.unconnected_calls)
    unconnected_results = _method(ReportMethods.unconnected_results)
    call_details = _method(ReportMethods.call_details)
    agent_state_times = _method(ReportMethods.agent_state_times)
    agent_aux_times = _method(ReportMethods.agent_aux_times)
    agent_sessions = _method(ReportMethods.agent_sessions)
    agent_hourly_states = _method(ReportMethods.agent_hourly_states)
    chats = _method(ReportMethods.chats)
    chat_conversations = _method(ReportMethods.chat_conversations)
    chat_agent_productivity = _method(ReportMethods.chat_agent_productivity)
    campaigns = _method(ReportMethods.campaigns)
    token_info = _method(ReportMethods.token_info)
    dnc_list = _method(ReportMethods.dnc_list)
    realtime_campaigns = _method(ReportMethods.realtime_campaigns)

    # ---- OperationMethods ----------------------------------------------------

    add_ip = _method(OperationMethods.add_ip)
    remove_ip = _method(OperationMethods.remove_ip)
    block_numbers = _method(OperationMethods.block_numbers)
    unblock_numbers = _method(OperationMethods.unblock_numbers)
    agent_recall = _method(OperationMethods.agent_recall)
    edit_agent_recall = _method(OperationMethods.edit_agent_recall)
    delete_agent_recall = _method(OperationMethods.delete_agent_recall)
    scheduled_recalls = _method(OperationMethods.scheduled_recalls)
    agents = _method(OperationMethods.agents)
    activity_codes = _method(OperationMethods.activity_codes)

    # ---- Doctor --------------------------------------------------------------

    doctor = _method(Doctor.doctor)

    # ---- BulkMethods ---------------------------------------------------------

    upload_records = _method(BulkMethods.upload_records)
    iter_phone_results = _method(BulkMethods.iter_phone_results)
    iter_report = _method(BulkMethods.iter_report)
    iter_report_batches = _method(BulkMethods.iter_report_batches)


_GROUPS = (CampaignMethods, CampaignAdmin, ReportMethods, OperationMethods, Doctor, BulkMethods)
_EXPOSED: dict[str, type] = {
    name: group
    for name, function in vars(WolkvoxClient).items()
    for group in _GROUPS
    if vars(group).get(name) is function
}
"""Each public method the client takes from a group, and the group's class."""


def _forwarding(name: str, group: type, function: Any) -> Any:
    """The class's own ``name``: the group's ``function`` as ``help()``, ``inspect`` and
    IDEs show it (its signature, docstring, coroutine-ness), forwarding to the client's
    group. A client binds the group's method over it, so only the class reaches this:
    ``super().name(...)`` in a subclass, or ``WolkvoxClient.name(client, ...)``."""
    method: Any
    if inspect.iscoroutinefunction(function):

        async def method(self: WolkvoxClient, /, *args: Any, **kwargs: Any) -> Any:
            return await getattr(self._groups[group], name)(*args, **kwargs)
    else:

        def method(self: WolkvoxClient, /, *args: Any, **kwargs: Any) -> Any:
            return getattr(self._groups[group], name)(*args, **kwargs)

    functools.update_wrapper(method, function)
    method.__qualname__ = f"WolkvoxClient.{name}"
    method.__module__ = __name__
    return method


for _name, _group in _EXPOSED.items():
    setattr(WolkvoxClient, _name, _forwarding(_name, _group, vars(_group)[_name]))
del _name, _group
