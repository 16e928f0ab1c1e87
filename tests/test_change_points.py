"""Change-point detection (history/change_points.py) and the levels built on it (history/levels.py),
on synthetic series with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_omniperf.comparison import Quantity
from pytest_omniperf.history.change_points import change_points, mean_shift_p_value
from pytest_omniperf.history.levels import (
    SeriesPoint,
    creeping_regression,
    level_changes,
    level_since,
)

RUN_SPREAD = 0.03  # run-to-run spread of log medians on the real clock (stats.PRIOR_RUN_SPREAD)


def noisy(levels, seed, spread=RUN_SPREAD):
    rng = np.random.default_rng(seed)
    return np.log(np.asarray(levels, dtype=float)) + rng.normal(0, spread, len(levels))


def history(values, *, current=True):
    """Points of runs #1.. with the given values; the last is the current run (no id yet)."""
    points = [
        SeriesPoint(
            run_id=index + 1,
            commit=f"{index:07x}abcdef",
            started_at=f"2026-11-{1 + index // 24:02d}T{index % 24:02d}:00:00+00:00",
            value=float(value),
        )
        for index, value in enumerate(values)
    ]
    if current:
        points[-1] = SeriesPoint(None, "", "", points[-1].value)
    return points


def creep(flat_runs=20, steps=5, per_step=0.04):
    return [1.0] * flat_runs + [(1 + per_step) ** step for step in range(1, steps + 1)]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [  # scipy.stats.ttest_ind(before, after).pvalue (pooled variance, two-sided)
        ([1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0, 7.0], 0.03833372883603092),
        ([0.0, 0.1, -0.1, 0.05], [0.3, 0.35, 0.25], 0.0036624966849489703),
        ([1.0, 1.0, 1.0], [1.0, 1.0], 1.0),
    ],
)
def test_mean_shift_p_value_is_students_pooled_t_test(before, after, expected):
    assert mean_shift_p_value(np.array(before), np.array(after)) == pytest.approx(
        expected, rel=1e-9
    )


@pytest.mark.parametrize("seed", range(10))
def test_a_step_of_20_percent_at_run_30_of_50_is_found_there(seed):
    found = change_points(noisy([1.0] * 30 + [1.2] * 20, seed))
    (step,) = [point for point in found if abs(point.after - point.before) > math.log(1.1)]
    assert abs(step.index - 30) <= 1
    assert math.exp(step.after - step.before) == pytest.approx(1.2, rel=0.03)
    assert step.p_value < 1e-6
    # noise may add a change point at p just under 0.001 elsewhere (1 seed in 10), never a large one
    assert all(abs(point.after - point.before) < math.log(1.05) for point in found if point != step)


def test_pure_noise_gives_no_change_point_in_at_least_29_of_30_series():
    alarms = sum(bool(change_points(noisy([1.0] * 50, seed))) for seed in range(100, 130))
    assert alarms <= 1


def test_two_steps_are_both_found():
    found = change_points(noisy([1.0] * 15 + [1.3] * 15 + [1.0] * 15, seed=3))
    assert len(found) == 2
    assert abs(found[0].index - 15) <= 1
    assert abs(found[1].index - 30) <= 1


def test_exact_values_change_only_where_they_move():
    assert change_points([0.0] * 20) == []
    found = change_points([0.0] * 10 + [0.05] * 10)
    assert [point.index for point in found] == [10]
    # the within-run variance is a floor under the spread: a step smaller than that noise is none
    assert change_points([0.0] * 10 + [0.001] * 10, [0.01] * 20) == []


@pytest.mark.parametrize("bad", [[1.0, math.nan], [[1.0, 2.0]]])
def test_bad_series_is_refused(bad):
    with pytest.raises(ValueError, match="finite numbers"):
        change_points(bad)


def test_short_series_have_no_change_points():
    assert change_points([]) == []
    assert change_points([1.0]) == []
    assert change_points([1.0, 2.0]) == []


def test_level_changes_are_in_the_series_unit():
    (found,) = level_changes([0.1] * 10 + [0.15] * 10)
    assert found.index == 10
    assert found.before == pytest.approx(0.1)
    assert found.after == pytest.approx(0.15)
    assert found.change == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(5))
def test_a_creep_of_4_percent_per_run_is_a_regression_since_where_it_began(seed):
    values = np.exp(noisy(creep(), seed, spread=0.01))
    since = creeping_regression(history(values), threshold=0.10, max_p_value=1e-4)
    assert since is not None
    assert since.run_id in (21, 22)  # the first creeping run is #21
    assert since.after / since.before - 1 > 0.10
    assert since.describe().startswith(f"since run #{since.run_id} (")


def test_a_creep_under_the_threshold_in_total_is_no_regression():
    values = np.exp(noisy(creep(steps=3, per_step=0.02), 1, spread=0.005))
    assert creeping_regression(history(values), threshold=0.10, max_p_value=1e-4) is None


def test_an_improving_creep_is_no_regression():
    values = np.exp(noisy(creep(per_step=-0.04), 2, spread=0.01))
    assert creeping_regression(history(values), threshold=0.10, max_p_value=1e-4) is None
    # but a falling speedup is
    assert (
        creeping_regression(
            history(values), threshold=0.10, max_p_value=1e-4, quantity=Quantity.SPEEDUP
        )
        is not None
    )


def test_noise_only_histories_never_creep():
    """A/A: 30 noise-only histories of 25 runs, at the gate's level for a suite of one."""
    alarms = [
        seed
        for seed in range(30)
        if creeping_regression(
            history(np.exp(noisy([1.0] * 25, 200 + seed))), threshold=0.10, max_p_value=0.01
        )
    ]
    assert alarms == []


def test_since_names_the_run_where_a_step_began():
    values = np.exp(noisy([1.0] * 30 + [1.2] * 20, seed=7))
    since = level_since(history(values), min_change=0.05)
    assert since is not None
    assert since.run_id == 31  # index 30
    assert since.commit == f"{30:07x}abcdef"
    assert since.after / since.before == pytest.approx(1.2, rel=0.03)


def test_since_ignores_small_shifts_and_a_step_at_the_current_run():
    values = np.exp(noisy([1.0] * 30 + [1.02] * 20, seed=7, spread=0.001))
    assert level_since(history(values), min_change=0.05) is None
    assert level_since(history([1.0] * 20 + [1.5]), min_change=0.05) is None


def test_since_skips_runs_without_a_usable_value():
    values = [1.0] * 10 + [0.0, math.nan] + [1.3] * 10
    since = level_since(history(values), min_change=0.05)
    assert since is not None
    assert since.run_id == 13


def test_report_marks_the_runs_of_a_worse_level_until_it_is_reverted():
    from history_helpers import make_measurement, make_run

    from pytest_omniperf.report.history_view import Point, Series, mark_regressions

    values = [1.0] * 10 + [1.5] * 6 + [1.0] * 8
    series = Series("t.py::test_a", "test_a", "latency")
    for index, value in enumerate(values):
        measurement = make_measurement(seconds=value)
        series.points.append(Point(index, value, value, value, measurement))
    other_machine = make_run(fingerprint="machine-b")
    runs = [make_run() for _ in values]
    mark_regressions(series, runs)
    assert [index for index, point in enumerate(series.points) if point.regressed] == list(
        range(10, 16)
    )
    # each machine is its own series: the same values split over two machines show no step
    runs = [make_run() if value == 1.0 else other_machine for value in values]
    for point in series.points:
        point.regressed = False
    mark_regressions(series, runs)
    assert not any(point.regressed for point in series.points)


@pytest.mark.parametrize("count", [1, 2, 5, 10, 31])
def test_log_median_variance_is_the_statistics_modules_estimate(count):
    from pytest_omniperf import stats
    from pytest_omniperf.history.levels import log_median_variance

    samples = list(np.random.default_rng(count).uniform(0.009, 0.011, count))
    assert log_median_variance(samples) == pytest.approx(stats.log_median_estimate(samples)[1])
