"""Cost of serializing tasks in sequential mode, run by hand:
``python tests/benchmarks/bench_serialize.py``.

A fan-out of 1,000 tasks, each yielding to the loop once (``asyncio.sleep(0)``), run in
sequential mode three ways:

1. the gather path: ``asyncio.gather`` under the gather patch alone (the mechanism before task
   serialization: one child task at a time, each awaited before the next is created);
2. ``asyncio.TaskGroup`` under :func:`serialized_concurrency` (all 1,000 tasks created at once,
   each started by the task factory when the one before it finished) — target: within 2x of 1;
3. ``asyncio.gather`` under :func:`serialized_concurrency` (the gather patch and the task factory
   together, what a speedup measurement does).

Best of 25, interleaved, garbage collection off as in timeit, real clock. What it leaves out: the
workload's own waiting (every task here only yields once), the parallel rounds (untouched by
serialization), lending (no task waits for another), and stalls of tasks that feed each other.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable

from pytest_omniperf.mode import Mode, patched_asyncio_gather, serialized_concurrency, use_mode

TASKS = 1_000
RUNS = 25


async def one_step() -> None:
    await asyncio.sleep(0)


async def gather_fan_out() -> None:
    await asyncio.gather(*(one_step() for _ in range(TASKS)))


async def task_group_fan_out() -> None:
    async with asyncio.TaskGroup() as group:
        for _ in range(TASKS):
            group.create_task(one_step())


async def gather_path() -> float:
    with patched_asyncio_gather(), use_mode(Mode.SEQUENTIAL):
        started = time.perf_counter()
        await gather_fan_out()
        return time.perf_counter() - started


def serialized(fan_out: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[float]]:
    async def timed() -> float:
        with serialized_concurrency(), use_mode(Mode.SEQUENTIAL):
            started = time.perf_counter()
            await fan_out()
            return time.perf_counter() - started

    return timed


async def main() -> None:
    variants = {
        "gather path (gather patch only)": gather_path,
        "TaskGroup, serialized by the task factory": serialized(task_group_fan_out),
        "gather, patch and task factory together": serialized(gather_fan_out),
    }
    for timed in variants.values():  # warm up
        await timed()
    best = dict.fromkeys(variants, float("inf"))
    gc.disable()
    try:
        for _ in range(RUNS):
            for name, timed in variants.items():
                best[name] = min(best[name], await timed())
    finally:
        gc.enable()
    reference = best["gather path (gather patch only)"]
    print(f"sequential mode, {TASKS:,} tasks, best of {RUNS}:")
    for name, seconds in best.items():
        print(f"  {name:45} {seconds * 1e3:7.2f} ms  {seconds / reference:5.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
