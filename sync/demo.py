"""`make demo`: the main job end to end, offline, through the real CLI.

Starts the sandbox help desk on loopback, syncs it into a fresh SQLite warehouse (`demo.db`), runs
a second sync to show that nothing changes, prints the KPI table for the sandbox's last full month
(against the targets in examples/kpi.toml) and a weekly trend, then the warehouse status, the
customer KPIs from the Klaviyo dialect and the support-to-revenue view (customers' value and
churn by first-response experience), writes the month's HTML report (`demo-report.html`), pushes
support values to the Klaviyo profiles, and stops the sandbox. Under a minute on a laptop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console

from deskpulse.sandbox.server import SandboxServer

DB = Path("demo.db")
REPORT = Path("demo-report.html")
KPI_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "kpi.toml"
KLAVIYO_WRITEBACK = Path(__file__).resolve().parents[1] / "examples" / "writeback-klaviyo.toml"
BUSINESS_METRICS = (
    "churn_rate",
    "retention_rate",
    "customer_lifetime_value",
    "customer_engagement",
    "referral_rate",
)
TICKETS = 3000
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


def main() -> int:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    with SandboxServer(seed=42, tickets=TICKETS, rate_limit=False) as sandbox:
        console.print(
            f"[bold]sandbox help desk[/bold] at {sandbox.base_url}: {TICKETS:,} generated tickets "
            "speaking Zendesk's API (seed 42); its customers' shop speaks Klaviyo's at "
            f"{sandbox.host_of('klaviyo').base_url}\n"
        )
        env = {
            **os.environ,
            # With the OAuth token: the Chat API takes OAuth only, as on real Zendesk. The
            # sandbox runs without limits here, and its lines say so (ZENDESK_RATE_LIMITS=off).
            **sandbox.env(oauth=True),
            "DESKPULSE_DATABASE_URL": f"sqlite:///{DB}",
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
            # Exit 3: the subscription job drops some profiles (as real jobs do); the push
            # reports them and retries them on the next push.
            pushed = _run(
                "support values onto Klaviyo profiles; opted-in requesters onto the newsletter",
                "push",
                "--target",
                "klaviyo",
                env={**env, "DESKPULSE_WRITEBACK": str(KLAVIYO_WRITEBACK)},
            )
            codes.append(0 if pushed == 3 else pushed)
    console.print(f"[bold]report:[/bold] open {REPORT.resolve().as_uri()} in a browser")
    console.print(
        f"[bold green]demo done[/bold green] in {time.perf_counter() - started:.0f} s. "
        f"Explore it: DESKPULSE_DATABASE_URL=sqlite:///{DB} .venv/bin/deskpulse kpi --help"
    )
    return 0 if all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
