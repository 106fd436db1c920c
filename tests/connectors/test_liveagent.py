"""The LiveAgent connector against respx, with our own fixtures in LiveAgent's v3 shapes."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx

from deskpulse.connectors.base import FieldValues, Post, SourceOptions
from deskpulse.connectors.errors import AuthError, PaginationLoopError
from deskpulse.connectors.liveagent import LiveAgentConnector, LiveAgentSettings
from deskpulse.connectors.liveagent.endpoints import ENDPOINTS
from deskpulse.connectors.liveagent.mapping import parse_when
from deskpulse.connectors.liveagent.paging import ChangedSince
from tests.connectors.liveagent_fakes import API, KEY, cursor, liveagent_router, make_connector
from tests.connectors.zendesk_fakes import collect

SPEC = Path(__file__).parents[3] / "shared" / "specs" / "liveagent"
SPEC_FILE = SPEC / "liveagent-v3.reconstructed.swagger.json"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def run():
    router = liveagent_router()
    connector = make_connector(router)
    out = collect(connector)
    return out, router


def test_tickets_map_with_names_fields_and_resolution(run):
    out, _ = run
    ticket = out.table("tickets")["gv6dy7vk"]
    assert ticket["created_at"] == at("2026-03-02 09:15:00")
    assert ticket["status"] == "solved"
    assert ticket["channel"] == "email"
    assert ticket["tags"] == "refund;vip"
    assert ticket["group"] == "Support"
    assert ticket["assignee_id"] == "p7z3m1bb"
    assert ticket["requester_id"] == "c9u1aa01"
    assert ticket["solved_at"] == at("2026-03-02 11:40:00")
    assert ticket["closed_at"] is None
    assert ticket["extra"]["custom_fields"] == {"order_number": "ORD-1182", "seats": "3"}
    assert ticket["extra"]["code"] == "KXW-JTH-PKR"
    assert out.table("tickets")["h3kd92ll"]["status"] == "deleted"


def test_conversation_gives_replies_notes_and_system_messages(run):
    out, _ = run
    events = out.table("ticket_events")
    mine = {
        k: v for k, v in events.items() if v["ticket_id"] == "gv6dy7vk" and v["kind"] == "message"
    }
    assert sorted(mine) == ["msg102", "msg103", "msg104", "msg105"]  # header, quote, footer skipped
    assert (mine["msg102"]["author_kind"], mine["msg102"]["public"]) == ("customer", True)
    assert (mine["msg103"]["author_kind"], mine["msg103"]["public"]) == ("system", True)
    assert (mine["msg104"]["author_kind"], mine["msg104"]["public"]) == ("agent", False)
    assert (mine["msg105"]["author_kind"], mine["msg105"]["public"]) == ("agent", True)
    assert mine["msg105"]["created_at"] == at("2026-03-02 10:20:00")


def test_ratings_become_csat_responses(run):
    out, _ = run
    surveys = out.table("survey_responses")
    assert surveys["msg108"]["score"] == 5.0
    assert surveys["msg108"]["comment"] == "Quick, thanks"
    assert surveys["msg108"]["customer_id"] == "c9u1aa01"
    assert surveys["msg108"]["agent_id"] == "p7z3m1bb"
    assert (surveys["msg108"]["scale_min"], surveys["msg108"]["scale_max"]) == (1.0, 5.0)
    assert surveys["tw103"]["score"] == 1.0  # a punishment, sent as a bare code


def test_twitter_conversation_is_also_a_social_mention(run):
    out, _ = run
    mentions = out.table("social_mentions")
    assert set(mentions) == {"upz575s4"}  # not the e-mail ticket, not the deleted one
    mention = mentions["upz575s4"]
    assert mention["network"] == "twitter"
    assert mention["first_reply_at"] == at("2026-03-02 10:30:00")
    assert mention["is_question"] is True
    assert mention["author"] == "c9u1aa02"


def test_keyset_reads_drop_the_boundary_second_and_skip_deleted_conversations(run):
    out, router = run
    filters = [
        json.loads(c.request.url.params["_filters"])[0][2]
        for c in router.calls
        if c.request.url.path == "/api/v3/tickets"
    ]
    assert filters == [
        "1970-01-01 00:00:00",
        "2026-03-02 12:00:00",
        "2026-03-03 08:30:00",
        "2026-03-03 09:06:00",
    ]
    assert out.emitted["tickets"].count("upz575s4") == 1  # served twice, emitted once
    fetched = [c.request.url.path for c in router.calls if c.request.url.path.endswith("/messages")]
    assert "/api/v3/tickets/h3kd92ll/messages" not in fetched  # deleted: no conversation read
    assert out.cursors["tickets"] == {"since": "2026-03-03T09:06:00+00:00", "seen": ["b4dd4t3x"]}
    query = next(
        c for c in router.calls if c.request.url.path == "/api/v3/tickets"
    ).request.url.params
    assert query["_sortField"] == "date_changed" and query["_sortDir"] == "ASC"


def test_a_ticket_with_a_bad_date_is_quarantined_with_the_reason(run):
    out, _ = run
    reasons = [reason for stream, _, reason in out.rejects if stream == "tickets"]
    assert reasons == ["date_created: not a date/time: 'yesterday'"]


def test_unknown_codes_keep_their_raw_value_and_warn_once_per_sync(caplog):
    caplog.set_level(logging.WARNING, logger="deskpulse.connectors.liveagent")
    out = collect(make_connector(liveagent_router()))
    odd = out.table("tickets")["w8ee01zz"]
    assert (odd["status"], odd["extra"]["status_code"]) == ("open", "Q")
    assert (odd["channel"], odd["extra"]["channel_type"]) == ("other", "Z")
    assert "oc101" in out.table("ticket_events")  # the unknown group type still reads as a reply
    assert "oc102" not in out.table("ticket_events")  # an unknown message part is not a message
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 5, warnings  # Q, Z, group 9, message 8, role supervisor
    assert any("ticket status code 'Q'" in w for w in warnings)
    assert any("channel_type code 'Z'" in w for w in warnings)


def test_history_pages_by_the_header_cursor_into_status_and_assignment_events(run):
    out, router = run
    events = out.table("ticket_events")
    statuses = sorted(
        (v["created_at"], v["status"]) for v in events.values() if v["kind"] == "status"
    )
    assert statuses == [
        (at("2026-03-02 09:15:00"), "new"),
        (at("2026-03-02 09:40:00"), "open"),
        (at("2026-03-02 10:20:00"), "pending"),
        (at("2026-03-02 11:40:00"), "solved"),
    ]
    assignments = [v for v in events.values() if v["kind"] == "assignment"]
    # Every stretch with an agent states who had the ticket (101 had none).
    assert sorted((a["id"], a["assignee_id"]) for a in assignments) == [
        ("history-102-agent", "p7z3m1bb"),
        ("history-103-agent", "p7z3m1bb"),
        ("history-104-agent", "p7z3m1bb"),
    ]
    cursors = [
        c.request.url.params.get("_cursor")
        for c in router.calls
        if c.request.url.path == "/api/v3/tickets/history"
    ]
    assert cursors == [None, cursor("102"), cursor("104")]
    assert out.cursors["history"] == {"cursor": cursor("104")}


def test_calls_map_and_an_ongoing_call_holds_the_cursor(run):
    out, _ = run
    calls = out.table("calls")
    assert set(calls) == {"c001", "c002", "c004"}  # c003 is an internal call
    answered = calls["c001"]
    assert answered["outcome"] == "answered" and answered["direction"] == "inbound"
    assert answered["answered_at"] == at("2026-03-02 09:00:25")
    assert answered["talk_seconds"] == 360.0
    assert answered["ticket_id"] == "gv6dy7vk"
    assert calls["c002"]["outcome"] == "abandoned"
    assert calls["c004"]["direction"] == "outbound"
    # c004 has not finished: the next run reads it again (the cursor stays after c003).
    assert out.cursors["calls"] == {"cursor": cursor("c003")}


def test_agents_contacts_and_chats(run):
    out, _ = run
    agents = out.table("agents")
    assert agents["k4x9q2aa"]["role"] == "admin"  # owner
    assert agents["p7z3m1bb"]["group"] == "Support"
    assert agents["r2d8w5cc"]["active"] is False
    assert agents["r2d8w5cc"]["role"] == "agent"  # unknown role: agent, raw kept
    assert agents["r2d8w5cc"]["extra"]["role"] == "supervisor"
    customers = out.table("customers")
    assert customers["c9u1aa01"]["name"] == "Ana Horvat"
    assert customers["c9u1aa01"]["email"] == "ana@example.com"
    assert customers["c9u1aa02"]["name"] == "@lukas_b" and customers["c9u1aa02"]["email"] is None
    chats = out.table("chats")
    assert chats["ch7a1b2c"]["outcome"] == "answered"
    assert chats["ch7a1b2c"]["ended_at"] == at("2026-03-02 14:12:00")
    assert chats["ch9z8y7x"]["outcome"] == "missed"


def test_dates_are_read_in_the_account_time_zone():
    bratislava = ZoneInfo("Europe/Bratislava")
    assert parse_when("2026-03-02 09:15:00", bratislava, "d") == at("2026-03-02 08:15:00")
    assert parse_when("2026-07-02 09:15:00", bratislava, "d") == at("2026-07-02 07:15:00")
    # The repeated hour of the autumn change: the earlier instant.
    assert parse_when("2026-10-25 02:30:00", bratislava, "d") == at("2026-10-25 00:30:00")
    assert parse_when("0000-00-00 00:00:00", bratislava, "d") is None
    assert parse_when("2026-03-02T09:15:00+02:00", bratislava, "d") == at("2026-03-02 07:15:00")


def test_a_filter_in_the_repeated_hour_moves_back_so_nothing_is_skipped():
    reader = ChangedSince(
        None,  # type: ignore[arg-type]
        "/tickets",
        "date_changed",
        tz=ZoneInfo("Europe/Bratislava"),
        per_page=10,
        start=at("2026-01-01 00:00:00"),
        overlap=timedelta(0),
    )
    assert reader.filter_value(at("2026-10-25 00:30:00")) == "2026-10-25 01:30:00"
    assert reader.filter_value(at("2026-10-25 01:30:00")) == "2026-10-25 02:30:00"
    assert reader.filter_value(at("2026-03-02 08:15:00")) == "2026-03-02 09:15:00"


def test_a_second_run_resumes_with_the_overlap_and_the_stored_cursors():
    first = collect(make_connector(liveagent_router()))
    router = liveagent_router()
    collect(make_connector(router), cursors=first.cursors)
    tickets = [c for c in router.calls if c.request.url.path == "/api/v3/tickets"]
    # 09:06 minus the 10-minute overlap window.
    assert json.loads(tickets[0].request.url.params["_filters"])[0][2] == "2026-03-03 08:56:00"
    history = [c for c in router.calls if c.request.url.path == "/api/v3/tickets/history"]
    assert [c.request.url.params.get("_cursor") for c in history] == [cursor("104")]


def test_a_repeated_header_cursor_ends_the_stream():
    router = liveagent_router()
    router.get(f"{API}/calls").mock(
        return_value=httpx.Response(
            200, json=json.loads('[{"id": "1"}, {"id": "2"}]'), headers={"next_page_cursor": "Zm9v"}
        )
    )
    with pytest.raises(PaginationLoopError):
        collect(make_connector(router), only={"calls"})


def test_retry_after_is_honoured():
    router = liveagent_router()
    answers = iter(
        [
            httpx.Response(
                429, json={"message": "Too many requests"}, headers={"Retry-After": "7"}
            ),
            httpx.Response(200, json=[]),
        ]
    )
    router.get(f"{API}/chats").mock(side_effect=lambda request: next(answers))
    sleeps: list[float] = []
    connector = make_connector(router, sleep=sleeps.append)
    collect(connector, only={"chats"})
    assert 7.0 in sleeps
    assert connector.stats.throttled == 1


def test_bad_key_is_one_line_naming_the_variable_and_the_key_never_shows():
    router = respx.Router(assert_all_called=False)
    router.get(url__regex=r".*").mock(
        return_value=httpx.Response(401, json={"message": "Invalid API key"})
    )
    connector = make_connector(router)
    with pytest.raises(AuthError) as error:
        collect(connector, only={"agents"})
    assert "LIVEAGENT_API_KEY" in str(error.value)
    assert KEY not in str(error.value) and KEY not in repr(connector)
    settings = LiveAgentSettings(url="https://acme.ladesk.com", api_key=KEY)
    assert KEY not in repr(settings) and KEY not in str(settings)
    sent = router.calls[0].request
    assert sent.headers["apikey"] == KEY and sent.url.path == "/api/v3/agents"


def test_settings_read_liveagent_variables(monkeypatch):
    monkeypatch.setenv("LIVEAGENT_URL", "https://acme.ladesk.com")
    monkeypatch.setenv("LIVEAGENT_API_KEY", KEY)
    monkeypatch.setenv("LIVEAGENT_TIMEZONE", "Europe/Bratislava")
    settings = LiveAgentSettings()
    assert settings.timezone == "Europe/Bratislava" and settings.rate_limit == 160
    monkeypatch.setenv("LIVEAGENT_URL", "acme.ladesk.com")
    with pytest.raises(ValueError, match="https://"):
        LiveAgentSettings()


def test_every_request_is_in_the_reconstructed_spec():
    if not SPEC_FILE.exists():
        pytest.skip("shared/specs not beside the repository")
    spec = json.loads(SPEC_FILE.read_text())
    for name, endpoint in ENDPOINTS.items():
        operation = spec["paths"].get(endpoint.path, {}).get(endpoint.method.lower())
        assert operation is not None, (name, endpoint.path)
        assert operation["operationId"] == endpoint.operation, name
        declared = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "query"}
        assert endpoint.params <= declared, (name, endpoint.params - declared)


def test_write_back_sends_custom_fields_by_code():
    router = respx.Router(assert_all_called=False)
    route = router.put(f"{API}/tickets/gv6dy7vk").mock(
        return_value=httpx.Response(200, json={"id": "gv6dy7vk", "status": "R"})
    )
    connector = make_connector(router)
    answer = connector.writer.update_ticket(
        "gv6dy7vk", custom_fields={"frt_minutes": 12.5, "sla_met": True}, status="solved"
    )
    assert answer["id"] == "gv6dy7vk"
    body = json.loads(route.calls[0].request.content)
    assert body == {
        "custom_fields": [
            {"code": "frt_minutes", "value": "12.5"},
            {"code": "sla_met", "value": "Y"},
        ],
        "status": "R",
    }
    assert cursor("5") == "eyJpZCI6IjUifQ=="  # LiveAgent's documented example


def test_from_settings_builds_a_paced_connector_per_source():
    settings = LiveAgentSettings(url="https://acme.ladesk.com/", api_key="k-1", rate_limit=120)
    options = SourceOptions(env_prefix="LA_EU_", timeout=12.0, max_retries=3)
    connector = LiveAgentConnector.from_settings("la_eu", settings, options)
    assert connector.source == "la_eu"
    assert str(connector.client.base_url) == "https://acme.ladesk.com/api/v3/"
    assert connector.client.auth_hint == "check LA_EU_API_KEY"
    other = LiveAgentConnector.from_settings("la_other", settings, options)
    assert connector.client.limiter is other.client.limiter  # one limiter per API key


def test_ticket_fields_are_written_one_ticket_at_a_time_with_a_result_each():
    router = respx.Router(assert_all_called=False)
    ok = router.put(f"{API}/tickets/gv6dy7vk").mock(
        return_value=httpx.Response(200, json={"id": "gv6dy7vk"})
    )
    router.put(f"{API}/tickets/gone0000").mock(
        return_value=httpx.Response(404, json={"message": "Ticket not found"})
    )
    busy = router.put(f"{API}/tickets/busy0000").mock(
        return_value=httpx.Response(503, json={"message": "Try later"})
    )
    connector = make_connector(router, max_retries=1)
    results = connector.writer.write_ticket_fields(
        [
            FieldValues("gv6dy7vk", {"frt_minutes": 12.5, "sla_met": True}),
            FieldValues("gone0000", {"frt_minutes": 3}),
            FieldValues("busy0000", {"frt_minutes": 4}),
        ]
    )
    assert [(r.record_id, r.status) for r in results] == [
        ("gv6dy7vk", "ok"),
        ("gone0000", "failed"),
        ("busy0000", "doubt"),  # a 5xx: it may have been applied, read back before resending
    ]
    assert busy.call_count == 1
    assert json.loads(ok.calls[0].request.content) == {
        "custom_fields": [
            {"code": "frt_minutes", "value": "12.5"},
            {"code": "sla_met", "value": "Y"},
        ]
    }


def test_posts_need_a_recipient_and_carry_their_key_in_the_subject():
    router = respx.Router(assert_all_called=False)
    created = router.post(f"{API}/tickets").mock(
        return_value=httpx.Response(200, json={"id": "n0000001", "code": "NEW-001"})
    )
    post = Post("digest:weekly:2026-W48", "Weekly KPI digest", "FRT median 42 min")
    result = make_connector(router).writer.post(post)
    assert result.status == "failed" and "LIVEAGENT_POST_RECIPIENT" in (result.reason or "")
    result = make_connector(router, post_recipient="support@acme.example").writer.post(post)
    assert (result.status, result.ref) == ("ok", "n0000001")
    body = json.loads(created.calls[0].request.content)
    assert body["subject"] == "Weekly KPI digest [digest:weekly:2026-W48]"
    assert (body["do_not_send_mail"], body["status"]) == ("Y", "R")


def test_a_record_id_is_one_path_segment_whatever_it_holds():
    """An id from the vendor goes into the URL escaped: `1/../../agents` cannot reach (or write
    to) another endpoint, and a NUL in it is no crash."""
    router = respx.Router(assert_all_called=False)
    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path)
        return httpx.Response(200, json={"id": "x"})

    router.route().mock(side_effect=answer)
    connector = make_connector(router)
    results = connector.writer.write_ticket_fields(
        [FieldValues("1/../../agents", {"a": 1}), FieldValues("x\x00y?z=1", {"a": 1})]
    )
    assert [r.status for r in results] == ["ok", "ok"]
    assert seen == [b"/api/v3/tickets/1%2F..%2F..%2Fagents", b"/api/v3/tickets/x%00y%3Fz%3D1"]
