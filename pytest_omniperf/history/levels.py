"""Levels of one measurement over its history: since when it is where it is, and whether it crept
there (pure: numpy only, imports no pytest).

A measurement's history is a series of per-run medians, oldest first (the current run last).
:func:`~pytest_omniperf.history.change_points.change_points` splits it into levels on log
medians. The *current shift* is the movement that led to the latest level: its last change
point, extended back over the change points just before it that moved the same way, so a
creep found as several small steps counts as one movement from where it began.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pytest_omniperf.comparison import Quantity, Since
from pytest_omniperf.history.change_points import (
    DEFAULT_MAX_P_VALUE,
    change_points,
    mean_shift_p_value,
)
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.measurement import Measurement


@dataclass(frozen=True)
class SeriesPoint:
    """One run's value of a measurement (its median, or its speedup ratio)."""

    run_id: int | None
    """None for the current run, not stored yet."""
    commit: str
    started_at: str
    value: float
    log_variance: float = 0.0
    """Sampling variance of ``log(value)`` inside the run (0 when unknown)."""


@dataclass(frozen=True)
class LevelChange:
    """A movement of a series from one level to another, in the series' own unit: a change
    point (for charts), or the movement that led to the current level."""

    index: int
    """Index of the first point of the new level."""
    before: float
    """The level before it."""
    after: float
    """The level from ``index`` on."""
    p_value: float
    """Two-sided t-test of the log values of those two levels."""

    @property
    def change(self) -> float:
        return self.after / self.before - 1

    def worse_by(self, quantity: Quantity) -> float:
        """How much worse the new level is, as a ratio minus one (negative: better)."""
        return self.before / self.after - 1 if quantity.higher_is_better else self.change


def series_point(
    run: RunInfo | None, measurement: Measurement, quantity: Quantity
) -> SeriesPoint | None:
    """The point of ``measurement`` (of ``run``; None: the current run) in the series of
    ``quantity``, or None when it has no such value."""
    return point_of(
        run,
        quantity,
        median=measurement.stats.get("p50"),
        speedup=measurement.stats.get("speedup"),
        samples_s=measurement.samples_s,
        sequential_samples_s=measurement.sequential_samples_s,
    )


def point_of(
    run: RunInfo | None,
    quantity: Quantity,
    *,
    median: float | None,
    speedup: float | None,
    samples_s: Sequence[float],
    sequential_samples_s: Sequence[float],
) -> SeriesPoint | None:
    """A run's point of ``quantity`` from a measurement's values (see :func:`series_point`)."""
    value = speedup if quantity is Quantity.SPEEDUP else median
    if value is None:
        return None
    variance = log_median_variance(samples_s)
    if quantity is Quantity.SPEEDUP:
        variance += log_median_variance(sequential_samples_s)
    return SeriesPoint(
        run_id=run.id if run is not None else None,
        commit=(run.git_commit or "") if run is not None else "",
        started_at=run.started_at if run is not None else "",
        value=value,
        log_variance=variance,
    )


def log_median_variance(samples_s: Sequence[float]) -> float:
    """The variance of :func:`pytest_omniperf.stats.log_median_estimate`, (pi/2) sigma^2 / n
    with sigma from the MAD of the log samples, in plain Python: a history holds thousands of
    short sample lists, and numpy's overhead per call made this 20 times slower."""
    logs = [math.log(value) for value in samples_s if value > 0]
    if len(logs) < 2:
        return 0.0
    centre = statistics.median(logs)
    sigma = 1.4826 * statistics.median([abs(value - centre) for value in logs])
    return (math.pi / 2) * sigma**2 / len(logs)


def usable(points: Sequence[SeriesPoint]) -> list[SeriesPoint]:
    """The points whose value can be analysed (positive and finite)."""
    return [point for point in points if point.value > 0 and math.isfinite(point.value)]


def level_changes(
    values: Sequence[float],
    log_variances: Sequence[float] | None = None,
    *,
    max_p_value: float = DEFAULT_MAX_P_VALUE,
) -> list[LevelChange]:
    """The change points of a series of positive values (medians, speedups), oldest first.

    The function a chart uses to mark where a measurement's level moved; values that are not
    positive and finite are not allowed (filter them out first, see :func:`usable`).
    """
    logs = np.log(np.asarray(values, dtype=float))
    return [
        LevelChange(point.index, math.exp(point.before), math.exp(point.after), point.p_value)
        for point in change_points(logs, log_variances, max_p_value=max_p_value)
    ]


def current_shift(
    points: Sequence[SeriesPoint], *, max_p_value: float = DEFAULT_MAX_P_VALUE
) -> LevelChange | None:
    """The movement to the latest level of ``points`` (all usable), or None when the series
    shows no change point."""
    logs = np.log(np.asarray([point.value for point in points], dtype=float))
    variances = [point.log_variance for point in points]
    found = change_points(logs, variances, max_p_value=max_p_value)
    if not found:
        return None
    bounds = [0, *(point.index for point in found), len(points)]
    levels = [float(np.median(logs[a:b])) for a, b in itertools.pairwise(bounds)]
    latest = len(levels) - 1
    direction = math.copysign(1.0, levels[latest] - levels[latest - 1])
    first = latest  # the first level of the movement
    while first > 1 and (levels[first - 1] - levels[first - 2]) * direction > 0:
        first -= 1
    left = logs[bounds[first - 1] : bounds[first]]
    current = logs[bounds[latest] :]
    return LevelChange(
        index=bounds[first],
        before=math.exp(levels[first - 1]),
        after=math.exp(levels[latest]),
        p_value=mean_shift_p_value(left, current, float(np.mean(variances))),
    )


def level_since(
    history: Sequence[SeriesPoint],
    *,
    min_change: float,
    max_p_value: float = DEFAULT_MAX_P_VALUE,
    quantity: Quantity = Quantity.MEDIAN,
) -> Since | None:
    """Where the current level of ``history`` (oldest first, the current run last) began: the
    run that started the latest movement of at least ``min_change`` (either way), or None when
    there is none, or it began with the current run (nothing earlier to name)."""
    points = usable(history)
    shift = current_shift(points, max_p_value=max_p_value)
    if shift is None or abs(math.log(shift.after / shift.before)) < math.log1p(min_change):
        return None
    return since_at(points[shift.index], shift.before, shift.after, quantity)


def worse_shift(
    points: Sequence[SeriesPoint],
    *,
    threshold: float,
    max_p_value: float,
    quantity: Quantity = Quantity.MEDIAN,
) -> LevelChange | None:
    """The movement of ``points`` (all usable) to a current level worse than the level before
    it by more than ``threshold``, significant at ``max_p_value``; None when there is none."""
    shift = current_shift(points, max_p_value=max_p_value)
    if shift is None or shift.p_value > max_p_value:
        return None
    if shift.worse_by(quantity) <= threshold:
        return None
    return shift


def creeping_regression(
    history: Sequence[SeriesPoint],
    *,
    threshold: float,
    max_p_value: float,
    quantity: Quantity = Quantity.MEDIAN,
) -> Since | None:
    """Where the current level of ``history`` (oldest first, the current run last) began, when
    it is worse than the level before by more than ``threshold`` (see :func:`worse_shift`);
    None when it is not, or when it began with the current run (then the comparison with the
    baseline runs sees the change anyway)."""
    points = usable(history)
    shift = worse_shift(points, threshold=threshold, max_p_value=max_p_value, quantity=quantity)
    if shift is None:
        return None
    return since_at(points[shift.index], shift.before, shift.after, quantity)


def since_at(start: SeriesPoint, before: float, after: float, quantity: Quantity) -> Since | None:
    """The :class:`Since` of a level that began at ``start`` (None: at the current run)."""
    if start.run_id is None:
        return None
    return Since(
        run_id=start.run_id,
        commit=start.commit,
        started_at=start.started_at,
        before=before,
        after=after,
        quantity=quantity,
    )
