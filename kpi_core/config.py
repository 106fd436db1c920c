"""KPI configuration: parameter defaults, targets and SLA policies, from a TOML file.

The caller passes the file's path (the CLI reads it from `DESKPULSE_KPI_CONFIG`). Every section
is optional; an absent file section means "use the catalog defaults".

```toml
# Parameter defaults. A per-call value (KpiQuery.params, CLI --param) always wins.
# For metric M and parameter P the first of these that is set is used:
#   [params.M] P = ...       a table per metric
#   [params] M_P = ...       flat key, metric-qualified (e.g. service_level_threshold_seconds)
#   [params] P = ...         flat key, for every metric that has a parameter P
[params]
service_level_threshold_seconds = 20
complaint_tags = ["complaint", "escalated", "legal"]

[params.ticket_backlog]
aged_days = 14

# Targets, in the metric's unit (minutes for durations, a fraction 0-1 for ratios).
# `max` for lower-is-better metrics, `min` for higher-is-better (both allowed: a band).
# Optional selectors (agent, group, channel, type, priority, source) restrict a target to rows
# of that group, e.g. `--by priority`; the most specific matching target applies to a row.
[[targets]]
metric = "first_response_time"
priority = "urgent"
max = 60

[[targets]]
metric = "first_response_time"
max = 240

[[targets]]
metric = "cost_per_ticket"
max = 20

[[targets]]
metric = "csat"
min = 0.85

# SLA policies for sla_attainment, per ticket priority, targets in minutes.
# A policy without `priority` is the default for tickets of any other (or no) priority.
# `business_hours` (optional) pins the clock; omitted, it follows the query (--business-hours).
[[sla]]
priority = "urgent"
first_response_minutes = 60
resolution_minutes = 480

[[sla]]
first_response_minutes = 480
resolution_minutes = 2880
business_hours = true
```

Errors in the file raise `ConfigError` (a `KpiError`) with a one-line reason naming the entry.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deskpulse.kpi_core.registry import DIMENSIONS, REGISTRY, KpiError

ENV_VAR = "DESKPULSE_KPI_CONFIG"


class ConfigError(KpiError):
    """The KPI configuration file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Target:
    """A goal for one metric, optionally for one group (e.g. priority = urgent)."""

    metric: str
    min: float | None = None
    max: float | None = None
    where: Mapping[str, str] = field(default_factory=dict)

    def matches(self, metric_id: str, group: Mapping[str, Any] | None) -> bool:
        if metric_id != self.metric:
            return False
        if not self.where:
            return True
        if group is None:
            return False
        return all(k in group and str(group[k]) == v for k, v in self.where.items())

    def met(self, value: float) -> bool:
        if self.min is not None and value < self.min:
            return False
        return not (self.max is not None and value > self.max)

    @property
    def value(self) -> float:
        """The number shown as the target: `max` for lower-is-better, else `min`."""
        return self.max if self.max is not None else self.min  # type: ignore[return-value]


@dataclass(frozen=True)
class SlaPolicy:
    """First-response and resolution targets (minutes) for one priority (None = default)."""

    priority: str | None
    first_response_minutes: float | None = None
    resolution_minutes: float | None = None
    business_hours: bool | None = None


@dataclass(frozen=True)
class KpiConfig:
    params: Mapping[str, Any] = field(default_factory=dict)
    targets: tuple[Target, ...] = ()
    sla: tuple[SlaPolicy, ...] = ()

    def param(self, metric_id: str, name: str) -> tuple[bool, Any]:
        """(found, value) of parameter `name` for metric `metric_id` (see the module docstring)."""
        table = self.params.get(metric_id)
        if isinstance(table, Mapping) and name in table:
            return True, table[name]
        for key in (f"{metric_id}_{name}", name):
            if key in self.params and not isinstance(self.params[key], Mapping):
                return True, self.params[key]
        return False, None

    def target_for(self, metric_id: str, group: Mapping[str, Any] | None) -> Target | None:
        """The most specific target matching a row (most selectors wins; first listed on ties)."""
        best: Target | None = None
        for target in self.targets:
            if target.matches(metric_id, group) and (
                best is None or len(target.where) > len(best.where)
            ):
                best = target
        return best

    def sla_policy(self, priority: str | None) -> SlaPolicy | None:
        default = None
        for policy in self.sla:
            if policy.priority is None:
                default = default or policy
            elif priority is not None and policy.priority == priority.lower():
                return policy
        return default


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    return float(value)


def from_dict(data: Mapping[str, Any], *, origin: str = "config") -> KpiConfig:
    """Build a KpiConfig from parsed TOML (or any mapping of the same shape)."""
    unknown = set(data) - {"params", "targets", "sla"}
    if unknown:
        raise ConfigError(f"{origin}: unknown section(s) {', '.join(sorted(unknown))}")
    params = data.get("params", {})
    if not isinstance(params, Mapping):
        raise ConfigError(f"{origin}: [params] must be a table")
    targets = []
    for i, raw in enumerate(data.get("targets", [])):
        where_txt = f"{origin}: targets[{i}]"
        if not isinstance(raw, Mapping) or "metric" not in raw:
            raise ConfigError(f"{where_txt}: needs a `metric`")
        metric_id = str(raw["metric"])
        if REGISTRY and metric_id not in REGISTRY:
            raise ConfigError(f"{where_txt}: unknown metric {metric_id!r}")
        extra = set(raw) - {"metric", "min", "max", *DIMENSIONS}
        if extra:
            raise ConfigError(f"{where_txt}: unknown key(s) {', '.join(sorted(extra))}")
        if "min" not in raw and "max" not in raw:
            raise ConfigError(f"{where_txt}: needs `min` or `max`")
        targets.append(
            Target(
                metric=metric_id,
                min=_number(raw["min"], where_txt) if "min" in raw else None,
                max=_number(raw["max"], where_txt) if "max" in raw else None,
                where={k: str(raw[k]) for k in DIMENSIONS if k in raw},
            )
        )
    policies = []
    for i, raw in enumerate(data.get("sla", [])):
        where_txt = f"{origin}: sla[{i}]"
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where_txt}: must be a table")
        extra = set(raw) - {
            "priority",
            "first_response_minutes",
            "resolution_minutes",
            "business_hours",
        }
        if extra:
            raise ConfigError(f"{where_txt}: unknown key(s) {', '.join(sorted(extra))}")
        bh = raw.get("business_hours")
        if bh is not None and not isinstance(bh, bool):
            raise ConfigError(f"{where_txt}: business_hours must be true or false")
        policies.append(
            SlaPolicy(
                priority=str(raw["priority"]).lower() if raw.get("priority") else None,
                first_response_minutes=_number(raw["first_response_minutes"], where_txt)
                if "first_response_minutes" in raw
                else None,
                resolution_minutes=_number(raw["resolution_minutes"], where_txt)
                if "resolution_minutes" in raw
                else None,
                business_hours=bh,
            )
        )
    return KpiConfig(params=dict(params), targets=tuple(targets), sla=tuple(policies))


def load_config(path: str | os.PathLike[str] | None) -> KpiConfig:
    """Read a TOML config file; None gives the empty configuration (catalog defaults)."""
    if path is None:
        return KpiConfig()
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"KPI config file not found: {file}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    return from_dict(data, origin=str(file))


def config_from_env(environ: Mapping[str, str] | None = None) -> KpiConfig:
    """The configuration named by DESKPULSE_KPI_CONFIG (empty when unset)."""
    env = os.environ if environ is None else environ
    return load_config(env.get(ENV_VAR) or None)


__all__ = [
    "ENV_VAR",
    "ConfigError",
    "KpiConfig",
    "SlaPolicy",
    "Target",
    "config_from_env",
    "from_dict",
    "load_config",
]
