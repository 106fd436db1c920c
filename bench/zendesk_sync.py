"""Zendesk sync benchmark: the real connector through the sync engine against the sandbox.

`run()` (`python -m bench zendesk`) does these things and prints PASS/FAIL lines:

1. Starts a sandbox child process (`sandbox.command.start_subprocess`, its own interpreter, so
   the figures below are the sync's alone) with DESKPULSE_BENCH_TICKETS tickets (default
   100,000), rate limits off.
2. The sync: `run_sync(Warehouse(fresh SQLite file), ZendeskConnector(pacing off))` of the
   tickets with their events (streams users, tickets, ticket_events), reporting tickets/s and
   events/s end to end (target >= 5,000 tickets/s), the peak RSS of the sync's two processes
   together (this one, which reads and maps, and its writer process; target < 300 MB), the CPU
   seconds each spent, and the sandbox's CPU during the sync (all three share the machine's
   cores); then, for information, a sync of every stream (DESKPULSE_BENCH_ALL_STREAMS=0 skips
   it). The connector gets the sandbox's OAuth token, so chats (OAuth-only on Zendesk) are
   included. Skipped, with a note, while sync.engine / connectors.zendesk cannot be imported.
3. Raw sandbox throughput: walks the first pages of the big exports with a bare httpx client
   (pages/s, MB/s, records/s, and records per sandbox CPU-second, which a busy machine does not
   distort), after the syncs so that its memory does not count in theirs.
4. Real limits: a second, small sandbox with Zendesk's limits (700/min, 10/min incremental
   exports) and a short sync with the connector's default pacing; passes when /__sandbox/stats
   shows zero 429s. Takes a minute or two (the 10/min budget is the point).
   DESKPULSE_BENCH_LIMITED_TICKETS (default 400) sizes it; 0 skips it.

DESKPULSE_BENCH_DIR (default bench-results) holds the SQLite files.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

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


def _fresh_db(name: str) -> str:
    folder = Path(os.environ.get("DESKPULSE_BENCH_DIR", "bench-results"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


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


def full_sync(sb: SandboxProcess, tickets: int, streams: tuple[str, ...] | None) -> None:
    mods = _sync_modules()
    if mods is None:
        return
    run_sync, connector_cls, warehouse_cls = mods
    label = "tickets + events" if streams else "every stream"
    warehouse = warehouse_cls(_fresh_db(f"zendesk-sync-{tickets}-{len(streams or ())}.db"))
    warehouse.ensure_schema()
    connector = _connector(connector_cls, sb.env, None)
    print(f"\n  sync of {label} ({', '.join(streams) if streams else 'all'}):", flush=True)
    _reset_peak_rss()
    cpu_before = _child_cpu_s(sb.pid)
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    writer_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    try:
        report = run_sync(warehouse, connector, streams=streams)
    finally:
        connector.close()
    elapsed = time.perf_counter() - started
    cpu_after = _child_cpu_s(sb.pid)
    # The writer process has been waited for; the sandbox (still running) is not counted yet.
    own = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(own_before)
    writer_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    writer = _cpu(writer_usage) - _cpu(writer_before)
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
    writer_rss = writer_usage.ru_maxrss / 1024  # 0 when the run wrote in this process
    both = rss + writer_rss
    split = f"(sync process {rss:.0f} MB + writer process {writer_rss:.0f} MB)"
    if streams:
        print(
            f"  {_verdict(both < RSS_TARGET_MB)} peak RSS {both:.0f} MB < {RSS_TARGET_MB} MB {split}"
        )
    else:  # the targets are the tickets-with-events sync's; this one reads 3 streams at once
        print(f"  peak RSS {both:.0f} MB {split}, for information")
    print(f"  sync CPU: {own:.1f} s reading and mapping, {writer:.1f} s in the writer process")
    stats = httpx.get(f"{sb.base_url}/__sandbox/stats", timeout=10).json()
    print(
        f"  sandbox: {stats['total']} requests {stats['by_status']}, "
        f"{stats['bytes_sent'] / 1e6:.0f} MB sent"
    )
    if cpu_before is not None and cpu_after is not None:
        busy = cpu_after - cpu_before
        print(
            f"  sandbox CPU during the sync: {busy:.1f} s ({busy / elapsed:.0%} of wall time; "
            "the sync shares the machine's cores with it)"
        )
    dispose = getattr(warehouse, "dispose", None)
    if callable(dispose):
        dispose()


def limited_sync(tickets: int) -> None:
    mods = _sync_modules()
    if mods is None:
        return
    run_sync, connector_cls, warehouse_cls = mods
    with start_subprocess(seed=SEED, tickets=tickets, rate_limit=True, oauth=True) as sb:
        warehouse = warehouse_cls(_fresh_db(f"zendesk-limited-{tickets}.db"))
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
        dispose = getattr(warehouse, "dispose", None)
        if callable(dispose):
            dispose()


def run() -> None:
    tickets = _env_int("DESKPULSE_BENCH_TICKETS", 100_000)
    limited = _env_int("DESKPULSE_BENCH_LIMITED_TICKETS", 400)
    print(f"sandbox: {tickets:,} tickets, seed {SEED}, rate limits off", flush=True)
    started = time.perf_counter()
    with start_subprocess(seed=SEED, tickets=tickets, rate_limit=False, oauth=True) as sb:
        print(f"  started in {time.perf_counter() - started:.1f} s at {sb.base_url}", flush=True)
        full_sync(sb, tickets, TICKET_STREAMS)
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
