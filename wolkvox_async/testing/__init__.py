"""Test support: FakeWolkvox, a faithful Wolkvox simulator, for our tests and yours.

Start it on loopback and point a client at ``fake.url``; or use the ``fake_wolkvox``
pytest fixture (installed with the ``testing`` extra); or run it as a process with
``python -m wolkvox_async.testing --port 8080``. Scheduler state made from a backend URL
is process-wide, like the real quota, and a client's default backend is the per-user
ledger; call :func:`reset_shared_state` before and between test cases (the fixture does):
it starts each afresh, with ``memory://`` as the default.
:class:`VirtualClock` lets a test move time by hand.
"""

from ..scheduler import VirtualClock as VirtualClock
from ..scheduler._backend import isolate_for_tests as reset_shared_state
from ._faults import Fault as Fault
from ._replies import Knobs as Knobs
from ._server import FakeWolkvox as FakeWolkvox
from ._server import LoggedRequest as LoggedRequest
from ._state import Attempt as Attempt
from ._state import Campaign as Campaign
from ._state import FakeStats as FakeStats
from ._state import Operation as Operation
from ._thread import serving_in_thread as serving_in_thread

__all__ = [
    "Attempt",
    "Campaign",
    "FakeStats",
    "FakeWolkvox",
    "Fault",
    "Knobs",
    "LoggedRequest",
    "Operation",
    "VirtualClock",
    "reset_shared_state",
    "serving_in_thread",
]
