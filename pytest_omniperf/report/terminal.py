"""The end-of-session table of every measurement, problems first."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from pytest_omniperf.comparison import Change, Quantity, Verdict
from pytest_omniperf.measurement import (
    BUDGET_FAILED,
    BUSY_METRIC,
    PASSED,
    RECORDED,
    Measurement,
)
from pytest_omniperf.report.escape import terminal_text
from pytest_omniperf.units import format_change, format_duration, format_measured

HEADINGS = ("test", "measurement", "kind", "clock", "p50", "p95", "speedup", "budget", "verdict")
COMPARISON_HEADINGS = ("baseline", "change [interval]", "vs baseline")

_VERDICT_LABELS = {PASSED: "pass", BUDGET_FAILED: "FAIL", RECORDED: "-"}
# A cell wider than this is cut: one huge name (a 100,000-character parametrize id or
# measurement name) would otherwise pad every line of the table to its width.
WIDEST_CELL = 120

# Shown once per run, however many real-clock measurements were too noisy.
INSTRUCTIONS_HINT = (
    "hint: real-clock timings are noisy on this machine; for CPU-bound work, count instructions "
    "instead: @pytest.mark.omniperf(clock='instructions') or --omniperf-clock instructions "
    "(deterministic; needs valgrind)"
)


def summary_title(measurements: Sequence[Measurement]) -> str:
    failed = sum(1 for m in measurements if m.verdict == BUDGET_FAILED)
    regressed = sum(1 for m in measurements if m.comparison_verdict == Verdict.REGRESSED)
    title = f"omniperf: {len(measurements)} measurement{'s' if len(measurements) != 1 else ''}"
    title += f", {failed} over budget" if failed else ""
    return title + (f", {regressed} regressed" if regressed else "")


def ordered(measurements: Iterable[Measurement]) -> list[Measurement]:
    """Problems first (see ``Measurement.problem_rank``)."""
    return sorted(measurements, key=lambda measurement: measurement.problem_rank)


def row_cells(
    measurements: Sequence[Measurement], *, comparing: bool
) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    headings = HEADINGS + (COMPARISON_HEADINGS if comparing else ())
    rows = [_row(m) + (_comparison_cells(m) if comparing else ()) for m in measurements]
    return headings, rows


def summary_lines(measurements: Iterable[Measurement], notes: Sequence[str] = ()) -> list[str]:
    """An aligned table, problems first, then notes. Names are shown with their control
    characters escaped (see :func:`terminal_text`)."""
    in_order = ordered(measurements)
    comparing = any(m.comparison for m in in_order)
    headings, rows = row_cells(in_order, comparing=comparing)
    table = [headings, *(tuple(map(_cell, row)) for row in rows)]
    widths = [max(len(row[column]) for row in table) for column in range(len(headings))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    lines += [
        f"note: {_cell(m.test_id)} [{_cell(m.name)}] is noisy (coefficient of "
        f"variation {m.stats['cv']:.0%}); its numbers are too spread to trust"
        for m in in_order
        if m.noisy
    ]
    if any(
        m.clock == "real" and (m.noisy or m.comparison_verdict == Verdict.NOISY) for m in in_order
    ):
        lines.append(INSTRUCTIONS_HINT)
    return lines + _metric_lines(in_order) + note_lines(notes)


def note_lines(notes: Sequence[str]) -> list[str]:
    return [f"omniperf: {terminal_text(note)}" for note in notes]


def _metric_lines(measurements: Sequence[Measurement]) -> list[str]:
    """Derived metrics, once per test (every measurement of a test carries the same)."""
    lines, seen = [], set()
    for measurement in sorted(measurements, key=lambda m: m.test_id):
        if set(measurement.metrics) <= {BUSY_METRIC} or measurement.test_id in seen:
            continue
        seen.add(measurement.test_id)
        figures = ", ".join(
            f"{_cell(name)}={format_duration(value) if name.endswith('_s') else f'{value:.3g}'}"
            for name, value in sorted(measurement.metrics.items())
            if name != BUSY_METRIC  # shown beside the median already
        )
        lines.append(f"metrics of {_cell(measurement.test_id)}: {figures}")
    return lines


def _cell(text: str) -> str:
    """A name for the table: control characters visible, at most WIDEST_CELL characters."""
    shown = terminal_text(text)
    if len(shown) <= WIDEST_CELL:
        return shown
    return f"{shown[: WIDEST_CELL - 30]}... ({len(shown):,} characters)"


def _row(measurement: Measurement) -> tuple[str, ...]:
    stats = measurement.stats
    test_name = measurement.test_id
    label = measurement.name if measurement.name_suffix else ""
    clock = measurement.clock
    if clock == "virtual":
        clock += f" (wall {format_duration(measurement.wall_s)})"
    return (
        test_name,
        label,
        measurement.kind,
        clock,
        _p50_cell(measurement),
        format_measured(stats["p95"], measurement.clock),
        _speedup_cell(measurement),
        budget_text(measurement),
        _VERDICT_LABELS.get(measurement.verdict, measurement.verdict),
    )


def _p50_cell(measurement: Measurement) -> str:
    """The median, with the loop's busy part of it when the loop was timed: on the virtual
    clock the rest is skipped waiting."""
    median = format_measured(measurement.stats["p50"], measurement.clock)
    busy_s = measurement.metrics.get(BUSY_METRIC)
    return median if busy_s is None else f"{median} (busy {format_duration(busy_s)})"


def _comparison_cells(measurement: Measurement) -> tuple[str, str, str]:
    comparison = measurement.comparison
    change = comparison.headline if comparison else None
    return (
        quantity_text(change.baseline, change.quantity, measurement.clock) if change else "-",
        change_cell(measurement),
        comparison.verdict.value if comparison else "-",
    )


def quantity_text(value: float, quantity: Quantity, clock: str) -> str:
    """A compared value as shown: ``1.85x`` for a speedup, ``12.3 ms`` for a median."""
    if quantity is Quantity.SPEEDUP:
        return f"{value:.2f}x" if math.isfinite(value) else "inf"
    return format_measured(value, clock)


def _speedup_cell(measurement: Measurement) -> str:
    if measurement.kind != "speedup":
        return "-"
    stats = measurement.stats
    return (
        f"{stats['speedup']:.2f}x ({format_duration(stats['sequential_p50'])} seq / "
        f"{format_duration(stats['p50'])} par)"
    )


def budget_text(measurement: Measurement, *, at_most: str = "<=", at_least: str = ">=") -> str:
    """The budgets of a measurement as written: ``p95<=50 ms, speedup>=1.8x``."""
    parts = [
        f"{statistic}{at_most}{format_measured(limit, measurement.clock, measurement.unit)}"
        for statistic, limit in measurement.budgets.items()
        if statistic != "speedup_min"
    ]
    if "speedup_min" in measurement.budgets:
        parts.append(f"speedup{at_least}{measurement.budgets['speedup_min']:g}x")
    return ", ".join(parts) or "-"


def change_cell(measurement: Measurement) -> str:
    """``+21.8% [+15.2%, +28.9%]``, ``speedup -71.0% [...]`` or ``new``."""
    comparison = measurement.comparison
    if not comparison:
        return "-"
    if comparison.headline is None:
        return comparison.verdict.value
    return change_text(comparison.headline)


def change_text(change: Change) -> str:
    label = "speedup " if change.quantity is Quantity.SPEEDUP else ""
    return (
        f"{label}{format_change(change.change)} "
        f"[{format_change(change.low)}, {format_change(change.high)}]"
    )
