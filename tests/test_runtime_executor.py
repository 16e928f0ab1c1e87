"""The DAG executor, exact on the virtual clock."""

from __future__ import annotations

import asyncio

import pytest
from virtual_time import ratio, simulated

from pytest_omniperf import Mode, use_mode, virtual_clock
from pytest_omniperf.runtime import Executor, PlanError, Recorder, Step


def sleeper(seconds, value=None, log=None, name=None):
    async def step(*dependencies):
        if log is not None:
            log.append(("start", name, asyncio.get_running_loop().time()))
        await asyncio.sleep(seconds)
        return value if value is not None else dependencies

    return step


@pytest.mark.asyncio
async def test_dependencies_pass_results_and_no_level_barrier():
    log = []
    executor = Executor()
    plan = executor.plan(
        {
            "fast": sleeper(1, "f", log, "fast"),
            "slow": sleeper(5, "s", log, "slow"),
            "after_fast": Step(sleeper(1, None, log, "after_fast"), after=("fast",)),
            "join": Step(sleeper(1, None, log, "join"), after=("slow", "after_fast")),
        }
    )
    with virtual_clock() as clock:
        start = clock.now()
        report = await executor.run(plan)
    starts = {name: moment - start for _, name, moment in log}
    assert starts["after_fast"] == simulated(1.0)  # did not wait for the slow task of its level
    assert starts["join"] == simulated(5.0)
    assert report.results["after_fast"] == ("f",)
    assert report.results["join"] == ("s", ("f",))
    assert (report.wall_s, report.work_s, report.critical_path_s) == (
        simulated(6.0),
        simulated(8.0),
        simulated(6.0),
    )
    assert report.achieved_speedup == ratio(8 / 6)
    assert report.efficiency == ratio(1.0)
    assert report.levels == (("fast", "slow"), ("after_fast",), ("join",))


@pytest.mark.asyncio
async def test_concurrency_limit_bounds_the_ideal():
    executor = Executor(max_concurrency=2)
    with virtual_clock():
        report = await executor.run({f"t{i}": sleeper(1, i) for i in range(4)})
    assert report.wall_s == simulated(2.0)
    assert report.ideal_speedup == 2.0  # work 4 / critical path 1, bounded by the limit
    assert report.efficiency == ratio(1.0)


@pytest.mark.asyncio
async def test_sequential_mode_runs_one_at_a_time_in_topological_order():
    log = []
    executor = Executor()
    plan = executor.plan(
        {
            "a": sleeper(1, 1, log, "a"),
            "b": sleeper(1, 2, log, "b"),
            "c": Step(sleeper(1, 3, log, "c"), after=("a", "b")),
        }
    )
    with virtual_clock(), use_mode(Mode.SEQUENTIAL):
        report = await executor.run(plan)
    assert report.wall_s == simulated(3.0) and report.mode == "sequential"
    assert [name for _, name, _ in log] == ["a", "b", "c"]


@pytest.mark.asyncio
async def test_failure_and_timeout_skip_dependents_only():
    async def boom():
        raise ValueError("no data")

    executor = Executor(default_timeout_s=10)
    plan = executor.plan(
        {
            "broken": boom,
            "hangs": Step(sleeper(60), timeout_s=2),
            "ok": sleeper(1, "fine"),
            "needs_broken": Step(sleeper(1), after=("broken",)),
            "needs_hangs": Step(sleeper(1), after=("hangs",)),
            "needs_needs": Step(sleeper(1), after=("needs_broken",)),
        }
    )
    with virtual_clock() as clock:
        started = clock.now()
        report = await executor.run(plan)
        assert clock.now() - started == simulated(2.0)
    assert report.names("failed") == ["broken"]
    assert report.names("timeout") == ["hangs"]
    assert sorted(report.names("skipped")) == ["needs_broken", "needs_hangs", "needs_needs"]
    assert report.results == {"ok": "fine"}
    assert isinstance(report.outcomes["broken"].error, ValueError)
    assert executor.stats.failed == 1 and executor.stats.skipped == 3


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ({"a": ("f", ("b",)), "b": ("f", ("a",))}, "the plan has a cycle: "),
        ({"a": ("f", ("ghost",))}, "step 'a' depends on unknown step 'ghost'"),
        ({"a": 42}, "step 'a': expected a Step"),
    ],
)
async def test_bad_plans_fail_before_anything_runs(steps, message):
    async def f(*_):
        raise AssertionError("must not run")

    resolved = {k: ((f, v[1]) if isinstance(v, tuple) else v) for k, v in steps.items()}
    with pytest.raises(PlanError, match=message):
        await Executor().run(resolved)


@pytest.mark.asyncio
async def test_cancellation_cancels_every_running_task():
    cancelled = []

    async def long(name):
        try:
            await asyncio.sleep(100)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    executor = Executor()
    with virtual_clock():
        task = asyncio.create_task(executor.run({"a": lambda: long("a"), "b": lambda: long("b")}))
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert sorted(cancelled) == ["a", "b"]


@pytest.mark.asyncio
async def test_spans_and_metrics():
    recorder = Recorder()
    executor = Executor(recorder=recorder)
    with virtual_clock():
        await executor.run({"a": sleeper(2, 1), "b": sleeper(1, 2)})
    names = sorted(span.name for span in recorder.spans)
    assert names == ["executor.a", "executor.b", "executor.run"]
    metrics = executor.metrics()
    assert metrics["executor.efficiency"] == ratio(1.0)
    assert metrics["executor.achieved_speedup"] == ratio(1.5)
    assert metrics["executor.critical_path_s"] == simulated(2.0)


@pytest.mark.asyncio
async def test_deep_chains_plan_in_one_pass_with_every_level():
    """A 10,000-step chain (planning was quadratic in its depth) gets one level per step, and a
    diamond's join waits for its deepest branch."""

    async def step(*_):
        return None

    chain = {f"t{i}": (step, (f"t{i - 1}",) if i else ()) for i in range(10_000)}
    plan = Executor().plan(chain)
    assert len(plan.levels) == 10_000 and plan.levels[-1] == ("t9999",)
    diamond = Executor().plan(
        {"a": step, "b": (step, ("a",)), "c": (step, ("b",)), "d": (step, ("a", "c"))}
    )
    assert diamond.levels == (("a",), ("b",), ("c",), ("d",))
    assert diamond.dependents["a"] == ("b", "d")


@pytest.mark.asyncio
async def test_a_reused_step_dict_is_planned_once_and_again_when_it_changes(monkeypatch):
    executor = Executor()
    planned = []
    plan = executor.plan
    monkeypatch.setattr(executor, "plan", lambda steps: planned.append(1) or plan(steps))

    async def step(*_):
        return 1

    steps = {"a": step, "b": (step, ("a",))}
    await executor.run(steps)
    await executor.run(steps)
    assert len(planned) == 1
    steps["c"] = (step, ("b",))
    report = await executor.run(steps)
    assert len(planned) == 2 and report.results == {"a": 1, "b": 1, "c": 1}
    await executor.run(dict(steps))  # an equal but other dict: planned (it may change later)
    assert len(planned) == 3
