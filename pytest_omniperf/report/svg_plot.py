"""A small SVG plotting canvas for the report's charts: scales, nice ticks, lines with gaps.

Hand-made instead of matplotlib: the report draws hundreds of small charts, and one matplotlib
figure costs tens of milliseconds where this string building costs well under one (200
measurements x 50 runs: 47 s before, see README). Every text that reaches the SVG goes through
:func:`~pytest_omniperf.report.escape.html_text` at the call site.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Room above the highest value, as a share of the range: markers at the top stay whole.
HEADROOM = 0.15
FONT_PX = 12


@dataclass(frozen=True)
class Frame:
    """The plot area of one panel and the data ranges it shows."""

    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float
    x_low: float
    x_high: float
    y_low: float
    y_high: float

    def x(self, value: float) -> float:
        span = (self.x_high - self.x_low) or 1.0
        return self.left + (value - self.x_low) / span * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        span = (self.y_high - self.y_low) or 1.0
        plot_height = self.height - self.top - self.bottom
        return self.height - self.bottom - (value - self.y_low) / span * plot_height

    @property
    def plot_top(self) -> float:
        return self.top

    @property
    def plot_bottom(self) -> float:
        return self.height - self.bottom


def value_range(values: Iterable[float], *, from_zero: bool = True) -> tuple[float, float]:
    """The y range of ``values`` (non-finite ones ignored), with headroom above; from zero when
    all are positive and ``from_zero``."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if from_zero and low >= 0:
        low = 0.0
    if high - low <= max(abs(low), abs(high)) * 1e-9:  # flat: give it a range to sit in
        high = low + (abs(low) or 1.0)
    headroom = (high - low) * HEADROOM
    return low, high + headroom if math.isfinite(high + headroom) else high


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About ``count`` round tick values (1, 2, 2.5 or 5 times a power of ten) in [low, high]."""
    span = high - low
    # a range too narrow for the floats around it would give steps that add nothing
    if not math.isfinite(span) or span <= max(abs(low), abs(high)) * 1e-9:
        return [low]
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(
        (power * factor for factor in (1, 2, 2.5, 5, 10) if power * factor >= raw), 10 * power
    )
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [0.0 if number == 0 else number * step for number in range(first, last + 1)]


def tick_text(value: float) -> str:
    """A tick label: as few digits as tell the ticks apart."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def segments(points: Iterable[tuple[int, float]]) -> list[list[tuple[int, float]]]:
    """Runs of consecutive x (run indices) with finite values: a line is broken where a run is
    missing or its value is not a number, so a gap shows as a gap."""
    found: list[list[tuple[int, float]]] = []
    previous: int | None = None
    for x, value in points:
        if not math.isfinite(value):
            previous = None
            continue
        if previous is None or x != previous + 1:
            found.append([])
        found[-1].append((x, value))
        previous = x
    return found


def line_path(frame: Frame, points: Sequence[tuple[int, float]]) -> str:
    """The ``d`` of a path through ``points`` (one segment)."""
    return "M" + "L".join(f"{frame.x(x):.1f},{frame.y(value):.1f}" for x, value in points)


def band_path(frame: Frame, points: Sequence[tuple[int, float, float]]) -> str:
    """The ``d`` of a closed band between lows and highs (one segment)."""
    upper = [f"{frame.x(x):.1f},{frame.y(high):.1f}" for x, _, high in points]
    lower = [f"{frame.x(x):.1f},{frame.y(low):.1f}" for x, low, _ in reversed(points)]
    return "M" + "L".join(upper + lower) + "Z"


def y_axis(frame: Frame, scale: float = 1.0, *, count: int = 4) -> str:
    """Grid lines and labels of the value axis (values shown times ``scale``)."""
    parts = []
    for tick in nice_ticks(frame.y_low, frame.y_high, count):
        y = frame.y(tick)
        parts.append(
            f'<line class="grid" x1="{frame.left:.1f}" x2="{frame.width - frame.right:.1f}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{frame.left - 4:.1f}" y="{y + 4:.1f}" text-anchor="end">'
            f"{tick_text(tick * scale)}</text>"
        )
    return "".join(parts)


def x_axis(frame: Frame, labels: Sequence[str], *, most: int = 8) -> str:
    """Labels of the run axis: at most ``most`` of them, evenly spaced."""
    step = max(1, math.ceil(len(labels) / most))
    y = frame.plot_bottom
    parts = [
        f'<line class="axis" x1="{frame.left:.1f}" x2="{frame.width - frame.right:.1f}" '
        f'y1="{y:.1f}" y2="{y:.1f}"/>'
    ]
    for index in range(0, len(labels), step):
        parts.append(
            f'<text class="tick" x="{frame.x(index):.1f}" y="{y + FONT_PX + 2:.1f}" '
            f'text-anchor="middle">{labels[index]}</text>'
        )
    return "".join(parts)


def svg_element(frame: Frame, body: str, label: str) -> str:
    """The ``<svg>`` of a panel: scales to its container's width (CSS max-width: 100%)."""
    width, height = round(frame.width), round(frame.height)
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{label}">{body}</svg>'
    )
