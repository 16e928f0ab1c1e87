"""The one line that fails a regressed test (pure: imports no pytest).

Its figures are the ones the change was computed from, with the digits that make them add up
(:func:`~pytest_omniperf.report.shown_numbers.compared_values`), as in every other output.
"""

from __future__ import annotations

from pytest_omniperf.comparison import Change, Comparison, Quantity, Since, Verdict
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.report.shown_numbers import compared_values
from pytest_omniperf.units import format_change, format_change_bound


def regression_message(measurement: Measurement, comparison: Comparison) -> str:
    """``performance regression: median 130 ms vs baseline 100 ms (+30.0%, interval ...)
    against 5 runs labelled 'main' (...)``; a speedup's or a creep's in their own words."""
    against = f"against {comparison.baseline}{measurement.name_suffix}"
    if comparison.creeping and comparison.since is not None:
        return _creep_message(measurement, comparison, comparison.since)
    regressed = [change for change in comparison.changes if change.verdict == Verdict.REGRESSED]
    assert regressed, "a regressed comparison that is no creep has a regressed change"
    change = regressed[0]
    current, baseline = compared_values(change, measurement.clock)
    if change.quantity is Quantity.METRIC:
        # every regressed metric, each in its own words: the budgets name them one by one
        return "; ".join(_metric_text(metric, measurement.clock) for metric in regressed) + (
            f" {against}"
        )
    if change.quantity is Quantity.SPEEDUP:
        return (
            f"speedup regression: {current} vs baseline {baseline} ({_change_text(change)}) "
            f"{against}"
        )
    return (
        f"performance regression: median {current} vs baseline {baseline} "
        f"({_change_text(change)}) {against}"
    )


def _metric_text(change: Change, clock: str) -> str:
    """``cache.hit_rate regressed: 0.31 vs baseline 0.40 (-22.5%)``: no interval, a metric is
    one value per run (its range over the baseline runs is in the other outputs)."""
    current, baseline = compared_values(change, clock)
    return (
        f"{change.metric} regressed: {current} vs baseline {baseline} "
        f"({format_change(change.change)})"
    )


def _change_text(change: Change) -> str:
    return (
        f"{format_change(change.change)}, interval {format_change_bound(change.low)} .. "
        f"{format_change_bound(change.high)}"
    )


def _creep_message(measurement: Measurement, comparison: Comparison, since: Since) -> str:
    """A regression the baseline runs moved with: the level before it and now, where it began."""
    level = Change(
        since.quantity,
        since.after,
        since.before,
        since.change,
        since.change,
        since.change,
        Verdict.REGRESSED,
    )
    after, before = compared_values(level, measurement.clock)
    what = "speedup" if since.quantity is Quantity.SPEEDUP else "median"
    return (
        f"creeping regression: {what} level {after} vs {before} before it began to move "
        f"({format_change(since.change)}) {since.describe()}; the baseline moved with it "
        f"({comparison.baseline}){measurement.name_suffix}"
    )
