"""The stored series a comparison looks at for "since when" and creeping regressions, loaded once
per compared run (pure: imports no pytest).

Which runs: the newest :data:`LEVEL_HISTORY_RUNS` runs with the baseline's label on the
baseline's machines (this machine unless the baseline may come from any), older than the run
compared. Unlike the baseline itself, a gated run that regressed is included: it is no baseline,
but it is where the level is now, and "since when" must be able to name it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pytest_omniperf import stats
from pytest_omniperf.comparison import Quantity, Since, Verdict
from pytest_omniperf.history.acceptances import Acceptance, level_start
from pytest_omniperf.history.change_points import DEFAULT_MAX_P_VALUE
from pytest_omniperf.history.levels import (
    SeriesPoint,
    creeping_regression,
    level_since,
    point_of,
    series_point,
    since_at,
    usable,
)
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.history.store import HistoryStore
from pytest_omniperf.measurement import Measurement

# How far back a level is looked for: the HTML report's default window.
LEVEL_HISTORY_RUNS = 50
# "since" names a movement of at least this fraction of the regression threshold: smaller
# significant shifts (a virtual-clock measurement is nearly exact) would only add noise to
# every output.
SINCE_SHARE_OF_THRESHOLD = 0.5


@dataclass
class LevelHistory:
    """Per (test id, measurement name): the stored runs' points of each quantity, oldest first."""

    series: dict[tuple[str, str, Quantity], list[SeriesPoint]] = field(default_factory=dict)
    accepted: list[tuple[Acceptance, RunInfo]] = field(default_factory=list)
    """Accepted levels (``omniperf accept``) with their runs, in the order they take effect: the
    series of a measurement that matches one begins at its accepted run (the level it is held
    to), so the step that was accepted is no creeping regression and no "since"."""

    @classmethod
    def load(
        cls,
        store: HistoryStore,
        *,
        label: str | None,
        fingerprint: str | None,
        compared: RunInfo | None = None,
        runs: int = LEVEL_HISTORY_RUNS,
    ) -> LevelHistory:
        """The series of the newest ``runs`` runs with ``label`` on machine ``fingerprint``
        (None: any), older than ``compared`` when it is a stored run (and never it)."""
        candidates = store.runs(
            label=label,
            machine_fingerprint=fingerprint,
            # a stored run compared later may have newer runs after it
            limit=runs if compared is None else None,
        )
        if compared is not None:
            candidates = [
                run
                for run in candidates
                if run.uuid != compared.uuid and run.started_at <= compared.started_at
            ]
        chosen = {run.id: run for run in reversed(candidates[:runs]) if run.id is not None}
        history = cls()
        # ordered by row id, which is the order runs were saved or merged in: sort by run time
        values = sorted(
            store.measured_levels(chosen),
            key=lambda level: (chosen[level.run_id].started_at, level.run_id),
        )
        for level in values:
            for quantity in Quantity:
                point = point_of(
                    chosen[level.run_id],
                    quantity,
                    median=level.p50,
                    speedup=level.speedup,
                    samples_s=level.samples_s,
                    sequential_samples_s=level.sequential_samples_s,
                )
                if point is not None:
                    key = (level.test_id, level.name, quantity)
                    history.series.setdefault(key, []).append(point)
        return history

    def with_current(self, measurement: Measurement, quantity: Quantity) -> list[SeriesPoint]:
        """The stored series of ``measurement``'s quantity with its own value last."""
        stored = self.series.get((measurement.test_id, measurement.name, quantity), [])
        start = level_start(self.accepted, measurement.test_id, measurement.name)
        if start is not None:
            stored = [point for point in stored if (point.started_at, point.run_id or 0) >= start]
        current = series_point(None, measurement, quantity)
        return [*stored, current] if current is not None else list(stored)

    def since(self, measurement: Measurement, quantity: Quantity, threshold: float) -> Since | None:
        """Where the current level of ``measurement``'s quantity began (see
        :func:`~pytest_omniperf.history.levels.level_since`)."""
        return level_since(
            self.with_current(measurement, quantity),
            min_change=threshold * SINCE_SHARE_OF_THRESHOLD,
            quantity=quantity,
        )

    def drift(
        self,
        measurement: Measurement,
        quantity: Quantity,
        threshold: float,
        *,
        baseline_runs: int,
        family_size: int,
        prior: tuple[float, float],
    ) -> Since | None:
        """A creep the baseline runs moved with, too short a history for a significant change
        point (five flat runs, then +4% a run): the current value against the ``baseline_runs``
        stored runs just before the baseline's, by the gate's own rule (the Student interval of
        :func:`pytest_omniperf.stats.compare_log_estimates` at the clock's ``prior`` spread and
        weight), the suite's family doubled since this is a second test. It began at the first
        run after those that was worse than their centre by a quarter of the threshold."""
        *stored, current = self.with_current(measurement, quantity)
        stored = usable(stored)
        baseline_from = max(len(stored) - baseline_runs, 0)
        earlier = stored[max(baseline_from - baseline_runs, 0) : baseline_from]
        if not earlier or current.run_id is not None:
            return None
        prior_spread, prior_weight = prior
        change = stats.compare_log_estimates(
            (math.log(current.value), current.log_variance),
            [(math.log(point.value), point.log_variance) for point in earlier],
            threshold=threshold,
            family_size=2 * family_size,
            prior_run_spread=prior_spread,
            prior_weight_runs=prior_weight,
            samples_per_run=max(measurement.rounds, 2),
            quantity=quantity,
        )
        if change.verdict != Verdict.REGRESSED:
            return None

        def worse_by(value: float) -> float:
            ratio = value / change.baseline
            return 1 / ratio - 1 if quantity.higher_is_better else ratio - 1

        start = next((p for p in stored[baseline_from:] if worse_by(p.value) > threshold / 4), None)
        return since_at(start, change.baseline, change.current, quantity) if start else None

    def creep(
        self, measurement: Measurement, quantity: Quantity, threshold: float, family_size: int
    ) -> Since | None:
        """Where a movement began that made the quantity worse than the level before it by more
        than ``threshold``, at a significance corrected for the suite's size as the gate's own
        comparison is (:func:`pytest_omniperf.stats.tail_probability`)."""
        significance = min(DEFAULT_MAX_P_VALUE, 2 * stats.tail_probability(family_size))
        return creeping_regression(
            self.with_current(measurement, quantity),
            threshold=threshold,
            max_p_value=significance,
            quantity=quantity,
        )
