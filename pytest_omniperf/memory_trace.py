"""The traced pass of a memory budget: a few more calls of the workload under tracemalloc.

Tracing slows every allocation, so it never runs during the timed rounds: after them, the
workload is called again ``min(rounds, MAX_TRACED_CALLS)`` times with tracemalloc on, giving

- the **peak** of one call: the highest traced memory during the call above what was allocated
  when it started (the largest over the calls), and
- the memory **retained per call**: what is still allocated after the calls minus what was
  before them, over the number of calls, with ``gc.collect()`` at both ends (so cycles that are
  garbage do not count). For a cache that stores one new response per call, that is the size
  of a cached response.

One more call runs traced first and counts for the peak only: tracemalloc sees only what is
allocated after it starts, so the first traced call's replacements of untraced objects (a
resized dict or deque of the event loop) would look retained.

The warmup and timed rounds have run by then, so one-time allocations (imports, lazily built
tables, the first entry of a pool) are not counted as retained. What it leaves out: memory
that Python's allocator does not see (C libraries allocating with their own malloc, memory
mapped files), and the interpreter's own free lists (a freed object may stay reserved: traced
memory counts objects, not the process's resident size).

If tracemalloc is already tracing (``python -X tracemalloc``, or another tool), it is left on;
only tracing started here is stopped here. Its peak is reset before each traced call.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, NamedTuple

from pytest_omniperf.measurement import MEMORY_PEAK_METRIC, MEMORY_PER_CALL_METRIC

TRACED_CALLS_METRIC = "memory.traced_calls"
# Enough calls to average a per-call figure; few enough that a slow workload is not traced for
# long (the traced pass adds this many calls to the test, each slower under tracing).
MAX_TRACED_CALLS = 20


class TracedMemory(NamedTuple):
    peak_bytes: float
    per_call_bytes: float
    calls: int

    def metrics(self) -> dict[str, float]:
        return {
            MEMORY_PEAK_METRIC: self.peak_bytes,
            MEMORY_PER_CALL_METRIC: self.per_call_bytes,
            TRACED_CALLS_METRIC: float(self.calls),
        }


def traced_calls(rounds: int) -> int:
    return max(min(rounds, MAX_TRACED_CALLS), 1)


def trace_sync(call: Callable[[], Any], rounds: int) -> TracedMemory:
    """Trace ``traced_calls(rounds)`` calls of a synchronous workload."""
    calls = traced_calls(rounds)
    with _tracing() as tally:
        for number in range(calls + 1):
            tally.call_starts(number)
            call()
            tally.call_ended()
    return tally.result(calls)


async def trace_async(call: Callable[[], Awaitable[Any]], rounds: int, clock: str) -> TracedMemory:
    """Trace ``traced_calls(rounds)`` calls of an async workload, on the virtual clock when it
    was measured on it (a simulated wait of seconds would otherwise be waited for real)."""
    from pytest_omniperf.clock import clock_for

    calls = traced_calls(rounds)
    with ExitStack() as stack:
        if clock == "virtual":
            stack.enter_context(clock_for("virtual"))  # installed before the first count
        with _tracing() as tally:
            for number in range(calls + 1):
                tally.call_starts(number)
                await call()
                tally.call_ended()
    return tally.result(calls)


class _Tally:
    """The figures of the traced calls; call 0 settles tracing and counts for the peak only."""

    def __init__(self) -> None:
        self.before = self.after = 0
        self.peak = 0
        self._call_started_at = 0

    def call_starts(self, number: int) -> None:
        if number == 1:
            gc.collect()
            self.before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        self._call_started_at = tracemalloc.get_traced_memory()[0]

    def call_ended(self) -> None:
        peak = tracemalloc.get_traced_memory()[1]
        self.peak = max(self.peak, peak - self._call_started_at)

    def finish(self) -> None:
        gc.collect()
        self.after = tracemalloc.get_traced_memory()[0]

    def result(self, calls: int) -> TracedMemory:
        return TracedMemory(float(self.peak), (self.after - self.before) / calls, calls)


@contextmanager
def _tracing() -> Iterator[_Tally]:
    """tracemalloc on for the block (left on if someone else had started it)."""
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    try:
        tally = _Tally()
        yield tally
        tally.finish()
    finally:
        if started_here:
            tracemalloc.stop()
