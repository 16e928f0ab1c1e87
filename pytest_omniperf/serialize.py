"""Serializing the tasks a workload creates during the sequential rounds of a speedup.

While :func:`serialized_concurrency` is active, a task factory on the running loop hands every
task created in a sequential round a turn in one first-in-first-out queue (one queue per round,
opened by ``use_mode(Mode.SEQUENTIAL)``): a task starts only when the task before it finished, so
``asyncio.gather``, ``TaskGroup``, ``create_task``, ``asyncio.wait``, ``as_completed`` and anyio
task groups all run their children one after another. Only the start of a task is held back; once
it runs, its steps are never delayed.

Each round's queue is a :class:`~pytest_omniperf.sequential_round.Section`: how it lends the
turn to a task the holder waits for, moves on after a stall and records what still overlapped
is described there. This module holds the task factory that puts new tasks in the open round,
and the context that tells which round is open.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

from pytest_omniperf.installed_patches import reset_context_var
from pytest_omniperf.sequential_round import Section, SequentialOverlap
from pytest_omniperf.thread_turns import keeps_real_time
from pytest_omniperf.turn_taker import TurnTaker


class _Installation:
    """The serializing task factory of one loop, set while a sequential section is open (the
    parallel rounds create their tasks untouched), and what it found."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.previous_factory: Any = None
        self.run_in_executor_before: Any = None
        self.open_sections = 0
        self.overlap = SequentialOverlap()
        self._patched: list[tuple[str, object, object]] = []

    def section_opened(self) -> None:
        if self.open_sections == 0:
            self.previous_factory = self.loop.get_task_factory()
            self.loop.set_task_factory(self.create_task)
            self.run_in_executor_before = self.loop.run_in_executor
            # Instance attributes, as the virtual clock's (which this one then calls). A
            # workload that sets its own task factory during the round gets it chained behind
            # the serializing one, and reads it back, instead of replacing it.
            if keeps_real_time(self.loop):
                self._patch("run_in_executor", self.run_in_executor)
            self._patch("set_task_factory", self._set_task_factory)
            self._patch("get_task_factory", self._get_task_factory)
        self.open_sections += 1

    def _patch(self, name: str, value: object) -> None:
        self._patched.append((name, vars(self.loop).get(name, _NOT_SET), value))
        setattr(self.loop, name, value)

    def _set_task_factory(self, factory: Any) -> None:
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self.previous_factory = factory

    def _get_task_factory(self) -> Any:
        return self.previous_factory

    def section_closed(self) -> None:
        self.open_sections -= 1
        if self.open_sections == 0:
            self.uninstall()

    def uninstall(self) -> None:
        """Put the loop's own task factory back (also when a timeout skipped a section's end)."""
        self.open_sections = 0
        while self._patched:
            name, previous, ours = self._patched.pop()
            if vars(self.loop).get(name) != ours:
                continue  # replaced since: not ours to restore
            if previous is _NOT_SET:
                del vars(self.loop)[name]
            else:
                setattr(self.loop, name, previous)
        if self.loop.get_task_factory() == self.create_task:
            self.loop.set_task_factory(self.previous_factory)

    def run_in_executor(
        self, executor: Any, func: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        """``loop.run_in_executor``, one call after another within a sequential round."""
        section = _section.get()
        if section is None or not section.open:
            return self.run_in_executor_before(executor, func, *args)  # type: ignore[no-any-return]
        return section.thread_calls.submit(self.run_in_executor_before, executor, func, *args)

    def create_task(
        self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
    ) -> asyncio.Future[Any]:
        context: contextvars.Context | None = kwargs.get("context")
        section = context.get(_section) if context is not None else _section.get()
        turn_taker = None
        if section is not None and section.open and isinstance(coro, Coroutine):
            turn_taker = coro = TurnTaker(coro, section)
        try:
            if self.previous_factory is None:
                task: asyncio.Future[Any] = asyncio.Task(coro, loop=loop, **kwargs)
            else:
                task = self.previous_factory(loop, coro, **kwargs)
        except BaseException:
            if turn_taker is not None:  # no task will ever run it: it must not hold the queue
                turn_taker.abandon()
            raise
        if turn_taker is not None:
            turn_taker.section.register(turn_taker, task)
        return task


_NOT_SET = object()

_installation: contextvars.ContextVar[_Installation | None] = contextvars.ContextVar(
    "omniperf_serialization", default=None
)
_section: contextvars.ContextVar[Section | None] = contextvars.ContextVar(
    "omniperf_sequential_section", default=None
)
_last_overlap: contextvars.ContextVar[SequentialOverlap | None] = contextvars.ContextVar(
    "omniperf_last_sequential_overlap", default=None
)


@contextmanager
def task_serialization() -> Iterator[SequentialOverlap]:
    """Serialize the tasks created in the sequential sections of the enclosed code.

    Each sequential section (see :func:`sequential_section`) sets the serializing task factory
    on the running loop, chaining any factory already set, and restores it when it ends, on
    every exit path.
    """
    installation = _Installation(asyncio.get_running_loop())
    token = _installation.set(installation)
    try:
        yield installation.overlap
    finally:
        installation.uninstall()
        reset_context_var(_installation, token)
    # Only a measurement that completed is recorded, and it takes its findings at once: none
    # can be left over for a later measurement.
    _last_overlap.set(installation.overlap)


def take_sequential_overlap() -> SequentialOverlap | None:
    """What the last serialization in this context found; each finding is taken once."""
    overlap = _last_overlap.get()
    if overlap is not None:
        _last_overlap.set(None)
    return overlap


@contextmanager
def sequential_section(sequential: bool) -> Iterator[None]:
    """Open a fresh turn queue for the enclosed sequential code (no-op without serialization).

    ``sequential=False`` closes the queue for the enclosed code, so a parallel section nested
    in a sequential one runs its tasks as written.
    """
    installation = _installation.get()
    if installation is None:
        yield
        return
    section = Section(installation.loop, installation.overlap) if sequential else None
    token = _section.set(section)
    if section is not None:
        installation.section_opened()
    try:
        yield
    finally:
        reset_context_var(_section, token)
        if section is not None:
            installation.section_closed()
            section.close()
