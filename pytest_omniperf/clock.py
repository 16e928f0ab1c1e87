"""Real and virtual clocks.

The real clock is ``time.perf_counter``. The virtual clock is patched onto a *running* asyncio
event loop: the loop's ``time()`` reads a virtual "now", and the selector's ``select`` is wrapped
so that, when nothing but timers is pending, the loop jumps straight to the next deadline instead
of waiting. Real I/O is still polled (without blocking) on every iteration, and while work handed
to threads (``run_in_executor``, ``asyncio.to_thread``) is outstanding the loop waits in real time
and the virtual clock advances by the real time waited.

Consequences worth knowing:

* ``await asyncio.sleep(2)`` takes 2.0 virtual seconds and next to no wall time, exactly.
* Everything that reads ``loop.time()`` (``asyncio.timeout``, ``call_later``, the runtime
  primitives of this package) fast-forwards too.
* A timeout around *real* network I/O expires at once, because timers win against I/O that has
  not arrived yet. Measure real I/O on the real clock.
* Only loops built on ``asyncio.BaseEventLoop`` with a selector are supported (not uvloop).
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

# Virtual "now" starts on a multiple of 2**-10 s, so whole and binary-fraction delays add and
# subtract exactly: five sleep(2) in sequence measure exactly 10.0 s, not 10.000000000002.
_VIRTUAL_GRID = 2.0**-10


class Clock(Protocol):
    """A source of "now" in seconds; differences between two readings are durations."""

    name: str

    def now(self) -> float: ...


class RealClock:
    name = "real"

    def __init__(self) -> None:
        self.now: Callable[[], float] = time.perf_counter


class VirtualClockError(RuntimeError):
    """The virtual clock cannot be used on this loop."""


class VirtualClock:
    """A virtual clock installed on one event loop. Use :func:`virtual_clock` to install it."""

    name = "virtual"

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        selector = getattr(loop, "_selector", None)
        if not isinstance(loop, asyncio.BaseEventLoop) or selector is None:
            raise VirtualClockError(
                f"the virtual clock needs a selector-based asyncio event loop, "
                f"got {type(loop).__name__}; use clock='real' for this loop"
            )
        self._loop = loop
        self._selector: Any = selector
        self._now = math.floor(loop.time() / _VIRTUAL_GRID) * _VIRTUAL_GRID
        self._threads_pending = 0
        self._saved: list[tuple[Any, str, object]] = []
        self._real_select: Callable[[float | None], list[Any]] = selector.select

    def now(self) -> float:
        return self._now

    # -- installation ------------------------------------------------------------------------

    def install(self) -> None:
        self._patch(self._loop, "time", self.now)
        self._patch(self._selector, "select", self._select)
        self._patch(self._loop, "run_in_executor", self._run_in_executor)

    def uninstall(self) -> None:
        real_now = time.monotonic()
        while self._saved:
            owner, attribute, previous = self._saved.pop()
            if previous is _MISSING:
                owner.__dict__.pop(attribute, None)
            else:
                setattr(owner, attribute, previous)
        # Timers still pending were scheduled on the virtual timeline; shift them back onto the
        # loop's real timeline so that "in 5 s" still means in 5 s. A constant shift keeps the
        # heap ordered.
        shift = self._now - real_now
        for handle in getattr(self._loop, "_scheduled", ()):
            handle._when -= shift

    def _patch(self, owner: Any, attribute: str, value: object) -> None:
        self._saved.append((owner, attribute, owner.__dict__.get(attribute, _MISSING)))
        setattr(owner, attribute, value)

    # -- the loop's view of time -------------------------------------------------------------

    def _select(self, timeout: float | None) -> list[Any]:
        if timeout is not None and timeout <= 0:
            return self._real_select(0)
        if self._threads_pending:
            started = time.perf_counter()
            events = self._real_select(timeout)
            self._now += time.perf_counter() - started
            return events
        events = self._real_select(0)
        if events:
            return events
        if timeout is None:
            # Nothing scheduled at all: only real I/O can wake the loop, so wait for it for real.
            started = time.perf_counter()
            events = self._real_select(None)
            self._now += time.perf_counter() - started
            return events
        scheduled = getattr(self._loop, "_scheduled", None)
        deadline = scheduled[0]._when if scheduled else self._now + timeout
        self._now = max(self._now, min(deadline, self._now + timeout))
        return events

    def _run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> Any:
        future = type(self._loop).run_in_executor(self._loop, executor, func, *args)
        self._threads_pending += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _future: object) -> None:
        self._threads_pending -= 1


class _Missing:
    pass


_MISSING = _Missing()

_installed: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VirtualClock] = (
    weakref.WeakKeyDictionary()
)


@contextmanager
def virtual_clock(loop: asyncio.AbstractEventLoop | None = None) -> Iterator[VirtualClock]:
    """Install a virtual clock on ``loop`` (default: the running loop) for the enclosed code.

    Nested use on the same loop reuses the clock already installed. On exit the loop is left as
    it was found: its ``time``, its selector and ``run_in_executor`` are restored, whatever
    happened inside.
    """
    loop = loop or asyncio.get_running_loop()
    active = _installed.get(loop)
    if active is not None:
        yield active
        return
    clock = VirtualClock(loop)
    clock.install()
    _installed[loop] = clock
    try:
        yield clock
    finally:
        del _installed[loop]
        clock.uninstall()


@contextmanager
def clock_for(name: str) -> Iterator[Clock]:
    """The clock called ``name``, installed on the running loop when it is virtual."""
    if name == "virtual":
        with virtual_clock() as clock:
            yield clock
    elif name == "cpu":
        from pytest_omniperf.cpu_clock import CpuClock

        yield CpuClock()
    else:
        yield RealClock()
