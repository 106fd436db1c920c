"""A respx Klaviyo serving our own JSON fixture (fixtures/klaviyo/account.json): JSON:API pages
with `links.next`, the filters and sorts the connector uses, the revision and key checks."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import respx

from deskpulse.connectors.klaviyo import KlaviyoConnector

FIXTURES = Path(__file__).parent / "fixtures" / "klaviyo"
BASE = "https://a.klaviyo.com"
KEY = "pk_Secret-Klaviyo-Key-42"
NOW = datetime(2026, 12, 1, tzinfo=UTC)

_OP = re.compile(r"([a-z-]+)\(([\w.]+),(.*?)\)(?:,|$)")


def account() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "account.json").read_text())
    return data


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_filter(text: str) -> list[tuple[str, str, str]]:
    """`op(field,value),op(field,value)` -> [(op, field, value)]; a quoted datetime is refused
    as Klaviyo refuses it."""
    found = [(m.group(1), m.group(2), m.group(3)) for m in _OP.finditer(text)]
    if not found:
        raise ValueError(f"invalid filter {text!r}")
    return found


@dataclass
class FakeKlaviyo:
    """The account and its behaviour; `requests` records what the connector sent."""

    data: dict[str, Any] = field(default_factory=account)
    page_size: int | None = None  # serve at most this many records a page
    revision: str = "2026-07-15"
    requests: list[httpx.Request] = field(default_factory=list)
    script: list[httpx.Response] = field(default_factory=list)  # answers served first
    reject_links: set[str] = field(default_factory=set)  # page links answered 400

    def router(self) -> respx.Router:
        router = respx.Router(base_url=BASE, assert_all_called=False)
        router.get("/api/metrics").mock(side_effect=self._metrics)
        router.get("/api/profiles").mock(side_effect=self._profiles)
        router.get("/api/events").mock(side_effect=self._events)
        return router

    def connector(self, sleeps: list[float] | None = None, **options: Any) -> KlaviyoConnector:
        options.setdefault("api_key", KEY)
        options.setdefault("rate_limits", "off")
        options.setdefault("max_retries", 2)
        options.setdefault("now", lambda: NOW)
        slept = sleeps if sleeps is not None else []
        clock = [1000.0]  # a clock only the fake sleep moves: waits are exact, never real

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            clock[0] += seconds

        return KlaviyoConnector(
            "klaviyo",
            transport=httpx.MockTransport(self.router().handler),
            sleep=sleep,
            clock=lambda: clock[0],
            **options,
        )

    # -- endpoints -------------------------------------------------------------------------

    def _check(self, request: httpx.Request) -> httpx.Response | None:
        self.requests.append(request)
        if self.script:
            return self.script.pop(0)
        if request.headers.get("authorization") != f"Klaviyo-API-Key {KEY}":
            return _errors(401, "not_authenticated", "Incorrect authentication credentials.")
        if request.headers.get("revision") != self.revision:
            return _errors(410, "gone", f"Revision {request.headers.get('revision')} is retired.")
        if str(request.url) in self.reject_links:
            return _errors(400, "invalid", "Invalid cursor provided.")
        return None

    def _page(self, request: httpx.Request, items: list[Any], default_size: int) -> httpx.Response:
        size = int(request.url.params.get("page[size]", default_size))
        if self.page_size is not None:
            size = min(size, self.page_size)
        cursor = request.url.params.get("page[cursor]")
        offset = int(base64.urlsafe_b64decode(cursor).decode()) if cursor else 0
        page = items[offset : offset + size]
        links: dict[str, Any] = {"self": str(request.url)}
        if offset + size < len(items):
            params = [(k, v) for k, v in request.url.params.multi_items() if k != "page[cursor]"]
            token = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
            params.append(("page[cursor]", token))
            links["next"] = f"{BASE}{request.url.path}?{urlencode(params)}"
        return httpx.Response(
            200,
            json={"data": page, "links": links},
            headers={
                "RateLimit-Limit": "700",
                "RateLimit-Remaining": "699",
                "RateLimit-Reset": "44",
            },
        )

    def _metrics(self, request: httpx.Request) -> httpx.Response:
        early = self._check(request)
        if early is not None:
            return early
        return self._page(request, self.data["metrics"], 5)

    def _profiles(self, request: httpx.Request) -> httpx.Response:
        early = self._check(request)
        if early is not None:
            return early
        profiles = list(self.data["profiles"])
        for op, name, value in (
            parse_filter(request.url.params.get("filter", ""))
            if request.url.params.get("filter")
            else []
        ):
            if name != "updated" or op != "greater-than" or value.startswith(("'", '"')):
                return _errors(400, "invalid", f"Invalid filter provided: {op}({name})")
            profiles = [p for p in profiles if _when(p["attributes"]["updated"]) > _when(value)]
        if request.url.params.get("sort") == "updated":
            profiles.sort(key=lambda p: (p["attributes"]["updated"], p["id"]))
        return self._page(request, profiles, 20)

    def _events(self, request: httpx.Request) -> httpx.Response:
        early = self._check(request)
        if early is not None:
            return early
        events = list(self.data["events"])
        for op, name, value in parse_filter(request.url.params.get("filter", "")):
            if name == "metric_id" and op == "equals":
                metric = value.strip("\"'")
                events = [e for e in events if e["relationships"]["metric"]["data"]["id"] == metric]
            elif (
                name == "datetime" and op == "greater-or-equal" and not value.startswith(("'", '"'))
            ):
                events = [e for e in events if _when(e["attributes"]["datetime"]) >= _when(value)]
            else:
                return _errors(400, "invalid", f"Invalid filter provided: {op}({name})")
        if request.url.params.get("sort") == "datetime":
            events.sort(key=lambda e: e["attributes"]["datetime"])
        return self._page(request, events, 200)

    def sent(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


def _errors(status: int, code: str, detail: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "errors": [
                {
                    "id": "0000",
                    "status": status,
                    "code": code,
                    "title": detail,
                    "detail": detail,
                    "source": {"pointer": "/data/"},
                }
            ]
        },
    )


def throttled(seconds: str = "0") -> httpx.Response:
    return httpx.Response(
        429,
        json={
            "errors": [
                {
                    "id": "0000",
                    "status": 429,
                    "code": "throttled",
                    "title": "Request was throttled.",
                    "detail": f"Request was throttled. Expected available in {seconds} seconds.",
                    "source": {"pointer": "/data/"},
                }
            ]
        },
        headers={"Retry-After": seconds},
    )
