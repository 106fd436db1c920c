"""LiveAgent's one-letter codes and local date strings, and how they map onto the canonical model.

Every code table is explicit: the codes LiveAgent documents (the reconstructed v3 spec's field
descriptions, and LiveAgent's own help articles) each map to one canonical value. A code that is
not in a table is never a crash: the record maps with a neutral value (`other` channel, `open`
status...), the raw code is kept in the row's `extra`, and `UnknownCodes` logs one warning per
(field, code) and sync run.
"""

from __future__ import annotations

import logging
import math
import threading
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from deskpulse.connectors.errors import RecordError

log = logging.getLogger(__name__)

# --- tickets -----------------------------------------------------------------------------------

TICKET_STATUSES: dict[str, str] = {
    "I": "new",  # init: the conversation is being created
    "N": "new",
    "T": "open",  # chatting
    "P": "open",  # calling
    "C": "open",
    "A": "pending",  # answered: the agent replied, the customer is to answer
    "W": "hold",  # postponed
    "R": "solved",  # resolved
    "L": "closed",
    "X": "deleted",
    "B": "deleted",  # spam: out of every metric, like a deleted ticket
}
"""Ticket (conversation) status codes -> canonical status. Unknown codes map to `open`."""

STATUS_CODES: dict[str, str] = {
    "new": "N",
    "open": "C",
    "pending": "A",
    "hold": "W",
    "solved": "R",
    "closed": "L",
    "deleted": "X",
}
"""Canonical status -> the code a write sends (`PUT /tickets/{id}` takes I/N/T/P/R/X/B/A/C/W)."""

CHANNEL_TYPES: dict[str, str] = {
    "E": "email",
    "B": "chat",  # contact (chat) button
    "I": "chat",  # chat invitation
    "M": "web",  # contact form
    "Q": "web",  # forum post
    "S": "web",  # suggestion (feedback portal)
    "C": "phone",  # call
    "W": "phone",  # call button (web call)
    "F": "facebook",  # Facebook page post / comment
    "A": "facebook",  # Facebook message
    "T": "twitter",
    "V": "other",  # Viber (named in LiveAgent's filter examples; no canonical channel)
}
"""`channel_type` codes -> canonical channel. Unknown codes map to `other`. LiveAgent has no
`api` channel: a ticket created through the API is an e-mail conversation (`E`)."""

SOCIAL_NETWORKS: dict[str, str] = {"F": "facebook", "A": "facebook", "T": "twitter"}
"""Channel codes whose conversations are also social mentions."""

# --- conversations (GET /tickets/{id}/messages) -------------------------------------------------

GROUP_TYPES: dict[str, str] = {
    "M": "reply",  # offline (e-mail, form) message
    "C": "reply",  # chat
    "P": "reply",  # call
    "V": "reply",  # outgoing call
    "F": "reply",  # Facebook
    "W": "reply",  # Twitter
    "Y": "reply",  # retweet
    "A": "reply",  # knowledge base start
    "K": "reply",  # knowledge base
    "O": "reply",  # forward
    "1": "internal",  # internal call
    "I": "internal",
    "U": "internal",  # internal offline
    "Z": "internal",  # internal collapsed
    "S": "system",  # start info
    "T": "system",  # transfer
    "R": "system",  # resolve
    "J": "system",  # postpone
    "X": "system",  # delete
    "B": "system",  # spam
    "G": "system",  # tag
}
"""Message group types -> `reply` (a public exchange), `internal` (notes) or `system`."""

MESSAGE_TYPES: dict[str, str] = {
    "M": "text",
    "Y": "text",  # legacy message
    "V": "text",  # voice (a call's recording stands for the spoken reply)
    "F": "text",  # a file sent in the conversation
    "I": "note",  # internal
    "N": "note",
    "L": "note",  # note file
    "1": "note",  # internal voice
    "W": "rating",  # ranking feature: a customer's reward or punishment
    "Q": "skip",  # quoted text of an earlier message
    "T": "skip",  # title
    "E": "skip",  # end
    "D": "skip",  # disconnect
    "H": "skip",  # e-mail header
    "A": "skip",  # text header
    "O": "skip",  # text footer
    "U": "skip",  # user agent
    "Z": "skip",  # form field
    "R": "skip",  # transfer
    "G": "skip",  # tag
    "J": "skip",  # status
    "B": "skip",  # splitted
    "S": "system",  # system message (rules, bots, automatic answers)
}
"""Message types -> `text` (a message that counts), `note`, `rating`, `system` or `skip` (parts of a
message group that are not messages of their own: headers, quotes, footers...)."""

RATINGS: dict[str, float] = {
    "R": 5.0,
    "reward": 5.0,
    "positive": 5.0,
    "+": 5.0,
    "N": 3.0,
    "neutral": 3.0,
    "0": 3.0,
    "P": 1.0,
    "punishment": 1.0,
    "negative": 1.0,
    "-": 1.0,
}
"""A customer's rating of an answer (LiveAgent's "ranking": reward, neutral "it was OK",
punishment) -> a CSAT score on a 1-5 scale: the top two points are positive, so a reward counts as
satisfied and a punishment as not, as the help desk's own report counts them."""

# --- people and live contacts ------------------------------------------------------------------

AGENT_ROLES: dict[str, str] = {
    "owner": "admin",
    "admin": "admin",
    "administrator": "admin",
    "agent": "agent",
    "O": "admin",
    "A": "admin",
    "G": "agent",
}
"""Agent roles (names or one-letter codes) -> canonical role. Unknown roles map to `agent`."""

AGENT_STATUSES: dict[str, bool] = {"A": True, "X": False}
"""Agent `status`: A active, X deleted (-> `active`)."""

CALL_DIRECTIONS: dict[str, str | None] = {
    "I": "inbound",
    "O": "outbound",
    "T": None,  # internal call between agents: not a customer contact
    "in": "inbound",
    "out": "outbound",
    "int": None,
}
"""Call `type` codes -> canonical direction; None = not a customer contact (skipped)."""

CHAT_STATUSES: dict[str, str] = {"C": "chatting", "T": "finished", "R": "ringing", "Q": "queue"}
"""Chat `status` codes (kept in extra)."""


class UnknownCodes:
    """Logs one warning per (field, code) per sync run, however many records carry it."""

    def __init__(self, vendor: str = "liveagent") -> None:
        self._vendor = vendor
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def lookup(self, table: dict[str, Any], field: str, code: Any, default: Any) -> Any:
        """table[code], or `default` after warning once about the unknown code."""
        if isinstance(code, str) and code in table:
            return table[code]
        key = (field, repr(code))
        with self._lock:
            fresh = key not in self._seen
            self._seen.add(key)
        if fresh:
            log.warning(
                "%s: unknown %s code %r: mapped to %r, raw value kept in extra",
                self._vendor,
                field,
                code,
                default,
            )
        return default

    @property
    def seen(self) -> set[tuple[str, str]]:
        return set(self._seen)


# --- dates -------------------------------------------------------------------------------------


def zone(name: str) -> tzinfo:
    return UTC if name.upper() == "UTC" else ZoneInfo(name)


def parse_when(value: Any, tz: tzinfo, field: str) -> datetime | None:
    """LiveAgent's `YYYY-MM-DD HH:MM:SS` (local to the account's time zone, no offset), or ISO-8601
    with an offset, or epoch seconds (grid endpoints) -> aware UTC. Empty, None and the
    `0000-00-00 00:00:00` MySQL zero date mean "not set"."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RecordError(f"{field}: not a date/time: {value!r}")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise RecordError(f"{field}: epoch out of range: {value!r}") from None
    if not isinstance(value, str):
        raise RecordError(f"{field}: not a date/time: {value!r}")
    text = value.strip()
    if not text or text.startswith("0000-00-00"):
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"{field}: not a date/time: {value!r}") from None
    if parsed.tzinfo is None:
        # fold=0: in the hour a DST change repeats, the earlier instant (LiveAgent gives no hint).
        parsed = parsed.replace(tzinfo=tz)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise RecordError(f"{field}: out of range: {value!r}") from None


def format_when(moment: datetime, tz: tzinfo) -> str:
    """An aware datetime as the `YYYY-MM-DD HH:MM:SS` LiveAgent's date filters take, in `tz`."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: Any, field: str) -> float | None:
    """A duration that LiveAgent sends as text or a number of seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{field}: not a number: {value!r}")
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or number < 0:
        raise RecordError(f"{field}: not a duration in seconds: {value!r}")
    return number
