"""Zendesk-style rate limits and fault injection for the sandbox server."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]

ACCOUNT = "account"
INCREMENTAL_MESSAGE = "Number of allowed incremental export API requests per minute exceeded"
ACCOUNT_MESSAGE = "Number of allowed API requests per minute exceeded"

# Buckets that Zendesk reports in a `Zendesk-RateLimit-<name>` header.
HEADER_BUCKETS = frozenset({"incremental-exports", "incremental-exports-cursor"})


@dataclass(frozen=True)
class RateLimits:
    """Requests per minute. Defaults are Zendesk's real limits (Enterprise plan account-wide)."""

    account: int = 700
    incremental_exports: int = 10
    incremental_exports_cursor: int = 20
    talk_incremental_exports: int = 10
    chat: int = 200

    def for_bucket(self, bucket: str) -> int:
        return {
            ACCOUNT: self.account,
            "incremental-exports": self.incremental_exports,
            "incremental-exports-cursor": self.incremental_exports_cursor,
            "talk-incremental-exports": self.talk_incremental_exports,
            "chat": self.chat,
        }[bucket]


@dataclass
class Verdict:
    allowed: bool
    headers: list[tuple[str, str]]
    retry_after: int = 0
    message: str = ACCOUNT_MESSAGE


class RateLimiter:
    """Fixed 60-second windows aligned to the clock's minute; 429s do not spend budget."""

    def __init__(self, limits: RateLimits, clock: Clock) -> None:
        self.limits = limits
        self.clock = clock
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def check(self, bucket: str | None, spend: bool = True) -> Verdict:
        """Spend one request from the account budget and `bucket`'s (if given); with
        `spend=False` only report the budgets (for answers that cost nothing, e.g. a 401)."""
        now = self.clock()
        window = int(now // 60)
        reset = max(1, math.ceil((window + 1) * 60 - now))
        buckets = [ACCOUNT] if bucket is None else [ACCOUNT, bucket]
        with self._lock:
            if window != self._window:
                self._window = window
                self._counts = {}
            over = [b for b in buckets if self._counts.get(b, 0) >= self.limits.for_bucket(b)]
            if not over and spend:
                for b in buckets:
                    self._counts[b] = self._counts.get(b, 0) + 1
            counts = dict(self._counts)
        if not spend:
            over = []
        headers: list[tuple[str, str]] = []
        acc_limit = self.limits.account
        acc_left = max(0, acc_limit - counts.get(ACCOUNT, 0))
        headers += [
            ("X-Rate-Limit", str(acc_limit)),
            ("X-Rate-Limit-Remaining", str(acc_left)),
            ("ratelimit-limit", str(acc_limit)),
            ("ratelimit-remaining", str(acc_left)),
            ("ratelimit-reset", str(reset)),
        ]
        if bucket in HEADER_BUCKETS:
            total = self.limits.for_bucket(bucket)
            left = max(0, total - counts.get(bucket, 0))
            headers.append(
                (f"Zendesk-RateLimit-{bucket}", f"total={total}; remaining={left}; resets={reset}")
            )
        if over:
            msg = ACCOUNT_MESSAGE if over == [ACCOUNT] else INCREMENTAL_MESSAGE
            return Verdict(False, headers, reset, msg)
        return Verdict(True, headers)


@dataclass(frozen=True)
class Faults:
    """Fault injection, drawn from `random.Random(seed)` in request order (deterministic for a
    given request sequence). Rates are probabilities per API request.

    * error_rate: answer with one of 500, 502, 503 (with Retry-After: 1) or 429 (Retry-After: 1).
    * latency: seconds added to every affected response.
    * timeout_rate / timeout_seconds: sleep that long before answering (longer than the client's
      timeout), then answer normally.
    * truncate_rate: send the headers with the full Content-Length, then half the body, then close
      the connection.
    * malformed_rate: 200 with a body that is not valid JSON.
    * paths: only requests whose path starts with one of these prefixes are affected
      (empty: every /api/ path).
    """

    error_rate: float = 0.0
    latency: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    truncate_rate: float = 0.0
    malformed_rate: float = 0.0
    seed: int = 0
    paths: tuple[str, ...] = ()

    def applies_to(self, path: str) -> bool:
        return not self.paths or any(path.startswith(p) for p in self.paths)


@dataclass
class FaultPlan:
    status: int | None = None  # injected error status
    sleep: float = 0.0
    truncate: bool = False
    malformed: bool = False


@dataclass
class FaultInjector:
    faults: Faults
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.faults.seed)

    def plan(self, path: str) -> FaultPlan:
        f = self.faults
        if not f.applies_to(path):
            return FaultPlan()
        with self._lock:
            r = self._rng
            draws = (r.random(), r.random(), r.random(), r.random(), r.random())
        plan = FaultPlan(sleep=f.latency)
        if draws[0] < f.error_rate:
            plan.status = (500, 502, 503, 429)[int(draws[1] * 4)]
            return plan
        if draws[2] < f.timeout_rate:
            plan.sleep += f.timeout_seconds
        if draws[3] < f.truncate_rate:
            plan.truncate = True
        elif draws[4] < f.malformed_rate:
            plan.malformed = True
        return plan
