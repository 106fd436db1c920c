"""Every route of the Zendesk dialect, called with every parameter it reads (ROUTES: the ones
support-oas.yaml declares, and BEYOND_SPEC's from Zendesk's guides), every answer validated
against the operation's response schema (tests/sandbox/oas.py). Each parameter the document
declares on a served route is read by it or listed in sandbox.zendesk.UNSERVED with the reason,
and an unserved one is ignored, as Zendesk ignores what it does not read: the answer is the one
without it. Talk, Chat and business hours (OUTSIDE_SPEC) have no schema in the document: their
answers are checked by tests/sandbox/test_http.py and the connectors' tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deskpulse.sandbox import SandboxServer
from deskpulse.sandbox.dialect import Route
from deskpulse.sandbox.zendesk import BEYOND_SPEC, OUTSIDE_SPEC, ROUTES, UNSERVED
from tests.sandbox import oas
from tests.sandbox.test_zendesk_spec import _ticket_with_audits

VALUES: dict[str, Any] = {
    "filter[name_contains]": "deskpulse",  # the webhooks (sandbox.zendesk.hooks)
    "start_time": 0,
    "end_time": 2_000_000_000,
    "per_page": 3,
    "page": 2,
    "page[size]": 3,
    "exclude_deleted": "true",
    "score": "good",
    "role": "admin",
    "role[]": "agent",
    "sort_order": "desc",
    "sort_by": "updated_at",
    "query": "type:ticket status:open",
    "ids": "1,2,3",
    "start_id": "",
    "limit": 5,
    "fields": "chats(*)",
}
"""A value for each parameter a route reads (cursors come from a first answer)."""
INCLUDES = {
    "/api/v2/incremental/tickets/cursor": "metric_sets",
    "/api/v2/incremental/tickets": "metric_sets",
    "/api/v2/incremental/ticket_events": "comment_events",
    "/api/v2/tickets/show_many": "metric_sets",  # a webhook's named tickets (zendesk.by_id)
}
CURSORS = {"cursor": "after_cursor", "page[after]": "after_cursor", "page[before]": "before_cursor"}


@pytest.fixture(scope="module")
def zd() -> Iterator[tuple[SandboxServer, httpx.Client]]:
    with SandboxServer(seed=8, tickets=120, rate_limit=False) as sb, sb.client() as client:
        created = client.post(
            "/api/v2/tickets.json",
            json={
                "ticket": {
                    "subject": "Conformance",
                    "comment": {"body": "Hi"},
                    "external_id": "c-1",
                }
            },
        )
        assert created.status_code == 201
        yield sb, client


def _declared(op: oas.Operation) -> set[str]:
    names = set()
    for name, param in op.query.items():
        names.add(name)
        if param.get("style") == "deepObject":  # Zendesk's page[size], page[after], page[before]
            names |= {f"{name}[size]", f"{name}[after]", f"{name}[before]"}
    return names


def _documented(route: Route) -> tuple[oas.Operation | None, set[str]]:
    op = oas.document("zendesk").operation(route.method, route.path)
    return op, (_declared(op) if op else set())


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_documented_parameter_is_read_or_unserved(route: Route) -> None:
    op, declared = _documented(route)
    if route.path in OUTSIDE_SPEC:
        assert op is None
        return
    assert op is not None
    missing = sorted(n for n in declared - set(route.params) if (route.path, n) not in UNSERVED)
    assert not missing, f"{route.path}: documented, neither read nor in UNSERVED: {missing}"


def test_unserved_names_documented_parameters_the_route_does_not_read() -> None:
    for (path, name), reason in UNSERVED.items():
        unread = [r for r in ROUTES if r.path == path and name in _documented(r)[1] - set(r.params)]
        assert reason and unread, f"{path}: {name} is not a documented parameter it leaves unread"
    assert not set(BEYOND_SPEC) & set(UNSERVED)


def _url(client: httpx.Client, route: Route) -> str:
    path = route.path
    if path == "/api/v2/users/{id}":
        return path.replace("{id}", str(client.get("/api/v2/users/me").json()["user"]["id"]))
    if path == "/api/v2/business_hours/schedules/{id}/holidays":
        first = client.get("/api/v2/business_hours/schedules").json()["schedules"][0]
        return path.replace("{id}", str(first["id"]))
    if path == "/api/v2/job_statuses/{id}":
        job = client.put("/api/v2/tickets/update_many.json?ids=5", json={"ticket": {"tags": ["x"]}})
        return path.replace("{id}", job.json()["job_status"]["id"])
    return path.replace("{id}", str(_ticket_with_audits(client, 5)))


def _first(route: Route) -> dict[str, Any]:
    """The parameters every call of a route needs."""
    needs: dict[str, Any] = {n: VALUES[n] for n in ("start_time", "query") if n in route.params}
    if route.path == "/api/v2/tickets":
        needs["external_id"] = "c-1"
    if route.path.endswith("/show_many"):
        needs["ids"] = VALUES["ids"]
    return needs


def _cases(client: httpx.Client, route: Route, url: str) -> Iterator[tuple[str, dict[str, Any]]]:
    base = _first(route)
    for name in route.params:
        if name in base:
            continue
        if name in CURSORS:
            size = "per_page" if name == "cursor" else "page[size]"
            first = client.get(url, params={**base, size: 2}).json()
            if name == "page[before]":  # from the second page, back to the first
                after = first["meta"]["after_cursor"]
                first = client.get(url, params={**base, size: 2, "page[after]": after}).json()
            token = first.get("meta", first).get(CURSORS[name])
            yield name, {**base, size: 2, name: token}
        elif name == "include":
            yield name, {**base, name: INCLUDES[route.path]}
        else:
            yield name, {**base, name: VALUES[name]}


# A webhook's routes answer only once one is created (tests/sync/test_hints.py walks them).
GETS = [
    r for r in ROUTES if r.method == "GET" and not (r.stream == "webhooks" and "{id}" in r.path)
]


@pytest.mark.parametrize("route", GETS, ids=lambda r: r.path)
def test_route_with_every_parameter_it_reads(zd, route: Route) -> None:
    sb, client = zd
    op, _ = _documented(route)
    url = _url(client, route)
    problems = []
    headers = {}
    if route.stream == "chat":  # the Chat API takes OAuth tokens only
        headers = {"Authorization": f"Bearer {sb.dialect().oauth_token}"}
    for name, query in [("", _first(route)), *_cases(client, route, url)]:
        answer = client.get(url, params=query or None, headers=headers)
        try:
            assert answer.status_code == 200, f"{answer.request.url}: {answer.text[:300]}"
            if op is not None:
                op.check(answer)
        except AssertionError as e:
            problems.append(f"{name or '(none)'}: {e}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "route", [r for r in GETS if any(p == r.path for p, _ in UNSERVED)], ids=lambda r: r.path
)
def test_an_unserved_parameter_is_ignored(zd, route: Route) -> None:
    _, client = zd
    url = _url(client, route)
    base = _first(route)
    plain = client.get(url, params=base or None)
    for path, name in UNSERVED:
        if path == route.path:
            answer = client.get(url, params={**base, name: "1"})
            assert answer.status_code == plain.status_code == 200, (name, answer.text[:200])
            assert answer.json() == plain.json(), f"{route.path}: {name} changed the answer"


def test_writes_answer_in_the_documents_shape(zd) -> None:
    _, client = zd
    doc = oas.document("zendesk")
    body = {"ticket": {"status": "pending", "comment": {"body": "Checked", "public": False}}}
    got = oas.checked(
        doc, client, "PUT", "/api/v2/tickets/{id}", "/api/v2/tickets/9.json", json=body
    )
    assert got["ticket"]["status"] == "pending"
    jobs = [
        (
            "/api/v2/tickets/update_many",
            "/api/v2/tickets/update_many.json?ids=10,11",
            {"ticket": {"tags": ["a"]}},
        ),
        ("/api/v2/users/update_many", "/api/v2/users/update_many.json", {"users": []}),
    ]
    for template, url, payload in jobs:
        assert oas.checked(doc, client, "PUT", template, url, json=payload)["job_status"]["id"]
    created = oas.checked(
        doc,
        client,
        "POST",
        "/api/v2/tickets",
        "/api/v2/tickets.json",
        json={"ticket": {"subject": "Two", "comment": {"body": "Hello"}, "external_id": "c-2"}},
    )
    assert created["ticket"]["external_id"] == "c-2"
