"""Running a workload for warmup + timed rounds, in one mode or both modes interleaved.

The inner loops are kept bare (one clock read before and after each call, nothing else), so the
per-round overhead stays well under a microsecond. Speedup rounds alternate the order of the two
modes (sequential-parallel, parallel-sequential, ...: ABBA), so drift of the machine during the
measurement hits both modes alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from pytest_omniperf.clock import Clock, RealClock, clock_for
from pytest_omniperf.cpu_clock import CPU_CLOCK, CpuClock
from pytest_omniperf.mode import Mode, patched_asyncio_gather, use_mode

SyncCall = Callable[[], Any]
AsyncCall = Callable[[], Awaitable[Any]]

_ORDERS = ((Mode.SEQUENTIAL, Mode.PARALLEL), (Mode.PARALLEL, Mode.SEQUENTIAL))

HORIZON_MESSAGE = (
    "workload did not finish within the virtual-clock horizon of {horizon:g} s "
    "(it waits for something that never happens, or loops forever); "
    "if it is really that long, raise it with @pytest.mark.omniperf(horizon=...)"
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


# -- synchronous workloads ---------------------------------------------------------------------


def sample_sync(
    call: SyncCall, rounds: int, warmup: int, *, speedup: bool = False, clock: str = "real"
) -> Sampled:
    """Time a synchronous callable on the real clock (or the cpu clock: thread CPU time)."""
    wall_started = time.perf_counter()
    timer = CpuClock() if clock == CPU_CLOCK else RealClock()
    if speedup:
        sampled = _sample_sync_both_modes(call, rounds, warmup, timer)
    else:
        sampled = _sample_sync_one_mode(call, rounds, warmup, timer)
    sampled.wall_s = time.perf_counter() - wall_started
    return sampled


def _sample_sync_one_mode(call: SyncCall, rounds: int, warmup: int, clock: Clock) -> Sampled:
    now = clock.now
    result = None
    for _ in range(warmup):
        result = call()
    samples = [0.0] * rounds
    for index in range(rounds):
        started = now()
        result = call()
        samples[index] = now() - started
    return Sampled(clock.name, samples, result=result)


def _sample_sync_both_modes(call: SyncCall, rounds: int, warmup: int, clock: Clock) -> Sampled:
    now = clock.now
    timings: dict[Mode, list[float]] = {Mode.SEQUENTIAL: [], Mode.PARALLEL: []}
    result = None
    for mode in Mode:
        with use_mode(mode):
            for _ in range(warmup):
                result = call()
    for index in range(rounds):
        for mode in _ORDERS[index % 2]:
            with use_mode(mode):
                started = now()
                result = call()
                timings[mode].append(now() - started)
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
) -> Sampled:
    """Time an async workload on the running loop, on the real or virtual clock."""
    wall_started = time.perf_counter()
    with ExitStack() as stack:
        active_clock = stack.enter_context(clock_for(clock))
        if speedup and patch_gather:
            stack.enter_context(patched_asyncio_gather())
        if active_clock.name == "virtual":
            call = _bounded(call, active_clock, horizon_s)
        if speedup:
            sampled = await _sample_async_both_modes(call, rounds, warmup, active_clock)
        else:
            sampled = await _sample_async_one_mode(call, rounds, warmup, active_clock)
    sampled.wall_s = time.perf_counter() - wall_started
    return sampled


async def _sample_async_one_mode(
    call: AsyncCall, rounds: int, warmup: int, clock: Clock
) -> Sampled:
    now = clock.now
    result = None
    for _ in range(warmup):
        result = await call()
    samples = [0.0] * rounds
    for index in range(rounds):
        started = now()
        result = await call()
        samples[index] = now() - started
    return Sampled(clock.name, samples, result=result)


async def _sample_async_both_modes(
    call: AsyncCall, rounds: int, warmup: int, clock: Clock
) -> Sampled:
    now = clock.now
    timings: dict[Mode, list[float]] = {Mode.SEQUENTIAL: [], Mode.PARALLEL: []}
    result = None
    for mode in Mode:
        with use_mode(mode):
            for _ in range(warmup):
                result = await call()
    for index in range(rounds):
        for mode in _ORDERS[index % 2]:
            with use_mode(mode):
                started = now()
                result = await call()
                timings[mode].append(now() - started)
    return Sampled(clock.name, timings[Mode.PARALLEL], timings[Mode.SEQUENTIAL], result=result)


def _bounded(call: AsyncCall, clock: Clock, horizon_s: float) -> AsyncCall:
    """Stop a virtual-clock round that runs past the horizon, with a clear error."""

    async def bounded_call() -> Any:
        scope = asyncio.timeout_at(clock.now() + horizon_s)
        try:
            async with scope:
                return await call()
        except TimeoutError:
            if scope.expired():
                raise VirtualHorizonExceeded(HORIZON_MESSAGE.format(horizon=horizon_s)) from None
            raise

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
