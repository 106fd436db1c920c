"""Volume and workload metrics: rows in, numbers out, worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import deskpulse.kpi_core.metrics.volume  # noqa: F401 - registers the metrics
from tests.kpi_core.conftest import Wh

START = datetime(2026, 3, 2, tzinfo=UTC)
END = datetime(2026, 3, 9, tzinfo=UTC)
MON = "2026-03-02T10:00:00Z"
TUE = "2026-03-03T10:00:00Z"


def one(wh: Wh, metric: str, **fields: Any) -> Any:
    values = wh.kpi(metric, START, END, **fields)
    assert len(values) == 1
    return values[0]


def contacts(wh: Wh) -> None:
    wh.add(
        "tickets",
        {"id": "t1", "created_at": MON, "channel": "email", "requester_id": "alice"},
        {"id": "t2", "created_at": MON, "channel": "phone", "requester_id": "bob"},
        {"id": "t3", "created_at": TUE, "channel": "chat", "requester_id": "alice"},
        {"id": "t4", "created_at": TUE, "requester_id": "carol"},  # no channel -> other
        {"id": "t5", "created_at": TUE, "channel": "email", "status": "deleted"},  # excluded
    )
    wh.add(
        "calls",
        {"id": "c1", "queued_at": MON, "ticket_id": "t2", "customer_id": "bob"},  # = t2
        {"id": "c2", "queued_at": TUE, "customer_id": "bob"},  # own contact
        {"id": "c3", "queued_at": TUE, "direction": "outbound", "customer_id": "dan"},  # not one
        {"id": "c4", "queued_at": TUE, "ticket_id": "t5"},  # its ticket is deleted: gone too
    )
    wh.add(
        "chats",
        {"id": "h1", "requested_at": TUE, "ticket_id": "t3", "customer_id": "alice"},  # = t3
        {"id": "h2", "requested_at": TUE, "customer_id": "erin"},
        # ticket_id naming a ticket we do not have: the chat counts on its own.
        {"id": "h3", "requested_at": TUE, "ticket_id": "t999", "customer_id": "erin"},
    )
    wh.add(
        "social_mentions",
        {"id": "m1", "created_at": TUE, "network": "twitter"},
        {"id": "m2", "created_at": TUE, "network": "twitter", "ticket_id": "t1"},  # = t1
        {"id": "m3", "created_at": "2026-03-20T00:00:00Z", "network": "twitter"},  # outside
    )


def test_request_volume(wh: Wh) -> None:
    contacts(wh)
    # Tickets t1-t4 = 4; calls c2 = 1; chats h2, h3 = 2; mentions m1 = 1 -> 8.
    v = one(wh, "request_volume")
    assert (v.value, v.n) == (8.0, 8)
    by = {
        (r.group or {})["channel"]: r.value
        for r in wh.kpi("request_volume", START, END, by="channel")
    }
    # email t1; phone t2 + c2; chat t3 + h2 + h3; other t4; twitter m1.
    assert by == {"chat": 3.0, "email": 1.0, "other": 1.0, "phone": 2.0, "twitter": 1.0}


def test_request_volume_daily(wh: Wh) -> None:
    contacts(wh)
    rows = wh.kpi("request_volume", START, END, every="day")
    # Monday: t1, t2 = 2. Tuesday: t3, t4, c2, h2, h3, m1 = 6. Other days: no data.
    assert [r.value for r in rows] == [2.0, 6.0, None, None, None, None, None]


def test_channel_share(wh: Wh) -> None:
    contacts(wh)
    rows = wh.kpi("channel_share", START, END)
    share = {(r.group or {})["channel"]: r.value for r in rows}
    # Out of 8: chat 3, phone 2, email, other, twitter 1 each.
    assert share == {
        "chat": pytest.approx(3 / 8),
        "email": pytest.approx(1 / 8),
        "other": pytest.approx(1 / 8),
        "phone": pytest.approx(2 / 8),
        "twitter": pytest.approx(1 / 8),
    }
    assert sum(v or 0.0 for v in share.values()) == pytest.approx(1.0)


def test_repeat_contacts(wh: Wh) -> None:
    contacts(wh)
    # Per customer: alice t1 + t3 (h1 is t3) = 2; bob t2 + c2 (c1 is t2) = 2; carol t4 = 1;
    # erin h2 + h3 = 2. Mentions carry no customer. Repeat: alice, bob, erin = 3 of 4.
    v = one(wh, "repeat_contacts")
    assert v.value == pytest.approx(0.75)
    assert v.details == {"repeat": 3, "customers": 4}


def test_agent_utilization_from_sessions(wh: Wh) -> None:
    wh.add(
        "agent_sessions",
        # a1: 8 h logged in on Monday, 6 h of it busy -> 6 / 8.
        {"id": "s1", "agent_id": "a1", "started_at": "2026-03-02T08:00:00Z",
         "ended_at": "2026-03-02T14:00:00Z", "state": "busy"},
        {"id": "s2", "agent_id": "a1", "started_at": "2026-03-02T14:00:00Z",
         "ended_at": "2026-03-02T16:00:00Z", "state": "available"},
        # a2: a busy session from Sunday 22:00 to Monday 02:00: 2 h inside the window, all busy;
        # plus 2 h away on Monday.
        {"id": "s3", "agent_id": "a2", "started_at": "2026-03-01T22:00:00Z",
         "ended_at": "2026-03-02T02:00:00Z", "state": "busy"},
        {"id": "s4", "agent_id": "a2", "started_at": "2026-03-02T03:00:00Z",
         "ended_at": "2026-03-02T05:00:00Z", "state": "away"},
    )  # fmt: skip
    # Team: busy 6 + 2 = 8 h of 8 + 4 = 12 h logged in -> 2/3.
    v = one(wh, "agent_utilization")
    assert v.value == pytest.approx(2 / 3)
    assert v.details["basis"] == "sessions"
    by = {
        (r.group or {})["agent"]: r.value
        for r in wh.kpi("agent_utilization", START, END, by="agent")
    }
    # a1 6 / 8 = 0.75; a2 2 / 4 = 0.5.
    assert by == {"a1": pytest.approx(0.75), "a2": pytest.approx(0.5)}
    # Daily: Monday holds all of it; the rest of the week has no sessions.
    rows = wh.kpi("agent_utilization", START, END, every="day")
    assert [r.value for r in rows][:2] == [pytest.approx(2 / 3), None]


def test_agent_utilization_without_sessions(wh: Wh) -> None:
    solved = "2026-03-03T12:00:00Z"
    wh.add(
        "tickets",
        *[
            {"id": f"t{i}", "created_at": MON, "solved_at": solved, "assignee_id": agent}
            for i, agent in enumerate(["a1", "a1", "a1", "a2"])
        ],
        {"id": "u", "created_at": MON, "solved_at": solved},  # unassigned: not handled by anyone
    )
    rows = wh.kpi("agent_utilization", START, END)
    # a1 handled 3 of 4, a2 1 of 4.
    assert {(r.group or {})["agent"]: r.value for r in rows} == {"a1": 0.75, "a2": 0.25}
    assert (rows[0].details or {})["basis"] == "tickets"


@pytest.mark.parametrize(
    "metric", ["request_volume", "channel_share", "repeat_contacts", "agent_utilization"]
)
def test_empty_window_is_null(wh: Wh, metric: str) -> None:
    wh.add("tickets", {"id": "old", "created_at": "2026-01-01T00:00:00Z", "requester_id": "x"})
    v = one(wh, metric)
    assert (v.value, v.n) == (None, 0)


def test_agent_utilization_session_across_midnight(wh: Wh) -> None:
    wh.add(
        "agent_sessions",
        # Busy Tue 23:00 -> Wed 01:00: one hour on each day.
        {"id": "s1", "agent_id": "a1", "started_at": "2026-03-03T23:00:00Z",
         "ended_at": "2026-03-04T01:00:00Z", "state": "busy"},
        # Available Wed 01:00 -> 04:00, ending exactly where Wednesday's second session starts.
        {"id": "s2", "agent_id": "a1", "started_at": "2026-03-04T01:00:00Z",
         "ended_at": "2026-03-04T04:00:00Z", "state": "available"},
    )  # fmt: skip
    rows = wh.kpi("agent_utilization", START, END, every="day")
    # Tue: 1 h busy of 1 h = 1.0. Wed: 1 h busy of 1 + 3 = 4 h = 0.25.
    assert [r.value for r in rows][1:3] == [pytest.approx(1.0), pytest.approx(0.25)]
    assert [r.n for r in rows][1:3] == [1, 2]


def test_channel_share_by_source(wh: Wh) -> None:
    wh.add("tickets", {"id": "1", "created_at": MON, "channel": "email"})
    wh.add("chats", {"id": "1", "requested_at": MON})
    wh.add(
        "tickets",
        {"id": "1", "created_at": MON, "channel": "email"},
        {"id": "2", "created_at": MON, "channel": "web"},
        {"id": "3", "created_at": MON, "channel": "web"},
        source="other",
    )
    rows = wh.kpi("channel_share", START, END, by="source")
    share = {((r.group or {})["source"], (r.group or {})["channel"]): r.value for r in rows}
    # zd: email 1 and chat 1 of 2; other: email 1 and web 2 of 3.
    assert share == {
        ("zd", "chat"): 0.5,
        ("zd", "email"): 0.5,
        ("other", "email"): pytest.approx(1 / 3),
        ("other", "web"): pytest.approx(2 / 3),
    }


def test_backlog_of_some_sources_given_as_a_list(wh: Wh) -> None:
    """The CLI gives --source as a list; the backlog's shared rows are keyed by it (a list
    there used to be an unhashable key)."""
    wh.add("tickets", {"id": "t1", "created_at": MON, "status": "open"})
    wh.add("tickets", {"id": "t1", "created_at": MON, "status": "open"}, source="other")
    values = wh.kpi("ticket_backlog", START, END, sources=["zd"])
    assert [v.value for v in values] == [1.0] * 7  # one open ticket at each day's end
    assert [v.value for v in wh.kpi("ticket_backlog", START, END)] == [2.0] * 7
