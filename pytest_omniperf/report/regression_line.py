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
    speedup, median = comparison.speedup, comparison.median
    if speedup is not None and speedup.verdict == Verdict.REGRESSED:
        current, baseline = compared_values(speedup, measurement.clock)
        return (
            f"speedup regression: {current} vs baseline {baseline} ({_change_text(speedup)}) "
            f"{against}"
        )
    assert median is not None, "a regressed comparison has a median change"
    current, baseline = compared_values(median, measurement.clock)
    return (
        f"performance regression: median {current} vs baseline {baseline} "
        f"({_change_text(median)}) {against}"
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
