"""Parallel and sequential execution modes.

A speedup measurement runs the same workload twice: once as written (``parallel``) and once with
every gather awaited one awaitable after another (``sequential``), so unchanged application code
yields its own sequential baseline. The mode lives in a context variable, so it follows the
workload into the tasks it creates.

What is serialized: :func:`gather` from this package always, and ``asyncio.gather`` while
:func:`patched_asyncio_gather` is active (the plugin activates it during speedup measurements).
What is *not* serialized: tasks the code starts itself with ``asyncio.create_task`` or a
``TaskGroup``, and modules that bound ``gather`` by name (``from asyncio import gather``) before
the patch; use ``pytest_omniperf.gather`` there.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any


class Mode(enum.Enum):
    """How gathers run: as written, or one awaitable after another."""

    PARALLEL = "parallel"
    SEQUENTIAL = "sequential"


_mode: contextvars.ContextVar[Mode] = contextvars.ContextVar("omniperf_mode", default=Mode.PARALLEL)

# Bound at import time, before any patch, so the parallel path never calls itself.
_asyncio_gather = asyncio.gather


def current_mode() -> Mode:
    """The mode of the running code: ``Mode.SEQUENTIAL`` during the baseline rounds of a speedup."""
    return _mode.get()


@contextmanager
def use_mode(mode: Mode) -> Iterator[None]:
    """Run the enclosed code (and the tasks it creates) in ``mode``."""
    token = _mode.set(mode)
    try:
        yield
    finally:
        _mode.reset(token)


def gather(*aws: Awaitable[Any], return_exceptions: bool = False) -> asyncio.Future[list[Any]]:
    """``asyncio.gather`` that awaits its arguments in order when the mode is sequential.

    Same signature, result order and ``return_exceptions`` semantics as ``asyncio.gather``; it
    returns a future, so it can be awaited, cancelled or given callbacks the same way.
    """
    if _mode.get() is Mode.PARALLEL or not aws:
        return _asyncio_gather(*aws, return_exceptions=return_exceptions)
    return asyncio.ensure_future(_gather_in_order(aws, return_exceptions))


async def _gather_in_order(aws: tuple[Awaitable[Any], ...], return_exceptions: bool) -> list[Any]:
    results: list[Any] = []
    pending = list(aws)
    try:
        while pending:
            # Each awaitable still gets a task of its own, as under asyncio.gather, so context
            # variables and current_task() behave the same in both modes.
            child = asyncio.ensure_future(pending.pop(0))
            try:
                results.append(await child)
            except asyncio.CancelledError as error:
                task = asyncio.current_task()
                if not return_exceptions or (task is not None and task.cancelling()):
                    raise  # the gather itself was cancelled, not only the child
                results.append(error)
            except Exception as error:
                if not return_exceptions:
                    raise
                results.append(error)
        return results
    finally:
        _close_unstarted(pending)


def _close_unstarted(pending: list[Awaitable[Any]]) -> None:
    """Close coroutines that never ran, so they do not warn 'was never awaited'."""
    for awaitable in pending:
        close = getattr(awaitable, "close", None)
        if asyncio.iscoroutine(awaitable) and close is not None:
            close()


@contextmanager
def patched_asyncio_gather() -> Iterator[None]:
    """Route ``asyncio.gather`` through :func:`gather` for the enclosed code, then restore it.

    In parallel mode the patched function delegates to the original, so only the sequential
    rounds change behaviour. Restoration happens on every exit path, errors included.
    """
    previous = asyncio.gather, asyncio.tasks.gather
    asyncio.gather = asyncio.tasks.gather = gather  # type: ignore[assignment]
    try:
        yield
    finally:
        asyncio.gather, asyncio.tasks.gather = previous
