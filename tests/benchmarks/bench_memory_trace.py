"""The traced pass of a memory budget, run by hand: ``python tests/benchmarks/bench_memory_trace.py``.

* What a workload that keeps nothing shows as retained per call (the floor under a per_call
  budget): sync, async on the real clock, async on the virtual clock (three sleeps a call).
* What a cache storing one new 1 KB answer per call retains per call.
* What tracing costs: a pass of 21 calls of a workload that allocates (a list of 1,000 tuples)
  untraced and traced, median of 7. Only tests with a memory budget pay it, after their timed
  rounds.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time

from pytest_omniperf.clock import clock_for
from pytest_omniperf.memory_trace import trace_async, trace_sync
from pytest_omniperf.runtime.cache import ResponseCache

CALLS = 20


def keeps_nothing() -> None:
    bytearray(10_000)


async def keeps_nothing_async() -> None:
    await asyncio.sleep(0)
    bytearray(10_000)


async def keeps_nothing_virtual() -> None:
    await asyncio.sleep(10)
    await asyncio.gather(asyncio.sleep(1), asyncio.sleep(2))
    bytearray(10_000)


def allocates() -> None:
    [(number, str(number)) for number in range(1000)]


async def floors() -> None:
    print("retained per call by a workload that keeps nothing (20 traced calls):")
    for _ in range(3):
        keeps_nothing()
    print(f"  sync                {trace_sync(keeps_nothing, CALLS).per_call_bytes:8.1f} B")
    for _ in range(3):
        await keeps_nothing_async()
    traced = await trace_async(keeps_nothing_async, CALLS, "real")
    print(f"  async, real clock   {traced.per_call_bytes:8.1f} B")
    with clock_for("virtual"):
        for _ in range(3):
            await keeps_nothing_virtual()
    traced = await trace_async(keeps_nothing_virtual, CALLS, "virtual")
    print(f"  async, virtual      {traced.per_call_bytes:8.1f} B")

    cache = ResponseCache()
    questions = itertools.count()
    size = 1000

    async def answer() -> str:
        return "x" * size

    async def ask() -> None:
        await cache.get_or_compute(f"question {next(questions)}", answer)

    for _ in range(3):
        await ask()
    traced = await trace_async(ask, CALLS, "real")
    print(f"cache storing a new 1 KB answer per call: {traced.per_call_bytes:.0f} B per call")


def overhead() -> None:
    untraced, traced = [], []
    for _ in range(7):
        started = time.perf_counter()
        for _ in range(CALLS + 1):
            allocates()
        untraced.append(time.perf_counter() - started)
        started = time.perf_counter()
        trace_sync(allocates, CALLS)
        traced.append(time.perf_counter() - started)
    plain, under_tracing = statistics.median(untraced), statistics.median(traced)
    print(
        f"{CALLS + 1} calls allocating 1,000 tuples each: {plain * 1e3:.1f} ms untraced, "
        f"{under_tracing * 1e3:.1f} ms as a traced pass (tracing, two gc.collect())"
    )


if __name__ == "__main__":
    asyncio.run(floors())
    overhead()
