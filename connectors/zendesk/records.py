"""The Zendesk records the connector maps, as msgspec Structs (see connectors.records).

Only the fields `normalise` reads are declared; everything else in Zendesk's JSON (comment
bodies, HTML, `via.source`, `system`, ...) is skipped by the decoder without building a Python
object. Ids are typed (`int | str`: Zendesk sends numbers, some payloads quote them), so an id of
the wrong type quarantines its record with msgspec's reason. Fields whose values the mapping
checks itself (enums, dates, flags) are `Any`: the normaliser's messages name the bad value.
`UNSET` marks "absent", where absent and null mean different things. Records hold only values
decoded from JSON (no reference cycles), so the garbage collector need not track them
(`gc=False`), which a page of 1,000 records feels.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, Raw, Struct, UnsetType

from deskpulse.connectors.records import RecordType, page_decoder

Id = int | str | None
Stamp = str | int | float | None
"""ISO-8601 text or epoch seconds; `normalise.when` parses and checks it."""


class Via(Struct, gc=False):
    channel: Any = None  # a via type (string) or a via id (integer); via_type() checks it


class CustomField(Struct, gc=False):
    id: int | str
    value: str | int | float | bool | list[Any] | None = None


class MetricSet(Struct, gc=False):
    ticket_id: Id = None
    solved_at: Stamp = None
    replies: Any = None
    reopens: Any = None
    assignee_stations: Any = None
    group_stations: Any = None
    assigned_at: Any = None
    initially_assigned_at: Any = None
    latest_comment_added_at: Any = None
    reply_time_in_minutes: Any = None
    first_resolution_time_in_minutes: Any = None
    full_resolution_time_in_minutes: Any = None
    agent_wait_time_in_minutes: Any = None
    requester_wait_time_in_minutes: Any = None
    on_hold_time_in_minutes: Any = None


class Ticket(Struct, gc=False):
    id: int | str
    created_at: Any = None
    updated_at: Any = None
    generated_timestamp: Any = None
    status: Any = None
    priority: Any = None
    type: Any = None
    subject: Any = None
    description: Any = None
    via: Via | str | None = None
    tags: Any = None
    custom_fields: Any = None
    requester_id: Id = None
    assignee_id: Id = None
    group_id: Id = None
    organization_id: Id = None
    brand_id: Id = None
    ticket_form_id: Id = None
    external_id: Any = None
    satisfaction_rating: Any = None
    metric_set: MetricSet | None = None
    """`include=metric_sets`: embedded in the ticket by the live API, or joined from the page's
    `metric_sets` list by the stream."""


class ChildEvent(Struct, gc=False):
    """One child of a ticket update: a Comment, a Create/Change of a field, a Notification..."""

    id: Id = None
    event_type: Any = None
    type: Any = None
    author_id: Id | UnsetType = UNSET  # absent: the update's author
    public: Any = True
    created_at: Any = None
    field_name: Any = None
    value: Any = None
    # The export's own shape for a changed field: `{"status": "open", "previous_value": ...}`.
    status: Any = UNSET
    assignee_id: Any = UNSET


class TicketEvent(Struct, gc=False):
    """One record of the incremental ticket events export: an update and its child events."""

    id: Id = None
    ticket_id: Id = None
    created_at: Any = None
    timestamp: Any = None
    updater_id: Id = None
    child_events: list[ChildEvent] | None = None


class User(Struct, gc=False):
    id: int | str
    role: Any = None
    name: Any = None
    email: Any = None
    organization_id: Id = None
    created_at: Any = None
    updated_at: Any = None
    active: Any = None
    suspended: Any = None
    tags: Any = None
    user_fields: Any = None
    default_group_id: Id = None
    is_bot: Any = None
    bot: Any = None


# --- page envelopes ---------------------------------------------------------------------------


class TicketExportPage(Struct, gc=False):
    tickets: list[Raw] | None = None
    metric_sets: list[Raw] | None = None
    after_cursor: Any = None
    end_of_stream: Any = None


class UserExportPage(Struct, gc=False):
    users: list[Raw] | None = None
    after_cursor: Any = None
    end_of_stream: Any = None


class TimeExportPage(Struct, gc=False):
    """Any time-based incremental export; the record list is under the stream's own key."""

    ticket_events: list[Raw] | None = None
    ticket_metric_events: list[Raw] | None = None
    calls: list[Raw] | None = None
    end_time: Any = None
    end_of_stream: Any = UNSET  # older exports have none: a short page is the last
    count: Any = None
    next_page: Any = None


TICKETS = RecordType(Ticket)
METRIC_SETS = RecordType(MetricSet)
TICKET_EVENTS = RecordType(TicketEvent)
USERS = RecordType(User)
PLAIN = RecordType(dict[str, Any])
"""Records the connector maps from plain dicts (small streams)."""

TICKET_EXPORT = page_decoder(TicketExportPage)
USER_EXPORT = page_decoder(UserExportPage)
TIME_EXPORT = page_decoder(TimeExportPage)

__all__ = [
    "METRIC_SETS",
    "PLAIN",
    "TICKETS",
    "TICKET_EVENTS",
    "TICKET_EXPORT",
    "TIME_EXPORT",
    "USERS",
    "USER_EXPORT",
    "ChildEvent",
    "CustomField",
    "MetricSet",
    "Ticket",
    "TicketEvent",
    "TimeExportPage",
    "User",
    "Via",
]
