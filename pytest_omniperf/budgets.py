"""Budget checks: a measurement and the budgets declared by markers -> verdict and message.

Pure: imports no pytest. The caller decides what a failed budget does (fail the test).
"""

from __future__ import annotations

from pytest_omniperf.measurement import BUDGET_FAILED, PASSED, RECORDED, Measurement
from pytest_omniperf.settings import LatencyBudget, SpeedupBudget
from pytest_omniperf.units import format_duration, format_measured


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
    return [
        f"speedup budget not met: {ratio:.2f}x < {budget.minimum:g}x "
        f"(sequential median {format_duration(measurement.stats['sequential_p50'])}, "
        f"parallel median {format_duration(measurement.stats['p50'])}; {_context(measurement)})"
        + measurement.name_suffix
    ]
