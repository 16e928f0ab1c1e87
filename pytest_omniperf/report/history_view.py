"""What the HTML report shows, as plain data: runs in time order, one series per measurement,
and the latest run's comparison with its baseline (imports neither pytest nor matplotlib)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_omniperf.comparison import Verdict
from pytest_omniperf.history.baseline import Baseline, BaselineSpec
from pytest_omniperf.history.compare import compare
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.history.store import HistoryStore
from pytest_omniperf.measurement import BUDGET_FAILED, Measurement
from pytest_omniperf.settings import DEFAULT_THRESHOLD

RunWithMeasurements = tuple[RunInfo, list[Measurement]]


@dataclass
class Point:
    """One measurement in one run."""

    run_index: int
    p25: float
    p50: float
    p75: float
    measurement: Measurement
    regressed: bool = False
    """In a level slower than the one before it (see :func:`mark_regressions`)."""
    speedup_regressed: bool = False


@dataclass
class Series:
    """A measurement across runs, oldest first."""

    test_id: str
    name: str
    kind: str
    points: list[Point] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return self.test_id, self.name

    @property
    def latest(self) -> Measurement:
        return self.points[-1].measurement

    @property
    def metric_names(self) -> list[str]:
        return sorted({name for point in self.points for name in point.measurement.metrics})


@dataclass
class ReportData:
    source: str
    runs: list[RunInfo]
    """Oldest first; the charts' x axis."""
    series: list[Series]
    latest_baseline: str = ""

    @property
    def latest_run(self) -> RunInfo | None:
        return self.runs[-1] if self.runs else None

    def latest_measurements(self) -> list[Measurement]:
        last = len(self.runs) - 1
        return [s.latest for s in self.series if s.points and s.points[-1].run_index == last]

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
    compared when it ran."""
    runs: list[RunWithMeasurements] = []
    latest_baseline = ""
    if history.exists():
        with HistoryStore.open(history, create=False) as store:
            stored = list(reversed(store.runs(label=label, limit=last)))
            by_run = store.measurements(run.id for run in stored if run.id is not None)
            runs = [(run, by_run.get(run.id or 0, [])) for run in stored]
            if extra_run and all(run.uuid != extra_run[0].uuid for run, _ in runs):
                runs = [*runs[-(last - 1) :], extra_run] if last > 1 else [extra_run]
            if runs:
                latest_baseline = _compare_latest(store, runs[-1], baseline or BaselineSpec())
    elif extra_run:
        runs = [extra_run]
    series = _series(runs)
    for one in series:
        mark_regressions(one, [run for run, _ in runs])
    return ReportData(
        source=str(history),
        runs=[run for run, _ in runs],
        series=series,
        latest_baseline=latest_baseline,
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
        for index in _worse_level_points([point.p50 for point in points], higher_is_worse=True):
            points[index].regressed = True
        if series.kind == "speedup":
            speedups = [point.measurement.stats.get("speedup", math.nan) for point in points]
            for index in _worse_level_points(speedups, higher_is_worse=False):
                points[index].speedup_regressed = True


def _worse_level_points(values: list[float], *, higher_is_worse: bool) -> list[int]:
    """Indices of the values in levels worse than the level before by more than the threshold
    (values that are not positive and finite belong to no level)."""
    from pytest_omniperf.history.levels import level_changes

    kept = [index for index, value in enumerate(values) if value > 0 and math.isfinite(value)]
    changes = level_changes([values[index] for index in kept])
    flagged = []
    ends = [change.index for change in changes[1:]] + [len(kept)]
    for change, end in zip(changes, ends[: len(changes)], strict=True):
        worse_by = change.change if higher_is_worse else change.before / change.after - 1
        if worse_by > DEFAULT_THRESHOLD:
            flagged += kept[change.index : end]
    return flagged


def _compare_latest(store: HistoryStore, latest: RunWithMeasurements, spec: BaselineSpec) -> str:
    """Compare the latest run with its baseline, unless pytest compared it already (then its
    stored verdicts, against the baseline it was gated on, are shown as they were). Each
    measurement keeps its test's rule (its threshold, or exempt)."""
    run, measurements = latest
    stored = [m.comparison for m in measurements if m.comparison]
    if measurements and len(stored) == len(measurements):
        return stored[0].baseline
    baseline = Baseline.chosen(store, spec, run.machine_fingerprint, compared=run)
    for measurement in measurements:
        measurement.comparison = compare(measurement, baseline, measurement.regression)
    return baseline.describe()


def _quartiles(samples: list[float]) -> tuple[float, float, float]:
    import numpy as np

    if not samples:
        nan = float("nan")
        return nan, nan, nan
    q25, q50, q75 = np.percentile(np.asarray(samples, dtype=float), [25, 50, 75])
    return float(q25), float(q50), float(q75)


def _series(runs: list[RunWithMeasurements]) -> list[Series]:
    by_key: dict[tuple[str, str], Series] = {}
    for index, (_, measurements) in enumerate(runs):
        for measurement in measurements:
            key = (measurement.test_id, measurement.name)
            series = by_key.setdefault(
                key, Series(measurement.test_id, measurement.name, measurement.kind)
            )
            series.kind = measurement.kind
            p25, p50, p75 = _quartiles(measurement.samples_s)
            series.points.append(Point(index, p25, p50, p75, measurement))
    return list(by_key.values())


def run_title(run: RunInfo) -> str:
    """Hover text of a run: id, commit, branch and date."""
    parts: list[Any] = [f"run #{run.id}" if run.id else "this run", run.short_commit]
    if run.git_branch:
        parts.append(run.git_branch)
    parts.append(run.started_at.replace("T", " ")[:19])
    return " · ".join(str(part) for part in parts)
