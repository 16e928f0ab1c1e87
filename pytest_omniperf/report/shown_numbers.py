"""The numbers of a measurement as summaries show them, so that they add up on the page.

A reader checks "175 ms against 150 ms is +16.7%" by hand, and so do scripts that parse the
summary: the current and baseline values are the ones the change was computed from
(:class:`~pytest_omniperf.comparison.Change`), in the same unit, with just enough digits that
``current / baseline - 1`` recomputed from the text gives the change shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pytest_omniperf.comparison import Change, Comparison, Quantity, Verdict
from pytest_omniperf.measurement import BLOCKING_METRIC, Measurement
from pytest_omniperf.report.metric_text import bound_violation, format_metric, is_bytes
from pytest_omniperf.units import (
    INSTRUCTIONS_CLOCK,
    format_change,
    format_change_bound,
    format_duration,
    format_measured,
    format_ratio_below,
)

# Significant digits tried (times; counts start at 4) before giving up on an exact match: past
# these the values of a tiny change are shown as they are.
_MOST_DIGITS = 7


def compared_values(change: Change, clock: str) -> tuple[str, str]:
    """``("175 ms", "150 ms")``: the current and baseline values of ``change``."""
    if change.quantity is Quantity.SPEEDUP:
        return _pair(change, lambda value, digits: _ratio_text(value, digits - 1), first=3)
    magnitude = min(abs(change.current), abs(change.baseline)) or None
    if change.quantity is Quantity.METRIC:
        return _pair(
            change,
            lambda value, digits: format_metric(
                change.metric, value, digits=digits, magnitude=magnitude, trailing_zeros=True
            ),
            first=3 if is_bytes(change.metric) else 2,
        )
    return _pair(
        change,
        lambda value, digits: format_measured(value, clock, digits=digits, magnitude=magnitude),
        first=4 if clock == INSTRUCTIONS_CLOCK else 3,
    )


def _pair(change: Change, shown: Callable[[float, int], str], first: int) -> tuple[str, str]:
    digits = first
    while True:
        current, baseline = shown(change.current, digits), shown(change.baseline, digits)
        if digits >= _MOST_DIGITS or _adds_up(current, baseline, change.change):
            return current, baseline
        digits += 1


def _adds_up(current: str, baseline: str, change: float) -> bool:
    try:
        current_value = float(current.split()[0].rstrip("x"))
        baseline_value = float(baseline.split()[0].rstrip("x"))
    except ValueError:  # n/a, inf
        return True
    if not math.isfinite(change) or baseline_value == 0:
        return True
    return format_change(current_value / baseline_value - 1) == format_change(change)


def _ratio_text(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}x" if math.isfinite(value) else "inf"


def change_with_interval(change: Change) -> str:
    """``+16.7% [+12.0%, +21.5%]``."""
    return (
        f"{format_change(change.change)} "
        f"[{format_change_bound(change.low)}, {format_change_bound(change.high)}]"
    )


def budget_violations(measurement: Measurement) -> list[str]:
    """Each budget the measurement broke, shortly: ``p95 62.1 ms > budget 50 ms``,
    ``cache.hit_rate 0.21 < budget 0.3``."""
    stats, clock, unit = measurement.stats, measurement.clock, measurement.unit
    violations = []
    for statistic, limit in measurement.budgets.items():
        if statistic == "speedup_min":
            ratio = stats.get("speedup", math.inf)
            if ratio < limit:
                violations.append(f"speedup {format_ratio_below(ratio, limit)} < budget {limit:g}x")
        elif statistic == "blocking_max":
            longest_s = measurement.metrics.get(BLOCKING_METRIC, 0.0)
            if longest_s > limit:
                violations.append(
                    f"blocking {format_duration(longest_s)} > budget {format_duration(limit)}"
                )
        elif stats.get(statistic, 0.0) > limit:
            violations.append(
                f"{statistic} {format_measured(stats[statistic], clock, unit)} > "
                f"budget {format_measured(limit, clock, unit)}"
            )
    for name, bound in measurement.metric_budgets.items():
        violation = bound_violation(name, measurement.metrics.get(name), bound)
        if violation is not None:
            violations.append(violation)
    return violations


def since_text(comparison: Comparison, clock: str) -> str | None:
    """``since run #12 (3f2a1bc, 2026-11-20)``; for a creep the baseline moved with, the level
    it crept by too: ``crept from 100 ms to 121 ms (+21.0%) since run #12 (...)``."""
    since = comparison.since
    if since is None:
        return None
    if not comparison.creeping:
        return since.describe()
    level = Change(
        since.quantity,
        since.after,
        since.before,
        since.change,
        math.nan,
        math.nan,
        Verdict.REGRESSED,
    )
    after, before = compared_values(level, clock)
    return f"crept from {before} to {after} ({format_change(since.change)}) {since.describe()}"
