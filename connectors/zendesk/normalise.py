"""Zendesk records -> canonical rows (KPI_CATALOG.md section 1), lean enough for the bench.

Plain functions: the big streams (tickets, ticket events, users) map the typed records of
`connectors.zendesk.records` (msgspec decoded only the fields read here), the small ones plain
dicts. Each timestamp is parsed once with `datetime.fromisoformat` (Python 3.11 reads the
trailing `Z`). Values come out in warehouse types: aware UTC datetimes, ids as text, bools,
floats. A record that cannot map raises `RecordError` with a one-line reason; the engine
quarantines it and goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from msgspec import UNSET

from deskpulse.connectors.base import Row
from deskpulse.connectors.errors import RecordError
from deskpulse.connectors.timezones import iana_zone
from deskpulse.connectors.zendesk.records import (
    ChildEvent,
    MetricSet,
    Ticket,
    TicketEvent,
    User,
    Via,
)
from deskpulse.kpi_core.canonical import PRIORITIES, SOCIAL_CHANNELS, TICKET_STATUSES

# --- small parsers ---------------------------------------------------------------------------


def when(value: Any) -> datetime | None:
    """ISO-8601 text (Zendesk always sends UTC with `Z`) or epoch seconds -> aware UTC."""
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            if not value:
                return None
            raise RecordError(f"not an ISO-8601 date/time: {value!r}") from None
        tz = parsed.tzinfo
        if tz is UTC:  # "...Z": the common case
            return parsed
        if tz is None:
            return parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # year 1 with a positive offset: before datetime.min in UTC
            raise RecordError(f"date/time out of range: {value!r}") from None
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):  # epoch 1e20, NaN, inf
            raise RecordError(f"date/time out of range: {value!r}") from None
    raise RecordError(f"not a date/time: {value!r}")


def required_when(record: Mapping[str, Any], key: str) -> datetime:
    value = when(record.get(key))
    if value is None:
        raise RecordError(f"missing {key}")
    return value


def shifted(moment: datetime, seconds: float, what: str) -> datetime:
    """`moment` plus a vendor-given duration; an absurd duration is the record's error."""
    try:
        return moment + timedelta(seconds=seconds)
    except (OverflowError, ValueError):  # 1e20 seconds, NaN
        raise RecordError(f"{what}: out of range: {seconds!r}") from None


def required_id(record: Mapping[str, Any], key: str = "id") -> str:
    value = ident(record.get(key))
    if value is None:
        raise RecordError(f"missing {key}")
    return value


def ident(value: Any) -> str | None:
    """A vendor id as text; None stays None. Rejects objects that are not ids."""
    if type(value) is int:  # the common case first (bool is not int here)
        return str(value)
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    raise RecordError(f"not an id: {value!r}")


def number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise RecordError(f"{what}: not a number: {value!r}")


def epoch(value: datetime) -> int:
    return int(value.timestamp())


# --- channels --------------------------------------------------------------------------------

# via.channel as a via type (string). Zendesk has dozens; what is not listed maps to "other".
VIA_TYPES: dict[str, str] = {
    "web": "web",
    "web_form": "web",
    "web_widget": "web",
    "help_center": "web",
    "dropbox": "web",
    "closed_ticket": "web",
    "topic": "web",
    "mail": "email",
    "email": "email",
    "api": "api",
    "web_service": "api",
    "ticket_sharing": "api",
    "import": "api",
    "blog": "api",
    "github": "api",
    "chat": "chat",
    "native_messaging": "chat",
    "messaging": "chat",
    "mobile_sdk": "chat",
    "chat_transcript": "chat",
    "voice": "phone",
    "phone": "phone",
    "voicemail": "phone",
    "phone_call_inbound": "phone",
    "phone_call_outbound": "phone",
    "sms": "sms",
    "text_message": "sms",
    "whatsapp": "whatsapp",
    "twitter": "twitter",
    "twitter_dm": "twitter",
    "twitter_favorite": "twitter",
    "x": "twitter",
    "facebook": "facebook",
    "facebook_post": "facebook",
    "facebook_message": "facebook",
    "instagram": "instagram",
    "instagram_dm": "instagram",
}

# via.channel as a via id (integer), from Zendesk's "Via types reference".
VIA_IDS: dict[int, str] = {
    0: "web_form",
    4: "mail",
    5: "web_service",
    8: "rule",
    9: "linked_problem",
    10: "group_deletion",
    11: "user_change",
    12: "user_deletion",
    13: "group_change",
    14: "resource_push",
    15: "iphone",
    16: "get_satisfaction",
    17: "dropbox",
    19: "merge",
    20: "batch",
    21: "recovered_from_suspended_tickets",
    22: "automatic_solution_suggestions",
    23: "twitter_favorite",
    24: "topic",
    25: "user_merge",
    26: "twitter_dm",
    27: "closed_ticket",
    28: "logmein_rescue",
    29: "chat",
    30: "twitter",
    31: "ticket_sharing",
    32: "macro_reference",
    33: "voicemail",
    34: "phone_call_inbound",
    35: "phone_call_outbound",
    36: "blog",
    37: "text_message",
    38: "facebook_post",
    39: "import",
    40: "github",
    41: "facebook_message",
}


def via_type(via: Any) -> str | None:
    """The via type (string) of a `via` object whose channel is a via type or a via id."""
    if isinstance(via, str):  # the ticket events export gives `via` as a plain string
        return via.strip().lower().replace(" ", "_") or None
    if isinstance(via, Via):
        channel = via.channel
    elif isinstance(via, dict):
        channel = via.get("channel")
    else:
        return None
    if channel is None:
        return None
    if isinstance(channel, bool):
        raise RecordError(f"via.channel: not a via type or id: {channel!r}")
    if isinstance(channel, int):
        return VIA_IDS.get(channel, f"via_id_{channel}")
    if isinstance(channel, str):
        text = channel.strip().lower()
        if text.isdigit():  # some payloads quote the via id
            return VIA_IDS.get(int(text), f"via_id_{text}")
        return text or None
    raise RecordError(f"via.channel: not a via type or id: {channel!r}")


def canonical_channel(via: Any) -> tuple[str | None, str | None]:
    """(canonical channel, raw via type) for a `via` object."""
    raw = via_type(via)
    if raw is None:
        return None, None
    return VIA_TYPES.get(raw, "other"), raw


# --- tickets ---------------------------------------------------------------------------------

_TICKET_STATUSES = TICKET_STATUSES
_PRIORITIES = PRIORITIES
_SOCIAL = SOCIAL_CHANNELS

_METRIC_COUNTS = ("replies", "reopens", "assignee_stations", "group_stations")
_METRIC_TIMES = ("assigned_at", "initially_assigned_at", "latest_comment_added_at")
_METRIC_MINUTES = (
    "reply_time_in_minutes",
    "first_resolution_time_in_minutes",
    "full_resolution_time_in_minutes",
    "agent_wait_time_in_minutes",
    "requester_wait_time_in_minutes",
    "on_hold_time_in_minutes",
)


def custom_fields(raw: Any) -> dict[str, Any] | None:
    """`[{id, value}]` -> `{"<id>": value}`, values kept as Zendesk typed them (text, number,
    bool, list for multi-select, null)."""
    if not raw:
        return None
    if type(raw) is not list:
        raise RecordError(f"custom_fields: expected a list, got {type(raw).__name__}")
    out: dict[str, Any] = {}
    for item in raw:
        if type(item) is not dict or "id" not in item:
            raise RecordError(f"custom_fields: not an {{id, value}} object: {item!r}")
        value = item.get("value")
        if value is not None and type(value) not in _FIELD_TYPES:
            raise RecordError(f"custom field {item['id']}: unsupported value {value!r}")
        out[str(item["id"])] = value
    return out


_FIELD_TYPES = frozenset({str, int, float, bool, list})


def _metrics(metric_set: MetricSet | None) -> dict[str, Any] | None:
    if metric_set is None:
        return None
    out: dict[str, Any] = {}
    for key in _METRIC_COUNTS:
        value = getattr(metric_set, key)
        if value is not None:
            out[key] = value
    for key in _METRIC_MINUTES:
        pair = getattr(metric_set, key)
        if type(pair) is dict:
            out[key] = {"calendar": pair.get("calendar"), "business": pair.get("business")}
    for key in _METRIC_TIMES:
        value = getattr(metric_set, key)
        if value is not None:
            out[key] = value
    return out or None


def ticket_rows(ticket: Ticket, group_name: Callable[[Any], str | None]) -> list[Row]:
    """One ticket (+ its sideloaded `metric_set`) -> a `tickets` row, plus a `social_mentions`
    row for tickets that came in over a social network. `status: deleted` is kept as a
    tombstone (status `deleted`, excluded from every metric) and yields nothing else."""
    tid = ident(ticket.id)
    if tid is None:
        raise RecordError("ticket without id")
    status = ticket.status
    if status is not None:
        if not isinstance(status, str) or status.lower() not in _TICKET_STATUSES:
            raise RecordError(f"status: unknown value {status!r}")
        status = status.lower()
    priority = ticket.priority
    if priority is not None:
        if not isinstance(priority, str) or priority.lower() not in _PRIORITIES:
            raise RecordError(f"priority: unknown value {priority!r}")
        priority = priority.lower()
    kind = ticket.type
    if kind is not None and not isinstance(kind, str):
        raise RecordError(f"type: expected text, got {kind!r}")
    created = when(ticket.created_at)
    if created is None:
        raise RecordError("missing created_at")
    updated = when(ticket.updated_at)
    tags = ticket.tags
    if tags is not None and not isinstance(tags, list):
        raise RecordError(f"tags: expected a list, got {type(tags).__name__}")
    channel, via_raw = canonical_channel(ticket.via)
    metric_set = ticket.metric_set
    solved = when(metric_set.solved_at) if metric_set is not None else None
    if solved is None and status in ("solved", "closed"):
        solved = updated  # no metric set sideloaded: the last update is the best we know
    extra: dict[str, Any] = {"generated_timestamp": ticket.generated_timestamp}
    if via_raw is not None and via_raw != channel:
        extra["via"] = via_raw
    fields = custom_fields(ticket.custom_fields)
    if fields:
        extra["custom_fields"] = fields
    for key in ("organization_id", "brand_id", "ticket_form_id", "external_id"):
        value = getattr(ticket, key)
        if value is not None:
            extra[key] = value
    metrics = _metrics(metric_set)
    if metrics:
        extra["metrics"] = metrics
    rating = ticket.satisfaction_rating
    if isinstance(rating, dict) and rating.get("score") not in (None, "unoffered"):
        extra["satisfaction_score"] = rating.get("score")
    subject = ticket.subject
    requester = ident(ticket.requester_id)
    row = {
        "id": tid,
        "created_at": created,
        "subject": subject,
        "type": kind,
        "priority": priority,
        "channel": channel,
        "status": status,
        "requester_id": requester,
        "assignee_id": ident(ticket.assignee_id),
        "group": group_name(ticket.group_id),
        "tags": ";".join(str(t) for t in tags) if tags else None,
        "updated_at": updated,
        "solved_at": solved,
        # Closed tickets are frozen: the update that closed them is their last one.
        "closed_at": updated if status == "closed" else None,
        "extra": extra,
    }
    rows = [Row("tickets", row)]
    if channel in _SOCIAL and status != "deleted":
        text = subject or ticket.description
        reply = metric_set.reply_time_in_minutes if metric_set is not None else None
        reply_minutes = reply.get("calendar") if isinstance(reply, dict) else None
        rows.append(
            Row(
                "social_mentions",
                {
                    "id": tid,
                    "created_at": created,
                    "network": channel,
                    "author": requester,
                    "text": text,
                    "first_reply_at": (
                        shifted(created, float(reply_minutes) * 60, "reply_time_in_minutes")
                        if isinstance(reply_minutes, int | float)
                        else None
                    ),
                    "sentiment": None,
                    "is_question": ("?" in text) if isinstance(text, str) else None,
                    "ticket_id": tid,
                    "extra": None,
                },
            )
        )
    return rows


# --- ticket events ---------------------------------------------------------------------------

AuthorKind = Callable[[Any], str]
"""user id -> `agent` | `customer` | `bot` | `system`."""


def _changed_field(child: ChildEvent) -> tuple[str | None, Any]:
    """(`status` | `assignee_id` | None, new value) of a Create/Change child event, in either
    shape Zendesk uses: the audit's `{"field_name": "status", "value": "open"}` or the export's
    `{"status": "open", "previous_value": ...}`."""
    name = child.field_name
    if name == "status" or name == "assignee_id":
        return name, child.value
    if child.status is not UNSET:
        return "status", child.status
    if child.assignee_id is not UNSET:
        return "assignee_id", child.assignee_id
    return None, None


def ticket_event_rows(event: TicketEvent, author_kind: AuthorKind) -> list[Row]:
    """One record of the incremental ticket events export (an update with its child events)
    -> `ticket_events` rows: comments (public replies and internal notes), status changes and
    assignments. Other child events (tags, priority, notifications...) are not KPI inputs."""
    ticket_id = ident(event.ticket_id)
    if ticket_id is None:
        raise RecordError("ticket event without ticket_id")
    stamp = event.created_at
    created = when(stamp) if stamp is not None else when(event.timestamp)
    if created is None:
        raise RecordError("ticket event without created_at/timestamp")
    updater = event.updater_id
    rows: list[Row] = []
    updater_id: str | None = None
    updater_kind: str | None = None
    for child in event.child_events or ():
        kind = child.event_type or child.type
        if kind == "Comment" or kind == "VoiceComment":
            author = updater if child.author_id is UNSET else child.author_id
            public = child.public
            if not isinstance(public, bool):
                raise RecordError(f"public: not a boolean: {public!r}")
            at = child.created_at
            rows.append(
                Row(
                    "ticket_events",
                    {
                        "id": _child_id(child),
                        "ticket_id": ticket_id,
                        # A comment's time is its update's time: parse it once.
                        "created_at": created if at is None or at == stamp else when(at),
                        "kind": "message",
                        "author_id": ident(author),
                        "author_kind": author_kind(author),
                        "public": public,
                        "status": None,
                        "assignee_id": None,
                        "extra": None,
                    },
                )
            )
        elif kind == "Create" or kind == "Change":
            field, value = _changed_field(child)
            if field is None:
                continue
            if updater_kind is None:
                updater_id, updater_kind = ident(updater), author_kind(updater)
            status = assignee = None
            if field == "status":
                if not isinstance(value, str) or value.lower() not in _TICKET_STATUSES:
                    raise RecordError(f"status: unknown value {value!r}")
                status = value.lower()
            else:
                assignee = ident(value)
            rows.append(
                Row(
                    "ticket_events",
                    {
                        "id": _child_id(child),
                        "ticket_id": ticket_id,
                        "created_at": created,
                        "kind": "status" if status is not None else "assignment",
                        "author_id": updater_id,
                        "author_kind": updater_kind,
                        "public": True,
                        "status": status,
                        "assignee_id": assignee,
                        "extra": None,
                    },
                )
            )
    return rows


def _child_id(child: ChildEvent) -> str:
    cid = ident(child.id)
    if cid is None:
        raise RecordError("child event without id")
    return cid


# --- users -----------------------------------------------------------------------------------

STAFF_ROLES = frozenset({"agent", "admin"})


def is_bot(user: User) -> bool:
    """Zendesk has no bot role: AI agents and integration users are agents or end users.
    We call a user a bot when the account marks it so: a `bot` tag, a `bot` user field, or
    the `is_bot`/`bot` flag some payloads carry."""
    if user.is_bot is True or user.bot is True:
        return True
    tags = user.tags
    if isinstance(tags, list) and "bot" in tags:
        return True
    fields = user.user_fields
    return isinstance(fields, dict) and fields.get("bot") is True


def user_role(user: User) -> str:
    """`agent` | `admin` | `bot` | `end-user` for a user; RecordError on anything else."""
    if is_bot(user):
        return "bot"
    role = user.role
    if role in ("agent", "admin", "end-user"):
        return str(role)
    raise RecordError(f"role: unknown value {role!r}")


def user_rows(user: User, role: str, group_name: Callable[[Any], str | None]) -> Row:
    uid = ident(user.id)
    if uid is None:
        raise RecordError("user without id")
    created = when(user.created_at)
    active = user.active
    if active is not None and not isinstance(active, bool):
        raise RecordError(f"active: not a boolean: {active!r}")
    if role == "end-user":
        extra = {"updated_at": user.updated_at}
        if user.tags:
            extra["tags"] = user.tags
        return Row(
            "customers",
            {
                "id": uid,
                "name": user.name,
                "email": user.email,
                "organization": ident(user.organization_id),
                "created_at": created,
                "churned_at": None,
                "acquisition_channel": None,
                "extra": extra,
            },
        )
    if user.suspended is True:
        active = False
    return Row(
        "agents",
        {
            "id": uid,
            "name": user.name,
            "email": user.email,
            "role": role,
            "group": group_name(user.default_group_id),
            "active": active,
            "created_at": created,
            "extra": {"updated_at": user.updated_at, "zendesk_role": user.role},
        },
    )


# --- satisfaction ratings --------------------------------------------------------------------

CSAT_SCORES = {"good": 5.0, "bad": 1.0, "offered": None}


def rating_rows(rating: Mapping[str, Any]) -> list[Row]:
    """CSAT on a 1-5 scale: good -> 5, bad -> 1 (so `csat` counts good as positive, the top
    two points); `offered` -> a row with score NULL (offered, not answered); `unoffered` -> none.

    An offered rating is dated when it was offered (`created_at`), an answered one when it was
    answered (`updated_at`, the customer's rating; `created_at` when absent): the moment other
    help desks date a rating (LiveAgent's reward message), so one ticket's CSAT falls into the
    same period whichever of them reports it."""
    score = rating.get("score")
    if score == "unoffered":
        return []
    if not isinstance(score, str) or score not in CSAT_SCORES:
        raise RecordError(f"score: unknown value {score!r}")
    created = required_when(rating, "created_at")
    answered = when(rating.get("updated_at")) if score != "offered" else None
    return [
        Row(
            "survey_responses",
            {
                "id": required_id(rating),
                "survey": "csat",
                "score": CSAT_SCORES[score],
                "created_at": max(created, answered) if answered is not None else created,
                "scale_min": 1.0,
                "scale_max": 5.0,
                "ticket_id": ident(rating.get("ticket_id")),
                "customer_id": ident(rating.get("requester_id")),
                "agent_id": ident(rating.get("assignee_id")),
                "comment": rating.get("comment") or None,
                "extra": {"zendesk_score": score, "reason": rating.get("reason") or None},
            },
        )
    ]


# --- business hours --------------------------------------------------------------------------


def schedule_rows(schedule: Mapping[str, Any]) -> list[Row]:
    intervals = schedule.get("intervals")
    if not isinstance(intervals, list):
        raise RecordError("intervals: expected a list")
    windows = []
    for interval in intervals:
        if not isinstance(interval, dict):
            raise RecordError(f"intervals: not a window: {interval!r}")
        start, end = interval.get("start_time"), interval.get("end_time")
        if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
            raise RecordError(f"intervals: bad window {interval!r}")
        windows.append({"start_minute": start, "end_minute": end})
    zone = schedule.get("time_zone")
    if not isinstance(zone, str):
        raise RecordError("time_zone: missing")
    try:
        iana = iana_zone(zone)
    except ValueError as exc:
        raise RecordError(f"time_zone: {exc}") from None
    holidays = None
    raw_holidays = schedule.get("holidays")
    if isinstance(raw_holidays, list):
        holidays = [
            {
                "name": str(h.get("name") or ""),
                "start_date": str(h["start_date"]),
                "end_date": str(h.get("end_date") or h["start_date"]),
            }
            for h in raw_holidays
        ]
    extra: dict[str, Any] = {"zendesk_time_zone": zone}
    if schedule.get("default") is not None:
        extra["default"] = schedule["default"]
    return [
        Row(
            "schedules",
            {
                "id": required_id(schedule),
                "name": schedule.get("name"),
                "time_zone": iana,
                "intervals": windows,
                "holidays": holidays,
                "extra": extra,
            },
        )
    ]


# --- Talk calls ------------------------------------------------------------------------------

_ABANDONED = frozenset(
    {"abandoned_in_queue", "abandoned_in_ivr", "abandoned_on_hold", "abandoned_in_voicemail"}
)
_MISSED = frozenset(
    {
        "agent_missed",
        "agent_declined",
        "agent_unavailable",
        "agent_transfer_declined",
        "agent_transfer_missed",
        "no_agents_available",
        "missed",
        "failed",
        "not_answered",
    }
)
_ANSWERED = frozenset({"completed", "answered", "callback_completed"})
_BLOCKED = frozenset({"blocked", "rejected", "outside_business_hours"})


def _call_outcome(call: Mapping[str, Any]) -> str:
    status = call.get("completion_status")
    if status is not None and not isinstance(status, str):
        raise RecordError(f"completion_status: not text: {status!r}")
    if call.get("voicemail") is True or status == "voicemail":
        return "voicemail"
    if status in _ANSWERED:
        talk = number(call.get("talk_time"), "talk_time")
        # "completed" is also how Talk ends a call nobody picked up; talk time tells them apart.
        return "answered" if (talk or 0) > 0 or call.get("agent_id") else "missed"
    if status in _ABANDONED:
        return "abandoned"
    if status in _MISSED:
        return "missed"
    if status in _BLOCKED:
        return "blocked"
    if status is None and call.get("outside_business_hours") is True:
        return "blocked"
    raise RecordError(f"completion_status: unknown value {status!r}")


def call_rows(call: Mapping[str, Any]) -> list[Row]:
    queued = required_when(call, "created_at")
    direction = call.get("direction")
    if direction not in ("inbound", "outbound"):
        raise RecordError(f"direction: unknown value {direction!r}")
    outcome = _call_outcome(call)
    wait = number(call.get("wait_time"), "wait_time")
    answer = number(call.get("time_to_answer"), "time_to_answer")
    duration = number(call.get("duration"), "duration")
    answered_at = None
    if outcome == "answered":
        offset = answer if answer is not None else wait
        answered_at = shifted(queued, offset or 0.0, "time_to_answer")
    return [
        Row(
            "calls",
            {
                "id": required_id(call),
                "queued_at": queued,
                "direction": direction,
                "customer_id": ident(call.get("customer_id")),
                "agent_id": ident(call.get("agent_id")) if call.get("agent_id") else None,
                "answered_at": answered_at,
                "ended_at": shifted(queued, duration, "duration") if duration is not None else None,
                "talk_seconds": number(call.get("talk_time"), "talk_time"),
                "hold_seconds": number(call.get("hold_time"), "hold_time"),
                "wrap_seconds": number(call.get("wrap_up_time"), "wrap_up_time"),
                "outcome": outcome,
                "ticket_id": ident(call.get("ticket_id")),
                "extra": {
                    "completion_status": call.get("completion_status"),
                    "wait_time": wait,
                    "updated_at": call.get("updated_at"),
                },
            },
        )
    ]


# --- Chat ------------------------------------------------------------------------------------


def chat_rows(chat: Mapping[str, Any]) -> list[Row]:
    session = chat.get("session") if isinstance(chat.get("session"), dict) else {}
    requested = when(session.get("start_date")) if session else None
    if requested is None:
        requested = required_when(chat, "timestamp")
    ended = when(chat.get("end_timestamp")) or (when(session.get("end_date")) if session else None)
    counts = chat.get("count") if isinstance(chat.get("count"), dict) else {}
    response = chat.get("response_time") if isinstance(chat.get("response_time"), dict) else {}
    agents = chat.get("agent_ids") or []
    if not isinstance(agents, list):
        raise RecordError("agent_ids: expected a list")
    kind = chat.get("type")
    agent_messages = number(counts.get("agent"), "count.agent") if counts else None
    if chat.get("missed") is True or kind == "offline_msg":
        outcome = "missed"
    elif agents and (agent_messages is None or agent_messages > 0):
        outcome = "answered"
    else:
        outcome = "abandoned"
    first = number(response.get("first"), "response_time.first") if response else None
    answered_at = (
        shifted(requested, first, "response_time.first")
        if outcome == "answered" and first is not None
        else None
    )
    visitor = chat.get("visitor") if isinstance(chat.get("visitor"), dict) else {}
    total = counts.get("total") if counts else None
    return [
        Row(
            "chats",
            {
                "id": required_id(chat),
                "requested_at": requested,
                "customer_id": ident(visitor.get("id")) if visitor else None,
                "agent_id": ident(agents[0]) if agents else None,
                "answered_at": answered_at,
                "ended_at": ended,
                "outcome": outcome,
                "messages": int(total) if isinstance(total, int | float) else None,
                "ticket_id": ident(chat.get("zendesk_ticket_id")),
                "extra": {"type": kind, "update_timestamp": chat.get("update_timestamp")},
            },
        )
    ]
