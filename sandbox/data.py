"""Deterministic, lazily generated help-desk account for the sandbox.

Nothing here is stored per ticket. Every ticket is a pure function of `(seed, ticket index)`:
`Account.ticket(i)` builds it from a Mersenne Twister seeded with a 64-bit mix of (seed, "ticket",
i) (`entity_key`), so any page of any stream
can be produced directly, the same seed always gives the same bytes, and memory does not grow with
the account size (only small fixed tables -- groups, agents, schedules -- are materialised).

Time
----
All timestamps fall in the `days` (default 365) before a fixed `anchor` (default
2026-11-01T00:00:00Z, configurable; never `now()`). Tickets are numbered in the order of their
`generated_timestamp` (ticket id = index + 1). `generated_ts(i)` is a non-decreasing pure function
of the index; roughly two blocks of 37 consecutive tickets in five share a single second, so records
that share a second regularly straddle page boundaries (1000 is not a multiple of 37).

A ticket's whole life (creation, replies, notes, status changes, CSAT, SLA metric events, its call
or chat) lies inside `[generated_timestamp - MAX_SPAN, generated_timestamp]`. The time-ordered
streams (ticket events, metric events, ratings, calls, chats) rely on that bound to merge tickets
lazily (see `sandbox.streams`).

What a ticket holds: channel (`via.channel`: web, email, api, chat, voice, twitter, facebook,
instagram_dm; ~4% as Zendesk's integer via id), subject, type (incl. free-text "complaint"),
priority, status (new/open/pending/hold/solved/closed/deleted, ~2% deleted), tags, custom fields of
every type (TICKET_FIELDS), requester, group and assignee, and a life: audits (customer messages,
bot replies, agent replies with realistic gaps, internal notes, holds, solves, reopens, auto-close),
SLA metric events (activate/pause/fulfill/apply_sla/breach), a CSAT rating
(offered/good/bad/unoffered), and for voice and chat tickets the call or chat. About 6% of tickets
also "host" an unlinked abandoned/missed call and 3% a missed chat (no ticket_id), generated with
the host so they stay in the same time window. Volumes per ticket: ~10 audits, ~19 metric events.

Users
-----
Staff (admins, agents, one bot, a few deactivated agents) come first, then end-users. End-users are
created over the year; the first block of them was bulk-imported in one second (a same-second
trap for user exports too). Requesters are always end-users created before their ticket.

Authors of ticket events
------------------------
* end-user (role `end-user`): the requester's messages (public comments).
* agent / admin (role `agent` / `admin`): replies (public) and internal notes (`public: false`).
* bot: user `BOT_USER_ID`, role `agent`, name "Answer Bot", `tags: ["bot"]`,
  `user_fields: {"bot": true}`; its comments are public with `via.channel = "answer_bot"`. A bot
  reply never stops a KPI clock.
* system: `author_id = -1` (`SYSTEM_USER_ID`), `via.channel = "rule"` (or via id 8): triggers and
  automations -- first routing to a group, auto-close of solved tickets, CSAT offers.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")

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
TAGS = ("billing", "login", "bug", "refund", "shipping", "vip", "mobile", "feature_request")
PRODUCTS = ("web_app", "mobile_app", "api", "integrations", "billing_portal")
REGIONS = ("emea", "amer", "apac")


_DAY_PREFIX: dict[int, str] = {}


def ts_iso(ts: int) -> str:
    """Zendesk's timestamp format: ISO-8601 UTC with a trailing Z, whole seconds."""
    day, sec = divmod(int(ts), DAY)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%dT")
        _DAY_PREFIX[day] = prefix
    h, sec = divmod(sec, HOUR)
    m, sec = divmod(sec, 60)
    return f"{prefix}{h:02d}:{m:02d}:{sec:02d}Z"


def _mix(*parts: object) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class FastRandom(random.Random):
    """random.Random with a cheaper randrange and a weighted pick (no argument checking).

    The numbers differ from the stdlib methods' but are just as deterministic.
    """

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            return int(self.random() * start)
        return start + int(self.random() * (stop - start))

    def pick(self, items: Sequence[T], cum_weights: Sequence[float]) -> T:
        """One weighted item; cum_weights are cumulative (as for random.choices)."""
        return items[bisect_right(cum_weights, self.random() * cum_weights[-1])]


_M64 = (1 << 64) - 1
_TAG_KEYS: dict[str, int] = {}


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def entity_key(seed: int, tag: str, i: int) -> int:
    """A well-mixed 64-bit key for entity `i` of kind `tag` (cheap: no hashing of strings)."""
    tk = _TAG_KEYS.get(tag)
    if tk is None:
        tk = _TAG_KEYS[tag] = _mix(tag)
    return _splitmix64(_splitmix64((seed & _M64) ^ tk) ^ (i & _M64))


def rng_for(seed: int, *parts: object) -> FastRandom:
    """A private random stream for one entity: same (seed, parts) -> same numbers."""
    if len(parts) == 2 and isinstance(parts[0], str) and isinstance(parts[1], int):
        return FastRandom(entity_key(seed, parts[0], parts[1]))
    return FastRandom(_mix(seed, *parts))


def _cum(weights: Sequence[float]) -> tuple[float, ...]:
    return tuple(accumulate(weights))


_CHANNEL_CUM = _cum(CHANNEL_WEIGHTS)
_TYPE_CUM = _cum(TYPE_WEIGHTS)
_PRIORITY_CUM = _cum(PRIORITY_WEIGHTS)


# --------------------------------------------------------------------------------------------
# Generated records. Plain dataclasses; the HTTP layer renders them into Zendesk JSON.
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
    children: list[Child]


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
    audits: list[Audit] = field(default_factory=list)
    metric_events: list[MetricEvent] = field(default_factory=list)
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


class TicketRef(NamedTuple):
    """What the time-ordered streams keep of a ticket while its records wait in a merge heap."""

    id: int
    assignee_id: int | None
    group_id: int | None
    requester_id: int

    @classmethod
    def of(cls, t: Ticket) -> TicketRef:
        return cls(t.id, t.assignee_id, t.group_id, t.requester_id)


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


# --------------------------------------------------------------------------------------------


class Account:
    """A generated Zendesk account. Thread-safe: all state is immutable after __init__."""

    def __init__(
        self,
        seed: int = 1,
        tickets: int = 1000,
        anchor: datetime = DEFAULT_ANCHOR,
        days: int = 365,
    ) -> None:
        if not 1 <= tickets <= 5_000_000:
            raise ValueError("tickets must be between 1 and 5,000,000")
        if anchor.tzinfo is None:
            raise ValueError("anchor must be timezone-aware")
        self.seed = seed
        self.n_tickets = tickets
        self.anchor = anchor
        self.anchor_ts = int(anchor.timestamp())
        self.start_ts = int((anchor - timedelta(days=days)).timestamp())
        # Tickets' generated_timestamp range: the earliest ticket may start MAX_SPAN before it.
        self._gen_start = self.start_ts + MAX_SPAN
        self._gen_span = max(1, self.anchor_ts - HOUR - self._gen_start)
        self._burst_mix = _mix(seed, "burst") & 0xFFFF
        self._build_staff()
        self._build_end_users()

    # ---- staff, groups ---------------------------------------------------------------------

    def _build_staff(self) -> None:
        r = rng_for(self.seed, "staff")
        base = self.start_ts - 400 * DAY
        self.groups = [
            Group(GROUP_BASE + g + 1, name, base + g * 60) for g, name in enumerate(GROUP_NAMES)
        ]
        n_agents = max(8, min(300, self.n_tickets // 1500))
        staff: list[User] = []
        memberships: list[Membership] = []
        t = base + 3600
        staff.append(
            User(
                BOT_USER_ID,
                "Answer Bot",
                "answerbot@sandbox.test",
                "agent",
                t,
                t,
                True,
                self.groups[0].id,
                bot=True,
            )
        )
        for a in range(2):
            t += 61
            staff.append(
                User(
                    STAFF_BASE + 2 + a,
                    f"Admin {a + 1}",
                    f"admin{a + 1}@sandbox.test",
                    "admin",
                    t,
                    t,
                    True,
                    self.groups[0].id,
                )
            )
        first_names = ("Alex", "Sam", "Robin", "Kim", "Jo", "Lee", "Noa", "Max", "Ari", "Eli")
        for a in range(n_agents):
            t += 61 + r.randrange(3600)
            uid = STAFF_BASE + 10 + a
            g1 = self.groups[a % len(self.groups)]
            active = a < len(self.groups) or r.random() > 0.06
            staff.append(
                User(
                    uid,
                    f"{first_names[a % len(first_names)]} Agent{a + 1}",
                    f"agent{a + 1}@sandbox.test",
                    "agent",
                    t,
                    t + r.randrange(30 * DAY),
                    active,
                    g1.id,
                    time_zone=("Eastern Time (US & Canada)", "London", "Berlin")[a % 3],
                )
            )
            memberships.append(Membership(0, uid, g1.id, True, t))
            if r.random() < 0.35:
                g2 = self.groups[(a + 1 + r.randrange(len(self.groups) - 1)) % len(self.groups)]
                memberships.append(Membership(0, uid, g2.id, False, t + 60))
        staff.sort(key=lambda u: (u.updated_ts, u.id))
        self.staff = staff
        self.memberships = [
            Membership(MEMBERSHIP_BASE + n + 1, m.user_id, m.group_id, m.default, m.created_ts)
            for n, m in enumerate(memberships)
        ]
        self.agents_by_group: dict[int, list[int]] = {g.id: [] for g in self.groups}
        active_ids = {u.id for u in staff if u.active}
        for m in self.memberships:
            if m.user_id in active_ids:
                self.agents_by_group[m.group_id].append(m.user_id)
        self.staff_by_id = {u.id: u for u in staff}

    def _build_end_users(self) -> None:
        self.n_end_users = max(50, min(2_000_000, self.n_tickets // 2))
        # The first block of end-users was bulk-imported in a single second.
        self.n_imported = min(1500, self.n_end_users // 3)
        self._import_ts = self.start_ts - 30 * DAY
        self._eu_first = self.start_ts - 20 * DAY
        self._eu_span = (self.anchor_ts - 2 * DAY) - self._eu_first

    def end_user_created_ts(self, j: int) -> int:
        if j < self.n_imported:
            return self._import_ts
        k = j - self.n_imported
        n = self.n_end_users - self.n_imported
        return self._eu_first + (k * self._eu_span) // max(1, n)

    def _max_end_user_before(self, ts: int) -> int:
        """Largest end-user index created at or before ts (at least the imported block)."""
        n = self.n_end_users - self.n_imported
        if ts <= self._eu_first:
            return self.n_imported - 1 if self.n_imported else 0
        k = min(n - 1, ((ts - self._eu_first) * n) // self._eu_span)
        return self.n_imported + max(0, k)

    @property
    def n_users(self) -> int:
        return len(self.staff) + self.n_end_users

    def user(self, k: int) -> User:
        """The k-th user of the users export (ordered by updated_at, then id)."""
        if k < len(self.staff):
            return self.staff[k]
        j = k - len(self.staff)
        r = rng_for(self.seed, "user", j)
        created = self.end_user_created_ts(j)
        first = ("Ana", "Ben", "Chloe", "Dev", "Emma", "Finn", "Gia", "Hugo", "Ines", "Jan")[
            r.randrange(10)
        ]
        return User(
            ENDUSER_BASE + j + 1,
            f"{first} Customer{j + 1}",
            f"customer{j + 1}@example.com",
            "end-user",
            created,
            created,
            r.random() > 0.01,
            None,
        )

    def user_index_by_id(self, user_id: int) -> int | None:
        if user_id >= ENDUSER_BASE + 1 and user_id <= ENDUSER_BASE + self.n_end_users:
            return len(self.staff) + (user_id - ENDUSER_BASE - 1)
        for k, u in enumerate(self.staff):
            if u.id == user_id:
                return k
        return None

    def first_user_at(self, ts: int) -> int:
        """Index of the first user (export order) with updated_ts >= ts."""
        return bisect_left(range(self.n_users), ts, key=lambda k: self._user_updated_ts(k))

    def _user_updated_ts(self, k: int) -> int:
        if k < len(self.staff):
            return self.staff[k].updated_ts
        return self.end_user_created_ts(k - len(self.staff))

    # ---- ticket ordering -------------------------------------------------------------------

    def generated_ts(self, i: int) -> int:
        """generated_timestamp of ticket index i: non-decreasing in i, with same-second bursts."""
        block = i // 37
        if block % 3 == 1 or ((block * 2_654_435_761 + self._burst_mix) >> 7) % 5 == 0:
            i = block * 37
        return self._gen_start + (i * self._gen_span) // self.n_tickets

    def first_ticket_at(self, ts: int) -> int:
        """Index of the first ticket with generated_timestamp >= ts (n_tickets if none)."""
        return bisect_left(range(self.n_tickets), ts, key=self.generated_ts)

    # ---- one ticket ------------------------------------------------------------------------

    def traits(self, i: int) -> tuple[str, bool, bool]:
        """(channel, hosts an abandoned/missed call, hosts a missed chat) of ticket i, without
        generating it: lets the calls and chats streams skip most tickets cheaply."""
        h = entity_key(self.seed, "traits", i)
        total = _CHANNEL_CUM[-1]
        channel = CHANNELS[bisect_right(_CHANNEL_CUM, (h & 0xFFFF) * total / 65536)]
        return channel, ((h >> 16) & 0xFFFF) < 3932, ((h >> 32) & 0xFFFF) < 1966

    def ticket(self, i: int) -> Ticket:
        """Generate ticket index i (0-based; its id is i + 1)."""
        if not 0 <= i < self.n_tickets:
            raise IndexError(i)
        return _TicketBuilder(self, i).build()


class _TicketBuilder:
    """Simulates one ticket's life in relative seconds, then pins its last update to
    generated_timestamp."""

    def __init__(self, account: Account, i: int) -> None:
        self.a = account
        self.i = i
        self.r = rng_for(account.seed, "ticket", i)
        self.audits: list[Audit] = []
        self.metrics: list[MetricEvent] = []
        self.t = 0

    # helpers
    def gap(self, lo: int, hi: int) -> int:
        """Advance the clock by a log-uniform gap in [lo, hi] seconds."""
        r = self.r
        g = int(lo * (hi / lo) ** r.random()) if lo > 0 else r.randrange(hi + 1)
        self.t += g
        return self.t

    def audit(self, author: int, via: str | int, *children: Child) -> Audit:
        au = Audit(self.t, author, via, list(children))
        self.audits.append(au)
        return au

    def metric(self, metric: str, type_: str, instance: int = 1) -> None:
        self.metrics.append(MetricEvent(self.t, metric, instance, type_))

    def build(self) -> Ticket:
        a, r, i = self.a, self.r, self.i
        gen_ts = a.generated_ts(i)
        channel, orphan_call, orphan_chat = a.traits(i)
        type_ = r.pick(TYPES, _TYPE_CUM) if r.random() > 0.08 else None
        priority = r.pick(PRIORITIES, _PRIORITY_CUM) if r.random() > 0.05 else None
        topic, text = TOPICS[r.randrange(len(TOPICS))]
        if topic.startswith("Complaint") and r.random() < 0.5:
            type_ = "complaint"  # free-text type some accounts configure through a custom field
        subject = f"{topic} #{r.randrange(10_000, 99_999)}" if r.random() < 0.4 else topic
        group = a.groups[r.randrange(len(a.groups))]
        if channel == "voice":
            group = a.groups[5]
        elif channel in ("twitter", "facebook", "instagram_dm"):
            group = a.groups[4]
        pool = a.agents_by_group[group.id] or a.agents_by_group[a.groups[0].id]
        assignee = pool[r.randrange(len(pool))]
        # Requesters: end-users created before the ticket (bounded by the ticket's earliest time).
        j_max = a._max_end_user_before(gen_ts - MAX_SPAN)
        j = j_max - int(j_max * (r.random() ** 2.5))
        requester = ENDUSER_BASE + j + 1
        tags = sorted(set(r.sample(TAGS, r.randrange(0, 3))))
        if channel in ("twitter", "facebook", "instagram_dm"):
            tags.append("social")
        via_name = channel
        via: str | int = (
            VIA_IDS[via_name] if (via_name in VIA_IDS and r.random() < 0.04) else via_name
        )
        recent = gen_ts > a.anchor_ts - 6 * DAY
        outcome_roll = r.random()
        # Final outcome: solved (maybe closed), or left new/open/pending/hold, or deleted.
        if outcome_roll < 0.02:
            outcome = "deleted"
        elif outcome_roll < (0.45 if recent else 0.10):
            outcome = r.choice(("new", "open", "open", "pending", "hold"))
        else:
            outcome = "solved"

        agent_started = channel in ("api", "voice") and r.random() < 0.06
        status = "new"
        children = [
            Child(
                "Comment",
                body=text if not agent_started else AGENT_REPLIES[0],
                public=True,
                author_id=assignee if agent_started else requester,
            ),
            Child("Create", "status", "new"),
            Child("Create", "subject", subject),
            Child("Create", "requester_id", str(requester)),
        ]
        if priority:
            children.append(Child("Create", "priority", priority))
        if type_:
            children.append(Child("Create", "type", type_))
        if tags:
            children.append(Child("Create", "tags", list(tags)))
        creator = assignee if agent_started else requester
        self.audit(creator, via, *children)
        self.metric("agent_work_time", "activate")
        self.metric("requester_wait_time", "activate")
        self.metric("resolution_time", "activate")
        self.metric("reply_time", "activate")
        if priority:
            target = SLA_TARGET_MINUTES[priority]
            business = priority in ("low", "normal")
            self.metrics.append(
                MetricEvent(self.t, "reply_time", 1, "apply_sla", target, business, priority)
            )
            self.metrics.append(
                MetricEvent(
                    self.t, "resolution_time", 1, "apply_sla", target * 6, business, priority
                )
            )
        reply_sla_deadline = self.t + SLA_TARGET_MINUTES[priority] * 60 if priority else None

        calls: list[Call] = []
        chats: list[Chat] = []
        first_reply: int | None = None
        replies = 0
        reopens = 0
        on_hold = 0
        assigned_ts: int | None = None
        solved_ts: int | None = None
        call_id = CALL_BASE + i * 4

        # Live channels: the conversation starts with the call/chat.
        if channel == "voice":
            wait = int(5 + 300 * r.random() ** 3)
            talk = r.randrange(40, 1500)
            hold = r.randrange(0, 200) if r.random() < 0.3 else 0
            wrap = r.randrange(10, 240)
            outbound = agent_started
            calls.append(
                Call(
                    call_id,
                    self.t,
                    0,
                    "outbound" if outbound else "inbound",
                    "completed",
                    assignee,
                    requester,
                    i + 1,
                    group.id,
                    wait,
                    talk,
                    hold,
                    wrap,
                    False,
                    False,
                )
            )
            self.t += wait + talk + hold
            assigned_ts = self.t - talk - hold
            self.audit(
                assignee,
                via,
                Child(
                    "Comment", body="Call recording: inbound call", public=True, author_id=assignee
                ),
                Child("Change", "assignee_id", str(assignee), None),
                Child("Change", "group_id", str(group.id), None),
                Child("Change", "status", "open", "new"),
            )
            status = "open"
            first_reply = self.t
            replies += 1
            self.metric("reply_time", "fulfill")
            self.t += wrap
            calls[-1].updated_ts = self.t
        elif channel == "chat":
            start = self.t
            first = int(3 + 120 * r.random() ** 2)
            self.t += first
            assigned_ts = self.t
            n_v, n_a = r.randrange(2, 12), r.randrange(2, 12)
            self.audit(
                assignee,
                via,
                Child("Comment", body="Chat transcript", public=True, author_id=assignee),
                Child("Change", "assignee_id", str(assignee), None),
                Child("Change", "group_id", str(group.id), None),
                Child("Change", "status", "open", "new"),
            )
            status = "open"
            first_reply = self.t
            replies += 1
            self.metric("reply_time", "fulfill")
            self.t += r.randrange(120, 1800)
            chats.append(
                Chat(
                    f"{2600 + i % 12}.{ACCOUNT_ID}.{i:07x}C",
                    start,
                    self.t,
                    self.t,
                    False,
                    assignee,
                    requester,
                    i + 1,
                    first,
                    n_v,
                    n_a,
                    r.choice((None, None, "good", "bad")),
                    group.id,
                )
            )
        else:
            if channel in ("web", "email") and r.random() < 0.25:
                self.gap(5, 90)
                self.audit(
                    BOT_USER_ID,
                    "answer_bot",
                    Child(
                        "Comment",
                        body=BOT_REPLIES[r.randrange(2)],
                        public=True,
                        author_id=BOT_USER_ID,
                    ),
                )
            self.gap(30, 4 * HOUR)
            self.audit(
                SYSTEM_USER_ID,
                "rule" if r.random() > 0.1 else VIA_IDS["rule"],
                Child("Change", "group_id", str(group.id), None),
            )
            if outcome != "new":
                self.gap(60, 8 * HOUR)
                assigned_ts = self.t
                self.audit(
                    assignee,
                    "web",
                    Child("Change", "assignee_id", str(assignee), None),
                    Child("Change", "status", "open", "new"),
                )
                status = "open"

        if outcome == "new":
            pass
        else:
            # Rounds of agent reply + customer follow-up before the solve. 0 rounds: the solving
            # answer is the only agent message (one-touch, first-contact resolution).
            rounds = r.pick((0, 1, 2, 3), (45, 75, 92, 100))
            for _ in range(rounds):
                if r.random() < 0.2:
                    self.gap(60, 2 * HOUR)
                    self.audit(
                        assignee,
                        "web",
                        Child(
                            "Comment", body=NOTES[r.randrange(3)], public=False, author_id=assignee
                        ),
                    )
                if r.random() < 0.08 and status == "open":
                    self.gap(60, HOUR)
                    self.audit(assignee, "web", Child("Change", "status", "hold", status))
                    self.metric("agent_work_time", "pause")
                    self.metric("requester_wait_time", "pause")
                    hold_start = self.t
                    self.gap(HOUR, 2 * DAY)
                    on_hold += self.t - hold_start
                    self.audit(assignee, "web", Child("Change", "status", "open", "hold"))
                    self.metric("agent_work_time", "activate")
                    self.metric("requester_wait_time", "activate")
                    status = "open"
                self.gap(120, 20 * HOUR)
                self.audit(
                    assignee,
                    "web",
                    Child(
                        "Comment",
                        body=AGENT_REPLIES[r.randrange(len(AGENT_REPLIES))],
                        public=True,
                        author_id=assignee,
                    ),
                    Child("Change", "status", "pending", status),
                )
                status = "pending"
                replies += 1
                if first_reply is None:
                    first_reply = self.t
                    if reply_sla_deadline is not None and self.t > reply_sla_deadline:
                        t_now = self.t
                        self.t = reply_sla_deadline
                        self.metric("reply_time", "breach")
                        self.t = t_now
                    self.metric("reply_time", "fulfill")
                self.metric("agent_work_time", "pause")
                self.metric("requester_wait_time", "pause")
                self.gap(300, DAY)
                self.audit(
                    requester,
                    via,
                    Child(
                        "Comment",
                        body=CUSTOMER_REPLIES[r.randrange(len(CUSTOMER_REPLIES))],
                        public=True,
                        author_id=requester,
                    ),
                    Child("Change", "status", "open", "pending"),
                )
                status = "open"
                self.metric("agent_work_time", "activate")
                self.metric("requester_wait_time", "activate")
            if outcome == "solved" or (outcome == "deleted" and r.random() < 0.5):
                solves = 2 if r.random() < 0.1 else 1
                for n_solve in range(solves):
                    self.gap(120, 10 * HOUR)
                    self.audit(
                        assignee,
                        "web",
                        Child("Comment", body=AGENT_REPLIES[3], public=True, author_id=assignee),
                        Child("Change", "status", "solved", status),
                    )
                    status = "solved"
                    replies += 1
                    if first_reply is None:
                        first_reply = self.t
                        self.metric("reply_time", "fulfill")
                    solved_ts = self.t
                    self.metric("resolution_time", "fulfill", instance=n_solve + 1)
                    self.metric("agent_work_time", "fulfill", instance=n_solve + 1)
                    self.metric("requester_wait_time", "fulfill", instance=n_solve + 1)
                    if n_solve + 1 < solves:  # the customer reopens
                        self.gap(HOUR, 2 * DAY)
                        self.audit(
                            requester,
                            via,
                            Child(
                                "Comment",
                                body=CUSTOMER_REPLIES[2],
                                public=True,
                                author_id=requester,
                            ),
                            Child("Change", "status", "open", "solved"),
                        )
                        status = "open"
                        reopens += 1
                        self.metric("resolution_time", "activate", instance=n_solve + 2)
                        self.metric("agent_work_time", "activate", instance=n_solve + 2)
                        self.metric("requester_wait_time", "activate", instance=n_solve + 2)
            elif outcome in ("pending", "hold"):
                self.gap(120, 10 * HOUR)
                self.audit(assignee, "web", Child("Change", "status", outcome, status))
                status = outcome
            elif outcome == "open":
                pass

        rating: Rating | None = None
        if status == "solved":
            roll = r.random()
            rating_id = RATING_BASE + i
            if roll < 0.05:
                rating = Rating(rating_id, "unoffered", self.t, self.t, None, None)
            elif roll < 0.65:
                self.gap(HOUR, DAY)
                offered = self.t
                self.audit(
                    SYSTEM_USER_ID,
                    "rule",
                    Child("Change", "satisfaction_score", "offered", "unoffered"),
                )
                rating = Rating(rating_id, "offered", offered, offered, None, None)
                if r.random() < 0.45:
                    self.gap(10 * 60, DAY)
                    score = "good" if r.random() < 0.8 else "bad"
                    comment = (
                        ("Great support!" if score == "good" else "Took far too long.")
                        if r.random() < 0.4
                        else None
                    )
                    reason = "The issue took too long to resolve" if score == "bad" else None
                    self.audit(
                        requester,
                        "web",
                        Child("SatisfactionRating", body=comment, score=score, author_id=requester),
                        Child("Change", "satisfaction_score", score, "offered"),
                    )
                    rating = Rating(rating_id, score, offered, self.t, comment, reason)
            if r.random() < 0.85 and not recent:
                self.t += 4 * DAY  # the standard automation closes solved tickets after 4 days
                self.audit(SYSTEM_USER_ID, "rule", Child("Change", "status", "closed", "solved"))
                status = "closed"
        if outcome == "deleted":
            self.gap(60, DAY)
            self.audit(assignee, "web", Child("Change", "status", "deleted", status))
            status = "deleted"

        # Orphans hosted by this ticket: abandoned / missed calls and missed chats, unlinked.
        if orphan_call:
            at = r.randrange(0, max(1, self.t))
            kind = r.pick(("abandoned_in_queue", "abandoned_in_ivr", "voicemail"), (6, 7, 10))
            wait = r.randrange(2, 400)
            calls.append(
                Call(
                    call_id + 1,
                    at,
                    at + wait,
                    "inbound",
                    kind,
                    None,
                    requester if r.random() < 0.8 else None,
                    None,
                    a.groups[5].id,
                    wait,
                    0,
                    0,
                    0,
                    kind == "voicemail",
                    r.random() < 0.1,
                )
            )
        if orphan_chat:
            at = r.randrange(0, max(1, self.t))
            wait = r.randrange(30, 600)
            chats.append(
                Chat(
                    f"{2600 + i % 12}.{ACCOUNT_ID}.{i:07x}M",
                    at,
                    at + wait,
                    at + wait,
                    True,
                    None,
                    requester,
                    None,
                    None,
                    r.randrange(1, 4),
                    0,
                    None,
                    None,
                )
            )

        # Pin the story's end to generated_timestamp; sometimes a later system update bumps
        # generated_timestamp without a ticket event (so updated_at < generated_timestamp).
        span = self.t
        if r.random() < 0.1:
            span += r.randrange(1, 600)
        # A rare very long story is compressed to fit MAX_SPAN (order of events is preserved).
        scale = min(1.0, MAX_SPAN / span) if span else 1.0
        created = gen_ts - int(span * scale)

        def shift(t: int) -> int:
            return created + int(t * scale)

        if scale == 1.0:  # the common case, kept cheap
            for au in self.audits:
                au.ts += created
            for me in self.metrics:
                me.ts += created
        else:
            for au in self.audits:
                au.ts = shift(au.ts)
            for me in self.metrics:
                me.ts = shift(me.ts)
        for c in calls:
            c.created_ts, c.updated_ts = shift(c.created_ts), shift(c.updated_ts)
        for ch in chats:
            ch.start_ts, ch.end_ts, ch.update_ts = (
                shift(ch.start_ts),
                shift(ch.end_ts),
                shift(ch.update_ts),
            )
        if rating is not None:
            rating.created_ts, rating.updated_ts = (
                shift(rating.created_ts),
                shift(rating.updated_ts),
            )

        custom_fields = _custom_fields(r, status)
        return Ticket(
            idx=i,
            id=i + 1,
            generated_ts=gen_ts,
            created_ts=created,
            updated_ts=self.audits[-1].ts,
            channel=channel,
            via=via,
            subject=subject,
            description=text,
            type=type_,
            priority=priority,
            status=status,
            requester_id=requester,
            submitter_id=creator,
            assignee_id=assignee if assigned_ts is not None else None,
            group_id=group.id,
            tags=tags,
            custom_fields=custom_fields,
            audits=self.audits,
            metric_events=self.metrics,
            rating=rating,
            calls=calls,
            chats=chats,
            solved_ts=shift(solved_ts) if solved_ts is not None else None,
            first_reply_ts=shift(first_reply) if first_reply is not None else None,
            assigned_ts=shift(assigned_ts) if assigned_ts is not None else None,
            reopens=reopens,
            replies=replies,
            on_hold_seconds=on_hold,
        )


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


def _custom_fields(r: FastRandom, status: str) -> list[dict[str, Any]]:
    def maybe(p: float, v: Any) -> Any:
        return v if r.random() < p else None

    return [
        {"id": FIELD_BASE + 1, "value": maybe(0.5, f"ORD-{r.randrange(100000, 999999)}")},
        {"id": FIELD_BASE + 2, "value": maybe(0.3, r.randrange(1, 500))},
        {"id": FIELD_BASE + 3, "value": maybe(0.15, f"{r.randrange(1, 50000) / 100:.2f}")},
        {"id": FIELD_BASE + 4, "value": r.random() < 0.1},
        {
            "id": FIELD_BASE + 5,
            "value": maybe(0.4, sorted(r.sample(PRODUCTS, r.randrange(1, 3)))),
        },
        {"id": FIELD_BASE + 6, "value": maybe(0.8, r.choice(REGIONS))},
        {
            "id": FIELD_BASE + 7,
            "value": maybe(0.1, f"2026-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}"),
        },
    ]
