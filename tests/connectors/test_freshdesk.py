"""The Freshdesk connector against respx, with our own fixtures in Freshdesk's API v2 shapes:
its code tables, conversations, SLA targets, ratings, time entries, business hours, and the
API's traps (the ticket list's page cap, deleted and spam lists, Retry-After, rate-limit
headers, times sent in UTC, custom statuses, numeric sources)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx

from deskpulse.connectors.base import FieldValues, Post, SourceOptions
from deskpulse.connectors.freshdesk import FreshdeskConnector, FreshdeskSettings
from deskpulse.connectors.freshdesk.endpoints import ENDPOINTS
from tests.connectors.freshdesk_fakes import (
    API,
    BASE,
    KEY,
    SPEC_FILE,
    fixture,
    freshdesk_router,
    freshdesk_routes,
    make_connector,
)
from tests.connectors.zendesk_fakes import collect


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def run() -> Any:
    return collect(make_connector(freshdesk_router()))


def test_tickets_map_through_the_code_tables(run):
    tickets = run.rows["tickets"]
    solved = tickets["101"]
    assert (solved["status"], solved["channel"], solved["priority"]) == (
        "solved",
        "email",
        "normal",
    )
    assert solved["group"] == "Billing" and solved["tags"] == "billing"
    assert solved["assignee_id"] == "9001" and solved["requester_id"] == "7001"
    assert solved["solved_at"] == at("2026-03-02 11:40:00") and solved["closed_at"] is None
    assert solved["extra"]["custom_fields"] == {"cf_order_number": "ORD-1182", "cf_seats": 3}
    assert solved["extra"]["first_responded_at"] == "2026-03-02T10:20:00Z"
    # 6 "Waiting on Customer" and 7 "Waiting on Third Party", the custom statuses of new accounts
    assert (tickets["102"]["status"], tickets["103"]["status"]) == ("pending", "hold")
    assert tickets["102"]["channel"] == "email"  # 10: outbound e-mail
    assert tickets["102"]["priority"] == "urgent" and tickets["103"]["priority"] == "low"
    assert tickets["103"]["channel"] == "twitter"
    assert run.rows["social_mentions"]["103"]["network"] == "twitter"
    assert run.rows["social_mentions"]["103"]["first_reply_at"] is None


def test_deleted_and_spam_tickets_come_from_their_own_lists(run):
    tickets = run.rows["tickets"]
    assert tickets["104"]["status"] == "deleted" and tickets["104"]["extra"]["deleted"] is True
    assert tickets["105"]["status"] == "deleted" and tickets["105"]["extra"]["spam"] is True
    assert tickets["105"]["channel"] == "web"  # 9: the feedback widget


def test_deleted_and_spam_lists_are_asked_for_and_their_conversations_are_not_read():
    router = freshdesk_router()
    collect(make_connector(router), only={"tickets", "agents"})
    filters = [c.request.url.params.get("filter") for c in router.calls
               if c.request.url.path == "/api/v2/tickets"]  # fmt: skip
    assert filters == [None, "deleted", "spam"]
    read = {c.request.url.path for c in router.calls if "conversations" in c.request.url.path}
    assert read == {f"/api/v2/tickets/{n}/conversations" for n in (101, 102, 103)}


def test_conversations_become_messages_with_author_kinds(run):
    events = run.rows["ticket_events"]
    kinds = {
        k: (v["author_kind"], v["public"]) for k, v in events.items() if v["ticket_id"] == "101"
    }
    assert kinds == {
        "d101": ("customer", True),  # the description: the requester's first message
        "5001": ("system", True),  # a bot: not an agent, not incoming
        "5002": ("agent", False),  # a private note
        "5003": ("agent", True),
        "5004": ("customer", True),
        "5005": ("agent", True),
    }
    assert events["d101"]["created_at"] == at("2026-03-02 09:15:00")
    # An outbound ticket's description is an agent's message.
    assert (events["d102"]["author_kind"], events["d102"]["author_id"]) == ("agent", "9001")


def test_sla_targets_and_verdicts_from_due_times(run):
    sla = run.rows["sla_events"]
    applied = sla["101-reply_time-applied"]
    assert (applied["target_minutes"], applied["business_hours"]) == (480, True)
    assert applied["extra"]["policy"] == "Default SLA Policy"
    assert (sla["101-reply_time-verdict"]["type"], sla["101-reply_time-verdict"]["time"]) == (
        "fulfilled",
        at("2026-03-02 10:20:00"),
    )
    assert sla["101-resolution_time-verdict"]["type"] == "fulfilled"
    # fr_escalated without a response: breached when the target ran out
    assert (sla["102-reply_time-verdict"]["type"], sla["102-reply_time-verdict"]["time"]) == (
        "breached",
        at("2026-03-02 09:45:00"),
    )
    assert "102-resolution_time-verdict" not in sla  # still running
    assert not any(key.startswith(("104-", "105-")) for key in sla)


def test_ratings_time_entries_schedules_people(run):
    surveys = run.rows["survey_responses"]
    assert (surveys["8101"]["score"], surveys["8101"]["comment"]) == (5.0, "Quick, thanks")
    assert surveys["8101"]["extra"]["ratings"] == {"default_question": 103, "question_2": -101}
    assert (surveys["8102"]["score"], surveys["8102"]["comment"]) == (2.0, None)
    session = run.rows["agent_sessions"]["4101"]
    assert (session["started_at"], session["ended_at"]) == (
        at("2026-03-02 10:15:00"),
        at("2026-03-02 11:40:00"),
    )
    assert session["state"] == "busy" and session["extra"]["ticket_id"] == "101"
    weekdays = run.rows["schedules"]["6001"]
    assert weekdays["time_zone"] == "America/New_York"
    assert weekdays["intervals"][0] == {"start_minute": 1440 + 540, "end_minute": 1440 + 1050}
    assert len(weekdays["intervals"]) == 5
    assert run.rows["schedules"]["6002"]["intervals"] == [{"start_minute": 0, "end_minute": 10080}]
    assert run.rows["customers"]["7001"]["organization"] == "Acme Corp"
    agents = run.rows["agents"]
    assert (agents["9001"]["group"], agents["9001"]["active"]) == ("Billing", True)
    assert agents["9002"]["active"] is False


def _tickets_router(rows: list[dict[str, Any]]) -> respx.Router:
    router = freshdesk_routes(respx.Router(assert_all_called=False))
    router.get(f"{API}/tickets").mock(
        side_effect=lambda request: (
            httpx.Response(200, json=rows if request.url.params.get("filter") is None else [])
            if request.url.params.get("updated_since") == "1970-01-01T00:00:00Z"
            else httpx.Response(200, json=[])
        )
    )
    return router


def test_unknown_codes_map_to_neutral_values_keep_the_code_and_warn_once(caplog):
    base = fixture("tickets.json")[0]
    rows = [{**base, "id": n, "status": 9, "source": 42, "priority": 8} for n in (201, 202)]
    caplog.set_level(logging.WARNING)
    out = collect(make_connector(_tickets_router(rows)), only={"tickets", "agents"})
    ticket = out.rows["tickets"]["201"]
    assert (ticket["status"], ticket["channel"], ticket["priority"]) == ("open", "other", None)
    assert ticket["extra"]["status_code"] == 9 and ticket["extra"]["source_code"] == 42
    assert ticket["extra"]["priority_code"] == 8
    warnings = [r.getMessage() for r in caplog.records if "unknown" in r.getMessage()]
    assert len(warnings) == 3, warnings  # status, source, priority: once each for two tickets
    mapped = collect(make_connector(_tickets_router(rows), statuses={9: "hold"}), only={"tickets"})
    assert mapped.rows["tickets"]["202"]["status"] == "hold"


def test_status_map_setting_is_checked(monkeypatch):
    monkeypatch.setenv("FRESHDESK_DOMAIN", "acme")
    monkeypatch.setenv("FRESHDESK_API_KEY", KEY)
    monkeypatch.setenv("FRESHDESK_STATUS_MAP", "8=hold, 9=pending")
    settings = FreshdeskSettings()
    connector = FreshdeskConnector.from_settings(
        "freshdesk", settings, SourceOptions(env_prefix="FRESHDESK_")
    )
    assert connector.context().statuses[8] == "hold" and connector.context().statuses[7] == "hold"
    monkeypatch.setenv("FRESHDESK_STATUS_MAP", "8=hold,9=waiting")
    with pytest.raises(ValueError, match="'9=waiting' is not code=status"):
        FreshdeskSettings()


def test_updated_since_is_sent_in_utc_with_the_list_parameters():
    router = freshdesk_router()
    start = datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    collect(make_connector(router, start_time=start), only={"tickets", "agents"})
    first = next(c.request for c in router.calls if c.request.url.path == "/api/v2/tickets")
    params = dict(first.url.params)
    assert params["updated_since"] == "2026-03-01T08:00:00Z"
    assert (params["order_by"], params["order_type"]) == ("updated_at", "asc")
    assert params["include"] == "stats,requester" and params["per_page"] == "100"


class FakeTicketList:
    """Freshdesk's ticket list over `rows`: updated_since inclusive, ascending, a page cap."""

    def __init__(self, rows: list[dict[str, Any]], cap: int = 300) -> None:
        self.rows = sorted(rows, key=lambda r: (r["updated_at"], r["id"]))
        self.cap = cap
        self.asked: list[tuple[str, int]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if params.get("filter"):
            return httpx.Response(200, json=[])
        page, per_page = int(params["page"]), int(params["per_page"])
        self.asked.append((params["updated_since"], page))
        if page > self.cap:
            message = f"You cannot access tickets beyond the {self.cap}th page."
            errors = [{"field": "page", "message": message, "code": "invalid_value"}]
            return httpx.Response(400, json={"description": "Validation failed", "errors": errors})
        since = datetime.fromisoformat(params["updated_since"])
        found = [r for r in self.rows if datetime.fromisoformat(r["updated_at"]) >= since]
        return httpx.Response(200, json=found[(page - 1) * per_page : page * per_page])


def _ticket(n: int, updated: str) -> dict[str, Any]:
    return {**fixture("tickets.json")[0], "id": n, "updated_at": updated}


def _walk(fake: FakeTicketList, per_page: int, cursors: dict[str, Any] | None = None) -> Any:
    router = freshdesk_routes(respx.Router(assert_all_called=False))
    router.get(f"{API}/tickets").mock(side_effect=fake)
    return collect(make_connector(router, per_page=per_page), cursors, only={"tickets"})


def test_the_page_cap_is_walked_past_by_moving_updated_since():
    rows = [_ticket(n, f"2026-03-02T10:{n:02d}:00Z") for n in range(1, 12)]
    fake = FakeTicketList(rows, cap=1)  # a cap of one page: page 2 would be the 400
    out = _walk(fake, per_page=3)
    assert sorted(map(int, out.rows["tickets"])) == list(range(1, 12))
    assert all(page == 1 for _, page in fake.asked)
    # Each request starts at the last ticket read (updated_since is inclusive: that ticket
    # comes again, and is skipped), so a page of 3 brings 2 new tickets.
    assert [since[11:16] for since, _ in fake.asked] == [
        "00:00", "10:03", "10:05", "10:07", "10:09", "10:11"
    ]  # fmt: skip
    assert out.emitted["tickets"].count("3") == 1  # the boundary ticket is read once


def test_a_second_holding_more_than_a_page_turns_to_page_two():
    rows = [_ticket(n, "2026-03-02T10:00:00Z") for n in range(1, 6)]
    rows.append(_ticket(6, "2026-03-02T10:05:00Z"))
    fake = FakeTicketList(rows)
    out = _walk(fake, per_page=2)
    assert sorted(out.emitted["tickets"], key=int) == [str(n) for n in range(1, 7)]
    assert fake.asked[:3] == [("1970-01-01T00:00:00Z", 1), ("2026-03-02T10:00:00Z", 2),
                              ("2026-03-02T10:00:00Z", 3)]  # fmt: skip


def test_a_walk_resumed_from_a_page_cursor_reads_each_ticket_once():
    rows = [_ticket(n, f"2026-03-02T10:0{n // 2}:00Z") for n in range(1, 9)]
    first = _walk(FakeTicketList(rows), per_page=3)
    cursor = first.pages["tickets"][0].cursor  # as if killed after the first page
    rest = _walk(FakeTicketList(rows), per_page=3, cursors={"tickets": cursor})
    done = first.pages["tickets"][0].records
    assert len(done) + len(rest.emitted["tickets"]) == 8
    assert sorted(
        [p.ticket["id"] for p in done] + [int(t) for t in rest.emitted["tickets"]]
    ) == list(range(1, 9))


def test_retry_after_is_waited_and_rate_limit_headers_set_the_pace():
    router = freshdesk_router()
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "7"}, json={"code": "rate_limit_exceeded"}),
            httpx.Response(200, json=fixture("agents.json"),
                           headers={"X-RateLimit-Total": "50", "X-RateLimit-Remaining": "48"}),
        ]
    )  # fmt: skip
    router.get(f"{API}/agents").mock(side_effect=lambda request: next(answers))
    slept: list[float] = []
    connector = make_connector(router, rate_limit=None, plan="enterprise", sleep=slept.append)
    assert connector.client.limiter.budget("default") == 630  # 90% of Enterprise's 700
    collect(connector, only={"agents"})
    assert 7.0 in slept and connector.stats.throttled == 1
    assert connector.client.limiter.budget("default") == 45  # 90% of the account's real 50
    assert connector.client.limiter.budget("tickets_list") == 180


def test_every_request_is_in_the_reconstructed_document():
    spec = json.loads(SPEC_FILE.read_text())
    assert "RECONSTRUCTED" in spec["info"]["title"]
    for name, endpoint in ENDPOINTS.items():
        operation = spec["paths"].get(endpoint.path, {}).get(endpoint.method.lower())
        assert operation is not None, (name, endpoint.path)
        assert operation["operationId"] == endpoint.operation, name
        assert operation["x-source"], name
        declared = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "query"}
        assert endpoint.params <= declared, (name, endpoint.params - declared)


def test_settings_domain_forms_and_secrets(monkeypatch):
    monkeypatch.setenv("FRESHDESK_DOMAIN", "acme")
    monkeypatch.setenv("FRESHDESK_API_KEY", KEY)
    settings = FreshdeskSettings()
    connector = FreshdeskConnector.from_settings(
        "freshdesk", settings, SourceOptions(env_prefix="FRESHDESK_")
    )
    assert connector.url == "https://acme.freshdesk.com"
    assert KEY not in repr(settings) and KEY not in repr(connector)
    monkeypatch.setenv("FRESHDESK_PLAN", "platinum")
    with pytest.raises(ValueError, match="unknown plan 'platinum'"):
        FreshdeskSettings()


def test_write_back_puts_custom_fields_and_reports_each_ticket():
    router = freshdesk_router()
    router.put(f"{API}/tickets/101").mock(return_value=httpx.Response(200, json={"id": 101}))
    router.put(f"{API}/tickets/999").mock(
        return_value=httpx.Response(404, json={"code": "not_found"})
    )
    router.put(f"{API}/contacts/7001").mock(return_value=httpx.Response(200, json={"id": 7001}))
    connector = make_connector(router)
    results = connector.writer.write_ticket_fields(
        [FieldValues("101", {"cf_frt_minutes": 42}), FieldValues("999", {"cf_frt_minutes": 1})]
    )
    assert [r.status for r in results] == ["ok", "failed"]
    sent = [c.request for c in router.calls if c.request.method == "PUT"]
    assert json.loads(sent[0].content) == {"custom_fields": {"cf_frt_minutes": 42}}
    assert connector.writer.write_user_fields([FieldValues("7001", {"customer_value": 3})])[0].ok
    assert FreshdeskConnector.ticket_field_problem("frt_minutes") is not None
    assert FreshdeskConnector.ticket_field_problem("cf_frt_minutes") is None
    refused = connector.writer.post(Post("digest:weekly:2026-W10", "Digest", "FRT 42"))
    assert refused.status == "failed" and "FRESHDESK_DIGEST_TICKET" in (refused.reason or "")
    assert BASE in connector.url


def test_ticket_updates_are_paced_in_the_plan_ticket_update_budget():
    """Growth updates 80 tickets a minute; at 90% of it the 73rd write waits for the window."""
    router = freshdesk_router()
    router.put(url__regex=rf"{API}/tickets/\d+").mock(return_value=httpx.Response(200, json={}))
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    connector = make_connector(router, rate_limit=None, plan="growth", sleep=sleep)
    connector.client.limiter._clock = lambda: clock[0]
    assert connector.client.limiter.budget("tickets_update") == 72
    batch = [FieldValues(str(n), {"cf_frt_minutes": n}) for n in range(1, 74)]
    assert all(r.ok for r in connector.writer.write_ticket_fields(batch))
    assert 60 <= clock[0] < 61
