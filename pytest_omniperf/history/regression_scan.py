"""The current regressions across a stored history, like asv's regressions page (pure: imports
no pytest).

For each measurement on each machine, its latest level is held against the level before its
latest significant movement (:func:`~pytest_omniperf.history.levels.current_shift`); a
measurement whose latest level is worse by more than the threshold is a current regression,
with the run where it began and the commit range that holds the cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_omniperf.comparison import Quantity, Since
from pytest_omniperf.history.acceptances import Acceptance, level_start
from pytest_omniperf.history.change_points import DEFAULT_MAX_P_VALUE
from pytest_omniperf.history.levels import (
    SeriesPoint,
    series_point,
    since_at,
    usable,
    worse_shift,
)
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.measurement import Measurement

RunWithMeasurements = tuple[RunInfo, list[Measurement]]


@dataclass(frozen=True)
class CurrentRegression:
    """A measurement whose latest level is worse than the level before its latest movement."""

    test_id: str
    name: str
    quantity: Quantity
    clock: str
    machine_fingerprint: str
    since: Since
    """The first run of the worse level, and the levels before and after."""
    last_good_run_id: int | None
    """The run before ``since`` in the measurement's series (None: it began at the first run)."""
    last_good_commit: str
    runs: int
    """How many runs the measurement's series holds."""
    p_value: float

    @property
    def worse_by(self) -> float:
        """The relative change for the worse (a speedup that fell to half: +100%)."""
        if self.quantity.higher_is_better:
            return self.since.before / self.since.after - 1
        return self.since.change

    @property
    def commit_range(self) -> str:
        """``last good..first bad``, as ``git log`` takes it ("" when unknown)."""
        if not self.since.commit:
            return ""
        return f"{self.last_good_commit[:12] or '?'}..{self.since.commit[:12]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "name": self.name,
            "quantity": self.quantity.value,
            "clock": self.clock,
            "machine_fingerprint": self.machine_fingerprint,
            "before": self.since.before,
            "after": self.since.after,
            "change": self.since.change,
            "worse_by": self.worse_by,
            "start_run_id": self.since.run_id,
            "start_commit": self.since.commit,
            "start_date": self.since.started_at,
            "last_good_run_id": self.last_good_run_id,
            "last_good_commit": self.last_good_commit,
            "commit_range": self.commit_range,
            "runs": self.runs,
            "p_value": self.p_value,
        }


def current_regressions(
    runs: Iterable[RunWithMeasurements],
    *,
    threshold: float,
    max_p_value: float = DEFAULT_MAX_P_VALUE,
    accepted: Sequence[tuple[Acceptance, RunInfo]] = (),
) -> list[CurrentRegression]:
    """The current regressions in ``runs`` (oldest first), worst first. ``accepted``: accepted
    levels (``omniperf accept``) with their runs, in the order they take effect
    (``baseline.accepted_in_order``); the series of a measurement that matches one begins at
    its accepted run, so the step that was accepted is no regression."""
    series: dict[tuple[str, str, str, Quantity], tuple[str, list[SeriesPoint]]] = {}
    for run, measurements in runs:
        for measurement in measurements:
            if measurement.comparison_verdict == "exempt":
                continue  # omniperf(regression=False): the test asks not to be compared
            start = level_start(accepted, measurement.test_id, measurement.name)
            if start is not None and (run.started_at, run.id or 0) < start:
                continue  # before the level that was accepted
            for quantity in _quantities(measurement):
                point = series_point(run, measurement, quantity)
                if point is None:
                    continue
                key = (run.machine_fingerprint, measurement.test_id, measurement.name, quantity)
                series.setdefault(key, (measurement.clock, []))[1].append(point)
    found = []
    for (machine, test_id, name, quantity), (clock, points) in series.items():
        regression = _regression(points, quantity, threshold, max_p_value)
        if regression is not None:
            since, last_good, p_value, runs_seen = regression
            found.append(
                CurrentRegression(
                    test_id=test_id,
                    name=name,
                    quantity=quantity,
                    clock=clock,
                    machine_fingerprint=machine,
                    since=since,
                    last_good_run_id=last_good.run_id if last_good else None,
                    last_good_commit=last_good.commit if last_good else "",
                    runs=runs_seen,
                    p_value=p_value,
                )
            )
    return sorted(found, key=lambda regression: (-regression.worse_by, regression.test_id))


def _quantities(measurement: Measurement) -> tuple[Quantity, ...]:
    if measurement.kind == "metrics":
        return ()  # its body ran once: that call's time is no claim to watch
    if measurement.kind == "speedup":
        return (Quantity.SPEEDUP, Quantity.MEDIAN)
    return (Quantity.MEDIAN,)


def _regression(
    points: Sequence[SeriesPoint], quantity: Quantity, threshold: float, max_p_value: float
) -> tuple[Since, SeriesPoint | None, float, int] | None:
    series = usable(points)
    shift = worse_shift(series, threshold=threshold, max_p_value=max_p_value, quantity=quantity)
    if shift is None:
        return None
    since = since_at(series[shift.index], shift.before, shift.after, quantity)
    if since is None:
        return None
    last_good = series[shift.index - 1] if shift.index > 0 else None
    return since, last_good, shift.p_value, len(series)
