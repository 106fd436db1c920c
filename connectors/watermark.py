"""The watermark rule every incremental stream follows, whatever the vendor.

A stream that reads "what changed since T" stores T, its watermark: the latest record time it
committed. One record dated in the future (a help desk's clock gone wrong, an imported ticket
with a typo) would carry the watermark past everything still to come, and every later sync would
ask for the changes since then and silently get nothing. So, for every vendor:

* A watermark never passes the moment the sync started (`Watermark.cap`), when stored and when
  read back (a cursor stored before this rule heals on the next sync). The next sync reads from
  the sync's start less the stream's overlap: the future-dated record is read again (rows upsert
  by id, nothing duplicates) and everything changed meanwhile arrives.
* A record dated more than `FUTURE_SLACK` past the sync's start is kept (it is the help desk's
  data) but reported (`Watermark.see`): a `future_dated` count in the run record (`deskpulse
  status` shows it) and one warning per stream and run naming how many and one record's id.

A date outside 1900-2199 is not a date at all: the engine quarantines such a record for every
vendor (kpi_core.canonical.check_times), the rule the file import follows.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from deskpulse.kpi_core.canonical import LATEST

log = logging.getLogger("deskpulse.sync")

FUTURE_SLACK = timedelta(days=1)
"""How far past the sync's start a record may be dated before it is reported (clock skew
between the help desk and this machine, time zones read wrong by a few hours)."""

FUTURE_DATED = "future_dated"
"""The run record's count (`Page.counts`) of the records dated past the sync's start + a day."""


class Watermark:
    """One stream's watermark rule for one run: `where` names the stream in the warning
    (`liveagent/tickets`), `started` is the sync's start (aware)."""

    def __init__(self, where: str, started: datetime) -> None:
        self.where = where
        self.started = started.astimezone(UTC)
        self._limit = self.started + FUTURE_SLACK
        self.future = 0
        self._counted = 0  # of `future`, what the pages' counts already carried
        self._example: tuple[Any, datetime] | None = None
        self._warned = False

    def cap(self, moment: datetime) -> datetime:
        """`moment`, or the sync's start when `moment` is later."""
        return moment if moment <= self.started else self.started

    def cap_epoch(self, stamp: int) -> int:
        """`cap` for a watermark in epoch seconds (Zendesk's exports)."""
        return min(stamp, int(self.started.timestamp()))

    def see(self, moment: datetime | None, record_id: Any) -> None:
        """Note one record's time: one dated past the sync's start + a day is counted."""
        if moment is not None and self._limit < moment < LATEST:  # past 2199: quarantined
            self.future += 1
            if self._example is None:
                self._example = (record_id, moment)

    def see_epoch(self, stamp: int | None, record_id: Any) -> None:
        if stamp is not None and self._limit.timestamp() < stamp < LATEST.timestamp():
            self.see(datetime.fromtimestamp(stamp, UTC), record_id)

    def counts(self) -> dict[str, int]:
        """For the next page's `counts`: the future-dated records seen since the last page."""
        new, self._counted = self.future - self._counted, self.future
        return {FUTURE_DATED: new} if new else {}

    def warn(self) -> None:
        """The stream's one warning of the run, when it saw future-dated records."""
        if self._warned or self._example is None:
            return
        self._warned = True
        record_id, moment = self._example
        log.warning(
            "%s: %d record%s dated more than a day past this sync's start (e.g. id %s at %s): "
            "kept, but the stream's watermark stays at the sync's start (%s); check that record "
            "(or the vendor account's clock)",
            self.where,
            self.future,
            "" if self.future == 1 else "s",
            record_id,
            moment.isoformat(),
            self.started.isoformat(timespec="seconds"),
        )


__all__ = ["FUTURE_DATED", "FUTURE_SLACK", "Watermark"]
