"""Models the caller builds and sends: campaign records, DNC entries, filter rules.

They validate themselves on construction, so a bad record is refused with a message
naming the field before any request is sent (wolkvox-api.md §5 "2.1 Insert records":
opt1–opt6 at most 100 characters, opt7–opt12 at most 200).

This module also holds the one rule for text sent to Wolkvox (:func:`text_problem`); the
length of every record field comes from the field table (``_fields``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final, Literal

import attrs

from .._errors import ConfigError, shown
from ._fields import (
    FIELD_MAX_LENGTHS,
    MAX_OPTS,
    MAX_PHONES,
    OPT_MAX_LENGTHS,
    PHONE_MAX_LENGTH,
    TEXT_MAX_LENGTH,
)

__all__ = [
    "UNSENDABLE",
    "DncEntry",
    "FilterRule",
    "Record",
    "text_problem",
]

# A NUL or another C0 control (tab, newline and carriage return excepted) and a lone
# surrogate (not UTF-8 at all) cannot be meant; PHP truncates at NUL in places.
UNSENDABLE: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def text_problem(value: object, limit: int) -> str | None:
    """Why ``value`` cannot be sent as a text field of at most ``limit`` characters, or
    None. The common value costs two C-level scans (``isprintable`` is false only for
    controls, separators other than the space, and the like)."""
    if type(value) is not str:
        return f"must be text, not {type(value).__name__}"
    if len(value) > limit:
        return f"is {len(value):,} characters long; at most {limit:,}"
    if not value.isprintable() and (bad := UNSENDABLE.search(value)):
        what = "a lone surrogate" if bad[0] >= "\ud800" else f"a control character {bad[0]!r}"
        return f"holds {what}, which cannot be sent"
    return None


def _check_text(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    limit = FIELD_MAX_LENGTHS.get(attribute.name, TEXT_MAX_LENGTH)
    if problem := text_problem(value, limit):
        raise ConfigError(f"{attribute.name} {problem}")


def _check_customer_id(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _check_text(inst, attribute, value)
    if not str(value).strip():
        # remove_record, find_record and resumable uploads all key on customer_id.
        raise ConfigError("customer_id must not be blank")


def _check_phones(inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if len(value) > MAX_PHONES:
        raise ConfigError(f"phones holds {len(value)} numbers; Wolkvox takes tel1..tel{MAX_PHONES}")
    for i, phone in enumerate(value, start=1):
        if problem := text_problem(phone, PHONE_MAX_LENGTH):
            raise ConfigError(f"tel{i} {problem}")


def _check_opts(inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if len(value) > MAX_OPTS:
        raise ConfigError(f"opts holds {len(value)} values; Wolkvox takes opt1..opt{MAX_OPTS}")
    for i, (opt, limit) in enumerate(zip(value, OPT_MAX_LENGTHS, strict=False), start=1):
        if problem := text_problem(opt, limit):
            raise ConfigError(f"opt{i} {problem}")


def _check_moment(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, datetime):
        raise ConfigError(f"{attribute.name} must be a datetime, not {type(value).__name__}")


def _to_tuple(value: Any) -> tuple[Any, ...]:
    if isinstance(value, str):
        # A lone string would otherwise be split into characters.
        return (value,)
    return tuple(value)


_text = attrs.field(default="", validator=_check_text)


@attrs.frozen(kw_only=True)
class Record:
    """One campaign record for ``add_record`` / ``upload_records``.

    On the wire ``phones`` becomes ``tel1..tel10`` and ``opts`` becomes ``opt1..opt12``;
    a dict with those wire keys is accepted wherever a Record is.
    """

    customer_id: str = attrs.field(validator=_check_customer_id)
    """The caller's key for the customer; find_record and remove_record match on it."""
    customer_name: str = _text
    customer_last_name: str = _text
    id_type: str = _text
    """Identification type (e.g. "CC")."""
    age: str = _text
    gender: str = _text
    country: str = _text
    state: str = _text
    city: str = _text
    zone: str = _text
    address: str = _text
    phones: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple, validator=_check_phones)
    """tel1..tel10, in order; the dialer calls them in this order."""
    opts: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple, validator=_check_opts)
    """opt1..opt12, free fields shown to agents (opt1–6 ≤ 100 chars, opt7–12 ≤ 200)."""
    tel_extra: str = _text
    """Predictive only."""
    email: str = _text
    """Predictive only."""
    recall_date: datetime | None = attrs.field(default=None, validator=_check_moment)
    """Predictive only: schedule a call back (naive = Wolkvox time, America/Bogota)."""
    recall_telephone: str = _text
    """Predictive only: the number to call back."""
    agent_id: str = _text
    """Preview only: assign the record to this agent."""


@attrs.frozen(kw_only=True)
class DncEntry:
    """A number to block for ``add_dnc`` (campaign.php #1)."""

    telephone: str = attrs.field(validator=_check_text)
    days_block: int = 15
    """Days the number stays blocked."""

    def __attrs_post_init__(self) -> None:
        if not self.telephone.strip():
            raise ConfigError("telephone must not be blank")
        if isinstance(self.days_block, bool) or not isinstance(self.days_block, int):
            raise ConfigError("days_block must be an int")
        if self.days_block < 1:
            raise ConfigError(f"days_block must be at least 1, got {self.days_block}")


FilterOperator = Literal["<", ">", ">=", "<=", "!=", "=", "is", "like"]


@attrs.frozen(kw_only=True)
class FilterRule:
    """One rule of ``campaign_filter`` (campaign.php #14)."""

    field: str = attrs.field(validator=_check_text)
    """A customer field, opt1..opt12, tel1..tel10, tel_extra, email or result."""
    operator: FilterOperator
    value: str = attrs.field(validator=_check_text)

    def __attrs_post_init__(self) -> None:
        if self.operator not in ("<", ">", ">=", "<=", "!=", "=", "is", "like"):
            raise ConfigError(f"operator {shown(self.operator)} is not one Wolkvox accepts")
