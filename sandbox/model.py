"""The generated help desk's vocabulary and record types, vendor-neutral: ids, channels,
topics, texts, time helpers, and the plain records a dialect renders (tickets and their audits,
metric events, ratings, calls, chats; users, groups, memberships). sandbox.data generates them
(see its docstring); each dialect (sandbox.dialect) renders them in its vendor's shapes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

DEFAULT_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
DAY = 86_400
HOUR = 3_600
MAX_SPAN = 12 * DAY
"""Upper bound of (generated_timestamp - earliest record of the ticket)."""

ACCOUNT_ID = 9_100_001
SYSTEM_USER_ID = -1
GROUP_BASE = 360_000_100_000
STAFF_BASE = 361_000_000_000
ENDUSER_BASE = 362_000_000_000
MEMBERSHIP_BASE = 363_000_000_000
SCHEDULE_BASE = 364_000_000_000
FIELD_BASE = 360_011_000_000
SLA_POLICY_BASE = 365_000_000_000
RATING_BASE = 700_000_000_000
CALL_BASE = 600_000_000_000
METRIC_EVENT_BASE = 800_000_000_000
AUDIT_BASE = 900_000_000_000
CHILD_BASE = 5_000_000_000_000
BOT_USER_ID = STAFF_BASE + 1
PHONE_NUMBER_ID = 366_000_000_001

# Ticket `via.channel` values as Zendesk returns them on tickets, with their weights.
CHANNELS = ("email", "web", "api", "chat", "voice", "twitter", "facebook", "instagram_dm")
CHANNEL_WEIGHTS = (28, 24, 5, 14, 15, 5, 5, 4)
# Zendesk "via id" integer codes (Via types reference). A fraction of tickets and audits carry the
# integer instead of the string; real exports mix both.
VIA_IDS: dict[str, int] = {
    "web": 0,
    "email": 4,
    "api": 5,
    "rule": 8,
    "twitter": 30,
    "chat": 29,
    "voice": 34,
    "facebook": 38,
}

GROUP_NAMES = ("Support", "Billing", "Technical", "VIP", "Social", "Phone")
TYPES = ("question", "incident", "problem", "task")
TYPE_WEIGHTS = (45, 30, 8, 12)
PRIORITIES = ("low", "normal", "high", "urgent")
PRIORITY_WEIGHTS = (20, 55, 18, 7)
SLA_TARGET_MINUTES = {"low": 1440, "normal": 480, "high": 120, "urgent": 30}

TOPICS = (
    ("Password reset not working", "I can't reset my password, the link says it expired."),
    ("Refund request for order", "I'd like a refund for my last order, it arrived damaged."),
    ("App crashes on startup", "Since the last update the app crashes as soon as I open it."),
    ("Invoice shows wrong amount", "My invoice is higher than the price on the website."),
    ("Cannot log in", "I get 'invalid credentials' although my password is right."),
    ("Shipping delay", "My package has not moved for a week, where is it?"),
    ("Feature question: export to CSV", "Is there a way to export my reports to CSV?"),
    ("Account locked", "My account was locked after too many attempts, please unlock it."),
    ("Change subscription plan", "How do I move from the monthly to the yearly plan?"),
    ("Complaint about support", "This is the third time I write about the same issue."),
    ("Integration broken with Slack", "Notifications stopped arriving in our Slack channel."),
    ("Data missing from dashboard", "Yesterday's numbers are missing from my dashboard."),
)
AGENT_REPLIES = (
    "Thanks for reaching out! I've looked into this and here is what I found.",
    "Sorry for the trouble. Could you send us a screenshot of the error?",
    "I've escalated this to our technical team and will update you shortly.",
    "This should be fixed now, could you try again and let me know?",
    "I've issued the refund; it can take 3-5 business days to appear.",
)
CUSTOMER_REPLIES = (
    "Thanks, but it still doesn't work.",
    "Here is the screenshot you asked for.",
    "Any update on this?",
    "That worked, thank you!",
    "I tried again and got the same error.",
)
NOTES = (
    "Checked the logs: the user hit the rate limiter.",
    "Known issue, linked to problem ticket.",
    "Customer is on the enterprise plan, handle with care.",
)
BOT_REPLIES = (
    "Hi! While you wait, these articles might help: 'Resetting your password', 'Billing FAQ'.",
    "Thanks for contacting us. An agent will be with you shortly.",
)
COMMENT_BODIES = (
    *(text for _, text in TOPICS),
    *AGENT_REPLIES,
    *CUSTOMER_REPLIES,
    *NOTES,
    *BOT_REPLIES,
    "Call recording: inbound call",
    "Chat transcript",
)
"""Every comment text the generator writes."""
TAGS = ("billing", "login", "bug", "refund", "shipping", "vip", "mobile", "feature_request")
OPT_IN_TAG = "newsletter_opt_in"
"""On the web-form and e-mail tickets of requesters who asked for the newsletter (one person in
six, a pure function of seed and person; sandbox.tickets.opted_in): the consent signal the
Klaviyo write-back's `[[subscribe]]` rule reads (examples/writeback-klaviyo.toml)."""
ALL_TAGS = (*TAGS, OPT_IN_TAG)
"""Every tag a ticket can carry (TAGS are drawn at random; OPT_IN_TAG follows its requester)."""
PRODUCTS = ("web_app", "mobile_app", "api", "integrations", "billing_portal")
REGIONS = ("emea", "amer", "apac")


_DAY_PREFIX: dict[int, str] = {}
_HH_MM = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(DAY // 60))
_SS_Z = tuple(f"{s:02d}Z" for s in range(60))


def ts_iso(ts: int) -> str:
    """Zendesk's timestamp format: ISO-8601 UTC with a trailing Z, whole seconds."""
    if ts.__class__ is not int:
        ts = int(ts)
    day, sec = divmod(ts, DAY)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%dT")
        _DAY_PREFIX[day] = prefix
    return f"{prefix}{_HH_MM[sec // 60]}{_SS_Z[sec % 60]}"


# --------------------------------------------------------------------------------------------
# Generated records. Plain dataclasses; each dialect renders them in its vendor's shapes.
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Child:
    """One child event of an audit: a Comment, or a Create/Change of one field."""

    kind: str  # "Comment" | "Create" | "Change" | "SatisfactionRating"
    field_name: str | None = None
    value: Any = None
    previous_value: Any = None
    body: str | None = None
    public: bool = True
    author_id: int | None = None
    score: str | None = None


@dataclass(slots=True)
class Audit:
    """One ticket update (a ticket event in the incremental ticket_events export)."""

    ts: int
    author_id: int
    via: str | int
    children: Sequence[Child]  # often a tuple shared by many audits: never mutated


@dataclass(slots=True)
class MetricEvent:
    ts: int
    metric: str
    instance_id: int
    type: str
    sla_target: int | None = None
    sla_business: bool = False
    policy_priority: str | None = None


@dataclass(slots=True)
class Rating:
    id: int
    score: str  # offered | good | bad | unoffered
    created_ts: int
    updated_ts: int
    comment: str | None
    reason: str | None


@dataclass(slots=True)
class Call:
    id: int
    created_ts: int
    updated_ts: int
    direction: str
    completion_status: str
    agent_id: int | None
    customer_id: int | None
    ticket_id: int | None
    group_id: int | None
    wait_time: int
    talk_time: int
    hold_time: int
    wrap_up_time: int
    voicemail: bool
    outside_business_hours: bool


@dataclass(slots=True)
class Chat:
    id: str
    start_ts: int
    end_ts: int
    update_ts: int
    missed: bool
    agent_id: int | None
    visitor_id: int | None
    ticket_id: int | None
    first_response: int | None
    messages_visitor: int
    messages_agent: int
    rating: str | None
    department_id: int | None


@dataclass(slots=True)
class Ticket:
    idx: int
    id: int
    generated_ts: int
    created_ts: int
    updated_ts: int
    channel: str
    via: str | int
    subject: str
    description: str
    type: str | None
    priority: str | None
    status: str
    requester_id: int
    submitter_id: int
    assignee_id: int | None
    group_id: int | None
    tags: list[str]
    custom_fields: list[dict[str, Any]]
    rating: Rating | None = None
    calls: list[Call] = field(default_factory=list)
    chats: list[Chat] = field(default_factory=list)
    # Metric-set facts.
    solved_ts: int | None = None
    first_reply_ts: int | None = None
    assigned_ts: int | None = None
    reopens: int = 0
    replies: int = 0
    on_hold_seconds: int = 0
    # The story's audits and metric events are materialised on first use (a stream needs one or
    # neither): `audit_log` holds (t, author_id, via, children) and `metric_log` (t, specs) with
    # specs the MetricEvent fields after its timestamp; t is in seconds since creation, before
    # `time_scale` compresses a very long story.
    time_scale: float = 1.0
    audit_log: list[AuditEntry] = field(default_factory=list, repr=False)
    metric_log: list[tuple[int, tuple[tuple[Any, ...], ...]]] = field(
        default_factory=list, repr=False
    )
    _audits: list[Audit] | None = field(default=None, repr=False, compare=False)
    _metric_events: list[MetricEvent] | None = field(default=None, repr=False, compare=False)

    @property
    def audits(self) -> list[Audit]:
        audits = self._audits
        if audits is None:
            created, scale = self.created_ts, self.time_scale
            audits = [
                Audit(created + int(t * scale), author, via, children)
                for t, author, via, children in self.audit_log
            ]
            self._audits = audits
        return audits

    @property
    def metric_events(self) -> list[MetricEvent]:
        events = self._metric_events
        if events is None:
            created, scale = self.created_ts, self.time_scale
            events = [
                MetricEvent(created + int(t * scale), *spec)
                for t, specs in self.metric_log
                for spec in specs
            ]
            self._metric_events = events
        return events


AuditEntry = tuple[int, int, str | int, Sequence[Child]]
"""An audit as a ticket's story logs it: (t, author_id, via, children), t relative (see Ticket)."""


class TicketRef(NamedTuple):
    """What the time-ordered streams keep of a ticket while its records wait to be merged."""

    id: int
    assignee_id: int | None
    group_id: int | None
    requester_id: int

    @classmethod
    def of(cls, t: Ticket) -> TicketRef:
        return cls(t.id, t.assignee_id, t.group_id, t.requester_id)


class Story(NamedTuple):
    """Just what a ticket's audits need (see Account.story): its TicketRef, and its audit log
    with what turns the log's relative times into timestamps (created + int(t * time_scale))."""

    ref: TicketRef
    created_ts: int
    time_scale: float
    audit_log: list[AuditEntry]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    email: str
    role: str  # end-user | agent | admin
    created_ts: int
    updated_ts: int
    active: bool
    default_group_id: int | None
    bot: bool = False
    time_zone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    name: str
    created_ts: int


@dataclass(frozen=True, slots=True)
class Membership:
    id: int
    user_id: int
    group_id: int
    default: bool
    created_ts: int


# Ticket fields: one of every type Zendesk serialises differently.
TICKET_FIELDS: tuple[tuple[int, str, str], ...] = (
    (FIELD_BASE + 1, "text", "Order number"),  # string or null
    (FIELD_BASE + 2, "integer", "Seats"),  # JSON number (int) or null
    (FIELD_BASE + 3, "decimal", "Refund amount"),  # decimal as a string ("12.50") or null
    (FIELD_BASE + 4, "checkbox", "Escalated"),  # bool (false when unset)
    (FIELD_BASE + 5, "multiselect", "Products"),  # list of tag values or null
    (FIELD_BASE + 6, "tagger", "Region"),  # dropdown: one tag value or null
    (FIELD_BASE + 7, "date", "Follow-up date"),  # "YYYY-MM-DD" or null
)
