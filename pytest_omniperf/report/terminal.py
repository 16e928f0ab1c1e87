"""The end-of-session summary: problems first with every figure, the rest folded into counts,
every line fitted to the terminal's width. Also used by ``omniperf show`` and ``omniperf compare``
(which show every measurement).

Layout: a measurement shown takes one line (outcome, name, figures) when every row fits the
width; else a line with its outcome and name (shortened from the left) and its figures indented
below (``now``, ``baseline``, ``change [interval]`` always on one line, then ``since``, broken
budgets...), so that a name and its figures each fit 80 columns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import TYPE_CHECKING

from pytest_omniperf.comparison import Change, Quantity, Verdict
from pytest_omniperf.measurement import (
    BUSY_METRIC,
    NOISY_CV,
    SPEEDUP_ARMS,
    Measurement,
)
from pytest_omniperf.report.escape import terminal_text
from pytest_omniperf.report.metric_text import describe_bound, format_metric
from pytest_omniperf.report.outcome import (
    FOLDED_WHEN_COMPARING,
    by_outcome,
    counts_text,
    outcome_label,
    outcome_of,
    plural,
)
from pytest_omniperf.report.shown_numbers import (
    budget_violations,
    change_with_interval,
    compared_values,
    since_text,
)
from pytest_omniperf.report.text_fit import (
    CUT,
    fitted_fields,
    shorten_left,
    summary_width,
    wrapped,
)
from pytest_omniperf.units import format_duration, format_measured

if TYPE_CHECKING:
    import pytest


# A cell wider than this is cut: one huge name (a 100,000-character parametrize id or
# measurement name) would otherwise pad every line of the table to its width.
WIDEST_CELL = 120

# Shown once per run, however many real-clock measurements were too noisy.
INSTRUCTIONS_HINT = (
    "hint: real-clock timings are noisy on this machine; for CPU-bound work, count instructions "
    "instead: @pytest.mark.omniperf(clock='instructions') or --omniperf-clock instructions "
    "(deterministic; needs valgrind)"
)
FOLDED_HINT = "-v shows them"
# The figures of a measurement start under its name, unless its outcome label is long.
_WIDEST_INDENT = 16


class Detail(IntEnum):
    """How much of the run a summary shows."""

    QUIET = -1
    """``-q``: the headline and the problems."""
    NORMAL = 0
    """The problems in full; when comparing, unchanged, new and exempt measurements as counts."""
    FULL = 1
    """``-v``, and the ``omniperf`` commands: every measurement."""

    @classmethod
    def of_verbosity(cls, verbosity: int) -> Detail:
        return cls.QUIET if verbosity < 0 else cls.FULL if verbosity > 0 else cls.NORMAL


def write_summary(
    reporter: pytest.TerminalReporter,
    measurements: Sequence[Measurement],
    notes: Sequence[str],
    gate_warning: str | None,
) -> None:
    """The summary at the end of a pytest session, at the width of pytest's terminal writer."""
    width = summary_width(reporter._tw.fullwidth)
    detail = Detail.of_verbosity(reporter.config.get_verbosity())
    if measurements:
        title, lines = headline(measurements, width)
        lines += summary_lines(measurements, notes, width=width, detail=detail)
    else:
        title, lines = "omniperf: nothing measured", note_lines(notes, width)
    reporter.write_sep("=", title)
    for line in lines:
        reporter.write_line(line)
    if gate_warning:
        # also under -q: a gate that compared nothing must not pass silently
        for line in note_lines([gate_warning], width):
            reporter.write_line(line, yellow=True, bold=True)


def headline(measurements: Sequence[Measurement], width: int) -> tuple[str, list[str]]:
    """The title of the summary's separator line, ``omniperf: 43 measurements, 2 regressed, 1
    over budget, 40 unchanged``, and the lines that carry the counts when they do not fit it."""
    title = f"omniperf: {plural(len(measurements), 'measurement')}"
    counts = counts_text(measurements)
    if not counts:
        return title, []
    if len(title) + 2 + len(counts) + 4 <= width:  # the separator needs "= " on each side
        return f"{title}, {counts}", []
    return title, wrapped(counts, width)


def ordered(measurements: Iterable[Measurement]) -> list[Measurement]:
    """Problems first (see ``Measurement.problem_rank``)."""
    return sorted(measurements, key=lambda measurement: measurement.problem_rank)


def summary_lines(
    measurements: Iterable[Measurement],
    notes: Sequence[str] = (),
    *,
    width: int | None = None,
    detail: Detail = Detail.FULL,
    keep_order: bool = False,
) -> list[str]:
    """The summary below the headline, no line wider than ``width`` (default: the terminal's,
    at least 80), problems first unless ``keep_order``. Names are shown with their control
    characters escaped (see :func:`terminal_text`)."""
    width = summary_width(width)
    in_order = list(measurements) if keep_order else by_outcome(measurements)
    # a run that compared nothing (no baseline yet: every verdict 'new') lists every row: its
    # figures are the news
    comparing = any(m.comparison_verdict and m.comparison_verdict.compared for m in in_order)
    shown = [m for m in in_order if _shown_in_full(m, comparing, detail)]
    folded = [m for m in in_order if not _shown_in_full(m, comparing, detail)]
    lines = _blocks(shown, width)
    if folded and detail is not Detail.QUIET:
        lines += wrapped(f"{counts_text(folded) or len(folded)} ({FOLDED_HINT})", width)
    if detail is not Detail.QUIET:
        lines += _noisy_lines([m for m in in_order if m.noisy], width, detail)
        if any(
            m.clock == "real" and (m.noisy or m.comparison_verdict == Verdict.NOISY)
            for m in in_order
        ):
            lines += wrapped(INSTRUCTIONS_HINT, width)
        lines += _metric_lines(shown, width)  # a folded measurement's metrics are folded too
    return lines + note_lines(notes, width)


def _shown_in_full(measurement: Measurement, comparing: bool, detail: Detail) -> bool:
    outcome = outcome_of(measurement)
    if outcome.shown_in_full or detail is Detail.FULL:
        return True
    if detail is Detail.QUIET:
        return False
    return not comparing or outcome not in FOLDED_WHEN_COMPARING


def _blocks(measurements: Sequence[Measurement], width: int) -> list[str]:
    """Per measurement: its outcome, name and figures on one line when every measurement's fit
    (a table); else its outcome and name, and its figures on the lines below."""
    if not measurements:
        return []
    labels = [outcome_label(m) for m in measurements]
    label_width = max(map(len, labels))
    names = [terminal_text(m.label) for m in measurements]
    figures = [_figures(m) for m in measurements]
    # the current and baseline values line up, like table columns
    compared = [f for m, f in zip(measurements, figures, strict=True) if _has_change(m)]
    widths = [max((len(f[column]) for f in compared), default=0) for column in range(2)]
    # now, baseline and change stay on one line: a reader (or a script) checks them together
    figures = [
        [f"{f[0]:<{widths[0]}}   {f[1]:<{widths[1]}}   {f[2]}", *f[3:]] if _has_change(m) else f
        for m, f in zip(measurements, figures, strict=True)
    ]
    name_width = max(map(len, names))
    rows = [
        f"{label:<{label_width}}  {name:<{name_width}}   {'   '.join(fields)}".rstrip()
        for label, name, fields in zip(labels, names, figures, strict=True)
    ]
    if all(len(row) <= width for row in rows):
        return rows
    widest_group = max(
        (len(f[0]) for m, f in zip(measurements, figures, strict=True) if _has_change(m)), default=0
    )
    indent = " " * max(2, min(label_width + 2, _WIDEST_INDENT, width - widest_group))
    lines = []
    for label, name, fields in zip(labels, names, figures, strict=True):
        lines.append(f"{label:<{label_width}}  {shorten_left(name, width - label_width - 2)}")
        lines += [line.rstrip() for line in fitted_fields(fields, width, indent)]
    return lines


def _has_change(measurement: Measurement) -> bool:
    return measurement.comparison is not None and measurement.comparison.deciding is not None


def _figures(measurement: Measurement) -> list[str]:
    """The figures of one measurement: against its baseline (the values the change was
    computed from) when compared, else its statistics; broken budgets; where it began."""
    comparison = measurement.comparison
    change = comparison.deciding if comparison else None
    fields = []
    if change is not None:
        now, baseline = compared_values(change, measurement.clock)
        metric = f"{_cell(change.metric)} " if change.quantity is Quantity.METRIC else ""
        fields += [
            f"{metric}now {now}",
            f"baseline {baseline}",
            f"change {change_with_interval(change)}",
        ]
    if comparison is not None:
        fields += [
            metric_change_text(other, measurement.clock)
            for other in comparison.metrics
            if other is not change and other.verdict in (Verdict.REGRESSED, Verdict.IMPROVED)
        ]
    since = since_text(comparison, measurement.clock) if comparison else None
    if since:
        fields.append(terminal_text(since))  # its commit is stored text
    violations = budget_violations(measurement)
    fields += violations
    if change is None:
        broken = {violation.split()[0] for violation in violations}
        fields += [field for field in _statistics(measurement) if field.split()[0] not in broken]
        if (measurement.budgets or measurement.metric_budgets) and not violations:
            fields.append(f"budget {budget_text(measurement)}")
    return fields


def _statistics(measurement: Measurement) -> list[str]:
    stats = measurement.stats
    if measurement.kind == "metrics":
        # its body ran once: the claim is its metrics, the call's time is context
        return [
            *(
                f"{_cell(name)} {format_metric(name, value)}"
                for name, value in sorted(measurement.metrics.items())
                if name in measurement.metric_budgets
            ),
            f"one call {format_measured(stats['p50'], measurement.clock)}",
        ]
    fields = [
        f"p50 {_p50_cell(measurement)}",
        f"p95 {format_measured(stats['p95'], measurement.clock)}",
    ]
    if measurement.kind == "speedup":
        fields.append(f"speedup {speedup_text(measurement)}")
    if measurement.clock != "real":
        wall = format_duration(measurement.wall_s)
        fields.append(
            f"{terminal_text(measurement.clock)} clock"
            + (f" (wall {wall})" if measurement.clock == "virtual" else "")
        )
    return fields


def _noisy_lines(noisy: Sequence[Measurement], width: int, detail: Detail) -> list[str]:
    """``12 measurements are noisy (cv > 10%): test_a (63%), test_b (41%), … 10 more``: one
    line (every name, wrapped, with ``-v``)."""
    if not noisy:
        return []
    verb = "is" if len(noisy) == 1 else "are"
    start = f"{plural(len(noisy), 'measurement')} {verb} noisy (cv > {NOISY_CV:.0%}): "
    names = [
        f"{shorten_left(terminal_text(m.label.rsplit('::', 1)[-1]), 40)} ({m.stats['cv']:.0%})"
        for m in noisy
    ]
    if detail is Detail.FULL:
        return wrapped(start + ", ".join(names), width)
    for shown in range(len(names), 0, -1):
        rest = len(names) - shown
        line = start + ", ".join(names[:shown])
        line += f", {CUT} {rest} more" if rest else ""
        if len(line) <= width:
            return [line]
    return wrapped(f"{start}{names[0]}, {CUT} {len(names) - 1} more", width)


def note_lines(notes: Sequence[str], width: int | None = None) -> list[str]:
    width = summary_width(width)
    return [line for note in notes for line in wrapped(f"omniperf: {terminal_text(note)}", width)]


def _metric_lines(measurements: Sequence[Measurement], width: int) -> list[str]:
    """Derived metrics, once per test (every measurement of a test carries the same)."""
    lines, seen = [], set()
    for measurement in sorted(measurements, key=lambda m: m.test_id):
        if set(measurement.metrics) <= {BUSY_METRIC} or measurement.test_id in seen:
            continue
        seen.add(measurement.test_id)
        figures = ", ".join(
            f"{_cell(name)}={format_metric(name, value)}"
            for name, value in sorted(measurement.metrics.items())
            if name != BUSY_METRIC  # shown beside the median already
        )
        name = shorten_left(terminal_text(measurement.test_id), width // 2)
        lines += wrapped(f"metrics of {name}: {figures}", width)
    return lines


def _cell(text: str) -> str:
    """A name for the table: control characters visible, at most WIDEST_CELL characters."""
    shown = terminal_text(text)
    if len(shown) <= WIDEST_CELL:
        return shown
    return f"{shown[: WIDEST_CELL - 30]}... ({len(shown):,} characters)"


def _p50_cell(measurement: Measurement) -> str:
    """The median, with the loop's busy part of it when the loop was timed: on the virtual
    clock the rest is skipped waiting."""
    median = format_measured(measurement.stats["p50"], measurement.clock)
    busy_s = measurement.metrics.get(BUSY_METRIC)
    return median if busy_s is None else f"{median} (busy {format_duration(busy_s)})"


def quantity_text(value: float, quantity: Quantity, clock: str) -> str:
    """A compared value as shown: ``1.85x`` for a speedup, ``12.3 ms`` for a median."""
    if quantity is Quantity.SPEEDUP:
        return f"{value:.2f}x" if math.isfinite(value) else "inf"
    return format_measured(value, clock)


def speedup_text(measurement: Measurement) -> str:
    """``3.60x (540 ms seq / 150 ms par)``; for variants, named by their arms:
    ``pooling_off → pooling_on 1.35x (540 ms / 400 ms)``; ``-`` for a latency measurement."""
    if measurement.kind != "speedup":
        return "-"
    stats = measurement.stats
    baseline_s, candidate_s = (
        format_duration(stats["sequential_p50"]),
        format_duration(stats["p50"]),
    )
    if variant_arms(measurement) is None:
        return f"{stats['speedup']:.2f}x ({baseline_s} seq / {candidate_s} par)"
    return f"{arms_text(measurement)} {stats['speedup']:.2f}x ({baseline_s} / {candidate_s})"


def variant_arms(measurement: Measurement) -> tuple[str, str] | None:
    """The baseline and candidate arms of a speedup measured between variants; None for
    sequential/parallel (and what is no speedup)."""
    arms = measurement.arms
    if measurement.kind != "speedup" or len(arms) != 2 or list(arms) == SPEEDUP_ARMS:
        return None
    return arms[0], arms[1]


def arms_text(measurement: Measurement) -> str:
    """``pooling_off → pooling_on`` (control characters of stored names made visible)."""
    baseline, candidate = measurement.arms if len(measurement.arms) == 2 else SPEEDUP_ARMS
    return f"{_cell(baseline)} → {_cell(candidate)}"


def budget_text(measurement: Measurement, *, at_most: str = "<=", at_least: str = ">=") -> str:
    """The budgets of a measurement as written: ``p95<=50 ms, speedup>=1.8x,
    cache.hit_rate>=0.3, memory.per_call_bytes<=2 KB``."""
    parts = [
        f"{statistic}{at_most}{format_measured(limit, measurement.clock, measurement.unit)}"
        for statistic, limit in measurement.budgets.items()
        if statistic != "speedup_min"
    ]
    if "speedup_min" in measurement.budgets:
        parts.append(f"speedup{at_least}{measurement.budgets['speedup_min']:g}x")
    words = {"<=": at_most, ">=": at_least}
    parts += [
        f"{_cell(name)}{words.get(bound.op, bound.op)}"
        + describe_bound(name, bound).removeprefix(bound.op).strip()
        for name, bound in measurement.metric_budgets.items()
    ]
    return ", ".join(parts) or "-"


def metric_change_text(change: Change, clock: str) -> str:
    """``cache.hit_rate 0.31 vs 0.40 (-22.5%) regressed``: a metric change beside the one that
    decided the row."""
    now, baseline = compared_values(change, clock)
    return (
        f"{_cell(change.metric)} {now} vs {baseline} ({change_with_interval(change)}) "
        f"{change.verdict.value}"
    )


def change_cell(measurement: Measurement) -> str:
    """``+21.8% [+15.2%, +28.9%]``, ``speedup -71.0% [...]`` or ``new``."""
    comparison = measurement.comparison
    if not comparison:
        return "-"
    if comparison.headline is None:
        return comparison.verdict.value
    return change_text(comparison.headline)


def change_text(change: Change) -> str:
    label = {Quantity.SPEEDUP: "speedup ", Quantity.METRIC: f"{_cell(change.metric)} "}
    return label.get(change.quantity, "") + change_with_interval(change)
