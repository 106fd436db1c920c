"""The Zendesk connector against respx and our own fixtures (shaped like real responses)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from deskpulse.connectors.base import Connector, Stream
from deskpulse.connectors.errors import (
    AuthError,
    ConfigError,
    PaginationLoopError,
    RecordError,
    StreamUnavailable,
)
from deskpulse.connectors.zendesk import STREAM_NAMES, ZendeskConfig, ZendeskConnector
from deskpulse.connectors.zendesk import normalise as nz
from deskpulse.connectors.zendesk import records as zr
from deskpulse.connectors.zendesk.sla import sla_rows
from deskpulse.kpi_core.canonical import SLA_EVENT_TYPES
from tests.connectors.zendesk_fakes import (
    BASE,
    TOKEN,
    collect,
    fixture,
    make_connector,
    zendesk_router,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def full_run():
    router = zendesk_router()
    connector = make_connector(router)
    result = collect(connector)
    return result, router, connector


# --- protocol, config, secrets ---------------------------------------------------------------


def test_implements_the_connector_protocol():
    connector = make_connector(zendesk_router())
    assert isinstance(connector, Connector)
    assert connector.vendor == "zendesk"
    assert {"read", "write:ticket_fields", "write:user_fields", "write:posts"} <= (
        connector.capabilities
    )
    streams = connector.streams()
    assert all(isinstance(s, Stream) for s in streams)
    assert [s.name for s in streams] == list(STREAM_NAMES)
    assert STREAM_NAMES[0] == "users"  # authors resolve against the users synced first


def test_secrets_never_show():
    config = ZendeskConfig(subdomain="acme", email="a@example.com", api_token=TOKEN)
    assert TOKEN not in repr(config) and TOKEN not in str(config)
    connector = ZendeskConnector("zendesk", config)
    assert TOKEN not in repr(connector)
    oauth = ZendeskConfig(base_url="http://127.0.0.1:9", oauth_token=TOKEN)
    assert TOKEN not in repr(oauth) and TOKEN not in f"{oauth.oauth_token}"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"email": "a@b.c", "api_token": "t"}, "ZENDESK_SUBDOMAIN"),
        ({"subdomain": "acme"}, "ZENDESK_EMAIL and ZENDESK_API_TOKEN"),
        ({"subdomain": "acme", "email": "a@b.c"}, "ZENDESK_API_TOKEN"),
        ({"subdomain": "acme.zendesk.com", "oauth_token": "t"}, "subdomain alone"),
        ({"base_url": "acme.zendesk.com", "oauth_token": "t"}, "ZENDESK_BASE_URL"),
    ],
)
def test_config_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        ZendeskConfig(**values)


def test_base_url_overrides_subdomain_and_oauth_is_bearer():
    router = zendesk_router()
    connector = ZendeskConnector(
        "zendesk",
        ZendeskConfig(subdomain="ignored", base_url=BASE + "/", oauth_token=TOKEN),
        transport=httpx.MockTransport(router.handler),
        rate_limits=None,
    )
    collect(connector, only={"schedules"})
    request = router.calls.last.request
    assert request.url.host == "acme.zendesk.com"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_api_token_is_basic_auth_with_token_suffix(full_run):
    _, router, _ = full_run
    auth = router.calls[0].request.headers["Authorization"]
    assert auth == httpx.BasicAuth("agent@example.com/token", TOKEN)._auth_header
    assert router.calls[0].request.headers["User-Agent"].startswith("deskpulse/")


def test_401_is_fatal_and_names_the_settings_without_the_secret():
    router = zendesk_router()
    router.get("/api/v2/incremental/users/cursor").mock(return_value=httpx.Response(401))
    connector = make_connector(router)
    with pytest.raises(AuthError) as info:
        collect(connector, only={"users"})
    message = str(info.value)
    assert message == (
        "zendesk: authentication failed (401) at "
        "https://acme.zendesk.com/api/v2/incremental/users/cursor: "
        "check ZENDESK_EMAIL and ZENDESK_API_TOKEN"
    )
    assert TOKEN not in message


# --- tickets ---------------------------------------------------------------------------------


def test_tickets_map_onto_canonical_rows(full_run):
    result, _, _ = full_run
    tickets = result.table("tickets")
    t = tickets["101"]
    assert t["created_at"] == utc("2025-03-01T10:00:00")
    assert t["created_at"].tzinfo is not None
    assert t["channel"] == "web"
    assert t["status"] == "open"
    assert t["priority"] == "normal"
    assert t["type"] == "question"
    assert t["requester_id"] == "5001" and t["assignee_id"] == "1002"
    assert t["group"] == "Support"
    assert t["tags"] == "billing;vip"
    assert t["solved_at"] is None and t["closed_at"] is None
    assert t["extra"]["generated_timestamp"] == 1740826800
    assert t["extra"]["metrics"]["reply_time_in_minutes"] == {"calendar": 12, "business": 12}
    assert t["extra"]["satisfaction_score"] == "good"
    # every column of the warehouse table is present (the engine upserts whole rows)
    from deskpulse.kpi_core.canonical import columns

    assert set(t) == set(columns("tickets"))


def test_custom_fields_of_every_type_are_kept_as_typed(full_run):
    result, _, _ = full_run
    fields = result.table("tickets")["101"]["extra"]["custom_fields"]
    assert fields == {
        "31": "order-7781",
        "32": 42.5,
        "33": True,
        "34": ["red", "blue"],
        "35": None,
        "36": 7,
    }


@pytest.mark.parametrize(
    ("via", "channel"),
    [
        ({"channel": "web"}, "web"),
        ({"channel": 4}, "email"),  # via id
        ({"channel": "4"}, "email"),  # via id as text
        ({"channel": 30}, "twitter"),
        ({"channel": "instagram_dm"}, "instagram"),
        ({"channel": "voice"}, "phone"),
        ({"channel": 34}, "phone"),
        ({"channel": "sample_ticket"}, "other"),
        ({"channel": 999}, "other"),
        (None, None),
    ],
)
def test_via_channel_string_or_int(via, channel):
    assert nz.canonical_channel(via)[0] == channel


def test_via_channel_of_a_wrong_type_is_a_record_error():
    with pytest.raises(RecordError):
        nz.canonical_channel({"channel": {"x": 1}})


def test_via_int_and_metric_set_solved_at(full_run):
    result, _, _ = full_run
    t = result.table("tickets")["102"]
    assert t["channel"] == "email"
    assert t["extra"]["via"] == "mail"
    assert t["status"] == "solved"
    assert t["solved_at"] == utc("2025-03-02T08:59:00")  # from the metric_sets sideload
    assert t["group"] == "Billing"
    assert t["assignee_id"] is None


def test_deleted_ticket_is_a_tombstone_and_nothing_else(full_run):
    result, _, _ = full_run
    assert result.table("tickets")["105"]["status"] == "deleted"
    assert "105" not in result.table("social_mentions")


def test_social_tickets_become_mentions(full_run):
    result, _, _ = full_run
    mentions = result.table("social_mentions")
    assert set(mentions) == {"103", "104"}
    m = mentions["103"]
    assert m["network"] == "twitter"
    assert m["ticket_id"] == "103"
    assert m["is_question"] is True
    assert m["first_reply_at"] == utc("2025-03-02T09:45:00")
    assert mentions["104"]["network"] == "twitter"  # via id 30
    assert result.table("tickets")["104"]["closed_at"] == utc("2025-03-02T10:00:00")


def test_same_second_tickets_at_a_page_boundary(full_run):
    result, router, _ = full_run
    # 103 (page 1) and 104 (page 2) share generated_timestamp 1740909600: both arrive, once.
    assert result.emitted["tickets"].count("103") == 1
    assert result.emitted["tickets"].count("104") == 1
    calls = [c.request for c in router.calls if c.request.url.path.endswith("tickets/cursor")]
    first, second = calls[0].url.params, calls[1].url.params
    assert first["start_time"] == "0" and "cursor" not in first
    assert second["cursor"] == "MTc0MDkwOTYwMHwxMDM" and "start_time" not in second
    assert first["include"] == second["include"] == "metric_sets"


def test_ticket_cursor_and_watermark(full_run):
    result, _, _ = full_run
    assert result.cursors["tickets"] == {
        "cursor": "MTc0MTAwMzIwMHwxMDY",
        "generated_timestamp": 1741003200,
    }
    pages = result.pages["tickets"]
    assert pages[0].cursor == {"cursor": "MTc0MDkwOTYwMHwxMDM", "generated_timestamp": 1740909600}


def test_unknown_enum_quarantines_one_record(full_run):
    result, _, _ = full_run
    rejects = [(s, r["id"], why) for s, r, why in result.rejects if s == "tickets"]
    assert rejects == [("tickets", 106, "priority: unknown value 'critical'")]
    assert "106" not in result.table("tickets")


def test_wrong_types_are_record_errors():
    ticket = fixture("tickets_page1.json")["tickets"][0]
    for bad in (
        {"created_at": "yesterday"},
        {"created_at": None},
        {"status": 3},
        {"tags": "a;b"},
        {"custom_fields": {"31": 1}},
        {"custom_fields": [{"id": 1, "value": {"nested": True}}]},
        {"requester_id": {"id": 1}},
    ):
        with pytest.raises(RecordError):
            nz.ticket_rows(zr.TICKETS.value({**ticket, **bad}), lambda g: None)


def test_resuming_sends_the_stored_cursor_only():
    router = zendesk_router()
    connector = make_connector(router)
    result = collect(
        connector,
        cursors={"tickets": {"cursor": "MTc0MTAwMzIwMHwxMDY", "generated_timestamp": 1741003200}},
        only={"tickets"},
    )
    assert len(router.calls) == 1
    params = router.calls.last.request.url.params
    assert params["cursor"] == "MTc0MTAwMzIwMHwxMDY" and "start_time" not in params
    assert result.table("tickets") == {}
    assert result.cursors["tickets"]["cursor"] == "MTc0MTAwMzIwMHwxMDY"


def test_start_time_applies_to_the_first_sync():
    router = zendesk_router()
    connector = make_connector(router, start_time=datetime(2025, 3, 1, tzinfo=UTC))
    collect(connector, only={"tickets"})
    assert router.calls[0].request.url.params["start_time"] == "1740787200"


def test_repeated_cursor_is_a_loop_not_a_hang():
    router = zendesk_router()
    page = fixture("tickets_page1.json")
    page["after_cursor"] = "c-same"
    router.get("/api/v2/incremental/tickets/cursor").mock(
        return_value=httpx.Response(200, json=page)
    )
    connector = make_connector(router)
    with pytest.raises(PaginationLoopError, match="repeated"):
        collect(connector, only={"tickets"})
    ticket_calls = [c for c in router.calls if c.request.url.path.endswith("tickets/cursor")]
    assert len(ticket_calls) == 2  # the second answer repeats the cursor: stop there


# --- users -----------------------------------------------------------------------------------


def test_users_become_agents_and_customers(full_run):
    result, _, _ = full_run
    agents, customers = result.table("agents"), result.table("customers")
    assert set(agents) == {"1001", "1002", "1003", "1004"}
    assert set(customers) == {"5001", "5002", "5003"}
    assert agents["1001"]["role"] == "admin" and agents["1001"]["group"] == "Support"
    assert agents["1002"]["role"] == "agent" and agents["1002"]["group"] == "Billing"
    assert agents["1003"]["role"] == "bot"
    assert agents["1004"]["active"] is False
    assert agents["1004"]["group"] == "2999"  # a group that no longer exists: its id
    assert customers["5001"]["organization"] == "7001"
    assert customers["5001"]["created_at"] == utc("2025-02-01T09:00:00")
    assert result.cursors["users"] == {
        "cursor": "dXNlcnMtMg",
        "staff": {"1001": "admin", "1002": "agent", "1003": "bot", "1004": "agent"},
    }
    # the first page's cursor already holds the staff seen on that page
    assert result.pages["users"][0].cursor["staff"] == {
        "1001": "admin",
        "1002": "agent",
        "1003": "bot",
    }


def test_groups_are_fetched_once_per_run(full_run):
    _, router, _ = full_run
    assert sum(1 for c in router.calls if c.request.url.path == "/api/v2/groups") == 1


def test_unknown_role_is_a_record_error():
    user = fixture("users_page1.json")["users"][0]
    with pytest.raises(RecordError, match="role"):
        nz.user_role(zr.USERS.value({**user, "role": "superhero"}))


# --- ticket events ---------------------------------------------------------------------------


def test_ticket_events_kinds_and_authors(full_run):
    result, _, _ = full_run
    events = result.table("ticket_events")
    assert events["4001"] == {
        "id": "4001",
        "ticket_id": "101",
        "created_at": utc("2025-03-01T10:00:00"),
        "kind": "message",
        "author_id": "5001",
        "author_kind": "customer",
        "public": True,
        "status": None,
        "assignee_id": None,
        "extra": None,
    }
    assert events["4002"]["kind"] == "status" and events["4002"]["status"] == "new"
    assert events["4004"]["author_kind"] == "bot"
    assert events["4005"]["kind"] == "assignment"  # field_name/value shape
    assert events["4005"]["assignee_id"] == "1002"
    assert events["4005"]["author_kind"] == "system"  # author -1: a trigger
    assert events["4007"]["public"] is False and events["4007"]["author_kind"] == "agent"
    assert events["4009"]["public"] is True and events["4009"]["author_kind"] == "agent"
    assert events["4010"]["status"] == "pending"
    assert events["4011"]["author_kind"] == "agent"  # admins are agents here
    assert events["4012"]["kind"] == "assignment" and events["4012"]["assignee_id"] is None
    # priority changes and notifications are not KPI inputs
    assert "4003" not in events and "4006" not in events


def test_ticket_events_same_second_boundary_neither_lost_nor_duplicated(full_run):
    result, router, _ = full_run
    emitted = result.emitted["ticket_events"]
    assert len(emitted) == len(set(emitted))
    assert {"4007", "4008", "4009", "4010"} <= set(emitted)
    calls = [c.request for c in router.calls if c.request.url.path.endswith("ticket_events")]
    assert [c.url.params["start_time"] for c in calls] == ["0", "1740823920"]
    assert all(c.url.params["include"] == "comment_events" for c in calls)
    assert result.cursors["ticket_events"] == {"start_time": 1740826800}


def test_full_run_needs_no_staff_lookup(full_run):
    _, router, _ = full_run
    assert not any(c.request.url.path == "/api/v2/users" for c in router.calls)


def test_incremental_run_resolves_authors_from_the_staff_map_in_the_users_cursor():
    router = zendesk_router()
    first = collect(make_connector(router))
    router.calls.clear()
    # next sync: users resume from their cursor (nothing changed), events from the beginning
    cursors = {"users": first.cursors["users"]}
    result = collect(make_connector(router), cursors=cursors)
    assert not any(c.request.url.path == "/api/v2/users" for c in router.calls)
    users_calls = [c for c in router.calls if c.request.url.path.endswith("users/cursor")]
    assert len(users_calls) == 1
    events = result.table("ticket_events")
    assert events["4001"]["author_kind"] == "customer"
    assert events["4004"]["author_kind"] == "bot"
    assert events["4009"]["author_kind"] == "agent"
    assert result.cursors["users"]["staff"] == first.cursors["users"]["staff"]


def test_staff_list_unavailable_degrades_to_customers():
    router = zendesk_router()
    router.get("/api/v2/users").mock(return_value=httpx.Response(404))
    result = collect(make_connector(router), only={"ticket_events"})
    events = result.table("ticket_events")
    assert events["4009"]["author_kind"] == "customer"  # unknowable: documented fallback
    assert events["4005"]["author_kind"] == "system"
    assert not result.rejects


def test_incremental_run_loads_staff_once_for_unknown_authors():
    router = zendesk_router()
    connector = make_connector(router)
    result = collect(connector, only={"ticket_events"})
    staff_calls = [c.request for c in router.calls if c.request.url.path == "/api/v2/users"]
    assert len(staff_calls) == 1
    assert staff_calls[0].url.params.get_list("role[]") == ["agent", "admin"]
    events = result.table("ticket_events")
    assert events["4001"]["author_kind"] == "customer"
    assert events["4004"]["author_kind"] == "bot"
    assert events["4009"]["author_kind"] == "agent"


def test_time_based_end_time_that_does_not_move_is_a_loop():
    router = zendesk_router()
    page = fixture("ticket_events_page1.json")
    page["end_time"] = 0  # the vendor keeps answering "start again at 0"
    router.get("/api/v2/incremental/ticket_events").mock(
        return_value=httpx.Response(200, json=page)
    )
    connector = make_connector(router)
    with pytest.raises(PaginationLoopError):
        collect(connector, only={"ticket_events"})
    assert len(router.calls) <= 2


# --- CSAT, SLA, schedules, Talk, Chat --------------------------------------------------------


def test_satisfaction_ratings(full_run):
    result, router, _ = full_run
    surveys = result.table("survey_responses")
    assert set(surveys) == {"6001", "6002", "6003"}  # unoffered is skipped
    assert surveys["6001"]["score"] == 5.0 and surveys["6002"]["score"] == 1.0
    assert surveys["6003"]["score"] is None  # offered, not answered
    assert surveys["6001"]["survey"] == "csat"
    assert (surveys["6001"]["scale_min"], surveys["6001"]["scale_max"]) == (1.0, 5.0)
    assert surveys["6002"]["comment"] == "Too slow"
    assert surveys["6001"]["customer_id"] == "5001" and surveys["6001"]["agent_id"] == "1002"
    # watermark: the newest updated_at seen
    assert result.cursors["satisfaction_ratings"] == {
        "start_time": int(utc("2025-03-04T08:30:00").timestamp())
    }
    request = next(c.request for c in router.calls if "satisfaction" in c.request.url.path)
    assert request.url.params["start_time"] == "0"
    assert request.url.params["page[size]"] == "100"


def test_an_answered_rating_is_dated_when_answered_an_offer_when_offered():
    # Offered on 31 January, answered on 1 February: February's CSAT, as LiveAgent dates the
    # customer's rating message (the same ticket falls into the same period in both).
    answered = {
        "id": 7,
        "score": "good",
        "created_at": "2026-01-31T23:00:00Z",
        "updated_at": "2026-02-01T08:00:00Z",
    }
    (row,) = nz.rating_rows(answered)
    assert row.values["created_at"] == utc("2026-02-01T08:00:00")
    (offer,) = nz.rating_rows({**answered, "score": "offered"})
    assert offer.values["created_at"] == utc("2026-01-31T23:00:00")
    (no_update,) = nz.rating_rows({**answered, "updated_at": None})
    assert no_update.values["created_at"] == utc("2026-01-31T23:00:00")


def test_unknown_csat_score_is_a_record_error():
    with pytest.raises(RecordError, match="score"):
        nz.rating_rows({"id": 1, "score": "meh", "created_at": "2025-01-01T00:00:00Z"})


def test_sla_events(full_run):
    result, _, _ = full_run
    sla = result.table("sla_events")
    assert set(sla) == {"9001", "9002", "9003", "9004"}
    assert sla["9001"]["target_minutes"] == 60.0 and sla["9001"]["business_hours"] is True
    assert sla["9001"]["extra"]["policy"] == "Urgent"
    assert sla["9003"]["time"] == utc("2025-03-01T11:30:00")
    # Zendesk's event words become the neutral vocabulary; the vendor's own word is kept.
    assert {k: (r["type"], r["raw_type"]) for k, r in sla.items()} == {
        "9001": ("applied", "apply_sla"),
        "9002": ("fulfilled", "fulfill"),
        "9003": ("breached", "breach"),
        "9004": ("measured", "measure"),
    }
    assert result.cursors["sla_events"] == {"start_time": 1740828600}


@pytest.mark.parametrize(
    ("zendesk", "neutral"),
    [
        ("apply_sla", "applied"),
        ("apply_group_sla", "applied"),
        ("activate", "started"),
        ("pause", "paused"),
        ("fulfill", "fulfilled"),
        ("breach", "breached"),
        ("measure", "measured"),
        ("update_status", "updated"),
    ],
)
def test_every_ticket_metric_event_type_maps_to_the_neutral_vocabulary(zendesk, neutral):
    event = {"id": 1, "ticket_id": 2, "metric": "reply_time", "instance_id": 1,
             "type": zendesk, "time": "2025-03-01T10:00:00Z"}  # fmt: skip
    (row,) = sla_rows(event)
    assert (row.values["type"], row.values["raw_type"]) == (neutral, zendesk)
    assert neutral in SLA_EVENT_TYPES


def test_an_unknown_ticket_metric_event_type_is_a_record_error():
    event = {"id": 1, "ticket_id": 2, "metric": "reply_time", "type": "teleport",
             "time": "2025-03-01T10:00:00Z"}  # fmt: skip
    with pytest.raises(RecordError, match="type: unknown value 'teleport'"):
        sla_rows(event)


def test_schedules_with_iana_zones_and_holidays(full_run):
    result, _, _ = full_run
    schedules = result.table("schedules")
    berlin, us = schedules["11"], schedules["12"]
    assert berlin["time_zone"] == "Europe/Berlin"
    assert us["time_zone"] == "America/Los_Angeles"
    assert berlin["intervals"][0] == {"start_minute": 1980, "end_minute": 2460}
    assert berlin["holidays"][0] == {
        "name": "Christmas",
        "start_date": "2025-12-25",
        "end_date": "2025-12-26",
    }
    assert us["holidays"] == []
    assert "schedules" not in result.cursors  # re-read every run


def test_every_rails_zone_is_a_real_iana_key():
    from zoneinfo import ZoneInfo

    from deskpulse.connectors.timezones import RAILS_TO_IANA

    for key in RAILS_TO_IANA.values():
        ZoneInfo(key)


def test_calls(full_run):
    result, _, _ = full_run
    calls = result.table("calls")
    answered, abandoned, voicemail = calls["7001"], calls["7002"], calls["7003"]
    assert answered["outcome"] == "answered"
    assert answered["queued_at"] == utc("2025-03-01T09:00:00")
    assert answered["answered_at"] == utc("2025-03-01T09:00:15")
    assert answered["talk_seconds"] == 300.0 and answered["hold_seconds"] == 10.0
    assert answered["wrap_seconds"] == 30.0 and answered["ticket_id"] == "103"
    assert abandoned["outcome"] == "abandoned" and abandoned["answered_at"] is None
    assert voicemail["outcome"] == "voicemail"
    assert result.cursors["calls"] == {"start_time": 1740820800}


def test_talk_export_whose_next_page_is_never_null_ends():
    router = zendesk_router()
    connector = make_connector(router)
    result = collect(connector, only={"calls"})
    # next_page is set, but count (3) is below a full page: done after one request
    assert len(router.calls) == 1
    assert len(result.table("calls")) == 3


def test_talk_full_page_repeating_its_next_page_is_a_loop():
    router = zendesk_router()
    page = fixture("calls.json")
    page["count"] = 1000
    page["end_time"] = 0
    router.get("/api/v2/channels/voice/stats/incremental/calls").mock(
        return_value=httpx.Response(200, json=page)
    )
    with pytest.raises(PaginationLoopError):
        collect(make_connector(router), only={"calls"})


def test_unknown_call_status_is_a_record_error():
    call = fixture("calls.json")["calls"][0]
    with pytest.raises(RecordError, match="completion_status"):
        nz.call_rows({**call, "completion_status": "teleported"})


def test_chats(full_run):
    result, router, _ = full_run
    chats = result.table("chats")
    a, b = chats["2503.77.A"], chats["2503.77.B"]
    assert a["outcome"] == "answered" and a["agent_id"] == "1002" and a["ticket_id"] == "101"
    assert a["answered_at"] == utc("2025-03-01T08:00:25")
    assert a["messages"] == 7
    assert b["outcome"] == "missed" and b["answered_at"] is None
    assert result.cursors["chats"] == {"start_time": 1740817860, "start_id": "2503.77.B"}
    request = next(c.request for c in router.calls if "chat" in c.request.url.path)
    assert request.url.params["fields"] == "chats(*)"


def test_chat_api_refusing_token_auth_skips_the_stream_only():
    router = zendesk_router()
    router.get("/api/v2/chat/incremental/chats").mock(return_value=httpx.Response(401))
    with pytest.raises(StreamUnavailable, match="ZENDESK_OAUTH_TOKEN"):
        collect(make_connector(router), only={"chats"})


@pytest.mark.parametrize("status", [403, 404])
def test_a_stream_the_plan_forbids_is_unavailable(status):
    router = zendesk_router()
    router.get("/api/v2/channels/voice/stats/incremental/calls").mock(
        return_value=httpx.Response(status)
    )
    connector = make_connector(router)
    with pytest.raises(StreamUnavailable):
        collect(connector, only={"calls"})
    # the other streams are unaffected
    assert collect(make_connector(zendesk_router()), only={"chats"}).table("chats")


# --- rate limits, retries, write-back --------------------------------------------------------


def _endless_ticket_export(router, pages: int, sent: list[float], clock: list[float], headers=None):
    """The tickets export as `pages` empty pages; records when each request arrived."""

    def page(request: httpx.Request) -> httpx.Response:
        sent.append(clock[0])
        n = len(sent)
        body = {"tickets": [], "after_cursor": f"c{n}", "end_of_stream": n >= pages}
        return httpx.Response(200, json=body, headers=(headers or {}).get(n, {}))

    router.get("/api/v2/incremental/tickets/cursor").mock(side_effect=page)


def test_default_pacing_spends_the_incremental_budget_without_429():
    """The connector's own requests (not the limiter alone): the tickets export is paced at
    Zendesk's 10 a minute, and the budget is spent, not wasted."""
    router = zendesk_router()
    clock = [0.0]
    sent: list[float] = []
    _endless_ticket_export(router, 25, sent, clock)

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    connector = ZendeskConnector(
        "zendesk",
        ZendeskConfig(subdomain="acme", email="a@example.com", api_token=TOKEN),
        transport=httpx.MockTransport(router.handler),
        sleep=sleep,
    )
    connector.client.limiter._clock = lambda: clock[0]
    collect(connector, only={"tickets"})
    assert len(sent) == 25
    assert all(sum(1 for t in sent if s <= t < s + 60) <= 10 for s in sent)
    # 10, 10 a minute later (and 1% + 0.15 s for a late arrival: PACING_MARGIN, _SLACK), 5
    assert sent[9] == 0.0 and sent[10] == pytest.approx(60.75) and sent[20] == pytest.approx(121.5)


def test_zendesk_rate_limit_headers_hold_the_next_request():
    """`Zendesk-RateLimit-incremental-exports: remaining=0; resets=45` holds the next export
    request 45 s; the account-wide `ratelimit-remaining: 0` holds every request."""
    router = zendesk_router()
    sent: list[float] = []
    headers = {
        1: {"Zendesk-RateLimit-incremental-exports": "total=10; remaining=0; resets=45"},
        3: {"ratelimit-remaining": "0", "ratelimit-reset": "9"},
    }
    clock = [0.0]
    _endless_ticket_export(router, 4, sent, clock, headers)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    connector = make_connector(router, sleep=sleep)  # no pacing: only the headers hold it
    connector.client.limiter._clock = lambda: clock[0]
    collect(connector, only={"tickets"})
    assert sent == [0.0, 45.0, 45.0, 54.0]
    assert sleeps == [45.0, 9.0]


def test_429_on_an_export_is_retried_after_retry_after():
    router = zendesk_router()
    route = router.get("/api/v2/incremental/ticket_metric_events")
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(200, json=fixture("ticket_metric_events.json")),
    ]
    sleeps: list[float] = []
    connector = make_connector(router, sleeps)
    result = collect(connector, only={"sla_events"})
    assert 7.0 in sleeps
    assert len(result.table("sla_events")) == 4
    assert connector.stats.throttled == 1 and connector.stats.retries == 1


def test_update_ticket_puts_the_fields():
    router = zendesk_router()
    route = router.put("/api/v2/tickets/101").mock(
        return_value=httpx.Response(200, json={"ticket": {"id": 101, "status": "solved"}})
    )
    connector = make_connector(router)
    assert connector.writer.update_ticket(101, {"status": "solved"}) == {
        "id": 101,
        "status": "solved",
    }
    assert route.calls.last.request.content == b'{"ticket":{"status":"solved"}}'


def test_unknown_stream_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown stream"):
        make_connector(zendesk_router(), streams=["tickets", "macros"])


def test_no_page_is_asked_for_past_the_end(full_run):
    _, router, _ = full_run
    paths = [c.request.url.path for c in router.calls]
    assert paths.count("/api/v2/incremental/tickets/cursor") == 2  # page 2 says end_of_stream
    assert paths.count("/api/v2/incremental/ticket_events") == 2


def test_groups_list_forbidden_names_groups_by_id():
    router = zendesk_router()
    router.get("/api/v2/groups").mock(return_value=httpx.Response(403))
    result = collect(make_connector(router), only={"tickets"})
    assert result.table("tickets")["101"]["group"] == "2001"
    assert not [r for r in result.rejects if r[0] == "tickets" and r[1]["id"] != 106]


def test_normalise_does_no_io(full_run):
    """Lookups happen in pages(); normalising a page again sends nothing."""
    _, router, connector = full_run
    before = len(router.calls)
    streams = {s.name: s for s in connector.streams()}
    for record in fixture("ticket_events_page1.json")["ticket_events"]:
        list(streams["ticket_events"].normalise(record))
    for record in fixture("tickets_page1.json")["tickets"]:
        list(streams["tickets"].normalise(record))
    assert len(router.calls) == before


def test_a_rejected_ticket_cursor_restarts_from_the_watermark():
    router = zendesk_router()

    def tickets(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor") == "expired":
            return httpx.Response(400, json={"error": "InvalidPaginationParameter"})
        assert request.url.params["start_time"] == "1740909600"
        return httpx.Response(200, json=fixture("tickets_page2.json"))

    router.get("/api/v2/incremental/tickets/cursor").mock(side_effect=tickets)
    cursor = {"cursor": "expired", "generated_timestamp": 1740909600}
    result = collect(make_connector(router), cursors={"tickets": cursor}, only={"tickets"})
    assert set(result.table("tickets")) == {"104", "105"}
    assert result.cursors["tickets"]["cursor"] == "MTc0MTAwMzIwMHwxMDY"


def test_a_rejected_request_without_a_watermark_is_a_stream_error():
    from deskpulse.connectors.errors import BadResponse

    router = zendesk_router()
    router.get("/api/v2/incremental/tickets/cursor").mock(return_value=httpx.Response(422))
    with pytest.raises(BadResponse, match="HTTP 422"):
        collect(make_connector(router), cursors={"tickets": {"cursor": "x"}}, only={"tickets"})


def test_a_rejected_users_cursor_rereads_all_users():
    router = zendesk_router()

    def users(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        if cursor == "expired":
            return httpx.Response(400)
        if cursor == "dXNlcnMtMQ":
            return httpx.Response(200, json=fixture("users_page2.json"))
        assert request.url.params["start_time"] == "0"
        return httpx.Response(200, json=fixture("users_page1.json"))

    router.get("/api/v2/incremental/users/cursor").mock(side_effect=users)
    cursors = {"users": {"cursor": "expired"}}
    result = collect(make_connector(router), cursors=cursors, only={"users"})
    assert len(result.table("agents")) == 4 and len(result.table("customers")) == 3


def test_a_record_of_the_wrong_shape_is_quarantined_with_its_raw_json(tmp_path):
    """The decoder reads only the fields we map, but a quarantined record keeps all of its JSON
    (and its sideloaded metric set), with the field and the types in the reason."""
    from sqlalchemy import select

    from deskpulse.sync.engine import run_sync
    from deskpulse.sync.state import Quarantine
    from deskpulse.sync.warehouse import Warehouse, table

    page = fixture("tickets_page1.json")
    page["tickets"][0]["requester_id"] = {"id": 1}
    page["tickets"][1]["child"] = "ignored"
    page["end_of_stream"] = True
    router = zendesk_router()
    router.get("/api/v2/incremental/tickets/cursor").mock(
        return_value=httpx.Response(200, json=page)
    )
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    report = run_sync(warehouse, make_connector(router), streams=["tickets"])

    assert (report.streams[0].records, report.quarantined) == (3, 1)
    quarantine = table(Quarantine.__tablename__)
    with warehouse.connect() as connection:
        (row,) = connection.execute(select(quarantine)).all()
    assert row.reason == "requester_id: expected `int | str | null`, got `object`"
    assert row.location == "id=101"
    assert row.payload["description"] == page["tickets"][0]["description"]
    assert row.payload["metric_set"]["ticket_id"] == 101
    warehouse.dispose()


def test_a_page_of_the_wrong_shape_is_a_stream_error():
    from deskpulse.connectors.errors import BadResponse

    router = zendesk_router()
    router.get("/api/v2/incremental/tickets/cursor").mock(
        return_value=httpx.Response(200, json={"tickets": {"id": 1}})
    )
    with pytest.raises(BadResponse, match="unexpected shape"):
        collect(make_connector(router), only={"tickets"})


def test_ticket_events_do_not_wait_for_the_users_export(tmp_path):
    """A big account's users export (its own 20 requests a minute) takes minutes: the ticket
    events are read meanwhile, their authors told apart by the staff list."""
    import threading

    from sqlalchemy import select

    from deskpulse.sync.engine import run_sync
    from deskpulse.sync.warehouse import Warehouse, table

    events_read = threading.Event()
    router = zendesk_router()

    def events_then_flag(request: httpx.Request) -> httpx.Response:
        last = int(request.url.params["start_time"]) >= 1740823920  # as the fixtures' export
        if last:
            events_read.set()
        return httpx.Response(200, json=fixture(f"ticket_events_page{2 if last else 1}.json"))

    def users_when_events_are_in(request: httpx.Request) -> httpx.Response:
        assert events_read.wait(5), "the ticket events waited for the users export"
        return httpx.Response(200, json=fixture("users_page1.json") | {"end_of_stream": True})

    router.get("/api/v2/incremental/ticket_events").mock(side_effect=events_then_flag)
    router.get("/api/v2/incremental/users/cursor").mock(side_effect=users_when_events_are_in)
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    report = run_sync(warehouse, make_connector(router), streams=["users", "ticket_events"])
    assert report.status == "ok", report.message
    events = table("ticket_events")
    with warehouse.connect() as connection:
        rows = connection.execute(select(events.c.id, events.c.author_kind)).all()
    kinds = {row.id: row.author_kind for row in rows}
    assert kinds["4009"] == "agent" and kinds["4001"] == "customer" and kinds["4005"] == "system"
    warehouse.dispose()
