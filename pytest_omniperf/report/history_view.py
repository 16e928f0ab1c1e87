"""What the HTML report shows, as plain data: runs in time order, one series per measurement,
and the latest run's comparison with its baseline (imports neither pytest nor matplotlib)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_omniperf.comparison import Quantity, Verdict
from pytest_omniperf.history.acceptances import Acceptance
from pytest_omniperf.history.baseline import Baseline, BaselineSpec
from pytest_omniperf.history.compare import compare
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.history.store import HistoryStore
from pytest_omniperf.measurement import BUDGET_FAILED, Measurement
from pytest_omniperf.settings import DEFAULT_THRESHOLD

RunWithMeasurements = tuple[RunInfo, list[Measurement]]


@dataclass(slots=True)
class Point:
    """One measurement in one run: what its charts draw, not the whole measurement (a report of
    1,000 runs x 200 measurements holds 200,000 points). The newest whole measurement of each
    series is :attr:`Series.latest`."""

    run_index: int
    p25: float
    p50: float
    p75: float
    speedup: float = math.nan
    sequential_p50: float = math.nan
    metrics: dict[str, float] = field(default_factory=dict)
    regressed: bool = False
    """In a level slower than the one before it (see :func:`mark_regressions`)."""
    speedup_regressed: bool = False


@dataclass
class Series:
    """A measurement across runs, oldest first, built one run at a time with :meth:`add`."""

    test_id: str
    name: str
    kind: str
    latest: Measurement
    """The newest run's measurement, whole (budgets, clock, comparison)."""
    points: list[Point] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return self.test_id, self.name

    @property
    def metric_names(self) -> list[str]:
        return sorted({name for point in self.points for name in point.metrics})

    def add(self, run_index: int, measurement: Measurement) -> None:
        """Append the measurement of the next run (only what the charts draw is kept)."""
        self.latest, self.kind = measurement, measurement.kind
        p25, p50, p75 = _quartiles(measurement.samples_s)
        self.points.append(
            Point(
                run_index,
                p25,
                p50,
                p75,
                speedup=measurement.stats.get("speedup", math.nan),
                sequential_p50=measurement.stats.get("sequential_p50", math.nan),
                metrics=measurement.metrics,
            )
        )


@dataclass
class ReportData:
    source: str
    runs: list[RunInfo]
    """Oldest first; the charts' x axis."""
    series: list[Series]
    latest_baseline: str = ""
    baseline: Baseline | None = None
    """The baseline runs of the latest run under the report's baseline settings: their samples
    are drawn beside the latest run's (None: no history to choose from)."""
    acceptances: list[Acceptance] = field(default_factory=list)
    """Every acceptance stored in the history, oldest first (see ``omniperf accept``)."""

    @property
    def latest_run(self) -> RunInfo | None:
        return self.runs[-1] if self.runs else None

    def latest_measurements(self) -> list[Measurement]:
        last = len(self.runs) - 1
        return [s.latest for s in self.series if s.points and s.points[-1].run_index == last]

    def run_index(self, run_id: int) -> int | None:
        """Where run ``run_id`` is on the charts' x axis (None: not among the report's runs)."""
        return next((index for index, run in enumerate(self.runs) if run.id == run_id), None)

    def acceptances_of(self, series: Series) -> list[tuple[int, Acceptance]]:
        """The acceptances that match ``series``, with the x of their run, oldest first."""
        found = []
        for acceptance in self.acceptances:
            index = self.run_index(acceptance.run_id)
            if index is not None and acceptance.matches(series.test_id, series.name):
                found.append((index, acceptance))
        return found

    def verdict_counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(
            (Verdict.REGRESSED, Verdict.IMPROVED, Verdict.UNCHANGED, Verdict.NOISY, Verdict.NEW),
            0,
        )
        counts["failed budgets"] = 0
        for measurement in self.latest_measurements():
            if measurement.comparison_verdict in counts:
                counts[measurement.comparison_verdict] += 1
            if measurement.verdict == BUDGET_FAILED:
                counts["failed budgets"] += 1
        return counts


def load_report_data(
    history: Path,
    *,
    last: int = 50,
    label: str | None = None,
    extra_run: RunWithMeasurements | None = None,
    baseline: BaselineSpec | None = None,
) -> ReportData:
    """The newest ``last`` runs (with ``label``), plus ``extra_run`` if it was not saved; the
    latest is compared with ``baseline`` (default: the settings' defaults) unless it was
    compared when it ran. Read one run at a time: only the series' points and each series'
    newest measurement are kept."""
    runs: list[RunInfo] = []
    by_key: dict[tuple[str, str], Series] = {}
    latest: RunWithMeasurements | None = None
    latest_baseline = ""
    chosen: Baseline | None = None
    acceptances: list[Acceptance] = []

    def add(run: RunInfo, measurements: list[Measurement]) -> None:
        nonlocal latest
        for measurement in measurements:
            key = (measurement.test_id, measurement.name)
            series = by_key.get(key)
            if series is None:
                series = by_key[key] = Series(*key, measurement.kind, measurement)
            series.add(len(runs), measurement)
        runs.append(run)
        latest = (run, measurements)

    if history.exists():
        with HistoryStore.open(history, create=False) as store:
            # the runs of A/B jobs have a section of their own (report/ab_section.py)
            stored = store.runs(label=label, limit=last, ab=False)[::-1]
            if extra_run and all(run.uuid != extra_run[0].uuid for run in stored):
                stored = stored[-(last - 1) :] if last > 1 else []
            else:
                extra_run = None
            by_run = store.measurements_by_run(run.id for run in stored if run.id is not None)
            for run, (_, measurements) in zip(stored, by_run, strict=True):
                add(run, measurements)
            if extra_run:
                add(*extra_run)
            if latest:
                chosen = Baseline.chosen(
                    store,
                    baseline or BaselineSpec(),
                    latest[0].machine_fingerprint,
                    compared=latest[0],
                )
                latest_baseline = _compare_latest(latest, chosen)
            acceptances = store.acceptances()
    elif extra_run:
        add(*extra_run)
    series = list(by_key.values())
    for one in series:
        mark_regressions(one, runs)
    return ReportData(
        source=str(history),
        runs=runs,
        series=series,
        latest_baseline=latest_baseline,
        baseline=chosen,
        acceptances=acceptances,
    )


def mark_regressions(series: Series, runs: list[RunInfo]) -> None:
    """Flag the points of every level that is worse than the level before it by more than the
    default threshold, on each machine, so the report shows where a regression started even for
    runs that were not compared when they ran. The levels are the series' change points
    (history/levels.py: E-Divisive means with a t-test, a fraction of a millisecond a series)."""
    by_machine: dict[str, list[Point]] = {}
    for point in series.points:
        by_machine.setdefault(runs[point.run_index].machine_fingerprint, []).append(point)
    for points in by_machine.values():
        for index in _worse_level_points([point.p50 for point in points], Quantity.MEDIAN):
            points[index].regressed = True
        if series.kind == "speedup":
            speedups = [point.speedup for point in points]
            for index in _worse_level_points(speedups, Quantity.SPEEDUP):
                points[index].speedup_regressed = True


def _worse_level_points(values: list[float], quantity: Quantity) -> list[int]:
    """Indices of the values in levels worse than the level before by more than the threshold
    (values that are not positive and finite belong to no level)."""
    from pytest_omniperf.history.levels import level_changes

    kept = [index for index, value in enumerate(values) if value > 0 and math.isfinite(value)]
    changes = level_changes([values[index] for index in kept])
    if not changes:
        return []
    flagged = []
    ends = [change.index for change in changes[1:]] + [len(kept)]
    for change, end in zip(changes, ends, strict=True):
        if change.worse_by(quantity) > DEFAULT_THRESHOLD:
            flagged += kept[change.index : end]
    return flagged


def _compare_latest(latest: RunWithMeasurements, baseline: Baseline) -> str:
    """Compare the latest run with ``baseline``, unless pytest compared it already (then its
    stored verdicts, against the baseline it was gated on, are shown as they were). Each
    measurement keeps its test's rule (its threshold, or exempt)."""
    _, measurements = latest
    stored = [m.comparison for m in measurements if m.comparison]
    if measurements and len(stored) == len(measurements):
        return stored[0].baseline
    for measurement in measurements:
        measurement.comparison = compare(measurement, baseline, measurement.regression)
    return baseline.describe()


def _quartiles(samples: list[float]) -> tuple[float, float, float]:
    """25th, 50th and 75th percentiles, interpolated linearly (numpy's default method)."""
    if not samples:
        nan = float("nan")
        return nan, nan, nan
    ordered = sorted(samples)

    def percentile(fraction: float) -> float:
        position = fraction * (len(ordered) - 1)
        below = math.floor(position)
        above = min(below + 1, len(ordered) - 1)
        return ordered[below] + (ordered[above] - ordered[below]) * (position - below)

    return percentile(0.25), percentile(0.5), percentile(0.75)


def run_title(run: RunInfo) -> str:
    """Hover text of a run: id, commit, branch and date."""
    parts: list[Any] = [f"run #{run.id}" if run.id else "this run", run.short_commit]
    if run.git_branch:
        parts.append(run.git_branch)
    parts.append(run.started_at.replace("T", " ")[:19])
    return " · ".join(str(part) for part in parts)
