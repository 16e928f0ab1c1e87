"""Benchmark of arms measured interleaved, run by hand: ``python tests/benchmarks/bench_arms.py``.

Per-round cost of ``perf.speedup`` (the sequential and parallel arms) and ``perf.compare`` (two
variants) on no-op workloads, sync and async, with the cost of the no-op calls themselves taken
off (a bare loop timing the same calls). A round runs two calls, so the figure is the cost of
measuring both arms once. Targets: ``perf.speedup`` no slower than before the arms loop (its cost
is the switching of modes: compare with a checkout from before, whose ``perf`` has no
``compare``, by running this file with ``PYTHONPATH`` pointing at it); ``perf.compare`` (no
mode to switch) under 2 us per round on an idle machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pytest_omniperf.perf_fixture import Perf
from pytest_omniperf.settings import MeasureSettings

ROUNDS = 100_000
REPEATS = 5


def noop() -> None:
    return None


async def async_noop() -> None:
    return None


def _perf() -> Perf:
    settings = MeasureSettings(rounds=ROUNDS, warmup=0, clock="real", patch_gather=True)
    return Perf("bench", settings)


def bare_sync() -> float:
    now = time.perf_counter
    started = now()
    for _ in range(ROUNDS):
        for _ in range(2):
            t0 = now()
            noop()
            _ = now() - t0
    return now() - started


async def bare_async() -> float:
    now = time.perf_counter
    started = now()
    for _ in range(ROUNDS):
        for _ in range(2):
            t0 = now()
            await async_noop()
            _ = now() - t0
    return now() - started


def timed_sync(measure: Callable[[Perf], Any]) -> float:
    started = time.perf_counter()
    measure(_perf())
    return time.perf_counter() - started


async def timed_async(measure: Callable[[Perf], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await measure(_perf())
    return time.perf_counter() - started


def per_round_us(total_s: float, bare_s: float) -> float:
    return (total_s - bare_s) / ROUNDS * 1e6


def main() -> None:
    has_compare = hasattr(Perf, "compare")
    sync_cases: dict[str, Callable[[Perf], Any]] = {"perf.speedup": lambda p: p.speedup(noop)}
    async_cases: dict[str, Callable[[Perf], Awaitable[Any]]] = {
        "perf.speedup": lambda p: p.speedup(async_noop)
    }
    if has_compare:
        sync_cases["perf.compare"] = lambda p: p.compare(baseline=noop, candidate=noop)
        async_cases["perf.compare"] = lambda p: p.compare(baseline=async_noop, candidate=async_noop)
    for name, case in sync_cases.items():
        bare = min(bare_sync() for _ in range(REPEATS))
        total = min(timed_sync(case) for _ in range(REPEATS))
        print(f"sync  {name:13} {per_round_us(total, bare):5.2f} us per round (2 calls)")

    async def run_async() -> None:
        for name, case in async_cases.items():
            bare = min([await bare_async() for _ in range(REPEATS)])
            total = min([await timed_async(case) for _ in range(REPEATS)])
            print(f"async {name:13} {per_round_us(total, bare):5.2f} us per round (2 calls)")

    asyncio.run(run_async())


if __name__ == "__main__":
    main()
