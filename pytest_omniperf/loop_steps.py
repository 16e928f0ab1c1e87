"""Loop-step accounting: how long an asyncio event loop was busy, and its longest single step.

An event loop alternates between waiting in ``selector.select`` and running callbacks (task steps,
``call_soon`` callbacks, I/O callbacks). :class:`LoopSteps` wraps the selector's ``select`` of one
loop and times each *step*: the wall time from ``select`` returning to the next ``select`` call.
That is the loop's busy time: CPU work, blocking calls, everything that holds the loop.

Waiting for a CPU is not the workload's cost: on a shared machine a thread descheduled inside a
callback looks busy to a wall clock (NOISE.md: 53% of samples waited in the run queue). So a step
longer than :data:`LONG_STEP_S` is discounted by the time this thread spent on a run queue
meanwhile, read from ``/proc/<tid>/schedstat`` (Linux; elsewhere steps count in plain wall time).
A blocking ``time.sleep`` is not a run-queue wait (the thread sleeps), so it counts in full.

Per-callback attribution (which coroutine or callback ran long, and where) costs a wrapper around
every ``Handle._run``, so it is installed only while a blocking budget is active.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import CodeType
from typing import Any

from pytest_omniperf.installed_patches import register, unregister

# Steps longer than this are checked against the run queue; shorter ones cost two clock reads.
# A preempted step waits a whole time slice of another process (milliseconds), so it is long.
LONG_STEP_S = 0.0005
# Read on every loop iteration: a module global is the cheapest lookup.
_perf_counter = time.perf_counter

ITERATION = "one loop iteration"  # the culprit when callbacks are not timed one by one

UNSUPPORTED_LOOP = (
    "{what} cannot run on {loop_class} ({reason}): it needs asyncio's own selector event loop "
    "(asyncio.SelectorEventLoop, the default on Linux and macOS); "
    "use clock='real' and no blocking budget for this loop, or run the test on the default loop"
)


def loop_class_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop.Loop``, ``aiostream.test_utils.TimeTrackingTestLoop``: the class to look for."""
    loop_class = type(loop)
    module = loop_class.__module__
    return (
        loop_class.__name__
        if module in ("builtins", "__main__")
        else f"{module}.{loop_class.__name__}"
    )


class UnsupportedLoopError(RuntimeError):
    """The loop cannot be timed step by step (not asyncio's selector loop, or one that
    replaces how it keeps time or waits)."""


def unsupported_reason(loop: asyncio.AbstractEventLoop) -> str | None:
    """Why ``loop`` cannot be driven step by step, or None when it can.

    Refused at once, before anything is patched: a loop with its own notion of time (a test loop
    that advances a private clock) or its own ``_run_once`` would fight the virtual clock and hang.
    """
    if not isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop):
        return "not a selector-based asyncio loop"
    loop_class = type(loop)
    for method in ("time", "_run_once", "_process_events"):
        if getattr(loop_class, method) is not getattr(asyncio.BaseEventLoop, method, None) and (
            getattr(loop_class, method)
            is not getattr(asyncio.selector_events.BaseSelectorEventLoop, method, None)
        ):
            return f"it overrides {method}()"
    selector = getattr(loop, "_selector", None)
    if not isinstance(selector, selectors.BaseSelector):
        return "its selector is not a selectors.BaseSelector"
    if "select" in vars(selector) and loop not in _installed:
        return "its selector's select() is already replaced by someone else"
    select_owner = next(klass for klass in type(selector).__mro__ if "select" in vars(klass))
    if select_owner.__module__ != "selectors":
        return f"its selector {type(selector).__name__} overrides select()"
    return None


class RunQueueWait:
    """Cumulative seconds this thread has waited on a CPU run queue (Linux schedstat)."""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open(
                f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY
            )
        except OSError:
            self._fd = None

    def total_s(self) -> float:
        if self._fd is None:
            return 0.0
        try:
            # pread at offset 0 regenerates the line: about 0.5 us, no reopen.
            return int(os.pread(self._fd, 128, 0).split()[1]) * 1e-9
        except (OSError, IndexError, ValueError):
            return 0.0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(frozen=True)
class SlowStep:
    """The longest step of the loop seen in a measurement."""

    duration_s: float
    culprit: str
    """The coroutine or callback and its file:line, or "one loop iteration" when callbacks are
    not timed one by one."""
    round_label: str


class LoopSteps:
    """Times every step of one loop. Use :func:`loop_steps` to install it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        reason = unsupported_reason(loop)
        if reason is not None:
            raise UnsupportedLoopError(reason)
        self.loop = loop
        self._selector: Any = loop._selector  # type: ignore[attr-defined]
        self._real_select: Callable[[float | None], list[Any]] = self._selector.select
        self.wait: Callable[[float | None], list[Any]] = self._real_select
        """How the loop waits; the virtual clock replaces it with one that skips idle time."""
        self.run_queue = RunQueueWait()
        self._step_started = time.perf_counter()
        self._run_queue_mark_s = self.run_queue.total_s()
        self._step_discount_s = 0.0
        self._waiting = False
        self.threads_pending = 0
        """Calls handed to threads and not finished (counted by the virtual clock)."""
        self.busy_s = 0.0
        """Busy seconds of all completed steps since installation."""
        self.round_number = 0
        """The round being measured (from 1); 0 while nothing is recorded (warmup)."""
        self.rounds_total = 0
        self.round_arm = ""
        # The longest step so far, kept as plain fields: it is updated on the hot path, and a
        # SlowStep (with its text) is built only when asked for.
        self._longest_s = -1.0
        self._longest_culprit = ""
        self._longest_round = 0
        self._longest_arm = ""
        self.attributing = False
        """Callbacks are timed one by one (then they, not whole iterations, are the steps)."""
        self.workload = ""
        """The measured function (``test_x() at test_app.py:12``): the culprit of a step in
        which it ran to its end without yielding, leaving only the measuring code suspended."""
        self._callback: asyncio.Handle | None = None
        self._callback_started = 0.0
        self._installed = False

    # -- installation ------------------------------------------------------------------------

    def install(self) -> None:
        self._selector.select = self._select
        # The clock first, the run queue second (everywhere): a wait between the two readings
        # then counts as busy time rather than being taken off time that never contained it.
        # Read the other way round, one preemption there made a blocking time.sleep(0.02)
        # measure 13 ms (tests/test_virtual_clock.py under load).
        self._step_started = time.perf_counter()
        self._run_queue_mark_s = self.run_queue.total_s()
        self._installed = True
        register(self, self.uninstall)

    def uninstall(self) -> None:
        """Restore the selector; safe to call twice (a timeout may skip the first caller)."""
        if not self._installed:
            return
        self._installed = False
        unregister(self)
        if _installed.get(self.loop) is self:
            del _installed[self.loop]
        self._selector.__dict__.pop("select", None)
        self.run_queue.close()

    # -- accounting --------------------------------------------------------------------------

    def _select(self, timeout: float | None) -> list[Any]:
        ended = _perf_counter()
        step_s = ended - self._step_started
        if step_s > LONG_STEP_S:
            ended, step_s = self._end_long_step()
        self.busy_s += step_s
        if self.round_number and not self.attributing and step_s > self._longest_s:
            self._keep_longest(step_s, ITERATION)
        self._waiting = True
        try:
            return self.wait(timeout)
        finally:  # also when a timeout signal interrupts the wait: the next step starts now
            self._waiting = False
            self._step_started = _perf_counter()
            if self._step_started - ended > LONG_STEP_S:
                # A long wait may end with a run-queue wait before this thread runs again:
                # neither a step's cost nor to be discounted from the next step.
                self._run_queue_mark_s = self.run_queue.total_s()

    def _end_long_step(self) -> tuple[float, float]:
        """End the running step now: its end, and its wall time minus the run-queue wait since
        the last reading. The run queue is read before the clock, so every wait taken off lies
        inside the wall time it is taken from."""
        waited_s = self.take_run_queue_wait() + self._step_discount_s
        self._step_discount_s = 0.0
        ended = _perf_counter()
        wall_s = ended - self._step_started
        if self.threads_pending:
            # Work in threads goes on in real time while this thread waits for a CPU: the
            # loop is waiting for it anyway, so that time is not to be taken off.
            return ended, wall_s
        return ended, max(wall_s - waited_s, 0.0)

    def take_run_queue_wait(self) -> float:
        """Run-queue seconds since the previous reading (which this one replaces)."""
        total_s = self.run_queue.total_s()
        waited_s = max(total_s - self._run_queue_mark_s, 0.0)
        self._run_queue_mark_s = total_s
        return waited_s

    def start_round(self, number: int, arm: str = "") -> float:
        """Record what follows as round ``number`` (0: record nothing) of ``arm`` (how a round
        of arms measured interleaved names its arm: ``sequential mode``, ``pooling_on``);
        returns the busy time so far. The running step is split here, so no step spans two
        rounds."""
        self.split_step()
        self.round_number = number
        self.round_arm = arm
        return self.busy_s

    def _keep_longest(self, duration_s: float, culprit: str) -> None:
        self._longest_s = duration_s
        self._longest_culprit = culprit
        self._longest_round = self.round_number
        self._longest_arm = self.round_arm

    @property
    def longest(self) -> SlowStep | None:
        """The longest step recorded since :meth:`forget_longest`, if any."""
        if self._longest_s < 0:
            return None
        label = f"round {self._longest_round} of {self.rounds_total}"
        if self._longest_arm:
            label += f", {self._longest_arm}"
        return SlowStep(self._longest_s, self._longest_culprit, label)

    def forget_longest(self) -> None:
        self._longest_s = -1.0

    def split_step(self) -> None:
        """Account the running step (and callback) up to now, as if a step ended here.

        Called at round boundaries: a workload that never yields runs all its rounds inside one
        step of the loop, and its longest step must still belong to one round.
        """
        now = time.perf_counter()
        step_wall_s = step_s = now - self._step_started
        if step_wall_s > LONG_STEP_S:
            now, step_s = self._end_long_step()
            step_wall_s = now - self._step_started
        self.busy_s += step_s
        self._step_started = now
        if not self.round_number:
            self._callback_started = now  # what ran before the first round is no round's
            return
        # Called by the measuring task, between rounds: the step (or callback) ending here is
        # that task's, in which the workload ran to its end. Its coroutine chain cannot show
        # it (a running coroutine has no cr_await, and a test runner may be outermost).
        if self.attributing and self._callback is not None:
            # The callback runs inside this step: the step's run-queue wait is the callback's.
            callback_s = max(now - self._callback_started - (step_wall_s - step_s), 0.0)
            self._callback_started = now
            if callback_s > self._longest_s:
                culprit = (
                    f"coroutine {self.workload}"
                    if self.workload
                    else describe_handle(self._callback)
                )
                self._keep_longest(callback_s, culprit)
        elif step_s > self._longest_s:
            # Not inside a timed callback: the measuring task's own step, which began before
            # callbacks were timed, or callbacks are not timed at all.
            task = asyncio.current_task(self.loop) if self.attributing else None
            if task is None:
                culprit = ITERATION
            elif self.workload:
                culprit = f"coroutine {self.workload}"
            else:
                culprit = f"coroutine {_describe_coroutine(task.get_coro())}"
            self._keep_longest(step_s, culprit)

    def live_busy_s(self) -> float:
        """Busy seconds so far, including the step running now (the caller is inside it)."""
        if self._waiting:
            return self.busy_s  # between steps: the wait is not busy time
        running_s = _perf_counter() - self._step_started
        if running_s > LONG_STEP_S and not self.threads_pending:
            waited_s = max(self.run_queue.total_s() - self._run_queue_mark_s, 0.0)
            waited_s += self._step_discount_s
            # the clock again, after the run queue (see install)
            running_s = max(_perf_counter() - self._step_started - waited_s, 0.0)
        return self.busy_s + running_s

    def note_callback(self, duration_s: float, handle: asyncio.Handle) -> None:
        """A single callback of this loop ran ``duration_s`` (wall); keep it if the longest."""
        if duration_s > LONG_STEP_S:
            waited_s = self.take_run_queue_wait()
            # The enclosing step must not discount this wait again.
            self._step_discount_s += waited_s
            # the clock again, after the run queue (see install)
            duration_s = max(_perf_counter() - self._callback_started - waited_s, 0.0)
        if self.round_number and duration_s > self._longest_s:
            self._keep_longest(duration_s, describe_handle(handle, self.workload))


_installed: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopSteps] = (
    weakref.WeakKeyDictionary()
)


@contextmanager
def loop_steps(
    loop: asyncio.AbstractEventLoop | None = None, *, attribute_callbacks: bool = False
) -> Iterator[LoopSteps]:
    """Time the steps of ``loop`` (default: the running loop) for the enclosed code.

    Nested use on the same loop shares the installed accounting. With ``attribute_callbacks``,
    each callback's duration is measured too, so the longest step names its coroutine.
    """
    loop = loop or asyncio.get_running_loop()
    steps = _installed.get(loop)
    owner = steps is None
    if steps is None:
        steps = LoopSteps(loop)
        steps.install()
        _installed[loop] = steps
    try:
        if attribute_callbacks:
            with _callbacks_attributed(steps):
                yield steps
        else:
            yield steps
    finally:
        if owner:
            steps.uninstall()


# -- per-callback attribution ------------------------------------------------------------------

_attributed: dict[asyncio.AbstractEventLoop, LoopSteps] = {}
_original_handle_run = asyncio.events.Handle._run


def _timed_handle_run(handle: asyncio.Handle) -> None:
    steps = _attributed.get(handle._loop)  # type: ignore[attr-defined]
    if steps is None:
        _original_handle_run(handle)
        return
    steps._callback = handle
    steps._callback_started = _perf_counter()
    try:
        _original_handle_run(handle)
    finally:
        steps.note_callback(_perf_counter() - steps._callback_started, handle)
        steps._callback = None


@contextmanager
def _callbacks_attributed(steps: LoopSteps) -> Iterator[None]:
    """Time each callback of ``steps.loop``: a class-level patch of ``Handle._run`` (it covers
    ``TimerHandle``), restored when the last loop using it leaves."""
    if steps.loop in _attributed:
        yield
        return
    _attributed[steps.loop] = steps
    steps.attributing = True
    asyncio.events.Handle._run = _timed_handle_run  # type: ignore[method-assign,assignment]
    token = object()
    register(token, lambda: _stop_attributing(steps.loop))
    try:
        yield
    finally:
        unregister(token)
        _stop_attributing(steps.loop)


def _stop_attributing(loop: asyncio.AbstractEventLoop) -> None:
    steps = _attributed.pop(loop, None)
    if steps is not None:
        steps.attributing = False
    if not _attributed:
        asyncio.events.Handle._run = _original_handle_run  # type: ignore[method-assign]


def describe_handle(handle: asyncio.Handle, workload: str = "") -> str:
    """``coroutine fetch() at app.py:42`` or ``callback tick() at app.py:7``, as asyncio's debug
    mode names slow callbacks. ``workload`` names a task in which only measuring code is left."""
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        return f"coroutine {_describe_coroutine(task.get_coro(), workload)}"
    function = getattr(callback, "__func__", callback)
    code = getattr(function, "__code__", None)
    name = getattr(function, "__qualname__", repr(callback))
    if code is None:
        return f"callback {name}"
    return f"callback {name}() at {code.co_filename}:{code.co_firstlineno}"


_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)
_OWN_DIR = os.path.dirname(__file__)


def describe_workload(call: Callable[..., Any]) -> str:
    """``test_x() at test_app.py:12`` for the function behind ``call`` (through partials and
    ``__wrapped__``), or "" when it has no code to point at."""
    for _ in range(8):
        inner = getattr(call, "func", None) or getattr(call, "__wrapped__", None)
        if inner is None:
            break
        call = inner
    code = getattr(call, "__code__", None)
    if not isinstance(code, CodeType):
        return ""
    return f"{code.co_qualname}() at {code.co_filename}:{code.co_firstlineno}"


def _describe_coroutine(coroutine: object, workload: str = "") -> str:
    """The innermost coroutine of the task outside asyncio and this plugin's measuring code, at
    the line it stopped (or, when it finished in that step, where it is defined). A task with
    only measuring code suspended is the measuring task whose ``workload`` ran to its end in
    that step without yielding (the test runner's own coroutines may be outside it): that
    workload is named."""
    described = "<unknown>"
    measuring_code_innermost = False
    # duck-typed: a coroutine wrapped by the sequential rounds' task factory (serialize.py)
    # forwards cr_code, cr_frame and cr_await
    while isinstance(code := getattr(coroutine, "cr_code", None), CodeType):
        where = os.path.dirname(code.co_filename)
        if where == _ASYNCIO_DIR:
            break
        if where != _OWN_DIR or described == "<unknown>":
            frame = getattr(coroutine, "cr_frame", None)
            line = frame.f_lineno if frame is not None else code.co_firstlineno
            described = f"{code.co_qualname}() at {code.co_filename}:{line}"
        measuring_code_innermost = where == _OWN_DIR
        coroutine = getattr(coroutine, "cr_await", None)
    if measuring_code_innermost and workload:
        return workload
    return described
