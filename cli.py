"""deskpulse command line: parses arguments, calls into sync/ and kpi_core/, renders with rich.

Every failure a user can cause or meet (bad settings, unreachable host, bad files, an unknown
metric) ends as one red line on stderr and a non-zero exit code, never a traceback. Exit codes:
0 done, 1 failed, 2 usage error, 3 done with some rows quarantined or some streams failed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from deskpulse.sync.engine import SyncObserver

EXIT_PARTIAL = 3

app = typer.Typer(
    help="Customer-service KPIs from your help desk: sync, warehouse, exact metrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Warehouse schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
sources_app = typer.Typer(
    help="The sources file (DESKPULSE_SOURCES_FILE): many accounts as rows.", no_args_is_help=True
)
app.add_typer(sources_app, name="sources")
webhooks_app = typer.Typer(help="Webhooks that tell the daemon what changed.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class StatusFormat(StrEnum):
    table = "table"
    json = "json"


EnvFile = Annotated[
    Path | None,
    typer.Option(
        "--env-file", help="Read settings from this file (default: ./.env), e.g. the service's."
    ),
]


class Every(StrEnum):
    day = "day"
    week = "week"
    month = "month"


def _error_line(message: str) -> None:
    # The message is text (it may quote a vendor or a file: "[/oops]"), never markup.
    err.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    _error_line(message)
    raise typer.Exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn every expected failure into one clear line (set DESKPULSE_LOG_LEVEL=DEBUG for more)."""
    from sqlalchemy.exc import SQLAlchemyError

    from deskpulse.connectors.errors import ConfigError, DeskpulseError
    from deskpulse.kpi_core.registry import KpiError

    try:
        yield
    except (ConfigError, KpiError) as exc:  # the user's to fix: settings, options, metric ids
        fail(str(exc), 2)
    except DeskpulseError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        logging.getLogger("deskpulse").debug("database error", exc_info=True)
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        fail(f"database error: {reason} (check DESKPULSE_DATABASE_URL; `deskpulse db upgrade`)")
    except KeyboardInterrupt:
        fail("interrupted; the next sync resumes from the last committed page", 130)
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # a bug: still one line; the traceback is there at DEBUG
        logging.getLogger("deskpulse").debug("internal error", exc_info=True)
        fail(
            f"internal error ({exc.__class__.__name__}: {exc}); please report it "
            "(DESKPULSE_LOG_LEVEL=DEBUG shows the details)"
        )


def _setup(env_file: Path | None = None, *, default_level: str = "WARNING") -> Any:
    """Read the settings and configure logging (sync.logs): DESKPULSE_LOG_LEVEL when it is set,
    else `default_level` (the daemon's is INFO: a line per cycle)."""
    from deskpulse.sync.logs import configure
    from deskpulse.sync.settings import DEFAULT_ENV_FILE, load_settings

    if env_file is not None and not env_file.is_file():
        fail(f"--env-file {env_file}: no such file", 2)
    settings = load_settings(env_file or DEFAULT_ENV_FILE)
    level = settings.log_level if "log_level" in settings.model_fields_set else default_level
    configure(level, settings.log_format, err)
    return settings


# ---------------------------------------------------------------------------------------- sync


class _Bars(SyncObserver):
    """Progress bars for a sync: one line per stream, counting records as pages commit."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[tuple[str, str], Any] = {}

    def stream_started(self, source: str, stream: str) -> None:
        label = escape(f"{source}/{stream}")
        self.tasks[(source, stream)] = self.progress.add_task(label, total=None)

    def page_committed(self, source: str, stream: str, report: Any) -> None:
        self.progress.update(
            self.tasks[(source, stream)],
            completed=report.records,
            description=f"{escape(f'{source}/{stream}')}  "
            f"[dim]{report.records:,} records, {report.pages} pages",
        )

    def stream_finished(self, source: str, report: Any) -> None:
        task = self.tasks[(source, report.name)]
        self.progress.update(task, total=report.records or 1, completed=report.records or 1)


@contextmanager
def _progress() -> Iterator[_Bars]:
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
    with progress:
        yield _Bars(progress)


def _print_run(report: Any) -> None:
    table = Table(
        title=Text(f"{_source_label(report)} run {report.run_id}: {report.status}"),
        header_style="bold",
    )
    for name in ("stream", "status", "records", "written", "quarantined", "note"):
        table.add_column(
            name, justify="right" if name in ("records", "written", "quarantined") else "left"
        )
    style = {"ok": "green", "skipped": "yellow", "failed": "red"}
    for s in report.streams:
        table.add_row(
            Text(s.name),
            Text(s.status, style=style.get(s.status, "")),
            f"{s.records:,}",
            f"{s.written:,}",
            f"{s.quarantined:,}",
            Text(s.error or ""),
        )
    if report.requests:
        table.caption = f"{report.requests:,} requests, {report.retries:,} retries"
    out.print(table)


def _source_label(report: Any) -> str:
    same = report.source == report.vendor
    return str(report.source) if same else f"{report.source} ({report.vendor})"


def _exit_for(reports: list[Any]) -> None:
    if any(r.status == "failed" for r in reports):
        for r in reports:
            if r.status == "failed" and r.message:
                said = (
                    r.message
                    if r.message.startswith(f"{r.source}:")
                    else f"{r.source}: {r.message}"
                )
                _error_line(said)
        raise typer.Exit(1)
    if any(r.status == "partial" for r in reports):
        if any(r.quarantined for r in reports):
            err.print("[yellow]some records were quarantined: see `deskpulse quarantine`[/yellow]")
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def sync(
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only this source (repeatable).")
    ] = None,
    stream: Annotated[
        list[str] | None, typer.Option("--stream", help="Only this stream (repeatable).")
    ] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Read everything again from the start.")
    ] = False,
) -> None:
    """Pull new and changed records from every configured source into the warehouse."""
    with friendly_errors():
        settings = _setup()
        from deskpulse.sync.engine import run_sync
        from deskpulse.sync.locks import LockHeld
        from deskpulse.sync.sources import build_connectors
        from deskpulse.sync.warehouse import Warehouse

        warehouse = Warehouse(settings.database_url)
        connectors = build_connectors(settings, only=source)
        try:
            wanted = _streams_of(connectors, stream)
        except BaseException:
            for connector in connectors:
                connector.close()
            raise
        reports = []
        refused: list[str] = []  # sources another process is syncing: the others go on
        with _progress() as bars:
            for connector in connectors:
                try:
                    if connector.source not in wanted:
                        continue  # none of the streams asked for is one of this source's
                    reports.append(
                        run_sync(
                            warehouse,
                            connector,
                            streams=wanted[connector.source],
                            full_refresh=full_refresh,
                            observer=bars,
                        )
                    )
                except LockHeld as exc:
                    refused.append(str(exc))
                finally:
                    connector.close()
        for report in reports:
            _print_run(report)
        for line in refused:
            _error_line(line)
        _exit_for(reports)
        if refused:
            raise typer.Exit(1)


def _streams_of(connectors: list[Any], asked: list[str] | None) -> dict[str, list[str] | None]:
    """Per source, the streams `--stream` asks of it (None: all); a source that has none of
    them is left out. A name no source has is a usage error naming every source's streams."""
    if not asked:
        return {c.source: None for c in connectors}
    names = {c.source: [s.name for s in c.streams()] for c in connectors}
    unknown = sorted(set(asked) - {n for streams in names.values() for n in streams})
    if unknown:
        has = "; ".join(f"{source} has: {', '.join(streams)}" for source, streams in names.items())
        fail(f"unknown stream {', '.join(unknown)} ({has})", 2)
    wanted = {source: [n for n in asked if n in streams] for source, streams in names.items()}
    return {source: streams for source, streams in wanted.items() if streams}


@app.command("import")
def import_files(
    folder: Annotated[Path, typer.Argument(help="Folder with tickets.csv, agents.jsonl, ...")],
    source: Annotated[
        str, typer.Option("--source", help="Source name the rows belong to.")
    ] = "files",
) -> None:
    """Import canonical CSV/JSONL files (KPI_CATALOG.md section 1). Re-importing is safe."""
    with friendly_errors():
        settings = _setup()
        from deskpulse.connectors.files import FilesConnector
        from deskpulse.sync.engine import run_sync
        from deskpulse.sync.warehouse import Warehouse

        connector = FilesConnector(source, folder)
        if not connector.files():
            fail(f"no canonical files in {folder} (expected e.g. tickets.csv or tickets.jsonl)")
        warehouse = Warehouse(settings.database_url)
        with _progress() as bars:
            report = run_sync(warehouse, connector, full_refresh=True, observer=bars)
        _print_run(report)
        if report.quarantined:
            for line in _quarantine_lines(warehouse, report.run_id):
                err.print(Text(line, style="yellow"), highlight=False)
        _exit_for([report])


def _quarantine_lines(warehouse: Any, run_id: int, limit: int = 20) -> list[str]:
    from deskpulse.sync.status import quarantined

    rows = quarantined(warehouse, run_id=run_id, limit=limit + 1)
    lines = [
        r["reason"]
        if r["location"] and r["reason"].startswith(r["location"])
        else f"{r['location'] or r['stream']}: {r['reason']}"
        for r in rows[:limit]
    ]
    if len(rows) > limit:
        lines.append("... more in `deskpulse quarantine`")
    return lines


# -------------------------------------------------------------------------------------- status


@app.command()
def status(
    format: Annotated[
        StatusFormat, typer.Option("--format", help="table or json")
    ] = StatusFormat.table,
    env_file: EnvFile = None,
) -> None:
    """Sources: last run, last success and lag, next run, waiting writes; rows, quarantine."""
    with friendly_errors():
        settings = _setup(env_file)
        from deskpulse.sync import render
        from deskpulse.sync.status import collect_status
        from deskpulse.sync.warehouse import Warehouse

        data = collect_status(Warehouse(settings.database_url, reading=True), settings)
        if format is StatusFormat.json:
            sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
            return
        for part in render.status_view(data):  # a Text marked no_wrap is printed whole
            out.print(part, highlight=False, soft_wrap=getattr(part, "no_wrap", None) is True)


@app.command()
def daemon(
    env_file: EnvFile = None,
    cycles: Annotated[
        int | None,
        typer.Option(
            "--cycles",
            min=1,
            help="Stop once every source has run this many cycles and each digest has been "
            "posted (e.g. 1 for a demo).",
        ),
    ] = None,
    fleet: Annotated[
        bool,
        typer.Option(
            "--fleet",
            help="Be one member of a fleet of daemons sharing the sources through a PostgreSQL "
            "warehouse (leases; see docs/fleet.md).",
        ),
    ] = False,
) -> None:
    """Sync every source on its interval, write KPIs back, post digests; SIGTERM stops it."""
    with friendly_errors():
        settings = _setup(env_file, default_level="INFO")
        import faulthandler

        from deskpulse.sync.daemon import Daemon

        if not faulthandler.is_enabled():  # a fatal signal (SIGBUS, SIGSEGV) leaves its line
            faulthandler.enable(file=sys.__stderr__ or sys.stderr)
        runner = Daemon(settings, fleet=fleet)  # its log says where /metrics, /healthz are
        runner.run(cycles=cycles)
        if runner.abandoned:  # a request still in flight: not waited for (Daemon.run)
            logging.shutdown()
            os._exit(0)


@app.command()
def push(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be written, and why; write nothing.")
    ] = False,
    target: Annotated[
        list[str] | None,
        typer.Option("--target", help="Only this action or source (repeatable)."),
    ] = None,
    format: Annotated[StatusFormat, typer.Option("--format", help="table or json")] = (
        StatusFormat.table
    ),
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Rows of the table (--format json lists all).")
    ] = 200,
    env_file: EnvFile = None,
) -> None:
    """Write KPI values and digests into the help desk (DESKPULSE_WRITEBACK), each once."""
    with friendly_errors():
        settings = _setup(env_file)
        from deskpulse.sync.push import run_push

        report = run_push(settings, targets=target, dry_run=dry_run)
        rows = [
            {"target": i.target, "record": i.record_id, "field": i.field, "value": i.value,
             "why": i.reason, "outcome": i.outcome or ("would write" if dry_run else ""),
             "error": i.error}
            for i in report.items
        ]  # fmt: skip
        if format is StatusFormat.json:
            payload = {"dry_run": dry_run, "unchanged": report.unchanged, "writes": rows}
            sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        else:
            table = Table(title="would write" if dry_run else "writes", header_style="bold")
            for name in ("target", "record", "field", "value", "why", "outcome"):
                table.add_column(name)
            rows.sort(key=lambda r: r["outcome"] != "failed")  # those to read first, if cut
            for r in rows[:limit]:
                outcome = r["outcome"] + (f": {r['error']}" if r["error"] else "")
                table.add_row(*(escape(str(r[k])) for k in ("target", "record", "field", "value", "why")), escape(outcome))  # fmt: skip
            if rows and limit:
                out.print(table)
            if len(rows) > limit:
                out.print(f"... and {len(rows) - limit:,} more (--format json lists all)")
            _print_failures(rows)
            verb = "to write" if dry_run else "written"
            per_target: dict[str, int] = {}
            for r in rows:
                per_target[r["target"]] = per_target.get(r["target"], 0) + 1
            if len(per_target) > 1:
                out.print(
                    "by target: " + ", ".join(f"{t} {n:,}" for t, n in per_target.items()),
                    highlight=False,
                    markup=False,
                )
            done = len(rows) if dry_run else report.count("sent") + report.count("verified")
            out.print(
                f"{done:,} {verb}, {report.unchanged:,} unchanged (not rewritten)"
                + (
                    f", [red]{report.failed:,} failed[/red] (retried on the next push; "
                    "`deskpulse status`)"
                    if report.failed
                    else ""
                )
                + (
                    f", [yellow]{report.in_doubt:,} in doubt[/yellow] (no answer: read back, "
                    "not re-sent, on the next push)"
                    if report.in_doubt
                    else ""
                )
            )
        if report.failed or report.in_doubt:
            raise typer.Exit(EXIT_PARTIAL)


def _print_failures(rows: list[dict[str, Any]]) -> None:
    """Failed writes by target and reason, so a long push still says why in a few lines."""
    causes: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["outcome"] == "failed":
            key = (r["target"], str(r["error"] or "no reason given"))
            causes[key] = causes.get(key, 0) + 1
    for (target, error), n in causes.items():
        out.print(Text(f"failed: {n:,} to {target}: {error}", style="red"))


@app.command()
def quarantine(
    source: Annotated[str | None, typer.Option("--source")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    format: Annotated[StatusFormat, typer.Option("--format")] = StatusFormat.table,
) -> None:
    """Records that could not enter the warehouse, with the reason."""
    with friendly_errors():
        settings = _setup()
        from deskpulse.sync.status import quarantined
        from deskpulse.sync.warehouse import Warehouse

        warehouse = Warehouse(settings.database_url, reading=True)
        rows = quarantined(warehouse, source=source, limit=limit)
        if format is StatusFormat.json:
            sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
            return
        table = Table(header_style="bold")
        for name in ("when", "source", "stream", "where", "reason"):
            table.add_column(name)
        for r in rows:
            table.add_row(
                str(r["created_at"])[:19],
                Text(r["source"]),
                Text(r["stream"]),
                Text(r["location"] or ""),
                Text(r["reason"]),
            )
        out.print(table)


# ----------------------------------------------------------------------------------------- kpi


def _parse_params(values: list[str] | None, option: str = "--param") -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            fail(f"{option} takes name=value, got {item!r}", 2)
        params[name.strip()] = value.strip()
    return params


@app.command()
def kpi(
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="Start date/time (inclusive), reporting time zone. Default: 30 days ago."
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="End date/time (exclusive). Default: tomorrow 00:00.")
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", "-m", help="Metric id (repeatable). Default: all."),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="agent, group, channel, type, priority or source.")
    ] = None,
    every: Annotated[
        Every | None, typer.Option("--every", help="Bucket by day, week or month.")
    ] = None,
    business_hours: Annotated[
        bool, typer.Option("--business-hours", help="Durations in business time.")
    ] = False,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Metric parameter name=value (repeatable).")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only rows of this source (repeatable).")
    ] = None,
    format: Annotated[Format, typer.Option("--format", help="table, json or csv.")] = Format.table,
    list_metrics: Annotated[
        bool, typer.Option("--list", help="List every metric (table or json) and exit.")
    ] = False,
) -> None:
    """Compute customer-service KPIs over a period, optionally sliced and bucketed."""
    with friendly_errors():
        settings = _setup()
        from deskpulse.sync import render

        if list_metrics:
            if format is Format.table:
                out.print(render.metric_list())
            elif format is Format.json:
                sys.stdout.write(render.metric_list_json() + "\n")
            else:
                fail("--list takes --format table or json", 2)
            return
        from deskpulse.sync.reporting import compute_kpis, day_label

        params = _parse_params(param)
        with err.status("computing KPIs…", spinner="dots"):
            values, query = compute_kpis(
                settings,
                start=start,
                end=end,
                metrics=metric,
                by=by,
                every=every.value if every else None,
                business_hours=business_hours,
                params=params,
                sources=source,
            )
        if not metric and query.by:
            from deskpulse.kpi_core import plan

            skipped = sorted(plan(None, query)[1])
            if skipped:
                err.print(
                    Text(f"not sliced by {query.by}, so left out: {', '.join(skipped)}", "dim")
                )
        if format is Format.json:
            sys.stdout.write(render.kpi_json(values) + "\n")
        elif format is Format.csv:
            sys.stdout.write(render.kpi_csv(values))
        else:
            span = f"{day_label(query.start, query.tz)} → {day_label(query.end, query.tz)}"
            title = f"KPIs {span} ({settings.timezone})"
            out.print(render.kpi_table(values, query.tz, every=query.every, title=title))


@app.command()
def revenue(
    target_minutes: Annotated[
        float, typer.Option("--target-minutes", help="First response target, minutes.")
    ] = 60.0,
    at: Annotated[
        str | None, typer.Option("--at", help="Evaluate at this date (default: now).")
    ] = None,
    inactivity_days: Annotated[
        int,
        typer.Option("--inactivity-days", help="A customer with no order for this long is lost."),
    ] = 90,
    format: Annotated[StatusFormat, typer.Option("--format", help="table or json")] = (
        StatusFormat.table
    ),
) -> None:
    """Support to revenue: customers' lifetime value and churn by first-response experience,
    people matched across sources by e-mail."""
    with friendly_errors():
        settings = _setup()
        from deskpulse.kpi_core.canonical import InvalidRow, parse_datetime
        from deskpulse.kpi_core.identity import revenue_by_experience
        from deskpulse.sync.warehouse import Warehouse

        try:
            moment = parse_datetime(at) if at else datetime.now(UTC)
        except InvalidRow:
            fail(f"--at: {at!r} is not a date (use YYYY-MM-DD)", 2)
        if not target_minutes > 0:
            fail("--target-minutes must be positive", 2)
        with Warehouse(settings.database_url).connect() as conn:
            rows, matched = revenue_by_experience(
                conn, now=moment, target_minutes=target_minutes, inactivity_days=inactivity_days
            )
        if format is StatusFormat.json:
            payload = {"at": moment.isoformat(), "target_minutes": target_minutes,
                       "groups": rows, "people_by_sources": matched}  # fmt: skip
            sys.stdout.write(json.dumps(payload, indent=2) + "\n")
            return
        table = Table(
            title=f"customers by first-response experience (target {target_minutes:g} min)",
            header_style="bold",
        )
        columns = ("first response", "people", "customers", "CLV (historical)", "churn",
                   "vendor predicted CLV", "vendor churn prob.")  # fmt: skip
        for name in columns:
            table.add_column(name, justify="left" if name == "first response" else "right")
        for r in rows:
            table.add_row(
                r["first_response"].replace("_", " "),
                f"{r['people']:,}",
                f"{r['customers']:,}",
                _money(r["clv_historical"]),
                _share(r["churn_rate"]),
                _money(r["vendor_predicted_clv"]),
                _share(r["vendor_churn_probability"]),
            )
        out.print(table)
        parts = [f"{escape(k)} {v:,}" for k, v in matched.items()]
        out.print("people by the sources they appear in: " + (" · ".join(parts) or "none"))


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


@app.command()
def report(
    out_file: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the HTML report.")
    ] = Path("report.html"),
    start: Annotated[
        str | None,
        typer.Option("--from", help="Start date/time (inclusive). Default: 30 days ago."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="End date/time (exclusive). Default: tomorrow 00:00.")
    ] = None,
    every: Annotated[
        Every | None,
        typer.Option("--every", help="Trend buckets. Default: by day up to 2 months, then week."),
    ] = None,
    by: Annotated[
        str, typer.Option("--by", help="Breakdown: agent, group, channel, type, priority, source.")
    ] = "agent",
    business_hours: Annotated[
        bool, typer.Option("--business-hours", help="Durations in business time.")
    ] = False,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only rows of this source (repeatable).")
    ] = None,
) -> None:
    """Write a self-contained HTML report: headline KPIs, trends, breakdowns, distributions."""
    with friendly_errors():
        settings = _setup()
        from deskpulse.kpi_core.registry import DIMENSIONS
        from deskpulse.sync.report import build_report, render_html

        if by not in DIMENSIONS:
            fail(f"--by takes one of {', '.join(DIMENSIONS)}, got {by!r}", 2)
        with err.status("computing the report…", spinner="dots"):
            built = build_report(
                settings,
                start=start,
                end=end,
                every=every.value if every else None,
                by=by,
                business_hours=business_hours,
                sources=source,
            )
            page = render_html(built)
        try:
            out_file.write_text(page, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write the report to {out_file}: {exc.strerror or exc}")
        shown = sum(1 for v in built.values if v.n)
        err.print(
            f"report written to {escape(str(out_file.resolve()))} "
            f"({len(page) // 1024:,} KiB; {shown} values, {len(built.missing)} metrics without data)"
        )


# ------------------------------------------------------------------------------------- sources


def _sources_path(settings: Any, given: Path | None) -> Path:
    path = given or settings.sources_file
    if path is None:
        fail("no sources file: set DESKPULSE_SOURCES_FILE or pass --file", 2)
    return Path(path)


SourcesFile = Annotated[
    Path | None, typer.Option("--file", help="The sources file (default DESKPULSE_SOURCES_FILE).")
]


@sources_app.command("add")
def sources_add(
    name: Annotated[str, typer.Argument(help="The source's name, e.g. acme.")],
    vendor: Annotated[str, typer.Option("--vendor", help="A registered connector.")],
    interval: Annotated[float | None, typer.Option(help="Seconds between syncs.")] = None,
    account: Annotated[str | None, typer.Option(help="Vendor account (budget) key.")] = None,
    budget_share: Annotated[float, typer.Option(help="Share of the account's budget.")] = 1.0,
    secrets_file: Annotated[
        Path | None, typer.Option(help="NAME=value lines with this source's secrets.")
    ] = None,
    writeback: Annotated[Path | None, typer.Option(help="This source's write-back file.")] = None,
    setting: Annotated[
        list[str] | None, typer.Option("--set", help="A non-secret vendor setting, key=value.")
    ] = None,
    file: SourcesFile = None,
    env_file: EnvFile = None,
) -> None:
    """Add a source to the sources file (secrets stay in the environment or its secrets file)."""
    with friendly_errors():
        settings = _setup(env_file)
        from deskpulse.sync.sources_file import add_entry

        raw: dict[str, Any] = {"name": name, "vendor": vendor, "budget_share": budget_share}
        extra = {"interval": interval, "account": account, "secrets_file": secrets_file,
                 "writeback": writeback}  # fmt: skip
        raw.update({k: str(v) if isinstance(v, Path) else v for k, v in extra.items() if v})
        raw["settings"] = _parse_params(setting, "--set")
        path = _sources_path(settings, file)
        spec = add_entry(path, raw)
        err.print(f"source {spec.name} ({spec.vendor}) added to {escape(str(path))}")


@sources_app.command("list")
def sources_list(
    format: Annotated[StatusFormat, typer.Option("--format")] = StatusFormat.table,
    file: SourcesFile = None,
    env_file: EnvFile = None,
) -> None:
    """The sources of the sources file: vendor, account, interval, budget share, files."""
    with friendly_errors():
        settings = _setup(env_file)
        from deskpulse.sync.sources_file import load

        specs = load(_sources_path(settings, file))
        rows = [
            {"name": s.name, "vendor": s.vendor, "account": s.account or s.name,
             "interval": s.interval or settings.sync_interval, "budget_share": s.budget_share,
             "secrets_file": str(s.secrets_file or ""), "writeback": str(s.writeback or "")}
            for s in specs
        ]  # fmt: skip
        if format is StatusFormat.json:
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
            return
        table = Table(*(rows[0] if rows else ["name"]), box=None)
        for row in rows:
            table.add_row(
                *(Text(f"{v:g}" if isinstance(v, float) else str(v)) for v in row.values())
            )
        out.print(table if rows else Text("no sources"))


@sources_app.command("remove")
def sources_remove(
    name: Annotated[str, typer.Argument()], file: SourcesFile = None, env_file: EnvFile = None
) -> None:
    """Remove a source from the sources file (its warehouse rows stay)."""
    with friendly_errors():
        settings = _setup(env_file)
        from deskpulse.sync.sources_file import remove_entry

        path = _sources_path(settings, file)
        remove_entry(path, name)
        err.print(f"source {name} removed from {escape(str(path))}")


# ------------------------------------------------------------------------------------------ db


@webhooks_app.command("setup")
def webhooks_setup(
    source: Annotated[str, typer.Option("--source", help="The source's name (DESKPULSE_SOURCES)")],
    url: Annotated[
        str,
        typer.Option("--url", help="The public HTTPS URL of its receiver (your reverse proxy)"),
    ],
    env_file: EnvFile = None,
) -> None:
    """Create the source's webhook and trigger in the help desk (again: changes nothing)."""
    with friendly_errors():
        settings = _setup(env_file)
        from deskpulse.sync.hints import setup_webhooks

        result, variable = setup_webhooks(settings, source, url)
        for what in ("webhook", "trigger"):
            ref = result.webhook_id if what == "webhook" else result.trigger_id
            state = "created" if what in result.created else "already there"
            out.print(f"{what} {ref}: {state}", highlight=False)
        if "endpoint" in result.created:
            out.print(f"webhook endpoint changed to {url}", highlight=False)
        # Its own line, never wrapped: it is copied into the daemon's environment file.
        out.print("Give the daemon its signing secret (in its environment):", highlight=False)
        out.print(f"{variable}={result.secret}", highlight=False, soft_wrap=True)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Create or upgrade the warehouse schema (also done automatically on first use)."""
    with friendly_errors():
        settings = _setup()
        from deskpulse.sync.warehouse import Warehouse, current_revision, upgrade

        warehouse = Warehouse(settings.database_url, migrate=False)
        upgrade(warehouse.engine, revision)
        with warehouse.engine.connect() as connection:
            at = current_revision(connection)
        out.print(Text(f"warehouse {settings.database_url_display} is at schema revision {at}"))


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the warehouse."""
    with friendly_errors():
        settings = _setup()
        from deskpulse.sync.warehouse import Warehouse, current_revision, head_revision

        warehouse = Warehouse(settings.database_url, migrate=False, reading=True)
        with warehouse.engine.connect() as connection:
            at = current_revision(connection)
        out.print(f"revision {at or '(empty)'}; newest {head_revision()}")


# ------------------------------------------------------------------------------------- sandbox


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def sandbox(ctx: typer.Context) -> None:
    """Serve a generated help desk on loopback, in each vendor's API (see its --help)."""
    _setup()
    from deskpulse.sandbox.command import main as serve

    serve(ctx.args, prog="deskpulse sandbox", banner=lambda text: err.print(f"[dim]{text}[/dim]"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
