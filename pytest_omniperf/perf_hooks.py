"""Hooks that measure perf tests: plan at setup, measure during the call, check budgets.

Registered by the session only when collection found a perf test (a perf marker or the ``perf``
fixture) or a test requested ``perf`` dynamically, so a suite without any pays nothing per
test. What they prepare for a test is kept in its stash (:mod:`pytest_omniperf.stash_keys`),
where the fixtures read it; they get from the session only what they need to compare.
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

from pytest_omniperf.budgets import (
    BLOCKING_NOT_MEASURED,
    check,
    check_blocking,
    check_metric_budgets,
    missing_metric_problems,
)
from pytest_omniperf.comparison import Verdict
from pytest_omniperf.installed_patches import checkpoint, uninstall_since
from pytest_omniperf.loop_steps import UnsupportedLoopError
from pytest_omniperf.measurement import BLOCKING_METRIC, Measurement
from pytest_omniperf.perf_tests import PERF_FIXTURES, PERF_MARKERS, REPORT_ATTRIBUTE
from pytest_omniperf.round_progress import CallProgress, ProgressDisplay, use_progress
from pytest_omniperf.runtime.trace import Recorder, use_recorder
from pytest_omniperf.settings import (
    Marker,
    MeasurePlan,
    RunSettings,
    SettingError,
    resolve_measure_plan,
)
from pytest_omniperf.stash_keys import (
    CONCLUDED_KEY,
    KIT_KEY,
    PATCH_MARK_KEY,
    PERF_KEY,
    PERF_REQUESTED_KEY,
    PLAN_KEY,
    PROGRESS_KEY,
    RECORDER_KEY,
    SINK_KEY,
    forget_attempt,
)
from pytest_omniperf.values import as_float, shown, storable_text

if TYPE_CHECKING:
    from pytest_omniperf.regression_confirmation import Confirm
    from pytest_omniperf.run_history import RunHistory

# The end of pytest-timeout's failure message: "Timeout (>5.0s) from pytest-timeout."
TIMEOUT_MESSAGE_END = "from pytest-timeout"
NOTHING_MEASURED = (
    "{budget} budget cannot be evaluated: {test} uses the perf fixture but measured nothing "
    "(call perf.measure, perf.speedup or perf.span, or drop the perf fixture to time the test body)"
)
BODY_NOT_MEASURED = (
    "{budget} budget cannot be evaluated: the body of {test} ran without being measured "
    "(whatever runs this kind of test called it directly); perf markers are supported on plain, "
    "pytest-asyncio, anyio and unittest tests, or use the perf fixture"
)
NO_SPEEDUP_MEASURED = (
    "speedup budget cannot be evaluated: {test} measured nothing in both modes; "
    "use perf.speedup(fn) instead of perf.measure(fn)"
)
BENCHMARK_CONFLICT = (
    "{markers} on {test} {verb} the test body {calls} times to measure it, but pytest-benchmark's "
    "`benchmark` fixture may be used only once per test: keep one of the two (drop the marker "
    "or the `benchmark` fixture), or measure with the `perf` fixture instead of the marker"
)
BLOCKING_ON_SYNC_TEST = (
    "@pytest.mark.blocking on {test}: a blocking budget bounds the steps of an event loop and "
    "needs an async test (async def), or the perf fixture measuring async code"
)
VIRTUAL_ON_SYNC_TEST = (
    "@pytest.mark.omniperf(clock='virtual') on {test}: the virtual clock runs on the event loop "
    "and needs an async test (async def); use clock='real' for synchronous tests"
)


def _unittest_case(item: pytest.Function) -> object | None:
    """The ``unittest.TestCase`` instance running ``item``, if it is a unittest test."""
    unittest = sys.modules.get("unittest")
    instance = item.instance
    return instance if unittest is not None and isinstance(instance, unittest.TestCase) else None


@contextmanager
def _refusals_in_one_line(nodeid: str) -> Iterator[None]:
    """A measurement the running async library or loop cannot take fails the test with one line
    (the library may have wrapped the refusal in an exception group on its way out)."""
    from pytest_omniperf.async_library import UnsupportedAsyncLibrary

    try:
        yield
    except BaseException as error:
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        if isinstance(error, UnsupportedAsyncLibrary):
            refusal = str(error)
        elif isinstance(error, UnsupportedLoopError):
            refusal = f"{nodeid}: {error}"
        else:
            raise
        # from None: one line, not the refusal again "during handling of" it
        raise pytest.fail.Exception(refusal, pytrace=False) from None


def _hook_metric_problems(nodeid: str, measurement: Measurement) -> list[str]:
    """Metrics that a ``pytest_omniperf_measurement`` hook set must be numbers: one that is not
    fails the test and is left out, so the rest of the run is still stored (a number of another
    type, numpy's or a Decimal, is kept as a float)."""
    problems = []
    for name, value in list(measurement.metrics.items()):
        number = as_float(value, finite=False)
        del measurement.metrics[name]
        if isinstance(name, str) and number is not None:
            measurement.metrics[storable_text(name)] = number
            continue
        problems.append(
            f"pytest_omniperf_measurement hook on {nodeid}: metric {shown(name)} must be a "
            f"number, got {shown(value)}; it was not stored"
        )
    return problems


class PerfTestHooks:
    def __init__(
        self,
        config: pytest.Config,
        settings: RunSettings,
        *,
        run_history: Callable[[], RunHistory],
        counting_worker: bool,
    ) -> None:
        self.config = config
        self.settings = settings
        self._run_history = run_history
        """The session's history link, made on first use (only when comparing)."""
        self._counting_worker = counting_worker
        """This process is the valgrind run: it only counts, its parent checks budgets."""
        self._shows_progress: bool | None = None
        """Decided on the first measured call (the terminal reporter is configured by then)."""

    # -- which tests, and how ----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if not isinstance(item, pytest.Function):
            return
        forget_attempt(item.stash)  # an earlier attempt (pytest-rerunfailures) leaves nothing
        # closest first: function and pytest.param marks, then class, then module
        marks = {name: list(item.iter_markers(name)) for name in PERF_MARKERS}
        if not any(marks.values()) and PERF_FIXTURES.isdisjoint(item.fixturenames):
            return
        self.prepare(item, marks)

    def prepare_on_request(self, item: pytest.Item) -> None:
        """Prepare a test that requested ``perf`` (or another perf fixture) dynamically, with
        ``request.getfixturevalue``: it has no perf marker, or setup would have prepared it."""
        if not isinstance(item, pytest.Function):
            raise pytest.UsageError(
                f"{item.nodeid}: the perf fixtures measure test functions, "
                f"not {type(item).__name__} items"
            )
        self.prepare(item, {name: list(item.iter_markers(name)) for name in PERF_MARKERS})

    def prepare(self, item: pytest.Function, marks: Mapping[str, Sequence[Marker]]) -> None:
        """Resolve the test's plan and put what its fixtures and its call need in its stash."""
        try:
            plan = resolve_measure_plan(item.nodeid, self.settings, **marks)
        except SettingError as error:
            # from None: one line, not the error again "during handling" of it
            raise pytest.fail.Exception(str(error), pytrace=False) from None
        measure = plan.measure
        if self._body_timed_with_benchmark(item, plan):
            pytest.fail(
                BENCHMARK_CONFLICT.format(
                    markers=" and ".join(f"@pytest.mark.{name}" for name in plan.markers),
                    test=item.nodeid,
                    verb="runs" if len(plan.markers) == 1 else "run",
                    calls=measure.warmup + measure.rounds,
                ),
                pytrace=False,
            )
        if (
            measure.clock == "virtual"
            and measure.clock_from_marker
            and "perf" not in item.fixturenames
            and not inspect.iscoroutinefunction(item.obj)
        ):
            pytest.fail(VIRTUAL_ON_SYNC_TEST.format(test=item.nodeid), pytrace=False)
        if (
            plan.blocking is not None
            and "perf" not in item.fixturenames
            and not inspect.iscoroutinefunction(item.obj)
        ):
            pytest.fail(BLOCKING_ON_SYNC_TEST.format(test=item.nodeid), pytrace=False)
        from pytest_omniperf.perf_fixture import Perf

        sink: list[Measurement] = []
        item.stash[PLAN_KEY] = plan
        item.stash[SINK_KEY] = sink
        item.stash[RECORDER_KEY] = Recorder(item.nodeid)
        item.stash[PERF_KEY] = Perf(
            item.nodeid,
            measure,
            disabled=self.settings.disabled,
            sink=sink,
            confirm=self._confirmer(plan),
        )

    def _body_timed_with_benchmark(self, item: pytest.Function, plan: MeasurePlan) -> bool:
        """Would the plugin call the body of a test that uses pytest-benchmark's fixture more
        than once? Checked before fixtures are set up, so pytest-benchmark has nothing to warn
        about."""
        if not plan.measures_body or "perf" in item.fixturenames or self.settings.disabled:
            return False
        if "benchmark" not in item.fixturenames:
            return False
        return any(
            getattr(plugin, "__name__", "") == "pytest_benchmark.plugin"
            for plugin in self.config.pluginmanager.get_plugins()
        )

    def _confirmer(self, plan: MeasurePlan) -> Confirm | None:
        """When comparing: a check that a fresh measurement looks regressed (see
        :mod:`pytest_omniperf.regression_confirmation`)."""
        threshold = plan.measure.regression
        if not self.settings.comparing or threshold is None:
            return None
        run_history = self._run_history()

        def looks_regressed(measurement: Measurement) -> bool:
            run_history.compare(measurement, threshold, two_stage=True)
            return measurement.comparison_verdict == Verdict.REGRESSED

        return looks_regressed

    # -- measuring ---------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        plan = item.stash.get(PLAN_KEY, None)
        if plan is None or self.settings.disabled:
            return (yield)
        assert isinstance(item, pytest.Function)  # plans are only made for functions
        # Fixtures are set up by now: the teardown safety net leaves their patches alone.
        item.stash[PATCH_MARK_KEY] = checkpoint()
        sink = item.stash[SINK_KEY]
        progress = item.stash[PROGRESS_KEY] = CallProgress(item.nodeid, self._display(item))
        with (
            use_recorder(item.stash[RECORDER_KEY]),
            use_progress(progress),
            _refusals_in_one_line(item.nodeid),
        ):
            call_started = time.perf_counter()
            try:
                if not plan.measures_body or _uses_perf(item):
                    # measured by the perf fixture, or not at all: run once (a metrics-only
                    # test's one call is timed around it)
                    result = yield
                else:
                    result = yield from self._measure_body(item, plan)
            finally:
                progress.close()
        violations = self._conclude(item, plan, sink, time.perf_counter() - call_started)
        if violations:
            pytest.fail("\n".join(violations), pytrace=False)
        return result

    def _measure_body(
        self, item: pytest.Function, plan: MeasurePlan
    ) -> Generator[None, object, object]:
        """Run the call with the test function replaced by one that measures it."""
        from pytest_omniperf.body import measured_body

        test_function = item.obj
        item.obj = measured_body(
            test_function,
            item.stash[PERF_KEY],
            name=plan.measure.name or item.nodeid.rsplit("::", 1)[-1],
            speedup=plan.speedup is not None,
        )
        # unittest runs async test methods by looking them up on the test case itself
        test_case = _unittest_case(item)
        if test_case is not None:
            setattr(test_case, item.name, item.obj)
        try:
            return (yield)
        finally:
            item.obj = test_function
            if test_case is not None:
                vars(test_case).pop(item.name, None)

    def _display(self, item: pytest.Item) -> ProgressDisplay | None:
        """Where the progress of ``item`` shows, if this process shows progress."""
        from pytest_omniperf.progress_display import TerminalProgress, shows_progress

        if self._shows_progress is None:
            self._shows_progress = not self._counting_worker and shows_progress(self.config)
        return TerminalProgress(self.config, item) if self._shows_progress else None

    def _conclude(
        self, item: pytest.Item, plan: MeasurePlan, sink: list[Measurement], call_s: float
    ) -> list[str]:
        """Check the budgets of a test whose body completed; keep its measurements (already
        summarised: measurements when taken, spans at each exit). ``call_s``: how long the
        call took (the one sample of a test that measured nothing but metrics)."""
        kit = item.stash.get(KIT_KEY, None)
        runtime_metrics = kit.metrics() if kit is not None else {}
        perf = item.stash.get(PERF_KEY, None)
        own_metrics = perf.recorded_metrics if perf is not None else {}
        measures = plan.has_budget or plan.measure.trace_memory
        if not sink and not measures and (own_metrics or plan.metric_budgets):
            from pytest_omniperf.metrics_only import metrics_measurement

            sink.append(metrics_measurement(item.nodeid, plan.measure, call_s))
        for measurement in sink:
            measurement.metrics.update(runtime_metrics)
            measurement.metrics.update(own_metrics)  # the test's own word wins
        item.stash[CONCLUDED_KEY] = sink
        if self._counting_worker:
            return []  # the valgrind run only counts: its parent checks budgets on the counts
        if measures and not sink:
            budget = "latency" if plan.latency else "speedup" if plan.speedup else "memory"
            uses_perf = isinstance(item, pytest.Function) and _uses_perf(item)
            message = NOTHING_MEASURED if uses_perf else BODY_NOT_MEASURED
            return [message.format(budget=budget, test=item.nodeid)]
        if plan.speedup and not any(m.kind == "speedup" for m in sink):
            return [NO_SPEEDUP_MEASURED.format(test=item.nodeid)]
        if plan.blocking and not any(BLOCKING_METRIC in m.metrics for m in sink):
            return [BLOCKING_NOT_MEASURED.format(test=item.nodeid)]
        violations = missing_metric_problems(item.nodeid, plan.metric_budgets, sink)
        for measurement in sink:
            violations += check(measurement, plan.latency, plan.speedup)
            if plan.blocking:
                violations += check_blocking(measurement, plan.blocking)
            violations += check_metric_budgets(measurement, plan.metric_budgets)
            if self.settings.comparing:
                violations += self._compare(measurement, plan)
            self.config.hook.pytest_omniperf_measurement(item=item, measurement=measurement)
            violations += _hook_metric_problems(item.nodeid, measurement)
            self._add_junit_properties(item, measurement)
        return violations

    def _compare(self, measurement: Measurement, plan: MeasurePlan) -> list[str]:
        from pytest_omniperf.report.regression_line import regression_message

        self._run_history().compare(
            measurement, plan.measure.regression, two_stage=measurement.second_batch
        )
        comparison = measurement.comparison
        if self.settings.gate and comparison and comparison.verdict == Verdict.REGRESSED:
            return [regression_message(measurement, comparison)]
        return []

    @staticmethod
    def _add_junit_properties(item: pytest.Item, measurement: Measurement) -> None:
        from pytest_omniperf.report.escape import terminal_text

        # pytest's JUnit XML escapes property values but not names: a control character in a
        # measurement name would make the whole report unparsable for CI
        prefix = f"omniperf.{terminal_text(measurement.name)}"
        item.user_properties += [
            (f"{prefix}.p50_s", measurement.stats["p50"]),
            (f"{prefix}.p95_s", measurement.stats["p95"]),
            (f"{prefix}.verdict", measurement.verdict),
        ]
        if measurement.kind == "speedup":
            item.user_properties.append((f"{prefix}.speedup", measurement.stats["speedup"]))
        comparison = measurement.comparison
        if comparison:
            item.user_properties.append((f"{prefix}.comparison", comparison.verdict.value))
            if comparison.headline:
                item.user_properties.append((f"{prefix}.change", comparison.headline.change))

    # -- safety net -------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        """Take out any patch a measurement left in place before the fixtures (and the loop)
        are torn down: a timeout firing inside a measured body can skip the ``finally`` blocks
        that normally restore asyncio (see :mod:`pytest_omniperf.installed_patches`)."""
        mark = item.stash.get(PATCH_MARK_KEY, None)
        if mark is not None:
            uninstall_since(mark)

    # -- collecting --------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when != "call":
            return report
        if _call_not_wrapped(item) and call.excinfo is None and not self.settings.disabled:
            # perf was first requested inside this test's body, in a session that had no perf
            # test until then: these hooks came too late to wrap the call, so conclude here
            violations = self._conclude(
                item, item.stash[PLAN_KEY], item.stash[SINK_KEY], call.duration
            )
            if violations:
                report.outcome = "failed"
                report.longrepr = "\n".join(violations)
        concluded = item.stash.get(CONCLUDED_KEY, None)
        if concluded:
            setattr(report, REPORT_ATTRIBUTE, [m.to_dict() for m in concluded])
        progress = item.stash.get(PROGRESS_KEY, None)
        if report.failed and progress is not None and call.excinfo is not None:
            _note_where_it_stopped(report, call.excinfo, progress)
        return report


def _call_not_wrapped(item: pytest.Item) -> bool:
    """Was the test prepared (it requested a perf fixture) but its call not measured here?"""
    stash = item.stash
    return PLAN_KEY in stash and PROGRESS_KEY not in stash and CONCLUDED_KEY not in stash


def _uses_perf(item: pytest.Function) -> bool:
    """Does the test measure through the ``perf`` fixture (named, or requested dynamically)?"""
    return "perf" in item.fixturenames or PERF_REQUESTED_KEY in item.stash


def _note_where_it_stopped(
    report: pytest.TestReport, excinfo: pytest.ExceptionInfo[BaseException], progress: CallProgress
) -> None:
    """A failure in the middle of a measurement (a pytest-timeout firing, most often) says how
    far the measurement got: "timed out after 37 of 100 rounds of fetch"."""
    stopped_at = progress.interrupted_measurement()
    if stopped_at is None:
        return
    timed_out = TIMEOUT_MESSAGE_END in str(excinfo.value)
    line = f"omniperf: {'timed out' if timed_out else 'stopped'} {stopped_at}"
    longrepr = report.longrepr
    if isinstance(longrepr, str):
        report.longrepr = f"{longrepr}\n{line}"
    else:
        # a traceback's representation shows added sections below it (pytest's own
        # ExceptionRepr.addsection, which is not public API: found by its method)
        add_section = getattr(longrepr, "addsection", None)
        if callable(add_section):
            add_section("omniperf", line)
