"""Overheads of the runtime primitives, run by hand: ``python tests/benchmarks/bench_runtime.py``.

1. The executor on 10,000 independent no-op tasks against a bare ``asyncio.gather`` of the same
   coroutines (target: within 2x).
2. A cache hit (``get_or_compute`` with a computed key; target: under 3 us), and making a key.
3. The circuit breaker (closed) and the rate limiter (not limiting) per call, over a bare
   ``await`` of the same coroutine (target: under 2 us each).

Best of five (executor: of nine, interleaved with gather, garbage collection off as in
timeit), real clock, spans going to a recorder as under pytest.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable

from pytest_omniperf.runtime import (
    CircuitBreaker,
    Executor,
    RateLimiter,
    Recorder,
    ResponseCache,
    make_key,
)

TASKS = 10_000
CALLS = 100_000


async def noop(*_: object) -> None:
    return None


async def best_of(runs: int, body: Callable[[], Awaitable[float]]) -> float:
    return min([await body() for _ in range(runs)])


async def bench_executor() -> None:
    async def bare() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(noop() for _ in range(TASKS)))
        return time.perf_counter() - started

    async def executor_run() -> float:
        executor = Executor(recorder=Recorder())
        plan = executor.plan({f"t{i}": noop for i in range(TASKS)})
        started = time.perf_counter()
        await executor.run(plan)
        return time.perf_counter() - started

    gc.disable()  # as timeit does: collections triggered by other objects are not the executor's
    try:
        timings = [(await bare(), await executor_run()) for _ in range(9)]  # interleaved
    finally:
        gc.enable()
    bare_s, executor_s = min(t[0] for t in timings), min(t[1] for t in timings)
    print(
        f"executor, {TASKS} no-op tasks: {executor_s * 1e3:.1f} ms vs asyncio.gather "
        f"{bare_s * 1e3:.1f} ms ({executor_s / bare_s:.2f}x; plan validation not included)"
    )


async def per_call(body: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    for _ in range(CALLS):
        await body()
    return (time.perf_counter() - started) / CALLS


async def bench_per_call() -> None:
    recorder = Recorder()
    cache = ResponseCache(recorder=recorder)
    key = make_key({"model": "small-1", "messages": [{"role": "user", "content": "hi"}]})
    await cache.get_or_compute(key, noop)
    breaker = CircuitBreaker(recorder=recorder)
    limiter = RateLimiter(requests_per_minute=1e12, recorder=recorder)

    async def bare_loop() -> float:
        return await per_call(noop)

    async def hit() -> float:
        recorder.clear()
        return await per_call(lambda: cache.get_or_compute(key, noop))

    async def through_breaker() -> float:
        recorder.clear()
        return await per_call(lambda: breaker.call(noop))

    async def acquire_then_call() -> float:
        async def body() -> None:
            await limiter.acquire()
            await noop()

        return await per_call(body)

    bare = await best_of(5, bare_loop)
    started = time.perf_counter()
    for _ in range(CALLS // 10):
        make_key({"model": "small-1", "messages": [{"role": "user", "content": "hi"}]})
    key_s = (time.perf_counter() - started) / (CALLS // 10)
    print(
        f"cache hit: {(await best_of(5, hit)) * 1e6:.2f} us per get_or_compute (make_key: {key_s * 1e6:.2f} us)"
    )
    print(
        f"breaker (closed): {(await best_of(5, through_breaker) - bare) * 1e6:.2f} us per call over a bare await"
    )
    print(
        f"limiter (not limiting): {(await best_of(5, acquire_then_call) - bare) * 1e6:.2f} us per call over a bare await"
    )


if __name__ == "__main__":
    asyncio.run(bench_executor())
    asyncio.run(bench_per_call())
