"""The import contract: required columns, allowed enum values, and strict coercion of text cells.

Connectors and the `files` importer both hand rows through `coerce_row`, which turns text (CSV) or
JSON values into the warehouse types and raises `InvalidRow` with a one-line reason on anything it
cannot take: a missing required column, an unparseable date, an unknown enum value, a wrong type.

A row `coerce_row` accepts is one every warehouse stores (and a connector's own rows meet the same
time rule through `check_times`, which the sync engine applies to every synced row), so one bad value costs its own row and
never the page it came in: times lie in [1900-01-01, 2200-01-01) UTC (outside that they are typos
or epoch units gone wrong, and near year 1 or 9999 an offset overflows Python's datetime); text,
including what lands in `extra`, holds no NUL character and no lone surrogate (PostgreSQL's text
and jsonb cannot, and a surrogate cannot be encoded at all); JSON holds no NaN or infinity
(PostgreSQL's jsonb refuses them); whole numbers fit a 32-bit integer column; keys fit their
column's length.
"""

from __future__ import annotations

import json
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from deskpulse.kpi_core.models import CANONICAL_MODELS, WAREHOUSE_MODELS

CHANNELS = frozenset(
    {
        "email",
        "web",
        "chat",
        "phone",
        "sms",
        "whatsapp",
        "twitter",
        "facebook",
        "instagram",
        "api",
        "other",
    }
)
SOCIAL_CHANNELS = frozenset({"twitter", "facebook", "instagram"})
TICKET_STATUSES = frozenset({"new", "open", "pending", "hold", "solved", "closed", "deleted"})
SOLVED_STATUSES = frozenset({"solved", "closed"})
PRIORITIES = frozenset({"low", "normal", "high", "urgent"})
PREDICTIVE_SUFFIX = "_predictive"
"""A `customers` row's `extra` may carry a marketing tool's own predictions for the person
(`predicted_clv`, `churn_probability`, numbers) as a mapping under `<vendor>_predictive`; the
support-to-revenue view averages them (kpi_core.identity). Named by vendor, so two tools' values
never mix in one row."""
SURVEYS = frozenset({"csat", "nps", "ces", "iqs", "employee"})
# The help desks' SLA activity, whatever the vendor calls it (meanings: models.SlaEvent).
SLA_EVENT_TYPES = frozenset(
    {"applied", "started", "paused", "fulfilled", "breached", "measured", "updated"}
)
DEFAULT_SCALES: dict[str, tuple[float, float]] = {
    "csat": (1, 5),
    "nps": (0, 10),
    "ces": (1, 7),
    "iqs": (0, 100),
    "employee": (1, 10),
}

# Closed vocabularies: a value outside these is a bad row. Columns documented as "free text
# allowed" or "..." in the catalog (ticket type, acquisition channel, network, kind, category)
# are open and not listed here.
ENUMS: dict[tuple[str, str], frozenset[str]] = {
    ("agents", "role"): frozenset({"agent", "admin", "bot"}),
    ("tickets", "priority"): PRIORITIES,
    ("tickets", "channel"): CHANNELS,
    ("tickets", "status"): TICKET_STATUSES,
    ("ticket_events", "kind"): frozenset({"message", "status", "assignment"}),
    ("ticket_events", "author_kind"): frozenset({"agent", "customer", "bot", "system"}),
    ("ticket_events", "status"): TICKET_STATUSES,
    ("calls", "direction"): frozenset({"inbound", "outbound"}),
    ("calls", "outcome"): frozenset({"answered", "abandoned", "missed", "blocked", "voicemail"}),
    ("chats", "outcome"): frozenset({"answered", "missed", "abandoned"}),
    ("social_mentions", "sentiment"): frozenset({"positive", "neutral", "negative"}),
    ("survey_responses", "survey"): SURVEYS,
    ("agent_sessions", "state"): frozenset({"available", "busy", "away"}),
    ("sla_events", "type"): SLA_EVENT_TYPES,
}

# Required columns beyond `id` (costs has no id in files: the importer derives one).
REQUIRED: dict[str, tuple[str, ...]] = {
    "agents": ("id",),
    "customers": ("id",),
    "tickets": ("id", "created_at"),
    "ticket_events": ("id", "ticket_id", "created_at", "kind"),
    "calls": ("id", "queued_at"),
    "chats": ("id", "requested_at"),
    "social_mentions": ("id", "created_at"),
    "survey_responses": ("id", "survey", "score", "created_at"),
    "reviews": ("id", "rating", "created_at"),
    "orders": ("id", "customer_id", "amount", "created_at"),
    "engagement_events": ("id", "customer_id", "kind", "created_at"),
    "agent_sessions": ("id", "agent_id", "started_at", "ended_at"),
    "costs": ("period_start", "period_end", "amount"),
    "kb_articles": ("id",),
}

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""Times outside [EARLIEST, LATEST) are refused (see the module docstring)."""
_RANGE = f"out of range ({EARLIEST.year}-{LATEST.year - 1})"
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1  # INTEGER columns are 32-bit on PostgreSQL
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
"""What no warehouse stores in text: NUL (PostgreSQL refuses it) and lone surrogates."""

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


class InvalidRow(ValueError):
    """A row that cannot enter the warehouse; the message is the one-line reason."""


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: type  # str, int, float, bool, datetime, dict or list
    max_length: int | None = None


def _column_kind(annotation: Any) -> type:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = args[0]
    origin = typing.get_origin(annotation)
    if origin is not None:
        return origin  # type: ignore[no-any-return]
    return annotation  # type: ignore[no-any-return]


def columns(table: str) -> dict[str, ColumnSpec]:
    """Column name -> spec for a warehouse table, `source` excluded."""
    model = WAREHOUSE_MODELS[table]
    sa_columns = model.__table__.columns  # type: ignore[attr-defined]
    return {
        name: ColumnSpec(
            name,
            _column_kind(field.annotation),
            getattr(sa_columns[name].type, "length", None),
        )
        for name, field in model.model_fields.items()
        if name != "source"
    }


_COLUMNS = {table: columns(table) for table in WAREHOUSE_MODELS}
_TIMES = {
    table: tuple(name for name, spec in cols.items() if spec.kind is datetime)
    for table, cols in _COLUMNS.items()
}


def parse_datetime(value: Any) -> datetime:
    """ISO-8601 text, a date, an aware or naive datetime, or epoch seconds -> aware UTC.

    Raises `InvalidRow` for anything else and for times outside [EARLIEST, LATEST)."""
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        # Checked before converting: 1e20 overflows, and NaN compares false to both bounds.
        if not EARLIEST.timestamp() <= value < LATEST.timestamp():
            raise InvalidRow(f"{_RANGE}: {value!r}")
        return datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            result = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidRow(f"not an ISO-8601 date/time: {value!r}") from None
    else:
        raise InvalidRow(f"not a date/time: {value!r}")
    if not EARLIEST.year <= result.year < LATEST.year:
        raise InvalidRow(f"{_RANGE}: {value!r}")  # before converting: an offset may overflow
    moment = result.replace(tzinfo=UTC) if result.tzinfo is None else result.astimezone(UTC)
    if not EARLIEST <= moment < LATEST:
        raise InvalidRow(f"{_RANGE}: {value!r}")
    return moment


def check_times(table: str, values: Mapping[str, Any]) -> None:
    """The time rule of `parse_datetime` for a row a connector built itself (sync.engine applies
    it to every synced row): a time outside [EARLIEST, LATEST) raises `InvalidRow`, so the record
    is quarantined with the reason, as an imported row with that time is."""
    for name in _TIMES.get(table, ()):
        value = values.get(name)
        year = getattr(value, "year", None)
        if year is not None and not EARLIEST.year <= year < LATEST.year:
            shown = value.isoformat() if isinstance(value, date) else value
            raise InvalidRow(f"{name}: {_RANGE}: {shown!r}")


def _storable(name: str, value: Any) -> None:
    """Refuse what no warehouse stores, anywhere in a value (text or JSON): NUL characters, lone
    surrogates, NaN and infinities."""
    if isinstance(value, str):
        found = UNSTORABLE_TEXT.search(value)
        if found is not None:
            if found.group() == "\x00":
                raise InvalidRow(f"{name}: contains a NUL character")
            raise InvalidRow(f"{name}: not valid Unicode (a lone surrogate)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRow(f"{name}: not a finite number: {value!r}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(name, key)
            _storable(name, item)
    elif isinstance(value, list):
        for item in value:
            _storable(name, item)


def _coerce(table: str, spec: ColumnSpec, value: Any) -> Any:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    kind = spec.kind
    if kind is datetime:
        return parse_datetime(value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise InvalidRow(f"{spec.name}: not a boolean: {value!r}")
    if kind is int or kind is float:
        if isinstance(value, bool):
            raise InvalidRow(f"{spec.name}: not a number: {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidRow(f"{spec.name}: not a number: {value!r}") from None
        if not math.isfinite(number):
            raise InvalidRow(f"{spec.name}: not a finite number: {value!r}")
        if kind is int:
            if not number.is_integer():
                raise InvalidRow(f"{spec.name}: not a whole number: {value!r}")
            if not _INT_MIN <= number <= _INT_MAX:
                raise InvalidRow(f"{spec.name}: out of range: {value!r}")
            return int(number)
        return number
    if kind is str:
        if isinstance(value, dict | list):
            raise InvalidRow(f"{spec.name}: expected text, got {type(value).__name__}")
        text = value if isinstance(value, str) else str(value)
        _storable(spec.name, text)
        if spec.max_length is not None and len(text) > spec.max_length:
            raise InvalidRow(f"{spec.name}: longer than {spec.max_length} characters")
        allowed = ENUMS.get((table, spec.name))
        if allowed is not None:
            text = text.strip().lower()
            if text not in allowed:
                raise InvalidRow(
                    f"{spec.name}: unknown value {value!r} (expected one of "
                    f"{', '.join(sorted(allowed))})"
                )
        return text
    _storable(spec.name, value)
    return value  # JSON columns pass through


_CHANGES = 'expected AT=SCHEDULE pairs separated by ";", or a JSON list of {"at", "schedule"}'


def schedule_changes(value: Any) -> list[dict[str, str]]:
    """A ticket's `schedule_changes` (see kpi_core.business_hours) in the one stored form:
    `[{"at": ISO-8601 UTC, "schedule": NAME}, ...]`.

    Taken as that list (JSONL), as its JSON text, or, handier in a CSV cell, as
    `AT=SCHEDULE` pairs separated by `;` (`2026-03-03T17:00:00Z=us; 2026-03-10=eu`).
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise InvalidRow(f"schedule_changes: not valid JSON: {value!r}") from None
        else:
            pairs = []
            for part in filter(None, (p.strip() for p in text.split(";"))):
                moment, sep, named = (piece.strip() for piece in part.partition("="))
                if not sep or not moment or not named:
                    raise InvalidRow(f"schedule_changes: {_CHANGES}, got {part!r}")
                pairs.append({"at": moment, "schedule": named})
            value = pairs
    if not isinstance(value, list):
        raise InvalidRow(f"schedule_changes: {_CHANGES}")
    changes = []
    for item in value:
        at = item.get("at") if isinstance(item, dict) else None
        name = item.get("schedule") if isinstance(item, dict) else None
        if at is None or not isinstance(name, str | int) or str(name).strip() == "":
            raise InvalidRow(f"schedule_changes: {_CHANGES}, got {item!r}")
        try:
            when = parse_datetime(at)
        except InvalidRow as exc:
            raise InvalidRow(f"schedule_changes: {exc}") from None
        changes.append({"at": when.isoformat(), "schedule": str(name).strip()})
    return changes


def coerce_row(table: str, raw: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """Map one raw row onto `table`'s columns; unknown columns go to `extra`.

    Raises `InvalidRow` with a one-line reason on any value the warehouse cannot take.
    """
    cols = _COLUMNS[table]
    for name in REQUIRED.get(table, ("id",)):
        value = raw.get(name)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            raise InvalidRow(f"missing required column {name!r}")
    row: dict[str, Any] = {"source": source}
    extra: dict[str, Any] = (
        dict(raw.get("extra") or {}) if isinstance(raw.get("extra"), dict) else {}
    )
    for name, value in raw.items():
        if name == "extra" or name == "source":
            continue
        spec = cols.get(name)
        if spec is None:
            if value is not None and value != "":
                extra[name] = value
            continue
        try:
            row[name] = _coerce(table, spec, value)
        except InvalidRow as exc:
            message = str(exc)
            raise InvalidRow(
                message if message.startswith(name) else f"{name}: {message}"
            ) from None
    if table == "costs" and not row.get("id"):
        row["id"] = "{}/{}/{}".format(
            row["period_start"].date().isoformat(),
            row["period_end"].date().isoformat(),
            row.get("category") or "all",
        )
    if "id" in row:
        row["id"] = str(row["id"])
    for name in cols:
        row.setdefault(name, None)
    if "public" in cols and row.get("public") is None and table == "ticket_events":
        row["public"] = True
    if table == "tickets" and "schedule_changes" in extra:
        extra["schedule_changes"] = schedule_changes(extra["schedule_changes"])
    for name, value in extra.items():
        _storable(str(name), name)
        _storable(str(name), value)
    row["extra"] = extra or None
    return row


__all__ = [
    "CANONICAL_MODELS",
    "CHANNELS",
    "DEFAULT_SCALES",
    "EARLIEST",
    "ENUMS",
    "LATEST",
    "PRIORITIES",
    "REQUIRED",
    "SLA_EVENT_TYPES",
    "SOCIAL_CHANNELS",
    "SOLVED_STATUSES",
    "SURVEYS",
    "TICKET_STATUSES",
    "UNSTORABLE_TEXT",
    "InvalidRow",
    "check_times",
    "coerce_row",
    "columns",
    "parse_datetime",
    "schedule_changes",
]
