"""Counting the instructions of measured calls, inside the valgrind run.

Each measured call runs between two client requests: ``start`` zeroes callgrind's counters and
turns collection on, ``stop`` turns it off and dumps the count to a file, which is read and
removed. Warmup calls and everything between calls (the harness, pytest, fixtures) run with
collection off. The few thousand instructions of the brackets themselves (returning from one
ctypes call, entering the next) are measured once per process on an empty call and subtracted,
so a count is the cost of the call beyond calling a no-op function.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pytest_omniperf.instructions.client_requests import Callgrind
from pytest_omniperf.sampling import Sampled
from pytest_omniperf.units import INSTRUCTIONS_CLOCK

# Set by the parent for the valgrind run: the helper library and the folder of the dumps.
HELPER_ENV = "OMNIPERF_CALLGRIND_HELPER"
DUMPS_ENV = "OMNIPERF_CALLGRIND_DUMPS"
DUMP_FILE_NAME = "callgrind.out"

NOT_UNDER_VALGRIND = (
    "{where}: the instructions clock counts only inside the valgrind run that pytest-omniperf "
    "starts itself; run plain pytest (this process is not that run)"
)
_SUMMARY = re.compile(rb"^(?:summary|totals):\s*(\d+)", re.MULTILINE)
_CALIBRATION_CALLS = 3


class CountingUnavailable(RuntimeError):
    """Instructions are counted only in the plugin's own valgrind run."""


class InstructionCounter:
    """The brackets around measured calls, and the reading of their dumps."""

    def __init__(self, callgrind: Callgrind, dumps: Path) -> None:
        self._callgrind = callgrind
        self._dumps = dumps
        self._dump_count = 0
        self._instrumenting = False
        self._sync_overhead: int | None = None
        self._async_overhead: int | None = None

    def ensure_instrumented(self) -> None:
        """Instrumentation on from the first measurement to the session's end: switching it
        off between measurements retranslates the code each time, which made a run of 25 tiny
        tests take 18.5 s instead of 12.9 s."""
        if not self._instrumenting:
            self._callgrind.instrument(True)
            self._instrumenting = True

    def stop_instrumenting(self) -> None:
        if self._instrumenting:
            self._callgrind.instrument(False)
            self._instrumenting = False

    def count(self, call: Callable[[], Any]) -> tuple[int, Any]:
        """Instructions of one call, and its result. Only the call and the two client
        requests' edges run between start and stop (the label is made before), and the
        count is stopped even when the call raises."""
        label, stop = self._next_label(), self._callgrind.stop
        self._callgrind.start()
        try:
            result = call()
        finally:
            stop(label)
        return self._read_dump(label), result

    async def count_awaited(self, call: Callable[[], Awaitable[Any]]) -> tuple[int, Any]:
        """The same for an awaited call (the loop's work while it runs counts too)."""
        label, stop = self._next_label(), self._callgrind.stop
        self._callgrind.start()
        try:
            result = await call()
        finally:
            stop(label)
        return self._read_dump(label), result

    def _next_label(self) -> bytes:
        self._dump_count += 1
        return f"omniperf-{self._dump_count}".encode()

    def _read_dump(self, label: bytes) -> int:
        path = self._dumps / f"{DUMP_FILE_NAME}.{self._dump_count}"
        if not path.exists():  # named differently by this valgrind: find it by its label
            marker = b"Client Request: " + label + b"\n"
            path = next(
                (found for found in self._dumps.iterdir() if marker in found.read_bytes()), path
            )
        content = path.read_bytes()
        path.unlink()
        match = _SUMMARY.search(content)
        if match is None:
            raise CountingUnavailable(f"callgrind dump {path} has no instruction total")
        return int(match.group(1))

    @property
    def sync_overhead(self) -> int:
        if self._sync_overhead is None:
            self._sync_overhead = min(self.count(_noop)[0] for _ in range(_CALIBRATION_CALLS))
        return self._sync_overhead

    async def async_overhead(self) -> int:
        if self._async_overhead is None:
            counts = [(await self.count_awaited(_async_noop))[0] for _ in range(_CALIBRATION_CALLS)]
            self._async_overhead = min(counts)
        return self._async_overhead


def _noop() -> None:
    return None


async def _async_noop() -> None:
    return None


@functools.cache
def _counter() -> InstructionCounter | None:
    helper, dumps = os.environ.get(HELPER_ENV), os.environ.get(DUMPS_ENV)
    if not helper or not dumps:
        return None
    callgrind = Callgrind(Path(helper))
    if not callgrind.on_valgrind:
        return None
    return InstructionCounter(callgrind, Path(dumps))


def stop_instrumenting() -> None:
    """No more counting in this process: the rest runs at valgrind's uninstrumented speed."""
    counter = _counter() if os.environ.get(HELPER_ENV) else None
    if counter is not None:
        counter.stop_instrumenting()


def counter_for(where: str) -> InstructionCounter:
    counter = _counter()
    if counter is None:
        raise CountingUnavailable(NOT_UNDER_VALGRIND.format(where=where))
    return counter


def count_sync(call: Callable[[], Any], rounds: int, warmup: int, *, where: str) -> Sampled:
    """Warmup calls, then ``rounds`` counted calls of a synchronous callable."""
    counter = counter_for(where)
    wall_started = time.perf_counter()
    counter.ensure_instrumented()
    overhead = counter.sync_overhead
    result = None
    for _ in range(warmup):
        result = call()
    counts = [0.0] * rounds
    for index in range(rounds):
        count, result = counter.count(call)
        counts[index] = float(max(count - overhead, 0))
    return Sampled(
        INSTRUCTIONS_CLOCK, counts, wall_s=time.perf_counter() - wall_started, result=result
    )


async def count_async(
    call: Callable[[], Awaitable[Any]], rounds: int, warmup: int, *, where: str
) -> Sampled:
    """The same for an async workload: the loop's own work while it is awaited counts too."""
    counter = counter_for(where)
    wall_started = time.perf_counter()
    counter.ensure_instrumented()
    overhead = await counter.async_overhead()
    result = None
    for _ in range(warmup):
        result = await call()
    counts = [0.0] * rounds
    for index in range(rounds):
        count, result = await counter.count_awaited(call)
        counts[index] = float(max(count - overhead, 0))
    return Sampled(
        INSTRUCTIONS_CLOCK, counts, wall_s=time.perf_counter() - wall_started, result=result
    )
