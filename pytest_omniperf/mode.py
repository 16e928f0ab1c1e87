"""Parallel and sequential execution modes.

A speedup measurement runs the same workload twice: once as written (``parallel``) and once with
all the concurrency it creates run one piece after another (``sequential``), so unchanged
application code yields its own sequential baseline. The mode lives in a context variable, so it
follows the workload into the tasks it creates.

What is serialized: :func:`gather` from this package always; while :func:`serialized_concurrency`
is active (the plugin activates it during speedup measurements), ``asyncio.gather`` and every
task created in sequential mode (``create_task``, ``ensure_future``, ``TaskGroup``,
``asyncio.wait``/``as_completed`` over new tasks, anyio task groups): see
:mod:`pytest_omniperf.serialize`.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any

from pytest_omniperf.installed_patches import reset_context_var
from pytest_omniperf.serialize import sequential_section, task_serialization


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
    """Run the enclosed code (and the tasks it creates) in ``mode``.

    Under :func:`serialized_concurrency`, each sequential section is one round of turns: tasks
    it leaves behind run freely once it ends, so they cannot hold up the next round.
    """
    token = _mode.set(mode)
    try:
        with sequential_section(mode is Mode.SEQUENTIAL):
            yield
    finally:
        reset_context_var(_mode, token)


def gather(*aws: Awaitable[Any], return_exceptions: bool = False) -> asyncio.Future[list[Any]]:
    """``asyncio.gather`` that awaits its arguments in order when the mode is sequential.

    Same signature, result order and ``return_exceptions`` semantics as ``asyncio.gather``; it
    returns a future, so it can be awaited, cancelled or given callbacks the same way.
    """
    if _mode.get() is Mode.PARALLEL or not aws:
        return _asyncio_gather(*aws, return_exceptions=return_exceptions)
    for awaitable in aws:
        if isinstance(awaitable, asyncio.Future):
            # Tasks created before the gather are waited for from now on, though the in-order
            # gatherer reaches them one by one: the serialized rounds must not take them for
            # background tasks nobody waits for (see pytest_omniperf.task_waits.awaited).
            awaitable.add_done_callback(_waited_for_by_gather)
    return asyncio.ensure_future(_gather_in_order(aws, return_exceptions))


def _waited_for_by_gather(_future: asyncio.Future[Any]) -> None:
    """Marks a future as waited for by a sequential gather; does nothing when it completes."""


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


@contextmanager
def serialized_concurrency() -> Iterator[None]:
    """Serialize the concurrency the enclosed code creates while the mode is sequential.

    ``asyncio.gather`` is routed through :func:`gather`, and a task factory on the running loop
    starts the tasks created in sequential mode one after another (chaining any factory already
    set). In parallel mode nothing changes. Both are undone on every exit path.
    """
    with patched_asyncio_gather(), task_serialization():
        yield
