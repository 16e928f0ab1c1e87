"""Hooks that measure perf tests: plan at setup, measure during the call, check budgets.

Registered by the session only when collection found a perf test (a perf marker or the ``perf``
fixture), so a suite without any pays nothing per test.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from pytest_omniperf.budgets import check
from pytest_omniperf.measurement import REGRESSED, Measurement
from pytest_omniperf.runtime.kit import RuntimeKit
from pytest_omniperf.runtime.trace import Recorder, use_recorder
from pytest_omniperf.session import PERF_FIXTURES, PERF_MARKERS, REPORT_ATTRIBUTE, OmniperfSession
from pytest_omniperf.settings import MergedMarker, SettingError, TestPlan, resolve_test_plan

if TYPE_CHECKING:
    from pytest_omniperf.measure import Confirm, Perf

PLAN_KEY = pytest.StashKey[TestPlan]()
SINK_KEY = pytest.StashKey[list[Measurement]]()
CONCLUDED_KEY = pytest.StashKey[list[Measurement]]()
RECORDER_KEY = pytest.StashKey[Recorder]()
KIT_KEY = pytest.StashKey[RuntimeKit]()

NOTHING_MEASURED = (
    "{budget} budget cannot be evaluated: {test} uses the perf fixture but measured nothing "
    "(call perf.measure, perf.speedup or perf.span, or drop the perf fixture to time the test body)"
)
NO_SPEEDUP_MEASURED = (
    "speedup budget cannot be evaluated: {test} measured nothing in both modes; "
    "use perf.speedup(fn) instead of perf.measure(fn)"
)
VIRTUAL_ON_SYNC_TEST = (
    "@pytest.mark.omniperf(clock='virtual') on {test}: the virtual clock runs on the event loop "
    "and needs an async test (async def); use clock='real' for synchronous tests"
)


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
        marks = {name: MergedMarker.merge(list(item.iter_markers(name))) for name in PERF_MARKERS}
        if not any(marks.values()) and PERF_FIXTURES.isdisjoint(item.fixturenames):
            return
        try:
            plan = resolve_test_plan(item.nodeid, self.settings, **marks)
        except SettingError as error:
            pytest.fail(str(error), pytrace=False)
        measure = plan.measure
        if (
            measure.clock == "virtual"
            and measure.clock_from_marker
            and "perf" not in item.fixturenames
            and not inspect.iscoroutinefunction(item.obj)
        ):
            pytest.fail(VIRTUAL_ON_SYNC_TEST.format(test=item.nodeid), pytrace=False)
        item.stash[PLAN_KEY] = plan
        item.stash[SINK_KEY] = []
        item.stash[RECORDER_KEY] = Recorder(item.nodeid)

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
            return measurement.comparison_verdict == REGRESSED

        return looks_regressed

    # -- measuring ---------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        plan = item.stash.get(PLAN_KEY, None)
        if plan is None or self.settings.disabled:
            return (yield)
        assert isinstance(item, pytest.Function)  # plans are only made for functions
        sink = item.stash[SINK_KEY]
        with use_recorder(item.stash[RECORDER_KEY]):
            if not plan.markers or "perf" in item.fixturenames:
                result = yield  # measured by the perf fixture, or not at all
            else:
                from pytest_omniperf.body import measured_body

                test_function = item.obj
                item.obj = measured_body(
                    test_function, item.nodeid, plan, sink, confirm=self._confirmer(plan)
                )
                try:
                    result = yield
                finally:
                    item.obj = test_function
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
            return [NOTHING_MEASURED.format(budget=budget, test=item.nodeid)]
        if plan.speedup and not any(m.kind == "speedup" for m in sink):
            return [NO_SPEEDUP_MEASURED.format(test=item.nodeid)]
        violations: list[str] = []
        for measurement in sink:
            violations += check(measurement, plan.latency, plan.speedup)
            if self.settings.comparing:
                violations += self._compare(measurement, plan)
            self._add_junit_properties(item, measurement)
            self.config.hook.pytest_omniperf_measurement(item=item, measurement=measurement)
        return violations

    def _compare(self, measurement: Measurement, plan: TestPlan) -> list[str]:
        from pytest_omniperf.history.compare import regression_message
        from pytest_omniperf.measure import REMEASURED_METRIC

        remeasured = bool(measurement.metrics.get(REMEASURED_METRIC))
        self.session.run_history.compare(measurement, plan.measure.regression, two_stage=remeasured)
        if self.settings.gate and measurement.comparison_verdict == REGRESSED:
            return [regression_message(measurement)]
        return []

    @staticmethod
    def _add_junit_properties(item: pytest.Item, measurement: Measurement) -> None:
        prefix = f"omniperf.{measurement.name}"
        item.user_properties += [
            (f"{prefix}.p50_s", measurement.stats["p50"]),
            (f"{prefix}.p95_s", measurement.stats["p95"]),
            (f"{prefix}.verdict", measurement.verdict),
        ]
        if measurement.kind == "speedup":
            item.user_properties.append((f"{prefix}.speedup", measurement.stats["speedup"]))
        if measurement.comparison:
            item.user_properties.append((f"{prefix}.comparison", measurement.comparison["verdict"]))
            if "change" in measurement.comparison:
                item.user_properties.append((f"{prefix}.change", measurement.comparison["change"]))

    # -- collecting --------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        concluded = item.stash.get(CONCLUDED_KEY, None)
        if call.when == "call" and concluded:
            setattr(report, REPORT_ATTRIBUTE, [m.to_dict() for m in concluded])
        return report
