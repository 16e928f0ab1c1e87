"""The end-of-session table of every measurement, problems first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pytest_omniperf.measurement import BUDGET_FAILED, PASSED, Measurement
from pytest_omniperf.units import format_duration

HEADINGS = ("test", "measurement", "kind", "clock", "p50", "p95", "speedup", "budget", "verdict")

_VERDICT_LABELS = {PASSED: "pass", BUDGET_FAILED: "FAIL", "recorded": "-"}


def summary_title(measurements: Sequence[Measurement]) -> str:
    failed = sum(1 for m in measurements if m.verdict == BUDGET_FAILED)
    title = f"omniperf: {len(measurements)} measurement{'s' if len(measurements) != 1 else ''}"
    return title + (f", {failed} over budget" if failed else "")


def summary_lines(measurements: Iterable[Measurement]) -> list[str]:
    """An aligned table, budget failures first, then by test."""
    ordered = sorted(measurements, key=lambda m: (m.verdict != BUDGET_FAILED, m.test_id, m.name))
    rows = [HEADINGS, *(_row(m) for m in ordered)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADINGS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    notes = [
        f"note: {m.test_id} [{m.name}] is noisy (coefficient of variation "
        f"{m.stats['cv']:.0%}); its numbers are too spread to trust"
        for m in ordered
        if m.noisy
    ]
    return lines + notes


def _row(measurement: Measurement) -> tuple[str, ...]:
    stats = measurement.stats
    test_name = measurement.test_id
    label = "" if measurement.name == test_name.rsplit("::", 1)[-1] else measurement.name
    clock = measurement.clock
    if clock == "virtual":
        clock += f" (wall {format_duration(measurement.wall_s)})"
    return (
        test_name,
        label,
        measurement.kind,
        clock,
        format_duration(stats["p50"]),
        format_duration(stats["p95"]),
        _speedup_cell(measurement),
        _budget_cell(measurement),
        _VERDICT_LABELS.get(measurement.verdict, measurement.verdict),
    )


def _speedup_cell(measurement: Measurement) -> str:
    if measurement.kind != "speedup":
        return "-"
    stats = measurement.stats
    return (
        f"{stats['speedup']:.2f}x ({format_duration(stats['sequential_p50'])} seq / "
        f"{format_duration(stats['p50'])} par)"
    )


def _budget_cell(measurement: Measurement) -> str:
    parts = [
        f"{statistic}<={format_duration(limit, measurement.unit)}"
        for statistic, limit in measurement.budgets.items()
        if statistic != "speedup_min"
    ]
    if "speedup_min" in measurement.budgets:
        parts.append(f"speedup>={measurement.budgets['speedup_min']:g}x")
    return ", ".join(parts) or "-"
