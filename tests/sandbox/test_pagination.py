"""Pagination exactly as Zendesk does it, over real HTTP."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from deskpulse.sandbox import SandboxServer


def _query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def _walk_cursor(client: httpx.Client, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    q: dict[str, Any] = {"start_time": 0, **params}
    for _ in range(1000):
        body = client.get(path, params=q).json()
        out += body[key]
        assert body["before_cursor"] is None and body["after_cursor"]
        assert body["after_url"].startswith(client.base_url.join(path).copy_with(query=None).scheme)
        if body["end_of_stream"]:
            return out
        q = {"cursor": body["after_cursor"], **params}
    raise AssertionError("cursor export did not end")


def test_ticket_cursor_export_serves_every_ticket_once(sb: SandboxServer, client: httpx.Client):
    path = "/api/v2/incremental/tickets/cursor.json"
    everything = _walk_cursor(client, path, "tickets", per_page=1000)
    stamps = [t["generated_timestamp"] for t in everything]
    assert stamps == sorted(stamps)
    # Pick a page size whose first boundary falls inside a group of same-second tickets.
    split = next(k for k in range(20, len(stamps) - 1) if stamps[k] == stamps[k + 1]) + 1
    tickets = _walk_cursor(client, path, "tickets", per_page=split)
    assert [t["id"] for t in tickets] == list(range(1, sb.account.n_tickets + 1))
    assert tickets[split - 1]["generated_timestamp"] == tickets[split]["generated_timestamp"]
    assert any(t["status"] == "deleted" for t in tickets)


def test_ticket_cursor_export_last_page_and_polling(client: httpx.Client) -> None:
    path = "/api/v2/incremental/tickets/cursor.json"
    first = client.get(path, params={"start_time": 0, "per_page": 1000}).json()
    assert first["end_of_stream"] is True and len(first["tickets"]) == 300
    # Polling the final cursor later returns nothing new, and the same cursor again.
    again = client.get(path, params={"cursor": first["after_cursor"]}).json()
    assert again["tickets"] == [] and again["end_of_stream"] is True
    assert again["after_cursor"] == first["after_cursor"]


def test_ticket_cursor_export_start_time_and_sideload(sb: SandboxServer, client: httpx.Client):
    mid = sb.account.generated_ts(150)
    body = client.get(
        "/api/v2/incremental/tickets/cursor.json",
        params={"start_time": mid, "per_page": 5, "include": "metric_sets"},
    ).json()
    assert all(t["generated_timestamp"] >= mid for t in body["tickets"])
    assert body["tickets"][0]["id"] == sb.account.first_ticket_at(mid) + 1
    # Embedded in each ticket, as the live API answers (README: the sandbox section's evidence).
    assert "metric_sets" not in body
    assert [t["metric_set"]["ticket_id"] for t in body["tickets"]] == [
        t["id"] for t in body["tickets"]
    ]
    plain = client.get(
        "/api/v2/incremental/tickets/cursor.json", params={"start_time": mid, "per_page": 5}
    ).json()
    assert all("metric_set" not in t for t in plain["tickets"])
    excl = client.get(
        "/api/v2/incremental/tickets/cursor.json",
        params={"start_time": 0, "exclude_deleted": "true"},
    ).json()
    assert all(t["status"] != "deleted" for t in excl["tickets"])


def test_bad_cursor_and_missing_start_time(client: httpx.Client) -> None:
    path = "/api/v2/incremental/tickets/cursor.json"
    assert client.get(path).status_code == 400
    r = client.get(path, params={"cursor": "!!!not-a-cursor"})
    assert r.status_code == 400 and r.json()["error"] == "InvalidPaginationParameter"


def test_users_cursor_export(sb: SandboxServer, client: httpx.Client) -> None:
    users = _walk_cursor(client, "/api/v2/incremental/users/cursor.json", "users", per_page=100)
    assert len(users) == sb.account.n_users == len({u["id"] for u in users})
    assert {"end-user", "agent", "admin"} <= {u["role"] for u in users}
    assert any(u["user_fields"]["bot"] for u in users)


def _walk_time(client: httpx.Client, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    q: dict[str, Any] = {"start_time": 0, **params}
    for _ in range(1000):
        body = client.get(path, params=q).json()
        pages.append(body)
        assert body["count"] == len(body[key])
        assert body["next_page"] is not None
        assert int(_query(body["next_page"])["start_time"]) == body["end_time"]
        if body.get("end_of_stream"):
            return pages
        q = {"start_time": body["end_time"], **params}
    raise AssertionError("time-based export did not end")


def test_ticket_events_time_based_paging(sb: SandboxServer, client: httpx.Client) -> None:
    path = "/api/v2/incremental/ticket_events.json"
    pages = _walk_time(client, path, "ticket_events", include="comment_events", per_page=50)
    events = [e for p in pages for e in p["ticket_events"]]
    # The boundary second is served again on the next page: duplicates, never gaps.
    unique = {e["id"]: e for e in events}
    expected = sum(len(sb.account.ticket(i).audits) for i in range(sb.account.n_tickets))
    assert len(unique) == expected
    assert len(events) > len(unique)
    for page in pages:
        stamps = [e["timestamp"] for e in page["ticket_events"]]
        assert stamps == sorted(stamps)
        if stamps:
            assert page["end_time"] == stamps[-1]
    for prev, nxt in itertools.pairwise(pages):
        last_second = {e["id"] for e in prev["ticket_events"] if e["timestamp"] == prev["end_time"]}
        assert last_second <= {e["id"] for e in nxt["ticket_events"]}
    # A page never splits a second, so some pages exceed per_page.
    assert any(p["count"] > 50 for p in pages)
    assert pages[-1]["end_of_stream"] is True


def test_ticket_events_child_events(client: httpx.Client) -> None:
    path = "/api/v2/incremental/ticket_events.json"
    with_comments = client.get(path, params={"start_time": 0, "include": "comment_events"}).json()
    children = [c for e in with_comments["ticket_events"] for c in e["child_events"]]
    comments = [c for c in children if c["event_type"] == "Comment"]
    assert comments and all("body" in c and "public" in c for c in comments)
    assert any(c["public"] is False for c in comments)
    changes = [c for c in children if c["event_type"] == "Change"]
    status = next(c for c in changes if c["field_name"] == "status")
    assert status["status"] == status["value"] and "previous_value" in status
    bare = client.get(path, params={"start_time": 0}).json()
    bare_comments = [
        c for e in bare["ticket_events"] for c in e["child_events"] if c["event_type"] == "Comment"
    ]
    assert bare_comments and all("body" not in c and c["comment_present"] for c in bare_comments)
    updaters = {e["updater_id"] for e in with_comments["ticket_events"]}
    assert -1 in updaters


def test_metric_events_time_based_and_cursor(client: httpx.Client) -> None:
    path = "/api/v2/incremental/ticket_metric_events.json"
    pages = _walk_time(client, path, "ticket_metric_events", per_page=500)
    events = {e["id"]: e for p in pages for e in p["ticket_metric_events"]}
    sla = [e for e in events.values() if e["type"] == "apply_sla"]
    assert sla and {"target", "business_hours", "policy"} <= set(sla[0]["sla"])
    first = client.get(path, params={"start_time": 0, "page[size]": 100}).json()
    assert first["meta"]["has_more"] is True and first["links"]["next"]
    second = client.get(first["links"]["next"]).json()
    ids1 = [e["id"] for e in first["ticket_metric_events"]]
    ids2 = [e["id"] for e in second["ticket_metric_events"]]
    assert not set(ids1) & set(ids2)
    assert ids1 + ids2 == [e["id"] for e in pages[0]["ticket_metric_events"]][:200]


def test_talk_calls_next_page_is_never_null(client: httpx.Client) -> None:
    path = "/api/v2/channels/voice/stats/incremental/calls.json"
    q: dict[str, Any] = {"start_time": 0, "per_page": 40}
    seen: dict[int, dict[str, Any]] = {}
    for _ in range(100):
        body = client.get(path, params=q).json()
        assert set(body) == {"calls", "next_page", "count", "end_time"}
        assert body["next_page"] is not None
        seen.update((c["id"], c) for c in body["calls"])
        if body["count"] < 40:
            break
        q = {"start_time": _query(body["next_page"])["start_time"], "per_page": 40}
    outcomes = Counter(c["completion_status"] for c in seen.values())
    assert outcomes["completed"] and (outcomes["abandoned_in_queue"] or outcomes["voicemail"])
    # Far in the future: an empty page that still points somewhere.
    empty = client.get(path, params={"start_time": 4_000_000_000}).json()
    assert empty["count"] == 0 and empty["calls"] == [] and empty["next_page"]
    assert empty["end_time"] == 4_000_000_000


def test_chats_need_oauth(client: httpx.Client, sb: SandboxServer) -> None:
    path = "/api/v2/chat/incremental/chats"
    assert client.get(path, params={"start_time": 0}).status_code == 401
    bearer = {"Authorization": f"Bearer {sb.env(oauth=True)['ZENDESK_OAUTH_TOKEN']}"}
    with httpx.Client(base_url=sb.base_url, headers=bearer) as oauth:
        assert oauth.get(path, params={"start_time": 0}).status_code == 200


def test_chats_start_id_paging_has_no_duplicates(sb: SandboxServer) -> None:
    bearer = {"Authorization": f"Bearer {sb.env(oauth=True)['ZENDESK_OAUTH_TOKEN']}"}
    with httpx.Client(base_url=sb.base_url, headers=bearer) as client:
        path = "/api/v2/chat/incremental/chats"
        q: dict[str, Any] = {"start_time": 0, "limit": 7, "fields": "chats(*)"}
        ids: list[str] = []
        for _ in range(200):
            body = client.get(path, params=q).json()
            ids += [c["id"] for c in body["chats"]]
            assert body["next_page"]
            if body["count"] < 7:
                break
            q = _query(body["next_page"])
        assert len(ids) == len(set(ids))
        expected = sum(len(sb.account.ticket(i).chats) for i in range(sb.account.n_tickets))
        assert len(ids) == expected


def test_satisfaction_ratings_cursor(sb: SandboxServer, client: httpx.Client) -> None:
    url: str | None = "/api/v2/satisfaction_ratings.json?page[size]=25"
    got: list[dict[str, Any]] = []
    while url:
        body = client.get(url).json()
        got += body["satisfaction_ratings"]
        url = body["links"]["next"]
        assert body["meta"]["has_more"] == bool(url)
    expected = [t.rating.id for i in range(300) if (t := sb.account.ticket(i)).rating]
    assert sorted(r["id"] for r in got) == sorted(expected)
    keys = [(r["updated_at"], r["id"]) for r in got]
    assert keys == sorted(keys)
    bad = client.get("/api/v2/satisfaction_ratings.json", params={"score": "bad"}).json()
    assert bad["satisfaction_ratings"] and {r["score"] for r in bad["satisfaction_ratings"]} == {
        "bad"
    }
    since = got[len(got) // 2]["updated_at"]
    from_mid = client.get(
        "/api/v2/satisfaction_ratings.json",
        params={"start_time": _epoch(since), "page[size]": 100},
    ).json()
    assert all(r["updated_at"] >= since for r in from_mid["satisfaction_ratings"])
    assert "start_time" in (from_mid["links"]["next"] or "start_time")


def _epoch(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def test_users_list_by_role(sb: SandboxServer, client: httpx.Client) -> None:
    first = client.get(
        "/api/v2/users.json", params={"role[]": ["agent", "admin"], "page[size]": 5}
    ).json()
    assert {u["role"] for u in first["users"]} <= {"agent", "admin"}
    assert first["meta"]["has_more"] and "role%5B%5D=agent" in first["links"]["next"]
    staff: list[dict[str, Any]] = list(first["users"])
    url = first["links"]["next"]
    while url:
        body = client.get(url).json()
        staff += body["users"]
        url = body["links"]["next"]
    assert len(staff) == len(sb.account.staff) == len({u["id"] for u in staff})
    everyone = client.get("/api/v2/users.json", params={"page[size]": 100}).json()
    assert everyone["meta"]["has_more"] and len(everyone["users"]) == 100


def test_groups_and_memberships_both_paginations(sb: SandboxServer, client: httpx.Client) -> None:
    first = client.get("/api/v2/groups.json", params={"page[size]": 4}).json()
    assert len(first["groups"]) == 4 and first["meta"]["has_more"] is True
    rest = client.get(first["links"]["next"]).json()
    assert rest["meta"]["has_more"] is False and rest["links"]["next"] is None
    assert len(first["groups"]) + len(rest["groups"]) == len(sb.account.groups)
    offset = client.get("/api/v2/group_memberships.json", params={"per_page": 5}).json()
    assert offset["count"] == len(sb.account.memberships) and offset["next_page"]
    group_ids = {g["id"] for g in first["groups"] + rest["groups"]}
    assert {m["group_id"] for m in offset["group_memberships"]} <= group_ids


def test_schedules_and_holidays(client: httpx.Client) -> None:
    schedules = client.get("/api/v2/business_hours/schedules.json").json()["schedules"]
    assert schedules and all(
        0 <= iv["start_time"] < iv["end_time"] <= 7 * 1440
        for s in schedules
        for iv in s["intervals"]
    )
    holidays = client.get(f"/api/v2/business_hours/schedules/{schedules[0]['id']}/holidays.json")
    assert holidays.status_code == 200 and holidays.json()["holidays"]
    assert client.get("/api/v2/business_hours/schedules/1/holidays.json").status_code == 404
