"""The worker side of ``omniperf ab``: a real pytest session of one tree, serving single rounds.

Started by the driver as ``python -m pytest -p pytest_omniperf.ab.worker [PYTEST_ARGS]`` in the
tree's directory, so the tree's rootdir, ini file, conftest files, fixtures and markers apply as
in a normal run. It collects normally, then, instead of running the tests, answers requests on
the channel (:mod:`pytest_omniperf.ab.channel`): the perf tests it has, and "run one round of
test X".

A round runs the test through pytest's own protocol (setup, call, teardown) and the plugin's own
measuring path, with the test's plan forced to one round and no warmup: clocks, sequential mode
and budgets behave exactly as in a normal run. Fixtures above function scope stay set up between
rounds (pytest's SetupState is told the next item is in the same parent), so a session fixture is
set up once per worker.
"""

from __future__ import annotations

import inspect
import os
from typing import Any, cast

import pytest

from pytest_omniperf.ab.channel import CHANNEL_ENV, LineReader, send
from pytest_omniperf.ab.paired import median
from pytest_omniperf.perf_tests import PERF_MARKERS, REPORT_ATTRIBUTE, is_perf_test
from pytest_omniperf.session import COUNTING_WORKER_ENV, OmniperfSession
from pytest_omniperf.settings import (
    MeasureSettings,
    RunSettings,
    SettingError,
    resolve_measure_plan,
)
from pytest_omniperf.stash_keys import PERF_KEY, PLAN_KEY, SETTINGS_KEY, SINK_KEY

WORKER_PLUGIN_NAME = "omniperf-ab-worker"
NOT_STARTED_BY_AB = (
    "-p pytest_omniperf.ab.worker: this plugin serves `omniperf ab` and is started by it "
    f"(no {CHANNEL_ENV} in the environment)"
)


def ab_clock(measure: MeasureSettings, is_async: bool) -> str:
    """The clock a test's rounds are timed on in an A/B job. A clock the test (or the run's
    configuration) asks for is kept; the default real clock becomes thread CPU time for a sync
    test (CPU-bound work: CPU time removes the run-queue waits that dominate wall-clock noise on
    a shared machine) and stays wall time for an async test (its cost is waiting, which CPU time
    would not see)."""
    if measure.clock_from_marker or measure.clock != "real":
        return measure.clock
    return "real" if is_async else "cpu"


def pytest_cmdline_main(config: pytest.Config) -> None:
    """A worker serves its rounds itself: pytest-xdist's ``-n`` (in the project's ``addopts``,
    say) would hand its tests to sub-workers. Runs after xdist's own (tryfirst) handling of
    ``-n``, before pytest's main loop reads the option."""
    if getattr(config.option, "dist", "no") != "no":
        config.option.dist = "no"
    if getattr(config.option, "numprocesses", None):
        config.option.numprocesses = None


@pytest.hookimpl(trylast=True)  # after the plugin's own pytest_configure made its session
def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(COUNTING_WORKER_ENV):
        # the valgrind run the instructions clock starts from inside a worker inherits its
        # command line and environment, but only counts
        return
    channel = os.environ.get(CHANNEL_ENV, "")
    if not channel:
        raise pytest.UsageError(NOT_STARTED_BY_AB)
    read_fd, write_fd = (int(fd) for fd in channel.split(","))
    config.pluginmanager.register(AbWorker(config, read_fd, write_fd), WORKER_PLUGIN_NAME)


class AbWorker:
    def __init__(self, config: pytest.Config, read_fd: int, write_fd: int) -> None:
        self.config = config
        self._requests = LineReader(read_fd)
        self._write_fd = write_fd
        self._collection_errors: list[str] = []
        self.settings = self._settings_for_rounds(config)

    @staticmethod
    def _settings_for_rounds(config: pytest.Config) -> RunSettings:
        """The run's settings, made to measure single rounds and to leave nothing behind: the
        driver compares, stores and reports, the worker only measures."""
        from pytest_omniperf.plugin import SESSION_PLUGIN_NAME

        settings = config.stash[SETTINGS_KEY]._replace(
            rounds=1,
            warmup=0,
            disabled=False,
            compare=False,
            gate=False,
            save=False,
            json=None,
            markdown=None,
            html=None,
        )
        config.stash[SETTINGS_KEY] = settings
        session = config.pluginmanager.get_plugin(SESSION_PLUGIN_NAME)
        assert isinstance(session, OmniperfSession)  # registered by the plugin's pytest_configure
        session.settings = settings
        return settings

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            where = report.nodeid or "collection"
            self._collection_errors.append(f"{where}: {error_line(report.longreprtext, last=True)}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        if self._collection_errors:
            first_error = self._collection_errors[0]
            send(self._write_fd, {"event": "collection-error", "message": first_error})
            return True
        tests = {item.nodeid: item for item in session.items if is_perf_test(item)}
        described = [self._describe(item) for item in tests.values()]
        send(self._write_fd, {"event": "ready", "tests": described})
        try:
            while True:
                request = self._requests.receive()
                if request.get("op") != "round":
                    break
                send(self._write_fd, self._round(tests[request["test"]]))
        finally:
            session._setupstate.teardown_exact(None)
        return True

    def _describe(self, item: pytest.Item) -> dict[str, Any]:
        assert isinstance(item, pytest.Function)  # is_perf_test holds only for functions
        is_async = inspect.iscoroutinefunction(item.obj)
        marks = {name: list(item.iter_markers(name)) for name in PERF_MARKERS}
        described: dict[str, Any] = {"id": item.nodeid, "async": is_async}
        try:
            plan = resolve_measure_plan(item.nodeid, self.settings, **marks)
        except SettingError as error:
            return described | {"clock": "", "budgets": [], "error": str(error)}
        budgets = [name for name in plan.markers if name != "omniperf"]  # the budget markers
        return described | {"clock": ab_clock(plan.measure, is_async), "budgets": budgets}

    @pytest.hookimpl  # after the perf hooks' (tryfirst) plan, before pytest sets up fixtures
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        plan = item.stash.get(PLAN_KEY, None)
        if plan is None or not isinstance(item, pytest.Function):
            return
        from pytest_omniperf.perf_fixture import Perf

        is_async = inspect.iscoroutinefunction(item.obj)
        measure = plan.measure._replace(rounds=1, warmup=0, clock=ab_clock(plan.measure, is_async))
        item.stash[PLAN_KEY] = plan._replace(measure=measure)
        item.stash[PERF_KEY] = Perf(item.nodeid, measure, sink=item.stash[SINK_KEY])

    def _round(self, item: pytest.Item) -> dict[str, Any]:
        from _pytest.runner import runtestprotocol

        from pytest_omniperf.measurement import BUDGET_FAILED, Measurement

        setup_state = item.session._setupstate
        setup_state.teardown_exact(item)  # leave the previous test's module or class, if others
        # The next item "is" the test's parent: its function-scoped fixtures are torn down after
        # each round, everything above them stays for the next round.
        reports = runtestprotocol(item, log=False, nextitem=cast(pytest.Item, item.parent))
        values: dict[str, float] = {}
        budget_failures: list[str] = []
        for report in reports:
            for record in getattr(report, REPORT_ATTRIBUTE, None) or []:
                measurement = Measurement.from_dict(record)
                name = measurement.name
                while name in values:  # two measurements of one name: both compared
                    name += "'"
                values[name] = median(measurement.samples_s)
                if measurement.verdict == BUDGET_FAILED:
                    budget_failures.append(measurement.message)
        answer: dict[str, Any] = {
            "event": "round",
            "outcome": "passed",
            "values": values,
            "budget_failures": budget_failures,
        }
        for report in reports:
            if report.skipped:
                return answer | {"outcome": "skipped", "message": _skip_reason(report)}
            if report.failed and not (report.when == "call" and budget_failures):
                message = f"{report.when} failed: {error_line(report.longreprtext)}"
                return answer | {"outcome": "failed", "message": message}
        return answer


def error_line(text: str, *, last: bool = False) -> str:
    """The line of pytest's failure text that says what went wrong: the first ``E`` line of a
    traceback (an assertion's), or the ``last`` one (an import's or a syntax error's, after the
    lines that locate it); else the last line (a one-line failure message)."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    explained = [line[1:].strip() for line in lines if line.startswith("E ")]
    if explained:
        return explained[-1] if last else explained[0]
    return lines[-1].strip() if lines else "(no message)"


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return error_line(str(longrepr))
