"""The import contract: required columns, allowed enum values, and strict coercion of text cells.

Connectors and the `files` importer both hand rows through `coerce_row`, which turns text (CSV) or
JSON values into the warehouse types and raises `InvalidRow` with a one-line reason on anything it
cannot take: a missing required column, an unparseable date, an unknown enum value, a wrong type.
"""

from __future__ import annotations

import math
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

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


class InvalidRow(ValueError):
    """A row that cannot enter the warehouse; the message is the one-line reason."""


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: type  # str, int, float, bool, datetime, dict or list


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
    return {
        name: ColumnSpec(name, _column_kind(field.annotation))
        for name, field in model.model_fields.items()
        if name != "source"
    }


_COLUMNS = {table: columns(table) for table in WAREHOUSE_MODELS}


def parse_datetime(value: Any) -> datetime:
    """ISO-8601 text, a date, an aware or naive datetime, or epoch seconds -> aware UTC."""
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
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
    return result.replace(tzinfo=UTC) if result.tzinfo is None else result.astimezone(UTC)


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
            return int(number)
        return number
    if kind is str:
        if isinstance(value, dict | list):
            raise InvalidRow(f"{spec.name}: expected text, got {type(value).__name__}")
        text = value if isinstance(value, str) else str(value)
        allowed = ENUMS.get((table, spec.name))
        if allowed is not None:
            text = text.strip().lower()
            if text not in allowed:
                raise InvalidRow(
                    f"{spec.name}: unknown value {value!r} (expected one of "
                    f"{', '.join(sorted(allowed))})"
                )
        return text
    return value  # JSON columns pass through


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
    row["extra"] = extra or None
    return row


__all__ = [
    "CANONICAL_MODELS",
    "CHANNELS",
    "DEFAULT_SCALES",
    "ENUMS",
    "PRIORITIES",
    "REQUIRED",
    "SLA_EVENT_TYPES",
    "SOCIAL_CHANNELS",
    "SOLVED_STATUSES",
    "SURVEYS",
    "TICKET_STATUSES",
    "InvalidRow",
    "coerce_row",
    "columns",
    "parse_datetime",
]
