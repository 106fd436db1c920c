"""Every route of the LiveAgent dialect, called with every query parameter its operation in the
reconstructed v3 document declares (`_page`, `_perPage`, `_from`/`_to`, `_sortDir`, `_sortField`,
`_filters`, `_cursor` pages by the `next_page_cursor` header, `includeQuotedMessages`), every
answer validated against the operation's response schema (tests/sandbox/oas.py). Each parameter
the document declares is read by the route (`Route.params`) or listed in
sandbox.liveagent.UNSERVED with the reason; those answer 400 naming it.

No established LiveAgent client is published on PyPI (Quality Unit's generated
`LiveAgent-api-python` lives on GitHub only, and no Singer/Airbyte/dlt LiveAgent source is in the
registry), so the independent check of this dialect is this document-driven one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from deskpulse.sandbox import SandboxServer
from deskpulse.sandbox.dialect import Route
from deskpulse.sandbox.liveagent import ROUTES, SORTED_BY, UNSERVED
from tests.sandbox import oas

SINCE = "2020-01-01 00:00:00"


@pytest.fixture(scope="module")
def la() -> Iterator[httpx.Client]:
    with (
        SandboxServer(seed=4, tickets=120, rate_limit=False) as sb,
        sb.client("liveagent") as client,
    ):
        yield client


def _op(route: Route) -> oas.Operation:
    op = oas.document("liveagent").operation(route.method, route.path)
    assert op is not None, f"{route.method} {route.path} is not in the document"
    return op


def _declared(op: oas.Operation) -> dict[str, str]:
    """Every parameter of the operation but the path's and the body's, with where it goes."""
    out = {}
    for item in [*op.raw["_shared"], *op.raw.get("parameters", [])]:
        param = op.doc.resolve(item)
        if param.get("in") in ("query", "header"):
            out[param["name"]] = param["in"]
    return out


def _unserved(path: str, name: str) -> bool:
    return any(p == path and n.split("=")[0] == name for p, n in UNSERVED)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_route_reads_or_lists_every_documented_parameter(route: Route) -> None:
    declared = _declared(_op(route))
    assert not set(route.params) - set(declared), f"{route.path}: reads undocumented parameters"
    missing = [n for n in declared if n not in route.params and not _unserved(route.path, n)]
    assert not missing, f"{route.path}: neither served nor in UNSERVED: {missing}"


def test_unserved_names_what_the_document_declares() -> None:
    routes = {r.path: r for r in ROUTES if r.method == "GET"}
    for (path, token), reason in UNSERVED.items():
        assert reason and path in routes, path
        assert token.split("=")[0] in _declared(_op(routes[path])), f"{path}: {token}"


def _cases(route: Route, op: oas.Operation) -> Iterator[tuple[str, dict[str, Any]]]:
    """(token, query) for every query parameter: the token is how UNSERVED names it."""
    field = SORTED_BY.get(route.path)
    for name, where in _declared(op).items():
        if where != "query" or name == "_cursor":
            continue
        if name == "_page":
            yield name, {"_page": 2, "_perPage": 3}
        elif name == "_perPage":
            yield name, {"_perPage": 1}
            yield name, {"_perPage": 100}
        elif name in ("_from", "_to"):
            yield name, {"_from": 0, "_to": 5}
        elif name == "_sortDir":
            yield name, {"_sortDir": "ASC"}
            yield "_sortDir=DESC", {"_sortDir": "DESC"}
        elif name == "_sortField":
            yield name, {"_sortField": field or "date_created", "_sortDir": "ASC"}
            if field:
                yield "_sortField=other", {"_sortField": "id"}
        elif name == "_filters":
            dated = field or ("date_from" if route.path.endswith("/history") else "id")
            yield name, {"_filters": orjson.dumps([[dated, "D>=", SINCE]]).decode()}
            if route.path.endswith("/tickets"):
                yield name, {"_filters": '{"subject": "order"}'}
            if field:
                yield "_filters=other", {"_filters": orjson.dumps([["status", "=", "C"]]).decode()}
        else:  # a flag: includeQuotedMessages
            yield name, {name: "true"}


def _url(client: httpx.Client, path: str) -> str:
    if "{id}" not in path:
        return path
    first = client.get("/api/v3/tickets", params={"_perPage": 1}).json()[0]
    return path.replace("{id}", first["id"])


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.method == "GET"], ids=lambda r: r.path.removeprefix("/api/v3")
)
def test_route_with_every_documented_parameter(la, route: Route) -> None:
    op = _op(route)
    url = _url(la, route.path)
    assert isinstance(oas.checked(op.doc, la, "GET", route.path, url), list | dict)
    problems = []
    for token, query in _cases(route, op):
        answer = la.get(url, params=query)
        unserved = (route.path, token) in UNSERVED or token.endswith("=other")
        try:
            if unserved:
                assert answer.status_code == 400, f"{answer.request.url}: unserved, answered"
                assert token.split("=")[0] in answer.json()["message"]
            else:
                assert answer.is_success, f"{answer.request.url}: {answer.text[:300]}"
                op.check(answer)
        except AssertionError as e:
            problems.append(f"{token}: {e}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if "_cursor" in r.params], ids=lambda r: r.path
)
def test_cursor_pages_follow_the_next_page_cursor_header(la, route: Route) -> None:
    op = _op(route)
    answer = la.get(route.path, params={"_perPage": 5})
    seen: list[str] = []
    for _ in range(3):
        page = op.check(answer)
        assert len(page) == 5
        seen += [row["id"] for row in page]
        cursor = answer.headers["next_page_cursor"]
        answer = la.get(route.path, params={"_perPage": 5, "_cursor": cursor})
    assert len(seen) == len(set(seen)) == 15


def test_writes_answer_in_the_documents_shape(la) -> None:
    doc = oas.document("liveagent")
    url = _url(la, "/api/v3/tickets/{id}")
    ticket = oas.checked(doc, la, "PUT", "/api/v3/tickets/{id}", url, json={"status": "R"})
    assert ticket["status"] == "R"
    created = oas.checked(
        doc,
        la,
        "POST",
        "/api/v3/tickets",
        "/api/v3/tickets",
        json={
            "subject": "Conformance",
            "message": "Hello",
            "recipient": "support@sandbox.test",
            "useridentifier": "customer@example.com",
        },
    )
    assert created["subject"] == "Conformance"
    assert oas.checked(doc, la, "GET", "/api/v3/ping", "/api/v3/ping") == {}
