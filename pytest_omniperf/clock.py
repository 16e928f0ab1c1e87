"""Real and virtual clocks.

The real clock is ``time.perf_counter``. The virtual clock is patched onto a *running* asyncio
event loop and counts what the loop would cost in production, without the idle waiting:

    virtual elapsed = idle waits it skipped + the loop's real busy time

The loop's ``time()`` reads the virtual "now", and the loop's wait for events (the selector's
``select``, wrapped by :class:`~pytest_omniperf.loop_steps.LoopSteps`) jumps straight to the next
timer deadline when nothing but timers is pending. Busy time is what the steps of the loop really
took (CPU work, blocking calls, callbacks for real I/O), minus time spent waiting for a CPU on a
loaded machine (see :mod:`pytest_omniperf.loop_steps`). Real I/O is still polled (without
blocking) on every iteration, and while work handed to threads (``run_in_executor``,
``asyncio.to_thread``) is outstanding the loop waits in real time and the virtual clock advances
by the real time waited.

Consequences worth knowing:

* ``await asyncio.sleep(2)`` takes 2.0 virtual seconds plus the microseconds the loop spent
  running the code around it, and next to no wall time.
* A blocking ``time.sleep(0.1)`` or 100 ms of CPU work costs 100 ms of virtual time, during which
  no other task progresses and timers fall due late, as in production.
* ``loop.time()`` includes the step running now, so a timer scheduled after a long computation
  is due that much later. It never goes backwards.
* Everything that reads ``loop.time()`` (``asyncio.timeout``, ``call_later``, the runtime
  primitives of this package) fast-forwards too.
* A timeout around *real* network I/O expires at once, because timers win against I/O that has
  not arrived yet. Measure real I/O on the real clock.
* The horizon that stops a never-ending round (see :meth:`VirtualClock.bound`) is not the
  workload's timer: when it is the only one pending, the loop is waiting for something real (a
  thread, a child process, a socket) or for nothing at all, so it waits in real time as long as
  a thread's future can still wake it, and for at most :data:`REAL_WAIT_GRACE_S` at a time when
  only other threads, open sockets or child processes might; then the round runs into the
  horizon.
* Only asyncio's own selector loop is supported; other loops (uvloop, test loops that keep
  their own time) are refused at once with :class:`VirtualClockError`.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from pytest_omniperf.installed_patches import register, unregister
from pytest_omniperf.loop_steps import (
    UNSUPPORTED_LOOP,
    LoopSteps,
    UnsupportedLoopError,
    loop_class_name,
    loop_steps,
    unsupported_reason,
)
from pytest_omniperf.task_waits import children, waits_for_thread

# Virtual "now" starts on a multiple of 2**-10 s, so whole and binary-fraction delays add and
# subtract exactly: five sleep(2) in sequence measure exactly 10.0 s, not 10.000000000002.
_VIRTUAL_GRID = 2.0**-10

# How long the loop waits in real time, with no timer of the workload pending, for a wake-up it
# cannot trace to a thread call or a thread's future (another thread calling
# call_soon_threadsafe, a socket's answer, a child process ending) before the round is taken to
# wait forever.
REAL_WAIT_GRACE_S = 1.0


class Clock(Protocol):
    """A source of "now" in seconds; differences between two readings are durations."""

    name: str

    def now(self) -> float: ...


class RealClock:
    name = "real"

    def __init__(self) -> None:
        self.now: Callable[[], float] = time.perf_counter


class VirtualClockError(UnsupportedLoopError):
    """The virtual clock cannot be used on this loop."""


class VirtualClock:
    """A virtual clock installed on one event loop. Use :func:`virtual_clock` to install it."""

    name = "virtual"

    def __init__(self, loop: asyncio.AbstractEventLoop, steps: LoopSteps | None = None) -> None:
        reason = unsupported_reason(loop)
        if steps is None and reason is not None:
            raise VirtualClockError(
                UNSUPPORTED_LOOP.format(
                    what="the virtual clock", loop_class=loop_class_name(loop), reason=reason
                )
            )
        self._loop = loop
        self._steps = steps
        self._origin = math.floor(loop.time() / _VIRTUAL_GRID) * _VIRTUAL_GRID
        self._skipped_s = 0.0
        self._waited_s = 0.0
        self._busy_at_start_s = steps.busy_s if steps is not None else 0.0
        self._last_now = self._origin
        self._saved: list[tuple[Any, str, object]] = []
        self._installed = False
        self._horizon: object | None = None
        self._untraced_wait_s = 0.0
        self.gave_up_real_wait = False
        """The last round ran into the horizon after an untraceable real wait."""

    def now(self) -> float:
        virtual_now = self._raw_now()
        if virtual_now < self._last_now:
            # A run-queue wait discounted after a reading: hold still rather than go back.
            return self._last_now
        self._last_now = virtual_now
        return virtual_now

    def _raw_now(self) -> float:
        busy_s = self._steps.live_busy_s() - self._busy_at_start_s if self._steps else 0.0
        return self._origin + self._skipped_s + self._waited_s + busy_s

    # -- installation ------------------------------------------------------------------------

    def install(self) -> None:
        if self._steps is None:
            raise VirtualClockError("install the virtual clock through virtual_clock()")
        self._patch(self._loop, "time", self.now)
        self._patch(self._loop, "run_in_executor", self._run_in_executor)
        self._steps.wait = self._wait
        self._installed = True
        register(self, self.uninstall)

    def uninstall(self) -> None:
        """Restore the loop; safe to call twice (a timeout may skip the first caller)."""
        if not self._installed:
            return
        self._installed = False
        unregister(self)
        if _installed.get(self._loop) is self:
            del _installed[self._loop]
        virtual_now = self.now()
        real_now = time.monotonic()
        if self._steps is not None and self._steps.wait == self._wait:
            self._steps.wait = self._steps._real_select
        while self._saved:
            owner, attribute, previous = self._saved.pop()
            if previous is _MISSING:
                owner.__dict__.pop(attribute, None)
            else:
                setattr(owner, attribute, previous)
        # Timers still pending were scheduled on the virtual timeline; shift them back onto the
        # loop's real timeline so that "in 5 s" still means in 5 s. A constant shift keeps the
        # heap ordered.
        shift = virtual_now - real_now
        for handle in getattr(self._loop, "_scheduled", ()):
            handle._when -= shift

    def _patch(self, owner: Any, attribute: str, value: object) -> None:
        self._saved.append((owner, attribute, owner.__dict__.get(attribute, _MISSING)))
        setattr(owner, attribute, value)

    # -- the loop's wait for events ----------------------------------------------------------

    def _wait(self, timeout: float | None) -> list[Any]:
        assert self._steps is not None
        real_select = self._steps._real_select
        if timeout is not None and timeout <= 0:
            return real_select(0)
        if self._steps.threads_pending:
            return self._wait_for_real(timeout)
        events = real_select(0)
        if events:
            self._untraced_wait_s = 0.0
            return events
        if timeout is None:
            # Nothing scheduled at all: only real I/O can wake the loop, so wait for it for real.
            return self._wait_for_real(None)
        scheduled = getattr(self._loop, "_scheduled", None)
        if scheduled and self._is_horizon(scheduled[0]):
            real_events = self._wait_without_timers(timeout)
            if real_events is not None:
                return real_events
        else:
            self._untraced_wait_s = 0.0
        virtual_now = self._raw_now()
        deadline = scheduled[0]._when if scheduled else virtual_now + timeout
        target = min(deadline, virtual_now + timeout)
        if target > virtual_now:
            self._skipped_s += target - virtual_now
        return events

    # -- the horizon: a bound on a round, not a timer of the workload --------------------------

    def bound(self, scope: object | None) -> None:
        """``scope`` (an ``asyncio.Timeout``) is the horizon of the round now starting, or
        None when the round ended. Its timer is never skipped to while the workload may still
        be woken by something real."""
        self._horizon = scope
        self._untraced_wait_s = 0.0
        if scope is not None:
            self.gave_up_real_wait = False

    def _is_horizon(self, handle: Any) -> bool:
        return (
            self._horizon is not None
            and getattr(handle._callback, "__self__", None) is self._horizon
        )

    def _wait_without_timers(self, timeout: float) -> list[Any] | None:
        """Only the horizon is pending: wait for real what can wake the loop (the events, maybe
        none), or None: nothing can, skip to the horizon."""
        if self._traceable_wake_up():
            self._untraced_wait_s = 0.0
            return self._wait_for_real(timeout)
        grace_s = REAL_WAIT_GRACE_S - self._untraced_wait_s
        if grace_s > 0 and self._untraced_wake_up_possible():
            started = time.perf_counter()
            events = self._wait_for_real(min(timeout, grace_s))
            if events:
                self._untraced_wait_s = 0.0
            else:
                self._untraced_wait_s += time.perf_counter() - started
            return events
        self.gave_up_real_wait = grace_s <= 0
        return None

    def _traceable_wake_up(self) -> bool:
        """Is a task waiting for a thread's future (``asyncio.wrap_future``)? (Calls through
        ``run_in_executor`` are counted already.)"""
        for task in asyncio.all_tasks(self._loop):
            waiter = getattr(task, "_fut_waiter", None)
            if waiter is not None and any(
                isinstance(future, asyncio.Future) and waits_for_thread(future)
                for future in children(waiter)
            ):
                return True
        return False

    def _untraced_wake_up_possible(self) -> bool:
        """Another thread (it may call ``call_soon_threadsafe``), a socket other than the
        loop's own wake-up pipe, or a child process (a server a fixture started lives as long
        as the session: it cannot tell that a round waits for it)."""
        assert self._steps is not None
        return (
            threading.active_count() > 1
            or len(self._steps._selector.get_map()) > 1
            or _child_process_running()
        )

    def _wait_for_real(self, timeout: float | None) -> list[Any]:
        assert self._steps is not None
        started = time.perf_counter()
        events = self._steps._real_select(timeout)
        self._waited_s += time.perf_counter() - started
        return events

    def _run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> Any:
        future = type(self._loop).run_in_executor(self._loop, executor, func, *args)
        assert self._steps is not None
        self._steps.threads_pending += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _future: object) -> None:
        assert self._steps is not None
        self._steps.threads_pending -= 1


def _child_process_running() -> bool:
    """Has this process a child that has not been reaped (asyncio's subprocess watcher waits
    for it in a thread)?"""
    waitid = getattr(os, "waitid", None)
    if waitid is None:
        return False
    try:
        waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    except OSError:
        return False
    return True


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
    happened inside. A loop the clock cannot drive raises :class:`VirtualClockError` at once.
    """
    loop = loop or asyncio.get_running_loop()
    active = _installed.get(loop)
    if active is not None:
        yield active
        return
    VirtualClock(loop)  # refuses an unsupported loop before anything is patched
    with loop_steps(loop) as steps:
        clock = VirtualClock(loop, steps)
        clock.install()
        _installed[loop] = clock
        try:
            yield clock
        finally:
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
