"""Per-ticket facts: pure derivations from event lists, and the windowed loader."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from deskpulse.kpi_core import KpiQuery
from deskpulse.kpi_core.facts import TicketRow, iter_facts, tag_list, ticket_facts
from deskpulse.kpi_core.periods import to_ms

MIN = 60_000
T0 = to_ms(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))


def at(minutes: float) -> int:
    return T0 + int(minutes * MIN)


def msg(minute: float, author: str, public: bool | None = True) -> tuple[Any, ...]:
    return (at(minute), "message", author, public, None)


def status(minute: float, value: str) -> tuple[Any, ...]:
    return (at(minute), "status", "system", True, value)


def ticket(status_now: str = "open", **kw: Any) -> TicketRow:
    return TicketRow("zd", "1", T0, status_now, **kw)


def test_first_reply_skips_bots_and_internal_notes() -> None:
    f = ticket_facts(
        ticket(),
        [
            msg(0, "customer"),
            msg(1, "bot"),  # auto-reply: never stops the clock
            msg(2, "system"),
            msg(5, "agent", public=False),  # internal note
            msg(30, "agent"),
        ],
    )
    assert f.first_reply_ms == at(30)
    assert (f.customer_messages, f.agent_messages) == (1, 1)
    assert f.last_public_author == "agent"


def test_agent_opened_ticket_waits_for_the_customer() -> None:
    # Agent writes first (outbound); the customer answers at +120; next agent message at +140.
    events = [msg(0, "agent"), msg(10, "agent"), msg(120, "customer"), msg(140, "agent")]
    f = ticket_facts(ticket(), events)
    assert f.first_reply_ms == at(140)  # clock still starts at created_at: 140 minutes
    assert f.reply_gaps == [(at(120), at(140))]


def test_agent_opened_ticket_without_customer_has_no_first_reply() -> None:
    f = ticket_facts(ticket(), [msg(0, "agent"), msg(5, "agent")])
    assert f.first_reply_ms is None
    assert f.reply_gaps == []


def test_reply_gaps_measure_from_first_unanswered_customer_message() -> None:
    events = [
        msg(0, "customer"),
        msg(10, "customer"),  # same run: the gap starts at 0
        msg(30, "agent"),
        msg(35, "agent"),  # no open question: no gap
        msg(60, "customer"),
        msg(61, "bot"),
        msg(90, "agent"),
        msg(100, "customer"),  # still unanswered: not a gap
    ]
    f = ticket_facts(ticket(), events)
    assert f.reply_gaps == [(at(0), at(30)), (at(60), at(90))]
    assert f.last_public_author == "customer"


def test_solves_reopens_and_status_spans() -> None:
    events = [
        status(0, "new"),
        msg(0, "customer"),
        status(30, "open"),
        msg(30, "agent"),
        status(60, "hold"),
        status(180, "open"),
        status(200, "pending"),
        status(240, "solved"),  # first solve
        status(300, "open"),  # reopened
        msg(300, "customer"),
        status(330, "solved"),  # last solve
        status(400, "closed"),  # closing a solved ticket is not a new solve
    ]
    f = ticket_facts(ticket("closed"), events)
    assert (f.first_solve_ms, f.last_solve_ms, f.reopens) == (at(240), at(330), 1)
    assert f.status_spans == [
        ("new", at(0), at(30)),
        ("open", at(30), at(60)),
        ("hold", at(60), at(180)),
        ("open", at(180), at(200)),
        ("pending", at(200), at(240)),
        ("open", at(300), at(330)),
    ]
    assert f.solved


def test_closed_without_solve_counts_as_first_resolution() -> None:
    f = ticket_facts(ticket("closed"), [status(0, "open"), status(50, "closed")])
    assert (f.first_solve_ms, f.last_solve_ms) == (at(50), at(50))
    # The implicit `new` span at creation has zero length and is not listed.
    assert f.status_spans == [("open", at(0), at(50))]


def test_without_status_events_fall_back_to_ticket_columns() -> None:
    f = ticket_facts(ticket("solved", solved_ms=at(90)), [msg(0, "customer"), msg(20, "agent")])
    assert (f.first_solve_ms, f.last_solve_ms) == (at(90), at(90))
    assert f.status_spans is None  # time in status is unknown, not zero
    # A ticket that is open now is not solved, whatever its stale columns say.
    g = ticket_facts(ticket("open", solved_ms=at(90)), [])
    assert g.first_solve_ms is None


def test_messages_before_creation_count_at_creation_and_null_public_is_public() -> None:
    f = ticket_facts(ticket(), [msg(-5, "customer", public=None), msg(10, "agent")])
    assert f.reply_gaps == [(at(0), at(10))]
    assert f.customer_messages == 1


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ("complaint;VIP", ["complaint", "vip"]),
        ("a, b c", ["a", "b", "c"]),
        (None, []),
        ("", []),
    ],
)
def test_tag_list(tags: str | None, expected: list[str]) -> None:
    assert tag_list(tags) == expected


def test_loader_picks_the_tickets_relevant_to_the_window(wh: Any) -> None:
    wh.add(
        "tickets",
        # In the window.
        {"id": "new", "created_at": "2026-03-05T10:00:00Z", "status": "open"},
        # Deleted: never loaded.
        {"id": "gone", "created_at": "2026-03-05T10:00:00Z", "status": "deleted"},
        # Old, but answered in the window.
        {"id": "old-active", "created_at": "2026-01-05T10:00:00Z", "status": "open"},
        # Old, solved in the window (no events synced).
        {
            "id": "old-solved",
            "created_at": "2026-01-05T10:00:00Z",
            "status": "solved",
            "solved_at": "2026-03-02T00:00:00Z",
        },
        # Old and idle: not loaded.
        {"id": "old-idle", "created_at": "2026-01-05T10:00:00Z", "status": "open"},
        {
            "id": "old-stale",
            "created_at": "2026-01-05T10:00:00Z",
            "status": "open",
            "updated_at": "2026-01-06T10:00:00Z",
        },
        # Old, changed in the window by its updated_at (no need to search its events).
        {
            "id": "old-updated",
            "created_at": "2026-01-05T10:00:00Z",
            "status": "open",
            "updated_at": "2026-03-06T10:00:00Z",
        },
        # Other source, filtered out by query.sources.
        {"id": "lv", "created_at": "2026-03-05T10:00:00Z", "status": "open", "source": "lv"},
    )
    wh.add(
        "ticket_events",
        {"id": "1", "ticket_id": "old-active", "created_at": "2026-01-05T10:00:00Z",
         "kind": "message", "author_kind": "customer"},
        {"id": "2", "ticket_id": "old-active", "created_at": "2026-03-03T10:00:00Z",
         "kind": "message", "author_kind": "agent"},
        {"id": "3", "ticket_id": "old-idle", "created_at": "2026-01-05T10:00:00Z",
         "kind": "message", "author_kind": "customer"},
        {"id": "4", "ticket_id": "gone", "created_at": "2026-03-05T10:00:00Z",
         "kind": "message", "author_kind": "customer"},
    )  # fmt: skip
    query = KpiQuery(
        datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC), sources=["zd"]
    )
    facts = {f.id: f for f in iter_facts(wh.conn, query)}
    assert sorted(facts) == ["new", "old-active", "old-solved", "old-updated"]
    # The old ticket's whole history is loaded, not only the events in the window.
    assert facts["old-active"].reply_gaps == [
        (to_ms(datetime(2026, 1, 5, 10, tzinfo=UTC)), to_ms(datetime(2026, 3, 3, 10, tzinfo=UTC)))
    ]
    assert facts["old-solved"].last_solve_ms == to_ms(datetime(2026, 3, 2, tzinfo=UTC))
