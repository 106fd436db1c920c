"""The one page loop (`HttpClient.paginate`) and its paginators, against respx answers: the
requests each paginator sends, where each stops, the loop guard, the restart of a rejected
stored cursor, and the headers each page carries."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from deskpulse.connectors.endpoints import endpoint
from deskpulse.connectors.errors import BadResponse, PaginationLoopError
from deskpulse.connectors.http import (
    BodyCursor,
    HeaderCursor,
    HttpClient,
    NextUrl,
    PageNumber,
    PageRequest,
    RejectedRequest,
    TimeWatermark,
)

BASE = "https://acme.example.com"


def client(router: respx.Router) -> HttpClient:
    return HttpClient(
        BASE, vendor="acme", transport=httpx.MockTransport(router.handler), sleep=lambda s: None
    )


def sent(router: respx.Router) -> list[dict[str, str]]:
    return [dict(call.request.url.params) for call in router.calls]


def answers(*bodies: Any, headers: list[dict[str, str]] | None = None) -> list[httpx.Response]:
    heads = headers or [{} for _ in bodies]
    return [httpx.Response(200, json=b, headers=h) for b, h in zip(bodies, heads, strict=True)]


def test_next_url_follows_links_next_verbatim_and_stops_without_one() -> None:
    router = respx.Router()
    router.get(f"{BASE}/api/profiles").mock(
        side_effect=answers(
            {"data": [1, 2], "links": {"next": f"{BASE}/api/profiles?page%5Bcursor%5D=b"}},
            {"data": [3], "links": {"next": None}},
        )
    )
    pages = list(
        client(router).paginate(
            "/api/profiles", {"filter": "x"}, paginator=NextUrl(), records="data"
        )
    )
    assert [p.records for p in pages] == [[1, 2], [3]]
    assert sent(router) == [{"filter": "x"}, {"page[cursor]": "b"}]
    assert [p.number for p in pages] == [1, 2]


def test_body_cursor_writes_after_cursor_until_has_more_is_false() -> None:
    router = respx.Router()
    router.get(f"{BASE}/api/v2/groups").mock(
        side_effect=answers(
            {"groups": [{"id": 1}], "meta": {"has_more": True, "after_cursor": "c1"}},
            {"groups": [{"id": 2}], "meta": {"has_more": True, "after_cursor": "c2"}},
            {"groups": [], "meta": {"has_more": False, "after_cursor": None}},
        )
    )
    pages = list(
        client(router).paginate(
            "/api/v2/groups", {"page[size]": 100}, paginator=BodyCursor(), records="groups"
        )
    )
    assert [len(p.records) for p in pages] == [1, 1, 0]
    assert sent(router) == [
        {"page[size]": "100"},
        {"page[size]": "100", "page[after]": "c1"},
        {"page[size]": "100", "page[after]": "c2"},
    ]


def test_an_export_cursor_replaces_start_time_and_ends_at_end_of_stream() -> None:
    router = respx.Router()
    router.get(f"{BASE}/export").mock(
        side_effect=answers(
            {"tickets": [1], "after_cursor": "a", "end_of_stream": False},
            {"tickets": [2], "after_cursor": "b", "end_of_stream": True},
        )
    )
    paginator = BodyCursor(
        cursor="after_cursor",
        param="cursor",
        more=None,
        done="end_of_stream",
        drop=["start_time"],
        sticky=True,
    )
    pages = list(
        client(router).paginate(
            "/export", {"start_time": 0, "include": "m"}, paginator=paginator, records="tickets"
        )
    )
    assert sent(router) == [{"start_time": "0", "include": "m"}, {"include": "m", "cursor": "a"}]
    assert paginator.after(pages[-1]) == "b"


def test_a_repeated_token_is_a_loop_not_an_endless_read() -> None:
    router = respx.Router()
    page = {"groups": [{"id": 1}], "meta": {"has_more": True, "after_cursor": "same"}}
    router.get(f"{BASE}/api/v2/groups").mock(side_effect=answers(page, page, page))
    read = client(router).paginate("/api/v2/groups", paginator=BodyCursor(), records="groups")
    with pytest.raises(PaginationLoopError, match="acme /api/v2/groups: the vendor repeated"):
        list(read)
    assert len(router.calls) == 2  # the second answer repeats the token: no third request


def test_a_stored_cursor_counts_as_seen() -> None:
    router = respx.Router()
    router.get(f"{BASE}/api/v2/groups").mock(
        side_effect=answers({"groups": [], "meta": {"has_more": True, "after_cursor": "old"}})
    )
    read = client(router).paginate(
        "/api/v2/groups", {"page[after]": "old"}, paginator=BodyCursor(), records="groups"
    )
    with pytest.raises(PaginationLoopError):
        list(read)


def test_page_numbers_until_a_short_page_and_a_repeated_page_is_a_loop() -> None:
    router = respx.Router()
    router.get(f"{BASE}/agents").mock(
        side_effect=answers([{"id": 1}, {"id": 2}], [{"id": 3}, {"id": 4}], [{"id": 5}])
    )
    paginator = PageNumber(size=2, param="_page", size_param="_perPage", key=lambda r: r["id"])
    pages = list(client(router).paginate("/agents", paginator=paginator))
    assert [len(p.records) for p in pages] == [2, 2, 1]
    assert [p["_page"] for p in sent(router)] == ["1", "2", "3"]
    assert {p["_perPage"] for p in sent(router)} == {"2"}

    again = respx.Router()
    again.get(f"{BASE}/agents").mock(
        side_effect=answers([{"id": 1}, {"id": 2}], [{"id": 1}, {"id": 2}])
    )
    paginator = PageNumber(size=2, param="_page", size_param="_perPage", key=lambda r: r["id"])
    with pytest.raises(PaginationLoopError, match="page 2 repeats an earlier page"):
        list(client(again).paginate("/agents", paginator=paginator))


def test_page_numbers_can_end_on_the_body_and_at_a_last_page() -> None:
    router = respx.Router()
    router.get(f"{BASE}/search").mock(
        side_effect=answers(*[{"results": [1], "next_page": "more"}] * 3)
    )
    paginator = PageNumber(size=100, last=3, more=lambda p: bool(p.body["next_page"]))
    pages = list(
        client(router).paginate("/search", {"query": "q"}, paginator=paginator, records="results")
    )
    assert len(pages) == 3
    assert sent(router)[-1] == {"query": "q", "page": "3", "per_page": "100"}


def test_header_cursor_reads_the_next_token_from_a_header() -> None:
    router = respx.Router()
    router.get(f"{BASE}/calls").mock(
        side_effect=answers(
            [{"id": "1"}, {"id": "2"}],
            [{"id": "3"}, {"id": "4"}],
            [{"id": "5"}, {"id": "6"}],
            headers=[{"next_page_cursor": "c1"}, {"next_page_cursor": " c2 "}, {}],
        )
    )
    paginator = HeaderCursor(
        header="next_page_cursor", param="_cursor", size=2, size_param="_perPage"
    )
    pages = list(
        client(router).paginate("/calls", {"_perPage": 2, "_filters": "f"}, paginator=paginator)
    )
    assert [p.headers.get("next_page_cursor") for p in pages] == ["c1", " c2 ", None]
    # the cursor replaces the first request's filters; the page size stays
    assert sent(router) == [
        {"_perPage": "2", "_filters": "f"},
        {"_perPage": "2", "_cursor": "c1"},
        {"_perPage": "2", "_cursor": "c2"},
    ]


def test_time_watermark_moves_start_time_to_end_time_until_the_end_of_the_stream() -> None:
    router = respx.Router()
    router.get(f"{BASE}/chats").mock(
        side_effect=answers(
            {"chats": [1], "end_time": 100, "end_id": "x", "end_of_stream": False},
            {"chats": [2], "end_time": 200, "end_id": "y", "end_of_stream": True},
        )
    )
    paginator = TimeWatermark(
        moves={"start_time": "end_time", "start_id": "end_id"},
        done=lambda p: bool(p.body["end_of_stream"]),
    )
    list(
        client(router).paginate(
            "/chats", {"start_time": 5, "limit": 10}, paginator=paginator, records="chats"
        )
    )
    assert sent(router) == [
        {"start_time": "5", "limit": "10"},
        {"start_time": "100", "limit": "10", "start_id": "x"},
    ]

    stuck = respx.Router()
    stuck.get(f"{BASE}/chats").mock(
        side_effect=answers({"chats": [1], "end_time": 5, "end_of_stream": False})
    )
    paginator = TimeWatermark(done=lambda p: bool(p.body["end_of_stream"]))
    with pytest.raises(PaginationLoopError):  # end_time did not move past the start
        list(
            client(stuck).paginate(
                "/chats", {"start_time": 5}, paginator=paginator, records="chats"
            )
        )


def test_a_rejected_stored_cursor_restarts_where_restart_says() -> None:
    router = respx.Router()
    router.get(f"{BASE}/export").mock(
        side_effect=[
            httpx.Response(400, json={"error": "bad cursor"}),
            *answers({"tickets": [1], "after_cursor": "n", "end_of_stream": True}),
        ]
    )
    asked: list[PageRequest] = []

    def restart(exc: RejectedRequest, request: PageRequest) -> PageRequest | None:
        asked.append(request)
        return PageRequest("/export", {"start_time": 42}) if exc.status == 400 else None

    paginator = BodyCursor(cursor="after_cursor", param="cursor", more=None, done="end_of_stream")
    pages = list(
        client(router).paginate(
            "/export", {"cursor": "stale"}, paginator=paginator, records="tickets", restart=restart
        )
    )
    assert [p.records for p in pages] == [[1]]
    assert sent(router) == [{"cursor": "stale"}, {"start_time": "42"}]
    assert asked == [PageRequest("/export", {"cursor": "stale"})]


def test_a_page_of_the_wrong_shape_is_a_bad_response() -> None:
    router = respx.Router()
    router.get(f"{BASE}/agents").mock(return_value=httpx.Response(200, json={"error": "x"}))
    with pytest.raises(BadResponse, match="acme: /agents answered dict, not a list"):
        list(client(router).paginate("/agents", paginator=PageNumber(size=2)))
    router.get(f"{BASE}/groups").mock(return_value=httpx.Response(200, json={"groups": 3}))
    with pytest.raises(BadResponse, match="`groups` is not a list"):
        list(client(router).paginate("/groups", paginator=BodyCursor(), records="groups"))


def test_an_endpoint_row_says_how_it_pages_and_guards_its_parameters() -> None:
    table = {
        "tickets": endpoint(
            "GET",
            "/api/v2/tickets",
            "updated_since",
            "page",
            "per_page",
            bucket="tickets",
            paginator=lambda: PageNumber(size=2),
            records="tickets",
        )
    }
    router = respx.Router()
    router.get(f"{BASE}/api/v2/tickets").mock(
        side_effect=answers({"tickets": [1, 2]}, {"tickets": [3]})
    )
    acme = client(router)
    pages = list(acme.paginate(table["tickets"], {"updated_since": "2026-01-01"}))
    assert [p.records for p in pages] == [[1, 2], [3]]
    assert sent(router)[1] == {"updated_since": "2026-01-01", "page": "2", "per_page": "2"}
    with pytest.raises(AssertionError, match="undeclared parameters"):
        list(acme.paginate(table["tickets"], {"status": "open"}))
