"""The framework around the metrics: planning, slicing, parameters, targets, configuration."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from deskpulse.kpi_core import REGISTRY, KpiError, KpiQuery, compute, plan
from deskpulse.kpi_core.config import ConfigError, KpiConfig, load_config
from deskpulse.kpi_core.registry import Metric, Param, metric
from deskpulse.kpi_core.toolkit import Cell, emit, shared

MARCH = KpiQuery(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


@pytest.fixture
def toy() -> Iterator[Metric]:
    """A throwaway metric that can only be sliced by channel (removed afterwards)."""

    @metric(
        "toy_metric",
        title="Toy",
        description="x",
        unit="count",
        direction="neutral",
        anchor="none",
        params=(
            Param("size", 3, "an int"),
            Param("names", ["a"], "a list"),
            Param("strict", False, "a flag"),
        ),
        dimensions=("channel",),
    )
    def toy_metric(conn: Any, query: KpiQuery, m: Metric) -> list[Any]:
        value = float(m.param(query, "size")) + len(m.param(query, "names"))
        details = {"strict": m.param(query, "strict")}
        return emit(m, query, {(0, ()): Cell(value, 1, details=details)})

    try:
        yield REGISTRY["toy_metric"]
    finally:
        del REGISTRY["toy_metric"]


def test_unknown_metric_and_dimension() -> None:
    with pytest.raises(KpiError, match="unknown metric"):
        plan(["nope"], MARCH)
    with pytest.raises(KpiError, match="unknown dimension 'colour'"):
        plan(None, KpiQuery(MARCH.start, MARCH.end, by="colour"))


def test_slicing_explicit_is_an_error_and_catalog_skips(toy: Metric) -> None:
    query = KpiQuery(MARCH.start, MARCH.end, by="agent")
    with pytest.raises(KpiError, match="toy_metric cannot be sliced by agent"):
        plan(["toy_metric"], query)
    run, skipped = plan(None, query)
    assert toy not in run
    assert "toy_metric" in skipped


def test_parameters_resolve_and_coerce(toy: Metric) -> None:
    v = compute(None, ["toy_metric"], MARCH)[0]  # type: ignore[arg-type]
    assert v.value == 4.0  # defaults: 3 + len(["a"])
    config = KpiConfig(params={"toy_metric": {"size": 10}, "names": ["a", "b"]})
    q = KpiQuery(MARCH.start, MARCH.end, config=config, params={"strict": "yes"})
    v = compute(None, ["toy_metric"], q)[0]  # type: ignore[arg-type]
    assert (v.value, v.details) == (12.0, {"strict": True})
    # Text from a command line is converted to the default's type.
    q = KpiQuery(MARCH.start, MARCH.end, params={"size": "5", "names": "x, y,z"})
    assert compute(None, ["toy_metric"], q)[0].value == 8.0  # type: ignore[arg-type]
    with pytest.raises(KpiError, match="parameter size: expected int"):
        compute(None, ["toy_metric"], KpiQuery(MARCH.start, MARCH.end, params={"size": "x"}))  # type: ignore[arg-type]
    with pytest.raises(KpiError, match="unknown parameter"):
        compute(None, ["toy_metric"], KpiQuery(MARCH.start, MARCH.end, params={"sise": 1}))  # type: ignore[arg-type]


def test_shared_memoises_within_one_compute_call_only() -> None:
    calls: list[int] = []

    def load() -> int:
        calls.append(1)
        return len(calls)

    assert shared("k", load) == 1
    assert shared("k", load) == 2  # outside compute(): not memoised


def test_load_config(tmp_path: Path) -> None:
    path = tmp_path / "kpi.toml"
    path.write_text(
        """
[params]
service_level_threshold_seconds = 20

[params.ticket_backlog_aged]
days = 14

[[targets]]
metric = "first_response_time"
priority = "urgent"
max = 60

[[targets]]
metric = "csat"
min = 0.85

[[sla]]
priority = "Urgent"
first_response_minutes = 60
resolution_minutes = 480

[[sla]]
first_response_minutes = 480
business_hours = true
""",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.param("ticket_backlog_aged", "days") == (True, 14)
    assert config.param("service_level", "threshold_seconds") == (True, 20)
    assert config.param("csat", "threshold_seconds") == (False, None)
    urgent = config.target_for("first_response_time", {"priority": "urgent"})
    assert urgent is not None and urgent.max == 60
    assert config.target_for("first_response_time", None) is None
    assert config.target_for("csat", {"agent": "a1"}) is not None  # no selector: every row
    policy = config.sla_policy("URGENT")
    assert policy is not None and policy.resolution_minutes == 480
    default = config.sla_policy("low")
    assert default is not None and default.business_hours is True
    assert load_config(None) == KpiConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[targets]]\nmetric = 'nope'\nmax = 1", "unknown metric 'nope'"),
        ("[[targets]]\nmetric = 'csat'", "needs `min` or `max`"),
        ("[[targets]]\nmetric = 'csat'\nmin = 'high'", "expected a number"),
        ("[[targets]]\nmetric = 'csat'\nmin = 1\nteam = 'x'", "unknown key(s) team"),
        ("[[sla]]\nfirst_response = 3", "unknown key(s) first_response"),
        ("[colours]\nred = 1", "unknown section(s) colours"),
        ("[params", "invalid TOML"),
    ],
)
def test_bad_config(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "kpi.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_every_metric_is_documented() -> None:
    for m in REGISTRY.values():
        assert m.title and m.description and m.anchor, m.id
        assert m.unit in ("count", "ratio", "minutes", "seconds", "points", "score", "currency")
        assert m.direction in ("higher", "lower", "neutral")


def test_workers_give_the_same_rows_as_one_process(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, insert
    from sqlmodel import SQLModel

    from deskpulse.kpi_core.canonical import coerce_row
    from deskpulse.kpi_core.models import WAREHOUSE_MODELS

    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    SQLModel.metadata.create_all(engine)
    rows = {
        "tickets": [
            {
                "id": "1",
                "created_at": "2026-03-02T10:00:00Z",
                "status": "solved",
                "solved_at": "2026-03-02T11:00:00Z",
                "assignee_id": "a1",
                "type": "question",
            },
            {
                "id": "2",
                "created_at": "2026-03-03T10:00:00Z",
                "status": "open",
                "assignee_id": "a2",
                "type": "incident",
            },
        ],
        "ticket_events": [
            {
                "id": "e1",
                "ticket_id": "1",
                "created_at": "2026-03-02T10:00:00Z",
                "kind": "message",
                "author_kind": "customer",
            },
            {
                "id": "e2",
                "ticket_id": "1",
                "created_at": "2026-03-02T10:20:00Z",
                "kind": "message",
                "author_kind": "agent",
            },
        ],
        "calls": [
            {
                "id": "c1",
                "queued_at": "2026-03-02T10:00:00Z",
                "answered_at": "2026-03-02T10:00:30Z",
                "outcome": "answered",
            }
        ],
    }
    with engine.begin() as conn:
        for table, items in rows.items():
            model = WAREHOUSE_MODELS[table]
            conn.execute(
                insert(model.__table__),  # type: ignore[attr-defined]
                [coerce_row(table, r, source="zd") for r in items],
            )
    with engine.connect() as conn:
        serial = compute(conn, None, MARCH)
        timings: dict[str, float] = {}
        fanned = compute(conn, None, MARCH, workers=2, timings=timings)
        # Metrics that share one load make one part: computed here, not in an empty pool.
        together = compute(conn, ["first_response_time", "resolution_time"], MARCH, workers=2)
        # A per-call parameter reaches the worker whose metric takes it, and only that one.
        spread = compute(
            conn,
            ["ticket_service_level", "average_speed_of_answer"],
            replace(MARCH, params={"threshold_minutes": 10}),
            workers=2,
        )
    engine.dispose()
    assert [v.metric for v in together] == ["first_response_time", "resolution_time"]
    # Ticket 1 was answered after 20 minutes: missed with T = 10 (met with the default 60).
    assert [(v.metric, v.value) for v in spread] == [
        ("ticket_service_level", 0.0),
        ("average_speed_of_answer", 0.5),
    ]
    assert [v.to_dict() for v in fanned] == [v.to_dict() for v in serial]
    assert set(timings) == {v.metric for v in serial}
    frt = next(v for v in fanned if v.metric == "first_response_time")
    assert (frt.value, frt.n) == (20.0, 1)


def test_gc_pause_is_shared_by_computations_in_several_threads() -> None:
    """The daemon's jobs compute in threads: the collector stays paused until the last one ends,
    and comes back as it was found."""
    import gc

    from deskpulse.kpi_core.engine import _gc_paused

    assert gc.isenabled()
    first, second = _gc_paused(), _gc_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # the second computation still runs
    second.__exit__(None, None, None)
    assert gc.isenabled()
    gc.disable()  # a caller that had it off keeps it off
    try:
        with _gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_workers_are_not_forked_from_a_process_with_other_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing
    import threading

    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    methods: list[str | None] = []
    original = multiprocessing.get_context

    def spy(method: str | None = None) -> Any:
        methods.append(method)
        return original(method)

    monkeypatch.setattr(multiprocessing, "get_context", spy)
    db = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    SQLModel.metadata.create_all(db)
    asked = ["request_volume", "first_response_time"]
    release = threading.Event()
    other = threading.Thread(target=release.wait)  # e.g. the daemon's scheduler
    other.start()
    try:
        with db.connect() as conn:
            threaded = compute(conn, asked, MARCH, workers=2)
    finally:
        release.set()
        other.join()
    single = threading.active_count() == 1  # unless another test left a thread running
    with db.connect() as conn:
        alone = compute(conn, asked, MARCH, workers=2)
    db.dispose()
    assert [v.to_dict() for v in threaded] == [v.to_dict() for v in alone]
    fork = "fork" in multiprocessing.get_all_start_methods() and single
    assert methods == ["spawn", "fork" if fork else "spawn"]
