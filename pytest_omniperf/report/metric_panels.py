"""Which derived metrics share a chart panel, in which unit, and which need no chart at all.

The runtime primitives name their figures ``<primitive>.<figure>`` (``cache.hit_rate``,
``breaker.rejections``, ``executor.efficiency``; see ``pytest_omniperf/runtime/``) and the loop
adds ``loop.busy_s`` and ``loop.blocking_max_s``. A panel gathers the figures that mean the same
kind of thing, so their scales agree: rates as %, times in ms, counts as counts. A figure that
never moved is one line of text, not a flat chart. Pure data: imports no plotting.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

# Flags the plugin keeps for itself are not the user's figures (never drawn).
INTERNAL_PREFIX = "omniperf."
# More lines than this in one panel cannot be told apart: the rest are listed under it.
MOST_LINES = 6

_FAILURE_FIGURES = frozenset(
    {"rejections", "failures", "failed", "give_ups", "retries", "skipped", "errors"}
)


def _leaf(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _is_share(name: str, values: Sequence[float]) -> bool:
    leaf = _leaf(name)
    shaped = leaf.endswith("rate") or leaf in ("efficiency", "ratio", "share")
    return shaped and all(0.0 <= value <= 1.0 for value in values)


@dataclass(frozen=True)
class PanelKind:
    """A panel by meaning: its title, its unit and the factor from stored values to it."""

    title: str
    unit: str
    scale: float
    holds: Callable[[str, Sequence[float]], bool]


PANEL_KINDS = (
    PanelKind("hit rate and efficiency", "%", 100.0, _is_share),
    PanelKind("cost saved", "", 1.0, lambda name, _: _leaf(name) == "cost_saved"),
    PanelKind(
        "failures and rejections", "count", 1.0, lambda name, _: _leaf(name) in _FAILURE_FIGURES
    ),
    PanelKind("event-loop blocking", "ms", 1000.0, lambda name, _: name.startswith("loop.")),
    PanelKind(
        "parallelism achieved",
        "x",
        1.0,
        lambda name, _: _leaf(name) in ("achieved_speedup", "ideal_speedup"),
    ),
    PanelKind("times", "ms", 1000.0, lambda name, _: name.endswith("_s")),
    PanelKind("memory", "KB", 1e-3, lambda name, _: name.endswith("_bytes")),
    PanelKind("other figures", "", 1.0, lambda name, _: True),
)


@dataclass(frozen=True)
class MetricLine:
    """One metric across runs: (run index, value) pairs, oldest first."""

    name: str
    points: list[tuple[int, float]]


@dataclass(frozen=True)
class MetricPanel:
    kind: PanelKind
    lines: list[MetricLine] = field(default_factory=list)
    not_drawn: list[str] = field(default_factory=list)
    """Names beyond :data:`MOST_LINES`."""


@dataclass(frozen=True)
class FlatMetric:
    """A metric with one value in every run that has it."""

    name: str
    value: float
    runs: int
    kind: PanelKind

    def describe(self) -> str:
        """``cache.hit_rate 42% in every run (12)``."""
        shown = format_figure(self.value, self.kind)
        where = "in its only run" if self.runs == 1 else f"in every run ({self.runs})"
        return f"{self.name} {shown} {where}"


def format_figure(value: float, kind: PanelKind) -> str:
    scaled = value * kind.scale
    if not math.isfinite(scaled):
        return "n/a"
    unit = {"%": "%", "ms": " ms", "x": "x", "KB": " KB"}.get(kind.unit, "")
    return f"{scaled:.3g}{unit}"


def metric_panels(
    by_run: Sequence[tuple[int, Mapping[str, float]]],
    drawn_elsewhere: Collection[str] = (),
) -> tuple[list[MetricPanel], list[FlatMetric]]:
    """The panels of a measurement's metrics (``(run index, metrics)`` pairs, oldest first) in
    the order of :data:`PANEL_KINDS`, and the metrics that never moved. ``drawn_elsewhere``:
    metrics left out (those with a budget have the budgets panel, their bound drawn)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for run_index, metrics in by_run:
        for name, value in metrics.items():
            if not name.startswith(INTERNAL_PREFIX) and name not in drawn_elsewhere:
                series.setdefault(name, []).append((run_index, value))
    panels: dict[str, MetricPanel] = {}
    flat: list[FlatMetric] = []
    for name in sorted(series):
        points = series[name]
        values = [value for _, value in points]
        kind = next(kind for kind in PANEL_KINDS if kind.holds(name, values))
        if all(value == values[0] for value in values):  # no trend to draw
            flat.append(FlatMetric(name, values[0], len(values), kind))
            continue
        panel = panels.setdefault(kind.title, MetricPanel(kind))
        if len(panel.lines) < MOST_LINES:
            panel.lines.append(MetricLine(name, points))
        else:
            panel.not_drawn.append(name)
    order = [kind.title for kind in PANEL_KINDS]
    return sorted(panels.values(), key=lambda panel: order.index(panel.kind.title)), flat
