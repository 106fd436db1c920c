"""The sandbox's Freshdesk dialect against the reconstructed Freshdesk document
(tests/connectors/fixtures/freshdesk): every route is an operation of the document, and every
answer (lists, a ticket with its stats, conversations, writes, the page cap's 400, a 401, a
429) validates against the document's schemas and carries its headers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator

from deskpulse.sandbox import SandboxServer
from deskpulse.sandbox.freshdesk import PREFIX, ROUTES
from tests.connectors.freshdesk_fakes import SPEC_FILE

SPEC = json.loads(SPEC_FILE.read_text())


def _resolved(node: Any) -> Any:
    """The schema with every local $ref replaced by what it points at."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = SPEC
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return _resolved(target)
        return {k: _resolved(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolved(v) for v in node]
    return node


def _check(method: str, path: str, status: int, body: Any) -> None:
    operation = SPEC["paths"][path][method.lower()]
    answer = _resolved(operation["responses"][str(status)])
    schema = answer["content"]["application/json"]["schema"]
    OAS30Validator(schema).validate(body)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_is_an_operation_of_the_document(route) -> None:
    path = route.path.removeprefix(PREFIX)
    assert route.method.lower() in SPEC["paths"].get(path, {}), route.path


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    budgets = {"freshdesk": {"plan": "pro"}}
    with SandboxServer(seed=5, tickets=150, dialects=["freshdesk"], options=budgets) as sb:
        host = sb.host_of("freshdesk")
        with httpx.Client(base_url=host.base_url, headers=host.dialect.auth_headers()) as c:
            yield c


LISTS = {
    "/tickets": {"updated_since": "2020-01-01T00:00:00Z", "include": "stats,requester",
                 "order_by": "updated_at", "order_type": "asc", "per_page": 100},
    "/surveys/satisfaction_ratings": {"created_since": "2020-01-01T00:00:00Z", "per_page": 100},
    "/time_entries": {"per_page": 100},
    "/contacts": {"_updated_since": "2020-01-01T00:00:00Z"},
    "/agents": {},
    "/groups": {},
    "/companies": {},
    "/business_hours": {},
    "/sla_policies": {},
}  # fmt: skip


@pytest.mark.parametrize("path", sorted(LISTS))
def test_lists_validate_and_carry_the_rate_limit_headers(client, path) -> None:
    answer = client.get(f"{PREFIX}{path}", params=LISTS[path])
    assert answer.status_code == 200
    assert answer.json(), path
    _check("GET", path, 200, answer.json())
    assert answer.headers["X-RateLimit-Total"] == "400"  # Pro
    assert int(answer.headers["X-RateLimit-Remaining"]) < 400


def test_one_ticket_its_conversations_and_the_deleted_list_validate(client) -> None:
    ticket = client.get(f"{PREFIX}/tickets/7", params={"include": "stats"}).json()
    _check("GET", "/tickets/{id}", 200, ticket)
    assert ticket["description_text"] and set(ticket["stats"]) >= {"resolved_at", "closed_at"}
    conversations = client.get(f"{PREFIX}/tickets/7/conversations").json()
    _check("GET", "/tickets/{id}/conversations", 200, conversations)
    since = "2020-01-01T00:00:00Z"
    views = {
        view: client.get(f"{PREFIX}/tickets", params={"filter": view, "updated_since": since})
        for view in ("deleted", "spam")
    }
    for view, answer in views.items():
        _check("GET", "/tickets", 200, answer.json())
        assert all(t.get(view) is True for t in answer.json()), view
    assert views["deleted"].json() + views["spam"].json()


def test_a_full_page_links_the_next(client) -> None:
    answer = client.get(f"{PREFIX}/agents", params={"per_page": 2})
    assert answer.headers["Link"].endswith('page=2>; rel="next"')
    last = client.get(f"{PREFIX}/agents", params={"per_page": 100})
    assert "Link" not in last.headers


def test_writes_validate(client) -> None:
    updated = client.put(f"{PREFIX}/tickets/9", json={"custom_fields": {"cf_frt_minutes": 5}})
    _check("PUT", "/tickets/{id}", 200, updated.json())
    note = client.post(f"{PREFIX}/tickets/9/notes", json={"body": "digest", "private": True})
    assert note.status_code == 201
    _check("POST", "/tickets/{id}/notes", 201, note.json())
    created = client.post(f"{PREFIX}/tickets", json={"email": "a@b.example", "subject": "s",
                          "description": "d", "status": 5, "priority": 1})  # fmt: skip
    assert created.status_code == 201
    _check("POST", "/tickets", 201, created.json())
    contact = client.put(f"{PREFIX}/contacts/362000000003", json={"custom_fields": {"x": 1}})
    _check("PUT", "/contacts/{id}", 200, contact.json())
    refused = client.put(f"{PREFIX}/tickets/9", json={"custom_fields": {"frt": 1}})
    assert refused.status_code == 400
    _check("PUT", "/tickets/{id}", 400, refused.json())


def test_errors_validate(client) -> None:
    capped = client.get(f"{PREFIX}/tickets", params={"page": 301})
    assert capped.status_code == 400
    _check("GET", "/tickets", 400, capped.json())
    assert capped.json()["errors"][0]["field"] == "page"
    anonymous = httpx.get(f"{client.base_url}{PREFIX}/agents")
    assert anonymous.status_code == 401
    _check("GET", "/agents", 401, anonymous.json())
    missing = client.get(f"{PREFIX}/tickets/999999")
    assert missing.status_code == 404
    _check("GET", "/tickets/{id}", 404, missing.json())


def test_over_the_ticket_list_cap_the_answer_is_a_429_with_retry_after() -> None:
    """Growth lists 20 ticket pages a minute, beside 200 requests for the account."""
    clock = [5_000_000.0]
    options = {"freshdesk": {"plan": "growth"}}
    with SandboxServer(seed=5, tickets=50, dialects=["freshdesk"], options=options,
                       clock=lambda: clock[0]) as sb:  # fmt: skip
        host = sb.host_of("freshdesk")
        with httpx.Client(base_url=host.base_url, headers=host.dialect.auth_headers()) as c:
            codes = [c.get(f"{PREFIX}/tickets").status_code for _ in range(21)]
            assert codes == [200] * 20 + [429]
            refused = c.get(f"{PREFIX}/tickets")
            assert int(refused.headers["Retry-After"]) >= 1
            _check("GET", "/tickets", 429, refused.json())
            assert c.get(f"{PREFIX}/agents").status_code == 200  # the account's budget is left
