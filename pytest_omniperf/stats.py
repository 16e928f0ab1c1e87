"""Statistics of timing samples (numpy; imports no pytest).

Imported only once something was measured, so a suite without perf tests never loads numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Quantiles use numpy's default (linear interpolation between closest ranks).
QUANTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}


def summarize(samples_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p95/p99, mean, min, max, standard deviation and coefficient of variation."""
    values = np.asarray(samples_s, dtype=float)
    if values.size == 0:
        raise ValueError("no samples to summarize")
    summary = {
        name: float(q)
        for name, q in zip(QUANTILES, np.percentile(values, list(QUANTILES.values())), strict=True)
    }
    mean = float(values.mean())
    stdev = float(values.std(ddof=1)) if values.size > 1 else 0.0
    summary |= {
        "mean": mean,
        "min": float(values.min()),
        "max": float(values.max()),
        "stdev": stdev,
        "cv": stdev / mean if mean > 0 else 0.0,
    }
    return summary


def speedup_ratio(sequential_s: Sequence[float], parallel_s: Sequence[float]) -> float:
    """Median sequential time over median parallel time: how many times faster parallel is."""
    parallel_median = float(np.median(np.asarray(parallel_s, dtype=float)))
    sequential_median = float(np.median(np.asarray(sequential_s, dtype=float)))
    if parallel_median <= 0:
        return float("inf") if sequential_median > 0 else 1.0
    return sequential_median / parallel_median
