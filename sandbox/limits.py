"""Rate limits and fault injection for the sandbox server, vendor-neutral: a dialect names its
budgets and renders the headers (see sandbox.dialect)."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

Clock = Callable[[], float]


class SandboxConfigError(ValueError):
    """A sandbox option that makes no sense (a negative latency, an unknown stream to forbid):
    the CLI says it in one line, as a usage error."""


@dataclass
class Usage:
    """A request's verdict: the budgets it touched, after it was counted."""

    allowed: bool
    limits: dict[str, int]  # bucket -> requests per window (the buckets of this request)
    remaining: dict[str, int]
    reset: float  # seconds until the window ends (at least one vendor second, rounded up)
    over: tuple[str, ...] = ()  # the buckets that refused it

    @property
    def reset_text(self) -> str:
        """`reset` for a header: whole seconds, as vendors send them; with a time scale a
        vendor second is shorter than a wall second, so it may have decimals."""
        whole = round(self.reset)
        if abs(self.reset - whole) < 1e-9:
            return str(whole)
        return f"{self.reset:.3f}".rstrip("0")


class RateLimiter:
    """Fixed windows (`window` seconds, aligned to the clock); 429s do not spend budget. Buckets
    without a budget are not limited. `reset` is rounded up to the vendor's second, which is
    `window / 60` wall seconds (1 at real time; shorter with a time scale).

    `bursts` adds a second, short window per bucket (`burst_window` seconds, default 1): a
    request must be within both its bucket's budget per window and its burst budget per burst
    window (Klaviyo's burst per second beside its steady per minute)."""

    def __init__(
        self,
        budgets: Mapping[str, int],
        clock: Clock,
        window: float = 60.0,
        *,
        bursts: Mapping[str, int] | None = None,
        burst_window: float = 1.0,
    ) -> None:
        self.budgets = dict(budgets)
        self.bursts = dict(bursts or {})
        self.clock = clock
        self.window = window
        self.burst_window = burst_window
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}
        self._burst_window = -1
        self._burst_counts: dict[str, int] = {}

    def _reset(self, now: float, index: int, length: float) -> float:
        """Seconds until window `index` of `length` ends, rounded up to a vendor second."""
        unit = self.window / 60.0
        left = ((index + 1) * length - now) / unit
        reset: float = max(1, math.ceil(left - 1e-9)) * unit
        return int(reset) if unit == 1.0 else reset

    def check(self, buckets: Sequence[str], spend: bool = True) -> Usage:
        """Spend one request from each of `buckets`; with `spend=False` only report them (for
        answers that cost nothing, e.g. a 401)."""
        now = self.clock()
        window = int(now // self.window)
        reset = self._reset(now, window, self.window)
        burst_window = int(now // self.burst_window)
        limited = [b for b in buckets if b in self.budgets]
        bursting = [b for b in buckets if b in self.bursts]
        with self._lock:
            if window != self._window:
                self._window = window
                self._counts = {}
            if burst_window != self._burst_window:
                self._burst_window = burst_window
                self._burst_counts = {}
            over = tuple(b for b in limited if self._counts.get(b, 0) >= self.budgets[b])
            burst_over = tuple(
                b for b in bursting if self._burst_counts.get(b, 0) >= self.bursts[b]
            )
            if not over and not burst_over and spend:
                for b in limited:
                    self._counts[b] = self._counts.get(b, 0) + 1
                for b in bursting:
                    self._burst_counts[b] = self._burst_counts.get(b, 0) + 1
            counts = {b: self._counts.get(b, 0) for b in limited}
        limits = {b: self.budgets[b] for b in limited}
        remaining = {b: max(0, limits[b] - counts[b]) for b in limited}
        if not spend:
            return Usage(True, limits, remaining, reset, ())
        if burst_over and not over:
            # Only the burst window refused it: available again when that window ends.
            burst_reset = self._reset(now, burst_window, self.burst_window)
            return Usage(False, limits, remaining, burst_reset, burst_over)
        return Usage(not over, limits, remaining, reset, over + burst_over)


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

    def __post_init__(self) -> None:
        rates = ("error_rate", "timeout_rate", "truncate_rate", "malformed_rate")
        for name in rates:
            if not 0 <= getattr(self, name) <= 1:
                raise SandboxConfigError(f"{name} is a share between 0 and 1")
        for name in ("latency", "timeout_seconds"):
            if not 0 <= getattr(self, name) < float("inf"):
                raise SandboxConfigError(f"{name} must be 0 or more seconds")

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
