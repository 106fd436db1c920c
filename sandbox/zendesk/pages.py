"""Zendesk's two paginations of a list endpoint, as support-oas.yaml words them.

Cursor pagination (every list the document marks "Cursor pagination (recommended)"): a request
with `page[size]` (1..MAX_PAGE_SIZE, default 100), `page[after]` or `page[before]` answers
`{<key>: [...], meta: {has_more, after_cursor, before_cursor}, links: {next, prev}}`, the
document's `CursorPaginationMeta`. Cursors are opaque (base64 of a position in the list);
`after_cursor` follows the page's last record and `before_cursor` precedes its first, and `links`
repeat the request with `page[after]` / `page[before]` and the same `page[size]` (and the
parameters the endpoint keeps, e.g. `role[]`). `has_more` says whether records follow in the
direction of travel (after the page; before it for a `page[before]` request); `links.next` is
null when nothing follows the page, and `links.prev` is set on every page that holds records,
the first included, as Zendesk answers (recorded: samples/zenpy_groups_cursor_page1.json). An
empty page has null cursors and links. A bad value is the document's 400 (its only pagination
error example, `{"errors": [{"code": "InvalidPaginationParameter", "title": ...}]}`): a
`page[size]` outside 1..100 (the document: "up to 100 records per page"), a cursor this list did
not issue, or `page[after]` with `page[before]` ("can't be used together").

A time-ordered stream (satisfaction ratings, ticket metric events) pages the same way with
`stream_page`: its cursors name a record's (timestamp, id) rather than a position, so a page is
found without counting what came before; `page[before]` walks back from such a key.

Offset pagination (no page[...] parameter): `page` and `per_page` (<= 100), `{<key>, next_page,
previous_page, count}`, ending at OFFSET_LIMIT records as on Zendesk.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from deskpulse.sandbox.streams import Peekable, Record
from deskpulse.sandbox.streams import cursor_page as take_page
from deskpulse.sandbox.wire import ApiError, Request, Response
from deskpulse.sandbox.zendesk.common import b64, bad, int_arg, unb64

MAX_PAGE_SIZE = 100
"""Records a cursor page holds at most ("You can specify up to 100 records per page")."""
OFFSET_LIMIT = 10_000
"""Records offset pagination serves (page * per_page), as on Zendesk."""
CURSOR_PARAMS = ("page[size]", "page[after]", "page[before]")

_POSITION = re.compile(r"p:(\d{1,12})")
_KEY = re.compile(r"k:(\d{1,12}):(\d{1,20})")
Key = tuple[int, int]
"""A stream record's place: (timestamp, sort id)."""


def pagination_error(title: str) -> ApiError:
    """The document's 400 for a bad pagination parameter."""
    return ApiError(400, {"errors": [{"code": "InvalidPaginationParameter", "title": title}]})


def wants_cursor(req: Request) -> bool:
    """Whether the request asks for cursor pagination (any page[...] parameter)."""
    return any(req.arg(name) is not None for name in CURSOR_PARAMS)


@dataclass(frozen=True)
class CursorArgs:
    size: int
    after: str | None
    before: str | None

    @classmethod
    def of(cls, req: Request) -> CursorArgs:
        raw = req.arg("page[size]")
        size = MAX_PAGE_SIZE
        if raw is not None and raw != "":
            if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
                raise pagination_error(f"page[size] must be between 1 and {MAX_PAGE_SIZE}")
            size = int(raw)
        after, before = req.arg("page[after]") or None, req.arg("page[before]") or None
        if after and before:
            raise pagination_error("page[before] and page[after] can't be used together")
        return cls(size, after, before)


def cursor_body(
    key: str,
    records: list[dict[str, Any]],
    *,
    has_more: bool,
    after_cursor: str | None,
    before_cursor: str | None,
    next_url: str | None,
    prev_url: str | None,
) -> dict[str, Any]:
    """A cursor page in the document's shape (CursorPaginationMeta)."""
    return {
        key: records,
        "meta": {
            "has_more": has_more,
            "after_cursor": after_cursor,
            "before_cursor": before_cursor,
        },
        "links": {"next": next_url, "prev": prev_url},
    }


def _position(token: str, name: str, length: int) -> int:
    try:
        match = _POSITION.fullmatch(unb64(token))
    except ApiError:
        match = None
    if match is None or int(match.group(1)) > length:
        raise pagination_error(f"{name} is not valid")
    return int(match.group(1))


def cursor_page(
    req: Request,
    url: Callable[[dict[str, Any]], str],
    key: str,
    items: Sequence[dict[str, Any]],
    keep: dict[str, Any],
) -> Response:
    """One cursor page of `items` (see the module docstring); `url(params)` builds a link."""
    args = CursorArgs.of(req)
    n = len(items)
    if args.before:
        end = _position(args.before, "page[before]", n)
        start = max(0, end - args.size)
        has_more = start > 0
    else:
        start = _position(args.after, "page[after]", n) if args.after else 0
        end = min(n, start + args.size)
        has_more = end < n
    page = list(items[start:end])
    after_cursor = b64(f"p:{end}") if page else None
    before_cursor = b64(f"p:{start}") if page else None
    return Response.json(
        200,
        cursor_body(
            key,
            page,
            has_more=has_more,
            after_cursor=after_cursor,
            before_cursor=before_cursor,
            next_url=url({**keep, "page[after]": after_cursor, "page[size]": args.size})
            if page and end < n
            else None,
            prev_url=url({**keep, "page[before]": before_cursor, "page[size]": args.size})
            if page
            else None,
        ),
    )


def _key(token: str, name: str) -> Key:
    try:
        match = _KEY.fullmatch(unb64(token))
    except ApiError:
        match = None
    if match is None:
        raise pagination_error(f"{name} is not valid")
    return int(match.group(1)), int(match.group(2))


def _key_cursor(rec: Record) -> str:
    return b64(f"k:{rec[0]}:{rec[1]}")


def stream_page(
    req: Request,
    url: Callable[[dict[str, Any]], str],
    key: str,
    records: Callable[[Key | None], Peekable],
    to_json: Callable[[Record], dict[str, Any]],
    keep: dict[str, Any],
) -> tuple[Response, list[Record], Peekable | None]:
    """One cursor page of a time-ordered stream: `records(after)` yields the stream's records
    (already filtered) strictly after `after`, or from its start. Returns the answer, the page's
    records and, for a forward page, the stream positioned after them (for reuse)."""
    args = CursorArgs.of(req)
    rest: Peekable | None = None
    if args.before:
        before = _key(args.before, "page[before]")
        window: deque[Record] = deque(maxlen=args.size)
        has_more = False
        for rec in records(None):
            if (rec[0], rec[1]) >= before:
                break
            has_more = has_more or len(window) == args.size
            window.append(rec)
        recs, following = list(window), True
    else:
        rest = records(_key(args.after, "page[after]") if args.after else None)
        recs, has_more = take_page(rest, args.size)
        following = has_more
    after_cursor = _key_cursor(recs[-1]) if recs else None
    before_cursor = _key_cursor(recs[0]) if recs else None
    body = cursor_body(
        key,
        [to_json(r) for r in recs],
        has_more=has_more,
        after_cursor=after_cursor,
        before_cursor=before_cursor,
        next_url=url({**keep, "page[after]": after_cursor, "page[size]": args.size})
        if recs and following
        else None,
        prev_url=url({**keep, "page[before]": before_cursor, "page[size]": args.size})
        if recs
        else None,
    )
    return Response.json(200, body), recs, rest


def offset_page(
    req: Request,
    url: Callable[[dict[str, Any]], str],
    key: str,
    items: Sequence[dict[str, Any]],
    keep: dict[str, Any],
) -> Response:
    """One offset page of `items`: `page`, `per_page` (<= 100), up to OFFSET_LIMIT records."""
    per_page = int_arg(req, "per_page", 100, 1, 100)
    page_no = int_arg(req, "page", 1, 1, 2**31)
    lo = (page_no - 1) * per_page
    if lo >= OFFSET_LIMIT:  # as Zendesk: offset pagination ends at 10,000 records
        raise bad(
            f"Offset pagination is limited to the first {OFFSET_LIMIT:,} records "
            "(100 pages); use cursor pagination (page[size], page[after])",
            "InvalidPaginationParameter",
        )
    return Response.json(
        200,
        {
            key: list(items[lo : lo + per_page]),
            "next_page": url({**keep, "page": page_no + 1, "per_page": per_page})
            if lo + per_page < len(items)
            else None,
            "previous_page": url({**keep, "page": page_no - 1, "per_page": per_page})
            if page_no > 1
            else None,
            "count": len(items),
        },
    )


def list_page(
    req: Request,
    url: Callable[[dict[str, Any]], str],
    key: str,
    items: Sequence[dict[str, Any]],
    keep: dict[str, Any] | None = None,
) -> Response:
    """A list endpoint with both of Zendesk's paginations: cursor pages when the request has a
    page[...] parameter, offset pages otherwise. `keep`: parameters the links repeat."""
    if wants_cursor(req):
        return cursor_page(req, url, key, items, keep or {})
    return offset_page(req, url, key, items, keep or {})
