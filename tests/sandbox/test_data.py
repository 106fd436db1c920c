"""The generated account: deterministic, lazy, and shaped like a real help desk."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from deskpulse.sandbox.data import (
    BOT_USER_ID,
    MAX_SPAN,
    SYSTEM_USER_ID,
    Account,
    ts_iso,
)


def _fingerprint(a: Account, i: int) -> tuple[object, ...]:
    t = a.ticket(i)
    return (
        t.id,
        t.generated_ts,
        t.created_ts,
        t.status,
        t.channel,
        t.subject,
        t.requester_id,
        t.assignee_id,
        tuple(t.tags),
        repr(t.custom_fields),
        tuple((au.ts, au.author_id, len(au.children)) for au in t.audits),
        tuple((m.ts, m.metric, m.type) for m in t.metric_events),
    )


def test_same_seed_same_data_in_any_order() -> None:
    a, b = Account(seed=5, tickets=500), Account(seed=5, tickets=500)
    forward = [_fingerprint(a, i) for i in range(0, 500, 7)]
    backward = [_fingerprint(b, i) for i in reversed(range(0, 500, 7))]
    assert forward == list(reversed(backward))
    assert [a.user(k) for k in range(0, a.n_users, 13)] == [
        b.user(k) for k in range(0, b.n_users, 13)
    ]


def test_other_seed_other_data() -> None:
    a, b = Account(seed=5, tickets=200), Account(seed=6, tickets=200)
    assert [_fingerprint(a, i) for i in range(20)] != [_fingerprint(b, i) for i in range(20)]


def test_anchor_is_configurable_and_bounds_the_data() -> None:
    anchor = datetime(2025, 3, 1, tzinfo=UTC)
    a = Account(seed=1, tickets=300, anchor=anchor)
    assert a.anchor_ts == int(anchor.timestamp())
    for i in range(300):
        t = a.ticket(i)
        assert a.start_ts <= t.created_ts <= t.updated_ts <= t.generated_ts < a.anchor_ts
        assert t.generated_ts - t.created_ts <= MAX_SPAN


def test_generated_timestamp_is_ordered_with_same_second_bursts() -> None:
    a = Account(seed=3, tickets=5000)
    ts = [a.generated_ts(i) for i in range(5000)]
    assert ts == sorted(ts)
    sizes = Counter(ts)
    assert max(sizes.values()) >= 30  # whole blocks share one second
    assert a.first_ticket_at(ts[1234]) == ts.index(ts[1234])


def test_realistic_shapes() -> None:
    a = Account(seed=2, tickets=1500)
    tickets = [a.ticket(i) for i in range(1500)]
    statuses = Counter(t.status for t in tickets)
    assert {"new", "open", "pending", "hold", "solved", "closed", "deleted"} <= set(statuses)
    channels = {t.channel for t in tickets}
    assert {"web", "email", "api", "chat", "voice", "twitter", "facebook", "instagram_dm"} <= (
        channels
    )
    assert any(isinstance(t.via, int) for t in tickets)  # integer via ids appear too
    values = [f["value"] for t in tickets for f in t.custom_fields]
    assert {type(v) for v in values} >= {str, int, bool, list, type(None)}
    authors = {au.author_id for t in tickets for au in t.audits}
    assert BOT_USER_ID in authors and SYSTEM_USER_ID in authors
    children = [c for t in tickets for au in t.audits for c in au.children]
    assert any(c.kind == "Comment" and not c.public for c in children)  # internal notes
    assert any(c.field_name == "status" and c.value == "hold" for c in children)
    assert any(t.reopens for t in tickets)
    scores = Counter(t.rating.score for t in tickets if t.rating)
    assert {"offered", "good", "bad", "unoffered"} <= set(scores)
    metric_types = {m.type for t in tickets for m in t.metric_events}
    assert {"activate", "pause", "fulfill", "apply_sla", "breach"} <= metric_types
    calls = [c for t in tickets for c in t.calls]
    assert {"completed", "abandoned_in_queue", "voicemail"} <= {c.completion_status for c in calls}
    chats = [c for t in tickets for c in t.chats]
    assert any(c.missed for c in chats) and any(not c.missed for c in chats)


def test_requesters_exist_before_their_tickets() -> None:
    a = Account(seed=4, tickets=400)
    for i in range(0, 400, 3):
        t = a.ticket(i)
        k = a.user_index_by_id(t.requester_id)
        assert k is not None
        u = a.user(k)
        assert u.role == "end-user" and u.created_ts <= t.created_ts


def test_users_export_order_and_bulk_import() -> None:
    a = Account(seed=4, tickets=3000)
    users = [a.user(k) for k in range(a.n_users)]
    keys = [(u.updated_ts, u.id) for u in users]
    assert keys == sorted(keys)
    assert Counter(u.updated_ts for u in users).most_common(1)[0][1] >= 500
    roles = Counter(u.role for u in users)
    assert roles["admin"] and roles["agent"] and roles["end-user"]


def test_ts_iso() -> None:
    assert ts_iso(0) == "1970-01-01T00:00:00Z"
    assert ts_iso(1_793_457_104) == "2026-10-31T14:31:44Z"


def test_ticket_count_bounds() -> None:
    with pytest.raises(ValueError):
        Account(tickets=0)
