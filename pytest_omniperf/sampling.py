"""Running a workload for warmup + timed rounds: one workload, or arms measured interleaved.

An arm is one way of doing the work, measured beside the others (sequential and parallel mode of
the same call, two variants behind a feature flag): each round runs every arm once, in the
order of :func:`pytest_omniperf.arms.round_order` (ABBA), so drift of the machine during the
measurement hits every arm alike. The inner loops are kept bare (clock reads before and after
each call; between calls, a count on the test's progress when it is followed: see
:mod:`pytest_omniperf.round_progress`), so the per-round overhead stays well under a microsecond.
Async rounds also read the loop's busy time (see :mod:`pytest_omniperf.loop_steps`), label the
round with its arm and end the loop's running step at each round boundary, so the longest step
of the loop is traced to the round (and arm) it ran in, even for a workload that never yields to
the loop.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pytest_omniperf.arms import round_order
from pytest_omniperf.clock import REAL_WAIT_GRACE_S, Clock, RealClock, VirtualClock, clock_for
from pytest_omniperf.cpu_clock import CPU_CLOCK, CpuClock, cpu_and_run_queue_s, cpu_share_since
from pytest_omniperf.installed_patches import register, unregister
from pytest_omniperf.loop_steps import (
    UNSUPPORTED_LOOP,
    LoopSteps,
    SlowStep,
    UnsupportedLoopError,
    describe_workload,
    loop_class_name,
    loop_steps,
    unsupported_reason,
)
from pytest_omniperf.mode import Mode, serialized_concurrency, use_mode
from pytest_omniperf.round_progress import RoundMeter

SyncCall = Callable[[], Any]
AsyncCall = Callable[[], Awaitable[Any]]

HORIZON_MESSAGE = (
    "workload did not finish within the virtual-clock horizon of {horizon:g} s "
    "(it waits for something that never happens, or loops forever); "
    "if it is really that long, raise it with @pytest.mark.omniperf(horizon=...)"
)
GAVE_UP_REAL_WAIT = (
    "; it had waited {grace:g} s of real time, with no timer pending, for something outside "
    "the loop that the virtual clock cannot trace (a thread calling call_soon_threadsafe, a "
    "socket's answer, a child process): measure such real waits on the real clock"
)

# The context of an arm that runs its call as written (a variant): entered and left per call,
# one shared instance, so a round allocates nothing for it.
_AS_WRITTEN: AbstractContextManager[None] = nullcontext()


class Arm(NamedTuple):
    """One way of doing the work, measured interleaved with the others."""

    name: str
    call: Callable[[], Any]
    mode: Mode | None = None
    """The mode its calls run in (the arms of a speedup); None: as written (a variant)."""

    @property
    def round_label(self) -> str:
        """How a round of this arm is named where a blocking step is traced to it."""
        return f"{self.mode.value} mode" if self.mode is not None else self.name


def mode_arms(call: Callable[[], Any]) -> tuple[Arm, Arm]:
    """The arms of a speedup: the same call in sequential mode (baseline), then parallel."""
    return (
        Arm(Mode.SEQUENTIAL.value, call, Mode.SEQUENTIAL),
        Arm(Mode.PARALLEL.value, call, Mode.PARALLEL),
    )


def _arm_context(arm: Arm) -> AbstractContextManager[None]:
    return _AS_WRITTEN if arm.mode is None else use_mode(arm.mode)


class VirtualHorizonExceeded(RuntimeError):
    """A round on the virtual clock ran past the horizon: the workload never finishes."""


@dataclass
class Sampled:
    """Raw timings of one measurement and the last result of the workload."""

    clock: str
    samples_s: list[float]
    """One workload's samples; of arms measured interleaved, the candidate's (the last arm)."""
    sequential_samples_s: list[float] = field(default_factory=list)
    """Of arms measured interleaved, the baseline's (the first arm); named for the sequential
    arm of a speedup, which it was before variants."""
    wall_s: float = 0.0
    cpu_share: float | None = None
    """How CPU-bound the workload was (real clock; see cpu_clock.cpu_share_since)."""
    result: Any = None
    """The workload's last result; of arms, the candidate's."""
    busy_s: list[float] = field(default_factory=list)
    """The loop's busy time in each round of ``samples_s`` (async workloads on a timed loop)."""
    longest_step: SlowStep | None = None
    """The longest single step of the loop in any timed round, when the loop was timed."""
    arms: list[str] = field(default_factory=list)
    """The names of arms measured interleaved, baseline first, candidate last; else empty."""
    arm_samples_s: list[list[float]] = field(default_factory=list)
    """The samples of each arm, in the order of ``arms``."""

    @property
    def samples_by_arm(self) -> dict[str, list[float]]:
        return dict(zip(self.arms, self.arm_samples_s, strict=True))


def _sampled_arms(
    clock: Clock,
    arms: Sequence[Arm],
    samples: list[list[float]],
    results: list[Any],
    busy_s: list[float] | None = None,
) -> Sampled:
    return Sampled(
        clock.name,
        samples[-1],
        samples[0],
        result=results[-1],
        busy_s=busy_s or [],
        arms=[arm.name for arm in arms],
        arm_samples_s=samples,
    )


def _orders(arms: Sequence[Arm]) -> tuple[list[int], list[int]]:
    """The positions of the arms in even and odd rounds, worked out once: the rounds then
    allocate nothing to know their order."""
    positions = list(range(len(arms)))
    return round_order(0, positions), round_order(1, positions)


# -- synchronous workloads ---------------------------------------------------------------------


def sample_sync(
    workload: SyncCall | Sequence[Arm],
    rounds: int,
    warmup: int,
    *,
    clock: str = "real",
    meter: RoundMeter | None = None,
) -> Sampled:
    """Time a synchronous callable, or arms measured interleaved (a sequence of
    :class:`Arm`), on the real clock (or the cpu clock: thread CPU time)."""
    cpu_started = cpu_and_run_queue_s()
    wall_started = time.perf_counter()
    timer = CpuClock() if clock == CPU_CLOCK else RealClock()
    if callable(workload):
        sampled = _sample_sync_one(workload, rounds, warmup, timer, meter)
    else:
        sampled = _sample_sync_arms(workload, rounds, warmup, timer, meter)
    sampled.wall_s = time.perf_counter() - wall_started
    sampled.cpu_share = cpu_share_since(cpu_started, sampled.wall_s)
    return sampled


def _sample_sync_one(
    call: SyncCall, rounds: int, warmup: int, clock: Clock, meter: RoundMeter | None
) -> Sampled:
    now = clock.now
    result = None
    for _ in range(warmup):
        result = call()
        if meter is not None:
            meter.warmup_call_done()
    samples = [0.0] * rounds
    for index in range(rounds):
        started = now()
        result = call()
        samples[index] = now() - started
        if meter is not None:
            meter.round_done()
    return Sampled(clock.name, samples, result=result)


def _sample_sync_arms(
    arms: Sequence[Arm], rounds: int, warmup: int, clock: Clock, meter: RoundMeter | None
) -> Sampled:
    now = clock.now
    samples = [[0.0] * rounds for _ in arms]
    results: list[Any] = [None] * len(arms)
    for position, arm in enumerate(arms):
        with _arm_context(arm):
            for _ in range(warmup):
                results[position] = arm.call()
                if meter is not None:
                    meter.warmup_call_done()
    orders = _orders(arms)
    for index in range(rounds):
        for position in orders[index % 2]:
            arm = arms[position]
            with _arm_context(arm):
                started = now()
                results[position] = arm.call()
                samples[position][index] = now() - started
        if meter is not None:
            meter.round_done()
    return _sampled_arms(clock, arms, samples, results)


# -- asynchronous workloads --------------------------------------------------------------------


async def sample_async(
    workload: AsyncCall | Sequence[Arm],
    rounds: int,
    warmup: int,
    *,
    clock: str,
    patch_gather: bool = True,
    horizon_s: float = 3600.0,
    time_callbacks: bool = False,
    meter: RoundMeter | None = None,
) -> Sampled:
    """Time an async workload, or arms measured interleaved (a sequence of :class:`Arm`), on
    the running loop, on the real or virtual clock.

    The loop's steps are timed whenever the loop allows it (busy time, longest step);
    ``time_callbacks`` times each callback too, to name the culprit of a blocking budget.
    Sequential-mode arms serialize the concurrency their calls create unless ``patch_gather``
    is off.
    """
    call, arms = (workload, None) if callable(workload) else (None, tuple(workload))
    cpu_started = cpu_and_run_queue_s()
    wall_started = time.perf_counter()
    with ExitStack() as stack:
        # If a timeout interrupts the workload, the teardown safety net closes this stack.
        register(stack, stack.close)
        stack.callback(unregister, stack)
        steps = stack.enter_context(_timed_steps(time_callbacks))
        if steps is not None:
            # a measurement nested in another's workload names its own, then gives it back
            stack.callback(setattr, steps, "workload", steps.workload)
            steps.workload = describe_workload(arms[-1].call if arms else _one_workload(call))
        active_clock = stack.enter_context(clock_for(clock))
        if patch_gather and arms and any(arm.mode is Mode.SEQUENTIAL for arm in arms):
            stack.enter_context(serialized_concurrency())
        if arms is None:
            call = _one_workload(call)
            if isinstance(active_clock, VirtualClock):
                call = _bounded(call, active_clock, horizon_s)
            sampled = await _sample_async_one(call, rounds, warmup, active_clock, steps, meter)
        else:
            if isinstance(active_clock, VirtualClock):
                arms = tuple(
                    arm._replace(call=_bounded(arm.call, active_clock, horizon_s)) for arm in arms
                )
            sampled = await _sample_async_arms(arms, rounds, warmup, active_clock, steps, meter)
        if steps is not None:
            sampled.longest_step = steps.longest
    sampled.wall_s = time.perf_counter() - wall_started
    sampled.cpu_share = cpu_share_since(cpu_started, sampled.wall_s)
    return sampled


def _one_workload(call: AsyncCall | None) -> AsyncCall:
    """The one workload of a measurement that has no arms."""
    assert call is not None, "a measurement has either one workload or arms"
    return call


@contextmanager
def _timed_steps(time_callbacks: bool) -> Iterator[LoopSteps | None]:
    """Loop-step timing when the running loop supports it; required for callback timing.

    Under another async library (trio) there is no asyncio loop to time at all."""
    loop = asyncio.events._get_running_loop()
    reason = "no asyncio event loop is running" if loop is None else unsupported_reason(loop)
    if loop is not None and reason is None:
        with loop_steps(loop, attribute_callbacks=time_callbacks) as steps:
            steps.forget_longest()  # this measurement's longest step only
            try:
                yield steps
            finally:
                steps.round_number = 0
    elif time_callbacks:
        raise UnsupportedLoopError(
            UNSUPPORTED_LOOP.format(
                what="a blocking budget",
                loop_class="another async library" if loop is None else loop_class_name(loop),
                reason=reason,
            )
        )
    else:
        yield None


class _NoSteps:
    """Stands in for :class:`LoopSteps` on a loop that cannot be timed step by step."""

    rounds_total = 0

    def start_round(self, number: int, arm: str = "") -> float:
        return 0.0


async def _sample_async_one(
    call: AsyncCall,
    rounds: int,
    warmup: int,
    clock: Clock,
    steps: LoopSteps | None,
    meter: RoundMeter | None,
) -> Sampled:
    now = clock.now
    timed_steps: LoopSteps | _NoSteps = steps or _NoSteps()
    start_round = timed_steps.start_round
    result = None
    for _ in range(warmup):
        result = await call()
        if meter is not None:
            meter.warmup_call_done()
    timed_steps.rounds_total = rounds
    samples = [0.0] * rounds
    # busy time so far at the start of each round and at the end: rounds are the differences
    busy_marks = [0.0] * (rounds + 1)
    for index in range(rounds):
        busy_marks[index] = start_round(index + 1)
        started = now()
        result = await call()
        samples[index] = now() - started
        if meter is not None:
            # a progress update (rare, microseconds) counts in this round's busy time
            meter.round_done()
    busy_marks[rounds] = start_round(0)
    busy = [end - start for start, end in itertools.pairwise(busy_marks)]
    return Sampled(clock.name, samples, result=result, busy_s=busy if steps else [])


async def _sample_async_arms(
    arms: Sequence[Arm],
    rounds: int,
    warmup: int,
    clock: Clock,
    steps: LoopSteps | None,
    meter: RoundMeter | None,
) -> Sampled:
    now = clock.now
    timed_steps: LoopSteps | _NoSteps = steps or _NoSteps()
    start_round = timed_steps.start_round
    samples = [[0.0] * rounds for _ in arms]
    results: list[Any] = [None] * len(arms)
    labels = [arm.round_label for arm in arms]
    candidate = len(arms) - 1
    # the loop's busy time in the candidate's rounds (as a latency measurement's would be)
    busy = [0.0] * rounds
    for position, arm in enumerate(arms):
        with _arm_context(arm):
            for _ in range(warmup):
                results[position] = await arm.call()
                if meter is not None:
                    meter.warmup_call_done()
    timed_steps.rounds_total = rounds
    orders = _orders(arms)
    for index in range(rounds):
        for position in orders[index % 2]:
            arm = arms[position]
            with _arm_context(arm):
                busy_started = start_round(index + 1, labels[position])
                started = now()
                results[position] = await arm.call()
                samples[position][index] = now() - started
                busy_ended = start_round(0)
            if position == candidate:
                busy[index] = busy_ended - busy_started
        if meter is not None:
            meter.round_done()
    return _sampled_arms(clock, arms, samples, results, busy if steps else None)


def _bounded(call: AsyncCall, clock: VirtualClock, horizon_s: float) -> AsyncCall:
    """Stop a virtual-clock round that runs past the horizon, with a clear error."""

    async def bounded_call() -> Any:
        scope = asyncio.timeout_at(clock.now() + horizon_s)
        clock.bound(scope)
        try:
            async with scope:
                return await call()
        except TimeoutError:
            if scope.expired():
                message = HORIZON_MESSAGE.format(horizon=horizon_s)
                if clock.gave_up_real_wait:
                    message += GAVE_UP_REAL_WAIT.format(grace=REAL_WAIT_GRACE_S)
                raise VirtualHorizonExceeded(message) from None
            raise
        finally:
            clock.bound(None)

    return bounded_call


# -- single regions (perf.span) ----------------------------------------------------------------


@contextmanager
def timed_region(clock: str, in_loop: bool) -> Iterator[Callable[[], float]]:
    """Yield a function returning the seconds elapsed since entry, on the requested clock."""
    if clock == "virtual" and in_loop:
        with clock_for("virtual") as virtual:
            started = virtual.now()
            yield lambda: virtual.now() - started
    else:
        now = CpuClock().now if clock == CPU_CLOCK else RealClock().now
        started = now()
        yield lambda: now() - started
