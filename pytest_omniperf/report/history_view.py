"""What the HTML report shows, as plain data: runs in time order, one series per measurement,
and the latest run's comparison with its baseline (imports neither pytest nor matplotlib)."""

from __future__ import annotations

import statistics
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
from pytest_omniperf.settings import DEFAULT_BASELINE_RUNS, DEFAULT_THRESHOLD

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
    """Slower than the runs before it (see :func:`mark_regressions`)."""
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
    compared when it ran."""
    runs: list[RunWithMeasurements] = []
    latest_baseline = ""
    chosen: Baseline | None = None
    acceptances: list[Acceptance] = []
    if history.exists():
        with HistoryStore.open(history, create=False) as store:
            stored = list(reversed(store.runs(label=label, limit=last)))
            by_run = store.measurements(run.id for run in stored if run.id is not None)
            runs = [(run, by_run.get(run.id or 0, [])) for run in stored]
            if extra_run and all(run.uuid != extra_run[0].uuid for run, _ in runs):
                runs = [*runs[-(last - 1) :], extra_run] if last > 1 else [extra_run]
            if runs:
                chosen = Baseline.chosen(
                    store,
                    baseline or BaselineSpec(),
                    runs[-1][0].machine_fingerprint,
                    compared=runs[-1][0],
                )
                latest_baseline = _compare_latest(runs[-1], chosen)
            acceptances = store.acceptances()
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
        baseline=chosen,
        acceptances=acceptances,
    )


def mark_regressions(series: Series, runs: list[RunInfo]) -> None:
    """Flag each point that regressed against the (up to five) unflagged points before it on
    the same machine, so the report can show where a regression started even for runs that
    were not compared when they ran. Uses the fast analytic variance of the median."""
    from pytest_omniperf import stats

    history: dict[str, list[Point]] = {}
    for point in series.points:
        machine = runs[point.run_index].machine_fingerprint
        earlier = [p for p in history.setdefault(machine, []) if not p.regressed][
            -DEFAULT_BASELINE_RUNS:
        ]
        if earlier:
            measurement = point.measurement
            change = stats.compare_log_estimates(
                stats.log_median_estimate(measurement.samples_s),
                [stats.log_median_estimate(p.measurement.samples_s) for p in earlier],
                threshold=DEFAULT_THRESHOLD,
                family_size=1,
                prior_run_spread=stats.PRIOR_RUN_SPREAD.get(measurement.clock, 0.03),
                samples_per_run=max(measurement.rounds, 2),
            )
            point.regressed = change.verdict == Verdict.REGRESSED
            if series.kind == "speedup":
                point.speedup_regressed = _speedup_regressed(point, earlier)
        history[machine].append(point)


def _speedup_regressed(point: Point, earlier: list[Point]) -> bool:
    from pytest_omniperf import stats

    def estimate(measurement: Measurement) -> tuple[float, float]:
        sequential = stats.log_median_estimate(measurement.sequential_samples_s)
        parallel = stats.log_median_estimate(measurement.samples_s)
        return sequential[0] - parallel[0], sequential[1] + parallel[1]

    usable = [p for p in earlier if p.measurement.sequential_samples_s]
    if not usable or not point.measurement.sequential_samples_s:
        return False
    change = stats.compare_log_estimates(
        estimate(point.measurement),
        [estimate(p.measurement) for p in usable],
        threshold=DEFAULT_THRESHOLD,
        family_size=1,
        prior_run_spread=0.02 if point.measurement.clock == "real" else 0.0,
        samples_per_run=max(point.measurement.rounds, 2),
        quantity=Quantity.SPEEDUP,
    )
    return change.verdict == Verdict.REGRESSED


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
    """25th, 50th and 75th percentiles, interpolated as numpy's default does; in plain Python,
    which is ten times faster than numpy for the few samples of one run (10,000 points)."""
    if not samples:
        nan = float("nan")
        return nan, nan, nan
    if len(samples) == 1:
        return samples[0], samples[0], samples[0]
    q25, q50, q75 = statistics.quantiles(samples, n=4, method="inclusive")
    return q25, q50, q75


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
