"""End to end: the Zendesk connector and the sync engine against the sandbox on loopback.

* a sync finds exactly the sandbox's rows (ids derived from the sandbox's generated account);
* a second sync with no changes makes one request per incremental stream and writes nothing;
* a sync killed mid-way and restarted ends identical to an uninterrupted one;
* a sync through 20% injected 429/5xx, timeouts, truncated and malformed bodies ends identical
  to a clean one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deskpulse.connectors.zendesk import ZendeskConfig, ZendeskConnector
from deskpulse.kpi_core.models import WAREHOUSE_MODELS
from tests.connectors.sandbox_runs import dump, ids, killed_then_resumed, new_warehouse

server = pytest.importorskip("deskpulse.sandbox.server")
data = pytest.importorskip("deskpulse.sandbox.data")
limits = pytest.importorskip("deskpulse.sandbox.limits")
engine = pytest.importorskip("deskpulse.sync.engine")

SEED = 11
TICKETS = 600
INCREMENTAL_PATHS = (
    "GET /api/v2/incremental/users/cursor",
    "GET /api/v2/incremental/tickets/cursor",
    "GET /api/v2/incremental/ticket_events",
    "GET /api/v2/satisfaction_ratings",
    "GET /api/v2/incremental/ticket_metric_events",
    "GET /api/v2/channels/voice/stats/incremental/calls",
    "GET /api/v2/chat/incremental/chats",
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    with server.SandboxServer(seed=SEED, tickets=TICKETS, rate_limit=False) as sb:
        yield sb


def make_connector(sb: Any, **options: Any) -> ZendeskConnector:
    # OAuth: the Chat API refuses API tokens (the connector would skip chats with one).
    config = ZendeskConfig(
        base_url=sb.base_url, oauth_token=sb.env(oauth=True)["ZENDESK_OAUTH_TOKEN"]
    )
    options.setdefault("rate_limits", None)
    return ZendeskConnector("zendesk", config, sleep=lambda seconds: None, **options)


def expected_ids(account: Any) -> dict[str, set[str]]:
    """The rows the sandbox's account should produce, from the generator itself."""
    out: dict[str, set[str]] = {name: set() for name in WAREHOUSE_MODELS}
    for k in range(account.n_users):
        user = account.user(k)
        out["customers" if user.role == "end-user" else "agents"].add(str(user.id))
    for i in range(account.n_tickets):
        t = account.ticket(i)
        out["tickets"].add(str(t.id))
        # A deleted ticket is a tombstone: no mention, but its exported events still arrive.
        if t.channel in ("twitter", "facebook", "instagram_dm") and t.status != "deleted":
            out["social_mentions"].add(str(t.id))
        for n, audit in enumerate(t.audits):
            audit_id = data.AUDIT_BASE + t.id * 64 + n
            for k, child in enumerate(audit.children):
                wanted = child.kind == "Comment" or (
                    child.kind in ("Create", "Change")
                    and child.field_name in ("status", "assignee_id")
                )
                if wanted:
                    out["ticket_events"].add(
                        str(data.CHILD_BASE + (audit_id - data.AUDIT_BASE) * 8 + k)
                    )
        for n in range(len(t.metric_events)):
            out["sla_events"].add(str(data.METRIC_EVENT_BASE + t.id * 64 + n))
        if t.rating is not None and t.rating.score != "unoffered":
            out["survey_responses"].add(str(t.rating.id))
        out["calls"].update(str(c.id) for c in t.calls)
        out["chats"].update(str(c.id) for c in t.chats)
    return out


@pytest.fixture(scope="module")
def clean_run(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    warehouse = new_warehouse(tmp_path_factory.mktemp("clean"), "clean")
    report = engine.run_sync(warehouse, make_connector(sandbox))
    return warehouse, report, dump(warehouse)


def test_sync_finds_exactly_the_sandbox_rows(sandbox, clean_run):
    _, report, rows = clean_run
    assert report.status == "ok", report.message
    assert report.quarantined == 0
    assert all(s.status == "ok" for s in report.streams), report.warnings
    expected = expected_ids(sandbox.account)
    for table in ("tickets", "agents", "customers", "ticket_events", "sla_events",
                  "survey_responses", "calls", "chats", "social_mentions"):  # fmt: skip
        assert ids(rows[table]) == expected[table], table
    assert len(rows["schedules"]) >= 1
    assert all(row["time_zone"] and "/" in row["time_zone"] for row in rows["schedules"])


def test_synced_values_follow_the_sandbox(sandbox, clean_run):
    _, _, rows = clean_run
    account = sandbox.account
    tickets = {row["id"]: row for row in rows["tickets"]}
    for i in range(0, account.n_tickets, 37):
        t = account.ticket(i)
        row = tickets[str(t.id)]
        assert row["status"] == t.status
        assert row["created_at"].timestamp() == t.created_ts
        assert row["requester_id"] == str(t.requester_id)
        # An account's own kind of ticket ("complaint") is not a Zendesk type: a tag there.
        own = () if t.type in (None, *data.TYPES) else (t.type,)
        assert row["tags"] == (";".join((*t.tags, *own)) or None)
        assert row["type"] == (None if own else t.type)
    agents = {row["id"]: row for row in rows["agents"]}
    assert agents[str(data.BOT_USER_ID)]["role"] == "bot"
    kinds = {row["author_kind"] for row in rows["ticket_events"]}
    assert kinds == {"agent", "customer", "bot", "system"}
    bot_events = [r for r in rows["ticket_events"] if r["author_id"] == str(data.BOT_USER_ID)]
    assert bot_events and all(r["author_kind"] == "bot" for r in bot_events)
    system = [r for r in rows["ticket_events"] if r["author_id"] == str(data.SYSTEM_USER_ID)]
    assert system and all(r["author_kind"] == "system" for r in system)


def test_second_sync_without_changes_is_one_request_per_stream_and_writes_nothing(
    sandbox, clean_run
):
    warehouse, _, before = clean_run
    sandbox.stats.clear()
    report = engine.run_sync(warehouse, make_connector(sandbox))
    assert report.status == "ok", report.message
    assert report.written == 0
    requests = sandbox.stats.snapshot()["requests"]
    for path in INCREMENTAL_PATHS:
        assert requests.get(path, {}).get("200") == 1, (path, requests.get(path))
    assert dump(warehouse) == before


@pytest.mark.parametrize("pages", [2, 5, 11])
def test_killed_sync_restarted_ends_identical(sandbox, clean_run, tmp_path, pages):
    _, _, clean = clean_run
    warehouse = new_warehouse(tmp_path, f"killed{pages}")
    partial = killed_then_resumed(warehouse, lambda: make_connector(sandbox), pages)
    assert sum(map(len, partial.values())) < sum(map(len, clean.values()))
    assert dump(warehouse) == clean


def test_sync_through_faults_ends_identical(clean_run, tmp_path):
    _, _, clean = clean_run
    faults = limits.Faults(
        error_rate=0.2,
        timeout_rate=0.05,
        timeout_seconds=2.5,
        truncate_rate=0.05,
        malformed_rate=0.05,
        seed=3,
    )
    with server.SandboxServer(seed=SEED, tickets=TICKETS, rate_limit=False, faults=faults) as sb:
        # A timeout well above a loaded machine's answer time, below the injected delay.
        connector = make_connector(sb, timeout=1.5, max_retries=10)
        warehouse = new_warehouse(tmp_path, "faults")
        report = engine.run_sync(warehouse, connector)
        assert report.status == "ok", report.message
        assert connector.stats.retries > 0 and connector.stats.throttled > 0
        assert dump(warehouse) == clean


def test_real_rate_limits_are_never_hit_with_pacing(tmp_path):
    """With Zendesk's real limits on the sandbox and the connector's default pacing, a small
    sync makes no request that comes back 429 (the clock is the sandbox's, injected)."""
    clock = [1_000_000.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    with server.SandboxServer(seed=SEED, tickets=150, clock=lambda: clock[0]) as sb:
        config = ZendeskConfig(
            base_url=sb.base_url,
            email=sb.env()["ZENDESK_EMAIL"],
            api_token=sb.env()["ZENDESK_API_TOKEN"],
        )
        connector = ZendeskConnector("zendesk", config, sleep=sleep)
        connector.client.limiter._clock = lambda: clock[0]
        report = engine.run_sync(new_warehouse(tmp_path, "paced"), connector)
        assert report.status == "ok", report.message
        assert sb.stats.snapshot()["by_status"].get("429", 0) == 0
        assert connector.stats.throttled == 0


def test_write_back_shows_up_in_the_next_incremental_sync(tmp_path):
    with server.SandboxServer(seed=SEED, tickets=150, rate_limit=False) as sb:
        warehouse = new_warehouse(tmp_path, "writeback")
        connector = make_connector(sb)
        assert engine.run_sync(warehouse, connector).status == "ok"
        ticket = next(
            r for r in dump(warehouse)["tickets"] if r["status"] not in ("closed", "deleted")
        )
        updated = connector.writer.update_ticket(ticket["id"], {"status": "hold", "tags": ["vip"]})
        assert updated["status"] == "hold"
        sandbox_writes = sb.client().get("/__sandbox/writes").json()["writes"]
        assert sandbox_writes[-1]["method"] == "PUT"
        report = engine.run_sync(warehouse, make_connector(sb))
        assert report.status == "ok", report.message
        row = {r["id"]: r for r in dump(warehouse)["tickets"]}[ticket["id"]]
        assert row["status"] == "hold" and row["tags"] == "vip"


@pytest.mark.parametrize("ahead", [None, timedelta(days=2)], ids=["past", "future-dated"])
def test_a_ticket_written_back_then_changed_again_reaches_the_warehouse(tmp_path, ahead):
    """Issue 23: the write-back's update_many jobs change open tickets, then an operator solves
    one of them (PUT) and changes another several times in a row: each next incremental sync,
    from its stored cursor, brings every change (the sandbox's export used to skip them). With
    the sandbox's clock two days ahead of this machine's, every write is dated past the sync's
    start: the tickets stream stores the capped time instead of the cursor
    (connectors.watermark), and the changes still come."""
    from deskpulse.connectors.base import FieldValues

    anchor = datetime.now(UTC) + ahead if ahead else data.DEFAULT_ANCHOR
    with server.SandboxServer(seed=SEED, tickets=150, rate_limit=False, anchor=anchor) as sb:
        warehouse = new_warehouse(tmp_path, "changed-twice")

        def sync() -> dict[str, dict[str, Any]]:
            report = engine.run_sync(warehouse, make_connector(sb))
            assert report.status == "ok", report.message
            return {r["id"]: r for r in dump(warehouse)["tickets"]}

        rows = sync()
        open_ids = sorted(
            (i for i, r in rows.items() if r["status"] in ("new", "open", "pending")), key=int
        )[:4]
        connector = make_connector(sb)
        results = connector.writer.write_ticket_fields(
            [FieldValues(i, {"360011000001": "ORD-7"}) for i in open_ids]
        )
        assert all(r.status == "ok" for r in results), results
        sync()
        solved, busy = open_ids[1], open_ids[2]
        connector.writer.update_ticket(solved, {"status": "solved"})
        assert sync()[solved]["status"] == "solved"
        for status in ("hold", "open", "pending"):  # one ticket, three changes, no sync between
            connector.writer.update_ticket(busy, {"status": status})
        assert sync()[busy]["status"] == "pending"
        connector.writer.update_ticket(busy, {"status": "solved"})
        connector.writer.update_ticket(solved, {"status": "open"})
        rows = sync()
        assert (rows[busy]["status"], rows[solved]["status"]) == ("solved", "open")
        stored = engine.load_cursors(warehouse, "zendesk")["tickets"]
        assert ("cursor" in stored) is (ahead is None), stored
