"""Which runs a run is compared with, and their measurements: the one place a baseline is chosen
and loaded, for pytest, ``omniperf compare`` and the HTML report alike (pure: imports no pytest).

Every default (label, number of runs, any machine, threshold) comes from the settings resolver
(:func:`pytest_omniperf.settings.resolve_run_settings`), so the three agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.history.store import HistoryStore
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.settings import (
    DEFAULT_BASELINE,
    DEFAULT_BASELINE_RUNS,
    RunSettings,
    run_reference,
)

if TYPE_CHECKING:
    from pytest_omniperf.history.level_history import LevelHistory


@dataclass(frozen=True)
class BaselineSpec:
    """Which runs form the baseline: a run id, or the last ``count`` runs with ``label``."""

    label: str | None = DEFAULT_BASELINE
    run_id: int | None = None
    any_machine: bool = False
    count: int = DEFAULT_BASELINE_RUNS

    @classmethod
    def from_settings(cls, settings: RunSettings) -> BaselineSpec:
        """From the resolved ``baseline``, ``baseline_runs`` and ``baseline_any_machine``."""
        run_id = run_reference(settings.baseline)
        return cls(
            label=None if run_id is not None else settings.baseline,
            run_id=run_id,
            any_machine=settings.baseline_any_machine,
            count=settings.baseline_runs,
        )

    def describe(self) -> str:
        if self.run_id is not None:
            return f"run {self.run_id}"
        where = "any machine" if self.any_machine else "this machine"
        label = f"label {self.label!r}" if self.label else "any label"
        return f"last {self.count} runs with {label} on {where}"


def select_baseline_runs(
    store: HistoryStore,
    spec: BaselineSpec,
    fingerprint: str,
    *,
    compared: RunInfo | None = None,
) -> list[RunInfo]:
    """The runs a run on machine ``fingerprint`` is compared with, newest first; never the
    ``compared`` run itself (it may carry the baseline's label when it is compared later, by
    ``omniperf compare`` or the report)."""
    if spec.run_id is not None:
        return [store.run(spec.run_id)]
    runs = store.runs(
        label=spec.label,
        machine_fingerprint=None if spec.any_machine else fingerprint,
        baseline_only=True,
        limit=spec.count + (compared is not None),
    )
    return [run for run in runs if compared is None or run.uuid != compared.uuid][: spec.count]


@dataclass
class Baseline:
    """The measurements of the baseline runs, by (test id, measurement name)."""

    runs: list[RunInfo]
    by_key: dict[tuple[str, str], list[Measurement]] = field(default_factory=dict)
    spec: BaselineSpec = field(default_factory=BaselineSpec)
    skipped_rows: list[str] = field(default_factory=list)
    """Bad rows left out while choosing and loading the baseline (one warning line each)."""
    levels: LevelHistory | None = None
    """The longer history the comparison finds "since when" and creeping regressions in
    (:meth:`load_levels`); None: not looked at."""

    @classmethod
    def load(cls, store: HistoryStore, runs: list[RunInfo], spec: BaselineSpec) -> Baseline:
        baseline = cls(runs=runs, spec=spec)
        by_run = store.measurements(run.id for run in runs if run.id is not None)
        for measurements in by_run.values():
            for measurement in measurements:
                key = (measurement.test_id, measurement.name)
                baseline.by_key.setdefault(key, []).append(measurement)
        baseline.skipped_rows = list(store.skipped_rows)
        return baseline

    @classmethod
    def chosen(
        cls,
        store: HistoryStore,
        spec: BaselineSpec,
        fingerprint: str,
        *,
        compared: RunInfo | None = None,
    ) -> Baseline:
        """The default choice (:func:`select_baseline_runs`), loaded, with its levels."""
        baseline = cls.load(
            store, select_baseline_runs(store, spec, fingerprint, compared=compared), spec
        )
        baseline.load_levels(store, fingerprint, compared=compared)
        return baseline

    def load_levels(
        self, store: HistoryStore, fingerprint: str, *, compared: RunInfo | None = None
    ) -> None:
        """Load :attr:`levels`: the runs with the baseline's label (a one-run baseline: that
        run's label) on the baseline's machines, older than ``compared`` when it is stored."""
        from pytest_omniperf.history.level_history import LevelHistory

        label = self.spec.label
        if self.spec.run_id is not None:
            if not self.runs:
                return
            label = self.runs[0].label
        self.levels = LevelHistory.load(
            store,
            label=label,
            fingerprint=None if self.spec.any_machine else fingerprint,
            compared=compared,
        )
        self.skipped_rows = list(store.skipped_rows)

    def history_of(self, measurement: Measurement) -> list[Measurement]:
        """The baseline's measurements of the same (test, name) that have samples."""
        key = (measurement.test_id, measurement.name)
        return [m for m in self.by_key.get(key, []) if m.samples_s]

    @property
    def family_size(self) -> int:
        """How many measurements one run compares: the multiple-comparison correction."""
        return max(len(self.by_key), 1)

    def describe(self) -> str:
        if not self.runs:
            return f"no baseline ({self.spec.describe()}: none stored yet)"
        newest = self.runs[0]
        count = len(self.runs)
        label = f" labelled {newest.label!r}" if self.spec.run_id is None else ""
        return (
            f"{count} run{'s' if count != 1 else ''}{label} "
            f"(newest #{newest.id}, {newest.short_commit}, {newest.started_at[:10]})"
        )


@dataclass(frozen=True)
class BaselineUnavailable:
    """Why a run has no baseline at all (the history could not be read, a hook failed)."""

    reason: str
