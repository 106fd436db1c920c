"""Zendesk sync benchmark: the real connector through the sync engine against the sandbox.

`run()` (`python -m bench zendesk`) does these things and prints PASS/FAIL lines:

1. Starts a sandbox child process (`sandbox.command.start_subprocess`, its own interpreter, so
   the figures below are the sync's alone) with DESKPULSE_BENCH_TICKETS tickets (default
   100,000), rate limits off.
2. The sync: `run_sync(Warehouse(fresh SQLite file), ZendeskConnector(pacing off))` of the
   tickets with their events (streams users, tickets, ticket_events), reporting tickets/s and
   events/s end to end (target >= 5,000 tickets/s), the sync's peak RSS (target < 300 MB), its
   CPU seconds and the sandbox's CPU during the sync (both share the machine's cores).
   The connector gets the sandbox's OAuth token, so chats (OAuth-only on Zendesk) are included.
   Skipped, with a note, while sync.engine / connectors.zendesk cannot be imported.
3. With and without: the same sync as deskpulse runs it, then with each piece of speed
   machinery it keeps turned off (WITH_AND_WITHOUT; today: streams read side by side),
   DESKPULSE_BENCH_REPEAT times each (default 3, in turn), printing medians. Pieces measured
   this way that did not pay were retired (5,000 tickets, 64,381 rows, five runs each, medians,
   on 2 cores shared with other work): a writer process beside the sync (91 s and 12.2 CPU-s
   with it, against 34 s and 5.5 CPU-s without: shipping pages to it cost more than the writing
   it took over), a thread per stream prefetching its next page (36.1 s with, 36.5 s without),
   cycle-collector thresholds raised while a sync runs (35.6 s with, 36.5 s without; and a
   process-wide setting a daemon must not change per call), and httpcore reading 1 MiB per
   socket read (32.0 s with, 36.5 s without, but 23.8 s against 19.5 s at best: noise, for a
   patch of another library's class). Then, for information, a sync of every stream
   (DESKPULSE_BENCH_ALL_STREAMS=0 skips it).
4. Raw sandbox throughput: walks the first pages of the big exports with a bare httpx client
   (pages/s, MB/s, records/s, and records per sandbox CPU-second, which a busy machine does not
   distort), after the syncs so that its memory does not count in theirs.
5. Real limits: a second, small sandbox with Zendesk's limits (700/min, 10/min incremental
   exports) and a short sync with the connector's default pacing; passes when /__sandbox/stats
   shows zero 429s. Takes a minute or two (the 10/min budget is the point).
   DESKPULSE_BENCH_LIMITED_TICKETS (default 400) sizes it; 0 skips it.

DESKPULSE_BENCH_DIR (default bench-results) holds the SQLite files.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import fresh_db
from deskpulse.sandbox.command import SandboxProcess, start_subprocess

TICKETS_PER_S_TARGET = 5_000
RSS_TARGET_MB = 300
SEED = 20261101


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _reset_peak_rss() -> None:
    """Start this process's peak-RSS count afresh (Linux), so that it measures the sync alone
    and not the raw walk before it."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):  # the peak since _reset_peak_rss
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _child_peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _child_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a child process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _auth(env: dict[str, str]) -> tuple[str, str]:
    return (f"{env['ZENDESK_EMAIL']}/token", env["ZENDESK_API_TOKEN"])


def raw_throughput(sb: SandboxProcess, max_pages: int = 20) -> None:
    """Walk the first pages of the big exports; print pages/s, MB/s and records/s."""
    with httpx.Client(base_url=sb.base_url, auth=_auth(sb.env), timeout=60) as client:
        plans: list[tuple[str, str, str, dict[str, Any]]] = [
            ("tickets", "/api/v2/incremental/tickets/cursor", "cursor", {"include": "metric_sets"}),
            (
                "ticket_events",
                "/api/v2/incremental/ticket_events",
                "time",
                {"include": "comment_events"},
            ),
            ("ticket_metric_events", "/api/v2/incremental/ticket_metric_events", "time", {}),
            ("users", "/api/v2/incremental/users/cursor", "cursor", {}),
        ]
        for key, path, kind, extra in plans:
            params: dict[str, Any] = {"start_time": 0, **extra}
            pages = records = nbytes = 0
            cpu_before = _child_cpu_s(sb.pid)
            started = time.perf_counter()
            while pages < max_pages:
                resp = client.get(path, params=params)
                resp.raise_for_status()
                body = orjson.loads(resp.content)
                pages += 1
                nbytes += len(resp.content)
                records += len(body[key])
                if body.get("end_of_stream"):
                    break
                if kind == "cursor":
                    params = {"cursor": body["after_cursor"], **extra}
                else:
                    params = {"start_time": body["end_time"], **extra}
            elapsed = time.perf_counter() - started
            cpu_after = _child_cpu_s(sb.pid)
            cpu = (
                f" (sandbox CPU {records / (cpu_after - cpu_before):,.0f} records/CPU-s)"
                if cpu_before is not None and cpu_after is not None and cpu_after > cpu_before
                else ""
            )
            print(
                f"  raw {key:<22} {pages:4d} pages {pages / elapsed:7.1f} pages/s "
                f"{nbytes / elapsed / 1e6:7.1f} MB/s {records / elapsed:9.0f} records/s{cpu}",
                flush=True,
            )


def _sync_modules() -> tuple[Any, Any, Any] | None:
    try:
        from deskpulse.connectors.zendesk import ZendeskConnector
        from deskpulse.sync.engine import run_sync
        from deskpulse.sync.warehouse import Warehouse
    except ImportError as exc:  # the engine or connector is not there yet
        print(f"  full sync skipped: {exc}")
        return None
    return run_sync, ZendeskConnector, Warehouse


def _connector(cls: Any, env: dict[str, str], rate_limits: Any) -> Any:
    kwargs: dict[str, Any] = {
        "base_url": env["ZENDESK_BASE_URL"],
        "subdomain": env["ZENDESK_SUBDOMAIN"],
        "email": env["ZENDESK_EMAIL"],
        "api_token": env["ZENDESK_API_TOKEN"],
        # The Chat API takes OAuth only: with the sandbox's OAuth token chats are part of the run
        # (the connector then uses the token for every request).
        "oauth_token": env.get("ZENDESK_OAUTH_TOKEN"),
    }
    if rate_limits != "default":
        kwargs["rate_limits"] = rate_limits
    return cls(**kwargs)


def _report(report: Any) -> None:
    for stream in getattr(report, "streams", []):
        print(
            f"    {stream.name:<22} rows {getattr(stream, 'rows', '?'):>9} "
            f"written {getattr(stream, 'written', '?'):>9} "
            f"quarantined {getattr(stream, 'quarantined', '?'):>6}"
            + (f"  error: {stream.error}" if getattr(stream, "error", None) else "")
        )
    print(
        f"  status {getattr(report, 'status', '?')}  requests {getattr(report, 'requests', '?')}"
        f"  retries {getattr(report, 'retries', '?')}  errors {getattr(report, 'errors', '?')}"
    )


TICKET_STREAMS = ("users", "tickets", "ticket_events")
"""The tickets with their events (users first: they say which authors are agents)."""


def _timed_sync(
    sb: SandboxProcess, streams: tuple[str, ...] | None, name: str, **options: Any
) -> tuple[Any, float, float, float | None]:
    """One sync into a fresh warehouse (SQLite file `name`, or the empty warehouse at the URL
    `name` when it has "://"): (report, seconds, this process's CPU seconds, the sandbox's CPU
    seconds meanwhile). `options` go to run_sync (see WITH_AND_WITHOUT)."""
    mods = _sync_modules()
    assert mods is not None
    run_sync, connector_cls, warehouse_cls = mods
    warehouse = warehouse_cls(name if "://" in name else fresh_db(name))
    warehouse.ensure_schema()
    connector = _connector(connector_cls, sb.env, None)
    sandbox_before = _child_cpu_s(sb.pid)
    own_before = _cpu(resource.getrusage(resource.RUSAGE_SELF))
    started = time.perf_counter()
    try:
        report = run_sync(warehouse, connector, streams=streams, **options)
    finally:
        connector.close()
    elapsed = time.perf_counter() - started
    own = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - own_before
    sandbox_after = _child_cpu_s(sb.pid)
    sandbox = (
        sandbox_after - sandbox_before
        if sandbox_before is not None and sandbox_after is not None
        else None
    )
    warehouse.dispose()
    return report, elapsed, own, sandbox


def full_sync(sb: SandboxProcess, tickets: int, streams: tuple[str, ...] | None) -> None:
    if _sync_modules() is None:
        return
    label = "tickets + events" if streams else "every stream"
    print(f"\n  sync of {label} ({', '.join(streams) if streams else 'all'}):", flush=True)
    _reset_peak_rss()
    report, elapsed, own, sandbox = _timed_sync(
        sb, streams, f"zendesk-sync-{tickets}-{len(streams or ())}.db"
    )
    rate = tickets / elapsed
    events = next((s.records for s in report.streams if s.name == "ticket_events"), 0)
    rss = _peak_rss_mb()
    _report(report)
    print(
        f"  {label}: {tickets:,} tickets and {events:,} events in {elapsed:.1f} s: "
        f"{rate:,.0f} tickets/s, {events / elapsed:,.0f} events/s, "
        f"{report.requests:,} requests"
    )
    if streams:
        print(f"  {_verdict(rate >= TICKETS_PER_S_TARGET)} tickets/s >= {TICKETS_PER_S_TARGET:,}")
        print(f"  {_verdict(rss < RSS_TARGET_MB)} peak RSS {rss:.0f} MB < {RSS_TARGET_MB} MB")
    else:  # the targets are the tickets-with-events sync's; this one reads 3 streams at once
        print(f"  peak RSS {rss:.0f} MB, for information")
    print(f"  sync CPU: {own:.1f} s (reading, mapping and writing, in this one process)")
    stats = httpx.get(f"{sb.base_url}/__sandbox/stats", timeout=10).json()
    print(
        f"  sandbox: {stats['total']} requests {stats['by_status']}, "
        f"{stats['bytes_sent'] / 1e6:.0f} MB sent"
    )
    if sandbox is not None:
        print(
            f"  sandbox CPU during the sync: {sandbox:.1f} s ({sandbox / elapsed:.0%} of wall "
            "time; the sync shares the machine's cores with it)"
        )


WITH_AND_WITHOUT: tuple[tuple[str, dict[str, Any]], ...] = (
    ("as deskpulse runs it", {}),
    ("one stream at a time", {"parallel": 1}),
)
"""The tickets-with-events sync as deskpulse runs it, then with each piece of speed machinery it
keeps turned off (run_sync options). A piece stays only while its line here shows it pays."""


def with_and_without(sb: SandboxProcess, tickets: int, repeat: int) -> None:
    """Each variant of WITH_AND_WITHOUT `repeat` times, in turn (a busy machine then slows them
    alike); prints the median seconds and CPU seconds of each, against the first."""
    if _sync_modules() is None or repeat <= 0:
        return
    print(f"\n  tickets + events with and without (median of {repeat} runs each):", flush=True)
    seconds: dict[str, list[float]] = {label: [] for label, _ in WITH_AND_WITHOUT}
    cpu: dict[str, list[float]] = {label: [] for label, _ in WITH_AND_WITHOUT}
    for _ in range(repeat):
        for number, (label, options) in enumerate(WITH_AND_WITHOUT):
            name = f"zendesk-compare-{tickets}-{number}.db"
            report, elapsed, own, _sandbox = _timed_sync(sb, TICKET_STREAMS, name, **options)
            if report.status != "ok":
                print(f"    {label}: the sync ended {report.status}: {report.message}")
                return
            seconds[label].append(elapsed)
            cpu[label].append(own)
    base = statistics.median(seconds[WITH_AND_WITHOUT[0][0]])
    for label, _ in WITH_AND_WITHOUT:
        median = statistics.median(seconds[label])
        runs = ", ".join(f"{s:.1f}" for s in seconds[label])
        print(
            f"    {label:<22} {median:6.1f} s ({median / base:4.2f}x; runs {runs}), "
            f"{tickets / median:,.0f} tickets/s, CPU {statistics.median(cpu[label]):.1f} s"
        )


def limited_sync(tickets: int) -> None:
    mods = _sync_modules()
    if mods is None:
        return
    run_sync, connector_cls, warehouse_cls = mods
    with start_subprocess(seed=SEED, tickets=tickets, rate_limit=True, oauth=True) as sb:
        warehouse = warehouse_cls(fresh_db(f"zendesk-limited-{tickets}.db"))
        connector = _connector(connector_cls, sb.env, "default")
        started = time.perf_counter()
        try:
            report = run_sync(warehouse, connector)
        finally:
            connector.close()
        elapsed = time.perf_counter() - started
        _report(report)
        stats = httpx.get(f"{sb.base_url}/__sandbox/stats", timeout=10).json()
        throttled = stats["by_status"].get("429", 0)
        print(
            f"  limited sync of {tickets:,} tickets: {elapsed:.1f} s, {stats['total']} requests, "
            f"{stats['by_status']}"
        )
        print(f"  {_verdict(throttled == 0)} zero 429s with Zendesk's limits ({throttled} seen)")
        warehouse.dispose()


def run() -> None:
    tickets = _env_int("DESKPULSE_BENCH_TICKETS", 100_000)
    limited = _env_int("DESKPULSE_BENCH_LIMITED_TICKETS", 400)
    print(f"sandbox: {tickets:,} tickets, seed {SEED}, rate limits off", flush=True)
    started = time.perf_counter()
    with start_subprocess(seed=SEED, tickets=tickets, rate_limit=False, oauth=True) as sb:
        print(f"  started in {time.perf_counter() - started:.1f} s at {sb.base_url}", flush=True)
        full_sync(sb, tickets, TICKET_STREAMS)
        with_and_without(sb, tickets, _env_int("DESKPULSE_BENCH_REPEAT", 3))
        if os.environ.get("DESKPULSE_BENCH_ALL_STREAMS", "1") != "0":
            full_sync(sb, tickets, None)
        print("\n  the sandbox alone (a bare client walking the first pages):")
        raw_throughput(sb)
        child = _child_peak_rss_mb(sb.pid)
        if child is not None:
            print(f"  sandbox process peak RSS {child:.0f} MB")
    if limited:
        print(f"\nsandbox with Zendesk's rate limits: {limited:,} tickets", flush=True)
        limited_sync(limited)
