"""Errors, grouped by what the sync engine must do about them.

    DeskpulseError                 every error deskpulse raises on purpose; str() is one clear line
    ├── ConfigError                settings missing or invalid: nothing runs until the user fixes them
    └── ConnectorError
        ├── FatalError             stop this connector, say why (other connectors go on)
        │   ├── AuthError          401: API key missing, wrong or revoked
        │   ├── UnreachableError   host unknown or refusing after every retry
        │   └── NotTheApi          the host answers with a web page, not the vendor's API
        ├── StreamUnavailable      403/404 on a stream the account's plan or role forbids: skip it
        ├── StreamError            this stream stops here; its cursor stays at the last commit
        │   ├── PaginationLoopError  the vendor repeated a page token or cursor
        │   ├── RetriesExhausted   429/5xx/timeouts outlasted the retry budget
        │   │   └── RateLimited    a 429 asking for a longer wait than a request may wait
        │   ├── WriteInDoubt       a write's answer never came: it may have been applied
        │   ├── BadResponse        malformed, truncated or wrongly shaped body (after retries)
        │   └── ConnectorBug       a normaliser raised something other than RecordError: a bug
        └── RecordError            one record cannot be mapped: quarantine it, count it, go on

Messages never contain secrets: they name the host and path, never headers or credentials.
"""

from __future__ import annotations

from datetime import datetime


class DeskpulseError(Exception):
    """Base class; `str(error)` is a one-line message fit for the user, with what to do."""


class ConfigError(DeskpulseError):
    pass


class ConnectorError(DeskpulseError):
    pass


class FatalError(ConnectorError):
    pass


class AuthError(FatalError):
    pass


class UnreachableError(FatalError):
    pass


class NotTheApi(FatalError):
    """A 2xx answer that is a web page (a company site, a login or parking page): the base URL
    points at the wrong host or path. Not retried: every retry would get the same page."""


class StreamUnavailable(ConnectorError):
    """`status` and `url` (no query) say what answered; `hint` what to check when every stream
    of a source answers so, i.e. the base URL is wrong rather than one stream forbidden."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.url = url
        self.hint = hint


class StreamError(ConnectorError):
    pass


class PaginationLoopError(StreamError):
    pass


class RetriesExhausted(StreamError):
    pass


class RateLimited(RetriesExhausted):
    """The vendor asked to wait `retry_after` seconds (until `until`, UTC), longer than one
    request may wait (connectors.http.MAX_WAIT): given up at once. A 429 applied nothing, so
    the request may be sent again from `until` on. `headline` is the short form for summaries:
    "zendesk asked to wait 24 h (until 2026-12-06 09:00 UTC)"."""

    def __init__(self, message: str, *, retry_after: float, until: datetime, headline: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.until = until
        self.headline = headline


class WriteInDoubt(StreamError):
    """A write (PUT, POST, PATCH) whose answer never came: a timeout or a dropped connection
    after it was sent, or a 5xx. The vendor may have applied it, so the HTTP client does not
    send it again; the caller reads back (or finds it by its key) before writing again."""


class BadResponse(StreamError):
    pass


class ConnectorBug(StreamError):
    """A normaliser raised ValueError, KeyError, TypeError...: the connector's bug, not bad
    vendor data (that is RecordError). The stream stops before the page commits, so nothing is
    quarantined that a fixed connector would have mapped."""


class RecordError(ConnectorError):
    pass
