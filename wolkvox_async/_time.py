"""Wolkvox time: its zone, the query format, and the quota's calendar day.

Wolkvox reads and writes naive times in GMT-5 (wolkvox-api.md §1 "Dates") and resets the
daily quota at its midnight (§3.3). Plain functions of the standard library: the
scheduler, the simulator and the converter all use them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Final

__all__ = [
    "WOLKVOX_TZ",
    "day_of",
    "format_query_datetime",
    "next_reset",
    "to_wolkvox_time",
]

WOLKVOX_TZ: Final = timezone(timedelta(hours=-5), "America/Bogota")
"""Wolkvox time. Colombia has kept UTC-5 without DST since 1993, and campaign_3's docs say
attempt times are "always GMT-5", so a fixed offset is exact and needs no tz database."""

QUERY_FORMAT: Final = "%Y%m%d%H%M%S"
"""``YYYYmmddHHiiss``: every date query parameter (§1 "Dates")."""


def to_wolkvox_time(value: datetime) -> datetime:
    """A naive datetime in Wolkvox time: naive input already is; aware input is converted."""
    if value.tzinfo is None:
        return value
    return value.astimezone(WOLKVOX_TZ).replace(tzinfo=None)


def format_query_datetime(value: datetime) -> str:
    """``YYYYmmddHHiiss`` in Wolkvox time, as every date query parameter wants."""
    return to_wolkvox_time(value).strftime(QUERY_FORMAT)


def day_of(moment: float, tz: tzinfo) -> str:
    """The calendar day (YYYY-mm-dd) of epoch time ``moment`` in ``tz``."""
    return datetime.fromtimestamp(moment, tz).date().isoformat()


def next_reset(moment: float, tz: tzinfo) -> float:
    """Epoch time of the next midnight in ``tz`` after ``moment``."""
    local = datetime.fromtimestamp(moment, tz)
    midnight = datetime(local.year, local.month, local.day, tzinfo=tz) + timedelta(days=1)
    return midnight.astimezone(UTC).timestamp()
