"""A dependency-aware parallel executor: tasks form a DAG and each starts as soon as its own
dependencies are done (no level barriers), under a concurrency limit.

Built on the standard library: ``graphlib.TopologicalSorter`` hands out ready tasks as others
finish, ``asyncio.TaskGroup`` runs them and cancels everything cleanly. A failed or timed-out
task marks its dependents ``skipped`` and the rest goes on. In sequential mode (the baseline
rounds of a speedup measurement) tasks run one at a time in topological order, so
``@pytest.mark.speedup`` works on code that uses the executor without any change.

Each run reports wall time, work (sum of task durations), critical path, achieved speedup
(work / wall), the ideal (work / critical path, bounded by the concurrency limit) and
efficiency (achieved / ideal), and the dependency levels for display.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import graphlib
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_omniperf.mode import Mode, current_mode
from pytest_omniperf.runtime.trace import Recorder, Span, current_recorder, now

TaskFunction = Callable[..., Awaitable[Any]]

OK, FAILED, TIMED_OUT, SKIPPED = "ok", "failed", "timeout", "skipped"


class PlanError(ValueError):
    """The plan cannot run: a cycle, an unknown dependency, or a bad task."""


@dataclass(frozen=True, slots=True)
class Step:
    """A task of a plan: ``function(*results_of_dependencies)`` in the order of ``after``."""

    function: TaskFunction
    after: tuple[str, ...] = ()
    timeout_s: float | None = None


@dataclass(frozen=True)
class Plan:
    """A validated DAG of steps."""

    steps: Mapping[str, Step]
    levels: tuple[tuple[str, ...], ...]
    """Names by dependency depth: what could run together with unlimited concurrency."""
    dependents: Mapping[str, tuple[str, ...]]
    """The steps waiting for each step."""


@dataclass(slots=True)
class TaskOutcome:
    name: str
    status: str
    result: Any = None
    error: BaseException | None = None
    start: float = 0.0
    end: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass
class RunReport:
    """What one run of a plan did and how well it used parallelism.

    Work and critical path are worked out when first read (by the metrics at the end of a test,
    usually), not after every run: each is a pass over all the steps."""

    outcomes: dict[str, TaskOutcome]
    wall_s: float
    max_concurrency: int | None
    plan: Plan = field(repr=False)
    mode: str

    @property
    def levels(self) -> tuple[tuple[str, ...], ...]:
        return self.plan.levels

    @functools.cached_property
    def work_s(self) -> float:
        """The step durations added up (skipped steps did no work)."""
        return math.fsum(o.duration_s for o in self.outcomes.values() if o.status != SKIPPED)

    @functools.cached_property
    def critical_path_s(self) -> float:
        """The longest chain of measured step durations through the DAG."""
        return _critical_path(self.plan, self.outcomes)

    @property
    def results(self) -> dict[str, Any]:
        return {name: o.result for name, o in self.outcomes.items() if o.status == OK}

    def names(self, status: str) -> list[str]:
        return [name for name, outcome in self.outcomes.items() if outcome.status == status]

    @property
    def achieved_speedup(self) -> float:
        return self.work_s / self.wall_s if self.wall_s > 0 else 1.0

    @property
    def ideal_speedup(self) -> float:
        if self.critical_path_s <= 0:
            return 1.0
        ideal = self.work_s / self.critical_path_s
        return min(ideal, self.max_concurrency) if self.max_concurrency else ideal

    @property
    def efficiency(self) -> float:
        return self.achieved_speedup / self.ideal_speedup if self.ideal_speedup > 0 else 1.0


@dataclass
class ExecutorStats:
    runs: int = 0
    tasks: int = 0
    failed: int = 0
    skipped: int = 0
    timed_out: int = 0


@dataclass
class Executor:
    """Runs plans of async steps with dependencies. See the module docstring."""

    max_concurrency: int | None = None
    default_timeout_s: float | None = None
    recorder: Recorder | None = None
    name: str = "executor"
    last: RunReport | None = field(default=None, init=False)
    last_parallel: RunReport | None = field(default=None, init=False)
    """The last run in parallel mode: what the metrics describe, also during a speedup."""
    stats: ExecutorStats = field(default_factory=ExecutorStats, init=False)
    _planned: tuple[Mapping[str, Any], tuple[tuple[str, Any], ...], Plan] | None = field(
        default=None, init=False, repr=False
    )
    """The step mapping last planned by :meth:`run`, its items then, and its plan."""

    def __post_init__(self) -> None:
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {self.max_concurrency}")

    def plan(
        self, steps: Mapping[str, Step | TaskFunction | tuple[TaskFunction, tuple[str, ...]]]
    ) -> Plan:
        """Validate steps (a ``Step``, a function, or ``(function, dependencies)`` each)."""
        normalized = {name: _as_step(name, value) for name, value in steps.items()}
        # Kahn's algorithm, one pass: linear in steps + dependencies, whatever the depth; each
        # step's level (dependency depth) is known when it is reached
        dependents: dict[str, list[str]] = {name: [] for name in normalized}
        waiting_for: dict[str, int] = {}
        depth: dict[str, int] = {}
        ready: list[str] = []
        for name, step in normalized.items():
            for dependency in step.after:
                if dependency not in dependents:
                    raise PlanError(f"step {name!r} depends on unknown step {dependency!r}")
                dependents[dependency].append(name)
            waiting_for[name] = len(step.after)
            if not step.after:
                ready.append(name)
                depth[name] = 0
        levels: list[list[str]] = []
        for name in ready:  # grows while it is walked
            level = depth[name]
            if level == len(levels):
                levels.append([])
            levels[level].append(name)
            for dependent in dependents[name]:
                waiting_for[dependent] -= 1
                if depth.get(dependent, -1) <= level:
                    depth[dependent] = level + 1
                if waiting_for[dependent] == 0:
                    ready.append(dependent)
        if len(ready) < len(normalized):
            raise PlanError(f"the plan has a cycle: {_cycle(normalized)}")
        return Plan(
            steps=normalized,
            levels=tuple(tuple(names) for names in levels),
            dependents={name: tuple(names) for name, names in dependents.items()},
        )

    async def run(self, plan: Plan | Mapping[str, Any]) -> RunReport:
        """Run a plan; returns its report (also kept as ``executor.last``)."""
        if not isinstance(plan, Plan):
            plan = self._plan_of(plan)
        recorder = self.recorder or current_recorder()
        started = now()
        sequential = current_mode() is Mode.SEQUENTIAL
        run = _PlanRun(self, plan, recorder)
        if sequential:
            await run.in_order()
        else:
            await run.as_ready()
        outcomes = run.outcomes
        report = RunReport(
            outcomes=outcomes,
            wall_s=now() - started,
            max_concurrency=self.max_concurrency,
            plan=plan,
            mode="sequential" if sequential else "parallel",
        )
        recorder.record(
            Span(
                f"{self.name}.run",
                started,
                started + report.wall_s,
                attributes={"tasks": len(outcomes)},
            )
        )
        self._count(run)
        self.last = report
        if not sequential:
            self.last_parallel = report
        return report

    def _plan_of(self, steps: Mapping[str, Any]) -> Plan:
        """The plan of ``steps``, validated again only when they are not the mapping planned
        last time with the same items (a step dict reused round after round is planned once)."""
        items = tuple(steps.items())
        planned = self._planned
        # compared item by item, by identity first: linear, and far cheaper than planning
        if planned is not None and planned[0] is steps and planned[1] == items:
            return planned[2]
        plan = self.plan(steps)
        self._planned = (steps, items, plan)
        return plan

    def _count(self, run: _PlanRun) -> None:
        self.stats.runs += 1
        self.stats.tasks += len(run.outcomes)
        self.stats.failed += run.problems[FAILED]
        self.stats.timed_out += run.problems[TIMED_OUT]
        self.stats.skipped += run.problems[SKIPPED]

    def metrics(self) -> dict[str, float]:
        """Figures of the last parallel run (else the last run) for the test's measurements."""
        report = self.last_parallel or self.last
        if report is None:
            return {}
        return {
            f"{self.name}.wall_s": report.wall_s,
            f"{self.name}.work_s": report.work_s,
            f"{self.name}.critical_path_s": report.critical_path_s,
            f"{self.name}.achieved_speedup": report.achieved_speedup,
            f"{self.name}.ideal_speedup": report.ideal_speedup,
            f"{self.name}.efficiency": report.efficiency,
            f"{self.name}.failed": float(self.stats.failed),
            f"{self.name}.skipped": float(self.stats.skipped),
        }


class _PlanRun:
    """One run of a plan: its outcomes so far, and how each step is executed.

    The loop's clock, the recorder and the span names are looked up once per run, not once per
    step: the per-step work is the executor's overhead over a bare ``asyncio`` DAG.
    """

    __slots__ = (
        "clock",
        "default_timeout_s",
        "limit",
        "outcomes",
        "plan",
        "prefix",
        "problems",
        "recorder",
    )

    def __init__(self, executor: Executor, plan: Plan, recorder: Recorder) -> None:
        self.plan = plan
        self.recorder = recorder
        self.outcomes: dict[str, TaskOutcome] = {}
        self.problems: collections.Counter[str] = collections.Counter()
        """Steps that failed, timed out or were skipped, counted as they end (no pass after)."""
        self.clock: Callable[[], float] = asyncio.get_running_loop().time
        self.prefix = executor.name + "."
        self.default_timeout_s = executor.default_timeout_s
        limit = executor.max_concurrency
        self.limit = asyncio.Semaphore(limit) if limit else None

    async def in_order(self) -> None:
        for level in self.plan.levels:
            for name in level:
                await self.execute(name, None)

    async def as_ready(self) -> None:
        plan = self.plan
        # the plan is validated (it has no cycle): counting unfinished dependencies is enough to
        # know what is ready, without sorting again on every run
        waiting_for = {name: len(step.after) for name, step in plan.steps.items()}
        dependents = plan.dependents

        async with asyncio.TaskGroup() as group:

            def finished(name: str) -> None:
                # each finished step launches what it unblocked: no level barrier, no central loop
                for dependent in dependents[name]:
                    waiting_for[dependent] -= 1
                    if waiting_for[dependent] == 0:
                        group.create_task(self.execute(dependent, finished))

            for name, count in waiting_for.items():
                if count == 0:
                    group.create_task(self.execute(name, finished))

    async def execute(self, name: str, finished: Callable[[str], None] | None) -> None:
        """Run one step, store its outcome, and tell ``finished`` (which launches dependents).

        One coroutine a step, kept flat on purpose: this is the executor's per-task overhead.
        """
        step = self.plan.steps[name]
        clock = self.clock
        outcomes = self.outcomes
        arguments: list[Any] = []
        for dependency in step.after:
            before = outcomes[dependency]
            if before.status != OK:
                moment = clock()
                span = Span(self.prefix + name, moment, moment, SKIPPED, f"after {dependency}")
                self.recorder.record(span)
                outcomes[name] = TaskOutcome(name, SKIPPED, start=moment, end=moment)
                self.problems[SKIPPED] += 1
                if finished is not None:
                    finished(name)
                return
            arguments.append(before.result)
        timeout_s = step.timeout_s if step.timeout_s is not None else self.default_timeout_s
        limit = self.limit
        if limit is not None:
            await limit.acquire()
        started = clock()
        try:
            if timeout_s is None:
                result = await step.function(*arguments)
            else:
                async with asyncio.timeout(timeout_s):
                    result = await step.function(*arguments)
        except TimeoutError as error:
            outcome = TaskOutcome(name, TIMED_OUT, error=error, start=started, end=clock())
        except Exception as error:  # isolated: dependents are skipped, the rest goes on
            outcome = TaskOutcome(name, FAILED, error=error, start=started, end=clock())
        else:
            outcome = TaskOutcome(name, OK, result, None, started, clock())
        finally:
            if limit is not None:
                limit.release()
        if outcome.error is None:
            self.recorder.record(Span(self.prefix + name, started, outcome.end))
        else:
            self.problems[outcome.status] += 1
            error_text = f"{type(outcome.error).__name__}: {outcome.error}"
            self.recorder.record(
                Span(self.prefix + name, started, outcome.end, "error", error_text)
            )
        outcomes[name] = outcome
        if finished is not None:
            finished(name)


def _as_step(name: str, value: Any) -> Step:
    if type(value) is tuple and len(value) == 2:  # the common form first: (function, after)
        step = Step(value[0], value[1] if type(value[1]) is tuple else tuple(value[1]))
    elif isinstance(value, Step):
        step = value
    elif isinstance(value, tuple) and len(value) == 2:
        step = Step(value[0], tuple(value[1]))
    elif callable(value):
        step = Step(value)
    else:
        raise PlanError(
            f"step {name!r}: expected a Step, an async function or (function, dependencies)"
        )
    if not callable(step.function):
        raise PlanError(f"step {name!r}: {step.function!r} is not callable")
    if step.timeout_s is not None and step.timeout_s <= 0:
        raise PlanError(f"step {name!r}: timeout_s must be positive, got {step.timeout_s}")
    return step


def _cycle(steps: Mapping[str, Step]) -> str:
    """A cycle of ``steps`` (which have one), for the error: ``a -> b -> a``."""
    sorter = graphlib.TopologicalSorter({name: step.after for name, step in steps.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        return " -> ".join(error.args[1])
    raise AssertionError("no cycle found")  # pragma: no cover - called only for a cycle


def _critical_path(plan: Plan, outcomes: Mapping[str, TaskOutcome]) -> float:
    """Longest chain of measured task durations through the DAG."""
    longest: dict[str, float] = {}
    for level in plan.levels:
        for name in level:
            after = plan.steps[name].after
            before = max([longest[d] for d in after]) if after else 0.0
            outcome = outcomes.get(name)
            longest[name] = before + (outcome.duration_s if outcome else 0.0)
    return max(longest.values(), default=0.0)
