"""Charts of the HTML report, drawn as inline SVG by hand (see svg_plot.py for why).

Each chart is a ``<figure>``: a legend in HTML above the plot (outside the data, readable on a
phone), the SVG, and a caption for what the marks mean. Every data point carries an SVG
``<title>`` (run, commit, branch, date, value) that browsers show on hover, and links to the
run's commit when the report knows the repository. All text from tests and runs is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pytest_omniperf.comparison import Change
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.measurement import SPEEDUP_ARMS, Measurement
from pytest_omniperf.metric_bounds import MetricBound
from pytest_omniperf.report.escape import html_text
from pytest_omniperf.report.history_view import Point, Series, run_title
from pytest_omniperf.report.metric_panels import FlatMetric, MetricPanel, format_figure
from pytest_omniperf.report.metric_text import describe_bound, format_metric, is_bytes
from pytest_omniperf.report.svg_plot import (
    FONT_PX,
    Frame,
    band_path,
    line_path,
    nice_ticks,
    segments,
    svg_element,
    tick_text,
    value_range,
    x_axis,
    y_axis,
)
from pytest_omniperf.units import (
    COUNT_PREFIXES,
    COUNT_UNIT,
    INSTRUCTIONS_CLOCK,
    SHOWN_BYTE_UNITS,
    UNIT_SECONDS,
    format_measured,
)

COLOURS = {
    "median": "#2563eb",
    "sequential": "#9333ea",
    "speedup": "#059669",
    "budget": "#dc2626",
    "regression": "#dc2626",
    "accepted": "#0d9488",
    "since": "#d97706",
    "baseline": "#6b7280",
}
METRIC_COLOURS = ("#0891b2", "#ca8a04", "#db2777", "#4b5563", "#7c3aed", "#65a30d")
WIDTH = 640
MARGINS = {"left": 58.0, "right": 14.0, "top": 20.0, "bottom": 24.0}

CommitLink = Callable[[RunInfo], str | None]
"""The commit page of a run, or None (see :func:`~pytest_omniperf.report.html.commit_link`)."""


@dataclass(frozen=True)
class RunMarker:
    """A vertical line at a run: an accepted level, where the current level began."""

    run_index: int
    kind: Literal["accepted", "since"]
    """A colour and a legend entry each."""
    label: str
    """Short text at the top of the line."""
    title: str
    """Hover text: who accepted it and why, or the change point's levels."""


def _legend(entries: Sequence[tuple[str, str, str]]) -> str:
    """``(css class of the swatch, colour, text)`` entries, in HTML."""
    items = "".join(
        f'<span><i class="{shape}" style="--c:{colour}"></i>{html_text(text)}</span>'
        for shape, colour, text in entries
    )
    return f'<div class="legend">{items}</div>'


def _frame(height: float, run_count: int, low: float, high: float) -> Frame:
    return Frame(
        width=WIDTH,
        height=height,
        x_low=-0.5,
        x_high=max(run_count - 0.5, 0.5),
        y_low=low,
        y_high=high,
        **MARGINS,
    )


def _run_labels(runs: Sequence[RunInfo]) -> list[str]:
    return [f"#{run.id}" if run.id else "now" for run in runs]


def _points(
    frame: Frame,
    xy: Sequence[tuple[int, float]],
    titles: Sequence[str],
    runs: Sequence[RunInfo],
    colour: str,
    commit_link: CommitLink,
) -> str:
    """Hoverable dots, each linking to its run's commit when known."""
    parts = []
    for (x, value), title in zip(xy, titles, strict=True):
        if not math.isfinite(value):
            continue
        dot = (
            f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(value):.1f}" r="3" fill="{colour}">'
            f"<title>{html_text(title)}</title></circle>"
        )
        href = commit_link(runs[x])
        parts.append(f'<a href="{html_text(href)}">{dot}</a>' if href else dot)
    return "".join(parts)


def _lines(frame: Frame, xy: Sequence[tuple[int, float]], colour: str, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    return "".join(
        f'<path d="{line_path(frame, segment)}" fill="none" stroke="{colour}" '
        f'stroke-width="1.6"{dash}/>'
        for segment in segments(xy)
    )


def _markers(frame: Frame, markers: Sequence[RunMarker]) -> str:
    """Vertical lines at runs, labelled in the margin above the plot (never over the data)."""
    parts = []
    for marker in markers:
        x = frame.x(marker.run_index)
        colour = COLOURS[marker.kind]
        parts.append(
            f'<g class="marker marker-{marker.kind}"><title>{html_text(marker.title)}</title>'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.plot_top:.1f}" '
            f'y2="{frame.plot_bottom:.1f}" stroke="{colour}" stroke-width="1.4" '
            f'stroke-dasharray="4 3"/>'
            f'<text class="mark" x="{x + 3:.1f}" y="{frame.plot_top - 5:.1f}" fill="{colour}">'
            f"{html_text(marker.label)}</text></g>"
        )
    return "".join(parts)


def _regression_starts(frame: Frame, starts: Sequence[tuple[int, float]]) -> str:
    """Downward triangles just above the points where a regressed stretch begins."""
    parts = []
    for x, value in starts:
        cx, cy = frame.x(x), frame.y(value) - 7
        parts.append(
            f'<path class="regression-start" d="M{cx - 5:.1f},{cy - 6:.1f}L{cx + 5:.1f},'
            f'{cy - 6:.1f}L{cx:.1f},{cy:.1f}Z" fill="{COLOURS["regression"]}">'
            f"<title>regression starts</title></path>"
        )
    return "".join(parts)


def _starts(
    points: Sequence[Point], values: Sequence[float], *, speedup: bool
) -> list[tuple[int, float]]:
    """Where a stretch of regressed runs begins (see history_view.mark_regressions)."""
    starts: list[tuple[int, float]] = []
    previous = False
    for point, value in zip(points, values, strict=True):
        regressed = point.speedup_regressed if speedup else point.regressed
        if regressed and not previous:
            starts.append((point.run_index, value))
        previous = regressed
    return starts


def _marker_legend(markers: Sequence[RunMarker]) -> list[tuple[str, str, str]]:
    kinds = {marker.kind for marker in markers}
    entries = []
    if "accepted" in kinds:
        entries.append(("rule", COLOURS["accepted"], "accepted level"))
    if "since" in kinds:
        entries.append(("rule", COLOURS["since"], "current level since"))
    return entries


def axis_unit(values: Sequence[float], clock: str) -> tuple[str, float]:
    """The unit that suits the typical (median) of ``values`` and the factor from stored values
    to it: a time unit, or a count prefix on the instructions clock."""
    positive = sorted(abs(value) for value in values if math.isfinite(value) and value > 0)
    typical = positive[len(positive) // 2] if positive else 1.0
    if clock == INSTRUCTIONS_CLOCK:
        prefix, size = next(((p, s) for p, s in COUNT_PREFIXES if typical >= s), ("", 1.0))
        return f"{prefix} {COUNT_UNIT}".strip(), 1 / size
    unit = next((name for name, size in UNIT_SECONDS.items() if typical >= size), "ns")
    return unit, 1 / UNIT_SECONDS[unit]


def _figure(legend: list[tuple[str, str, str]], svg: str, caption: str = "") -> str:
    below = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f"<figure>{_legend(legend)}{svg}{below}</figure>"


def time_chart(
    series: Series, runs: Sequence[RunInfo], markers: Sequence[RunMarker], commit_link: CommitLink
) -> str:
    """Median and interquartile range per run, budgets, regression starts and markers."""
    points = series.points
    unit, scale = axis_unit([p.p50 for p in points], series.latest.clock)
    clock = series.latest.clock
    medians = [(p.run_index, p.p50) for p in points]
    sequential = [(p.run_index, p.sequential_p50) for p in points]
    budgets = {k: v for k, v in series.latest.budgets.items() if k != "speedup_min"}
    speedup = series.kind == "speedup"
    low, high = value_range(
        [p.p75 for p in points]
        + [p.p50 for p in points]
        + list(budgets.values())
        + ([value for _, value in sequential] if speedup else [])
    )
    frame = _frame(200, len(runs), low, high)
    baseline_arm, candidate_arm = arm_names(series.latest)
    legend = [
        ("line", COLOURS["median"], f"{candidate_arm} median" if speedup else "median"),
        ("band", COLOURS["median"], "interquartile range"),
    ]
    body = [y_axis(frame, scale), x_axis(frame, _run_labels(runs))]
    body.append(_unit_label(frame, unit))
    body += [
        f'<path d="{band_path(frame, segment)}" fill="{COLOURS["median"]}" fill-opacity="0.15"/>'
        for segment in _band_segments(points)
    ]
    if speedup:
        body.append(_lines(frame, sequential, COLOURS["sequential"], dashed=True))
        legend.append(("dash", COLOURS["sequential"], f"{baseline_arm} median"))
    for statistic, limit in budgets.items():
        y = frame.y(limit)
        body.append(
            f'<line x1="{frame.left:.1f}" x2="{frame.width - frame.right:.1f}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="{COLOURS["budget"]}" stroke-dasharray="6 4">'
            f"<title>{html_text(statistic)} budget {format_measured(limit, clock)}</title></line>"
        )
        legend.append(("dash", COLOURS["budget"], f"{statistic} budget"))
    body.append(_lines(frame, medians, COLOURS["median"]))
    titles = [
        f"{run_title(runs[p.run_index])}: median {format_measured(p.p50, clock)}" for p in points
    ]
    body.append(_points(frame, medians, titles, runs, COLOURS["median"], commit_link))
    starts = _starts(points, [p.p50 for p in points], speedup=False)
    if starts:
        body.append(_regression_starts(frame, starts))
        legend.append(("triangle", COLOURS["regression"], "regression starts"))
    body.append(_markers(frame, markers))
    legend += _marker_legend(markers)
    return _figure(legend, svg_element(frame, "".join(body), f"median per run, {unit}"))


def _band_segments(points: Sequence[Point]) -> list[list[tuple[int, float, float]]]:
    """The interquartile band, broken where a run is missing, like the median line."""
    by_x = {p.run_index: (p.p25, p.p75) for p in points}
    return [
        [(x, *by_x[x]) for x, _ in segment]
        for segment in segments((p.run_index, p.p25 + p.p75) for p in points)
    ]


def _unit_label(frame: Frame, unit: str) -> str:
    return f'<text class="tick" x="4" y="{FONT_PX:.0f}">{html_text(unit)}</text>'


def speedup_chart(
    series: Series, runs: Sequence[RunInfo], markers: Sequence[RunMarker], commit_link: CommitLink
) -> str:
    """The speedup ratio per run (sequential median / parallel median) and its budget."""
    points = series.points
    ratios = [(p.run_index, p.speedup) for p in points]
    minimum = series.latest.budgets.get("speedup_min")
    low, high = value_range([value for _, value in ratios] + ([minimum] if minimum else []))
    frame = _frame(150, len(runs), low, high)
    baseline_arm, candidate_arm = arm_names(series.latest)
    ratio_of = f"{baseline_arm} / {candidate_arm}"
    legend = [("line", COLOURS["speedup"], f"speedup ({ratio_of})")]
    body = [y_axis(frame, count=3), x_axis(frame, _run_labels(runs)), _unit_label(frame, "x")]
    if minimum:
        y = frame.y(minimum)
        body.append(
            f'<line x1="{frame.left:.1f}" x2="{frame.width - frame.right:.1f}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="{COLOURS["budget"]}" stroke-dasharray="6 4"/>'
        )
        legend.append(("dash", COLOURS["budget"], "speedup budget"))
    body.append(_lines(frame, ratios, COLOURS["speedup"]))
    # sequential/parallel is the legend's; variants are named on every point
    variants = "" if series.latest.arms in ([], SPEEDUP_ARMS) else f" ({ratio_of})"
    titles = [f"{run_title(runs[x])}: speedup {value:.2f}x{variants}" for x, value in ratios]
    body.append(_points(frame, ratios, titles, runs, COLOURS["speedup"], commit_link))
    starts = _starts(points, [value for _, value in ratios], speedup=True)
    if starts:
        body.append(_regression_starts(frame, starts))
        legend.append(("triangle", COLOURS["regression"], "regression starts"))
    body.append(_markers(frame, markers))
    legend += _marker_legend(markers)
    return _figure(legend, svg_element(frame, "".join(body), "speedup per run"))


def metric_chart(panel: MetricPanel, runs: Sequence[RunInfo], markers: Sequence[RunMarker]) -> str:
    """One panel of related metrics (:mod:`~pytest_omniperf.report.metric_panels`)."""
    kind = panel.kind
    low, high = value_range(
        [value for line in panel.lines for _, value in line.points],
        from_zero=kind.unit != "x",
    )
    frame = _frame(130, len(runs), low, high)
    body = [y_axis(frame, kind.scale, count=3), x_axis(frame, _run_labels(runs))]
    body.append(_unit_label(frame, kind.unit))
    legend = []
    for number, line in enumerate(panel.lines):
        colour = METRIC_COLOURS[number % len(METRIC_COLOURS)]
        legend.append(("line", colour, line.name))
        body.append(_lines(frame, line.points, colour))
        for x, value in line.points:
            if math.isfinite(value):
                body.append(
                    f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(value):.1f}" r="2.2" '
                    f'fill="{colour}"><title>{html_text(run_title(runs[x]))}: '
                    f"{html_text(line.name)} {format_figure(value, kind)}</title></circle>"
                )
    body.append(_markers(frame, markers))
    legend += _marker_legend(markers)
    caption = ""
    if panel.not_drawn:
        caption = "also: " + html_text(", ".join(panel.not_drawn))
    title = f"<h4>{html_text(kind.title)}{f' ({kind.unit})' if kind.unit else ''}</h4>"
    return title + _figure(legend, svg_element(frame, "".join(body), kind.title), caption)


def arm_names(measurement: Measurement) -> tuple[str, str]:
    """A speedup's baseline and candidate arms (sequential and parallel, or two variants)."""
    arms = measurement.arms
    return (arms[0], arms[1]) if len(arms) == 2 else ("sequential", "parallel")


def metric_budget_chart(
    name: str,
    points: Sequence[tuple[int, float]],
    bound: MetricBound,
    runs: Sequence[RunInfo],
    markers: Sequence[RunMarker],
) -> str:
    """One bounded metric across runs with its bound drawn (memory in B/KB/MB/GB)."""
    unit, scale = "", 1.0
    if is_bytes(name):
        typical = max((abs(value) for _, value in points if math.isfinite(value)), default=1.0)
        unit, factor = next(((u, f) for u, f in SHOWN_BYTE_UNITS if typical >= f), ("B", 1.0))
        scale = 1 / factor
    low, high = value_range([value for _, value in points] + [bound.limit])
    frame = _frame(130, len(runs), low, high)
    body = [y_axis(frame, scale, count=3), x_axis(frame, _run_labels(runs))]
    body.append(_unit_label(frame, unit))
    limit = describe_bound(name, bound)
    y = frame.y(bound.limit)
    body.append(
        f'<line class="bound" x1="{frame.left:.1f}" x2="{frame.width - frame.right:.1f}" '
        f'y1="{y:.1f}" y2="{y:.1f}" stroke="{COLOURS["budget"]}" stroke-dasharray="6 4">'
        f"<title>budget {html_text(limit)}</title></line>"
    )
    colour = METRIC_COLOURS[0]
    body.append(_lines(frame, points, colour))
    for x, value in points:
        if math.isfinite(value):
            verdict = "within budget" if bound.holds(value) else "over budget"
            body.append(
                f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(value):.1f}" r="2.6" '
                f'fill="{colour if bound.holds(value) else COLOURS["budget"]}">'
                f"<title>{html_text(run_title(runs[x]))}: {html_text(name)} "
                f"{html_text(format_metric(name, value))} ({verdict})</title></circle>"
            )
    body.append(_markers(frame, markers))
    legend = [
        ("line", colour, name),
        ("dash", COLOURS["budget"], f"budget {limit}"),
        *_marker_legend(markers),
    ]
    return _figure(legend, svg_element(frame, "".join(body), f"{html_text(name)} per run"))


def flat_metrics_text(flat: Sequence[FlatMetric]) -> str:
    if not flat:
        return ""
    return (
        '<p class="muted flat">unchanged: '
        + html_text(" · ".join(metric.describe() for metric in flat))
        + "</p>"
    )


def distribution_strip(
    latest: Measurement, baseline_samples: Sequence[float], median: Change | None, caption: str
) -> str:
    """The latest run's samples against the baseline runs' samples, one dot each, so a
    reviewer sees whether a change moved everything (a shift) or only some rounds (a tail).
    The ticks are the centres the change was computed from."""
    clock = latest.clock
    current = [value for value in latest.samples_s if math.isfinite(value)]
    baseline = [value for value in baseline_samples if math.isfinite(value)]
    if not current:
        return ""
    everything = current + baseline
    if median is not None:
        everything += [median.current, median.baseline]
    finite = [value for value in everything if math.isfinite(value)]
    low, high = min(finite), max(finite)
    pad = max((high - low) * 0.05, abs(high) * 0.02) or 1.0
    rows = [("baseline", baseline, COLOURS["baseline"]), ("latest", current, COLOURS["median"])]
    row_height = 26.0
    frame = Frame(
        width=WIDTH,
        height=24 + row_height * 2 + 18,
        left=88.0,
        right=14.0,
        top=10.0,
        bottom=22.0,
        x_low=low - pad,
        x_high=high + pad,
        y_low=0.0,
        y_high=2.0,
    )
    unit, scale = axis_unit(current, clock)
    body = []
    for tick in nice_ticks(frame.x_low, frame.x_high, 5):
        x = frame.x(tick)
        body.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{frame.plot_top:.1f}" '
            f'y2="{frame.plot_bottom:.1f}"/><text class="tick" x="{x:.1f}" '
            f'y="{frame.plot_bottom + FONT_PX + 2:.1f}" text-anchor="middle">'
            f"{tick_text(tick * scale)}</text>"
        )
    body.append(_unit_label(frame, unit))
    centres = (median.baseline, median.current) if median is not None else (math.nan, math.nan)
    for row, ((name, samples, colour), centre) in enumerate(zip(rows, centres, strict=True)):
        middle = frame.y(1.5 - row)
        body.append(
            f'<text class="tick" x="{frame.left - 6:.1f}" y="{middle + 4:.1f}" '
            f'text-anchor="end">{name}</text>'
        )
        for number, value in enumerate(samples):
            # golden-ratio jitter: deterministic, so equal data draws an equal page
            jitter = ((number * 0.618034) % 1 - 0.5) * (row_height - 8)
            body.append(
                f'<circle cx="{frame.x(value):.1f}" cy="{middle + jitter:.1f}" r="2.4" '
                f'fill="{colour}" fill-opacity="0.55"/>'
            )
        if math.isfinite(centre):
            x = frame.x(centre)
            body.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{middle - row_height / 2:.1f}" '
                f'y2="{middle + row_height / 2:.1f}" stroke="#111827" stroke-width="2">'
                f"<title>{name} {format_measured(centre, clock)}</title></line>"
            )
    legend = [
        ("dot", COLOURS["baseline"], f"baseline samples ({len(baseline)})"),
        ("dot", COLOURS["median"], f"latest run's samples ({len(current)})"),
    ]
    if median is not None:
        legend.append(("rule", "#111827", "centres the change was computed from"))
    svg = svg_element(frame, "".join(body), "samples of the latest run")
    return _figure(legend, svg, caption)


def sparkline(
    points: Sequence[tuple[int, float]],
    run_count: int,
    *,
    alarm: bool,
    width: int = 120,
    height: int = 24,
) -> str:
    """A tiny trend for the overview table, broken where a run is missing."""
    finite = [value for _, value in points if math.isfinite(value)]
    if len(finite) < 2:
        return ""
    low, high = min(finite), max(finite)
    frame = Frame(
        width=width,
        height=height,
        left=2,
        right=4,
        top=3,
        bottom=3,
        x_low=0,
        x_high=max(run_count - 1, 1),
        y_low=low,
        y_high=high if high > low else low + 1,
    )
    lines = "".join(
        f'<path d="{line_path(frame, segment)}" fill="none" stroke="{COLOURS["median"]}" '
        f'stroke-width="1.2"/>'
        for segment in segments(points)
    )
    last_x, last_value = next((x, v) for x, v in reversed(points) if math.isfinite(v))
    colour = COLOURS["regression"] if alarm else COLOURS["median"]
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="trend">{lines}<circle cx="{frame.x(last_x):.1f}" '
        f'cy="{frame.y(last_value):.1f}" r="2.5" fill="{colour}"/></svg>'
    )
