"""Enumerations shared by requests and responses, and the result-vocabulary normaliser.

Wolkvox spells the same call outcome differently per endpoint (wolkvox-api.md §7):
``no-answer`` in filters and reports, ``NO-ANSWER`` in campaign_3 data, ``NO ANSWER`` in
the campaign_15 export, ``No answer`` in cdr_5. :meth:`CallResult.parse` folds case and
separators so callers compare against one enum, while models keep the raw string too.
"""

from __future__ import annotations

import enum

__all__ = ["CallResult", "CampaignStatus", "CampaignType"]


class CampaignType(enum.StrEnum):
    """``type_campaign`` of campaign.php (§5)."""

    PREDICTIVE = "predictive"
    PREVIEW = "preview"


class CampaignStatus(enum.StrEnum):
    """Campaign state; information.php says "Started", real_time.php "started" (§9.7)."""

    STARTED = "started"
    STOPPED = "stopped"


class CallResult(enum.StrEnum):
    """Every call result Wolkvox reports, in one normalised vocabulary (§7)."""

    ANSWER = "answer"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    ANSWER_MACHINE = "answer-machine"
    ABANDON = "abandon"
    CONGESTION = "congestion"
    FAILED = "failed"
    UNKNOWN = "unknown"
    DO_NOT_CALL = "do-not-call"
    DO_NOT_CALL_CLEAN = "do-not-call_clean"
    CHANUNAVAIL = "chanunavail"
    RECALL = "recall"
    CANCEL = "cancel"
    TCPA = "tcpa"
    NOT_AVAILABLE = "not-available"
    RPC = "rpc"
    MAILBOX = "mailbox"
    FAX = "fax"
    WRONG_NUMBER = "wrong-number"
    NA = "na"
    CLEAN = "clean"
    MACHINE = "machine"
    HUMAN = "human"
    OTHER = "other"
    """A value not in the documented vocabularies; the model's ``result_raw`` has it."""

    @classmethod
    def parse(cls, raw: str) -> CallResult:
        """Map any documented spelling (any case, space, hyphen or underscore) to a member.

        Unknown values give :attr:`OTHER` rather than an error: Wolkvox adds outcomes
        without notice, and a report row must not be lost because of one.
        """
        return _BY_KEY.get(_key(raw), cls.OTHER)


def _key(raw: str) -> str:
    return "".join(ch for ch in raw.strip().lower() if ch.isalnum())


_BY_KEY = {_key(member.value): member for member in CallResult}
# "do-not-call_clean" folds to "donotcallclean", distinct from "donotcall": both kept.
