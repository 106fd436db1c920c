"""The rules every vendor's synced records follow (connectors.watermark, canonical.check_times):

* a record dated in the future (2150) is stored and reported (a `future_dated` count in the run
  record, one warning per stream and run with an example id), and the stored watermark stays
  at or before the sync's start, so a record changed afterwards arrives with the next sync;
* a record with a time outside 1900-2199 is quarantined with the reason, as the file import
  quarantines such a row.

Each vendor through the engine (run_sync into a SQLite warehouse), against respx fakes.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.connectors.base import Connector
from deskpulse.connectors.watermark import FUTURE_DATED
from deskpulse.sync.engine import RunReport, load_cursors, run_sync
from deskpulse.sync.state import Quarantine
from deskpulse.sync.warehouse import Warehouse, table
from tests.connectors.klaviyo_fakes import NOW as KLAVIYO_NOW
from tests.connectors.klaviyo_fakes import FakeKlaviyo
from tests.connectors.liveagent_fakes import API as LIVEAGENT_API
from tests.connectors.liveagent_fakes import liveagent_routes
from tests.connectors.liveagent_fakes import make_connector as liveagent_connector
from tests.connectors.zendesk_fakes import make_connector as zendesk_connector
from tests.connectors.zendesk_fakes import zendesk_routes

FUTURE = datetime(2150, 1, 1, tzinfo=UTC)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    wh = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    yield wh
    wh.dispose()


def ids(warehouse: Warehouse, name: str) -> set[str]:
    with warehouse.connect() as connection:
        return {row.id for row in connection.execute(select(table(name).c.id))}


def quarantined(warehouse: Warehouse) -> dict[str, str]:
    """location -> reason."""
    q = table(Quarantine.__tablename__)
    with warehouse.connect() as connection:
        return {r.location: r.reason for r in connection.execute(select(q))}


def sync(warehouse: Warehouse, connector: Connector, stream: str) -> RunReport:
    try:
        return run_sync(warehouse, connector, streams=[stream])
    finally:
        connector.close()


def future_count(report: RunReport, stream: str) -> int:
    found = next(s for s in report.streams if s.name == stream)
    return found.counts.get(FUTURE_DATED, 0)


def warned(caplog: pytest.LogCaptureFixture, where: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith(where)
    ]


# --- LiveAgent --------------------------------------------------------------------------------


def la_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def la_ticket(tid: str, changed: str, created: str | None = None) -> dict[str, Any]:
    return {
        "id": tid,
        "owner_contactid": "c1",
        "departmentid": "default",
        "agentid": None,
        "status": "R",
        "channel_type": "E",
        "date_created": created or changed,
        "date_changed": changed,
        "subject": f"ticket {tid}",
    }


class LiveAgentTickets:
    """`GET /tickets` as LiveAgent serves it: `date_changed D>= since`, ascending, paged."""

    def __init__(self, tickets: list[dict[str, Any]]) -> None:
        self.tickets = tickets

    def __call__(self, request: httpx.Request) -> httpx.Response:
        since = json.loads(request.url.params["_filters"])[0][2]
        found = sorted(
            (t for t in self.tickets if t["date_changed"] >= since),
            key=lambda t: (t["date_changed"], t["id"]),
        )
        page, size = int(request.url.params["_page"]), int(request.url.params["_perPage"])
        return httpx.Response(200, json=found[(page - 1) * size : page * size])


def liveagent(tickets: LiveAgentTickets, now: datetime) -> Connector:
    router = respx.Router(assert_all_called=False)
    liveagent_routes(router)  # agents, departments, tags, (empty) conversations
    router.get(f"{LIVEAGENT_API}/tickets").mock(side_effect=tickets)  # replaces the fixture's
    return liveagent_connector(router, now=lambda: now)


def test_liveagent_a_ticket_dated_2150_is_kept_reported_and_does_not_freeze_the_cursor(
    warehouse: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    tickets = LiveAgentTickets(
        [
            la_ticket("a1", la_time(start - timedelta(hours=3))),
            la_ticket("a2", la_time(start - timedelta(hours=2))),
            la_ticket("f1", "2150-01-01 00:00:00"),
            la_ticket("a3", la_time(start - timedelta(hours=1))),
        ]
    )
    with caplog.at_level(logging.WARNING):
        report = sync(warehouse, liveagent(tickets, start), "tickets")

    assert ids(warehouse, "tickets") == {"a1", "a2", "a3", "f1"}  # kept
    assert future_count(report, "tickets") == 1
    lines = warned(caplog, "liveagent/tickets:")
    assert len(lines) == 1 and "1 record dated" in lines[0] and "id f1" in lines[0]
    cursor = load_cursors(warehouse, "liveagent")["tickets"]
    assert datetime.fromisoformat(cursor["since"]) <= start
    shown = CliRunner().invoke(
        app, ["status"], env={"DESKPULSE_DATABASE_URL": warehouse.url, "COLUMNS": "200"}
    )
    assert "liveagent last run, tickets: future dated: 1 stored" in shown.output

    # Changed after the first sync: the next one reads it (it asked for "since 2150" before).
    tickets.tickets.append(la_ticket("n1", la_time(start + timedelta(minutes=5))))
    sync(warehouse, liveagent(tickets, start + timedelta(minutes=10)), "tickets")
    assert "n1" in ids(warehouse, "tickets")


def test_liveagent_a_cursor_stored_in_the_future_heals(warehouse: Warehouse) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    tickets = LiveAgentTickets([la_ticket("n1", la_time(start - timedelta(minutes=1)))])
    with warehouse.begin() as connection:  # what an earlier deskpulse stored
        connection.execute(
            table("sync_state")
            .insert()
            .values(
                source="liveagent",
                stream="tickets",
                cursor={"since": "2150-01-01T00:00:00+00:00", "seen": ["f1"]},
                updated_at=start,
            )
        )
    sync(warehouse, liveagent(tickets, start), "tickets")
    assert ids(warehouse, "tickets") == {"n1"}


def test_liveagent_dates_outside_1900_2199_are_quarantined(warehouse: Warehouse) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    recent = la_time(start - timedelta(hours=1))
    tickets = LiveAgentTickets(
        [
            la_ticket("ok", recent),
            la_ticket("old", recent, created="1850-06-01 00:00:00"),
            la_ticket("late", "2250-01-01 00:00:00"),
        ]
    )
    report = sync(warehouse, liveagent(tickets, start), "tickets")
    assert ids(warehouse, "tickets") == {"ok"}
    reasons = quarantined(warehouse)
    assert reasons["id=old"] == "created_at: out of range (1900-2199): '1850-06-01T00:00:00+00:00'"
    assert "out of range (1900-2199): '2250-01-01" in reasons["id=late"]
    assert report.status == "partial" and report.quarantined == 2
    # 2250 is quarantined, not reported as kept.
    assert future_count(report, "tickets") == 0


# --- Klaviyo ----------------------------------------------------------------------------------


def kl_profile(pid: str, updated: str, created: str | None = None) -> dict[str, Any]:
    return {
        "type": "profile",
        "id": pid,
        "attributes": {
            "email": f"{pid.lower()}@example.com",
            "created": created or updated,
            "updated": updated,
        },
    }


def klaviyo_profiles(fake: FakeKlaviyo, now: datetime) -> Connector:
    return fake.connector(now=lambda: now, streams=["profiles"])


def test_klaviyo_a_profile_dated_2150_is_kept_reported_and_the_cursor_capped(
    warehouse: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    start = KLAVIYO_NOW
    fake = FakeKlaviyo()
    fake.data["profiles"] = [
        kl_profile("P1", "2026-11-30T10:00:00+00:00"),
        kl_profile("PF", "2150-01-01T00:00:00+00:00"),
        kl_profile("P2", "2026-11-30T11:00:00+00:00"),
    ]
    with caplog.at_level(logging.WARNING):
        report = sync(warehouse, klaviyo_profiles(fake, start), "profiles")
    assert ids(warehouse, "customers") == {"P1", "P2", "PF"}
    assert future_count(report, "profiles") == 1
    lines = warned(caplog, "klaviyo/profiles:")
    assert len(lines) == 1 and "id PF" in lines[0]
    cursor = load_cursors(warehouse, "klaviyo")["profiles"]
    assert datetime.fromisoformat(cursor["since"]) <= start

    fake.data["profiles"].append(kl_profile("PN", "2026-12-01T00:05:00+00:00"))
    sync(warehouse, klaviyo_profiles(fake, start + timedelta(minutes=10)), "profiles")
    assert "PN" in ids(warehouse, "customers")


def test_klaviyo_dates_outside_1900_2199_are_quarantined(warehouse: Warehouse) -> None:
    fake = FakeKlaviyo()
    fake.data["profiles"] = [
        kl_profile("P1", "2026-11-30T10:00:00+00:00"),
        kl_profile("POLD", "2026-11-30T10:30:00+00:00", created="1850-01-01T00:00:00+00:00"),
        kl_profile("PLATE", "2250-01-01T00:00:00+00:00"),
    ]
    report = sync(warehouse, klaviyo_profiles(fake, KLAVIYO_NOW), "profiles")
    assert ids(warehouse, "customers") == {"P1"}
    reasons = quarantined(warehouse)
    assert "out of range (1900-2199)" in reasons["id=POLD"]
    assert "out of range (1900-2199)" in reasons["id=PLATE"]
    assert report.quarantined == 2


# --- Zendesk ----------------------------------------------------------------------------------


def zd_ticket(tid: int, generated: int, created: str | None = None) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(min(generated, 7_000_000_000), UTC).isoformat()
    return {
        "id": tid,
        "via": {"channel": "web"},
        "created_at": created or stamp.replace("+00:00", "Z"),
        "updated_at": stamp.replace("+00:00", "Z"),
        "generated_timestamp": generated,
        "status": "open",
        "priority": "normal",
        "requester_id": 5001,
        "subject": f"ticket {tid}",
        "tags": [],
        "custom_fields": [],
    }


class ZendeskTickets:
    """The cursor-based ticket export: sorted by (generated_timestamp, id), `start_time` or
    `cursor` (a position), all in one page."""

    def __init__(self, tickets: list[dict[str, Any]]) -> None:
        self.tickets = tickets

    def __call__(self, request: httpx.Request) -> httpx.Response:
        ordered = sorted(self.tickets, key=lambda t: (t["generated_timestamp"], t["id"]))
        token = request.url.params.get("cursor")
        if token:
            position = int(base64.b64decode(token))
        else:
            start = int(request.url.params["start_time"])
            position = next(
                (i for i, t in enumerate(ordered) if t["generated_timestamp"] >= start),
                len(ordered),
            )
        after = base64.b64encode(str(len(ordered)).encode()).decode()
        body = {"tickets": ordered[position:], "after_cursor": after, "end_of_stream": True}
        return httpx.Response(200, json=body)


def zendesk(tickets: ZendeskTickets) -> Connector:
    router = respx.Router(base_url="https://acme.zendesk.com", assert_all_called=False)
    zendesk_routes(router)
    router.get("/api/v2/incremental/tickets/cursor").mock(side_effect=tickets)  # replaces it
    return zendesk_connector(router, streams=["tickets"])


def test_zendesk_a_ticket_generated_in_2150_is_kept_reported_and_the_cursor_capped(
    warehouse: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    before = int(datetime.now(UTC).timestamp())
    future = int(FUTURE.timestamp())
    tickets = ZendeskTickets(
        [zd_ticket(1, before - 7200), zd_ticket(2, future), zd_ticket(3, before - 3600)]
    )
    with caplog.at_level(logging.WARNING):
        report = sync(warehouse, zendesk(tickets), "tickets")
    after = datetime.now(UTC)
    assert ids(warehouse, "tickets") == {"1", "2", "3"}
    assert future_count(report, "tickets") == 1
    lines = warned(caplog, "zendesk/tickets:")
    assert len(lines) == 1 and "id 2 " in lines[0]
    cursor = load_cursors(warehouse, "zendesk")["tickets"]
    assert cursor["generated_timestamp"] <= after.timestamp()

    tickets.tickets.append(zd_ticket(4, int(after.timestamp())))
    sync(warehouse, zendesk(tickets), "tickets")
    assert "4" in ids(warehouse, "tickets")


def test_zendesk_dates_outside_1900_2199_are_quarantined(warehouse: Warehouse) -> None:
    now = int(datetime.now(UTC).timestamp())
    tickets = ZendeskTickets(
        [
            zd_ticket(1, now - 600),
            zd_ticket(2, now - 500, created="1850-01-01T00:00:00Z"),
            zd_ticket(3, now - 400, created="2250-01-01T00:00:00Z"),
        ]
    )
    report = sync(warehouse, zendesk(tickets), "tickets")
    assert ids(warehouse, "tickets") == {"1"}
    reasons = quarantined(warehouse)
    assert reasons["id=2"] == "created_at: out of range (1900-2199): '1850-01-01T00:00:00+00:00'"
    assert reasons["id=3"].startswith("created_at: out of range (1900-2199)")
    assert report.quarantined == 2


def zd_rating(rid: int, updated: datetime) -> dict[str, Any]:
    stamp = updated.isoformat().replace("+00:00", "Z")
    return {
        "id": rid,
        "ticket_id": 101,
        "requester_id": 5001,
        "score": "good",
        "created_at": stamp,
        "updated_at": stamp,
    }


def test_zendesk_a_rating_updated_in_2150_does_not_freeze_the_ratings_watermark(
    warehouse: Warehouse,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ratings = [zd_rating(1, now - timedelta(hours=1)), zd_rating(2, FUTURE)]

    def answer(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start_time"])
        found = [r for r in ratings if datetime.fromisoformat(r["updated_at"]).timestamp() >= start]
        return httpx.Response(
            200, json={"satisfaction_ratings": found, "meta": {"has_more": False}}
        )

    def connector() -> Connector:
        router = respx.Router(base_url="https://acme.zendesk.com", assert_all_called=False)
        zendesk_routes(router)
        router.get("/api/v2/satisfaction_ratings").mock(side_effect=answer)
        return zendesk_connector(router, streams=["satisfaction_ratings"])

    report = sync(warehouse, connector(), "satisfaction_ratings")
    after = datetime.now(UTC)
    assert future_count(report, "satisfaction_ratings") == 1
    cursor = load_cursors(warehouse, "zendesk")["satisfaction_ratings"]
    assert cursor["start_time"] <= after.timestamp()
    ratings.append(zd_rating(3, after))
    sync(warehouse, connector(), "satisfaction_ratings")
    assert {"1", "2", "3"} <= ids(warehouse, "survey_responses")


def zd_user(uid: int, updated: datetime) -> dict[str, Any]:
    stamp = updated.isoformat().replace("+00:00", "Z")
    return {
        "id": uid,
        "name": f"User {uid}",
        "email": f"user{uid}@example.com",
        "created_at": "2025-01-02T08:00:00Z",
        "updated_at": stamp,
        "role": "end-user",
        "active": True,
        "user_fields": {},
    }


def test_zendesk_a_user_updated_in_2150_does_not_carry_the_users_cursor_past_later_changes(
    warehouse: Warehouse,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    users = [zd_user(1, now - timedelta(hours=1)), zd_user(2, FUTURE)]

    def answer(request: httpx.Request) -> httpx.Response:
        """The cursor export in `updated_at` order; `cursor` is a position, past the end."""
        ordered = sorted(users, key=lambda u: (u["updated_at"], u["id"]))
        token = request.url.params.get("cursor")
        if token:
            position = int(base64.b64decode(token))
        else:
            start = int(request.url.params["start_time"])
            position = next(
                (
                    i
                    for i, u in enumerate(ordered)
                    if datetime.fromisoformat(u["updated_at"]).timestamp() >= start
                ),
                len(ordered),
            )
        after = base64.b64encode(str(len(ordered)).encode()).decode()
        body = {"users": ordered[position:], "after_cursor": after, "end_of_stream": True}
        return httpx.Response(200, json=body)

    def connector() -> Connector:
        router = respx.Router(base_url="https://acme.zendesk.com", assert_all_called=False)
        zendesk_routes(router)
        router.get("/api/v2/incremental/users/cursor").mock(side_effect=answer)
        return zendesk_connector(router, streams=["users"])

    report = sync(warehouse, connector(), "users")
    after = datetime.now(UTC)
    assert ids(warehouse, "customers") == {"1", "2"}
    assert future_count(report, "users") == 1
    cursor = load_cursors(warehouse, "zendesk")["users"]
    assert "cursor" not in cursor and cursor["start_time"] <= after.timestamp()
    users.append(zd_user(3, after))  # sorts before 2150: behind the export's old cursor
    sync(warehouse, connector(), "users")
    assert "3" in ids(warehouse, "customers")
