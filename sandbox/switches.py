"""Faults switched on and off while the sandbox runs: `POST /__sandbox/faults` on a host.

The random faults of sandbox.limits.Faults are drawn per request from a rate fixed at start;
these are the faults an operator meets at a moment (a vendor outage, a throttle of a day, a
write that lands but whose answer never comes), switched on by whoever drives the sandbox (a
test, the soak benchmark) and off again. A JSON object sets one or more of them::

    {"write_timeout": 40}      apply each write (PUT/POST/PATCH/DELETE), then hold its answer
                               40 s (longer than the client's timeout): the write has landed,
                               the client never hears so
    {"retry_after": 86400}     answer 429 with `Retry-After: 86400` instead of serving
    {"down": true}             close each connection without an answer (a vendor host gone);
    {"down": 503}              or answer with that 5xx status (and `Retry-After: 1` for 503)
    {"job_never_ends": true}   bulk jobs stay queued (Zendesk's job statuses, Klaviyo's
                               subscription jobs whose profiles never show on the list)

with, for all the faults in the same object, `"count": N` (only the next N requests they
affect; default: until switched off), `"paths": ["/api/v2/tickets/update_many"]` (only
paths starting with one of these; default every API path) and `"methods": ["POST"]` (only
requests of these methods; default all). A fault set to `null`, `false` or
`0` is switched off; `DELETE /__sandbox/faults` switches every one off. `GET` answers
`{"active": {...}, "injected": {kind: requests affected}}`; the counts run from the start.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

KINDS = ("write_timeout", "retry_after", "down", "job_never_ends")
WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})


class SwitchError(ValueError):
    """A control request the sandbox cannot apply: answered 400 with this text."""


@dataclass
class Switch:
    kind: str
    value: Any  # seconds (write_timeout, retry_after), True or a status (down), True (jobs)
    left: int | None  # requests still to affect; None: until switched off
    paths: tuple[str, ...]
    methods: frozenset[str] = frozenset()

    def matches(self, path: str, method: str | None) -> bool:
        if self.methods and method is not None and method not in self.methods:
            return False
        return not self.paths or any(path.startswith(p) for p in self.paths)

    def describe(self) -> dict[str, Any]:
        return {"value": self.value, "left": self.left, "paths": list(self.paths),
                "methods": sorted(self.methods)}  # fmt: skip


def _value(kind: str, raw: Any) -> Any:
    """The switch's value from the request (None: switch it off)."""
    if raw is None or raw is False or raw == 0:
        return None
    if kind in ("write_timeout", "retry_after"):
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= 10**7:
            raise SwitchError(f"{kind} is a number of seconds from 0 to 10,000,000")
        return raw
    if kind == "down":
        if raw is True:
            return True
        if isinstance(raw, int) and not isinstance(raw, bool) and 500 <= raw <= 599:
            return raw
        raise SwitchError("down is true (connections closed unanswered) or a 5xx status")
    if raw is not True:
        raise SwitchError(f"{kind} is true or false")
    return True


class Switches:
    """The faults switched on at one host, and how many requests each has affected. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._on: dict[str, Switch] = {}
        self.injected: dict[str, int] = dict.fromkeys(KINDS, 0)

    def apply(self, body: Any) -> None:
        """Switch on or off what a `POST /__sandbox/faults` body says (all or nothing)."""
        if not isinstance(body, dict):
            raise SwitchError('expected a JSON object, e.g. {"down": true}')
        unknown = set(body) - {*KINDS, "count", "paths", "methods"}
        if unknown:
            raise SwitchError(
                f"unknown fault {', '.join(sorted(unknown))} (known: {', '.join(KINDS)}, "
                "with count and paths)"
            )
        count = body.get("count")
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 1
        ):
            raise SwitchError("count is a whole number of requests, 1 or more")
        paths = body.get("paths") or []
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise SwitchError("paths is a list of path prefixes")
        methods = body.get("methods") or []
        if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
            raise SwitchError('methods is a list of HTTP methods, e.g. ["POST"]')
        changes = {kind: _value(kind, body[kind]) for kind in KINDS if kind in body}
        with self._lock:
            for kind, value in changes.items():
                if value is None:
                    self._on.pop(kind, None)
                else:
                    self._on[kind] = Switch(
                        kind, value, count, tuple(paths), frozenset(m.upper() for m in methods)
                    )

    def clear(self) -> None:
        with self._lock:
            self._on.clear()

    def take(self, kind: str, path: str, method: str | None = None) -> Any:
        """The value of fault `kind` for this request (and count it), or None when it is off,
        does not match the path, or (write_timeout) the request is not a write."""
        if kind == "write_timeout" and method not in WRITE_METHODS:
            return None
        with self._lock:
            switch = self._on.get(kind)
            if switch is None or not switch.matches(path, method):
                return None
            if switch.left is not None:
                switch.left -= 1
                if switch.left <= 0:
                    del self._on[kind]
            self.injected[kind] += 1
            return switch.value

    def on(self, kind: str, path: str = "") -> bool:
        """Whether `kind` is on (for `path`), without counting a request."""
        with self._lock:
            switch = self._on.get(kind)
            return switch is not None and switch.matches(path, None)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "active": {k: s.describe() for k, s in self._on.items()},
                "injected": dict(self.injected),
            }


__all__ = ["KINDS", "SwitchError", "Switches"]
