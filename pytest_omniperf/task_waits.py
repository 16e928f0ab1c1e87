"""What a suspended task is waiting for, found by looking at its futures, frames and callbacks.

Used by :mod:`pytest_omniperf.serialize` to decide whether the task holding the turn waits for
tasks that have not started (then it lends them its turn), for a sleep or a thread (then it
keeps it), or for something else. Everything here only reads; it relies on attributes that
CPython's asyncio and anyio keep on their objects (``_callbacks``, ``_fut_waiter``, a task group's
``_tasks`` and ``_on_completed_fut``), and degrades to "not found" where they are missing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from types import FrameType
from typing import Any

# What completes the future of an asyncio.sleep when its timer fires.
_SLEEP_DONE = asyncio.futures._set_result_unless_cancelled  # type: ignore[attr-defined]

# Frames deeper than this in an await chain are not searched for the tasks being waited on.
_MAX_AWAIT_DEPTH = 32


def children(waiter: Any) -> Iterator[Any]:
    """``waiter`` itself and, for a gathering future, everything it gathers (recursively)."""
    yield waiter
    for child in getattr(waiter, "_children", None) or ():  # a gathering future
        yield from children(child)


def callback_referents(task: asyncio.Future[Any]) -> Iterator[Any]:
    """What the done-callbacks of ``task`` refer to."""
    for callback, _context in getattr(task, "_callbacks", None) or ():
        yield from referents(callback)


def referents(callback: Any) -> Iterator[Any]:
    """What a callback refers to: its bound object, closure cells, partial arguments."""
    bound = getattr(callback, "__self__", None)
    if bound is not None:
        yield bound
    yield from getattr(callback, "args", ())  # functools.partial
    for cell in getattr(callback, "__closure__", None) or ():
        try:
            yield cell.cell_contents
        except ValueError:  # an empty cell
            continue


def tasks_in(value: Any) -> Iterator[Any]:
    """The futures a frame's local holds: itself, the items of a collection, or the ``_tasks``
    of a task group (asyncio's, anyio's) and the ``_todo`` of an as_completed iterator."""
    if isinstance(value, asyncio.Future):
        yield value
    elif isinstance(value, set | frozenset | list | tuple):
        yield from (item for item in value if isinstance(item, asyncio.Future))
    else:
        owned = getattr(value, "_tasks", None) or getattr(value, "_todo", None)
        if isinstance(owned, set | list | dict):
            yield from (item for item in owned if isinstance(item, asyncio.Future))


def await_chain_frames(coro: Any) -> Iterator[FrameType]:
    """The frames of ``coro`` and of the coroutines and generators it is suspended in."""
    current = coro
    for _ in range(_MAX_AWAIT_DEPTH):
        frame = getattr(current, "cr_frame", None) or getattr(current, "gi_frame", None)
        if frame is None:
            return
        yield frame
        current = getattr(current, "cr_await", None) or getattr(current, "gi_yieldfrom", None)


def awaited(task: asyncio.Future[Any] | None) -> bool:
    """Does anything wait for ``task``: a task awaiting it, a gather, a wait, a task group that
    is waiting for its tasks?

    Book-keeping callbacks (``background_tasks.discard``, the recommended way to keep a
    fire-and-forget task alive) do not count, nor does a task group whose body is still running
    (asyncio's and anyio's set ``_on_completed_fut`` only while they wait at the end).
    """
    for callback, _context in getattr(task, "_callbacks", None) or ():
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, set | dict | list):
            continue
        if not any(_task_group_in_body(referent) for referent in referents(callback)):
            return True
    return False


def _task_group_in_body(candidate: Any) -> bool:
    return hasattr(candidate, "_on_completed_fut") and candidate._on_completed_fut is None


def waits_for_sleep(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[Any]) -> bool:
    """Is ``waiter`` completed by nothing but a timer (``asyncio.sleep``, ``anyio.sleep``)?

    Other timers (``wait_for``'s or ``asyncio.timeout``'s) only bound a wait for something else.
    """
    return any(
        handle._callback is _SLEEP_DONE and waiter in handle._args
        for handle in getattr(loop, "_scheduled", ())
    )


def waits_for_thread(waiter: asyncio.Future[Any]) -> bool:
    """Is ``waiter`` chained to a thread's future (``run_in_executor``, ``to_thread``)?"""
    for callback, _context in getattr(waiter, "_callbacks", None) or ():
        for cell in getattr(callback, "__closure__", None) or ():
            try:
                if isinstance(cell.cell_contents, concurrent.futures.Future):
                    return True
            except ValueError:  # an empty cell
                continue
    return False


def feeds_a_joined_queue(loop: asyncio.AbstractEventLoop, coro: Any) -> bool:
    """Does the code ``coro`` runs hold an ``asyncio.Queue`` that some task is waiting to
    ``join()``? Then that task waits for it, as for a worker of the queue, though nothing
    awaits the worker itself (the pattern of asyncio's Queue documentation: workers that loop
    forever, ``await queue.join()``, then cancel them)."""
    joins = {
        id(waiter)
        for task in asyncio.all_tasks(loop)
        if (waiter := getattr(task, "_fut_waiter", None)) is not None
    }
    if not joins:
        return False
    for frame in await_chain_frames(coro):
        for value in frame.f_locals.values():
            if isinstance(value, asyncio.Queue):
                finished = getattr(value, "_finished", None)
                waiters = getattr(finished, "_waiters", None) or ()
                if any(id(waiter) in joins for waiter in waiters):
                    return True
    return False
