"""Canonical help-desk vocabulary: warehouse models and the KPI metric registry.

`kpi_core` imports nothing from `connectors`, `sync` or the CLI: dependencies point one way,
`cli -> sync -> connectors -> kpi_core`.

The KPI API: `compute(conn, metric_ids, KpiQuery(...)) -> list[KpiValue]` (see kpi_core.engine),
`REGISTRY` (metric id -> `Metric`), configuration in kpi_core.config, periods in kpi_core.periods.
"""

from deskpulse.kpi_core import metrics as _metrics  # noqa: F401 - registers the catalog
from deskpulse.kpi_core.engine import compute, plan
from deskpulse.kpi_core.registry import REGISTRY, KpiError, KpiQuery, KpiValue, Metric, Param

__all__ = ["REGISTRY", "KpiError", "KpiQuery", "KpiValue", "Metric", "Param", "compute", "plan"]
