"""The one table of add_record's fields: wire name, longest value, form, campaign type.

wolkvox-api.md §5 #2.1 (predictive) and #2.2 (preview) list the fields. The docs give
lengths for opt1–opt12 only (opt1–opt6 at most 100 characters, opt7–opt12 at most 200)
and the form of recall_date (yyyymmddhhmmss, 14); for the rest **we** chose bounds no real
value reaches (a phone 30, a customer_id 100, any other text 200, the longest documented),
so a runaway cell (a 10 MB ``tel1``) is refused before it is sent. ``documented`` says
which is which. :class:`~wolkvox_async.models.Record`'s checks and the wire form of a
record (``_records``, ``_convert``) read every bound; the simulator enforces only the
documented ones (a server 400 for a length we guessed would be our guess tested against
itself).
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

from ._enums import CampaignType

__all__ = [
    "DOCUMENTED_MAX_LENGTHS",
    "FIELDS",
    "FIELD_MAX_LENGTHS",
    "MAX_OPTS",
    "MAX_PHONES",
    "NOT_FOR",
    "OPT_KEYS",
    "OPT_MAX_LENGTHS",
    "PHONE_MAX_LENGTH",
    "TEL_KEYS",
    "TEXT_FIELDS",
    "TEXT_MAX_LENGTH",
    "Form",
    "RecordField",
]

PHONE_MAX_LENGTH: Final = 30
TEXT_MAX_LENGTH: Final = 200


class Form(enum.Enum):
    """How a Record holds a field, and so how it becomes its wire value."""

    TEXT = "text"
    """A text attribute of the same name, sent as it is."""
    PHONE = "phone"
    """One of ``Record.phones``, in order (tel1..tel10)."""
    OPT = "opt"
    """One of ``Record.opts``, in order (opt1..opt12)."""
    MOMENT = "moment"
    """A datetime, sent as ``YYYYmmddHHiiss`` in Wolkvox time."""


@attrs.frozen
class RecordField:
    """One add_record field."""

    wire: str
    """Its key in the JSON object."""
    max_length: int
    form: Form = Form.TEXT
    only: CampaignType | None = None
    """The one campaign type that takes it (None: both)."""
    documented: bool = False
    """The docs give ``max_length`` (opt1–opt12, recall_date); else it is our bound."""


_PREDICTIVE, _PREVIEW = CampaignType.PREDICTIVE, CampaignType.PREVIEW

FIELDS: Final[tuple[RecordField, ...]] = (
    RecordField("customer_id", 100),
    *(
        RecordField(name, TEXT_MAX_LENGTH)
        for name in (
            "customer_name",
            "customer_last_name",
            "id_type",
            "age",
            "gender",
            "country",
            "state",
            "city",
            "zone",
            "address",
        )
    ),
    *(RecordField(f"tel{i}", PHONE_MAX_LENGTH, Form.PHONE) for i in range(1, 11)),
    *(
        RecordField(f"opt{i}", 100 if i <= 6 else 200, Form.OPT, documented=True)
        for i in range(1, 13)
    ),
    RecordField("tel_extra", PHONE_MAX_LENGTH, only=_PREDICTIVE),
    RecordField("email", TEXT_MAX_LENGTH, only=_PREDICTIVE),
    RecordField("recall_date", 14, Form.MOMENT, only=_PREDICTIVE, documented=True),
    RecordField("recall_telephone", PHONE_MAX_LENGTH, only=_PREDICTIVE),
    RecordField("agent_id", TEXT_MAX_LENGTH, only=_PREVIEW),
)

FIELD_MAX_LENGTHS: Final = {field.wire: field.max_length for field in FIELDS}
"""The longest value of each field (its wire name), in characters: the client's checks."""
DOCUMENTED_MAX_LENGTHS: Final = {f.wire: f.max_length for f in FIELDS if f.documented}
"""The lengths the docs give (opt1–opt12, recall_date): all a server is known to check."""
TEXT_FIELDS: Final = tuple(field.wire for field in FIELDS if field.form is Form.TEXT)
TEL_KEYS: Final = tuple(field.wire for field in FIELDS if field.form is Form.PHONE)
OPT_KEYS: Final = tuple(field.wire for field in FIELDS if field.form is Form.OPT)
OPT_MAX_LENGTHS: Final = tuple(FIELD_MAX_LENGTHS[key] for key in OPT_KEYS)
MAX_PHONES: Final = len(TEL_KEYS)
MAX_OPTS: Final = len(OPT_KEYS)
NOT_FOR: Final = {
    kind: tuple(field.wire for field in FIELDS if field.only not in (None, kind))
    for kind in CampaignType
}
"""The fields a campaign type does not take (predictive: agent_id; preview: the rest)."""
