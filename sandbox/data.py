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

from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta

from deskpulse.sandbox.model import (
    ACCOUNT_ID,
    AGENT_REPLIES,
    ALL_TAGS,
    AUDIT_BASE,
    BOT_REPLIES,
    BOT_USER_ID,
    CALL_BASE,
    CHANNEL_WEIGHTS,
    CHANNELS,
    CHILD_BASE,
    COMMENT_BODIES,
    CUSTOMER_REPLIES,
    DAY,
    DEFAULT_ANCHOR,
    ENDUSER_BASE,
    FIELD_BASE,
    GROUP_BASE,
    GROUP_NAMES,
    HOUR,
    MAX_SPAN,
    MEMBERSHIP_BASE,
    METRIC_EVENT_BASE,
    NOTES,
    OPT_IN_TAG,
    PHONE_NUMBER_ID,
    PRIORITIES,
    PRIORITY_WEIGHTS,
    PRODUCTS,
    RATING_BASE,
    REGIONS,
    SCHEDULE_BASE,
    SLA_POLICY_BASE,
    SLA_TARGET_MINUTES,
    STAFF_BASE,
    SYSTEM_USER_ID,
    TAGS,
    TICKET_FIELDS,
    TOPICS,
    TYPE_WEIGHTS,
    TYPES,
    VIA_IDS,
    Audit,
    AuditEntry,
    Call,
    Chat,
    Child,
    Group,
    Membership,
    MetricEvent,
    Rating,
    Story,
    Ticket,
    TicketRef,
    User,
    ts_iso,
)
from deskpulse.sandbox.rand import (
    M64,
    FastRandom,
    entity_key,
    kind_key,
    mix,
    reseeded,
    rng_for,
    splitmix64,
)
from deskpulse.sandbox.tickets import CHANNEL_CUM, AgentChildren, build_ticket

__all__ = [
    "ACCOUNT_ID",
    "AGENT_REPLIES",
    "ALL_TAGS",
    "AUDIT_BASE",
    "BOT_REPLIES",
    "BOT_USER_ID",
    "CALL_BASE",
    "CHANNELS",
    "CHANNEL_WEIGHTS",
    "CHILD_BASE",
    "COMMENT_BODIES",
    "CUSTOMER_REPLIES",
    "DAY",
    "DEFAULT_ANCHOR",
    "ENDUSER_BASE",
    "FIELD_BASE",
    "GROUP_BASE",
    "GROUP_NAMES",
    "HOUR",
    "MAX_SPAN",
    "MEMBERSHIP_BASE",
    "METRIC_EVENT_BASE",
    "NOTES",
    "OPT_IN_TAG",
    "PHONE_NUMBER_ID",
    "PRIORITIES",
    "PRIORITY_WEIGHTS",
    "PRODUCTS",
    "RATING_BASE",
    "REGIONS",
    "SCHEDULE_BASE",
    "SLA_POLICY_BASE",
    "SLA_TARGET_MINUTES",
    "STAFF_BASE",
    "SYSTEM_USER_ID",
    "TAGS",
    "TICKET_FIELDS",
    "TOPICS",
    "TYPES",
    "TYPE_WEIGHTS",
    "VIA_IDS",
    "Account",
    "Audit",
    "AuditEntry",
    "Call",
    "Chat",
    "Child",
    "FastRandom",
    "Group",
    "Membership",
    "MetricEvent",
    "Rating",
    "Story",
    "Ticket",
    "TicketRef",
    "User",
    "entity_key",
    "kind_key",
    "rng_for",
    "ts_iso",
]


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
        self._burst_mix = mix(seed, "burst") & 0xFFFF
        self._build_staff()
        self._build_end_users()
        # Per-ticket generation: entity_key(seed, kind, i) halves, and shared child events.
        self._ticket_key = kind_key(seed, "ticket")
        self._opt_in_key = kind_key(seed, "newsletter_opt_in")
        self._traits_key = kind_key(seed, "traits")
        self._user_key = kind_key(seed, "user")
        assignable = {uid for pool in self.agents_by_group.values() for uid in pool}
        self._agent_children = {uid: AgentChildren.of(uid) for uid in sorted(assignable)}
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
        r = reseeded(splitmix64(self._user_key ^ (j & M64)))
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
        h = splitmix64(self._traits_key ^ (i & M64))
        total = CHANNEL_CUM[-1]
        channel = CHANNELS[bisect_right(CHANNEL_CUM, (h & 0xFFFF) * total / 65536)]
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
        return build_ticket(self, i, custom_fields, story)

    def story(self, i: int) -> Story:
        """Ticket i's audits (the same as ticket(i).audits), and no more of it."""
        if not 0 <= i < self.n_tickets:
            raise IndexError(i)
        return build_ticket(self, i, False, True, as_story=True)
