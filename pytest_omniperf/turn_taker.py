"""The coroutine of a task serialized in a sequential round (see :mod:`pytest_omniperf.serialize`).

:class:`TurnTaker` wraps the task's own coroutine: its first step waits for the task's turn in
the round's queue, every later step is reported to the round, and it passes the coroutine
attributes (``cr_code``, ``cr_frame``, ``cr_await``, ``__qualname__``) through, so tracebacks,
culprit names and ``task.get_coro()`` still describe the workload.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator, Iterator
from types import FrameType
from typing import Any, Protocol


class TurnQueue(Protocol):
    """What a :class:`TurnTaker` tells its round and asks of it (``sequential_round.Section``): a
    protocol, so this module does not import the one that imports it."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def sequence(self) -> Iterator[int]: ...

    def enqueue(self, taker: TurnTaker) -> None: ...

    def register(self, taker: TurnTaker, task: asyncio.Future[Any]) -> None: ...

    def may_start(self, taker: TurnTaker) -> bool: ...

    def started(self, taker: TurnTaker) -> None: ...

    def resumed(self, taker: TurnTaker) -> None: ...

    def blocked(self, taker: TurnTaker, waiter: Any) -> None: ...

    def finished(self, taker: TurnTaker) -> None: ...


class TurnTaker(Coroutine[Any, Any, Any]):
    """Wraps a task's coroutine: its first step waits for the turn, every step is reported."""

    __slots__ = (
        "_inner",
        "background",
        "done",
        "has_started",
        "section",
        "sequence",
        "task",
        "turn",
        "unawaited_watch",
        "watch",
    )

    def __init__(self, inner: Coroutine[Any, Any, Any], section: TurnQueue) -> None:
        self._inner = inner
        self.section = section
        self.sequence = next(section.sequence)
        self.task: asyncio.Future[Any] | None = None
        self.has_started = False
        self.done = False
        self.turn: asyncio.Future[None] | None = None
        self.watch: asyncio.TimerHandle | None = None
        self.background = False
        self.unawaited_watch: asyncio.TimerHandle | None = None
        section.enqueue(self)

    @property
    def label(self) -> str:
        return f"{getattr(self._inner, '__qualname__', type(self._inner).__name__)}()"

    def wake(self) -> None:
        if self.turn is not None and not self.turn.done():
            self.turn.set_result(None)

    def cancel_watch(self) -> None:
        if self.watch is not None:
            self.watch.cancel()
            self.watch = None

    def cancel_watches(self) -> None:
        self.cancel_watch()
        if self.unawaited_watch is not None:
            self.unawaited_watch.cancel()
            self.unawaited_watch = None

    # -- the coroutine protocol --------------------------------------------------------------

    def send(self, value: Any) -> Any:
        __tracebackhide__ = True  # pytest shows the workload's frames, not this wrapper's
        section = self.section
        if not self.has_started:
            if self.task is None:  # an eager task runs its first step inside the factory
                task = asyncio.current_task()
                if task is not None:
                    section.register(self, task)
            if not section.may_start(self):
                return self._wait_for_turn()
            self.has_started = True
            section.started(self)
            value = None
        else:
            section.resumed(self)
        try:
            waiter = self._inner.send(value)
        except BaseException:
            self._finish()
            raise
        if waiter is not None:
            section.blocked(self, waiter)
        return waiter

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        __tracebackhide__ = True
        if self.has_started:
            self.section.resumed(self)
        else:
            # Cancelled while waiting for its turn: the exception ends the coroutine before
            # its first line, as it would for any task cancelled before it started.
            self.has_started = True
            self.section.started(self)
        try:
            if val is None and tb is None:
                waiter = self._inner.throw(typ)
            else:
                waiter = self._inner.throw(typ, val, tb)
        except BaseException:
            self._finish()
            raise
        if waiter is not None:
            self.section.blocked(self, waiter)
        return waiter

    def close(self) -> None:
        self._inner.close()
        if not self.done:
            self._finish()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._inner.__await__()

    def abandon(self) -> None:
        """Leave the queue without running (no task could be made for this coroutine)."""
        if not self.done:
            self._finish()

    def _wait_for_turn(self) -> asyncio.Future[None]:
        if self.turn is None or self.turn.done():
            self.turn = self.section.loop.create_future()
        self.turn._asyncio_future_blocking = True
        return self.turn

    def _finish(self) -> None:
        self.done = True
        self.section.finished(self)

    # -- what introspection of the task sees (anyio asks whether a task has started) ---------

    @property
    def cr_running(self) -> bool:
        return bool(getattr(self._inner, "cr_running", False))

    @property
    def cr_suspended(self) -> bool:
        if not self.has_started:
            return self.turn is not None
        return bool(getattr(self._inner, "cr_suspended", False))

    @property
    def cr_frame(self) -> FrameType | None:
        return getattr(self._inner, "cr_frame", None)

    @property
    def cr_await(self) -> Any:
        return self.turn if not self.has_started else getattr(self._inner, "cr_await", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def inner(self) -> Coroutine[Any, Any, Any]:
        return self._inner
