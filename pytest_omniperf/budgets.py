"""Budget checks: a measurement and the budgets declared by markers -> verdict and message.

Pure: imports no pytest. The caller decides what a failed budget does (fail the test).
"""

from __future__ import annotations

from pytest_omniperf.measurement import (
    BLOCKING_METRIC,
    BUDGET_FAILED,
    PASSED,
    RECORDED,
    SPEEDUP_ARMS,
    Measurement,
)
from pytest_omniperf.settings import BlockingBudget, LatencyBudget, SpeedupBudget
from pytest_omniperf.units import format_duration, format_measured

# Set (1.0) on a variant's speedup whose arms were measured in two tests' calls, one after the
# other, not interleaved (the variant comes from a fixture: see pytest_omniperf.variants).
ARMS_NOT_INTERLEAVED_METRIC = "omniperf.arms_not_interleaved"
NOT_INTERLEAVED_NOTE = (
    "not measured interleaved: the variants come from a fixture, so {baseline} was measured in "
    "its own test's call before this one and drift of the machine between the two calls is in "
    "the ratio"
)


def budget_table(latency: LatencyBudget | None, speedup: SpeedupBudget | None) -> dict[str, float]:
    """The budgets as stored with a measurement: limits in seconds, ``speedup_min`` as a ratio."""
    table = dict(latency.limits_s) if latency else {}
    if speedup:
        table["speedup_min"] = speedup.minimum
    return table


def check(
    measurement: Measurement, latency: LatencyBudget | None, speedup: SpeedupBudget | None
) -> list[str]:
    """Set the measurement's budgets, verdict and message; return one line per violation."""
    measurement.budgets = budget_table(latency, speedup)
    if latency:
        measurement.unit = latency.unit
    violations = [
        *_latency_violations(measurement, latency),
        *_speedup_violations(measurement, speedup),
    ]
    if not measurement.budgets:
        measurement.verdict = RECORDED
    else:
        measurement.verdict = BUDGET_FAILED if violations else PASSED
    measurement.message = "; ".join(violations)
    return violations


def _context(measurement: Measurement) -> str:
    context = f"{measurement.rounds} rounds, {measurement.clock} clock"
    if measurement.noisy:
        context += (
            f"; noisy: coefficient of variation {measurement.stats['cv']:.0%}, "
            "too wide to trust on this machine"
        )
    return context


def _latency_violations(measurement: Measurement, budget: LatencyBudget | None) -> list[str]:
    if budget is None:
        return []
    return [
        f"latency budget exceeded: {statistic} = "
        f"{format_measured(measurement.stats[statistic], measurement.clock, budget.unit)} > "
        f"{format_measured(limit_s, measurement.clock, budget.unit)} ({_context(measurement)})"
        + measurement.name_suffix
        for statistic, limit_s in budget.limits_s.items()
        if measurement.stats[statistic] > limit_s
    ]


def _speedup_violations(measurement: Measurement, budget: SpeedupBudget | None) -> list[str]:
    if budget is None or measurement.kind != "speedup":
        return []
    ratio = measurement.stats["speedup"]
    if ratio >= budget.minimum:
        return []
    baseline, candidate = measurement.arms or SPEEDUP_ARMS
    notes = ""
    if measurement.sequential_overlap and measurement.arms == SPEEDUP_ARMS:
        notes = (
            f"; not everything could be serialized: {measurement.sequential_overlap}; "
            "the sequential baseline is inexact, so this ratio does not show that the code is "
            "sequential"
        )
    if measurement.metrics.get(ARMS_NOT_INTERLEAVED_METRIC):
        notes += "; " + NOT_INTERLEAVED_NOTE.format(baseline=baseline)
    return [
        f"speedup budget not met: {ratio:.2f}x < {budget.minimum:g}x "
        f"({baseline} median {format_duration(measurement.stats['sequential_p50'])}, "
        f"{candidate} median {format_duration(measurement.stats['p50'])}; "
        f"{_context(measurement)})" + notes + measurement.name_suffix
    ]


BLOCKING_NOT_MEASURED = (
    "blocking budget cannot be evaluated: {test} measured nothing on an event loop "
    "(the budget bounds the steps of the loop during async measurements)"
)


def check_blocking(measurement: Measurement, budget: BlockingBudget) -> list[str]:
    """The blocking budget against the longest loop step of one async measurement."""
    longest_s = measurement.metrics.get(BLOCKING_METRIC)
    measurement.budgets["blocking_max"] = budget.max_s
    if longest_s is None:
        return []
    if longest_s <= budget.max_s:
        if measurement.verdict == RECORDED:
            measurement.verdict = PASSED
        return []
    violation = (
        f"blocking budget exceeded: {measurement.slowest_step} held the event loop for "
        f"{format_duration(longest_s, budget.unit)} > {format_duration(budget.max_s, budget.unit)} "
        f"({measurement.clock} clock){measurement.name_suffix}"
    )
    measurement.verdict = BUDGET_FAILED
    measurement.message = "; ".join(filter(None, (measurement.message, violation)))
    return [violation]
