"""The Zendesk tickets export never loses a change: after a stored `after_cursor`, every later
change of a ticket (a write-back's update_many, an operator's PUT, the same ticket again and
again within one second) is in the next cursor page, once, in its latest state; the time-based
export agrees. (Issue 23: a ticket written back and then solved moved its change-log entry and
every stored cursor skipped it.)"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deskpulse.sandbox import SandboxServer

CURSOR = "/api/v2/incremental/tickets/cursor.json"
TIME = "/api/v2/incremental/tickets.json"
FIELD = 360011000001  # a custom ticket field, as the write-back writes one


@pytest.fixture
def zd() -> Iterator[tuple[SandboxServer, httpx.Client]]:
    with SandboxServer(seed=5, tickets=150, rate_limit=False) as sb, sb.client() as client:
        yield sb, client


def drain(client: httpx.Client, query: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Every ticket the cursor export serves from `query` to end_of_stream, and the last cursor."""
    tickets: list[dict[str, Any]] = []
    for _ in range(50):
        body = client.get(CURSOR, params={**query, "per_page": 40}).json()
        tickets += body["tickets"]
        query = {"cursor": body["after_cursor"]}
        if body["end_of_stream"]:
            return tickets, body["after_cursor"]
    raise AssertionError("the export never reached end_of_stream")


def open_tickets(client: httpx.Client, n: int) -> list[int]:
    tickets, _ = drain(client, {"start_time": 0})
    return [t["id"] for t in tickets if t["status"] not in ("closed", "deleted")][:n]


def update_many(client: httpx.Client, ids: list[int], value: str) -> None:
    """As the write-back does: one custom field on each ticket, as a job."""
    body = {"tickets": [{"id": i, "custom_fields": [{"id": FIELD, "value": value}]} for i in ids]}
    job = client.put("/api/v2/tickets/update_many.json", json=body).json()["job_status"]
    results = client.get(job["url"]).json()["job_status"]["results"]
    assert all(r["success"] for r in results), results


def put(client: httpx.Client, ticket_id: int, **changes: Any) -> None:
    r = client.put(f"/api/v2/tickets/{ticket_id}.json", json={"ticket": changes})
    assert r.status_code == 200, r.text


def field(ticket: dict[str, Any]) -> Any:
    return next(f["value"] for f in ticket["custom_fields"] if f["id"] == FIELD)


def test_a_ticket_written_back_then_solved_is_in_the_next_page(zd) -> None:
    _, c = zd
    a, b, c3 = open_tickets(c, 3)
    _, cursor = drain(c, {"start_time": 0})
    update_many(c, [a, b, c3], "12")
    changed, cursor = drain(c, {"cursor": cursor})
    assert sorted(t["id"] for t in changed) == sorted([a, b, c3])
    put(c, b, status="solved")  # the operator's PUT of a ticket changed before
    changed, cursor = drain(c, {"cursor": cursor})
    assert [(t["id"], t["status"], field(t)) for t in changed] == [(b, "solved", "12")]
    assert drain(c, {"cursor": cursor})[0] == []  # nothing twice
    # The time-based export has said so all along.
    served = {t["id"]: t for t in c.get(TIME, params={"start_time": 0}).json()["tickets"]}
    assert served[b]["status"] == "solved"


def test_changes_in_one_second_come_once_in_their_latest_state(zd) -> None:
    _, c = zd
    a, b = open_tickets(c, 2)
    _, cursor = drain(c, {"start_time": 0})
    update_many(c, [a, b], "1")
    put(c, a, status="pending")
    update_many(c, [a], "2")
    put(c, a, status="solved")
    put(c, b, status="hold")
    changed, cursor = drain(c, {"cursor": cursor})
    assert sorted((t["id"], t["status"], field(t)) for t in changed) == sorted(
        [(a, "solved", "2"), (b, "hold", "1")]
    )
    # A stored cursor with only superseded changes after it moves past them, empty-handed.
    put(c, a, status="open")
    put(c, a, status="solved")
    changed, cursor = drain(c, {"cursor": cursor})
    assert [(t["id"], t["status"]) for t in changed] == [(a, "solved")]
    assert drain(c, {"cursor": cursor})[0] == []


def test_every_change_after_any_number_of_earlier_ones_reaches_the_next_page(zd) -> None:
    """Random rounds of writes (update_many and PUT over a few tickets, repeats included): the
    next page after the stored cursor is exactly the tickets changed since, in their state now."""
    _, c = zd
    pool = open_tickets(c, 6)
    _, cursor = drain(c, {"start_time": 0})
    rnd = random.Random(23)
    for round_ in range(12):
        want: dict[int, tuple[str, Any]] = {}
        for step in range(rnd.randint(1, 5)):
            value = f"{round_}.{step}"
            if rnd.random() < 0.5:
                ids = rnd.sample(pool, rnd.randint(1, 3))
                update_many(c, ids, value)
            else:
                ids = [rnd.choice(pool)]
                put(c, ids[0], status=rnd.choice(("open", "pending", "hold")))
            for i in ids:
                ticket = c.get(f"/api/v2/tickets/{i}.json").json()["ticket"]
                want[i] = (ticket["status"], field(ticket))
        changed, cursor = drain(c, {"cursor": cursor})
        got = [(t["id"], (t["status"], field(t))) for t in changed]
        assert sorted(got) == sorted(want.items()), f"round {round_}"


def test_a_cursor_stored_before_the_writes_are_cleared_still_sees_later_changes(zd) -> None:
    _, c = zd
    a, b = open_tickets(c, 2)
    update_many(c, [a, b], "1")
    put(c, a, status="solved")
    _, cursor = drain(c, {"start_time": 0})
    assert c.delete("/__sandbox/writes").status_code == 204
    put(c, b, status="hold")
    changed, _ = drain(c, {"cursor": cursor})
    assert [(t["id"], t["status"]) for t in changed] == [(b, "hold")]


def test_a_cursor_of_an_earlier_sandbox_run_sees_this_runs_changes() -> None:
    """A daemon's stored cursor outlives a restarted sandbox (whose writes are gone): the
    changes made after the restart still come, none skipped."""
    with SandboxServer(seed=5, tickets=150, rate_limit=False) as sb, sb.client() as c:
        ids = open_tickets(c, 3)
        update_many(c, ids, "1")
        _, cursor = drain(c, {"start_time": 0})
    with SandboxServer(seed=5, tickets=150, rate_limit=False) as sb, sb.client() as c:
        nothing, cursor = drain(c, {"cursor": cursor})
        assert nothing == []
        put(c, ids[0], status="solved")
        changed, cursor = drain(c, {"cursor": cursor})
        assert [(t["id"], t["status"]) for t in changed] == [(ids[0], "solved")]
