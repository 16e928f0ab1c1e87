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
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
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
        self.start = callgrind.start
        self._sync_overhead: int | None = None
        self._async_overhead: int | None = None

    @contextmanager
    def instrumented(self) -> Iterator[None]:
        """Instrumentation on from the first measurement to the end of the run: switching it
        off between measurements retranslates the code each time, which made a run of 25 tiny
        tests take 18.5 s instead of 12.9 s."""
        if not self._instrumenting:
            self._callgrind.instrument(True)
            self._instrumenting = True
        yield

    def stop_instrumenting(self) -> None:
        if self._instrumenting:
            self._callgrind.instrument(False)
            self._instrumenting = False

    def stop(self) -> int:
        """Stop counting; the instructions executed since :attr:`start`."""
        self._dump_count += 1
        label = f"omniperf-{self._dump_count}"
        self._callgrind.stop(label.encode())
        return self._read_dump(label)

    def _read_dump(self, label: str) -> int:
        path = self._dumps / f"{DUMP_FILE_NAME}.{self._dump_count}"
        if not path.exists():  # named differently by this valgrind: find it by its label
            marker = f"Client Request: {label}\n".encode()
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
            self._sync_overhead = min(self._count_sync(_noop) for _ in range(_CALIBRATION_CALLS))
        return self._sync_overhead

    async def async_overhead(self) -> int:
        if self._async_overhead is None:
            counts = [await self._count_async(_async_noop) for _ in range(_CALIBRATION_CALLS)]
            self._async_overhead = min(counts)
        return self._async_overhead

    def _count_sync(self, call: Callable[[], Any]) -> int:
        self.start()
        call()
        return self.stop()

    async def _count_async(self, call: Callable[[], Awaitable[Any]]) -> int:
        self.start()
        await call()
        return self.stop()


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
    with counter.instrumented():
        overhead = counter.sync_overhead
        result = None
        for _ in range(warmup):
            result = call()
        counts = [0.0] * rounds
        start, stop = counter.start, counter.stop
        for index in range(rounds):
            start()
            result = call()
            counts[index] = float(max(stop() - overhead, 0))
    return Sampled(
        INSTRUCTIONS_CLOCK, counts, wall_s=time.perf_counter() - wall_started, result=result
    )


async def count_async(
    call: Callable[[], Awaitable[Any]], rounds: int, warmup: int, *, where: str
) -> Sampled:
    """The same for an async workload: the loop's own work while it is awaited counts too."""
    counter = counter_for(where)
    wall_started = time.perf_counter()
    with counter.instrumented():
        overhead = await counter.async_overhead()
        result = None
        for _ in range(warmup):
            result = await call()
        counts = [0.0] * rounds
        start, stop = counter.start, counter.stop
        for index in range(rounds):
            start()
            result = await call()
            counts[index] = float(max(stop() - overhead, 0))
    return Sampled(
        INSTRUCTIONS_CLOCK, counts, wall_s=time.perf_counter() - wall_started, result=result
    )
