"""Benchmarks of loop-step accounting, run by hand: ``python tests/benchmarks/bench_loop_steps.py``.

1. Overhead per loop iteration of busy-time accounting (the wrapped ``select``), on the real
   clock and under the virtual clock, against the bare loop (target: under 1 us); and the
   wrapped ``select(0)`` alone against the selector's own, which a loaded machine disturbs less. Also the cost
   per callback of timing callbacks one by one (only while a blocking budget is active).
2. Five ``asyncio.sleep(2)`` in a gather and in sequence on the virtual clock (the README's
   example), and the wall time of a virtual-clock speedup check of a pipeline that takes 60 s sequentially
   (target: under 50 ms), measured through ``perf.speedup``.
3. Busy time against thread CPU time for a fixed CPU-bound step, on a quiet machine and with
   3 CPU-burning processes on this 2-core machine: how much run-queue waiting leaks into the
   virtual clock. ``--no-load`` skips the loaded half.

What they leave out: (1) measures ``await asyncio.sleep(0)`` iterations with one ready task, so
heap work for timers and I/O callbacks is not included (it is the same with or without the
accounting); (2) runs in a fresh loop per repetition, not inside pytest; (3) uses one CPU-bound
workload (a pure-Python loop) and this machine's scheduler; a step shorter than 0.5 ms is never
discounted, so many short preempted steps would leak more than one long one.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import sys
import time

from pytest_omniperf.clock import virtual_clock
from pytest_omniperf.loop_steps import loop_steps

ITERATIONS = 200_000


async def spin(iterations: int) -> float:
    started = time.perf_counter()
    for _ in range(iterations):
        await asyncio.sleep(0)  # one loop iteration each
    return time.perf_counter() - started


async def spin_with(setup: str, iterations: int) -> float:
    if setup == "bare":
        return await spin(iterations)
    if setup == "steps":
        with loop_steps():
            return await spin(iterations)
    if setup == "callbacks":
        with loop_steps(attribute_callbacks=True):
            return await spin(iterations)
    with virtual_clock():
        return await spin(iterations)


def bench_iteration_overhead() -> None:
    setups = ("bare", "steps", "virtual", "callbacks")
    best = {setup: float("inf") for setup in setups}
    for repetition in range(7):  # interleaved, rotating order, best of seven
        order = setups[repetition % 4 :] + setups[: repetition % 4]
        for setup in order:
            best[setup] = min(best[setup], asyncio.run(spin_with(setup, ITERATIONS)))
    bare_ns = best["bare"] / ITERATIONS * 1e9
    for setup, what in (
        ("steps", "busy-time accounting (real clock)"),
        ("virtual", "virtual clock incl. busy-time accounting"),
        ("callbacks", "accounting + timing each callback (blocking budget)"),
    ):
        extra_ns = best[setup] / ITERATIONS * 1e9 - bare_ns
        print(f"{what}: {extra_ns:+.0f} ns per loop iteration (bare loop {bare_ns:.0f} ns)")


def bench_five_sleeps() -> None:
    """The README's example: five asyncio.sleep(2) in a gather and in sequence."""

    async def main() -> tuple[float, float, float]:
        wall_started = time.perf_counter()
        with virtual_clock() as clock:
            started = clock.now()
            await asyncio.gather(*(asyncio.sleep(2) for _ in range(5)))
            parallel = clock.now() - started
            started = clock.now()
            for _ in range(5):
                await asyncio.sleep(2)
            sequential = clock.now() - started
        return parallel, sequential, time.perf_counter() - wall_started

    parallel, sequential, wall = asyncio.run(main())
    print(
        f"five asyncio.sleep(2): gather {parallel:.5f} s, sequence {sequential:.5f} s, "
        f"speedup {sequential / parallel:.4f}x, wall {wall * 1e3:.2f} ms"
    )


def bench_wrapped_select() -> None:
    """The accounting alone: the wrapped ``select(0)`` against the selector's own, called in a
    tight loop (less exposed to the machine's noise than whole loop iterations)."""

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        real_select = loop._selector.select  # type: ignore[attr-defined]
        bare, wrapped = float("inf"), float("inf")
        with loop_steps() as steps:
            for _ in range(7):
                started = time.perf_counter()
                for _ in range(ITERATIONS):
                    real_select(0)
                bare = min(bare, time.perf_counter() - started)
                started = time.perf_counter()
                for _ in range(ITERATIONS):
                    steps._select(0)
                wrapped = min(wrapped, time.perf_counter() - started)
        return bare, wrapped

    bare, wrapped = asyncio.run(main())
    print(
        f"wrapped select(0): +{(wrapped - bare) / ITERATIONS * 1e9:.0f} ns per call "
        f"(bare select(0) {bare / ITERATIONS * 1e9:.0f} ns; best of 7 x {ITERATIONS})"
    )


def cpu_step() -> None:
    total = 0
    for index in range(400_000):  # about 20 ms of pure Python on this machine
        total += index * index


async def measure_cpu_steps(rounds: int) -> list[tuple[float, float, float]]:
    """(virtual busy, wall, thread CPU) of each round of one CPU-bound step."""
    results = []
    with virtual_clock() as clock:
        for _ in range(rounds):
            await asyncio.sleep(0)
            virtual_started, wall_started = clock.now(), time.perf_counter()
            cpu_started = time.thread_time()
            cpu_step()
            await asyncio.sleep(0)
            results.append(
                (
                    clock.now() - virtual_started,
                    time.perf_counter() - wall_started,
                    time.thread_time() - cpu_started,
                )
            )
    return results


def burn() -> None:
    while True:
        pass


def bench_run_queue_discount(loaded: bool, rounds: int = 40) -> None:
    burners = []
    if loaded:
        burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(3)]
        for process in burners:
            process.start()
        time.sleep(0.5)
    try:
        results = asyncio.run(measure_cpu_steps(rounds))
    finally:
        for process in burners:
            process.terminate()
    virtual = [v for v, _, _ in results]
    wall = [w for _, w, _ in results]
    cpu = [c for _, _, c in results]
    excess = [v / c - 1 for v, _, c in results]
    print(
        f"{'3 CPU burners' if loaded else 'quiet'}: CPU step of {statistics.median(cpu) * 1e3:.1f} ms "
        f"CPU: virtual median {statistics.median(virtual) * 1e3:.1f} ms "
        f"(virtual/CPU - 1: median {statistics.median(excess):+.1%}, "
        f"worst {max(excess):+.1%}), wall median {statistics.median(wall) * 1e3:.1f} ms, "
        f"wall max {max(wall) * 1e3:.1f} ms ({rounds} rounds)"
    )


if __name__ == "__main__":
    bench_iteration_overhead()
    bench_wrapped_select()
    bench_five_sleeps()
    bench_run_queue_discount(loaded=False)
    if "--no-load" not in sys.argv:
        bench_run_queue_discount(loaded=True)
