"""Log lines an operator reads: the level honoured, a timestamp on every line, nothing wrapped.

`configure(level, fmt)` sets up the root logger for a command or the daemon:

* text (default): `2026-12-05T09:00:00.123Z INFO deskpulse.daemon: message`, one line per record
  (UTC, ISO 8601). A record of several lines (a traceback at DEBUG) repeats the prefix on each,
  so every line still starts with its time and a `grep` of a logger finds all of it. Nothing is
  wrapped at the terminal's width: journald and `docker logs` keep each line whole.
* json: one object per line (`sync.observability.JsonFormatter`, time in `ts`).

The level is the root's. Libraries' own chatter stays out unless it is asked for: httpx and
httpcore log one line per request at INFO, APScheduler two per job run and alembic one per
migration, so they are held at WARNING (APScheduler's scheduler at ERROR: a run skipped because
the previous one still runs is by design) except at DEBUG, where every request shows.

Warnings once per cause: `OncePerCycle` drops a WARNING or worse whose logger and text equal one
already shown since the last `new_cycle()` (the daemon calls it as a cycle starts) or within the
last hour, so a cause repeated a thousand times in one sync is one line, and a cause that stays
is still told at least once an hour.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Hashable
from typing import TextIO

from rich.console import Console
from rich.text import Text

from deskpulse.sync.observability import JsonFormatter

QUIET_LIBRARIES = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "alembic": logging.WARNING,
    "apscheduler": logging.WARNING,
    "apscheduler.scheduler": logging.ERROR,
}


class TextFormatter(logging.Formatter):
    """`<ISO 8601 UTC time> <LEVEL> <logger>: <message>`; each line of a long record prefixed."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        prefix = f"{stamp}.{int(record.msecs):03d}Z {record.levelname} {record.name}: "
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text = f"{text}\n{record.exc_text}"
        if record.stack_info:
            text = f"{text}\n{self.formatStack(record.stack_info)}"
        return "\n".join(prefix + line for line in text.splitlines() or [""])


class OncePerCycle(logging.Filter):
    """Drops a warning (or worse) identical to one let through since the last `reset()` or
    within `ttl` seconds; lower levels always pass."""

    def __init__(
        self, ttl: float = 3600.0, limit: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.ttl, self.limit, self.clock = ttl, limit, clock
        self._seen: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def cause(self, record: logging.LogRecord) -> Hashable | None:
        """What makes two records the same line (None: the record always passes)."""
        if record.levelno < logging.WARNING:
            return None
        return (record.name, record.levelno, record.getMessage())

    def filter(self, record: logging.LogRecord) -> bool:
        key = self.cause(record)
        if key is None:
            return True
        now = self.clock()
        with self._lock:
            shown = self._seen.get(key)
            if shown is not None and now - shown < self.ttl:
                return False
            if len(self._seen) >= self.limit:  # a flood of distinct texts: start afresh
                self._seen.clear()
            self._seen[key] = now
        return True

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()


class OncePerCause(OncePerCycle):
    """The daemon's filter: each cause of an INFO or WARNING line of the sync and the
    connectors (a retry, a quarantined record, a stream skipped) passes once until `reset()`
    (the daemon's next cycle): the cause is the logger and the message's template. Errors and
    the daemon's own lines (one per cycle and source) always pass."""

    def __init__(self) -> None:
        super().__init__(ttl=float("inf"))

    def cause(self, record: logging.LogRecord) -> Hashable | None:
        name = record.name
        if (
            record.levelno >= logging.ERROR
            or record.levelno < logging.INFO
            or not name.startswith("deskpulse.")
            or name.startswith("deskpulse.daemon")
        ):
            return None
        template = str(record.msg)
        if not template.replace("%s", "").strip():  # "%s": the message is the cause
            template = record.getMessage()
        return (name, template)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler on whatever `sys.stderr` is at the time of each record (a test's capture). On a
    terminal with a rich `console`, lines go through it, whole (never wrapped by rich), above any
    progress bars it shows."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__()
        self.console = console

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass

    def emit(self, record: logging.LogRecord) -> None:
        if self.console is None or not self.console.is_terminal:
            super().emit(record)
            return
        try:
            line = Text(self.format(record), style=_STYLES.get(record.levelno, ""))
            self.console.print(line, soft_wrap=True, highlight=False)
        except Exception:
            self.handleError(record)


_STYLES = {logging.WARNING: "yellow", logging.ERROR: "red", logging.CRITICAL: "bold red"}


_once = OncePerCycle()


def new_cycle() -> None:
    """Forget the warnings shown so far: the next occurrence of each is shown again once."""
    _once.reset()


def configure(level: str, fmt: str = "text", console: Console | None = None) -> None:
    """Route every log record to stderr, as `fmt` (text or json), at `level` (a name); text
    through `console` when it is a terminal."""
    handler = _Stderr(console if fmt != "json" else None)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_once)
    _once.reset()
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    debug = logging.getLogger().level <= logging.DEBUG
    for name, quiet in QUIET_LIBRARIES.items():
        logging.getLogger(name).setLevel(logging.NOTSET if debug else quiet)


__all__ = ["OncePerCause", "OncePerCycle", "TextFormatter", "configure", "new_cycle"]
