"""Test helpers: a respx LiveAgent serving our own JSON fixtures (tests/connectors/fixtures/
liveagent, shaped like LiveAgent's v3 responses), and a connector factory that pages by 2."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import respx

from deskpulse.connectors.liveagent import LiveAgentConnector

FIXTURES = Path(__file__).parent / "fixtures" / "liveagent"
BASE = "https://acme.ladesk.com"
API = f"{BASE}/api/v3"
KEY = "la-Secret-Key-77"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def cursor(last_id: str) -> str:
    return base64.b64encode(json.dumps({"id": last_id}, separators=(",", ":")).encode()).decode()


def since(request: httpx.Request) -> str | None:
    raw = request.url.params.get("_filters")
    return json.loads(raw)[0][2] if raw else None


def liveagent_routes(router: respx.Router) -> respx.Router:
    def tickets(request: httpx.Request) -> httpx.Response:
        pages = {
            "1970-01-01 00:00:00": "tickets_page1.json",
            "2026-03-02 12:00:00": "tickets_page2.json",
            "2026-03-03 08:30:00": "tickets_page3.json",
        }
        name = pages.get(since(request) or "")
        return httpx.Response(200, json=fixture(name) if name else [])

    def messages(request: httpx.Request, ticket_id: str) -> httpx.Response:
        path = FIXTURES / f"messages_{ticket_id}.json"
        if request.url.params.get("_page", "1") != "1" or not path.exists():
            return httpx.Response(200, json=[])
        return httpx.Response(200, json=json.loads(path.read_text()))

    def history(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("_cursor")
        if token is None:
            return httpx.Response(
                200, json=fixture("history_page1.json"), headers={"next_page_cursor": cursor("102")}
            )
        if token == cursor("102"):
            return httpx.Response(
                200, json=fixture("history_page2.json"), headers={"next_page_cursor": cursor("104")}
            )
        return httpx.Response(200, json=[])

    def calls(request: httpx.Request) -> httpx.Response:
        rows = fixture("calls.json")
        token = request.url.params.get("_cursor")
        start = 0 if token is None else 2 if token == cursor("c002") else 4
        page = rows[start : start + 2]
        headers = {"next_page_cursor": cursor(page[-1]["id"])} if page else {}
        return httpx.Response(200, json=page, headers=headers)

    def by_date(name: str):
        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(
                200, json=fixture(name) if since(request) == "1970-01-01 00:00:00" else []
            )

        return handler

    def numbered(name: str):
        def handler(request: httpx.Request) -> httpx.Response:
            rows = fixture(name)
            page = int(request.url.params.get("_page", "1"))
            return httpx.Response(200, json=rows[(page - 1) * 2 : page * 2])

        return handler

    router.get(f"{API}/tickets").mock(side_effect=tickets)
    router.get(url__regex=rf"{API}/tickets/(?P<ticket_id>\w+)/messages").mock(side_effect=messages)
    router.get(f"{API}/tickets/history").mock(side_effect=history)
    router.get(f"{API}/calls").mock(side_effect=calls)
    router.get(f"{API}/contacts").mock(side_effect=by_date("contacts.json"))
    router.get(f"{API}/chats").mock(side_effect=by_date("chats.json"))
    router.get(f"{API}/agents").mock(side_effect=numbered("agents.json"))
    router.get(f"{API}/departments").mock(side_effect=numbered("departments.json"))
    router.get(f"{API}/tags").mock(return_value=httpx.Response(200, json=fixture("tags.json")))
    return router


def liveagent_router() -> respx.Router:
    return liveagent_routes(respx.Router(assert_all_called=False))


def make_connector(router: respx.Router, **options: Any) -> LiveAgentConnector:
    options.setdefault("rate_limit", None)
    options.setdefault("page_size", 2)
    options.setdefault("sleep", lambda seconds: None)
    return LiveAgentConnector(
        "liveagent", url=BASE, api_key=KEY, transport=httpx.MockTransport(router.handler), **options
    )
