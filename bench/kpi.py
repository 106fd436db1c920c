"""KPI benchmark: the whole catalog over a generated warehouse of 1,000,000 tickets.

`run()` builds (once, cached as `bench-results/kpi-v<N>-<tickets>.db`) a SQLite warehouse with
realistic canonical rows for calendar year 2025: tickets with customer messages, agent replies,
bot replies, internal notes, status changes (new, open, pending, hold, solved, closed),
reopens, deleted tickets, plus agents, customers, calls, chats, social mentions, surveys,
reviews, orders, engagement events, agent sessions, costs and knowledge-base articles, so every
metric has data. Then it computes every metric for one month (November 2025) sliced by agent,
and for the full year, printing seconds per metric, totals, and PASS/FAIL against the targets:
month by agent < 10 s, year < 60 s.

Settings (environment): DESKPULSE_BENCH_TICKETS (default 1000000) for a smaller or larger
warehouse; DESKPULSE_BENCH_DIR (default bench-results) for where the database is cached;
DESKPULSE_BENCH_WORKERS (default 2, the machine's cores) for `compute(..., workers=N)`: the
metrics that share the per-ticket facts run in this process, the others in a second one.
Per-metric seconds are wall time inside their own process, so with 2 workers they add up to
more than the total.
`python -m bench kpi` runs it.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlmodel import SQLModel

import deskpulse.kpi_core.models  # noqa: F401 - registers the tables
from deskpulse.kpi_core import REGISTRY, KpiQuery, compute
from deskpulse.kpi_core.config import KpiConfig, SlaPolicy, Target

GENERATOR_VERSION = 3
MONTH_TARGET_S = 10.0
YEAR_TARGET_S = 60.0
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2026, 1, 1, tzinfo=UTC)
MONTH_START = datetime(2025, 11, 1, tzinfo=UTC)
MONTH_END = datetime(2025, 12, 1, tzinfo=UTC)
YEAR_SECONDS = (YEAR_END - YEAR_START).total_seconds()

N_AGENTS = 200
GROUPS = [f"Tier {i}" for i in range(1, 11)]
CHANNELS = (["email"] * 40 + ["web"] * 20 + ["chat"] * 15 + ["phone"] * 10 + ["api"] * 5
            + ["whatsapp"] * 4 + ["twitter"] * 3 + ["facebook"] * 2 + ["sms"])  # fmt: skip
PRIORITIES = ["low"] * 25 + ["normal"] * 55 + ["high"] * 15 + ["urgent"] * 5
TYPES = ["question"] * 45 + ["incident"] * 25 + ["problem"] * 10 + ["task"] * 12 + ["complaint"] * 8
SUBJECTS = [
    "Order {n} not delivered",
    "Refund for order #{n}",
    "Cannot log in",
    "Password reset link expired",
    "Invoice {n} is wrong",
    "App crashes on start",
    "Change my shipping address",
    "Damaged item in order {n}",
    "How do I cancel my subscription?",
    "Payment declined",
    "Question about {n}",
    "Wrong size delivered",
]
TAGS = ["vip", "billing", "shipping", "escalated", "bug", "refund", "login", "mobile", ""]


def _ts(when: float) -> str:
    """Epoch seconds -> the warehouse's SQLite text format (UTC, microseconds)."""
    moment = datetime.fromtimestamp(when, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _db_path(tickets: int) -> Path:
    folder = Path(os.environ.get("DESKPULSE_BENCH_DIR", "bench-results"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"kpi-v{GENERATOR_VERSION}-{tickets}.db"


# --- generation ------------------------------------------------------------------------------


def _ticket_rows(
    rng: random.Random, tickets: int
) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """(ticket row, its event rows) for every ticket, in id order."""
    base = YEAR_START.timestamp()
    event_id = 0
    # Help desks number tickets in creation order, and a sync stores them in that order too.
    created_times = sorted(base + rng.random() * YEAR_SECONDS for _ in range(tickets))
    for i, created in enumerate(created_times):
        source = "zendesk" if i % 10 else "files"
        tid = str(i)
        agent = f"a{rng.randrange(N_AGENTS)}"
        group = GROUPS[int(agent[1:]) % len(GROUPS)]
        channel = rng.choice(CHANNELS)
        priority = rng.choice(PRIORITIES)
        ttype = rng.choice(TYPES)
        subject = rng.choice(SUBJECTS).format(n=rng.randrange(10_000, 99_999))
        tags = ";".join(t for t in {rng.choice(TAGS), rng.choice(TAGS)} if t) or None
        requester = f"c{rng.randrange(100_000)}"
        events: list[tuple[Any, ...]] = []

        def add(
            at: float,
            kind: str,
            author: str | None,
            public: int,
            status: str | None,
            events: list[tuple[Any, ...]] = events,
            key: tuple[str, str] = (source, tid),
        ) -> None:
            nonlocal event_id
            event_id += 1
            events.append(
                (key[0], str(event_id), key[1], _ts(at), kind, None, author, public, status, None)
            )

        roll = rng.random()
        agent_opened = rng.random() < 0.05
        add(created, "status", "system", 1, "new")
        t = created
        if agent_opened:
            add(t, "message", "agent", 1, None)
            t += rng.expovariate(1 / 7200)
            add(t, "message", "customer", 1, None)
        else:
            add(t, "message", "customer", 1, None)
        if rng.random() < 0.3:
            add(t + 5, "message", "bot", 1, None)
        if rng.random() < 0.3:
            add(t + rng.expovariate(1 / 600), "message", "agent", 0, None)  # internal note
        reply = t + rng.lognormvariate(7.5, 1.2)  # median ~30 min
        add(reply, "status", "system", 1, "open")
        add(reply, "message", "agent", 1, None)
        t = reply
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            t += rng.lognormvariate(8, 1.2)
            add(t, "message", "customer", 1, None)
            t += rng.lognormvariate(7.5, 1.2)
            add(t, "message", "agent", 1, None)
        if rng.random() < 0.1:
            add(t + 60, "status", "system", 1, "hold")
            t += rng.lognormvariate(9, 1)
            add(t, "status", "system", 1, "open")
        status: str
        solved_at = closed_at = None
        if roll < 0.02:
            status = "deleted"
        elif roll < 0.08 or t > YEAR_END.timestamp() - 86_400:
            status = rng.choice(("open", "pending"))
            if status == "pending":
                add(t + 1, "status", "system", 1, "pending")
        else:
            add(t + 1, "status", "system", 1, "pending")
            t += rng.lognormvariate(9, 1)
            add(t, "status", "system", 1, "solved")
            if rng.random() < 0.08:  # reopened
                t += rng.lognormvariate(10, 1)
                add(t, "message", "customer", 1, None)
                add(t, "status", "system", 1, "open")
                t += rng.lognormvariate(7.5, 1)
                add(t, "message", "agent", 1, None)
                t += rng.lognormvariate(8, 1)
                add(t, "status", "system", 1, "solved")
            solved_at = _ts(t)
            status = "solved"
            if rng.random() < 0.5:
                t += 4 * 86_400
                add(t, "status", "system", 1, "closed")
                closed_at = _ts(t)
                status = "closed"
        row = (
            source, tid, _ts(created), subject, ttype, priority, channel, status, requester,
            agent, group, tags, _ts(t), solved_at, closed_at, None,
        )  # fmt: skip
        yield row, events


def generate(path: Path, tickets: int) -> None:
    """Write a fresh warehouse of `tickets` tickets (and the other tables) to `path`."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{tmp}")
    SQLModel.metadata.create_all(engine)
    indexes = [idx for table in SQLModel.metadata.sorted_tables for idx in table.indexes]
    engine.dispose()
    db = sqlite3.connect(tmp)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    for idx in indexes:  # bulk load first, index afterwards
        db.execute(f'DROP INDEX "{idx.name}"')
    rng = random.Random(20251101)
    started = time.perf_counter()
    ticket_sql = (
        "INSERT INTO tickets (source, id, created_at, subject, type, priority, channel, status, "
        'requester_id, assignee_id, "group", tags, updated_at, solved_at, closed_at, extra) '
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    event_sql = (
        "INSERT INTO ticket_events (source, id, ticket_id, created_at, kind, author_id, "
        "author_kind, public, status, assignee_id) VALUES (?,?,?,?,?,?,?,?,?,?)"
    )
    batch_t: list[tuple[Any, ...]] = []
    batch_e: list[tuple[Any, ...]] = []
    n_events = 0
    for row, events in _ticket_rows(rng, tickets):
        batch_t.append(row)
        batch_e.extend(events)
        if len(batch_t) >= 20_000:
            db.executemany(ticket_sql, batch_t)
            db.executemany(event_sql, batch_e)
            n_events += len(batch_e)
            batch_t, batch_e = [], []
    db.executemany(ticket_sql, batch_t)
    db.executemany(event_sql, batch_e)
    n_events += len(batch_e)
    _other_tables(db, rng, tickets)
    db.commit()
    print(f"  generated {tickets:,} tickets, {n_events:,} events "
          f"in {time.perf_counter() - started:.0f} s; indexing...", flush=True)  # fmt: skip
    for idx in indexes:
        cols = ", ".join(f'"{c.name}"' for c in idx.columns)
        unique = "UNIQUE " if idx.unique else ""
        db.execute(f'CREATE {unique}INDEX "{idx.name}" ON "{idx.table.name}" ({cols})')  # type: ignore[union-attr]
    db.execute("ANALYZE")
    db.commit()
    db.close()
    tmp.rename(path)


def _many(db: sqlite3.Connection, table: str, columns: Sequence[str], rows: list[Any]) -> None:
    cols = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    db.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', rows)


def _other_tables(db: sqlite3.Connection, rng: random.Random, tickets: int) -> None:
    """Everything besides tickets, scaled to the ticket count (1M tickets -> ~200k calls)."""
    base = YEAR_START.timestamp()
    scale = max(tickets / 1_000_000, 0.001)

    def when() -> float:
        return base + rng.random() * YEAR_SECONDS

    agents = [
        ("zendesk", f"a{i}", f"Agent {i}", f"a{i}@example.com", "agent", GROUPS[i % len(GROUPS)], 1,
         _ts(base - 86_400 * 30))
        for i in range(N_AGENTS)
    ] + [("zendesk", "bot", "Answer Bot", None, "bot", None, 1, _ts(base))]  # fmt: skip
    _many(
        db,
        "agents",
        ["source", "id", "name", "email", "role", "group", "active", "created_at"],
        agents,
    )
    customers = []
    n_customers = max(int(100_000 * scale), 50)
    for i in range(n_customers):
        acquired = base - 86_400 * 400 + rng.random() * (YEAR_SECONDS + 86_400 * 400)
        churned = _ts(acquired + rng.random() * 86_400 * 500) if rng.random() < 0.15 else None
        customers.append(
            ("zendesk", f"c{i}", f"Customer {i}", None, None, _ts(acquired), churned,
             rng.choice(("referral", "ads", "organic", "organic")))
        )  # fmt: skip
    _many(db, "customers", ["source", "id", "name", "email", "organization", "created_at",
                            "churned_at", "acquisition_channel"], customers)  # fmt: skip
    calls = []
    for i in range(int(200_000 * scale)):
        q = when()
        outcome = rng.choices(("answered", "abandoned", "missed", "blocked", "voicemail"),
                              (80, 10, 4, 3, 3))[0]  # fmt: skip
        answered = q + rng.expovariate(1 / 40) if outcome == "answered" else None
        ended = (answered or q) + rng.expovariate(1 / 300)
        calls.append(
            ("zendesk", f"call{i}", _ts(q), rng.choice(("inbound",) * 9 + ("outbound",)),
             f"c{rng.randrange(n_customers)}", f"a{rng.randrange(N_AGENTS)}" if answered else None,
             _ts(answered) if answered else None, _ts(ended),
             rng.expovariate(1 / 240) if answered else None, rng.expovariate(1 / 30) if answered else None,
             rng.expovariate(1 / 60) if answered else None, outcome,
             str(rng.randrange(tickets)) if rng.random() < 0.3 else None)
        )  # fmt: skip
    _many(db, "calls", ["source", "id", "queued_at", "direction", "customer_id", "agent_id",
                        "answered_at", "ended_at", "talk_seconds", "hold_seconds", "wrap_seconds",
                        "outcome", "ticket_id"], calls)  # fmt: skip
    chats = []
    for i in range(int(200_000 * scale)):
        r = when()
        answered = r + rng.expovariate(1 / 30) if rng.random() < 0.9 else None
        chats.append(
            ("zendesk", f"chat{i}", _ts(r), f"c{rng.randrange(n_customers)}",
             f"a{rng.randrange(N_AGENTS)}" if answered else None, _ts(answered) if answered else None,
             _ts((answered or r) + rng.expovariate(1 / 600)),
             "answered" if answered else rng.choice(("missed", "abandoned")), rng.randrange(1, 30),
             str(rng.randrange(tickets)) if rng.random() < 0.2 else None)
        )  # fmt: skip
    _many(db, "chats", ["source", "id", "requested_at", "customer_id", "agent_id", "answered_at",
                        "ended_at", "outcome", "messages", "ticket_id"], chats)  # fmt: skip
    mentions = []
    for i in range(int(50_000 * scale)):
        c = when()
        mentions.append(
            ("zendesk", f"m{i}", _ts(c), rng.choice(("twitter", "facebook", "instagram")), f"@u{i}",
             "text", _ts(c + rng.expovariate(1 / 3600)) if rng.random() < 0.7 else None,
             rng.choice(("positive", "neutral", "negative")), int(rng.random() < 0.4), None)
        )  # fmt: skip
    _many(db, "social_mentions", ["source", "id", "created_at", "network", "author", "text",
                                  "first_reply_at", "sentiment", "is_question", "ticket_id"], mentions)  # fmt: skip
    surveys = []
    scales = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7), "iqs": (0, 100), "employee": (1, 10)}
    counts = {"csat": 150_000, "nps": 30_000, "ces": 30_000, "iqs": 10_000, "employee": 2_000}
    for survey, count in counts.items():
        lo, hi = scales[survey]
        for i in range(int(count * scale)):
            answered = rng.random() < 0.8
            ticket = str(rng.randrange(tickets))
            surveys.append(
                ("zendesk", f"{survey}{i}", survey,
                 float(rng.randint(int(lo), int(hi))) if answered else None, _ts(when()), lo, hi,
                 ticket if survey in ("csat", "ces", "iqs") else None,
                 f"c{rng.randrange(n_customers)}", f"a{rng.randrange(N_AGENTS)}", None)
            )  # fmt: skip
    _many(db, "survey_responses", ["source", "id", "survey", "score", "created_at", "scale_min",
                                   "scale_max", "ticket_id", "customer_id", "agent_id", "comment"],
          surveys)  # fmt: skip
    reviews = []
    for i in range(int(20_000 * scale)):
        c = when()
        reviews.append(("zendesk", f"r{i}", float(rng.choice((1, 2, 3, 4, 5, 5, 5))), _ts(c),
                        f"c{rng.randrange(n_customers)}",
                        _ts(c + 86_400) if rng.random() < 0.5 else None, None))  # fmt: skip
    _many(db, "reviews", ["source", "id", "rating", "created_at", "customer_id", "responded_at",
                          "text"], reviews)  # fmt: skip
    orders = [
        ("zendesk", f"o{i}", f"c{rng.randrange(n_customers)}", round(rng.lognormvariate(3.5, 0.8), 2),
         _ts(when()), "EUR", 0.3, int(rng.random() < 0.03))
        for i in range(int(300_000 * scale))
    ]  # fmt: skip
    _many(db, "orders", ["source", "id", "customer_id", "amount", "created_at", "currency",
                         "margin", "refunded"], orders)  # fmt: skip
    engagement = [
        ("zendesk", f"g{i}", f"c{rng.randrange(n_customers)}",
         rng.choice(("email_open", "email_click", "site_visit", "loyalty", "referral_sent")), _ts(when()))
        for i in range(int(300_000 * scale))
    ]  # fmt: skip
    _many(
        db, "engagement_events", ["source", "id", "customer_id", "kind", "created_at"], engagement
    )
    sessions = []
    day = YEAR_START
    sid = 0
    while day < YEAR_END:
        for a in range(0, N_AGENTS, max(1, int(1 / scale)) if scale < 1 else 1):
            if day.weekday() < 5:
                start = day.timestamp() + 8 * 3600
                for state, hours in (("busy", 3), ("available", 1), ("away", 1), ("busy", 3)):
                    sid += 1
                    sessions.append(("zendesk", f"s{sid}", f"a{a}", _ts(start),
                                     _ts(start + hours * 3600), state))  # fmt: skip
                    start += hours * 3600
        day += timedelta(days=1)
    _many(
        db,
        "agent_sessions",
        ["source", "id", "agent_id", "started_at", "ended_at", "state"],
        sessions,
    )
    costs = []
    for month in range(1, 13):
        first = datetime(2025, month, 1, tzinfo=UTC)
        nxt = datetime(2025 + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        for category, amount in (("salaries", 400_000), ("equipment", 20_000), ("telecom", 8_000)):
            costs.append(("files", f"{first.date()}/{nxt.date()}/{category}", _ts(first.timestamp()),
                          _ts(nxt.timestamp()), amount * scale, "EUR", category))  # fmt: skip
    _many(db, "costs", ["source", "id", "period_start", "period_end", "amount", "currency",
                        "category"], costs)  # fmt: skip
    articles = [("zendesk", f"kb{i}", f"Article {i}", rng.randrange(10_000), rng.randrange(500),
                 rng.randrange(100), _ts(base)) for i in range(500)]  # fmt: skip
    _many(db, "kb_articles", ["source", "id", "title", "views", "helpful_votes", "unhelpful_votes",
                              "updated_at"], articles)  # fmt: skip


# --- measuring ---------------------------------------------------------------------------------


def _config() -> KpiConfig:
    return KpiConfig(
        targets=(
            Target("first_response_time", max=60),
            Target("first_response_time", max=30, where={"priority": "urgent"}),
            Target("csat", min=0.8),
            Target("cost_per_ticket", max=20),
        ),
        sla=(
            SlaPolicy("urgent", first_response_minutes=60, resolution_minutes=8 * 60),
            SlaPolicy("high", first_response_minutes=4 * 60, resolution_minutes=24 * 60),
            SlaPolicy(None, first_response_minutes=8 * 60, resolution_minutes=72 * 60),
        ),
    )


def _measure(db: Path, label: str, query: KpiQuery, target_s: float, workers: int) -> bool:
    engine = create_engine(f"sqlite:///{db}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    timings: dict[str, float] = {}
    started = time.perf_counter()
    with engine.connect() as conn:
        values = compute(conn, None, query, timings=timings, workers=workers)
    total = time.perf_counter() - started
    engine.dispose()
    print(
        f"\n{label}: {len(values):,} values from {len(timings)} metrics, {workers} worker(s)",
        flush=True,
    )
    for metric_id, seconds in timings.items():
        print(f"  {metric_id:<28} {seconds:7.2f} s")
    missing = [m for m in REGISTRY if m not in timings]
    if missing:
        print(f"  (skipped: {', '.join(missing)})")
    empty = sorted({v.metric for v in values} - {v.metric for v in values if v.value is not None})
    if empty:
        print(f"  (no data: {', '.join(empty)})")
    ok = total < target_s
    print(
        f"  total {total:.2f} s (target < {target_s:.0f} s): {'PASS' if ok else 'FAIL'}", flush=True
    )
    return ok


def run() -> None:
    """Generate (or reuse) the warehouse, compute the catalog twice, print figures and verdicts."""
    tickets = int(os.environ.get("DESKPULSE_BENCH_TICKETS", "1000000"))
    db = _db_path(tickets)
    if not db.exists():
        print(f"generating {db} ...", flush=True)
        began = time.perf_counter()
        generate(db, tickets)
        print(f"  done in {time.perf_counter() - began:.0f} s ({db.stat().st_size / 1e9:.2f} GB)")
    else:
        print(f"using cached {db}")
    config = _config()
    month = KpiQuery(start=MONTH_START, end=MONTH_END, by="agent", config=config)
    year = KpiQuery(start=YEAR_START, end=YEAR_END, config=config)
    workers = int(os.environ.get("DESKPULSE_BENCH_WORKERS", "2"))
    ok_month = _measure(db, "month 2025-11 by agent", month, MONTH_TARGET_S, workers)
    ok_year = _measure(db, "year 2025", year, YEAR_TARGET_S, workers)
    print(f"\nKPI bench: month by agent {'PASS' if ok_month else 'FAIL'}, "
          f"year {'PASS' if ok_year else 'FAIL'}")  # fmt: skip


if __name__ == "__main__":
    run()
