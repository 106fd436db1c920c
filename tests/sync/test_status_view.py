"""`deskpulse status` at 80 columns with everything it can show: two sources (one with a long
name and a long error), a daemon that was killed, a backfill, write-back errors. No line is
longer than the terminal, no cell is cut to an ellipsis, every fact is there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from deskpulse.sync.render import status_view

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
ERROR = (
    "zendesk: 500 from /api/v2/incremental/ticket_events?start_time=1796461200 after 7 "
    "attempts; the next run goes on from the last committed page"
)


def _source(name: str, status: str, message: str | None) -> dict[str, object]:
    return {
        "source": name,
        "vendor": "zendesk",
        "last_run": {"started_at": NOW - timedelta(minutes=3), "status": status,
                     "rows": 1_234_567, "requests": 12_345, "message": message, "streams": {}},
        "last_success": NOW - timedelta(hours=5),
        "lag_seconds": 5 * 3600.0,
        "failed_runs": 12,
        "next_run": NOW - timedelta(minutes=1),
        "daemon": "not running",
        "writes": {"pending": 1_200, "sending": 3, "failed": 17},
    }  # fmt: skip


def test_status_fits_80_columns() -> None:
    data = {
        "database": "postgresql+psycopg://deskpulse:***@db.internal.example:5432/deskpulse",
        "schema": "0008",
        "sources": [_source("zendesk_eu", "failed", ERROR), _source("klaviyo", "ok", None)],
        "backfills": [{"source": "zendesk_eu", "stream": "tickets", "share": 0.42,
                       "started": NOW - timedelta(days=1), "eta": NOW + timedelta(hours=7)}],
        "tables": {"tickets": 1_234_567, "order_adjustments": 12},
        "quarantine": {"total": 3, "by_source": {"zendesk_eu": 3}},
        "write_back": [{"target": "zendesk_eu:frt", "sent": 120_345, "pending": 1_200,
                        "sending": 3, "failed": 17, "last_error": "HTTP 422: " + "x" * 120,
                        "next_attempt_at": "2026-12-05T10:00:00+00:00"}],
    }  # fmt: skip
    console = Console(width=80, record=True, force_terminal=False)
    for part in status_view(data):  # as `deskpulse status` prints them
        console.print(part, soft_wrap=getattr(part, "no_wrap", None) is True)
    lines = console.export_text().splitlines()
    # The warehouse's URL is whole on its line (a path to copy), whatever its length.
    assert lines[0] == f"warehouse: {data['database']}  schema 0008"
    assert max(len(line) for line in lines[1:]) <= 80
    assert not any("…" in line for line in lines)
    text = " ".join(" ".join(lines).split())
    for fact in ("zendesk_eu", "1,234,567", "12,345", "failed", "5.0 h", "2026-12-05 04:00",
                 "2026-12-05 08:59", "1,203", "17", "daemon not running", "backfill 42% read",
                 ERROR, "HTTP 422: " + "x" * 60, "120,345", "quarantined records: 3"):  # fmt: skip
        assert fact in text, fact
