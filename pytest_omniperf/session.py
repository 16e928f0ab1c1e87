"""The plugin's per-run object: finds the perf tests, gathers their measurements, summarises.

Registered by ``plugin.pytest_configure``. The hooks that measure tests live in
:mod:`pytest_omniperf.perf_hooks` and are registered only when collection found a perf test (or
a test requests ``perf`` dynamically); the session hands them what they need, they never import
it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_omniperf.gate_status import GateStatus
from pytest_omniperf.perf_tests import REPORT_ATTRIBUTE, is_perf_test
from pytest_omniperf.settings import RunSettings

if TYPE_CHECKING:
    from pytest_omniperf.measurement import Measurement
    from pytest_omniperf.perf_hooks import PerfTestHooks
    from pytest_omniperf.run_history import RunHistory

PERF_HOOKS_NAME = "omniperf-perf-tests"
INSTRUCTION_BATCH_NAME = "omniperf-instruction-batch"
# Set in the valgrind run the plugin starts for the instructions clock (see instructions/).
COUNTING_WORKER_ENV = "OMNIPERF_CALLGRIND_RESULTS"


class OmniperfSession:
    def __init__(self, config: pytest.Config, settings: RunSettings) -> None:
        self.config = config
        self.settings = settings
        self.measurements: list[Measurement] = []
        self.started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._run_history: RunHistory | None = None
        self._pending: dict[str, list[dict[str, Any]]] = {}
        """Measurement records of calls whose teardown has not been reported yet, by test."""
        self.gate = GateStatus.not_requested()
        """Could --omniperf-gate gate? Known at session finish, on the controller."""
        self.counting_worker = bool(os.environ.get(COUNTING_WORKER_ENV))
        """This process is the valgrind run: it counts, the parent checks, compares and saves."""
        if self.counting_worker:
            from pytest_omniperf.instructions.worker import CountingWorker

            worker = CountingWorker(Path(os.environ[COUNTING_WORKER_ENV]), REPORT_ATTRIBUTE)
            config.pluginmanager.register(worker, "omniperf-counting-worker")

    @property
    def run_history(self) -> RunHistory:
        """The history link, made on first use (no history work in runs that measure nothing)."""
        if self._run_history is None:
            from pytest_omniperf.run_history import RunHistory

            self._run_history = RunHistory(self.config, self.settings, self.started_at)
        return self._run_history

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        manager = self.config.pluginmanager
        if manager.has_plugin(PERF_HOOKS_NAME) or not any(map(is_perf_test, items)):
            return
        from pytest_omniperf.variants import baseline_variants_first

        baseline_variants_first(items)
        self.perf_hooks()
        if not self.counting_worker:
            self._register_instruction_batch(items)

    def perf_hooks(self) -> PerfTestHooks:
        """The hooks that measure perf tests, registered on first need."""
        from pytest_omniperf.perf_hooks import PerfTestHooks

        manager = self.config.pluginmanager
        hooks = manager.get_plugin(PERF_HOOKS_NAME)
        if hooks is None:
            hooks = PerfTestHooks(
                self.config,
                self.settings,
                run_history=lambda: self.run_history,
                counting_worker=self.counting_worker,
            )
            manager.register(hooks, PERF_HOOKS_NAME)
        assert isinstance(hooks, PerfTestHooks)
        return hooks

    def _register_instruction_batch(self, items: list[pytest.Item]) -> None:
        from pytest_omniperf.instructions.batch import InstructionBatch, counts_instructions

        counted = [
            item.nodeid
            for item in items
            if is_perf_test(item) and counts_instructions(item, self.settings)
        ]
        if counted:
            batch = InstructionBatch(
                self.config,
                self.settings,
                counted,
                note=lambda text: self.run_history.notes.append(text),
            )
            self.config.pluginmanager.register(batch, INSTRUCTION_BATCH_NAME)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # pytest-rerunfailures reports each attempt that will be retried as "rerun", in
        # whichever phase failed: an attempt whose call passed but whose teardown failed is
        # retried too. So a call's measurements wait for its teardown, and only the final
        # attempt's are kept.
        if str(report.outcome) == "rerun":
            self._pending.pop(report.nodeid, None)
            return
        records: list[dict[str, Any]] | None = getattr(report, REPORT_ATTRIBUTE, None)
        if records:
            self._pending[report.nodeid] = records
        elif report.when == "teardown":
            self._keep_pending(self._pending.pop(report.nodeid, []))

    def _keep_pending(self, records: list[dict[str, Any]]) -> None:
        if records:
            from pytest_omniperf.measurement import Measurement

            self.measurements += [Measurement.from_dict(record) for record in records]

    # -- saving ------------------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput") or self.counting_worker:
            return  # xdist workers and the valgrind run send their measurements on, to be saved
        for records in self._pending.values():  # an interrupted run reports no teardown
            self._keep_pending(records)
        self._pending.clear()
        if self.settings.gate:
            self.gate = self.run_history.gate_status(self.measurements)
        if self.measurements or self.gate.warning:
            self.run_history.finish(self.measurements, int(exitstatus), self.gate)

    # -- output ------------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        settings = self.settings
        if settings.disabled:
            return ["omniperf: disabled (perf tests run once, nothing is measured or checked)"]
        lines = [
            f"omniperf: rounds={settings.rounds} warmup={settings.warmup} clock={settings.clock} "
            f"gather-patch={'on' if settings.patch_gather else 'off'}"
        ]
        history = f"omniperf: history={settings.history}" + (
            "" if settings.save else " (not saving)"
        )
        if settings.comparing:
            where = "any machine" if settings.baseline_any_machine else "this machine"
            history += (
                f" baseline={settings.baseline} (last {settings.baseline_runs}, {where}) "
                f"threshold={settings.threshold:.0%} {'gate' if settings.gate else 'compare'}"
            )
        return [*lines, history]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.measurements and not self.gate.warning:
            return  # a run without perf tests shows nothing and loads nothing
        from pytest_omniperf.report.terminal import write_summary

        notes = self._run_history.notes if self._run_history else []
        write_summary(terminalreporter, self.measurements, notes, self.gate.warning)
