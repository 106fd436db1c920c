"""`make demo`: the main job end to end through the real CLI, against the sandbox: no vendor
account and no network (the help desk and the shop are fake vendor servers on loopback; only
`make`'s first run installs .venv from the package index).

Starts the sandbox help desk on loopback, syncs it into a fresh SQLite warehouse (`demo.db`), runs
a second sync to show that nothing changes, prints the KPI table for the sandbox's last full month
(against the targets in examples/kpi.toml) and a weekly trend, then the same help desk read through
LiveAgent's and Freshdesk's APIs beside Zendesk's (same tickets, same KPIs), the warehouse status,
the customer KPIs from the Klaviyo dialect and the support-to-revenue view (customers' value and
churn by first-response experience), writes the month's HTML report (`demo-report.html`), pushes
support values to the Klaviyo profiles; then shows what a push into Zendesk would write and why
(`push --dry-run`), runs one daemon cycle (`daemon --cycles 1`: sync, KPIs, write-back of
examples/writeback.toml, the daily digest) and prints what the sandbox help desk received, and
stops the sandbox. About a minute and a half on a laptop.

The sandbox serves ONE help desk in every vendor's dialect, so a warehouse holding it through both
Zendesk and LiveAgent holds each ticket twice. `demo.db` therefore syncs Zendesk and Klaviyo (one
help desk, one shop: every later step counts each ticket and person once), and the LiveAgent
steps sync into `demo-both.db`, a copy of it, where the two sources stand side by side.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from deskpulse.sandbox.dialect import Received, received
from deskpulse.sandbox.server import SandboxServer

DB = Path("demo.db")
BOTH = Path("demo-both.db")  # demo.db + the same help desk through LiveAgent (see the docstring)
REPORT = Path("demo-report.html")
KPI_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "kpi.toml"
KLAVIYO_WRITEBACK = Path(__file__).resolve().parents[1] / "examples" / "writeback-klaviyo.toml"
ZENDESK_WRITEBACK = Path(__file__).resolve().parents[1] / "examples" / "writeback.toml"
# What both help-desk dialects feed (#9.4): equal per source; combined, counts add up.
SAME_METRICS = (
    "first_response_time",
    "resolution_time",
    "first_contact_resolution",
    "csat",
    "request_volume",
    "ticket_backlog",
)
BUSINESS_METRICS = (
    "churn_rate",
    "retention_rate",
    "customer_lifetime_value",
    "customer_engagement",
    "referral_rate",
)
TICKETS = 3000
KLAVIYO_PUSH = (
    "[dim]Above, the first rows only (failures first; `push --format json` lists every write): "
    "each profile of the shop gets one write per support value. The failed ones are newsletter "
    "sign-ups that the sandbox's subscription job drops on purpose, as Klaviyo's real jobs drop "
    "suppressed or invalid addresses without an error: every invalid address, and one in twelve "
    "by a fixed hash of the address. deskpulse reads the list back after the job, finds them "
    "missing, marks them failed with that reason, and retries them on the next push. Exit 3 is "
    "the push's 'some writes failed'; here it is the expected outcome.[/dim]\n"
)
console = Console()


def _month_before(anchor: datetime) -> tuple[str, str]:
    """The last full calendar month before `anchor`, as --from/--to dates."""
    first = anchor.date().replace(day=1)
    previous = (first - timedelta(days=1)).replace(day=1)
    return previous.isoformat(), first.isoformat()


def _run(title: str, *args: str, env: dict[str, str]) -> int:
    console.rule(f"[bold]$ deskpulse {' '.join(args)}[/bold]  [dim]{title}[/dim]")
    started = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "deskpulse.cli", *args], env=env)
    console.print(f"[dim]exit {code}, {time.perf_counter() - started:.1f} s[/dim]\n")
    return code


def _daemon_steps(sandbox: SandboxServer, env: dict[str, str]) -> list[int]:
    """The write-back into the help desk: what would be written and why, then one daemon cycle
    (sync, KPIs, write-back, digest), then what the sandbox help desk received."""
    desk = sandbox.dialect("zendesk")
    desk.writes.clear()  # from here on, every write the help desk gets is the daemon's
    dry = _run(
        "what the daemon would write into Zendesk, and why (nothing is written)",
        "push", "--dry-run", "--target", "zendesk", "--limit", "8",
        env=env,
    )  # fmt: skip
    cycle = _run(
        "one daemon cycle per source: sync, KPIs, write-back, the digest",
        "daemon", "--cycles", "1",
        env={**env, "DESKPULSE_METRICS_PORT": "0"},
    )  # fmt: skip
    _show_writes(received(desk.writes))
    return [dry, cycle]


def _show_writes(received: Received) -> None:
    """What the sandbox help desk received (as its dialect tells it: sandbox.dialect.Received):
    per request kind, then a few records' new values and the digest's first lines."""
    console.rule("[bold]what the sandbox help desk received[/bold]")
    table = Table(header_style="bold")
    for name in ("request", "calls", "records", "fields written (values)"):
        table.add_column(name, justify="right" if name in ("calls", "records") else "left")
    for kind, count in received.requests.items():
        table.add_row(
            kind, f"{count.calls:,}", f"{count.records:,}",
            ", ".join(f"{k} ({n:,})" for k, n in count.fields.items()),
        )  # fmt: skip
    console.print(table if received.requests else "[yellow]no writes[/yellow]")
    titles = {
        "ticket": "a few tickets as the help desk has them now",
        "user": "a few customers' user fields in the help desk now",
    }
    for kind, records in received.values.items():
        keys = sorted({k for v in records.values() for k in v})
        sample = Table(title=titles.get(kind, f"a few {kind}s now"), header_style="bold")
        sample.add_column(kind, justify="right")
        for key in keys:
            sample.add_column(key, justify="right")
        # Tickets by number; people with the most values written last.
        order = sorted(
            records, key=lambda r: (len(r), r) if kind == "ticket" else (len(records[r]), r)
        )
        for record in order[-5:]:
            sample.add_row(record, *(str(records[record].get(k, "")) for k in keys))
        if records:
            console.print(sample)
    for title, reference, body in received.notes:
        lines = body.splitlines()
        console.print(
            Panel(
                Text("\n".join(lines[:14]) + ("\n..." if len(lines) > 14 else "")),
                title=f"internal note: {title}",
                subtitle=reference,
            )
        )


def _copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite warehouse (the backup API: WAL pages included)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _liveagent_steps(env: dict[str, str], start: str, end: str) -> list[int]:
    """The help desk through LiveAgent's API too, beside Zendesk's, in demo-both.db."""
    _copy(DB, BOTH)
    both = {
        **env,
        "DESKPULSE_DATABASE_URL": f"sqlite:///{BOTH}",
        "DESKPULSE_SOURCES": "zendesk, liveagent, freshdesk, klaviyo",
    }
    metrics = [arg for m in SAME_METRICS for arg in ("--metric", m)]
    window = ["--from", start, "--to", end]
    codes = [
        _run(
            f"the same help desk through LiveAgent's API, into {BOTH} (a copy of {DB})",
            "sync",
            "--source",
            "liveagent",
            env=both,
        ),
        _run(
            "and through Freshdesk's API",
            "sync",
            "--source",
            "freshdesk",
            env=both,
        ),
        _run(
            "same tickets, same KPIs: each source alone",
            "kpi",
            *window,
            "--by",
            "source",
            "--source",
            "zendesk",
            "--source",
            "liveagent",
            "--source",
            "freshdesk",
            *metrics,
            env=both,
        ),
        _run(
            "both sources combined",
            "kpi",
            *window,
            "--source",
            "zendesk",
            "--source",
            "liveagent",
            *metrics,
            env=both,
        ),
    ]
    console.print(
        "[dim]Both dialects serve the same generated tickets, so combined, the counts (request "
        "volume, backlog, n) are twice each source's while times and rates stay the same. With "
        "two real help desks, combined is the whole team. Every other step reads "
        f"{DB}, which holds the help desk once. Freshdesk's API has no status history and no "
        "calls or chats of their own: its backlog counts a reopened ticket as solved from its "
        "last solve, and its request volume leaves out the unlinked missed calls and chats "
        "(README, Freshdesk).[/dim]\n"
    )
    return codes


def main() -> int:
    for db in (DB, BOTH):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    # The sandbox's "now" is today's midnight (UTC): its data runs up to yesterday, so the
    # daemon's daily digest (yesterday) has numbers in it.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with SandboxServer(seed=42, tickets=TICKETS, rate_limit=False, anchor=today) as sandbox:
        console.print(
            f"[bold]sandbox help desk[/bold]: {TICKETS:,} generated tickets (seed 42) speaking "
            f"Zendesk's API at {sandbox.base_url}, LiveAgent's at "
            f"{sandbox.host_of('liveagent').base_url} and Freshdesk's at "
            f"{sandbox.host_of('freshdesk').base_url}; its customers' shop speaks Klaviyo's at "
            f"{sandbox.host_of('klaviyo').base_url}\n"
        )
        env = {
            **os.environ,
            # With the OAuth token: the Chat API takes OAuth only, as on real Zendesk. The
            # sandbox runs without limits here, and its lines say so (ZENDESK_RATE_LIMITS=off).
            **sandbox.env(oauth=True),
            "DESKPULSE_DATABASE_URL": f"sqlite:///{DB}",
            # One help desk once (Zendesk) and the shop; LiveAgent's steps read demo-both.db.
            "DESKPULSE_SOURCES": "zendesk, klaviyo",
            "DESKPULSE_TIMEZONE": os.environ.get("DESKPULSE_TIMEZONE", "UTC"),
            "COLUMNS": str(max(console.width, 140)),  # tables are wide; children see no tty
            "KLAVIYO_PREDICTIVE": "true",  # Klaviyo's own CLV and churn beside ours
        }
        if KPI_CONFIG.exists():  # a checkout; an installed wheel has no examples/
            env.setdefault("DESKPULSE_KPI_CONFIG", str(KPI_CONFIG))
        start, end = _month_before(sandbox.account.anchor)
        codes = [
            _run("first sync: everything", "sync", env=env),
            _run("second sync: only what changed (nothing)", "sync", env=env),
            _run("the month's KPIs", "kpi", "--from", start, "--to", end, env=env),
            _run(
                "weekly trend by channel",
                "kpi",
                "--from",
                start,
                "--to",
                end,
                "--every",
                "week",
                "--metric",
                "first_response_time",
                "--metric",
                "csat",
                "--metric",
                "request_volume",
                env=env,
            ),
            *_liveagent_steps(env, start, end),
            _run("what is in the warehouse", "status", env=env),
            _run(
                "customers and revenue, from the Klaviyo dialect",
                "kpi",
                "--from",
                start,
                "--to",
                end,
                "--source",
                "klaviyo",
                *(arg for m in BUSINESS_METRICS for arg in ("--metric", m)),
                env=env,
            ),
            _run(
                "support to revenue: customers by their first-response experience",
                "revenue",
                "--at",
                end,
                env=env,
            ),
            _run(
                "the month as an HTML report",
                "report",
                "--from",
                start,
                "--to",
                end,
                "--out",
                str(REPORT),
                env=env,
            ),
        ]
        if KLAVIYO_WRITEBACK.exists():
            pushed = _run(
                "support values onto Klaviyo profiles; opted-in requesters onto the newsletter",
                "push", "--target", "klaviyo", "--limit", "3",
                env={**env, "DESKPULSE_WRITEBACK": str(KLAVIYO_WRITEBACK)},
            )  # fmt: skip
            console.print(KLAVIYO_PUSH, highlight=False)
            codes.append(0 if pushed == 3 else pushed)
        if ZENDESK_WRITEBACK.exists():
            codes += _daemon_steps(sandbox, {**env, "DESKPULSE_WRITEBACK": str(ZENDESK_WRITEBACK)})
    console.print(f"[bold]report:[/bold] open {REPORT.resolve().as_uri()} in a browser")
    console.print(
        f"[bold green]demo done[/bold green] in {time.perf_counter() - started:.0f} s. "
        f"Explore it: DESKPULSE_DATABASE_URL=sqlite:///{DB} .venv/bin/deskpulse kpi --help"
    )
    return 0 if all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
