"""End to end: the LiveAgent connector and the sync engine against the sandbox's LiveAgent dialect.

* a sync finds exactly the rows of the generated help desk;
* a second sync without changes reads one page per stream (and the overlap's conversations);
* a sync killed mid-way and restarted, or run through injected faults, ends identical;
* the same help desk synced through LiveAgent and through Zendesk gives the same KPIs;
* under LiveAgent's real limit (180/min) the connector's pacing never provokes a 429;
* a write-back shows up in the next incremental sync.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import Any

import httpx
import pytest

from deskpulse.connectors.base import FieldValues, Post
from deskpulse.connectors.liveagent import LiveAgentConnector
from deskpulse.connectors.zendesk import ZendeskConfig, ZendeskConnector
from deskpulse.sandbox.data import CHILD_BASE
from deskpulse.sandbox.liveagent import render
from deskpulse.sandbox.server import Host, SandboxServer
from deskpulse.sync import engine
from tests.connectors.sandbox_runs import (
    FAULTS,
    dump,
    ids,
    killed_then_resumed,
    kpi_values,
    new_warehouse,
    synced_through_faults,
)

SEED = 11
TICKETS = 200


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """One generated help desk, served by both dialects (Zendesk first, LiveAgent next)."""
    with SandboxServer(seed=SEED, tickets=TICKETS, rate_limit=False) as sb:
        yield sb


@pytest.fixture(scope="module")
def sandbox(server: SandboxServer) -> Host:
    return server.host_of("liveagent")


def liveagent_only(**options: Any) -> SandboxServer:
    return SandboxServer(seed=SEED, tickets=TICKETS, dialects=["liveagent"], **options)


def make_connector(host: Host, **options: Any) -> LiveAgentConnector:
    options.setdefault("rate_limit", None)
    options.setdefault("sleep", lambda seconds: None)
    key = host.dialect.auth_headers()["apikey"]
    return LiveAgentConnector("liveagent", url=host.base_url, api_key=key, **options)


@pytest.fixture(scope="module")
def clean_run(sandbox: Host, tmp_path_factory: pytest.TempPathFactory) -> Any:
    warehouse = new_warehouse(tmp_path_factory.mktemp("la-clean"), "clean")
    report = engine.run_sync(warehouse, make_connector(sandbox))
    return warehouse, report, dump(warehouse)


def expected_ids(account: Any) -> dict[str, set[str]]:
    """The rows the generated account should give through LiveAgent, from the generator."""
    out: dict[str, set[str]] = {name: set() for name in ("tickets", "ticket_events", "calls",
                                "chats", "social_mentions", "survey_responses", "customers",
                                "agents")}  # fmt: skip
    tz = UTC
    for k in range(account.n_users):
        user = account.user(k)
        if user.role == "end-user":
            out["customers"].add(str(render.user_la_id(user.id)))
        elif not user.bot:
            out["agents"].add(str(render.user_la_id(user.id)))
    for i in range(account.n_tickets):
        t = account.ticket(i)
        out["tickets"].add(render.ticket_la_id(t.id))
        if t.channel in ("twitter", "facebook", "instagram_dm") and t.status != "deleted":
            out["social_mentions"].add(render.ticket_la_id(t.id))
        out["calls"].update(str(c.id) for c in t.calls)
        out["chats"].update(render.chat_json(c, account, tz)["id"] for c in t.chats)
        for row in render.history(t, account, tz):
            out["ticket_events"].add(f"history-{row['id']}")
            if row["agent_id"] is not None:
                out["ticket_events"].add(f"history-{row['id']}-agent")
        if t.status == "deleted":
            continue  # its conversation is not read
        for n, audit in enumerate(t.audits):
            for k, child in enumerate(audit.children):
                # The Zendesk dialect's child event id, which the LiveAgent dialect reuses.
                child_id = str(CHILD_BASE + (t.id * 64 + n) * 8 + k)
                if child.kind == "SatisfactionRating":
                    out["survey_responses"].add(child_id)
                elif child.kind == "Comment" and child.body is not None:
                    out["ticket_events"].add(child_id)
    return out


def test_sync_finds_exactly_the_sandbox_rows(server, clean_run):
    _, report, rows = clean_run
    assert report.status == "ok", report.message
    assert report.quarantined == 0
    expected = expected_ids(server.account)
    for table, wanted in expected.items():
        assert ids(rows[table]) == wanted, table


def test_synced_values_follow_the_sandbox(server, clean_run):
    _, _, rows = clean_run
    account = server.account
    tickets = {row["id"]: row for row in rows["tickets"]}
    for i in range(0, account.n_tickets, 7):
        t = account.ticket(i)
        row = tickets[render.ticket_la_id(t.id)]
        assert row["status"] == t.status
        assert row["created_at"].timestamp() == t.created_ts
        assert row["requester_id"] == render.user_la_id(t.requester_id)
        assert row["tags"] == (";".join(t.tags) or None)
    kinds = {row["author_kind"] for row in rows["ticket_events"] if row["kind"] == "message"}
    assert kinds == {"agent", "customer", "system"}  # the bot speaks as the system


def test_second_sync_without_changes_reads_little_and_writes_nothing(sandbox, clean_run):
    warehouse, _, before = clean_run
    sandbox.stats.clear()
    report = engine.run_sync(warehouse, make_connector(sandbox))
    assert report.status == "ok", report.message
    assert report.written == 0
    requests = sandbox.stats.snapshot()["requests"]
    for path in ("/tickets", "/tickets/history", "/calls", "/chats", "/contacts", "/agents"):
        assert requests[f"GET /api/v3{path}"] == {"200": 1}, path
    conversations = sum(n["200"] for key, n in requests.items() if key.endswith("/messages"))
    assert conversations <= 3  # the overlap window's tickets only
    assert dump(warehouse) == before


@pytest.mark.parametrize("pages", [2, 7])
def test_killed_sync_restarted_ends_identical(sandbox, clean_run, tmp_path, pages):
    _, _, clean = clean_run
    warehouse = new_warehouse(tmp_path, f"killed{pages}")
    partial = killed_then_resumed(warehouse, lambda: make_connector(sandbox), pages)
    assert sum(map(len, partial.values())) < sum(map(len, clean.values()))
    assert dump(warehouse) == clean


def test_sync_through_faults_ends_identical(clean_run, tmp_path):
    _, _, clean = clean_run
    with liveagent_only(rate_limit=False, faults=FAULTS) as sb:
        connector = make_connector(sb.host_of("liveagent"), timeout=2.0, max_retries=10)
        assert synced_through_faults(new_warehouse(tmp_path, "faults"), connector) == clean


SAME_METRICS = (
    "first_response_time",
    "response_time",
    "first_resolution_time",
    "resolution_time",
    "first_contact_resolution",
    "one_touch_resolution",
    "reopen_rate",
    "requester_wait_time",
    "on_hold_time",
    "csat",
    "request_volume",
    "ticket_backlog",
    "open_cases",
    "resolution_rate",
)
DURATIONS = (
    "first_response_time",
    "response_time",
    "first_resolution_time",
    "resolution_time",
    "requester_wait_time",
    "on_hold_time",
)


def _values(warehouse: Any, source: str, **query: Any) -> dict[tuple[Any, ...], Any]:
    metrics = DURATIONS if query.get("business_hours", False) else SAME_METRICS
    return kpi_values(warehouse, source, metrics, **query)


@pytest.fixture(scope="module")
def both(server, sandbox, tmp_path_factory):
    """One warehouse holding the help desk twice: synced through Zendesk and through LiveAgent."""
    warehouse = new_warehouse(tmp_path_factory.mktemp("both"), "both")
    oauth = server.dialect("zendesk").oauth_token
    config = ZendeskConfig(base_url=server.base_url, oauth_token=oauth)
    zd = ZendeskConnector("zendesk", config, rate_limits=None, sleep=lambda s: None)
    assert engine.run_sync(warehouse, zd).status == "ok"
    assert engine.run_sync(warehouse, make_connector(sandbox)).status == "ok"
    return warehouse


@pytest.mark.parametrize("business_hours", [False, True])
@pytest.mark.parametrize("every", [None, "month"])
def test_same_tickets_same_kpis(both, business_hours, every):
    zd = _values(both, "zendesk", business_hours=business_hours, every=every)
    la = _values(both, "liveagent", business_hours=business_hours, every=every)
    assert zd and la == zd
    assert any(value[0] is not None for value in zd.values())


def test_same_kpis_by_channel_where_liveagent_has_the_channel(both):
    zd = _values(both, "zendesk", by="channel")
    la = _values(both, "liveagent", by="channel")
    # LiveAgent has no API and no Instagram channel: API tickets are e-mail conversations, and
    # Instagram direct messages arrive as Meta (Facebook) messages. Every other channel matches.
    for key, value in zd.items():
        channel = dict(key[2]).get("channel")
        if channel in ("web", "chat", "phone", "twitter"):
            assert la.get(key) == value, key

    def volume(values: dict[tuple[Any, ...], Any], channel: str) -> int:
        key = next(
            k for k in values if k[0] == "request_volume" and dict(k[2]) == {"channel": channel}
        )
        return int(values[key][0] or 0)

    assert volume(la, "email") == volume(zd, "email") + volume(zd, "api")
    assert volume(la, "facebook") == volume(zd, "facebook") + volume(zd, "instagram")


def test_real_rate_limit_is_never_hit_with_pacing(tmp_path):
    """LiveAgent's 180/min on the sandbox (its clock injected) and the connector's default
    pacing: a sync of 200 tickets (~250 requests, more than a minute's budget) sees no 429."""
    clock = [1_000_000.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    options = {"liveagent": {"api_key": "paced-key-1"}}
    with liveagent_only(clock=lambda: clock[0], options=options) as sb:
        connector = make_connector(sb.host_of("liveagent"), rate_limit=160, sleep=sleep)
        connector.client.limiter._clock = lambda: clock[0]
        report = engine.run_sync(new_warehouse(tmp_path, "paced"), connector)
        assert report.status == "ok", report.message
        assert sb.stats.snapshot()["by_status"].get("429", 0) == 0
        assert connector.stats.throttled == 0
        assert connector.stats.requests > 180 and clock[0] - 1_000_000.0 >= 60


class _TwoAMinute:
    dialect = "liveagent"

    def budgets(self) -> dict[str, int]:
        return {"apikey": 2}


def test_over_the_limit_the_sandbox_answers_429_and_the_connector_waits(tmp_path):
    clock = [2_000_000.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    options = {"liveagent": {"api_key": "paced-key-2"}}
    with liveagent_only(clock=lambda: clock[0], rate_limit=_TwoAMinute(), options=options) as sb:
        host = sb.host_of("liveagent")
        connector = make_connector(host, sleep=sleep, streams=["agents", "calls"])
        report = engine.run_sync(new_warehouse(tmp_path, "throttled"), connector)
        assert report.status == "ok", report.message
        assert connector.stats.throttled >= 1
        assert host.stats.snapshot()["by_status"]["429"] == connector.stats.throttled


def test_write_back_shows_up_in_the_next_incremental_sync(tmp_path):
    with liveagent_only(rate_limit=False) as server:
        sb = server.host_of("liveagent")
        warehouse = new_warehouse(tmp_path, "writeback")
        connector = make_connector(sb, post_recipient="support@acme.example")
        assert engine.run_sync(warehouse, connector).status == "ok"
        ticket = next(
            r for r in dump(warehouse)["tickets"] if r["status"] not in ("closed", "deleted")
        )
        results = connector.writer.write_ticket_fields(
            [FieldValues(ticket["id"], {"frt_minutes": 42}), FieldValues("t9999999", {"x": 1})]
        )
        assert [r.status for r in results] == ["ok", "failed"]
        assert connector.writer.read_ticket_fields([ticket["id"]], ["frt_minutes"]) == {
            ticket["id"]: {"frt_minutes": "42"}
        }
        assert connector.writer.update_ticket(ticket["id"], status="hold")["status"] == "W"
        post = Post("digest:weekly:2026-W44", "Weekly KPI digest", "FRT median 42 min")
        assert connector.writer.find_post(post.key) is None
        posted = connector.writer.post(post)
        assert posted.ok and connector.writer.find_post(post.key) == posted.ref
        writes = httpx.get(f"{sb.base_url}/__sandbox/writes").json()["writes"]
        assert [w["method"] for w in writes] == ["PUT", "PUT", "POST"]  # the 404 is not a write
        report = engine.run_sync(warehouse, make_connector(sb))
        assert report.status == "ok", report.message
        rows = {r["id"]: r for r in dump(warehouse)["tickets"]}
        assert rows[ticket["id"]]["status"] == "hold"
        assert rows[ticket["id"]]["extra"]["custom_fields"]["frt_minutes"] == "42"
        assert rows[str(posted.ref)]["subject"] == "Weekly KPI digest [digest:weekly:2026-W44]"
        held = [
            e for e in dump(warehouse)["ticket_events"]
            if e["ticket_id"] == ticket["id"] and e["kind"] == "status" and e["status"] == "hold"
        ]  # fmt: skip
        assert held and max(e["created_at"] for e in held).timestamp() > server.account.anchor_ts
