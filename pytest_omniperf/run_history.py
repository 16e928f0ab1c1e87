"""A pytest run's use of the history: the baseline, loaded once per process when the first
measurement is compared, and the run, saved once by the controller at session end.

Failures of the store never change a test's verdict: they are kept as one-line messages that the
terminal summary shows, and a run that cannot be saved is written to a JSON file beside the
database instead, to be added later with ``omniperf merge``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_omniperf.comparison import Verdict
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.settings import RunSettings
from pytest_omniperf.values import shown

if TYPE_CHECKING:
    from pytest_omniperf.gate_status import GateStatus
    from pytest_omniperf.history.baseline import Baseline, BaselineSpec, BaselineUnavailable
    from pytest_omniperf.history.provenance import RunInfo
    from pytest_omniperf.history.store import HistoryStore


class RunHistory:
    def __init__(self, config: pytest.Config, settings: RunSettings, started_at: str) -> None:
        self.config = config
        self.settings = settings
        self.started_at = started_at
        self.path = Path(config.rootpath, settings.history)
        self.notes: list[str] = []
        """One-line messages for the terminal summary (baseline used, saved run, problems)."""

    # -- where this run happens --------------------------------------------------------------

    @functools.cached_property
    def _machine_and_fingerprint(self) -> tuple[dict[str, object], str]:
        from pytest_omniperf.history.provenance import fingerprint, machine_description

        machine = machine_description()
        self.config.hook.pytest_omniperf_machine_info(config=self.config, machine=machine)
        for key, value in list(machine.items()):
            try:
                json.dumps({key: value})
            except (TypeError, ValueError, RecursionError):
                # stored as its repr, so the run is still saved and fingerprinted consistently
                machine[key] = shown(value)
                self.notes.append(
                    f"warning: pytest_omniperf_machine_info set machine[{shown(key)}] to a "
                    f"value that is not JSON; stored as its repr {machine[key]}"
                )
        return machine, fingerprint(machine)

    def _machine(self) -> tuple[dict[str, object], str]:
        machine, machine_fingerprint = self._machine_and_fingerprint
        return dict(machine), machine_fingerprint

    def run_info(self, exit_status: int | None = None) -> RunInfo:
        from pytest_omniperf.history.provenance import collect_run_info, now_iso

        run = collect_run_info(self.config.rootpath, self.settings.label)
        run.machine, run.machine_fingerprint = self._machine()
        run.started_at, run.finished_at = self.started_at, now_iso()
        run.exit_status = exit_status
        return run

    # -- baseline ----------------------------------------------------------------------------

    @functools.cached_property
    def baseline(self) -> Baseline | BaselineUnavailable:
        """The baseline of this run (loaded once), or why there is none."""
        from pytest_omniperf.history.baseline import (
            Baseline,
            BaselineSpec,
            BaselineUnavailable,
        )
        from pytest_omniperf.history.store import HistoryError, HistoryStore

        spec = BaselineSpec.from_settings(self.settings)
        if not self.path.exists():
            self.notes.append(
                f"baseline: none yet ({self.path} does not exist); verdicts are 'new'"
            )
            return Baseline(runs=[], spec=spec)
        try:
            with HistoryStore.open(self.path, create=False) as store:
                _, machine_fingerprint = self._machine()
                runs = self._hook_baseline_runs(store, spec, machine_fingerprint)
                if isinstance(runs, str):
                    self.notes.append(f"baseline unusable, nothing compared: {runs}")
                    return BaselineUnavailable(runs)
                if runs is None:  # the default choice, with the accepted levels
                    baseline = Baseline.chosen(store, spec, machine_fingerprint)
                else:
                    baseline = Baseline.load(store, list(runs), spec)
                    baseline.load_levels(store, machine_fingerprint)  # "since when", creeps
        except HistoryError as error:
            self.notes.append(f"baseline unavailable, nothing compared: {error}")
            return BaselineUnavailable(f"the baseline could not be loaded: {error}")
        self.notes += [f"warning: {line}" for line in baseline.skipped_rows]
        self.notes.append(f"compared with {baseline.describe()}")
        return baseline

    def _hook_baseline_runs(
        self, store: HistoryStore, spec: BaselineSpec, machine_fingerprint: str
    ) -> list[RunInfo] | str | None:
        """The runs a ``pytest_omniperf_select_baseline`` hook chose, None when no hook chose,
        or why the hook's answer is unusable (it raised, or returned no list of runs): a
        conftest's bug leaves this run without a baseline, said in one line, instead of
        failing whichever test compared first, or the session."""
        from pytest_omniperf.history.store import HistoryError

        try:
            runs = self.config.hook.pytest_omniperf_select_baseline(
                config=self.config, store=store, spec=spec, fingerprint=machine_fingerprint
            )
        except HistoryError:
            raise
        except Exception as error:
            return f"pytest_omniperf_select_baseline raised {type(error).__name__}: {error}"
        if runs is None or _is_run_list(runs):
            return None if runs is None else list(runs)
        return f"pytest_omniperf_select_baseline returned {shown(runs)}, not a list of runs"

    def gate_status(self, measurements: list[Measurement]) -> GateStatus:
        """Could ``--omniperf-gate`` gate this run? (Loads the baseline when not loaded yet.)"""
        from pytest_omniperf.gate_status import GateStatus

        if not self.settings.gate:
            return GateStatus.not_requested()
        if self.settings.disabled:
            return GateStatus.ineffective(
                "measuring is disabled (--omniperf-disable, OMNIPERF_DISABLE or "
                "omniperf_disable), so nothing was measured or compared"
            )
        from pytest_omniperf.history.baseline import BaselineUnavailable

        baseline = self.baseline
        if isinstance(baseline, BaselineUnavailable):
            return GateStatus.ineffective(baseline.reason)
        if not baseline.runs:
            return GateStatus.ineffective(
                f"{baseline.describe()}, so every verdict is 'new' and nothing was compared"
            )
        if measurements and not any(
            m.comparison_verdict and m.comparison_verdict.compared for m in measurements
        ):
            # baseline runs of other tests (all renamed, another project's history chosen by a
            # hook) or every test exempt: the gate looked at nothing
            return GateStatus.ineffective(
                f"none of the {len(measurements)} measurements of this run was compared with "
                f"{baseline.describe()} (every verdict is 'new' or 'exempt')"
            )
        return GateStatus(requested=True, effective=True)

    def compare(
        self, measurement: Measurement, threshold: float | None, *, two_stage: bool = False
    ) -> None:
        from pytest_omniperf.history.baseline import BaselineUnavailable
        from pytest_omniperf.history.compare import compare

        baseline = self.baseline
        if not isinstance(baseline, BaselineUnavailable):
            measurement.comparison = compare(measurement, baseline, threshold, two_stage=two_stage)

    # -- saving ------------------------------------------------------------------------------

    def finish(
        self, measurements: list[Measurement], exit_status: int, gate: GateStatus
    ) -> RunInfo:
        """Save the run (unless saving is off or nothing was measured) and write the requested
        files; a run that measured nothing still writes JSON and Markdown, for the gate's
        status."""
        run = self.run_info(exit_status)
        regressed = any(m.comparison_verdict == Verdict.REGRESSED for m in measurements)
        run.gated, run.regressed = gate.effective, regressed
        # a gated run that regressed is kept for the record but never becomes a baseline
        run.baseline_eligible = not (gate.effective and regressed)
        if self.settings.save and measurements:
            self._save(run, measurements)
        self._write_outputs(run, measurements, gate)
        return run

    def _save(self, run: RunInfo, measurements: list[Measurement]) -> None:
        from pytest_omniperf.history.store import HistoryError, HistoryStore

        try:
            with HistoryStore.open(self.path) as store:
                run_id = store.save_run(run, measurements)
        except HistoryError as error:
            self.notes.append(f"run not saved: {error}; {self._save_elsewhere(run, measurements)}")
            return
        self.notes.append(f"saved as run #{run_id} (label {run.label!r}) in {self.path}")

    def _save_elsewhere(self, run: RunInfo, measurements: list[Measurement]) -> str:
        from pytest_omniperf.history.documents import export_document

        document = json.dumps(export_document([(run, measurements)]), indent=1)
        name = f"omniperf-unsaved-run-{run.uuid[:12]}.json"
        for folder in (self.path.parent, Path.cwd()):
            try:
                (folder / name).write_text(document)
            except OSError:
                continue
            return (
                f"it was written to {folder / name} instead "
                f"(add it later: omniperf merge {folder / name} --into {self.path})"
            )
        return "it could not be written anywhere else either"

    def _write_outputs(
        self, run: RunInfo, measurements: list[Measurement], gate: GateStatus
    ) -> None:
        import os

        from pytest_omniperf.history.documents import export_document
        from pytest_omniperf.outputs import JSON_WRITTEN_BY, markdown_path
        from pytest_omniperf.report.markdown import markdown_summary

        if self.settings.json:
            # a run that measured nothing is no run to merge into a history (nor a baseline)
            runs = [(run, measurements)] if measurements else []
            document = {
                "written_by": JSON_WRITTEN_BY,  # first: it is how a later run recognises the file
                **export_document(runs),
                "gate": gate.to_dict(),
            }
            self._write(Path(self.settings.json), json.dumps(document, indent=1))
        markdown = markdown_path(self.settings.markdown, os.environ)
        if markdown:
            summary = markdown_summary(run, measurements, self.notes, gate)
            self._write(Path(markdown), summary, append=True)
        if self.settings.html and measurements:
            self._write_html(Path(self.settings.html), run, measurements)

    def _write_html(self, path: Path, run: RunInfo, measurements: list[Measurement]) -> None:
        from pytest_omniperf.history.baseline import BaselineSpec
        from pytest_omniperf.history.store import HistoryError
        from pytest_omniperf.report.html import write_report

        try:
            # the run just finished is included even when it could not be saved
            write_report(
                self.path,
                path,
                extra_run=(run, measurements),
                baseline=BaselineSpec.from_settings(self.settings),
                repository_url=self.settings.repository_url,
            )
        except (HistoryError, OSError) as error:
            self.notes.append(f"could not write the HTML report {path}: {error}")
            return
        self.notes.append(f"wrote {path}")

    def _write(self, path: Path, text: str, append: bool = False) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a" if append else "w") as handle:
                handle.write(text)
        except OSError as error:
            self.notes.append(f"could not write {path}: {error.strerror}")
            return
        self.notes.append(f"wrote {path}")


def _is_run_list(value: object) -> bool:
    from pytest_omniperf.history.provenance import RunInfo

    return isinstance(value, list | tuple) and all(isinstance(run, RunInfo) for run in value)
