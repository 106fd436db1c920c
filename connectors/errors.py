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
        │   ├── BadResponse        malformed, truncated or wrongly shaped body (after retries)
        │   └── ConnectorBug       a normaliser raised something other than RecordError: a bug
        └── RecordError            one record cannot be mapped: quarantine it, count it, go on

Messages never contain secrets: they name the host and path, never headers or credentials.
"""

from __future__ import annotations


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


class BadResponse(StreamError):
    pass


class ConnectorBug(StreamError):
    """A normaliser raised ValueError, KeyError, TypeError...: the connector's bug, not bad
    vendor data (that is RecordError). The stream stops before the page commits, so nothing is
    quarantined that a fixed connector would have mapped."""


class RecordError(ConnectorError):
    pass
