"""Summary statistics shared by the metrics.

- `mean`: arithmetic mean.
- `median`: the middle value; for an even count, the mean of the two middle values.
- `p90`: nearest-rank 90th percentile: sort the n values ascending and take the one at rank
  ceil(0.9 x n) (1-based). It is always one of the measured values: with 10 values it is the 9th
  smallest, with 20 the 18th, with 5 values (rank ceil(4.5) = 5) the largest.
- `ratio`: numerator / denominator, None when the denominator is 0 (no data is null, never 0).

Every function returns None on an empty input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile, `pct` in (0, 100]."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float | None
    median: float | None
    p90: float | None


def summarize(values: Sequence[float], scale: float = 1.0) -> Summary:
    """n, mean, median and p90 of `values`, each divided by `scale` (60 turns seconds to minutes)."""
    if not values:
        return Summary(0, None, None, None)
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    med = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    p90 = ordered[max(1, math.ceil(0.9 * n)) - 1]
    return Summary(n, math.fsum(ordered) / n / scale, med / scale, p90 / scale)


__all__ = ["Summary", "mean", "median", "percentile", "ratio", "summarize"]
