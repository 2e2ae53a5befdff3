"""Seed noise: the mean of a candidate's repeated trainings with a 95% interval, and which
candidates the best one does not beat beyond that noise."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

# Two-sided 95% quantiles of Student's t distribution, t(0.975, df), for df = 1..30.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile_975(df: int) -> float:
    """t(0.975, df); the normal 1.96 beyond df = 30."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return _T975[df - 1] if df <= len(_T975) else 1.96


def mean_interval(values: Sequence[float]) -> tuple[float, float | None]:
    """``(mean, half-width of its 95% t interval)``; the half-width is None for one value."""
    if not values:
        raise ValueError("no values")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    half = t_quantile_975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, half


def not_beaten(ranked: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows (after the first, the best) whose 95% interval overlaps the best one's: the
    best does not beat them beyond seed noise. Empty when the rows carry no intervals."""
    if not ranked or ranked[0].get("top1_ci") is None:
        return []
    best = ranked[0]
    low = best["top1"] - best["top1_ci"]
    return [
        r for r in ranked[1:] if r.get("top1_ci") is not None and r["top1"] + r["top1_ci"] >= low
    ]
