"""Test helpers: a respx Freshdesk serving our own JSON fixtures (tests/connectors/fixtures/
freshdesk, shaped like Freshdesk's API v2 answers), and a connector factory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import respx

from deskpulse.connectors.freshdesk import FreshdeskConnector

FIXTURES = Path(__file__).parent / "fixtures" / "freshdesk"
SPEC_FILE = FIXTURES / "freshdesk-v2.reconstructed.openapi.json"
BASE = "https://acme.freshdesk.com"
API = f"{BASE}/api/v2"
KEY = "fd-Secret-Key-77"
START = "1970-01-01T00:00:00Z"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def first_page(rows: Any) -> Any:
    """Serves `rows` on page 1 and an empty page after it."""

    def handler(request: httpx.Request, **_: str) -> httpx.Response:
        first = request.url.params.get("page", "1") == "1"
        return httpx.Response(200, json=rows if first else [])

    return handler


def freshdesk_routes(router: respx.Router) -> respx.Router:
    views = {None: "tickets.json", "deleted": "deleted.json", "spam": "spam.json"}

    def tickets(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if params.get("updated_since") != START or params.get("page", "1") != "1":
            return httpx.Response(200, json=[])
        return httpx.Response(200, json=fixture(views[params.get("filter")]))

    def conversations(request: httpx.Request, ticket_id: str) -> httpx.Response:
        path = FIXTURES / f"conversations_{ticket_id}.json"
        rows = json.loads(path.read_text()) if path.exists() else []
        return first_page(rows)(request)

    router.get(f"{API}/tickets").mock(side_effect=tickets)
    router.get(url__regex=rf"{API}/tickets/(?P<ticket_id>\d+)/conversations").mock(
        side_effect=conversations
    )
    for name, path in (
        ("agents", "agents"),
        ("groups", "groups"),
        ("companies", "companies"),
        ("contacts", "contacts"),
        ("ratings", "surveys/satisfaction_ratings"),
        ("time_entries", "time_entries"),
    ):
        router.get(f"{API}/{path}").mock(side_effect=first_page(fixture(f"{name}.json")))
    for name in ("business_hours", "sla_policies"):
        router.get(f"{API}/{name}").mock(
            return_value=httpx.Response(200, json=fixture(f"{name}.json"))
        )
    return router


def freshdesk_router() -> respx.Router:
    return freshdesk_routes(respx.Router(assert_all_called=False))


def make_connector(router: respx.Router, **options: Any) -> FreshdeskConnector:
    options.setdefault("rate_limit", 0)
    options.setdefault("sleep", lambda seconds: None)
    return FreshdeskConnector(
        "freshdesk",
        domain=BASE,
        api_key=KEY,
        transport=httpx.MockTransport(router.handler),
        **options,
    )
