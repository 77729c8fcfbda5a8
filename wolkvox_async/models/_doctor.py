"""What ``doctor`` found: one :class:`Check` per line, the :class:`DoctorReport` of all.

A check says what it looked at (``name``), how it went (``level``), what was seen and,
unless all is well, the fix: one sentence, the next thing to do. The report's exit code is
the command's (0 all ok, 1 warnings, 2 errors). Nothing here holds the token: what a check
saw is redacted before it is made into one.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

__all__ = ["Check", "CheckLevel", "DoctorReport"]


class CheckLevel(enum.StrEnum):
    """How a check went, from best to worst."""

    OK = "ok"
    WARNING = "warning"
    """Works, but something will bite later (a clock minutes off, a disk nearly full)."""
    ERROR = "error"
    """Calls fail, or could trip a limit, until it is fixed."""

    @property
    def rank(self) -> int:
        """0, 1, 2: also the exit code of a report whose worst check this is."""
        return _RANKS[self]


_RANKS = {CheckLevel.OK: 0, CheckLevel.WARNING: 1, CheckLevel.ERROR: 2}


@attrs.frozen(kw_only=True)
class Check:
    """One line of the report."""

    name: str
    """What was checked: ``base_url``, ``token``, ``quota``, ``ledger``, ``ledger_disk``,
    ``ledger_fence``, ``redis_eviction``, ``clock``, ``server``."""
    level: CheckLevel
    seen: str
    """What was seen, in a sentence (``skipped: server unreachable`` where the check
    needed an answer that did not come)."""
    fix: str = ""
    """The next thing to do (empty when ``level`` is OK)."""

    def to_dict(self) -> dict[str, str]:
        """As ``wolkvox doctor --json`` writes it."""
        return {"name": self.name, "level": self.level.value, "seen": self.seen, "fix": self.fix}


@attrs.frozen(kw_only=True)
class DoctorReport:
    """Every check of ``await wv.doctor()``, in the order they ran."""

    checks: tuple[Check, ...]

    @property
    def level(self) -> CheckLevel:
        """The worst level of the checks (OK when there are none)."""
        return max((c.level for c in self.checks), key=lambda lv: lv.rank, default=CheckLevel.OK)

    @property
    def ok(self) -> bool:
        """No warning and no error."""
        return self.level is CheckLevel.OK

    @property
    def exit_code(self) -> int:
        """``wolkvox doctor``'s exit code: 0 all ok, 1 warnings, 2 errors."""
        return self.level.rank

    def check(self, name: str) -> Check:
        """The check called ``name``.

        Raises:
            KeyError: no check has that name (the message lists those there are).
        """
        for found in self.checks:
            if found.name == name:
                return found
        raise KeyError(f"no check {name!r}; there are {[c.name for c in self.checks]}")

    def to_dict(self) -> dict[str, Any]:
        """As ``wolkvox doctor --json`` writes it."""
        return {
            "level": self.level.value,
            "exit_code": self.exit_code,
            "checks": [c.to_dict() for c in self.checks],
        }
