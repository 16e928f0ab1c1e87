"""Overheads of the runtime primitives, run by hand: ``python tests/benchmarks/bench_runtime.py``.

1. The executor on 10,000 no-op steps, planning included (``executor.run(steps)`` with a new
   step dict each time): independent steps against a bare ``asyncio.gather`` of the same
   coroutines (target: within 2x), a chain and chained diamonds against a bare asyncio DAG (one
   task per step awaiting its dependencies' tasks; target: within 3x); and a step dict reused
   round after round (planned once).
2. A cache hit (``get_or_compute`` with a computed key) against an ``async_lru.alru_cache`` hit
   of the same coroutine (target: within 2x; skipped when async-lru is not installed:
   ``pip install async-lru``), and making a key for a chat request.
3. The circuit breaker (closed) and the rate limiter (not limiting) per call, over a bare
   ``await`` of the same coroutine (target: under 2 us each).

Best of five (executor: of nine, each shape interleaved with its bare counterpart, garbage
collection off as in timeit), real clock, spans going to a recorder as under pytest. Left out: the
work of real steps (these are no-ops, so this is the executor's own overhead at its most visible),
timeouts and the concurrency limit.
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


Steps = dict[str, tuple[Callable[..., Awaitable[None]], tuple[str, ...]]]


def independent() -> Steps:
    return {f"t{i}": (noop, ()) for i in range(TASKS)}


def chain() -> Steps:
    return {f"t{i}": (noop, (f"t{i - 1}",) if i else ()) for i in range(TASKS)}


def diamonds() -> Steps:
    """Diamonds a -> (b, c) -> d, each hanging from the one before: TASKS steps in all."""
    steps: Steps = {}
    previous: tuple[str, ...] = ()
    for i in range(TASKS // 4):
        steps[f"a{i}"] = (noop, previous)
        steps[f"b{i}"] = (noop, (f"a{i}",))
        steps[f"c{i}"] = (noop, (f"a{i}",))
        steps[f"d{i}"] = (noop, (f"b{i}", f"c{i}"))
        previous = (f"d{i}",)
    return steps


async def bare_dag(steps: Steps) -> None:
    """The same DAG in plain asyncio: a task per step awaiting the tasks it depends on (the
    steps are given in an order where dependencies come first)."""
    tasks: dict[str, asyncio.Task[None]] = {}

    async def step(function: Callable[..., Awaitable[None]], after: tuple[str, ...]) -> None:
        await function(*[await tasks[name] for name in after])

    for name, (function, after) in steps.items():
        tasks[name] = asyncio.create_task(step(function, after))
    await asyncio.gather(*tasks.values())


async def timed(body: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await body()
    return time.perf_counter() - started


async def side_by_side(
    label: str, bare_label: str, bare: Callable[[], Awaitable[object]], shape: Callable[[], Steps]
) -> None:
    executor = Executor(recorder=Recorder())
    fresh = [shape() for _ in range(9)]  # a new step dict each run: planned every time

    async def through_executor() -> None:
        await executor.run(fresh.pop())

    gc.disable()  # as timeit does: collections triggered by other objects are not the executor's
    try:
        timings = [(await timed(bare), await timed(through_executor)) for _ in range(9)]
    finally:
        gc.enable()
    bare_s, executor_s = min(t[0] for t in timings), min(t[1] for t in timings)
    print(
        f"executor, {label}: {executor_s * 1e3:.1f} ms vs {bare_label} {bare_s * 1e3:.1f} ms "
        f"({executor_s / bare_s:.2f}x, planning included)"
    )


async def bench_executor() -> None:
    await side_by_side(
        f"{TASKS} independent steps",
        "asyncio.gather",
        lambda: asyncio.gather(*(noop() for _ in range(TASKS))),
        independent,
    )
    for label, shape in (
        (f"a chain of {TASKS}", chain),
        (f"{TASKS // 4} chained diamonds", diamonds),
    ):
        steps = shape()
        await side_by_side(label, "a bare asyncio DAG", lambda steps=steps: bare_dag(steps), shape)
    executor = Executor(recorder=Recorder())
    reused = chain()
    first_s = await timed(lambda: executor.run(reused))
    again_s = min([await timed(lambda: executor.run(reused)) for _ in range(5)])
    print(
        f"executor, the same chain's step dict run again: {again_s * 1e3:.1f} ms "
        f"(first run, planning it: {first_s * 1e3:.1f} ms)"
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
    hit_s = await best_of(5, hit)
    print(f"cache hit: {hit_s * 1e6:.2f} us per get_or_compute (make_key: {key_s * 1e6:.2f} us)")
    lru_s = await async_lru_hit()
    if lru_s is not None:
        print(f"async-lru hit: {lru_s * 1e6:.2f} us per call ({hit_s / lru_s:.2f}x)")
    print(
        f"breaker (closed): {(await best_of(5, through_breaker) - bare) * 1e6:.2f} us per call over a bare await"
    )
    print(
        f"limiter (not limiting): {(await best_of(5, acquire_then_call) - bare) * 1e6:.2f} us per call over a bare await"
    )


async def async_lru_hit() -> float | None:
    """An ``alru_cache`` hit of the same coroutine, keyed by its argument (None without it)."""
    try:
        from async_lru import alru_cache
    except ImportError:
        print("async-lru not installed (pip install async-lru): its comparison is left out")
        return None

    @alru_cache(maxsize=None)
    async def cached(prompt: str) -> None:
        return None

    await cached("hi")
    return await best_of(5, lambda: per_call(lambda: cached("hi")))


if __name__ == "__main__":
    asyncio.run(bench_executor())
    asyncio.run(bench_per_call())
