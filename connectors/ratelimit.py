"""Client-side rate limiting for the vendor connectors (used by `connectors.http.HttpClient`).

`RateLimiter` keeps each budget (bucket) a vendor states: reactive, from what the responses'
rate-limit headers say (a connector's `LimitReader` turns its vendor's headers into `Observed`),
and optionally by steady pacing per bucket, so a sync spends the budget without provoking a 429.
Every request spends the account-wide `DEFAULT_BUCKET` as well as its own. Sleeping and clocks
are injectable, so tests never really wait.

A source that may spend only part of its account's budget (a sources file's `budget_share`) paces
through `RateLimiter.portion(share)`: every budget, the configured ones and any the vendor states
in its headers later, is scaled by the share (rounded down, at least 1 a window), so the source
never paces above its share whatever the vendor says. One place for every vendor: the connector
skeleton applies it (connectors.skeleton.VendorConnector.spend_share).
"""

from __future__ import annotations

import collections
import copy
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import httpx

DEFAULT_BUCKET = "default"
"""The account-wide budget every request spends, whatever its own bucket."""


@dataclass
class _Bucket:
    blocked_until: float = 0.0  # monotonic time before which the vendor said "no more"
    per_minute: int | None = None  # steady pacing: at most this many requests in any 60 s
    stated: int | None = None  # the budget before the limiter's share (configured or observed)
    sent: collections.deque[float] = field(default_factory=collections.deque)


class Observed(NamedTuple):
    """What a response's headers say about one budget: `remaining` requests in `bucket`, which
    refills in `reset` seconds (None: unknown, the limiter assumes its window), out of `limit`
    a window (None: not said)."""

    bucket: str
    remaining: int
    reset: float | None = None
    limit: int | None = None


LimitReader = Callable[[str, httpx.Headers], Iterable[Observed]]
"""A vendor's reading of its rate-limit headers: `read(bucket_of_the_request, headers)`. The
connector passes one to `HttpClient(read_limits=...)`; the helper knows no vendor's headers."""


def header_number(headers: httpx.Headers, *names: str) -> float | None:
    """The first of `names` present with a numeric value (for LimitReaders)."""
    for name in names:
        raw = headers.get(name)
        if raw is not None:
            try:
                return float(raw)
            except ValueError:
                continue
    return None


def ietf_limits(bucket: str, headers: httpx.Headers) -> list[Observed]:
    """The IETF draft's `RateLimit-Remaining`/`RateLimit-Reset` (seconds), for the request's
    own bucket: a LimitReader for vendors that send exactly these."""
    remaining = header_number(headers, "ratelimit-remaining")
    if remaining is None:
        return []
    return [Observed(bucket, int(remaining), header_number(headers, "ratelimit-reset"))]


class RateLimiter:
    """Client-side budget keeper, per bucket.

    Two mechanisms, both optional:

    * reactive: `observe(bucket, remaining, reset)` is told what a response's headers say (the
      connector's `LimitReader` reads them); when a bucket's remaining count reaches 0 the
      next request in that bucket waits for the reset (or a whole window when none is given).
    * steady pacing: `per_minute={"default": 700, "incremental": 10}` keeps at most that many
      requests in any trailing window (60 s; `window` for a vendor, or a sandbox, whose minute
      is shorter) per bucket: a sliding window, so neither a fixed nor a sliding vendor window
      can be overrun; `margin` (e.g. 0.01) and `slack` (seconds) make it that much longer
      than the vendor's, for a request that reaches the vendor later than it left (a busy
      machine, a slow network). With pacing on, a budget the vendor states
      in its headers (`Observed.limit`: the plan's real budget, e.g. 400 on Professional where
      the settings assume 700) replaces the configured one for that bucket.

    Every request spends the `default` bucket as well as its own.
    """

    def __init__(
        self,
        per_minute: Mapping[str, int] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        window: float = 60.0,
        margin: float = 0.0,
        slack: float = 0.0,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._window = window
        self._span = window * (1 + margin) + slack
        self._pacing = bool(per_minute)
        self._share = 1.0
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        for name, limit in (per_minute or {}).items():
            if limit <= 0:
                raise ValueError(f"rate limit for bucket {name!r} must be positive")
            self._pace(self._bucket(name), int(limit))
        self.waited = 0.0
        """Total seconds this limiter made callers wait."""

    def _bucket(self, name: str) -> _Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = _Bucket()
        return bucket

    def _pace(self, bucket: _Bucket, stated: int) -> None:
        bucket.stated = stated
        bucket.per_minute = max(1, math.floor(stated * self._share + 1e-9))

    @property
    def share(self) -> float:
        """The part of the stated budgets this limiter paces at (1: all of them)."""
        return self._share

    def portion(self, share: float) -> RateLimiter:
        """A limiter of its own for a source that may spend `share` (0 < share <= 1) of this
        one's budgets: each budget, and any the vendor states later (`observe`'s `limit`),
        scaled by `share`, rounded down, at least 1 a window; blocks carried over, nothing
        sent yet. `share` 1 is this limiter itself (sources sharing it stay paced together)."""
        if not 0 < share <= 1:
            raise ValueError(f"a budget share is above 0 and at most 1, not {share!r}")
        if share == 1:
            return self
        with self._lock:
            part = copy.copy(self)
            part._lock = threading.Lock()
            part._share = self._share * share
            part._buckets = {}
            for name, found in self._buckets.items():
                bucket = part._buckets[name] = _Bucket(blocked_until=found.blocked_until)
                if found.stated is not None:
                    part._pace(bucket, found.stated)
        part.waited = 0.0
        return part

    def _names(self, bucket: str) -> tuple[str, ...]:
        return (DEFAULT_BUCKET,) if bucket == DEFAULT_BUCKET else (DEFAULT_BUCKET, bucket)

    def _delay(self, name: str, now: float) -> float:
        bucket = self._buckets.get(name)
        if bucket is None:
            return 0.0
        delay = max(0.0, bucket.blocked_until - now)
        if bucket.per_minute is not None:
            sent = bucket.sent
            while sent and sent[0] <= now - self._span:
                sent.popleft()
            if len(sent) >= bucket.per_minute:
                delay = max(delay, sent[len(sent) - bucket.per_minute] + self._span - now)
        return delay

    @property
    def window(self) -> float:
        """Seconds per vendor window (60: budgets are per minute)."""
        return self._window

    def budget(self, bucket: str) -> int | None:
        """Requests per window this limiter paces `bucket` at (None: not paced)."""
        with self._lock:
            found = self._buckets.get(bucket)
            return found.per_minute if found is not None else None

    def ready_in(self, bucket: str) -> float:
        """Seconds until `bucket`'s own budget has room (0: now), the default bucket that every
        request spends as well left out: it frees a slot every few moments where a bucket of 10
        a minute may be spent for most of one. Reserves nothing."""
        with self._lock:
            return self._delay(bucket, self._clock())

    def acquire(self, bucket: str = DEFAULT_BUCKET) -> float:
        """Wait until a request in `bucket` is within budget, record it; return seconds waited."""
        names = self._names(bucket)
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = max(self._delay(name, now) for name in names)
                if delay <= 0:
                    self._record(names, now, waited)
                    return waited
            self._sleep(delay)
            waited += delay
            if self._clock() - now < delay * 0.9:
                # The sleep did not really pass the time (an injected sleep in tests, or a clock
                # that only it moves): count the wait as done instead of spinning on the clock.
                with self._lock:
                    self._record(names, now + delay, waited)
                return waited

    def _record(self, names: tuple[str, ...], now: float, waited: float) -> None:
        for name in names:
            b = self._buckets.get(name)
            if b is not None and b.per_minute is not None:
                b.sent.append(now)
        self.waited += waited

    def blocked_for(self, bucket: str) -> float:
        """Seconds until the vendor's block of `bucket` (or of the default bucket) lifts (0: not
        blocked); pacing left out (it frees a slot within a window). Reserves nothing."""
        with self._lock:
            now = self._clock()
            return max(
                (
                    b.blocked_until - now
                    for name in self._names(bucket)
                    if (b := self._buckets.get(name)) is not None
                ),
                default=0.0,
            )

    def block(self, bucket: str, seconds: float) -> None:
        """No request in `bucket` before `seconds` from now (e.g. after a 429's Retry-After)."""
        with self._lock:
            b = self._bucket(bucket)
            b.blocked_until = max(b.blocked_until, self._clock() + max(0.0, seconds))

    def observe(
        self, bucket: str, remaining: int, reset: float | None = None, limit: int | None = None
    ) -> None:
        """The vendor says `remaining` requests are left in `bucket`, refilling in `reset` s,
        out of `limit` a window (adopted, times the limiter's share, as the bucket's pace when
        pacing is on)."""
        if limit is not None and limit > 0 and self._pacing:
            with self._lock:
                b = self._bucket(bucket)
                if b.stated != limit:
                    self._pace(b, limit)
        if remaining <= 0:
            self.block(bucket, reset if reset is not None else self._window)


__all__ = [
    "DEFAULT_BUCKET",
    "LimitReader",
    "Observed",
    "RateLimiter",
    "header_number",
    "ietf_limits",
]
