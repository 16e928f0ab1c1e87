"""Change points of a series of per-run values: where its level moved (pure: numpy only).

The method is E-Divisive with means (Matteson & James 2014, arXiv:1306.4933) with the Student-t
significance test of Apache Otava (formerly DataStax's Hunter, Fleming et al. 2023,
doi:10.1145/3578244.3583719): the series is split where the energy divergence between the part
before and the part after is largest; the split is kept when a two-sample t-test says the two
parts' means differ at ``max_p_value``; the parts are split again the same way until a candidate
is not significant. The t-test instead of the permutation test of the original makes the result
deterministic and cheap (no random permutations to seed or pay for).

Why not the libraries themselves: MongoDB's ``signal-processing-algorithms`` 2.1.6 needs
``numpy<2``, Python 3.11 only, scipy, structlog, gevent and PyYAML; ``apache-otava`` 0.8.0 pins
``numpy==2.2.0``, needs scipy and brings BigQuery, Postgres, Slack and Grafana clients. Either
would make the plain install heavy and fight the user's own numpy pin; the method itself is
about a hundred lines of numpy.

The values are meant to be log medians of one measurement, oldest first: levels and their
differences are then ratios, and a t-test on them fits the run-to-run noise, which is closer to
log-normal than normal.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_omniperf import student_t

Index = int | np.ndarray

# Significance of a change point. Otava's default is 0.001; but the split tested is the one
# that looks most different, so the t-test's p-value is optimistic: on 1,000 series of 50 runs
# of pure noise (normal, 3% spread), 0.001 found a change point in 1.9% of them and 0.0001 in
# 0.5%, while a +20% step at run 30 and a +4%/run creep over five runs were still found in
# 200 of 200 (measured with both tests of _significant; the command is in README).
DEFAULT_MAX_P_VALUE = 0.0001
# A level that came and went is tested on its own when it and the level before hold this many
# runs each, at this fraction of the p-value (see _significant).
MIN_RUNS_OF_A_PASSING_LEVEL = 3
PASSING_LEVEL_STRICTNESS = 0.1


@dataclass(frozen=True)
class ChangePoint:
    """The level of a series moved at ``index`` (the first value of the new level)."""

    index: int
    before: float
    """Mean of the values from the previous change point (or the start) up to ``index``."""
    after: float
    """Mean of the values from ``index`` up to the next change point (or the end)."""
    p_value: float
    """Two-sided t-test of the two parts' means (pooled variance)."""


def change_points(
    values: Sequence[float] | np.ndarray,
    variances: Sequence[float] | np.ndarray | None = None,
    *,
    max_p_value: float = DEFAULT_MAX_P_VALUE,
) -> list[ChangePoint]:
    """The significant change points of ``values``, by index.

    ``variances``: the variance of each value as measured inside its run (of a log median: its
    sampling variance). Their mean is a floor under the spread the t-test uses, so a series of
    nearly exact values (the virtual clock) does not turn every rounding step into a change.
    """
    series = np.asarray(values, dtype=float)
    if series.ndim != 1 or not np.all(np.isfinite(series)):
        raise ValueError("change_points needs a one-dimensional series of finite numbers")
    noise_floor = float(np.mean(variances)) if variances is not None and len(variances) else 0.0
    prefix = _distance_prefix_sums(series)
    bounds = [0, series.size]
    # best candidate split of each segment, by the segment's start: only new segments are searched
    candidates: dict[int, tuple[float, int, int]] = {}
    while True:
        best: tuple[float, int, int, int] | None = None
        for start, end in itertools.pairwise(bounds):
            if start not in candidates:
                candidates[start] = _best_split(prefix, start, end)
            divergence, split, split_end = candidates[start]
            if split > 0 and (best is None or divergence > best[0]):
                best = (divergence, split, start, split_end)
        if best is None:
            break
        # the test compares the two parts the divergence compared: a level that came and went
        # again (a regression later reverted) is tested as itself, not diluted by what followed
        _, split, start, split_end = best
        end = bounds[bounds.index(start) + 1]
        if not _significant(series, (start, split, split_end, end), noise_floor, max_p_value):
            break
        bounds = sorted([*bounds, split])
        del candidates[start]
    return _described(series, bounds, noise_floor)


def _significant(
    series: np.ndarray, cut: tuple[int, int, int, int], noise_floor: float, max_p_value: float
) -> bool:
    """Is the candidate split ``start < split < split_end <= end`` of ``series[start:end]``
    significant?

    Otava's test compares the part before the split with all of the segment after it. A level
    that came and went (a regression, then its revert) is diluted by what followed it there, so
    the part the divergence found, ``series[split:split_end]``, is tested too, when it and the
    part before hold a few runs each; at a tenfold stricter level, since ``split_end`` was
    chosen to make that part stand out.
    """
    start, split, split_end, end = cut
    before = series[start:split]
    if mean_shift_p_value(before, series[split:end], noise_floor) <= max_p_value:
        return True
    if split_end < end and min(split - start, split_end - split) >= MIN_RUNS_OF_A_PASSING_LEVEL:
        passing = series[split:split_end]
        return (
            mean_shift_p_value(before, passing, noise_floor)
            <= max_p_value * PASSING_LEVEL_STRICTNESS
        )
    return False


def _described(series: np.ndarray, bounds: list[int], noise_floor: float) -> list[ChangePoint]:
    """The change points at ``bounds``, each against its neighbouring segments."""
    found = []
    for previous, split, following in zip(bounds[:-2], bounds[1:-1], bounds[2:], strict=True):
        before, after = series[previous:split], series[split:following]
        found.append(
            ChangePoint(
                index=split,
                before=float(np.mean(before)),
                after=float(np.mean(after)),
                p_value=mean_shift_p_value(before, after, noise_floor),
            )
        )
    return found


def _distance_prefix_sums(series: np.ndarray) -> np.ndarray:
    """``S[a, b]``: the sum of ``|x_i - x_j|`` over ``i < a``, ``j < b`` (zero-padded), so the
    sum over any block of the distance matrix costs four lookups."""
    distances = np.abs(series[:, None] - series[None, :])
    prefix = np.zeros((series.size + 1, series.size + 1))
    prefix[1:, 1:] = distances.cumsum(axis=0).cumsum(axis=1)
    return prefix


def _block(prefix: np.ndarray, rows: tuple[Index, Index], columns: tuple[Index, Index]) -> Any:
    """Sums of the distance-matrix blocks ``rows[0]:rows[1]`` x ``columns[0]:columns[1]``."""
    (r0, r1), (c0, c1) = rows, columns
    return prefix[r1, c1] - prefix[r0, c1] - prefix[r1, c0] + prefix[r0, c0]


def _best_split(prefix: np.ndarray, start: int, end: int) -> tuple[float, int, int]:
    """The largest divergence ``Q(tau, kappa)`` over ``start < tau < kappa <= end``, with its
    ``tau`` and ``kappa`` (``tau`` 0 when the segment cannot be split).

    ``Q`` is Matteson & James' statistic for ``X = x[start:tau]``, ``Y = x[tau:kappa]``
    (``n = |X|``, ``m = |Y|``)::

        Q = 2/(n+m) sum|X-Y|
            - 2m/((n+m)(n-1)) sum_{i<k}|X_i-X_k|
            - 2n/((n+m)(m-1)) sum_{j<k}|Y_j-Y_k|

    computed for every (tau, kappa) at once from the prefix sums.
    """
    if end - start < 2:
        return -math.inf, 0, 0
    tau = np.arange(start + 1, end)[:, None]
    kappa = np.arange(start + 2, end + 1)[None, :]
    valid = kappa > tau
    n = (tau - start).astype(float)
    m = np.where(valid, kappa - tau, 1).astype(float)
    kappa = np.where(valid, kappa, tau + 1)
    cross = _block(prefix, (start, tau), (tau, kappa))
    within_x = _block(prefix, (start, tau), (start, tau)) / 2
    within_y = _block(prefix, (tau, kappa), (tau, kappa)) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        x_weight = np.where(n > 1, 2 * m / ((n + m) * (n - 1)), 0.0)
        y_weight = np.where(m > 1, 2 * n / ((n + m) * (m - 1)), 0.0)
    divergence = 2 / (n + m) * cross - x_weight * within_x - y_weight * within_y
    divergence = np.where(valid, divergence, -np.inf)
    row, column = np.unravel_index(int(np.argmax(divergence)), divergence.shape)
    return float(divergence.max()), int(start + 1 + row), int(start + 2 + column)


def mean_shift_p_value(before: np.ndarray, after: np.ndarray, noise_floor: float = 0.0) -> float:
    """Two-sided p-value of a pooled-variance two-sample t-test of the means (Otava's test);
    the pooled variance is at least ``noise_floor``."""
    degrees = before.size + after.size - 2
    if before.size == 0 or after.size == 0 or degrees < 1:
        return 1.0
    squares = float(np.sum((before - before.mean()) ** 2) + np.sum((after - after.mean()) ** 2))
    pooled = max(squares / degrees, noise_floor)
    difference = float(after.mean() - before.mean())
    if pooled <= 0:
        return 0.0 if difference != 0 else 1.0
    t = difference / math.sqrt(pooled * (1 / before.size + 1 / after.size))
    return 2 * student_t.upper_tail(abs(t), degrees)
