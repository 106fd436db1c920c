"""The metric registry: what a metric is, what a query asks, what a result holds.

A metric registers itself with `@metric(...)` on a compute function. `compute()` runs the asked
metrics over a SQLAlchemy connection to the warehouse and returns flat `KpiValue` rows, one per
metric x period bucket x group. The CLI renders them; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

Unit = Literal["count", "ratio", "minutes", "seconds", "points", "score", "currency"]
Direction = Literal["higher", "lower", "neutral"]
Every = Literal["day", "week", "month"]
DIMENSIONS = ("agent", "group", "channel", "type", "priority", "source")


class KpiError(ValueError):
    """A query the registry cannot answer (unknown metric, bad parameter, unsupported slice)."""


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str


@dataclass(frozen=True)
class KpiQuery:
    """One call's question. `start`/`end` are aware datetimes, the window is [start, end)."""

    start: datetime
    end: datetime
    every: Every | None = None
    by: str | None = None
    business_hours: bool = False
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    params: Mapping[str, Any] = field(default_factory=dict)
    # Filled in by the caller from configuration; the metrics that need them read them here.
    schedules: Any = None
    targets: Any = None
    sources: Sequence[str] | None = None
    # A kpi_core.config.KpiConfig: parameter defaults, targets, SLA policies. `targets`, when
    # set (a sequence of config.Target), replaces the configured targets for this call.
    config: Any = None


@dataclass
class KpiValue:
    """One number: a metric over one period bucket and one group."""

    metric: str
    start: datetime
    end: datetime
    group: dict[str, Any] | None
    value: float | None
    unit: Unit
    n: int
    mean: float | None = None
    median: float | None = None
    p90: float | None = None
    target: float | None = None
    met: bool | None = None
    details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("start").isoformat()
        data["to"] = data.pop("end").isoformat()
        ordered = {"metric": data.pop("metric"), "from": data.pop("from"), "to": data.pop("to")}
        ordered.update(data)
        return ordered


ComputeFn = Callable[[Connection, KpiQuery, "Metric"], Iterable[KpiValue]]


@dataclass(frozen=True)
class Metric:
    id: str
    title: str
    description: str
    unit: Unit
    direction: Direction
    anchor: str
    params: tuple[Param, ...]
    dimensions: tuple[str, ...]
    compute: ComputeFn
    # Metrics naming the same expensive shared load (e.g. "ticket_facts") run in the same worker
    # when compute() fans out over processes, so the load happens once.
    shares: str | None = None

    def param(self, query: KpiQuery, name: str) -> Any:
        """The value of parameter `name` for this query (per-call value, else the default)."""
        for p in self.params:
            if p.name == name:
                return query.params.get(name, p.default)
        raise KpiError(f"metric {self.id} has no parameter {name!r}")


REGISTRY: dict[str, Metric] = {}


def metric(
    id: str,
    *,
    title: str,
    description: str,
    unit: Unit,
    direction: Direction,
    anchor: str,
    params: Sequence[Param] = (),
    dimensions: Sequence[str] = DIMENSIONS,
    shares: str | None = None,
) -> Callable[[ComputeFn], ComputeFn]:
    """Register a compute function as metric `id` (`shares`: see `Metric.shares`)."""

    def register(fn: ComputeFn) -> ComputeFn:
        if id in REGISTRY:
            raise RuntimeError(f"metric {id} registered twice")
        REGISTRY[id] = Metric(
            id,
            title,
            description,
            unit,
            direction,
            anchor,
            tuple(params),
            tuple(dimensions),
            fn,
            shares,
        )
        return fn

    return register
