"""The retry plumbing of the shared HTTP client (connectors.http): which failures are retried,
how long to wait, when to stop. Internal exceptions tenacity retries on; the client maps the
last one onto the error tree of connectors.errors when it gives up.
"""

from __future__ import annotations

import email.utils
import math
import random
import time

import httpx
from tenacity import RetryCallState
from tenacity.stop import stop_base

LONGEST_RETRY_AFTER = 86400.0
"""A Retry-After (or a budget's reset) past a day is taken as a day: a garbled or hostile header
must not park a source, or the rows of a push, for years."""


class Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class RetryableStatus(Retryable):
    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}", retry_after)
        self.status = status


class RetryableTransport(Retryable):
    def __init__(self, exc: httpx.TransportError) -> None:
        super().__init__(type(exc).__name__)
        self.connect = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        # No connection at all (unknown host, refused port): minutes of backoff will not heal
        # a wrong URL, so these get CONNECT_RETRIES, not the whole budget.
        self.refused = isinstance(exc, httpx.ConnectError)


CONNECT_RETRIES = 2
"""Retries of a request whose connection failed outright (DNS failure, connection refused):
enough for a blip (about 3 s of backoff), not the ~45 s of the full budget."""


class ConnectionRefused(stop_base):
    """Stop once a connection that failed outright has had its CONNECT_RETRIES."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        return (
            isinstance(exc, RetryableTransport)
            and exc.refused
            and retry_state.attempt_number > CONNECT_RETRIES
        )


class RetryableBody(Retryable):
    pass


class TooLong(stop_base):
    """Stop when the next wait would take the request's waits past `limit` seconds in all."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.idle_for + retry_state.upcoming_sleep > self.limit


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP-date, at most a day
    (LONGEST_RETRY_AFTER); None if absent/garbled."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if math.isnan(seconds):
            return None
        return min(max(0.0, seconds), LONGEST_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:  # pragma: no cover - older Pythons returned None
        return None
    current = time.time() if now is None else now
    return min(max(0.0, when.timestamp() - current), LONGEST_RETRY_AFTER)


class Wait:
    """Server's Retry-After when given, else exponential backoff with full jitter (capped at
    `maximum`). A Retry-After is honoured whole: `TooLong` gives up on one too long."""

    def __init__(self, initial: float, maximum: float, rng: random.Random) -> None:
        self.initial = initial
        self.maximum = maximum
        self.rng = rng

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return exc.retry_after
        ceiling = min(self.maximum, self.initial * (2 ** (state.attempt_number - 1)))
        return self.rng.uniform(ceiling / 2, ceiling)


__all__ = ["CONNECT_RETRIES", "LONGEST_RETRY_AFTER", "parse_retry_after"]
