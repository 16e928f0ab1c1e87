"""Running a workload for warmup + timed rounds, in one mode or both modes interleaved.

The inner loops are kept bare (clock reads before and after each call; between calls, a count
on the test's progress when it is followed: see :mod:`pytest_omniperf.round_progress`), so the
per-round overhead stays well under a microsecond. Async rounds also read the loop's busy time
(see :mod:`pytest_omniperf.loop_steps`), label the round and end the loop's running step at each
round boundary, so the longest step of the loop is traced to the round it ran in, even for a
workload that never yields to the loop. Speedup rounds alternate the order of the two
modes (sequential-parallel, parallel-sequential, ...: ABBA), so drift of the machine during the
measurement hits both modes alike.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

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

_ORDERS = ((Mode.SEQUENTIAL, Mode.PARALLEL), (Mode.PARALLEL, Mode.SEQUENTIAL))

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


class VirtualHorizonExceeded(RuntimeError):
    """A round on the virtual clock ran past the horizon: the workload never finishes."""


@dataclass
class Sampled:
    """Raw timings of one measurement and the last result of the workload."""

    clock: str
    samples_s: list[float]
    sequential_samples_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_share: float | None = None
    """How CPU-bound the workload was (real clock; see cpu_clock.cpu_share_since)."""
    result: Any = None
    busy_s: list[float] = field(default_factory=list)
    """The loop's busy time in each round of ``samples_s`` (async workloads on a timed loop)."""
    longest_step: SlowStep | None = None
    """The longest single step of the loop in any timed round, when the loop was timed."""


# -- synchronous workloads ---------------------------------------------------------------------


def sample_sync(
    call: SyncCall,
    rounds: int,
    warmup: int,
    *,
    speedup: bool = False,
    clock: str = "real",
    meter: RoundMeter | None = None,
) -> Sampled:
    """Time a synchronous callable on the real clock (or the cpu clock: thread CPU time)."""
    cpu_started = cpu_and_run_queue_s()
    wall_started = time.perf_counter()
    timer = CpuClock() if clock == CPU_CLOCK else RealClock()
    if speedup:
        sampled = _sample_sync_both_modes(call, rounds, warmup, timer, meter)
    else:
        sampled = _sample_sync_one_mode(call, rounds, warmup, timer, meter)
    sampled.wall_s = time.perf_counter() - wall_started
    sampled.cpu_share = cpu_share_since(cpu_started, sampled.wall_s)
    return sampled


def _sample_sync_one_mode(
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


def _sample_sync_both_modes(
    call: SyncCall, rounds: int, warmup: int, clock: Clock, meter: RoundMeter | None
) -> Sampled:
    now = clock.now
    timings: dict[Mode, list[float]] = {Mode.SEQUENTIAL: [], Mode.PARALLEL: []}
    result = None
    for mode in Mode:
        with use_mode(mode):
            for _ in range(warmup):
                result = call()
                if meter is not None:
                    meter.warmup_call_done()
    for index in range(rounds):
        for mode in _ORDERS[index % 2]:
            with use_mode(mode):
                started = now()
                result = call()
                timings[mode].append(now() - started)
        if meter is not None:
            meter.round_done()
    return Sampled(clock.name, timings[Mode.PARALLEL], timings[Mode.SEQUENTIAL], result=result)


# -- asynchronous workloads --------------------------------------------------------------------


async def sample_async(
    call: AsyncCall,
    rounds: int,
    warmup: int,
    *,
    clock: str,
    speedup: bool = False,
    patch_gather: bool = True,
    horizon_s: float = 3600.0,
    time_callbacks: bool = False,
    meter: RoundMeter | None = None,
) -> Sampled:
    """Time an async workload on the running loop, on the real or virtual clock.

    The loop's steps are timed whenever the loop allows it (busy time, longest step);
    ``time_callbacks`` times each callback too, to name the culprit of a blocking budget.
    """
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
            steps.workload = describe_workload(call)
        active_clock = stack.enter_context(clock_for(clock))
        if speedup and patch_gather:
            stack.enter_context(serialized_concurrency())
        if isinstance(active_clock, VirtualClock):
            call = _bounded(call, active_clock, horizon_s)
        if speedup:
            sampled = await _sample_async_both_modes(
                call, rounds, warmup, active_clock, steps, meter
            )
        else:
            sampled = await _sample_async_one_mode(call, rounds, warmup, active_clock, steps, meter)
        if steps is not None:
            sampled.longest_step = steps.longest
    sampled.wall_s = time.perf_counter() - wall_started
    sampled.cpu_share = cpu_share_since(cpu_started, sampled.wall_s)
    return sampled


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

    def start_round(self, number: int, mode: str = "") -> float:
        return 0.0


async def _sample_async_one_mode(
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


async def _sample_async_both_modes(
    call: AsyncCall,
    rounds: int,
    warmup: int,
    clock: Clock,
    steps: LoopSteps | None,
    meter: RoundMeter | None,
) -> Sampled:
    now = clock.now
    timed_steps: LoopSteps | _NoSteps = steps or _NoSteps()
    timings: dict[Mode, list[float]] = {Mode.SEQUENTIAL: [], Mode.PARALLEL: []}
    busy: list[float] = []
    result = None
    for mode in Mode:
        with use_mode(mode):
            for _ in range(warmup):
                result = await call()
                if meter is not None:
                    meter.warmup_call_done()
    timed_steps.rounds_total = rounds
    for index in range(rounds):
        for mode in _ORDERS[index % 2]:
            with use_mode(mode):
                busy_started = timed_steps.start_round(index + 1, mode.value)
                started = now()
                result = await call()
                timings[mode].append(now() - started)
                busy_ended = timed_steps.start_round(0)
                if mode is Mode.PARALLEL:
                    busy.append(busy_ended - busy_started)
        if meter is not None:
            meter.round_done()
    return Sampled(
        clock.name,
        timings[Mode.PARALLEL],
        timings[Mode.SEQUENTIAL],
        result=result,
        busy_s=busy if steps else [],
    )


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
