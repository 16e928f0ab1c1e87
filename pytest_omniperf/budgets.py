"""Budget checks: a measurement and the budgets declared by markers -> verdict and message.

Pure: imports no pytest. The caller decides what a failed budget does (fail the test).
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_omniperf.measurement import (
    BLOCKING_METRIC,
    BUDGET_FAILED,
    MEMORY_PEAK_METRIC,
    MEMORY_PER_CALL_METRIC,
    PASSED,
    RECORDED,
    Measurement,
)
from pytest_omniperf.memory_trace import TRACED_CALLS_METRIC
from pytest_omniperf.metric_names import (
    close_names,
    context,
    format_metric,
    made_by,
    metric_name,
    unit_of,
)
from pytest_omniperf.settings import BlockingBudget, LatencyBudget, MetricBudget, SpeedupBudget
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
    overlap = ""
    if measurement.sequential_overlap:
        overlap = (
            f"; not everything could be serialized: {measurement.sequential_overlap}; "
            "the sequential baseline is inexact, so this ratio does not show that the code is "
            "sequential"
        )
    return [
        f"speedup budget not met: {ratio:.2f}x < {budget.minimum:g}x "
        f"(sequential median {format_duration(measurement.stats['sequential_p50'])}, "
        f"parallel median {format_duration(measurement.stats['p50'])}; {_context(measurement)})"
        + overlap
        + measurement.name_suffix
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


# -- metric and memory budgets -----------------------------------------------------------------

# What a violated bound's value is, as the line shows it: "0.12 < 0.3" for a ">= 0.3" bound.
_BROKEN = {">=": "<", ">": "<=", "<=": ">", "<": ">="}
MEMORY_WHAT = {MEMORY_PEAK_METRIC: "peak", MEMORY_PER_CALL_METRIC: "retained per call"}
METRIC_NOT_PRODUCED = (
    "metric budget cannot be evaluated: {test} produced no metric {name!r} "
    "(@pytest.mark.metrics argument {argument}); {hint}"
)
MEMORY_NOT_TRACED = (
    "memory budget cannot be evaluated: {test} traced no call (@pytest.mark.memory argument "
    "{argument}): a memory budget traces what the marker measures of the test body, or what "
    "perf.measure / perf.speedup measure; perf.span regions are not traced"
)


def check_metric_budgets(measurement: Measurement, budgets: Sequence[MetricBudget]) -> list[str]:
    """The bounds on metrics this measurement carries: stored with it, one line per violation.

    A metric bounded in both directions is stored with its lower bound (a drop is then what
    the history comparison calls worse); both are checked."""
    violations = []
    applied = False
    for budget in budgets:
        value = measurement.metrics.get(budget.name)
        if value is None:
            continue  # a metric no measurement carries is missing_metric_problems' to report
        applied = True
        measurement.metric_budgets.setdefault(budget.name, budget.bound)
        if not budget.bound.holds(value):
            violations.append(_metric_violation(measurement, budget, value))
    if violations:
        measurement.verdict = BUDGET_FAILED
        measurement.message = "; ".join(filter(None, (measurement.message, *violations)))
    elif applied and measurement.verdict == RECORDED:
        measurement.verdict = PASSED
    return violations


def _metric_violation(measurement: Measurement, budget: MetricBudget, value: float) -> str:
    unit = unit_of(budget.name)
    shown_value = format_metric(value, unit)
    shown_limit = format_metric(budget.bound.limit, unit)
    broken = _BROKEN[budget.bound.op]
    if budget.marker == "memory":
        calls = measurement.metrics.get(TRACED_CALLS_METRIC, 0.0)
        what = MEMORY_WHAT.get(budget.name, budget.name)
        if what == "peak":
            figures = f"peak {shown_value} {broken} {shown_limit}"
        else:
            figures = f"{shown_value} {what} {broken} {shown_limit}"
        return (
            f"memory budget exceeded: {figures} ({calls:.0f} calls traced)"
            + measurement.name_suffix
        )
    behind = context(budget.name, measurement.metrics)
    return (
        f"metric budget not met: {budget.name} = {shown_value} {broken} {shown_limit}"
        + (f" ({behind})" if behind else "")
        + measurement.name_suffix
    )


def missing_metric_problems(
    test_id: str, budgets: Sequence[MetricBudget], measurements: Sequence[Measurement]
) -> list[str]:
    """A bounded metric that no measurement of the test carries: never a pass."""
    produced = {name for measurement in measurements for name in measurement.metrics}
    problems = []
    for budget in budgets:
        if budget.name in produced:
            continue
        if budget.marker == "memory":
            problems.append(MEMORY_NOT_TRACED.format(test=test_id, argument=budget.argument))
            continue
        problems.append(
            METRIC_NOT_PRODUCED.format(
                test=test_id,
                name=budget.name,
                argument=budget.argument,
                hint=_not_produced_hint(budget, produced),
            )
        )
    return problems


def _not_produced_hint(budget: MetricBudget, produced: set[str]) -> str:
    maker = made_by(budget.name)
    if maker is not None:
        return f"it is reported by {maker}, and this test has none that reported it"
    close = close_names(budget.name, produced)
    if close:
        as_keyword = not budget.argument.startswith(("'", '"'))
        written = [_as_written(name, as_keyword) for name in close]
        return f"did you mean {' or '.join(written)}?"
    return f"record it with perf.metric({budget.name!r}, value)"


def _as_written(name: str, as_keyword: bool) -> str:
    """A metric name as the marker would name it: a keyword where one maps to it."""
    keyword = name.replace(".", "_", 1)
    if as_keyword and keyword.isidentifier() and metric_name(keyword) == name:
        return keyword
    return repr(name)
