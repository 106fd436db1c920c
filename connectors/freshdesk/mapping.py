"""Freshdesk's numeric codes -> the canonical vocabulary, as explicit tables.

Freshdesk sends statuses, priorities, sources and survey answers as numbers. Each table below is
the whole mapping; a code outside it (a custom status the account added, a new source) maps to
a neutral value, keeps its raw number in the row's `extra`, and logs one warning per code per
sync (`UnknownCodes`). An account's own custom statuses can be named in `FRESHDESK_STATUS_MAP`
(`8=hold,9=pending`): they join the status table for that source.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from deskpulse.connectors.errors import RecordError
from deskpulse.kpi_core.canonical import TICKET_STATUSES

log = logging.getLogger(__name__)

STATUSES: dict[int, str] = {
    2: "open",
    3: "pending",
    4: "solved",  # Resolved
    5: "closed",
    6: "pending",  # "Waiting on Customer", a default custom status of new accounts
    7: "hold",  # "Waiting on Third Party", likewise
}
UNKNOWN_STATUS = "open"
"""An unknown custom status: not solved, so the ticket stays in backlogs and open counts."""

PRIORITIES: dict[int, str] = {1: "low", 2: "normal", 3: "high", 4: "urgent"}

SOURCES: dict[int, str] = {
    1: "email",
    2: "web",  # Portal
    3: "phone",
    4: "web",  # Forum
    5: "twitter",
    6: "facebook",
    7: "chat",
    8: "other",  # MobiHelp
    9: "web",  # Feedback widget
    10: "email",  # Outbound email: an agent opened the ticket
    11: "other",  # E-commerce
}
OUTBOUND_EMAIL = 10
SOCIAL = {5: "twitter", 6: "facebook"}

RATINGS: dict[int, float] = {
    103: 5.0,  # Extremely happy (the classic survey's "Awesome")
    102: 4.0,  # Very happy
    101: 4.0,  # Happy
    100: 3.0,  # Neutral
    -101: 2.0,  # Unhappy
    -102: 2.0,  # Very unhappy
    -103: 1.0,  # Extremely unhappy (the classic survey's "Not good")
}
"""A survey answer on Freshdesk's -103..103 scale -> CSAT on 1-5 (positive: 4 and 5). The
three-point classic survey uses 103, 100 and -103; the five- and seven-point ones the rest."""


def status_map(text: str | None) -> dict[int, str]:
    """`"8=hold, 9=pending"` -> {8: "hold", 9: "pending"}; ValueError on anything else (the
    settings loader names the variable)."""
    out: dict[int, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        code, sep, status = (part.strip() for part in item.partition("="))
        if not sep or not code.isdigit() or status not in TICKET_STATUSES:
            raise ValueError(
                f"{item.strip()!r} is not code=status "
                f"(status one of {', '.join(sorted(TICKET_STATUSES))})"
            )
        out[int(code)] = status
    return out


def code(value: Any, field: str) -> int | None:
    """A numeric code as an int (None when absent); RecordError for anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{field}: expected a number, got {value!r}")
    return value


def parse_time(value: Any, field: str) -> datetime | None:
    """Freshdesk's ISO 8601 times (UTC, `Z`) -> aware UTC datetimes."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"{field}: expected a time, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"{field}: not a time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset
        raise RecordError(f"{field}: out of range: {value!r}") from None


def format_time(moment: datetime) -> str:
    """An aware datetime as Freshdesk's filters take it: UTC, to the second, with `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class UnknownCodes:
    """One warning per (field, code) per sync, however many records carry the code."""

    def __init__(self) -> None:
        self._warned: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def map(self, table: Mapping[int, Any], field: str, value: int | None, neutral: Any) -> Any:
        if value is None:
            return None
        if value in table:
            return table[value]
        with self._lock:
            first = (field, value) not in self._warned
            self._warned.add((field, value))
        if first:
            log.warning(
                "freshdesk: unknown %s code %s: mapped to %s, the code kept in extra",
                field,
                value,
                neutral,
            )
        return neutral

    @property
    def seen(self) -> frozenset[tuple[str, int]]:
        with self._lock:
            return frozenset(self._warned)
