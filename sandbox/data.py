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

import _random
import hashlib
import random
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, Literal, NamedTuple, TypeVar, overload

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


def _mix(*parts: object) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class FastRandom(random.Random):
    """random.Random with a cheaper randrange (no argument checking: its numbers differ from the
    stdlib's but are just as deterministic), and `below` / `small_sample`, which draw exactly what
    the stdlib's choice / sample would, with less work. Weighted picks are inlined where used:
    `items[bisect_right(cum_weights, random() * total)]`."""

    @classmethod
    def from_key(cls, key: int) -> FastRandom:
        """FastRandom(key) for an int key, seeded directly by the C generator: the same state
        without the Python layers of Random.__init__ / Random.seed (a measurable share of
        generating one ticket)."""
        r = cls.__new__(cls)
        _random.Random.seed(r, key)
        r.gauss_next = None  # type: ignore[attr-defined]  # as Random.__init__ leaves it
        return r

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            return int(self.random() * start)
        return start + int(self.random() * (stop - start))

    def below(self, n: int) -> int:
        """A number in [0, n), n > 0: the same draw as random.Random's choice/sample make."""
        k = n.bit_length()
        x = self.getrandbits(k)
        while x >= n:
            x = self.getrandbits(k)
        return x

    def small_sample(self, population: Sequence[T], k: int) -> list[T]:
        """random.Random.sample(population, k) for up to 21 items: the same draws, less work."""
        if k <= 1:
            return [population[self.below(len(population))]] if k else []
        pool = list(population)
        n = len(pool)
        out: list[T] = []
        for m in range(n - 1, n - 1 - k, -1):
            j = self.below(m + 1)
            out.append(pool[j])
            pool[j] = pool[m]
        return out


_M64 = (1 << 64) - 1
_TAG_KEYS: dict[str, int] = {}


class _ThreadRandom(threading.local):
    """One FastRandom per thread, re-seeded for every entity generated on that thread: seeding
    in place skips allocating (and freeing) the generator's 2.5 KB state each time, and keeps it
    in the CPU cache. Only for generation that is done before it returns (nothing may keep it)."""

    def __init__(self) -> None:
        self.rng = FastRandom.from_key(0)


_THREAD_RANDOM = _ThreadRandom()


def _reseeded(key: int) -> FastRandom:
    """This thread's generator, in the state FastRandom(key) starts in."""
    r = _THREAD_RANDOM.rng
    _random.Random.seed(r, key)
    return r


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def kind_key(seed: int, tag: str) -> int:
    """The part of entity_key(seed, tag, i) that does not depend on i."""
    tk = _TAG_KEYS.get(tag)
    if tk is None:
        tk = _TAG_KEYS[tag] = _mix(tag)
    return _splitmix64((seed & _M64) ^ tk)


def entity_key(seed: int, tag: str, i: int) -> int:
    """A well-mixed 64-bit key for entity `i` of kind `tag` (cheap: no hashing of strings)."""
    return _splitmix64(kind_key(seed, tag) ^ (i & _M64))


def rng_for(seed: int, *parts: object) -> FastRandom:
    """A private random stream for one entity: same (seed, parts) -> same numbers."""
    if len(parts) == 2 and isinstance(parts[0], str) and isinstance(parts[1], int):
        return FastRandom.from_key(entity_key(seed, parts[0], parts[1]))
    return FastRandom(_mix(seed, *parts))


def _cum(weights: Sequence[float]) -> tuple[float, ...]:
    return tuple(accumulate(weights))


_CHANNEL_CUM = _cum(CHANNEL_WEIGHTS)
_TYPE_CUM = _cum(TYPE_WEIGHTS)
_PRIORITY_CUM = _cum(PRIORITY_WEIGHTS)
_TYPE_TOTAL, _PRIORITY_TOTAL = _TYPE_CUM[-1], _PRIORITY_CUM[-1]


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
        # Per-ticket generation: entity_key(seed, kind, i) halves, and shared child events.
        self._ticket_key = kind_key(seed, "ticket")
        self._traits_key = kind_key(seed, "traits")
        self._user_key = kind_key(seed, "user")
        assignable = {uid for pool in self.agents_by_group.values() for uid in pool}
        self._agent_children = {uid: _AgentChildren.of(uid) for uid in sorted(assignable)}
        self._group_change = {
            g.id: Child("Change", "group_id", str(g.id), None) for g in self.groups
        }
        self._group_only = {gid: (c,) for gid, c in self._group_change.items()}

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
        r = _reseeded(_splitmix64(self._user_key ^ (j & _M64)))
        created = self.end_user_created_ts(j)
        first = ("Ana", "Ben", "Chloe", "Dev", "Emma", "Finn", "Gia", "Hugo", "Ines", "Jan")[
            int(r.random() * 10)  # r.randrange(10)
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
        h = _splitmix64(self._traits_key ^ (i & _M64))
        total = _CHANNEL_CUM[-1]
        channel = CHANNELS[bisect_right(_CHANNEL_CUM, (h & 0xFFFF) * total / 65536)]
        return channel, ((h >> 16) & 0xFFFF) < 3932, ((h >> 32) & 0xFFFF) < 1966

    def ticket(self, i: int, *, custom_fields: bool = True, story: bool = True) -> Ticket:
        """Generate ticket index i (0-based; its id is i + 1).

        For streams that show less of it: `custom_fields=False` leaves `Ticket.custom_fields`
        empty (they are drawn last, so nothing else about the ticket changes); `story=False`
        leaves out its story, `Ticket.audits` and `Ticket.metric_events` (the rest, its final
        state and metric-set facts included, is the same).
        """
        if not 0 <= i < self.n_tickets:
            raise IndexError(i)
        return _build_ticket(self, i, custom_fields, story)

    def story(self, i: int) -> Story:
        """Ticket i's audits (the same as ticket(i).audits), and no more of it."""
        if not 0 <= i < self.n_tickets:
            raise IndexError(i)
        return _build_ticket(self, i, False, True, as_story=True)


class _AgentChildren(NamedTuple):
    """The child events an agent's audits share across tickets (never mutated)."""

    assign: Child
    call: Child
    chat: Child
    notes: tuple[tuple[Child], ...]  # each the whole children of an internal-note audit
    replies: tuple[Child, ...]
    assign_open: tuple[Child, Child]  # the children of the audit that assigns and opens

    @classmethod
    def of(cls, uid: int) -> _AgentChildren:
        def comment(body: str, public: bool = True) -> Child:
            return Child("Comment", body=body, public=public, author_id=uid)

        assign = Child("Change", "assignee_id", str(uid), None)
        return cls(
            assign,
            comment("Call recording: inbound call"),
            comment("Chat transcript"),
            tuple((comment(n, public=False),) for n in NOTES),
            tuple(comment(a) for a in AGENT_REPLIES),
            (assign, _STATUS_CHANGE["open", "new"]),
        )


_STATUSES = ("new", "open", "pending", "hold", "solved", "closed", "deleted")
# Child events that do not depend on the ticket: shared by every audit that has them.
_STATUS_CHANGE = {(v, p): Child("Change", "status", v, p) for v in _STATUSES for p in _STATUSES}
_CREATE_STATUS_NEW = Child("Create", "status", "new")
_CREATE_PRIORITY = {p: Child("Create", "priority", p) for p in PRIORITIES}
_CREATE_TYPE = {t: Child("Create", "type", t) for t in (*TYPES, "complaint")}
_BOT_COMMENTS = tuple(
    Child("Comment", body=b, public=True, author_id=BOT_USER_ID) for b in BOT_REPLIES
)
_CSAT_OFFERED = Child("Change", "satisfaction_score", "offered", "unoffered")
_CSAT_SCORED = {s: Child("Change", "satisfaction_score", s, "offered") for s in ("good", "bad")}
# Whole children of audits that have only shared events (immutable, so shared too).
_STATUS_ONLY = {key: (c,) for key, c in _STATUS_CHANGE.items()}
_BOT_ONLY = tuple((c,) for c in _BOT_COMMENTS)
_CSAT_OFFERED_ONLY = (_CSAT_OFFERED,)
_UNKEPT = Child("Comment")
"""Stands in for the ticket's own child events when its story is not kept (see Account.ticket)."""
_TOPIC_TOTAL = len(TOPICS)
_SOCIAL = ("twitter", "facebook", "instagram_dm")


MetricSpecs = tuple[tuple[Any, ...], ...]
"""Metric events that happen together: (metric, instance_id, type[, sla_target, sla_business,
policy_priority]) each, as MetricEvent takes them after its timestamp."""


def _sla_specs(priority: str) -> MetricSpecs:
    target = SLA_TARGET_MINUTES[priority]
    business = priority in ("low", "normal")
    return (
        ("reply_time", 1, "apply_sla", target, business, priority),
        ("resolution_time", 1, "apply_sla", target * 6, business, priority),
    )


_M_ACTIVATED: MetricSpecs = (
    ("agent_work_time", 1, "activate"),
    ("requester_wait_time", 1, "activate"),
    ("resolution_time", 1, "activate"),
    ("reply_time", 1, "activate"),
)
_M_CREATED: dict[str | None, MetricSpecs] = {
    None: _M_ACTIVATED,
    **{p: _M_ACTIVATED + _sla_specs(p) for p in PRIORITIES},
}
_M_REPLIED: MetricSpecs = (("reply_time", 1, "fulfill"),)
_M_BREACHED: MetricSpecs = (("reply_time", 1, "breach"),)
_M_PAUSED: MetricSpecs = (("agent_work_time", 1, "pause"), ("requester_wait_time", 1, "pause"))
_M_RESUMED: MetricSpecs = (
    ("agent_work_time", 1, "activate"),
    ("requester_wait_time", 1, "activate"),
)
_M_SOLVED: dict[int, MetricSpecs] = {
    n: (
        ("resolution_time", n, "fulfill"),
        ("agent_work_time", n, "fulfill"),
        ("requester_wait_time", n, "fulfill"),
    )
    for n in (1, 2, 3)
}
_M_REOPENED: dict[int, MetricSpecs] = {
    n: (
        ("resolution_time", n, "activate"),
        ("agent_work_time", n, "activate"),
        ("requester_wait_time", n, "activate"),
    )
    for n in (1, 2, 3)
}


@overload
def _build_ticket(
    a: Account, i: int, with_fields: bool, story: bool, as_story: Literal[False] = False
) -> Ticket: ...
@overload
def _build_ticket(
    a: Account, i: int, with_fields: bool, story: bool, as_story: Literal[True]
) -> Story: ...
def _build_ticket(
    a: Account, i: int, with_fields: bool, story: bool, as_story: bool = False
) -> Ticket | Story:
    """Simulate ticket i's life in relative seconds (`t`), then pin its last update to
    generated_timestamp.

    Every draw from `r` happens in a fixed order: the data is a pure function of (seed, i). Hot
    path: helpers are inlined, and Child events that tickets have in common are shared. Gaps
    between events are log-uniform: `int(lo * (hi / lo) ** rnd())` seconds, in [lo, hi].
    """
    r = _reseeded(_splitmix64(a._ticket_key ^ (i & _M64)))
    rnd = r.random
    gen_ts = a.generated_ts(i)
    channel, orphan_call, orphan_chat = a.traits(i)
    type_ = TYPES[bisect_right(_TYPE_CUM, rnd() * _TYPE_TOTAL)] if rnd() > 0.08 else None
    priority = (
        PRIORITIES[bisect_right(_PRIORITY_CUM, rnd() * _PRIORITY_TOTAL)] if rnd() > 0.05 else None
    )
    topic, text = TOPICS[int(rnd() * _TOPIC_TOTAL)]
    if topic.startswith("Complaint") and rnd() < 0.5:
        type_ = "complaint"  # free-text type some accounts configure through a custom field
    subject = f"{topic} #{10_000 + int(rnd() * 89_999)}" if rnd() < 0.4 else topic
    groups = a.groups
    group = groups[int(rnd() * len(groups))]
    social = channel in _SOCIAL
    if channel == "voice":
        group = groups[5]
    elif social:
        group = groups[4]
    group_id = group.id
    pool = a.agents_by_group[group_id] or a.agents_by_group[groups[0].id]
    assignee = pool[int(rnd() * len(pool))]
    kids = a._agent_children[assignee]
    # Requesters: end-users created before the ticket (bounded by the ticket's earliest time).
    j_max = a._max_end_user_before(gen_ts - MAX_SPAN)
    j = j_max - int(j_max * (rnd() ** 2.5))
    requester = ENDUSER_BASE + j + 1
    tags = sorted(r.small_sample(TAGS, int(rnd() * 3)))  # distinct: sampled without replacement
    if social:
        tags.append("social")
    via: str | int = channel
    if channel in VIA_IDS and rnd() < 0.04:
        via = VIA_IDS[channel]
    recent = gen_ts > a.anchor_ts - 6 * DAY
    outcome_roll = rnd()
    # Final outcome: solved (maybe closed), or left new/open/pending/hold, or deleted.
    if outcome_roll < 0.02:
        outcome = "deleted"
    elif outcome_roll < (0.45 if recent else 0.10):
        outcome = r.choice(("new", "open", "open", "pending", "hold"))
    else:
        outcome = "solved"

    agent_started = channel in ("api", "voice") and rnd() < 0.06
    creator = assignee if agent_started else requester
    children: list[Child] = []
    if story:  # (without the story, the ticket's own child events are not made: _UNKEPT)
        children += (
            kids.replies[0]
            if agent_started
            else Child("Comment", body=text, public=True, author_id=requester),
            _CREATE_STATUS_NEW,
            Child("Create", "subject", subject),
            Child("Create", "requester_id", str(requester)),
        )
        if priority:
            children.append(_CREATE_PRIORITY[priority])
        if type_:
            children.append(_CREATE_TYPE[type_])
        if tags:
            children.append(Child("Create", "tags", list(tags)))
    t = 0  # the clock, in seconds since the ticket's creation
    audits: list[AuditEntry] = [(t, creator, via, children)]
    add = audits.append
    # Metric events, as (t, specs) groups (see MetricSpecs).
    metrics: list[tuple[int, MetricSpecs]] = [(t, _M_CREATED[priority])]
    metric = metrics.append
    reply_sla_deadline: int | None = None
    if priority:
        reply_sla_deadline = t + SLA_TARGET_MINUTES[priority] * 60

    calls: list[Call] = []
    chats: list[Chat] = []
    first_reply: int | None = None
    replies = 0
    reopens = 0
    on_hold = 0
    assigned_ts: int | None = None
    solved_ts: int | None = None
    call_id = CALL_BASE + i * 4
    group_change = a._group_change[group_id]
    group_only = a._group_only[group_id]
    open_from_new = _STATUS_CHANGE["open", "new"]
    status = "new"

    # Live channels: the conversation starts with the call/chat.
    if channel == "voice":
        wait = int(5 + 300 * rnd() ** 3)
        talk = 40 + int(rnd() * 1460)
        hold = int(rnd() * 200) if rnd() < 0.3 else 0
        wrap = 10 + int(rnd() * 230)
        call = Call(
            call_id,
            t,
            0,
            "outbound" if agent_started else "inbound",
            "completed",
            assignee,
            requester,
            i + 1,
            group_id,
            wait,
            talk,
            hold,
            wrap,
            False,
            False,
        )
        calls.append(call)
        t += wait + talk + hold
        assigned_ts = t - talk - hold
        add((t, assignee, via, (kids.call, kids.assign, group_change, open_from_new)))
        status = "open"
        first_reply = t
        replies += 1
        metric((t, _M_REPLIED))
        t += wrap
        call.updated_ts = t
    elif channel == "chat":
        start = t
        first = int(3 + 120 * rnd() ** 2)
        t += first
        assigned_ts = t
        n_v, n_a = 2 + int(rnd() * 10), 2 + int(rnd() * 10)
        add((t, assignee, via, (kids.chat, kids.assign, group_change, open_from_new)))
        status = "open"
        first_reply = t
        replies += 1
        metric((t, _M_REPLIED))
        t += 120 + int(rnd() * 1680)
        chats.append(
            Chat(
                f"{2600 + i % 12}.{ACCOUNT_ID}.{i:07x}C",
                start,
                t,
                t,
                False,
                assignee,
                requester,
                i + 1,
                first,
                n_v,
                n_a,
                r.choice((None, None, "good", "bad")),
                group_id,
            )
        )
    else:
        if channel in ("web", "email") and rnd() < 0.25:
            t += int(5 * (90 / 5) ** rnd())  # 5 s .. 90 s
            add((t, BOT_USER_ID, "answer_bot", _BOT_ONLY[int(rnd() * 2)]))
        t += int(30 * (14_400 / 30) ** rnd())  # 30 s .. 4 h
        add((t, SYSTEM_USER_ID, "rule" if rnd() > 0.1 else VIA_IDS["rule"], group_only))
        if outcome != "new":
            t += int(60 * (28_800 / 60) ** rnd())  # 1 min .. 8 h
            assigned_ts = t
            add((t, assignee, "web", kids.assign_open))
            status = "open"

    if outcome != "new":
        # Rounds of agent reply + customer follow-up before the solve. 0 rounds: the solving
        # answer is the only agent message (one-touch, first-contact resolution).
        rounds = bisect_right((45, 75, 92, 100), rnd() * 100)
        for _ in range(rounds):
            if rnd() < 0.2:
                t += int(60 * (7_200 / 60) ** rnd())  # 1 min .. 2 h
                add((t, assignee, "web", kids.notes[int(rnd() * 3)]))
            if rnd() < 0.08 and status == "open":
                t += int(60 * (3_600 / 60) ** rnd())  # 1 min .. 1 h
                add((t, assignee, "web", _STATUS_ONLY["hold", status]))
                metric((t, _M_PAUSED))
                hold_start = t
                t += int(3_600 * (172_800 / 3_600) ** rnd())  # 1 h .. 2 d
                on_hold += t - hold_start
                add((t, assignee, "web", _STATUS_ONLY["open", "hold"]))
                metric((t, _M_RESUMED))
                status = "open"
            t += int(120 * (72_000 / 120) ** rnd())  # 2 min .. 20 h
            reply = kids.replies[int(rnd() * 5)]
            add((t, assignee, "web", (reply, _STATUS_CHANGE["pending", status])))
            status = "pending"
            replies += 1
            if first_reply is None:
                first_reply = t
                if reply_sla_deadline is not None and t > reply_sla_deadline:
                    metric((reply_sla_deadline, _M_BREACHED))
                metric((t, _M_REPLIED))
            metric((t, _M_PAUSED))
            t += int(300 * (86_400 / 300) ** rnd())  # 5 min .. 1 d
            body = CUSTOMER_REPLIES[int(rnd() * 5)]
            answer = (
                Child("Comment", body=body, public=True, author_id=requester) if story else _UNKEPT
            )
            add((t, requester, via, (answer, _STATUS_CHANGE["open", "pending"])))
            status = "open"
            metric((t, _M_RESUMED))
        if outcome == "solved" or (outcome == "deleted" and rnd() < 0.5):
            solves = 2 if rnd() < 0.1 else 1
            for n_solve in range(solves):
                t += int(120 * (36_000 / 120) ** rnd())  # 2 min .. 10 h
                add((t, assignee, "web", (kids.replies[3], _STATUS_CHANGE["solved", status])))
                status = "solved"
                replies += 1
                if first_reply is None:
                    first_reply = t
                    metric((t, _M_REPLIED))
                solved_ts = t
                n = n_solve + 1
                metric((t, _M_SOLVED[n]))
                if n < solves:  # the customer reopens
                    t += int(3_600 * (172_800 / 3_600) ** rnd())  # 1 h .. 2 d
                    reopen = (
                        Child("Comment", body=CUSTOMER_REPLIES[2], public=True, author_id=requester)
                        if story
                        else _UNKEPT
                    )
                    add((t, requester, via, (reopen, _STATUS_CHANGE["open", "solved"])))
                    status = "open"
                    reopens += 1
                    metric((t, _M_REOPENED[n + 1]))
        elif outcome in ("pending", "hold"):
            t += int(120 * (36_000 / 120) ** rnd())  # 2 min .. 10 h
            add((t, assignee, "web", _STATUS_ONLY[outcome, status]))
            status = outcome

    rating: Rating | None = None
    if status == "solved":
        roll = rnd()
        rating_id = RATING_BASE + i
        if roll < 0.05:
            rating = Rating(rating_id, "unoffered", t, t, None, None)
        elif roll < 0.65:
            t += int(3_600 * (86_400 / 3_600) ** rnd())  # 1 h .. 1 d
            offered = t
            add((t, SYSTEM_USER_ID, "rule", _CSAT_OFFERED_ONLY))
            rating = Rating(rating_id, "offered", offered, offered, None, None)
            if rnd() < 0.45:
                t += int(600 * (86_400 / 600) ** rnd())  # 10 min .. 1 d
                score = "good" if rnd() < 0.8 else "bad"
                comment = (
                    ("Great support!" if score == "good" else "Took far too long.")
                    if rnd() < 0.4
                    else None
                )
                reason = "The issue took too long to resolve" if score == "bad" else None
                sat = (
                    Child("SatisfactionRating", body=comment, score=score, author_id=requester)
                    if story
                    else _UNKEPT
                )
                add((t, requester, "web", (sat, _CSAT_SCORED[score])))
                rating = Rating(rating_id, score, offered, t, comment, reason)
        if rnd() < 0.85 and not recent:
            t += 4 * DAY  # the standard automation closes solved tickets after 4 days
            add((t, SYSTEM_USER_ID, "rule", _STATUS_ONLY["closed", "solved"]))
            status = "closed"
    if outcome == "deleted":
        t += int(60 * (86_400 / 60) ** rnd())  # 1 min .. 1 d
        add((t, assignee, "web", _STATUS_ONLY["deleted", status]))
        status = "deleted"

    # Orphans hosted by this ticket: abandoned / missed calls and missed chats, unlinked.
    if orphan_call:
        at = int(rnd() * max(1, t))
        kind = ("abandoned_in_queue", "abandoned_in_ivr", "voicemail")[
            bisect_right((6, 7, 10), rnd() * 10)
        ]
        wait = 2 + int(rnd() * 398)
        calls.append(
            Call(
                call_id + 1,
                at,
                at + wait,
                "inbound",
                kind,
                None,
                requester if rnd() < 0.8 else None,
                None,
                groups[5].id,
                wait,
                0,
                0,
                0,
                kind == "voicemail",
                rnd() < 0.1,
            )
        )
    if orphan_chat:
        at = int(rnd() * max(1, t))
        wait = 30 + int(rnd() * 570)
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
                1 + int(rnd() * 3),
                0,
                None,
                None,
            )
        )

    # Pin the story's end to generated_timestamp; sometimes a later system update bumps
    # generated_timestamp without a ticket event (so updated_at < generated_timestamp).
    span = t
    if rnd() < 0.1:
        span += 1 + int(rnd() * 599)
    # A rare very long story is compressed to fit MAX_SPAN (order of events is preserved).
    scale = min(1.0, MAX_SPAN / span) if span else 1.0
    created = gen_ts - int(span * scale)

    if as_story:
        ref = TicketRef(i + 1, assignee if assigned_ts is not None else None, group_id, requester)
        return Story(ref, created, scale, audits)

    def shift(t: int) -> int:
        return created + int(t * scale)

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

    return Ticket(
        i,
        i + 1,
        gen_ts,
        created,
        shift(audits[-1][0]),
        channel,
        via,
        subject,
        text,
        type_,
        priority,
        status,
        requester,
        creator,
        assignee if assigned_ts is not None else None,
        group_id,
        tags,
        _custom_fields(r) if with_fields else [],
        rating,
        calls,
        chats,
        shift(solved_ts) if solved_ts is not None else None,
        shift(first_reply) if first_reply is not None else None,
        shift(assigned_ts) if assigned_ts is not None else None,
        reopens,
        replies,
        on_hold,
        scale,
        audits if story else [],
        metrics if story else [],
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


_F_ORDER, _F_SEATS, _F_REFUND, _F_ESCALATED, _F_PRODUCTS, _F_REGION, _F_FOLLOW_UP = (
    f[0] for f in TICKET_FIELDS
)
# Custom field entries that many tickets have in common: shared (rendered straight to JSON and
# never mutated; a write's override builds new entries).
_UNSET = {fid: {"id": fid, "value": None} for fid, _, _ in TICKET_FIELDS}
_ESCALATED = {v: {"id": _F_ESCALATED, "value": v} for v in (False, True)}
_REGION_SET = {region: {"id": _F_REGION, "value": region} for region in REGIONS}


def _custom_fields(r: FastRandom) -> list[dict[str, Any]]:
    """The ticket's custom field values: each value is drawn, then whether the field is set
    (values are only formatted for the fields that are set)."""
    rnd = r.random
    u = rnd()
    order_f = (
        {"id": _F_ORDER, "value": f"ORD-{100_000 + int(u * 899_999)}"}
        if rnd() < 0.5
        else _UNSET[_F_ORDER]
    )
    u = rnd()
    seats_f = {"id": _F_SEATS, "value": 1 + int(u * 499)} if rnd() < 0.3 else _UNSET[_F_SEATS]
    u = rnd()
    refund_f = (
        {"id": _F_REFUND, "value": f"{(1 + int(u * 49_999)) / 100:.2f}"}
        if rnd() < 0.15
        else _UNSET[_F_REFUND]
    )
    escalated_f = _ESCALATED[rnd() < 0.1]
    products = r.small_sample(PRODUCTS, 1 + int(rnd() * 2))
    products_f = (
        {"id": _F_PRODUCTS, "value": sorted(products)} if rnd() < 0.4 else _UNSET[_F_PRODUCTS]
    )
    region = REGIONS[r.below(3)]
    region_f = _REGION_SET[region] if rnd() < 0.8 else _UNSET[_F_REGION]
    u, v = rnd(), rnd()
    follow_up_f = (
        {"id": _F_FOLLOW_UP, "value": f"2026-{1 + int(u * 12):02d}-{1 + int(v * 28):02d}"}
        if rnd() < 0.1
        else _UNSET[_F_FOLLOW_UP]
    )
    return [order_f, seats_f, refund_f, escalated_f, products_f, region_f, follow_up_f]
