"""Every path and query parameter the sandbox's Zendesk dialect serves, checked against Zendesk's
OpenAPI document (shared/specs/zendesk/support-oas.yaml), and every new endpoint answered over
HTTP in its Zendesk shape. Talk, Chat and business hours are not in that document (their routes
say so, and the test notices the day they appear)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from deskpulse.sandbox import SandboxServer
from deskpulse.sandbox.zendesk import BEYOND_SPEC, OUTSIDE_SPEC, ROUTES, UNSERVED
from tests.connectors.test_zendesk_spec import (  # noqa: F401 (fixture)
    Operation,
    operations,
)
from tests.sandbox import oas


def _op(ops: dict[tuple[str, str], Operation], method: str, path: str) -> Operation | None:
    """The operation whose path template is this one (placeholder names aside)."""
    shape = re.sub(r"\{[^}]+\}", "{}", path)
    for (m, template), op in ops.items():
        if m == method and re.sub(r"\{[^}]+\}", "{}", template) == shape:
            return op
    return None


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_route_and_its_parameters_are_in_the_spec(operations, route) -> None:  # noqa: F811
    op = _op(operations, route.method, route.path)
    if route.path in OUTSIDE_SPEC:
        assert op is None, f"{route.path} is in the spec now: take it out of OUTSIDE_SPEC"
        return
    assert op is not None, f"{route.method} {route.path} is not in the spec"
    undocumented = sorted(
        p for p in route.params if not op.documents(p) and (route.path, p) not in BEYOND_SPEC
    )
    assert not undocumented, f"{route.path}: parameters not in the spec: {undocumented}"


@pytest.fixture(scope="module")
def zd():
    with SandboxServer(seed=3, tickets=400, rate_limit=False) as sb, sb.client() as client:
        yield sb, client


def _events_of(client: httpx.Client, ticket_id: int) -> list[dict]:
    out, start = {}, 0
    while True:
        body = client.get(
            "/api/v2/incremental/ticket_events.json",
            params={"start_time": start, "include": "comment_events"},
        ).json()
        out.update({e["id"]: e for e in body["ticket_events"] if e["ticket_id"] == ticket_id})
        if body["end_of_stream"]:
            return sorted(out.values(), key=lambda e: (e["timestamp"], e["id"]))
        start = body["end_time"]


def test_a_tickets_audits_comments_and_metrics(zd) -> None:
    _, client = zd
    audits = client.get("/api/v2/tickets/7/audits.json").json()["audits"]
    events = _events_of(client, 7)
    # The same updates, with the same ids, as the ticket events export.
    assert [a["id"] for a in audits] == [e["id"] for e in events]
    assert [a["created_at"] for a in audits] == [e["created_at"] for e in events]
    changes = [e for a in audits for e in a["events"] if e["type"] == "Change"]
    assert changes and all("field_name" in e and "value" in e for e in changes)
    comments = client.get("/api/v2/tickets/7/comments").json()["comments"]
    assert [c["id"] for c in comments] == [
        e["id"] for a in audits for e in a["events"] if e["type"] == "Comment"
    ]
    assert all(c["created_at"] and c["via"] for c in comments)
    metric = client.get("/api/v2/tickets/7/metrics.json").json()["ticket_metric"]
    assert metric["ticket_id"] == 7
    assert client.get("/api/v2/tickets/99999/audits.json").status_code == 404


def test_ticket_audits_newest_first_without_archived_tickets(zd) -> None:
    from deskpulse.sandbox import streams
    from deskpulse.sandbox.zendesk.history import archived

    sb, client = zd
    a = sb.account
    per_ticket = [list(streams.audits_of(a, j)) for j in range(a.n_tickets)]
    dormant = [j + 1 for j, recs in enumerate(per_ticket) if archived(a, recs)]
    expected = sum(len(recs) for j, recs in enumerate(per_ticket) if j + 1 not in dormant)
    assert dormant, "the sandbox archives tickets closed 120 days before its anchor"
    seen: list[tuple[str, int]] = []
    url: str | None = "/api/v2/ticket_audits.json?page[size]=100"
    while url:
        body = client.get(url).json()
        assert len(body["audits"]) <= 100
        seen += [(x["created_at"], x["id"]) for x in body["audits"]]
        assert not {x["ticket_id"] for x in body["audits"]} & set(dormant)
        url = body["links"]["next"]
    assert len(seen) == expected == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    # An archived ticket's own audits come all at once.
    whole = client.get(f"/api/v2/tickets/{dormant[0]}/audits.json").json()
    assert whole["next_page"] is None and whole["count"] == len(per_ticket[dormant[0] - 1])


def test_offset_pagination_stops_at_10000_records(zd) -> None:
    _, client = zd
    assert client.get("/api/v2/ticket_metrics.json?page=100&per_page=100").status_code == 200
    refused = client.get("/api/v2/ticket_metrics.json?page=101&per_page=100")
    assert refused.status_code == 400 and "cursor pagination" in refused.json()["description"]
    first = client.get("/api/v2/ticket_metrics.json?per_page=3").json()
    assert [m["ticket_id"] for m in first["ticket_metrics"]] == [1, 2, 3]
    assert first["count"] == 400


def test_search_tickets_and_users_with_its_cap(zd) -> None:
    sb, client = zd
    a = sb.account
    since = a.anchor_ts - 60 * 86_400
    day = datetime.fromtimestamp(since, UTC)
    query = f"type:ticket updated>{day:%Y-%m-%d}"
    cut = since - since % 86_400 + 86_400  # "updated>DAY": after that whole day
    expected = sorted(
        t.id for t in (a.ticket(i, story=False) for i in range(a.n_tickets)) if t.updated_ts >= cut
    )
    found: list[int] = []
    url: str | None = "/api/v2/search.json"
    params: dict | None = {"query": query, "per_page": 100, "sort_order": "asc"}
    while url:
        body = client.get(url, params=params).json()
        assert body["count"] == len(expected)
        found += [r["id"] for r in body["results"]]
        assert all(r["result_type"] == "ticket" for r in body["results"])
        url, params = body["next_page"], None
    assert sorted(found) == expected
    users = client.get("/api/v2/search", params={"query": "type:user created<2000-01-01"}).json()
    assert users["count"] == 0 and users["results"] == []
    capped = client.get("/api/v2/search", params={"query": "type:user", "page": 11})
    assert capped.status_code == 422


def test_search_by_status_finds_archived_tickets_newest_first(zd) -> None:
    # What the backfill asks to name the archived tickets: closed, updated at or before a second,
    # newest first. Archived tickets are found like the others.
    sb, client = zd
    a = sb.account
    below = a.anchor_ts - 150 * 86_400
    tickets = [a.ticket(i, story=False) for i in range(a.n_tickets)]
    expected = sorted(
        ((t.updated_ts, t.id) for t in tickets if t.status == "closed" and t.updated_ts <= below),
        reverse=True,
    )
    assert len(expected) > 20
    stamp = datetime.fromtimestamp(below, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = client.get(
        "/api/v2/search.json",
        params={
            "query": f"type:ticket status:closed updated<={stamp}",
            "sort_by": "updated_at",
            "sort_order": "desc",
            "per_page": 20,
        },
    ).json()
    assert body["count"] == len(expected)
    assert [r["id"] for r in body["results"]] == [t for _, t in expected[:20]]
    assert {r["status"] for r in body["results"]} == {"closed"}
    # Zendesk's order of statuses: new < open < pending < hold < solved < closed.
    unsolved = client.get("/api/v2/search", params={"query": "type:ticket status<solved"}).json()
    assert unsolved["count"] == sum(1 for t in tickets if t.status not in ("solved", "closed"))
    wrong = client.get("/api/v2/search", params={"query": "type:ticket status:bogus"})
    assert wrong.status_code == 400


def test_time_based_ticket_and_organization_exports(zd) -> None:
    _, client = zd
    ids: set[int] = set()
    start, pages, previous_end = 0, 0, -1
    while True:
        body = client.get(
            "/api/v2/incremental/tickets.json", params={"start_time": start, "per_page": 100}
        ).json()
        pages += 1
        ids |= {t["id"] for t in body["tickets"]}
        assert body["end_time"] >= previous_end and body["count"] == len(body["tickets"])
        previous_end = body["end_time"]
        if body["end_of_stream"]:
            break
        start = body["end_time"]
    assert ids == set(range(1, 401)) and pages >= 4
    orgs = client.get("/api/v2/incremental/organizations", params={"start_time": 0}).json()
    assert orgs["count"] == len(orgs["organizations"]) == 25 and orgs["end_of_stream"] is True
    listed = client.get("/api/v2/organizations.json").json()
    assert [o["id"] for o in listed["organizations"]] == [o["id"] for o in orgs["organizations"]]


def test_start_time_as_a_decimal_and_unknown_parameters(zd) -> None:
    sb, client = zd
    path = "/api/v2/incremental/tickets/cursor.json"
    mid = sb.account.generated_ts(200)
    whole = client.get(path, params={"start_time": mid, "per_page": 5}).json()
    decimal = client.get(path, params={"start_time": f"{mid}.75", "per_page": 5}).json()
    assert [t["id"] for t in decimal["tickets"]] == [t["id"] for t in whole["tickets"]]
    ignored = client.get("/api/v2/groups.json", params={"sort": "name", "whatever": "1"})
    assert ignored.status_code == 200 and ignored.json()["groups"]


def test_account_configuration_endpoints(zd) -> None:
    sb, client = zd
    fields = client.get("/api/v2/ticket_fields.json").json()["ticket_fields"]
    custom = {f["id"] for f in fields if f["removable"]}
    ticket = client.get("/api/v2/tickets/5.json").json()["ticket"]
    assert {f["id"] for f in ticket["custom_fields"]} == custom
    (form,) = client.get("/api/v2/ticket_forms.json").json()["ticket_forms"]
    assert form["id"] == ticket["ticket_form_id"] and custom <= set(form["ticket_field_ids"])
    tags = client.get("/api/v2/tags.json?per_page=100").json()
    a = sb.account
    used = [tag for i in range(a.n_tickets) for tag in a.ticket(i, story=False).tags]
    assert sum(t["count"] for t in tags["tags"]) == len(used)
    assert client.get("/api/v2/macros.json").json()["macros"]
    policies = client.get("/api/v2/slas/policies").json()["sla_policies"]
    assert [p["policy_metrics"][0]["target"] for p in policies] == [1440, 480, 120, 30]


# ---- cursor pagination, where the document offers it ----------------------------------------

CURSOR_PARAMS = ("page[size]", "page[after]", "page[before]")


def _cursor_routes(ops: dict[tuple[str, str], Operation]) -> list[str]:
    """GET routes whose operation the document marks "Cursor pagination"."""
    out = []
    for r in ROUTES:
        op = _op(ops, r.method, r.path) if r.method == "GET" else None
        if op is not None and re.search(r"Cursor pagination(?! is used)", op.description):
            out.append(r.path)
    return out


@pytest.fixture(scope="module")
def cursor_meta():
    """A validator of the document's CursorPaginationMeta (meta and links of a cursor page)."""
    return oas.document("zendesk").validator({"$ref": "#/components/schemas/CursorPaginationMeta"})


def test_every_cursor_route_of_the_document_reads_the_cursor_parameters(operations) -> None:  # noqa: F811
    routes = {r.path: r for r in ROUTES if r.method == "GET"}
    cursor = _cursor_routes(operations)
    assert "/api/v2/tickets/{id}/audits" in cursor and len(cursor) >= 10
    for path in cursor:
        op = _op(operations, "GET", path)
        assert op is not None
        for name in CURSOR_PARAMS:
            if (path, name) in UNSERVED:
                assert name not in routes[path].params
                continue
            assert name in routes[path].params, f"{path} does not read {name}"
        offset = "Offset pagination" in op.description
        for name in ("page", "per_page"):
            served = name in routes[path].params or (path, name) in UNSERVED
            assert served or not offset, f"{path}: the document offers offset pages ({name})"


def _ticket_with_audits(client: httpx.Client, at_least: int) -> int:
    for tid in range(1, 400):
        body = client.get(f"/api/v2/tickets/{tid}/audits.json").json()
        if body.get("next_page") is None and body["count"] >= at_least and tid % 7:
            probe = client.get(f"/api/v2/tickets/{tid}/audits.json", params={"page[size]": 1})
            if "meta" in probe.json():  # not archived
                return tid
    raise AssertionError("no live ticket with enough audits")


def _items(body: dict) -> tuple[str, list]:
    (key,) = [k for k, v in body.items() if isinstance(v, list)]
    return key, body[key]


def _walk(client: httpx.Client, url: str, params, link: str, cursor_meta, backward: bool):
    """Pages following links[link] while meta.has_more, at most 8."""
    pages: list[list] = []
    last: dict = {}
    for _ in range(8):
        r = client.get(url, params=params)
        assert r.status_code == 200, r.text
        last = r.json()
        cursor_meta.validate(last)  # meta and links as the document's CursorPaginationMeta
        _, items = _items(last)
        assert items, "an empty page after a cursor that said more follow"
        pages.append(items)
        meta, links = last["meta"], last["links"]
        assert meta["after_cursor"] and meta["before_cursor"]
        if backward:  # as Zendesk answers: a prev link on every page with records
            assert links["prev"] and "page%5Bbefore%5D=" in links["prev"]
        if link == "next":
            assert (links["next"] is not None) == meta["has_more"]
        if not meta["has_more"]:
            break
        url, params = links[link], None
    return pages, last


def test_cursor_routes_walk_forward_and_back_in_the_documents_shape(
    operations,  # noqa: F811
    cursor_meta,
    zd,
) -> None:
    _, client = zd
    audited = _ticket_with_audits(client, 5)
    walked = 0
    for path in _cursor_routes(operations):
        url = path.replace("{id}", str(audited)) + ".json"
        backward = (path, "page[before]") not in UNSERVED
        whole = client.get(url, params={"page[size]": 100}).json()
        cursor_meta.validate(whole)
        _, records = _items(whole)
        size = max(1, len(records) // 3)
        forward, last = _walk(client, url, {"page[size]": size}, "next", cursor_meta, backward)
        ids = [item.get("id", item.get("name")) for page in forward for item in page]
        assert len(ids) == len(set(ids)), f"{path}: a record served twice"
        assert all(len(page) <= size for page in forward)
        n = min(len(ids), len(records))
        assert ids[:n] == [r.get("id", r.get("name")) for r in records][:n], path
        if backward and len(forward) > 1:
            # Back from the last page walked with links.prev: the same pages, in reverse order.
            back, first = _walk(client, last["links"]["prev"], None, "prev", cursor_meta, True)
            assert list(reversed(back)) == forward[:-1], path
            assert first["meta"]["has_more"] is False  # nothing before the first page
        walked += 1
    assert walked >= 10


@pytest.mark.parametrize(
    ("params", "title"),
    [
        ({"page[size]": 101}, "page[size] must be between 1 and 100"),
        ({"page[size]": 0}, "page[size] must be between 1 and 100"),
        ({"page[after]": "bm90IGEgY3Vyc29y"}, "page[after] is not valid"),
        ({"page[before]": "!!"}, "page[before] is not valid"),
        ({"page[after]": "cDox", "page[before]": "cDox"}, "can't be used together"),
    ],
)
def test_a_bad_cursor_parameter_is_the_documents_400(zd, params, title) -> None:
    _, client = zd
    for path in (
        "/api/v2/groups.json",
        "/api/v2/tickets/7/comments.json",
        "/api/v2/satisfaction_ratings.json",
        "/api/v2/incremental/ticket_metric_events.json?start_time=0",
    ):
        r = client.get(path, params=params)
        assert r.status_code == 400, r.text
        (error,) = r.json()["errors"]
        assert error["code"] == "InvalidPaginationParameter" and title in error["title"]


def test_an_archived_tickets_audits_come_whole_even_when_cursor_pages_are_asked(zd) -> None:
    from deskpulse.sandbox import streams
    from deskpulse.sandbox.zendesk.history import archived

    sb, client = zd
    a = sb.account
    dormant = next(j + 1 for j in range(a.n_tickets) if archived(a, list(streams.audits_of(a, j))))
    body = client.get(f"/api/v2/tickets/{dormant}/audits.json", params={"page[size]": 1}).json()
    # The document: "Audits for Archived Tickets do not support pagination for this endpoint".
    assert "meta" not in body and body["next_page"] is None
    assert len(body["audits"]) == body["count"] > 1


def test_cursor_pages_keep_the_lists_filter(zd) -> None:
    _, client = zd
    first = client.get("/api/v2/users.json", params={"role[]": "admin", "page[size]": 1}).json()
    assert first["users"][0]["role"] == "admin"
    assert "role%5B%5D=admin" in first["links"]["prev"]
    if first["meta"]["has_more"]:
        assert "role%5B%5D=admin" in first["links"]["next"]


@pytest.mark.parametrize(
    "path",
    ["/api/v2/satisfaction_ratings.json", "/api/v2/incremental/ticket_metric_events.json"],
)
def test_a_streams_cursor_pages_walk_back_with_page_before(zd, cursor_meta, path) -> None:
    _, client = zd
    keep = {"start_time": 0}
    forward, last = _walk(client, path, {**keep, "page[size]": 7}, "next", cursor_meta, True)
    assert len(forward) == 8 and last["meta"]["has_more"]
    assert "start_time=0" in last["links"]["prev"]
    back, first = _walk(client, last["links"]["prev"], None, "prev", cursor_meta, True)
    assert list(reversed(back)) == forward[:-1]
    assert first["meta"]["has_more"] is False


def test_ticket_audits_page_back_with_page_before(zd, cursor_meta) -> None:
    _, client = zd
    forward, last = _walk(
        client, "/api/v2/ticket_audits.json", {"page[size]": 40}, "next", cursor_meta, True
    )
    assert len(forward) == 8 and last["meta"]["has_more"]
    back, first = _walk(client, last["links"]["prev"], None, "prev", cursor_meta, True)
    assert list(reversed(back)) == forward[:-1]
    assert first["meta"]["has_more"] is False and first["links"]["next"]
    newest = client.get(
        "/api/v2/ticket_audits.json", params={"page[before]": first["meta"]["before_cursor"]}
    )
    assert newest.json()["audits"] == [] and newest.json()["links"] == {"next": None, "prev": None}
