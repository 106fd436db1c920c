"""Paginators and the one page loop every stream reads through (`HttpClient.paginate`).

A paginator is "read the next token from the answer, write it into the next request" (dlt's
rest_client shape), one fresh instance per run of a stream. `paginate` sends the first request,
yields each answer as a `Fetched` (its records, the decoded body, the response headers and the
request that fetched it), then asks the paginator for the next request; `None` ends the run.
The loop guard lives in the base class: a token served twice raises `PaginationLoopError`, so a
vendor that repeats a page token stops the stream at its last commit instead of reading forever.

The kinds the vendors use, each a small class:

    NextUrl         the next page's full URL in the body (JSON:API `links.next`), followed verbatim
    BodyCursor      a cursor in the body (`meta.after_cursor` + `meta.has_more`, or Zendesk's
                    `after_cursor` + `end_of_stream`) written into a query parameter
    PageNumber      `page=1, 2, ...` until a short page (or the body says there is no more)
    HeaderCursor    a cursor in a response header (LiveAgent's `next_page_cursor`) written into a
                    query parameter, until a short page or no header
    TimeWatermark   a time export: `start_time` in, `end_time` (and an id) out, until the body
                    says the stream ended (Zendesk's incremental exports: `end_of_stream`)

A vendor with another rule subclasses `Paginator` (LiveAgent's keyset read by date does).
What a stream persists as its cursor stays the stream's business: it reads it from the pages.
A stored token the vendor rejects (400/422) may restart the run: `paginate(restart=...)` is
given the rejection and the request, and answers the request to start again from (or None).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import msgspec

from deskpulse.connectors.errors import BadResponse, PaginationLoopError


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One page's request: a path (or a vendor's full next-page URL) and its query."""

    url: str
    params: Mapping[str, Any] | None = None

    def param(self, name: str) -> Any:
        return self.params.get(name) if self.params is not None else None

    def with_params(self, **values: Any) -> PageRequest:
        """The same request with these parameters set (None removes one)."""
        params = {**(self.params or {}), **values}
        return PageRequest(self.url, {k: v for k, v in params.items() if v is not None})


@dataclass(slots=True)
class Fetched:
    """One answer of a paged read: the page's `records`, the decoded `body`, the response
    `headers`, the `request` that fetched it and its `number` in this run (1, 2, ...)."""

    records: list[Any]
    body: Any
    headers: httpx.Headers
    request: PageRequest
    number: int = 1


def dig(body: Any, path: Sequence[str]) -> Any:
    """`body["meta"]["after_cursor"]` for path ("meta", "after_cursor"), through dicts and
    decoded structs alike; None where a step is missing."""
    node = body
    for step in path:
        node = node.get(step) if isinstance(node, Mapping) else getattr(node, step, None)
        if node is None or node is msgspec.UNSET:
            return None
    return node


def _path(value: str | Sequence[str]) -> tuple[str, ...]:
    return tuple(value.split(".")) if isinstance(value, str) else tuple(value)


class Paginator:
    """The base of every paginator: the loop guard, and the two steps `paginate` calls.

    `first(request)` may adjust the first request (a page number, a page size) and records the
    token it carries (a stored cursor) as seen; `next(page)` answers the next request or None.
    Subclasses read their token in `next` and pass it through `advance` (False: no token, the
    run ends; a token seen before raises PaginationLoopError). `what` names the read in that
    error ("zendesk tickets"); `paginate` fills it in when left empty.
    """

    def __init__(self, what: str = "") -> None:
        self.what = what
        self._seen: set[Hashable] = set()
        self.pages = 0

    # the two steps ------------------------------------------------------------------------

    def first(self, request: PageRequest) -> PageRequest:
        self.seen(self.token_of(request))
        return request

    def next(self, page: Fetched) -> PageRequest | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def token_of(self, request: PageRequest) -> Hashable | None:
        """The token a request carries (a resumed cursor), recorded by `first`."""
        return None

    # the guard ----------------------------------------------------------------------------

    def advance(self, token: Hashable | None) -> bool:
        """False when there is no next token (None or empty); True for a new one; a token
        seen before raises PaginationLoopError."""
        self.pages += 1
        if token is None or token == "":
            return False
        if token in self._seen:
            raise PaginationLoopError(
                f"{self.what}: the vendor repeated a page token after {self.pages} pages; "
                "stopping instead of looping"
            )
        self._seen.add(token)
        return True

    def seen(self, token: Hashable | None) -> None:
        """Record a token used for the first request (e.g. a stored cursor) without advancing."""
        if token is not None and token != "":
            self._seen.add(token)


class NextUrl(Paginator):
    """The next page's full URL in the body (JSON:API `links.next`), followed verbatim: it
    carries the first request's filter and sort, and an opaque page cursor."""

    def __init__(self, what: str = "", *, path: str | Sequence[str] = ("links", "next")) -> None:
        super().__init__(what)
        self.path = _path(path)

    def token_of(self, request: PageRequest) -> Hashable | None:
        return request.url if "://" in request.url else None

    def next(self, page: Fetched) -> PageRequest | None:
        url = dig(page.body, self.path)
        if not isinstance(url, str) or not self.advance(url):
            return None
        return PageRequest(url)


class BodyCursor(Paginator):
    """A cursor in the body, written into query parameter `param` of the next request.

    `cursor` is where it is (`meta.after_cursor`); the run ends when `more` (e.g.
    `meta.has_more`) is not true, or when `done` (e.g. `end_of_stream`) is true, or when there is
    no cursor. With `sticky` (Zendesk's exports), an answer without a cursor keeps the one it was
    asked with: unless it says it is the last, that repeats the token, a loop. `drop` names the
    first request's parameters the cursor replaces (Zendesk's exports: `start_time`).
    """

    def __init__(
        self,
        what: str = "",
        *,
        cursor: str | Sequence[str] = ("meta", "after_cursor"),
        param: str = "page[after]",
        more: str | Sequence[str] | None = ("meta", "has_more"),
        done: str | Sequence[str] | None = None,
        drop: Sequence[str] = (),
        sticky: bool = False,
    ) -> None:
        super().__init__(what)
        self.sticky = sticky
        self.cursor = _path(cursor)
        self.param = param
        self.more = _path(more) if more is not None else None
        self.done = _path(done) if done is not None else None
        self.drop = tuple(drop)

    def token_of(self, request: PageRequest) -> Hashable | None:
        token = request.param(self.param)
        return token if isinstance(token, Hashable) else None

    def after(self, page: Fetched) -> Any:
        """The cursor after this page: the body's (`sticky`: or the one it was asked with)."""
        found = dig(page.body, self.cursor)
        return found or (page.request.param(self.param) if self.sticky else None)

    def last(self, page: Fetched) -> bool:
        """Whether the body says this is the last page."""
        if self.more is not None and not dig(page.body, self.more):
            return True
        return self.done is not None and bool(dig(page.body, self.done))

    def next(self, page: Fetched) -> PageRequest | None:
        if self.last(page):
            return None
        token = self.after(page)
        if not self.advance(token):
            return None
        dropped = dict.fromkeys(self.drop)
        return page.request.with_params(**dropped, **{self.param: token})


class PageNumber(Paginator):
    """`param=1, 2, ...` with `size_param=size`: the last page is the first shorter than `size`
    (or one for which `more(page)` is false, or page `last`). A page whose first record (by
    `key`) opened an earlier page repeats it: a loop."""

    def __init__(
        self,
        what: str = "",
        *,
        size: int,
        param: str = "page",
        size_param: str | None = "per_page",
        start: int = 1,
        last: int | None = None,
        key: Callable[[Any], Hashable | None] | None = None,
        more: Callable[[Fetched], bool] | None = None,
    ) -> None:
        super().__init__(what)
        self.size = size
        self.param = param
        self.size_param = size_param
        self.number = start
        self.last = last
        self.key = key
        self.more = more

    def first(self, request: PageRequest) -> PageRequest:
        sized = {self.size_param: self.size} if self.size_param else {}
        return request.with_params(**{self.param: self.number}, **sized)

    def next(self, page: Fetched) -> PageRequest | None:
        if self.key is not None and page.records:
            head = self.key(page.records[0])
            if head is not None and head in self._seen:
                raise PaginationLoopError(
                    f"{self.what}: page {self.number} repeats an earlier page; stopping "
                    "instead of looping"
                )
            self.seen(head)
        if self.more is not None:
            if not self.more(page):
                return None
        elif len(page.records) < self.size:
            return None
        if self.last is not None and self.number >= self.last:
            return None
        self.number += 1
        self.pages += 1
        return page.request.with_params(**{self.param: self.number})


class HeaderCursor(Paginator):
    """A cursor in response header `header`, written into query parameter `param`; the first
    request's other parameters (filters) are replaced by it, `size_param` kept. The run ends on
    a page shorter than `size` or without the header."""

    def __init__(
        self,
        what: str = "",
        *,
        header: str,
        param: str,
        size: int | None = None,
        size_param: str | None = None,
    ) -> None:
        super().__init__(what)
        self.header = header
        self.param = param
        self.size = size
        self.size_param = size_param

    def token_of(self, request: PageRequest) -> Hashable | None:
        token = request.param(self.param)
        return token if isinstance(token, Hashable) else None

    def next(self, page: Fetched) -> PageRequest | None:
        raw = page.headers.get(self.header)
        token = raw.strip() if raw else None
        if self.size is not None and len(page.records) < self.size:
            return None
        if not self.advance(token):
            return None
        sized = {self.size_param: self.size} if self.size_param and self.size else {}
        return PageRequest(page.request.url, {**sized, self.param: token})


class TimeWatermark(Paginator):
    """A time export: the next request starts where the answer says it ended.

    `moves` maps each request parameter to the body field that carries its next value
    (`{"start_time": "end_time"}`; Zendesk's Chat export adds `{"start_id": "end_id"}`). The run
    ends when `done(page)` says so; an answer whose end does not move (the same values again)
    is a loop. The first request's position counts as seen.
    """

    def __init__(
        self,
        what: str = "",
        *,
        moves: Mapping[str, str] | None = None,
        done: Callable[[Fetched], bool],
    ) -> None:
        super().__init__(what)
        self.moves = dict(moves or {"start_time": "end_time"})
        self.done = done

    def token_of(self, request: PageRequest) -> Hashable | None:
        return tuple(request.param(name) for name in self.moves)

    def end(self, page: Fetched) -> tuple[Any, ...]:
        """Where this page ended: the body's values, or where it started when the body has no
        time (which the guard then sees as a repeat)."""
        ended = tuple(dig(page.body, (key,)) for key in self.moves.values())
        if not isinstance(ended[0], int) or isinstance(ended[0], bool):
            return tuple(page.request.param(name) for name in self.moves)
        return ended

    def next(self, page: Fetched) -> PageRequest | None:
        if self.done(page):
            return None
        ended = self.end(page)
        self.advance(ended)
        return page.request.with_params(**dict(zip(self.moves, ended, strict=True)))


# --------------------------------------------------------------------------------------------
# The loop


class _Get(Protocol):
    def __call__(
        self,
        url_or_path: str,
        params: Mapping[str, Any] | None = ...,
        *,
        bucket: str = ...,
        decoder: msgspec.json.Decoder[Any] | None = ...,
    ) -> tuple[Any, httpx.Headers]: ...


Records = Callable[[Any], list[Any]] | str | None
"""How a page's records are found in its body: a key (`"tickets"`: a missing or null key is an
empty page), a function of the body, or None (the body is a bare JSON array)."""


def records_of(body: Any, records: Records, where: str) -> list[Any]:
    """A page's records (see `Records`); a body of the wrong shape is a BadResponse."""
    if callable(records):
        return records(body)
    if records is None:
        if not isinstance(body, list):
            raise BadResponse(f"{where} answered {type(body).__name__}, not a list")
        return body
    if isinstance(body, Mapping):
        found = body.get(records)
    elif isinstance(body, list | str | int | float) or body is None:
        raise BadResponse(f"{where} answered {type(body).__name__}, not an object")
    else:
        found = getattr(body, records, None)
    if found is None or found is msgspec.UNSET:
        return []
    if not isinstance(found, list):
        raise BadResponse(f"{where}: `{records}` is not a list")
    return found


@dataclass
class Walk:
    """The arguments of one paged read (what `HttpClient.paginate` takes), kept together."""

    get: _Get
    vendor: str
    request: PageRequest
    paginator: Paginator
    records: Records = None
    bucket: str = "default"
    decoder: msgspec.json.Decoder[Any] | None = None
    restart: Callable[[Exception, PageRequest], PageRequest | None] | None = None
    rejected: tuple[type[Exception], ...] = field(default=())

    def pages(self) -> Iterator[Fetched]:
        paginator = self.paginator
        if not paginator.what:
            paginator.what = f"{self.vendor} {self.request.url}"
        request: PageRequest | None = paginator.first(self.request)
        number = 0
        while request is not None:
            try:
                body, headers = self.get(
                    request.url, request.params, bucket=self.bucket, decoder=self.decoder
                )
            except self.rejected as exc:
                again = self.restart(exc, request) if self.restart is not None else None
                if again is None:
                    raise
                request = paginator.first(again)
                continue
            number += 1
            where = f"{self.vendor}: {httpx.URL(request.url).path}"
            page = Fetched(records_of(body, self.records, where), body, headers, request, number)
            yield page
            request = paginator.next(page)


__all__ = [
    "BodyCursor",
    "Fetched",
    "HeaderCursor",
    "NextUrl",
    "PageNumber",
    "PageRequest",
    "Paginator",
    "Records",
    "TimeWatermark",
    "Walk",
    "dig",
    "records_of",
]
