"""The public import paths of DESIGN.md §3 work, and __all__ lists what exists."""

from __future__ import annotations

import wolkvox_async
import wolkvox_async.models
import wolkvox_async.testing


def test_contract_names_import() -> None:
    from wolkvox_async import CampaignType, Record, WolkvoxClient
    from wolkvox_async.testing import FakeWolkvox

    assert WolkvoxClient and CampaignType and Record and FakeWolkvox


def test_all_is_complete_and_resolvable() -> None:
    for module in (wolkvox_async, wolkvox_async.models, wolkvox_async.testing):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
        public = {n for n in vars(module) if not n.startswith("_") and n[0].isupper()}
        assert public <= set(module.__all__), public - set(module.__all__)


def test_error_tree() -> None:
    w = wolkvox_async
    for cls in (w.ConfigError, w.TransportError, w.SchedulerRefusal, w.ApiError):
        assert issubclass(cls, w.WolkvoxError)
    assert issubclass(w.RequestTimeout, w.TransportError)
    assert issubclass(w.RequestTimeout, TimeoutError)
    assert issubclass(w.ConfigError, ValueError)
    for cls in (w.QuotaExhausted, w.WaitTooLong):
        assert issubclass(cls, w.SchedulerRefusal)
    for cls in (
        w.BadRequest,
        w.Unauthorized,
        w.InvalidToken,
        w.TokenLimitExceeded,
        w.TooManySimultaneous,
        w.Maintenance,
        w.NotFound,
        w.CampaignFull,
        w.ServerError,
        w.ResponseDecodeError,
    ):
        assert issubclass(cls, w.ApiError)
    assert issubclass(w.NotWolkvox, w.ResponseDecodeError)  # caught where decode errors are
