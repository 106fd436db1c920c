"""What a write that raised leaves, the same for every vendor's writer (connectors.base's
WriteResult statuses from connectors.errors' and the client's exceptions)."""

from __future__ import annotations

from deskpulse.connectors.base import DOUBT, FAILED, RETRY, THROTTLED, WriteResult
from deskpulse.connectors.errors import (
    BadResponse,
    ConnectorError,
    RateLimited,
    RetriesExhausted,
    StreamError,
    StreamUnavailable,
    WriteInDoubt,
)
from deskpulse.connectors.http import RejectedRequest


def result_of_error(record_id: str, exc: ConnectorError) -> WriteResult:
    """What a write that raised leaves: throttled, in doubt, refused, or to retry. A fatal error
    (credentials, host) is raised again: the push stops with its line."""
    if isinstance(exc, RateLimited):
        return WriteResult(record_id, THROTTLED, exc.headline, exc.retry_after)
    if isinstance(exc, WriteInDoubt):
        return WriteResult(record_id, DOUBT, str(exc))
    if isinstance(exc, RejectedRequest | StreamUnavailable):
        return WriteResult(record_id, FAILED, str(exc))
    if isinstance(exc, RetriesExhausted | BadResponse | StreamError):
        return WriteResult(record_id, RETRY, str(exc))
    raise exc


__all__ = ["result_of_error"]
