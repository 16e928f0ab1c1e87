"""Which runs a run is compared with, and their measurements: the one place a baseline is chosen
and loaded, for pytest, ``omniperf compare`` and the HTML report alike (pure: imports no pytest).

Every default (label, number of runs, any machine, threshold) comes from the settings resolver
(:func:`pytest_omniperf.settings.resolve_run_settings`), so the three agree.

Accepted levels (``omniperf accept``): a measurement that matches an acceptance of run R is
compared only with runs from R on, R itself included even when it is no baseline run (a gated
run that regressed), so an intended slowdown stops failing the gate and a further one fails it
again. The newest accepted run wins. They apply to the default choice of runs, not to a baseline
of one given run (``run:ID``) nor to runs a ``pytest_omniperf_select_baseline`` hook chose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_omniperf.history.acceptances import Acceptance
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


def _position(run: RunInfo) -> tuple[str, int]:
    """Where a run is in time, as the store orders runs."""
    return run.started_at, run.id or 0


def accepted_in_order(store: HistoryStore) -> list[tuple[Acceptance, RunInfo]]:
    """Every acceptance whose run can be read, with that run, in the order they take effect:
    the newest accepted run first (a measurement that several match is held to it), of two
    acceptances of one run the later one."""
    acceptances = store.acceptances()
    runs = store.accepted_runs(acceptances)
    pairs = [(a, runs[a.run_id]) for a in acceptances if a.run_id in runs]
    return sorted(pairs, key=lambda pair: (_position(pair[1]), pair[0].id or 0), reverse=True)


def select_accepted_levels(
    store: HistoryStore,
    spec: BaselineSpec,
    fingerprint: str,
    *,
    compared: RunInfo | None = None,
) -> list[tuple[Acceptance, RunInfo, list[RunInfo]]]:
    """Each acceptance in effect with its run and the runs of its level (see
    :func:`accepted_in_order` for the order): the newest ``spec.count`` runs from the accepted
    run on that the spec would choose, the accepted run included when it ran on a machine the
    spec compares with.

    An acceptance of a run later than ``compared`` (or of ``compared`` itself) is not in effect:
    a run is held to the levels accepted before it.
    """
    if spec.run_id is not None:
        return []
    accepted = accepted_in_order(store)
    if not accepted:
        return []
    machine = None if spec.any_machine else fingerprint
    candidates = [
        run
        for run in store.runs(
            label=spec.label,
            machine_fingerprint=machine,
            baseline_only=True,
            limit=spec.count + (compared is not None),
        )
        if compared is None or run.uuid != compared.uuid
    ]
    levels = []
    for acceptance, accepted_run in accepted:
        if compared is not None and _position(accepted_run) >= _position(compared):
            continue
        runs = [run for run in candidates if _position(run) >= _position(accepted_run)]
        if machine in (None, accepted_run.machine_fingerprint) and accepted_run.id not in {
            run.id for run in runs
        }:
            runs.append(accepted_run)
        runs.sort(key=_position, reverse=True)
        levels.append((acceptance, accepted_run, runs[: spec.count]))
    return levels


@dataclass(frozen=True)
class AcceptedLevel:
    """The runs from an accepted run on, for the measurements its acceptance matches."""

    acceptance: Acceptance
    accepted_run: RunInfo
    runs: list[RunInfo]
    """The accepted run (when on a machine the baseline compares with) and the baseline runs
    after it, newest first."""
    by_key: dict[tuple[str, str], list[Measurement]]

    def describe(self) -> str:
        """``1 run from #12 on (newest #12, ...), accepted #12: bigger model``."""
        since = f"from #{self.acceptance.run_id} on"
        return f"{_runs_text(self.runs, since)}, {self.acceptance.describe()}"


def _runs_text(runs: list[RunInfo], which: str) -> str:
    """``2 runs labelled 'main' (newest #41, 3f2a1bc0, 2026-11-20)``; ``which`` may be ""."""
    count = len(runs)
    if not count:
        return f"no runs {which}".rstrip()
    newest = runs[0]
    return " ".join(
        part
        for part in (
            f"{count} run{'s' if count != 1 else ''}",
            which,
            f"(newest #{newest.id}, {newest.short_commit}, {newest.started_at[:10]})",
        )
        if part
    )


def _by_key(store: HistoryStore, runs: list[RunInfo]) -> dict[tuple[str, str], list[Measurement]]:
    """The runs' measurements by (test id, measurement name), newest run first."""
    found: dict[tuple[str, str], list[Measurement]] = {}
    by_run = store.measurements(run.id for run in runs if run.id is not None)
    for run in runs:
        for measurement in by_run.get(run.id or 0, []):
            found.setdefault((measurement.test_id, measurement.name), []).append(measurement)
    return found


@dataclass
class Baseline:
    """The measurements of the baseline runs, by (test id, measurement name)."""

    runs: list[RunInfo]
    by_key: dict[tuple[str, str], list[Measurement]] = field(default_factory=dict)
    spec: BaselineSpec = field(default_factory=BaselineSpec)
    skipped_rows: list[str] = field(default_factory=list)
    """Bad rows left out while choosing and loading the baseline (one warning line each)."""
    accepted: list[AcceptedLevel] = field(default_factory=list)
    """Levels accepted with ``omniperf accept``, newest accepted run first: a measurement that
    matches one is compared with its runs instead of :attr:`runs`."""
    levels: LevelHistory | None = None
    """The longer history the comparison finds "since when" and creeping regressions in
    (:meth:`load_levels`); None: not looked at."""

    @classmethod
    def load(cls, store: HistoryStore, runs: list[RunInfo], spec: BaselineSpec) -> Baseline:
        baseline = cls(runs=runs, spec=spec, by_key=_by_key(store, runs))
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
        """The default choice (:func:`select_baseline_runs`) and the accepted levels
        (:func:`select_accepted_levels`), loaded, with the level history."""
        baseline = cls.load(
            store, select_baseline_runs(store, spec, fingerprint, compared=compared), spec
        )
        baseline.accepted = [
            AcceptedLevel(acceptance, accepted_run, runs, _by_key(store, runs))
            for acceptance, accepted_run, runs in select_accepted_levels(
                store, spec, fingerprint, compared=compared
            )
        ]
        baseline.load_levels(store, fingerprint, compared=compared)
        return baseline

    def accepted_level(self, measurement: Measurement) -> AcceptedLevel | None:
        """The accepted level the measurement is held to, if an acceptance matches it."""
        for level in self.accepted:
            if level.acceptance.matches(measurement.test_id, measurement.name):
                return level
        return None

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
        # an accepted step is no creeping regression: each series starts at its accepted run
        self.levels.accepted = [(level.acceptance, level.accepted_run) for level in self.accepted]
        self.skipped_rows = list(store.skipped_rows)

    def history_of(self, measurement: Measurement) -> list[Measurement]:
        """The baseline's measurements of the same (test, name) that have samples."""
        level = self.accepted_level(measurement)
        by_key = level.by_key if level else self.by_key
        key = (measurement.test_id, measurement.name)
        return [m for m in by_key.get(key, []) if m.samples_s]

    @property
    def family_size(self) -> int:
        """How many measurements one run compares: the multiple-comparison correction."""
        keys = set(self.by_key).union(*(level.by_key for level in self.accepted))
        return max(len(keys), 1)

    def describe(self) -> str:
        """The runs, and the accepted levels in effect: ``...; accepted levels: #12 for '*'``."""
        accepted = [
            f"#{level.acceptance.run_id} for {level.acceptance.pattern!r}"
            for level in self.accepted
        ]
        runs = self._describe_runs()
        return f"{runs}; accepted levels: {', '.join(accepted)}" if accepted else runs

    def describe_for(self, measurement: Measurement) -> str:
        """What this measurement is compared with: the runs, or its accepted level
        (``1 run from #12 on (...), accepted #12: bigger model``)."""
        level = self.accepted_level(measurement)
        return level.describe() if level else self._describe_runs()

    def _describe_runs(self) -> str:
        if not self.runs:
            return f"no baseline ({self.spec.describe()}: none stored yet)"
        label = f"labelled {self.runs[0].label!r}" if self.spec.run_id is None else ""
        return _runs_text(self.runs, label)


@dataclass(frozen=True)
class BaselineUnavailable:
    """Why a run has no baseline at all (the history could not be read, a hook failed)."""

    reason: str
