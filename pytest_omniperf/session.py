"""The plugin's per-run object: finds the perf tests, gathers their measurements, summarises.

Registered by ``plugin.pytest_configure``. The hooks that measure tests live in
:mod:`pytest_omniperf.perf_hooks` and are registered only when collection found a perf test.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_omniperf.settings import RunSettings

PERF_MARKERS = ("omniperf", "latency", "speedup")
PERF_HOOKS_NAME = "omniperf-perf-tests"

# Report attribute carrying the measurements of a call phase; it travels with the report, so
# pytest-xdist brings it from the workers to the controller.
REPORT_ATTRIBUTE = "omniperf_measurements"


def is_perf_test(item: pytest.Item) -> bool:
    """Does the plugin have anything to do for this test?"""
    if not isinstance(item, pytest.Function):
        return False
    return "perf" in item.fixturenames or any(
        mark.name in PERF_MARKERS for mark in item.iter_markers()
    )


class OmniperfSession:
    def __init__(self, config: pytest.Config, settings: RunSettings) -> None:
        self.config = config
        self.settings = settings
        self.measurements: list[Any] = []

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        manager = self.config.pluginmanager
        if manager.has_plugin(PERF_HOOKS_NAME) or not any(map(is_perf_test, items)):
            return
        from pytest_omniperf.perf_hooks import PerfTestHooks

        manager.register(PerfTestHooks(self.config, self.settings), PERF_HOOKS_NAME)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        records: list[dict[str, Any]] | None = getattr(report, REPORT_ATTRIBUTE, None)
        if records:
            from pytest_omniperf.measurement import Measurement

            self.measurements += [Measurement.from_dict(record) for record in records]

    # -- output ------------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        settings = self.settings
        if settings.disabled:
            return ["omniperf: disabled (perf tests run once, nothing is measured or checked)"]
        return [
            f"omniperf: rounds={settings.rounds} warmup={settings.warmup} clock={settings.clock} "
            f"gather-patch={'on' if settings.patch_gather else 'off'}"
        ]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.measurements:
            return
        from pytest_omniperf.report.terminal import summary_lines, summary_title

        terminalreporter.write_sep("=", summary_title(self.measurements))
        for line in summary_lines(self.measurements):
            terminalreporter.write_line(line)
