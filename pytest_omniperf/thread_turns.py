"""Serializing the calls a sequential round hands to threads through ``loop.run_in_executor``.

``run_in_executor`` submits its call at once, so a fan-out of calls gathered from one task
(``gather(*(loop.run_in_executor(pool, work) for ...))``) would run its threads concurrently in
the sequential rounds of a speedup and measure 1.00x. While a sequential round runs, each call
is submitted only when the call submitted before it in that round has finished; the caller gets
at once a future that completes with the call's result. ``asyncio.to_thread`` needs nothing
extra: it is a coroutine, so its task waits for its turn like any other.

A call that waits for a later call (a thread blocked on a queue another thread fills) would wait
forever in a strict order: so a call still running after :data:`THREAD_STALL_S` (on the loop's
clock, which follows real time while threads run) lets the next one start beside it, and the
stall is reported like the stalls of tasks. That bound needs a loop clock that follows real
time while threads run (asyncio's, uvloop's, the virtual clock's); on a test loop that keeps its
own time (aiostream's ``TimeTrackingTestLoop``) it would expire at once, so calls to threads
are not serialized there.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

RunInExecutor = Callable[..., "asyncio.Future[Any]"]

# Longer than the thread calls a speedup test serializes (they are the work being measured),
# short enough that threads feeding each other cost a few seconds, not a hung test.
THREAD_STALL_S = 5.0


def keeps_real_time(loop: asyncio.AbstractEventLoop) -> bool:
    """Does ``loop.time()`` follow real time (not a test loop's own clock)? uvloop's does."""
    loop_time = type(loop).time
    return loop_time is asyncio.BaseEventLoop.time or type(loop).__module__.startswith("uvloop")


class ThreadCallQueue:
    """The calls handed to threads in one sequential round, started one after another."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_stall: Callable[[str], None]) -> None:
        self._loop = loop
        self._on_stall = on_stall
        self._watch: asyncio.TimerHandle | None = None
        self._running: asyncio.Future[Any] | None = None
        self._waiting: deque[tuple[asyncio.Future[Any], Callable[[], asyncio.Future[Any]]]] = (
            deque()
        )
        self._open = True

    def submit(
        self, run: RunInExecutor, executor: Any, func: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        """``run(executor, func, *args)`` now if no call of this round is running, else later."""
        if not self._open or self._running is None or self._running.done():
            return self._start(lambda: run(executor, func, *args))
        outer: asyncio.Future[Any] = self._loop.create_future()
        self._waiting.append((outer, lambda: run(executor, func, *args)))
        return outer

    def is_queued(self, future: object) -> bool:
        """Is ``future`` a call still waiting for its turn (a wait for a thread)?"""
        return any(outer is future for outer, _start in self._waiting)

    def close(self) -> None:
        """The round is over: every call still waiting starts now."""
        self._open = False
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        while self._waiting:
            self._start_waiting()

    def _start(self, start: Callable[[], asyncio.Future[Any]]) -> asyncio.Future[Any]:
        inner = start()
        if self._open:
            self._running = inner
            inner.add_done_callback(self._next)
            self._watch = self._loop.call_later(THREAD_STALL_S, self._stalled, inner)
        return inner

    def _next(self, finished: asyncio.Future[Any]) -> None:
        if finished is self._running:
            if self._watch is not None:
                self._watch.cancel()
                self._watch = None
            self._running = None
            while self._waiting and self._running is None:
                self._start_waiting()

    def _stalled(self, running: asyncio.Future[Any]) -> None:
        if running is not self._running or not self._waiting:
            return
        self._on_stall(
            f"a call in a thread ran {THREAD_STALL_S:g} s and the next one started beside it"
        )
        self._next(running)

    def _start_waiting(self) -> None:
        outer, start = self._waiting.popleft()
        if outer.done():  # cancelled while waiting: never submitted
            return
        inner = self._start(start)
        inner.add_done_callback(lambda done: _copy_outcome(done, outer))
        outer.add_done_callback(lambda waiter: inner.cancel() if waiter.cancelled() else None)


def _copy_outcome(source: asyncio.Future[Any], destination: asyncio.Future[Any]) -> None:
    if destination.done():
        return
    if source.cancelled():
        destination.cancel()
    elif (error := source.exception()) is not None:
        destination.set_exception(error)
    else:
        destination.set_result(source.result())
