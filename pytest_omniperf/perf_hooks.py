"""Hooks that measure perf tests: plan at setup, measure during the call, check budgets.

Registered by the session only when collection found a perf test (a perf marker or the ``perf``
fixture), so a suite without any pays nothing per test.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

from pytest_omniperf.budgets import BLOCKING_NOT_MEASURED, check, check_blocking
from pytest_omniperf.comparison import Verdict
from pytest_omniperf.installed_patches import checkpoint, uninstall_since
from pytest_omniperf.loop_steps import UnsupportedLoopError
from pytest_omniperf.measurement import BLOCKING_METRIC, Measurement
from pytest_omniperf.runtime.kit import RuntimeKit
from pytest_omniperf.runtime.trace import Recorder, use_recorder
from pytest_omniperf.session import PERF_FIXTURES, PERF_MARKERS, REPORT_ATTRIBUTE, OmniperfSession
from pytest_omniperf.settings import SettingError, TestPlan, resolve_test_plan
from pytest_omniperf.values import as_float, shown, storable_text

if TYPE_CHECKING:
    from pytest_omniperf.measure import Confirm, Perf

PLAN_KEY = pytest.StashKey[TestPlan]()
SINK_KEY = pytest.StashKey[list[Measurement]]()
CONCLUDED_KEY = pytest.StashKey[list[Measurement]]()
RECORDER_KEY = pytest.StashKey[Recorder]()
KIT_KEY = pytest.StashKey[RuntimeKit]()
PATCH_MARK_KEY = pytest.StashKey[int]()

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
    def __init__(self, session: OmniperfSession) -> None:
        self.session = session
        self.config = session.config
        self.settings = session.settings

    # -- which tests, and how ----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if not isinstance(item, pytest.Function):
            return
        # closest first: function and pytest.param marks, then class, then module
        marks = {name: list(item.iter_markers(name)) for name in PERF_MARKERS}
        if not any(marks.values()) and PERF_FIXTURES.isdisjoint(item.fixturenames):
            return
        # an earlier attempt of this item (pytest-rerunfailures) leaves nothing behind
        if CONCLUDED_KEY in item.stash:
            del item.stash[CONCLUDED_KEY]
        if KIT_KEY in item.stash:
            del item.stash[KIT_KEY]
        try:
            plan = resolve_test_plan(item.nodeid, self.settings, **marks)
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
        item.stash[PLAN_KEY] = plan
        item.stash[SINK_KEY] = []
        item.stash[RECORDER_KEY] = Recorder(item.nodeid)

    def _body_timed_with_benchmark(self, item: pytest.Function, plan: TestPlan) -> bool:
        """Would the plugin call the body of a test that uses pytest-benchmark's fixture more
        than once? Checked before fixtures are set up, so pytest-benchmark has nothing to warn
        about."""
        if not plan.markers or "perf" in item.fixturenames or self.settings.disabled:
            return False
        if "benchmark" not in item.fixturenames:
            return False
        return any(
            getattr(plugin, "__name__", "") == "pytest_benchmark.plugin"
            for plugin in self.config.pluginmanager.get_plugins()
        )

    def runtime_for(self, item: pytest.Item) -> RuntimeKit:
        """The primitives of ``item``, bound to its recorder (the ``perf_*`` fixtures)."""
        kit = item.stash.get(KIT_KEY, None)
        if kit is None:
            kit = item.stash[KIT_KEY] = RuntimeKit(item.stash[RECORDER_KEY])
        return kit

    def perf_for(self, item: pytest.Item) -> Perf:
        """The ``perf`` fixture's object for ``item``."""
        from pytest_omniperf.measure import Perf

        plan = item.stash[PLAN_KEY]
        return Perf(
            item.nodeid,
            plan.measure,
            disabled=self.settings.disabled,
            sink=item.stash[SINK_KEY],
            confirm=self._confirmer(plan),
        )

    def _confirmer(self, plan: TestPlan) -> Confirm | None:
        """When comparing: a check that a fresh measurement looks regressed (see
        :func:`pytest_omniperf.measure.needs_confirmation`)."""
        threshold = plan.measure.regression
        if not self.settings.comparing or threshold is None:
            return None
        run_history = self.session.run_history

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
        with use_recorder(item.stash[RECORDER_KEY]), _refusals_in_one_line(item.nodeid):
            if not plan.markers or "perf" in item.fixturenames:
                result = yield  # measured by the perf fixture, or not at all
            else:
                from pytest_omniperf.body import measured_body

                test_function = item.obj
                item.obj = measured_body(
                    test_function, item.nodeid, plan, sink, confirm=self._confirmer(plan)
                )
                # unittest runs async test methods by looking them up on the test case itself
                test_case = _unittest_case(item)
                if test_case is not None:
                    setattr(test_case, item.name, item.obj)
                try:
                    result = yield
                finally:
                    item.obj = test_function
                    if test_case is not None:
                        vars(test_case).pop(item.name, None)
        violations = self._conclude(item, plan, sink)
        if violations:
            pytest.fail("\n".join(violations), pytrace=False)
        return result

    def _conclude(self, item: pytest.Item, plan: TestPlan, sink: list[Measurement]) -> list[str]:
        """Check the budgets of a test whose body completed; keep its measurements (already
        summarised: measurements when taken, spans at each exit)."""
        kit = item.stash.get(KIT_KEY, None)
        runtime_metrics = kit.metrics() if kit is not None else {}
        for measurement in sink:
            measurement.metrics.update(runtime_metrics)
        item.stash[CONCLUDED_KEY] = sink
        if self.session.counting_worker:
            return []  # the valgrind run only counts: its parent checks budgets on the counts
        if plan.has_budget and not sink:
            budget = "latency" if plan.latency else "speedup"
            uses_perf = "perf" in getattr(item, "fixturenames", ())
            message = NOTHING_MEASURED if uses_perf else BODY_NOT_MEASURED
            return [message.format(budget=budget, test=item.nodeid)]
        if plan.speedup and not any(m.kind == "speedup" for m in sink):
            return [NO_SPEEDUP_MEASURED.format(test=item.nodeid)]
        if plan.blocking and not any(BLOCKING_METRIC in m.metrics for m in sink):
            return [BLOCKING_NOT_MEASURED.format(test=item.nodeid)]
        violations: list[str] = []
        for measurement in sink:
            violations += check(measurement, plan.latency, plan.speedup)
            if plan.blocking:
                violations += check_blocking(measurement, plan.blocking)
            if self.settings.comparing:
                violations += self._compare(measurement, plan)
            self.config.hook.pytest_omniperf_measurement(item=item, measurement=measurement)
            violations += _hook_metric_problems(item.nodeid, measurement)
            self._add_junit_properties(item, measurement)
        return violations

    def _compare(self, measurement: Measurement, plan: TestPlan) -> list[str]:
        from pytest_omniperf.history.compare import regression_message
        from pytest_omniperf.measure import REMEASURED_METRIC

        remeasured = bool(measurement.metrics.get(REMEASURED_METRIC))
        self.session.run_history.compare(measurement, plan.measure.regression, two_stage=remeasured)
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
        concluded = item.stash.get(CONCLUDED_KEY, None) if call.when == "call" else None
        if concluded:
            setattr(report, REPORT_ATTRIBUTE, [m.to_dict() for m in concluded])
        return report
