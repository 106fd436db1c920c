"""One ticket's life, simulated: `build_ticket(account, i)` draws ticket i of the account from
its own random stream (sandbox.rand) in a fixed order, so the ticket is a pure function of
(seed, i). See sandbox.data for what a ticket holds and the time bounds its life keeps."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

from deskpulse.sandbox.model import (
    ACCOUNT_ID,
    AGENT_REPLIES,
    BOT_REPLIES,
    BOT_USER_ID,
    CALL_BASE,
    CHANNEL_WEIGHTS,
    CUSTOMER_REPLIES,
    DAY,
    ENDUSER_BASE,
    MAX_SPAN,
    NOTES,
    OPT_IN_TAG,
    PRIORITIES,
    PRIORITY_WEIGHTS,
    PRODUCTS,
    RATING_BASE,
    REGIONS,
    SLA_TARGET_MINUTES,
    SYSTEM_USER_ID,
    TAGS,
    TICKET_FIELDS,
    TOPICS,
    TYPE_WEIGHTS,
    TYPES,
    VIA_IDS,
    AuditEntry,
    Call,
    Chat,
    Child,
    Rating,
    Story,
    Ticket,
    TicketRef,
)
from deskpulse.sandbox.rand import M64, FastRandom, reseeded, splitmix64

if TYPE_CHECKING:
    from deskpulse.sandbox.data import Account


def _cum(weights: Sequence[float]) -> tuple[float, ...]:
    return tuple(accumulate(weights))


CHANNEL_CUM = _cum(CHANNEL_WEIGHTS)
_TYPE_CUM = _cum(TYPE_WEIGHTS)
_PRIORITY_CUM = _cum(PRIORITY_WEIGHTS)
_TYPE_TOTAL, _PRIORITY_TOTAL = _TYPE_CUM[-1], _PRIORITY_CUM[-1]


class AgentChildren(NamedTuple):
    """The child events an agent's audits share across tickets (never mutated)."""

    assign: Child
    call: Child
    chat: Child
    notes: tuple[tuple[Child], ...]  # each the whole children of an internal-note audit
    replies: tuple[Child, ...]
    assign_open: tuple[Child, Child]  # the children of the audit that assigns and opens

    @classmethod
    def of(cls, uid: int) -> AgentChildren:
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
OPT_IN_CHANNELS = frozenset({"web", "email"})
"""Where a requester can say they want the newsletter: the web form's box, or an e-mail."""


def opted_in(a: Account, requester: int) -> bool:
    """Whether this end-user asked for the newsletter: one person in six, a pure function of
    (seed, person), so every ticket of theirs through the web form or e-mail carries
    OPT_IN_TAG (and nothing else the generator draws changes)."""
    return splitmix64(a._opt_in_key ^ (requester & M64)) % 6 == 0


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
def build_ticket(
    a: Account, i: int, with_fields: bool, story: bool, as_story: Literal[False] = False
) -> Ticket: ...
@overload
def build_ticket(
    a: Account, i: int, with_fields: bool, story: bool, as_story: Literal[True]
) -> Story: ...
def build_ticket(
    a: Account, i: int, with_fields: bool, story: bool, as_story: bool = False
) -> Ticket | Story:
    """Simulate ticket i's life in relative seconds (`t`), then pin its last update to
    generated_timestamp.

    Every draw from `r` happens in a fixed order: the data is a pure function of (seed, i). Hot
    path: helpers are inlined, and Child events that tickets have in common are shared. Gaps
    between events are log-uniform: `int(lo * (hi / lo) ** rnd())` seconds, in [lo, hi].
    """
    r = reseeded(splitmix64(a._ticket_key ^ (i & M64)))
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
    if channel in OPT_IN_CHANNELS and opted_in(a, requester):  # no draw: the stream stays as it was
        tags = sorted((*tags, OPT_IN_TAG))
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
        t, rating = _csat(rnd, add, t, i, requester, story)
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
        calls.append(_orphan_call(rnd, t, call_id + 1, requester, groups[5].id))
    if orphan_chat:
        chats.append(_orphan_chat(rnd, t, i, requester))

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

    _pin_records(shift, calls, chats, rating)

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


def _csat(
    rnd: Callable[[], float],
    add: Callable[[AuditEntry], None],
    t: int,
    i: int,
    requester: int,
    story: bool,
) -> tuple[int, Rating | None]:
    """A solved ticket's CSAT: none, unoffered, or offered by the system and maybe scored by
    the requester (audits added through `add`). Returns the clock and the rating."""
    roll = rnd()
    rating_id = RATING_BASE + i
    if roll < 0.05:
        return t, Rating(rating_id, "unoffered", t, t, None, None)
    if roll >= 0.65:
        return t, None
    t += int(3_600 * (86_400 / 3_600) ** rnd())  # 1 h .. 1 d
    offered = t
    add((t, SYSTEM_USER_ID, "rule", _CSAT_OFFERED_ONLY))
    rating = Rating(rating_id, "offered", offered, offered, None, None)
    if rnd() < 0.45:
        t += int(600 * (86_400 / 600) ** rnd())  # 10 min .. 1 d
        score = "good" if rnd() < 0.8 else "bad"
        comment = (
            ("Great support!" if score == "good" else "Took far too long.") if rnd() < 0.4 else None
        )
        reason = "The issue took too long to resolve" if score == "bad" else None
        sat = (
            Child("SatisfactionRating", body=comment, score=score, author_id=requester)
            if story
            else _UNKEPT
        )
        add((t, requester, "web", (sat, _CSAT_SCORED[score])))
        rating = Rating(rating_id, score, offered, t, comment, reason)
    return t, rating


def _orphan_call(
    rnd: Callable[[], float], t: int, call_id: int, requester: int, group_id: int
) -> Call:
    """An abandoned or missed inbound call hosted by a ticket (linked to none), before `t`."""
    at = int(rnd() * max(1, t))
    kind = ("abandoned_in_queue", "abandoned_in_ivr", "voicemail")[
        bisect_right((6, 7, 10), rnd() * 10)
    ]
    wait = 2 + int(rnd() * 398)
    return Call(
        call_id,
        at,
        at + wait,
        "inbound",
        kind,
        None,
        requester if rnd() < 0.8 else None,
        None,
        group_id,
        wait,
        0,
        0,
        0,
        kind == "voicemail",
        rnd() < 0.1,
    )


def _orphan_chat(rnd: Callable[[], float], t: int, i: int, requester: int) -> Chat:
    """A missed chat hosted by ticket i (no agent, no ticket), before `t`."""
    at = int(rnd() * max(1, t))
    wait = 30 + int(rnd() * 570)
    return Chat(
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


def _pin_records(
    shift: Callable[[int], int], calls: list[Call], chats: list[Chat], rating: Rating | None
) -> None:
    """Turn the records' times since creation into timestamps (see build_ticket's end)."""
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
