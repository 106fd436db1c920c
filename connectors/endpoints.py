"""One endpoint table type for every vendor: each request a connector can send, declared once.

An `Endpoint` is the request's method, its path as the vendor's OpenAPI document writes it, the
query parameters the code may send, the budget it spends (the rate-limit bucket, and the
per-minute / per-second limits where the document states them per operation), and its
operation in that document (`operation`, the operationId; None with `doc` naming the page it
follows when the document does not have it). A vendor's table is a `dict[str, Endpoint]`
(`ENDPOINTS` in its package); its spec test (tests/connectors/test_*_spec.py) checks every row
against the document: the operation exists at that method and path, takes those parameters and,
where the document states limits, states these.

Streams build their requests through the table (`query`, `url`), so a parameter the table does
not declare cannot be sent: the spec test's check of the table covers every request. A row may
also say how its endpoint pages (`paginator`, a factory: one fresh paginator per run) and where
a page's records are (`records`); `HttpClient.paginate(endpoint, params)` then needs nothing else:

    ENDPOINTS = {"tickets": endpoint("GET", "/api/v2/tickets", "page", "per_page",
                                     paginator=lambda: PageNumber(size=100), records="tickets")}
    for page in client.paginate(ENDPOINTS["tickets"], {"updated_since": ...}): ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from deskpulse.connectors.ratelimit import DEFAULT_BUCKET

if TYPE_CHECKING:
    from deskpulse.connectors.paging import Paginator


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One request a connector can send (see the module docstring)."""

    method: str
    path: str
    params: frozenset[str] = frozenset()
    bucket: str = DEFAULT_BUCKET
    operation: str | None = None
    per_minute: int | None = None
    per_second: int | None = None
    doc: str = ""
    paginator: Callable[[], Paginator] | None = None
    """How the endpoint pages (a fresh paginator per run), when it does: `HttpClient.paginate`
    given the endpoint uses it unless the call names another."""
    records: str | None = None
    """The key of a page's records in the body (None: a bare array, or the call says)."""

    @property
    def in_spec(self) -> bool:
        """Whether the vendor's document has this operation (else `doc` says what it follows)."""
        return self.operation is not None

    def query(self, **values: Any) -> dict[str, Any]:
        """Query parameters for this endpoint, None values left out; one it does not declare is
        a bug (the spec test checks the declared ones), so it raises."""
        unknown = set(values) - self.params
        if unknown:
            raise AssertionError(
                f"{self.method} {self.path}: undeclared parameters {sorted(unknown)}"
            )
        return {k: v for k, v in values.items() if v is not None}

    def url(self, **ids: Any) -> str:
        """The path with its `{placeholders}` filled, each value quoted as one path segment."""
        return self.path.format(**{k: quote(str(v), safe="") for k, v in ids.items()})


def endpoint(
    method: str,
    path: str,
    *params: str,
    bucket: str = DEFAULT_BUCKET,
    operation: str | None = None,
    per_minute: int | None = None,
    per_second: int | None = None,
    doc: str = "",
    paginator: Callable[[], Paginator] | None = None,
    records: str | None = None,
) -> Endpoint:
    """An `Endpoint` with its parameters listed inline: `endpoint("GET", "/x", "page", ...)`."""
    return Endpoint(
        method,
        path,
        frozenset(params),
        bucket,
        operation,
        per_minute,
        per_second,
        doc,
        paginator,
        records,
    )


__all__ = ["Endpoint", "endpoint"]
