"""Every route of the Klaviyo dialect, called with every query parameter its operation in
stable.json declares (each filter operator of `x-klaviyo-filters`, each `include`, `sort` and
`additional-fields` value, every `fields[type]`, both ends of `page[size]`, `page[cursor]`
pages), every answer validated against the operation's response schema (tests/sandbox/oas.py).
What the dialect does not serve is sandbox.klaviyo.UNSERVED, with the reason; those answer
Klaviyo's 400 naming the parameter (never a silent wrong answer)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deskpulse.connectors.klaviyo.writes import _job as subscription_job
from deskpulse.sandbox import SandboxServer
from deskpulse.sandbox.dialect import Route
from deskpulse.sandbox.klaviyo import LIST_ID, ROUTES, UNSERVED
from tests.sandbox import oas

_SAMPLE = {"string": "x", "date-time": "2020-01-01T00:00:00Z", "number": 0, "boolean": False}
_REQUIRED = {"/api/campaigns": "equals(messages.channel,'email')"}
"""Filters an operation requires (the document: campaigns are listed per channel)."""


@pytest.fixture(scope="module")
def kv() -> Iterator[tuple[SandboxServer, httpx.Client]]:
    with (
        SandboxServer(seed=5, tickets=150, rate_limit=False) as sb,
        sb.client("klaviyo") as client,
    ):
        yield sb, client


def _url(client: httpx.Client, path: str) -> str:
    if "{id}" not in path:
        return path
    if path.startswith("/api/lists/"):
        return path.replace("{id}", LIST_ID)
    first = client.get("/api/profiles", params={"page[size]": 1}).json()["data"][0]
    return path.replace("{id}", first["id"])


def _value(sample: dict[str, Any] | None, field: str, kind: str) -> Any:
    """A value for a filter on `field`: the sample resource's own when it has one."""
    node: Any = sample or {}
    if field == "id":
        return node.get("id", _SAMPLE[kind])
    node = node.get("attributes", {})
    for part in field.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, str | int | bool) and kind != "date-time" else _SAMPLE[kind]


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str) and not value.endswith("Z"):
        return '"' + value.replace('"', '\\"') + '"'
    return str(value)


def _filters(op: oas.Operation, sample: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
    for field, spec in op.raw.get("x-klaviyo-filters", {}).items():
        kind = spec.get("value", {}).get("format", spec.get("value", {}).get("type", "string"))
        value = _value(sample, field, kind)
        for arity, names in spec["operators"].items():
            for name in names:
                if arity == "none":
                    text = f"{name}({field})"
                elif arity == "list":
                    text = f"{name}({field},[{_literal(value)}])"
                else:
                    text = f"{name}({field},{_literal(value)})"
                yield f"filter={name}({field})", text


def cases(op: oas.Operation, sample: dict[str, Any] | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(token, query) for every parameter value the operation declares; the token is how
    UNSERVED names it."""
    for name, param in op.query.items():
        schema = param.get("schema", {})
        enum = schema.get("items", {}).get("enum") or schema.get("enum") or []
        if name == "filter":
            yield from ((token, {name: text}) for token, text in _filters(op, sample))
        elif name.startswith("fields["):
            yield name, {name: ",".join(enum)}
        elif name == "page[size]":
            for size in (schema.get("minimum", 1), schema.get("maximum", 100)):
                yield name, {name: size}
        elif name != "page[cursor]":  # include, sort, additional-fields: each value
            for value in enum:
                yield f"{name}={value}", {name: value}


def _answer(client: httpx.Client, route: Route, url: str, query: dict[str, Any]) -> httpx.Response:
    if route.path in _REQUIRED:
        extra = query.get("filter")
        query = {**query, "filter": ",".join(f for f in (_REQUIRED[route.path], extra) if f)}
    return client.get(url, params=query or None)  # httpx: params={} drops the URL's query


GETS = [r for r in ROUTES if r.method == "GET"]


def test_every_route_is_the_documents_operation() -> None:
    doc = oas.document("klaviyo")
    for r in ROUTES:
        op = doc.operation(r.method, r.path)
        assert op is not None, f"{r.method} {r.path} is not in stable.json"
        assert op.raw["operationId"] == r.bucket, r.path


def test_unserved_names_what_the_document_declares() -> None:
    doc = oas.document("klaviyo")
    for (path, token), reason in UNSERVED.items():
        op = doc.operation("GET", path)
        assert op is not None and reason, path
        assert token in {t for t, _ in cases(op, None)}, f"{path}: {token} is not in the document"


def _checked(op: oas.Operation, answer: httpx.Response) -> dict[str, Any]:
    assert answer.is_success, f"{answer.request.url}: {answer.status_code} {answer.text[:400]}"
    body: dict[str, Any] = op.check(answer)
    return body


@pytest.mark.parametrize("route", GETS, ids=lambda r: r.path)
def test_route_with_every_documented_parameter(kv, route: Route) -> None:
    _, client = kv
    doc = oas.document("klaviyo")
    op = doc.operation("GET", route.path)
    assert op is not None
    url = _url(client, route.path)
    body = _checked(op, _answer(client, route, url, {}))
    data = body["data"]
    sample = data[0] if isinstance(data, list) and data else data if data else None
    problems: list[str] = []
    for token, query in cases(op, sample):
        try:
            _case(op, route, _answer(client, route, url, query), token)
        except AssertionError as e:  # every deviation of the route at once
            problems.append(f"{token}: {e}")
    assert not problems, "\n".join(problems)


def _case(op: oas.Operation, route: Route, answer: httpx.Response, token: str) -> None:
    if (route.path, token) in UNSERVED:
        name = token.split("=")[0]
        if name.startswith("fields[") and answer.status_code == 200:
            kind = name[len("fields[") : -1]
            found = [*answer.json().get("included", []), *answer.json()["data"]]
            assert all(r["type"] != kind for r in found if isinstance(r, dict))
            return
        assert answer.status_code == 400, f"{answer.request.url}: unserved but answered"
        (error,) = answer.json()["errors"]
        assert error["source"].get("parameter") == name or name in error["detail"], error
        return
    got = _checked(op, answer)
    if token.startswith("include="):
        assert "included" in got, "ignored"


@pytest.mark.parametrize("route", [r for r in GETS if "{id}" not in r.path], ids=lambda r: r.path)
def test_cursor_pages_follow_links_next(kv, route: Route) -> None:
    _, client = kv
    op = oas.document("klaviyo").operation("GET", route.path)
    assert op is not None
    size = op.query.get("page[size]", {}).get("schema", {}).get("minimum")
    query: dict[str, Any] = {"page[size]": 2} if size is not None else {}
    answer = _answer(client, route, route.path, query)
    seen: list[str] = []
    for _ in range(3):
        body = _checked(op, answer)
        seen += [r["id"] for r in body["data"]]
        url = body["links"].get("next")
        if url is None:
            break
        assert "page%5Bcursor%5D=" in url or "page[cursor]=" in url
        answer = client.get(url)  # as given: it keeps the filter and the page size
    assert len(seen) == len(set(seen)) and seen


def test_writes_answer_in_the_documents_shape(kv) -> None:
    _, client = kv
    doc = oas.document("klaviyo")
    url = _url(client, "/api/profiles/{id}")
    pid = url.rsplit("/", 1)[1]
    body = {"data": {"type": "profile", "id": pid, "attributes": {"properties": {"k": 1}}}}
    got = oas.checked(doc, client, "PATCH", "/api/profiles/{id}", url, json=body)
    assert got["data"]["attributes"]["properties"]["k"] == 1
    job = subscription_job(LIST_ID, ["conformance@example.com"])  # as deskpulse sends it
    answer = client.post("/api/profile-subscription-bulk-create-jobs", json=job)
    assert answer.status_code == 202 and not answer.content
