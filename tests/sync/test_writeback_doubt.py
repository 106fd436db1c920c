"""Writes whose answer never came, and vendors asking to wait for hours (issue 22, items 1 and 4).

A fake Zendesk (httpx.MockTransport) applies what it is sent and keeps it, so a test can make it
apply a write and then time out, as a help desk under load does. The rule checked: a write that
may have arrived is never sent again before a read-back (or a post's external_id) proves it did
not; a 429 asking for a day ends the push at once, its rows failed until the vendor's time, the
push lock free.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import insert, select

from deskpulse.connectors.base import DOUBT, WRITE_SUBSCRIPTIONS, RequestStats, WriteResult
from deskpulse.connectors.http import MAX_WAIT
from deskpulse.connectors.zendesk import ZendeskConnector
from deskpulse.sync.actions import Actions, actions_from_dict
from deskpulse.sync.digest import plan_digests
from deskpulse.sync.warehouse import Warehouse, table
from deskpulse.sync.writeback import ledger_summary, push
from deskpulse.sync.writeback_plan import SUBSCRIPTION, Context, plan_values

FIELD = "360000000101"
ACTIONS = actions_from_dict(
    {
        "ticket_field": [
            {"source": "zendesk", "field": FIELD, "value": "requester_tickets_30d", "days": 30}
        ]
    }
)
DIGEST = actions_from_dict(
    {
        "digest": [
            {
                "source": "zendesk",
                "every": "day",
                "metrics": ["first_response_time"],
                "at": "08:00",
            }
        ]
    }
)
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
TICKETS = ("1", "2", "3")
EXPECTED = {"1": {FIELD: 3}, "2": {FIELD: 2}, "3": {FIELD: 1}}  # the requester's 3rd, 2nd, 1st


@dataclass
class FakeZendesk:
    """The endpoints write-back uses, with faults queued per (method, path)."""

    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    faults: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def fault(self, method: str, path: str, *kinds: str) -> None:
        self.faults.setdefault((method, path), []).extend(kinds)

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r == (method, path))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        key = (method, "/api/v2/job_statuses" if path.startswith("/api/v2/job_statuses") else path)
        self.requests.append(key)
        queued = self.faults.get(key)
        fault = queued.pop(0) if queued else None
        if fault == "timeout":  # lost before Zendesk saw it
            raise httpx.ReadTimeout("timed out", request=request)
        if fault and fault.startswith("429:"):
            return httpx.Response(429, headers={"Retry-After": fault[4:]})
        response = self.answer(request)
        if fault == "applied, then timeout":  # Zendesk acted; its answer came too late
            raise httpx.ReadTimeout("timed out", request=request)
        return response

    def answer(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        if (method, path) == ("PUT", "/api/v2/tickets/update_many"):
            body = orjson.loads(request.content)
            results = []
            for ticket in body["tickets"]:
                for f in ticket["custom_fields"]:
                    self.fields.setdefault(str(ticket["id"]), {})[str(f["id"])] = f["value"]
                results.append({"id": ticket["id"], "success": True, "status": "Updated"})
            job_id = f"job{len(self.jobs) + 1}"
            self.jobs[job_id] = {"id": job_id, "status": "completed", "results": results}
            return httpx.Response(200, json={"job_status": {"id": job_id, "status": "queued"}})
        if path.startswith("/api/v2/job_statuses/"):
            return httpx.Response(200, json={"job_status": self.jobs[path.rsplit("/", 1)[1]]})
        if (method, path) == ("GET", "/api/v2/tickets/show_many"):
            ids = request.url.params["ids"].split(",")
            tickets = [
                {"id": int(i), "custom_fields": [{"id": int(k), "value": v} for k, v in
                                                 self.fields.get(i, {}).items()]}
                for i in ids
            ]  # fmt: skip
            return httpx.Response(200, json={"tickets": tickets})
        if (method, path) == ("POST", "/api/v2/tickets"):
            ticket = orjson.loads(request.content)["ticket"]
            self.posts[ticket["external_id"]] = len(self.posts) + 1000
            created = {"id": self.posts[ticket["external_id"]], **ticket}
            return httpx.Response(201, json={"ticket": created})
        if (method, path) == ("GET", "/api/v2/tickets"):
            key = request.url.params["external_id"]
            found = [{"id": self.posts[key], "external_id": key}] if key in self.posts else []
            return httpx.Response(200, json={"tickets": found})
        return httpx.Response(404)


class Stop(BaseException):
    """What the daemon's interruptible sleep raises on SIGTERM."""


@dataclass
class Desk:
    zendesk: FakeZendesk
    warehouse: Warehouse
    sleeps: list[float]
    now: list[datetime]
    connector: Callable[[], ZendeskConnector]

    def push(self, actions: Any = ACTIONS, **options: Any) -> Any:
        c = self.connector()
        try:
            return push(
                self.warehouse, actions, {"zendesk": c}, Context(), clock=lambda: self.now[0],
                **options,
            )  # fmt: skip
        finally:
            c.close()

    def ledger(self) -> dict[str, tuple[str, Any]]:
        wb = table("write_back_log")
        with self.warehouse.connect() as conn:
            rows = conn.execute(select(wb.c.record_id, wb.c.status, wb.c.next_attempt_at))
            return {r.record_id: (r.status, r.next_attempt_at) for r in rows}


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'wb.db'}")
    with warehouse.begin() as conn:  # three open tickets of one requester: a value each
        conn.execute(
            insert(table("tickets")),
            [
                {"source": "zendesk", "id": i, "status": "open", "requester_id": "r1",
                 "created_at": NOW - timedelta(days=1, minutes=int(i)),
                 "updated_at": NOW - timedelta(days=1)}
                for i in TICKETS
            ],
        )  # fmt: skip
    zendesk = FakeZendesk()
    sleeps: list[float] = []

    def connector() -> ZendeskConnector:
        return ZendeskConnector(
            "zendesk",
            transport=httpx.MockTransport(zendesk),
            subdomain="acme",
            email="agent@example.com",
            api_token="t0ken",
            rate_limits=None,
            max_retries=5,  # what a retrying client would spend re-sending a write
            sleep=sleeps.append,
        )

    yield Desk(zendesk, warehouse, sleeps, [NOW], connector)


PUT = ("PUT", "/api/v2/tickets/update_many")
SHOW = ("GET", "/api/v2/tickets/show_many")
POST = ("POST", "/api/v2/tickets")


def test_an_update_whose_answer_timed_out_is_sent_once_then_read_back_not_resent(desk) -> None:
    desk.zendesk.fault(*PUT, "applied, then timeout")
    first = desk.push()
    # One job-creating PUT, never re-sent by the client (each fires triggers, spends budget).
    assert desk.zendesk.count(*PUT) == 1
    assert {i.outcome for i in first.items} == {"in doubt"} and first.in_doubt == 3
    assert {s for s, _ in desk.ledger().values()} == {"sending"}
    (summary,) = ledger_summary(desk.warehouse)
    assert (summary["sending"], summary["failed"], summary["sent"]) == (3, 0, 0)
    assert all("in doubt" in i.reason or i.reason.startswith("new") for i in first.items)

    desk.now[0] += timedelta(minutes=5)
    second = desk.push()
    # Read back: the values are there, so they are marked sent and nothing is written.
    assert desk.zendesk.count(*SHOW) == 1 and desk.zendesk.count(*PUT) == 1
    assert {i.outcome for i in second.items} == {"verified"}
    assert all(i.reason.startswith("in doubt: zendesk: ReadTimeout") for i in second.items)
    assert {s for s, _ in desk.ledger().values()} == {"sent"}
    assert desk.zendesk.fields == EXPECTED

    desk.now[0] += timedelta(minutes=5)
    third = desk.push()
    assert third.items == [] and desk.zendesk.count(*PUT) == 1


def test_an_update_lost_before_it_arrived_is_read_back_then_sent_once(desk) -> None:
    desk.zendesk.fault(*PUT, "timeout")
    first = desk.push()
    assert desk.zendesk.count(*PUT) == 1 and first.in_doubt == 3 and desk.zendesk.fields == {}
    second = desk.push()
    assert desk.zendesk.count(*SHOW) == 1 and desk.zendesk.count(*PUT) == 2
    assert {i.outcome for i in second.items} == {"sent"}
    assert desk.zendesk.fields == EXPECTED


def test_a_job_whose_status_cannot_be_read_is_in_doubt_not_resent(desk) -> None:
    desk.zendesk.fault("GET", "/api/v2/job_statuses", *["timeout"] * 6)
    first = desk.push()
    assert desk.zendesk.count(*PUT) == 1
    assert desk.zendesk.count("GET", "/api/v2/job_statuses") == 6  # reads are retried
    assert first.in_doubt == 3 and "cannot be followed" in (first.items[0].error or "")
    desk.now[0] += timedelta(hours=1)  # a failed row's backoff would have passed
    second = desk.push()
    assert {i.outcome for i in second.items} == {"verified"}
    assert desk.zendesk.count(*PUT) == 1


def test_a_job_still_running_is_read_back_only_after_it_had_time(desk) -> None:
    connector = desk.connector

    def slow_jobs() -> ZendeskConnector:
        c = connector()
        c.writer.job_wait = 0.0  # the job is still queued when the writer stops waiting
        return c

    desk.connector = slow_jobs
    first = desk.push()
    assert first.in_doubt == 3 and "still queued" in (first.items[0].error or "")
    assert {at for _, at in desk.ledger().values()} == {NOW + timedelta(minutes=10)}
    desk.now[0] += timedelta(minutes=5)
    assert desk.push().items == [] and desk.zendesk.count(*SHOW) == 0  # not yet: it may run
    desk.now[0] += timedelta(minutes=6)
    desk.connector = connector
    assert {i.outcome for i in desk.push().items} == {"verified"}
    assert desk.zendesk.count(*PUT) == 1


def test_a_digest_whose_answer_timed_out_is_found_by_its_key_and_never_posted_twice(
    desk,
) -> None:
    def digests(conn: Any, now: datetime) -> Any:
        return plan_digests(conn, DIGEST.digests, Context(), now)

    desk.zendesk.fault(*POST, "applied, then timeout")
    first = desk.push(DIGEST, extra=digests)
    assert desk.zendesk.count(*POST) == 1 and first.in_doubt == 1
    desk.now[0] += timedelta(hours=1)
    second = desk.push(DIGEST, extra=digests)
    assert [i.outcome for i in second.items] == ["verified"]
    assert desk.zendesk.count(*POST) == 1 and len(desk.zendesk.posts) == 1
    assert desk.zendesk.count("GET", "/api/v2/tickets") == 1  # found by external_id


def test_a_stop_during_a_write_leaves_it_in_doubt_then_read_back(desk) -> None:
    connector = desk.connector

    def stopped() -> ZendeskConnector:
        c = connector()

        def sleep(seconds: float) -> None:
            raise Stop  # SIGTERM while the job is polled: the PUT has been applied

        c.writer._sleep = sleep
        return c

    desk.connector = stopped
    with pytest.raises(Stop):
        desk.push()
    assert {s for s, _ in desk.ledger().values()} == {"sending"}
    desk.connector = connector
    again = desk.push()  # the lock was released; the rows are read back, not re-sent
    assert {i.outcome for i in again.items} == {"verified"}
    assert desk.zendesk.count(*PUT) == 1


def test_a_429_asking_for_a_day_fails_the_rows_until_then_and_frees_the_push(desk) -> None:
    desk.zendesk.fault(*PUT, "429:86400")
    report = desk.push()
    assert desk.sleeps == [] or max(desk.sleeps) <= MAX_WAIT  # nobody waits a day
    assert desk.zendesk.count(*PUT) == 1 and desk.zendesk.fields == {}
    assert report.failed == 3
    assert report.notes == [
        "zendesk asked to wait 24 h (until 2026-12-06 12:00 UTC): 3 writes retried then"
    ]
    until = NOW + timedelta(days=1)
    assert desk.ledger() == {t: ("failed", until) for t in TICKETS}
    assert all(re.match(r"zendesk asked to wait 24 h", i.error or "") for i in report.items)
    # The lock is free: the next push runs at once, and leaves the rows until the vendor's time.
    desk.now[0] += timedelta(hours=2)
    assert desk.push().items == [] and desk.zendesk.count(*PUT) == 1
    desk.now[0] = until
    later = desk.push()
    assert {i.outcome for i in later.items} == {"sent"}
    assert all(i.attempts == 1 for i in later.items)  # the throttled try did not count
    assert desk.zendesk.fields == EXPECTED


def test_a_429_within_the_cap_is_waited_for_and_the_write_lands(desk) -> None:
    desk.zendesk.fault(*PUT, "429:30")
    report = desk.push()
    assert {i.outcome for i in report.items} == {"sent"} and report.notes == []
    assert 30.0 in desk.sleeps and max(desk.sleeps) <= MAX_WAIT


class FakeKlaviyo:
    """A subscriber whose first job's answer never comes (it subscribed only some)."""

    vendor, source = "klaviyo", "klaviyo"
    capabilities = frozenset({WRITE_SUBSCRIPTIONS})

    def __init__(self) -> None:
        self.stats = RequestStats()
        self.jobs: list[list[str]] = []
        self.members = {"a@example.com"}  # what the lost job managed before its answer was lost
        self.writer = self  # its own write-back surface

    def streams(self) -> list[Any]:
        return []

    def close(self) -> None:
        pass

    def subscribe(self, list_id: str, emails: Any) -> list[WriteResult]:
        self.jobs.append(list(emails))
        if len(self.jobs) == 1:
            return [WriteResult(e, DOUBT, "klaviyo: ReadTimeout on POST") for e in emails]
        self.members |= set(emails)
        return [WriteResult(e) for e in emails]

    def subscribed(self, list_id: str, emails: Any) -> set[str]:
        return {e for e in emails if e in self.members}


def test_subscriptions_in_doubt_are_looked_up_on_the_list_before_a_second_job(
    desk: Desk,
) -> None:
    klaviyo = FakeKlaviyo()
    wanted = [(e, "L1", True, "opted in") for e in ("a@example.com", "b@example.com")]

    def subscriptions(conn: Any, now: datetime) -> Any:
        return plan_values(conn, "news", "klaviyo", SUBSCRIPTION, wanted, now)[0]

    def once() -> Any:
        return push(desk.warehouse, Actions(), {"klaviyo": klaviyo}, Context(),
                    clock=lambda: desk.now[0], extra=subscriptions)  # fmt: skip

    assert once().in_doubt == 2
    second = once()
    assert {i.record_id: i.outcome for i in second.items} == {
        "a@example.com": "verified",
        "b@example.com": "sent",
    }
    assert klaviyo.jobs == [["a@example.com", "b@example.com"], ["b@example.com"]]


def test_writes_that_keep_going_unanswered_are_read_back_with_backoff(desk: Desk) -> None:
    desk.zendesk.fault(*PUT, "timeout", "timeout")  # lost twice before Zendesk saw them
    assert desk.push().in_doubt == 3  # attempt 1: read back at the next push
    assert {at for _, at in desk.ledger().values()} == {None}
    assert desk.push().in_doubt == 3  # read back (missing), sent again: attempt 2, no answer
    assert {at for _, at in desk.ledger().values()} == {NOW + timedelta(minutes=1)}
    assert desk.push().items == [] and desk.zendesk.count(*PUT) == 2  # not before its backoff
    desk.now[0] += timedelta(minutes=1)
    assert {i.outcome for i in desk.push().items} == {"sent"}
    assert desk.zendesk.count(*PUT) == 3 and desk.zendesk.fields == EXPECTED
