"""Charts of the HTML report: matplotlib figures rendered to inline SVG (never a GUI backend).

Every data point carries an SVG ``<title>`` (run, commit, branch, date, value), which browsers
show on hover. The only user text matplotlib draws is metric names (axis labels), with mathtext
off and XML-escaped by the SVG backend; test ids go in the page's HTML, escaped.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Sequence
from typing import Any

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.report.escape import html_text, terminal_text
from pytest_omniperf.report.history_view import Point, Series, run_title
from pytest_omniperf.units import (
    COUNT_PREFIXES,
    COUNT_UNIT,
    INSTRUCTIONS_CLOCK,
    UNIT_SECONDS,
    format_measured,
)

COLOURS = {"median": "#2563eb", "sequential": "#9333ea", "speedup": "#059669", "budget": "#dc2626"}
METRIC_COLOURS = ("#0891b2", "#ca8a04", "#db2777", "#4b5563")
_STYLE: dict[Any, Any] = {
    "svg.fonttype": "none",
    # metric names are drawn as axis labels: a "$" in one must not be parsed as mathtext
    "text.parse_math": False,
    "font.size": 8,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
_SVG_START = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_USE = re.compile(r"<use [^>]*/>")


def _unit_for(values: Sequence[float]) -> str:
    finite = [abs(v) for v in values if math.isfinite(v) and v > 0]
    typical = sorted(finite)[len(finite) // 2] if finite else 1.0
    return next((name for name, size in UNIT_SECONDS.items() if typical >= size), "ns")


def _axis_unit(series: Series) -> tuple[str, float]:
    """The label of the value axis and the factor from stored values to it."""
    values = [p.p50 for p in series.points]
    if series.latest.clock != INSTRUCTIONS_CLOCK:
        unit = _unit_for(values)
        return unit, 1 / UNIT_SECONDS[unit]
    finite = sorted(abs(v) for v in values if math.isfinite(v) and v > 0)
    typical = finite[len(finite) // 2] if finite else 1.0
    prefix, size = next(((p, s) for p, s in COUNT_PREFIXES if typical >= s), ("", 1.0))
    return f"{prefix} {COUNT_UNIT}".strip(), 1 / size


def _run_axis(axes: Axes, runs: Sequence[RunInfo]) -> None:
    step = max(1, math.ceil(len(runs) / 10))
    ticks = list(range(0, len(runs), step))
    axes.set_xticks(ticks, [f"#{runs[i].id}" if runs[i].id else "now" for i in ticks])
    axes.set_xlim(-0.5, max(len(runs) - 0.5, 0.5))


def _regression_starts(points: Sequence[Point], speedup: bool = False) -> list[Point]:
    """Points where a streak of regressed runs begins."""
    starts, previous = [], False
    for point in points:
        regressed = point.speedup_regressed if speedup else point.regressed
        if regressed and not previous:
            starts.append(point)
        previous = regressed
    return starts


def _svg(figure: Figure, salt: str, tooltips: dict[str, list[str]]) -> str:
    buffer = io.StringIO()
    with rc_context({"svg.hashsalt": salt}), warnings.catch_warnings():
        # a metric name with a character the font lacks draws a box: not worth a warning that
        # a suite with filterwarnings = error would turn into an error at session end
        warnings.simplefilter("ignore", UserWarning)
        # the SVG backend, never pyplot or a GUI; no timestamp, so equal data draws equal SVG
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = _SVG_START.sub("", buffer.getvalue(), count=1)
    for gid, titles in tooltips.items():
        svg = _titled(svg, gid, titles)
    return svg


def _titled(svg: str, gid: str, titles: list[str]) -> str:
    """Give the n-th marker of the scatter ``gid`` the n-th title."""
    start = svg.find(f'<g id="{gid}">')
    clipped = svg.find("<g clip-path", start) if start >= 0 else -1
    if clipped < 0:
        return svg
    end = svg.find("</g>", clipped)  # the markers' group holds no nested group
    remaining = iter(titles)

    def wrap(match: re.Match[str]) -> str:
        title = next(remaining, None)
        if title is None:
            return match.group(0)
        return f"<g><title>{html_text(title)}</title>{match.group(0)}</g>"

    return svg[:clipped] + _USE.sub(wrap, svg[clipped:end]) + svg[end:]


def trend_chart(series: Series, runs: Sequence[RunInfo], chart_id: str) -> str:
    """The trend of one measurement across runs, as inline SVG."""
    metric_names = series.metric_names[:3]
    speedup = series.kind == "speedup"
    panels = 1 + speedup + len(metric_names)
    with rc_context(_STYLE):
        height = 2.4 + 1.5 * (panels - 1)
        figure = Figure(figsize=(9.6, height))
        # fixed margins in inches: constrained layout would cost about 40 ms a chart
        figure.subplots_adjust(
            left=0.75 / 9.6, right=0.99, top=1 - 0.1 / height, bottom=0.55 / height, hspace=0.25
        )
        axes_list = figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
        tooltips = _time_panel(axes_list[0], series, runs, chart_id)
        if speedup:
            tooltips |= _speedup_panel(axes_list[1], series, runs, chart_id)
        for offset, name in enumerate(metric_names):
            _metric_panel(axes_list[1 + speedup + offset], series, name, offset)
        _run_axis(axes_list[-1], runs)
        axes_list[-1].set_xlabel("run")
        return _svg(figure, chart_id, tooltips)


def _time_panel(
    axes: Axes, series: Series, runs: Sequence[RunInfo], chart_id: str
) -> dict[str, list[str]]:
    points = series.points
    unit, scale = _axis_unit(series)
    xs = [p.run_index for p in points]
    label = "parallel median" if series.kind == "speedup" else "median"
    axes.fill_between(
        xs,
        [p.p25 * scale for p in points],
        [p.p75 * scale for p in points],
        color=COLOURS["median"],
        alpha=0.15,
        linewidth=0,
        label="interquartile range",
    )
    axes.plot(
        xs, [p.p50 * scale for p in points], color=COLOURS["median"], linewidth=1.4, label=label
    )
    gid = f"{chart_id}-median"
    axes.scatter(
        xs, [p.p50 * scale for p in points], s=10, color=COLOURS["median"], zorder=3, gid=gid
    )
    clock = series.latest.clock
    titles = [
        f"{run_title(runs[p.run_index])}: median {format_measured(p.p50, clock)}" for p in points
    ]
    if series.kind == "speedup":
        sequential = [p.sequential_p50 * scale for p in points]
        axes.plot(
            xs,
            sequential,
            color=COLOURS["sequential"],
            linewidth=1.2,
            linestyle="-.",
            label="sequential median",
        )
    budgets = series.latest.budgets
    for statistic, limit in budgets.items():
        if statistic != "speedup_min":
            axes.axhline(
                limit * scale,
                color=COLOURS["budget"],
                linestyle="--",
                linewidth=1,
                label=f"{statistic} budget",
            )
    _mark_regressions(axes, _regression_starts(points), [p.p50 * scale for p in points], xs)
    axes.set_ylabel(unit)
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper left", fontsize=7, frameon=False, ncols=4)
    return {gid: titles}


def _speedup_panel(
    axes: Axes, series: Series, runs: Sequence[RunInfo], chart_id: str
) -> dict[str, list[str]]:
    points = series.points
    xs = [p.run_index for p in points]
    ratios = [p.speedup for p in points]
    axes.plot(
        xs, ratios, color=COLOURS["speedup"], linewidth=1.4, label="speedup (sequential / parallel)"
    )
    gid = f"{chart_id}-speedup"
    axes.scatter(xs, ratios, s=10, color=COLOURS["speedup"], zorder=3, gid=gid)
    minimum = series.latest.budgets.get("speedup_min")
    if minimum:
        axes.axhline(
            minimum, color=COLOURS["budget"], linestyle="--", linewidth=1, label="speedup budget"
        )
    _mark_regressions(axes, _regression_starts(points, speedup=True), ratios, xs)
    axes.set_ylabel("times faster")
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper left", fontsize=7, frameon=False, ncols=3)
    return {
        gid: [
            f"{run_title(runs[p.run_index])}: speedup {r:.2f}x"
            for p, r in zip(points, ratios, strict=True)
        ]
    }


def _metric_panel(axes: Axes, series: Series, name: str, offset: int) -> None:
    pairs = [(p.run_index, p.metrics[name]) for p in series.points if name in p.metrics]
    colour = METRIC_COLOURS[offset % len(METRIC_COLOURS)]
    axes.plot(
        [x for x, _ in pairs],
        [y for _, y in pairs],
        color=colour,
        linewidth=1.2,
        marker="o",
        markersize=2.5,
    )
    axes.set_ylabel(terminal_text(name).replace("_", " ")[:22], fontsize=7)


def _mark_regressions(
    axes: Axes, starts: Sequence[Point], values: Sequence[float], xs: Sequence[int]
) -> None:
    lookup = dict(zip(xs, values, strict=True))
    if starts:
        axes.scatter(
            [p.run_index for p in starts],
            [lookup[p.run_index] for p in starts],
            marker="v",
            s=60,
            color=COLOURS["budget"],
            zorder=4,
            label="regression starts",
        )


def sparkline(values: Sequence[float], *, alarm: bool, width: int = 120, height: int = 24) -> str:
    """A tiny inline SVG polyline (hand-made: 100 matplotlib figures for sparklines would cost
    seconds for a few hundred bytes each)."""
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return ""
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    step = (width - 4) / (len(values) - 1)
    coordinates = [
        (2 + i * step, height - 2 - (v - low) / span * (height - 4))
        for i, v in enumerate(values)
        if math.isfinite(v)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
    last_x, last_y = coordinates[-1]
    colour = COLOURS["budget"] if alarm else COLOURS["median"]
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="trend"><polyline fill="none" stroke="{COLOURS["median"]}" '
        f'stroke-width="1.2" points="{line}"/><circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2.5" '
        f'fill="{colour}"/></svg>'
    )
