"""One sequential round of a speedup: the queue of the tasks it creates, and who holds the turn.

A task starts only when the task before it finished. Tasks that wait for tasks created after them
would deadlock in a plain queue. So when the task holding the turn blocks *on* a task that has
not started yet (awaits it, gathers it, waits for its task group or for
``asyncio.wait``/``as_completed`` over it), it lends its turn to that task, like a function call,
and takes it back when the task finishes. A holder blocked on anything else (I/O, or an event or
queue fed by a later task, or a server started with ``start()``) gives its turn to the next task
after :data:`STALL_S` of its clock. A task that steps while the holder is running or sleeping ran
concurrently with it: stalls and such overlaps are recorded in :class:`SequentialOverlap` and
reported. Sleeps and threads keep the turn for as long as they last: they are the work being
serialized. The task factory that puts tasks in the round is :mod:`pytest_omniperf.serialize`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_omniperf.task_waits import (
    await_chain_frames,
    awaited,
    callback_referents,
    children,
    feeds_a_joined_queue,
    tasks_in,
    waits_for_sleep,
    waits_for_thread,
)
from pytest_omniperf.thread_turns import ThreadCallQueue
from pytest_omniperf.turn_taker import TurnTaker

# How long (on the loop's clock) a task holding the turn may wait on something that cannot be
# traced to a timer, a thread or a task before the next task gets the turn. Long enough for a
# local request to answer, short enough that an event fed by a later task costs little.
STALL_S = 0.25


@dataclass
class SequentialOverlap:
    """What the sequential rounds could not serialize (nothing, ideally)."""

    resumed_concurrently: int = 0
    """Steps of a serialized task taken while another task held the turn."""
    stalls: int = 0
    """Turns handed on after the holder waited :data:`STALL_S` on something untraceable."""
    earlier_tasks: int = 0
    thread_stalls: int = 0
    """Calls in threads started beside one still running after ``THREAD_STALL_S``."""
    """The most tasks created before the measurement that ran during one sequential round."""
    examples: list[str] = field(default_factory=list)
    """The first few of them, described ("consumer() ran while producer() held the turn")."""

    @property
    def count(self) -> int:
        return self.resumed_concurrently + self.stalls + self.earlier_tasks + self.thread_stalls

    def note(self, description: str) -> None:
        self.resumed_concurrently += 1
        self._example(description)

    def stalled(self, description: str) -> None:
        self.stalls += 1
        self._example(description)

    def thread_stalled(self, description: str) -> None:
        self.thread_stalls += 1
        self._example(description)

    def ran_unserialized(self, tasks: int, description: str) -> None:
        self.earlier_tasks = max(self.earlier_tasks, tasks)
        self._example(description)

    def _example(self, description: str) -> None:
        if len(self.examples) < 3 and description not in self.examples:
            self.examples.append(description)

    def describe(self) -> str:
        """One phrase for a failure message, or "" when everything was serialized."""
        parts = []
        if self.resumed_concurrently:
            steps = _plural(self.resumed_concurrently, "task step")
            parts.append(f"{steps} still ran concurrently in sequential mode")
        if self.stalls:
            parts.append(f"{_plural(self.stalls, 'turn')} handed on after a {STALL_S:g} s stall")
        if self.thread_stalls:
            calls = _plural(self.thread_stalls, "call")
            parts.append(f"{calls} in threads started beside one still running")
        if self.earlier_tasks:
            parts.append(f"up to {self.earlier_tasks} unserialized earlier tasks ran")
        if not parts:
            return ""
        return f"{' and '.join(parts)} ({'; '.join(self.examples)})"


def _task_label(task: asyncio.Future[Any]) -> str:
    coro = getattr(task, "get_coro", lambda: None)()
    return f"{getattr(coro, '__qualname__', type(task).__name__)}()"


def _plural(count: int, noun: str) -> str:
    return f"1 {noun}" if count == 1 else f"{count} {noun}s"


class Section:
    """One sequential round: the FIFO of its tasks and who holds the turn."""

    def __init__(self, loop: asyncio.AbstractEventLoop, overlap: SequentialOverlap) -> None:
        self.loop = loop
        self.overlap = overlap
        self.open = True
        self.holder: TurnTaker | None = None
        self.lenders: list[TurnTaker] = []
        self.queue: deque[TurnTaker] = deque()
        self.unstarted: dict[asyncio.Future[Any], TurnTaker] = {}
        self.thread_calls = ThreadCallQueue(self.loop, self.overlap.thread_stalled)
        self.sequence = itertools.count()
        # Tasks that existed before the round (a fixture's workers) are not serialized; what
        # each waits on now tells afterwards whether it ran during the round.
        current = asyncio.current_task(self.loop)
        self.earlier_tasks = {
            task: getattr(task, "_fut_waiter", None)
            for task in asyncio.all_tasks(self.loop)
            if task is not current
        }

    # -- the turn ----------------------------------------------------------------------------

    def enqueue(self, taker: TurnTaker) -> None:
        self.queue.append(taker)
        if self.holder is None:
            self._give_to_next()

    def register(self, taker: TurnTaker, task: asyncio.Future[Any]) -> None:
        """Know ``taker`` by its task, so that tasks waiting for it can lend it their turn."""
        if taker.task is None:
            taker.task = task
        if not taker.has_started and not taker.done:
            self.unstarted[task] = taker

    def may_start(self, taker: TurnTaker) -> bool:
        if not self.open or self.holder is taker:
            return True
        if self.holder is None:
            self._give_to_next()
        return self.holder is taker

    def started(self, taker: TurnTaker) -> None:
        if taker.task is not None:
            self.unstarted.pop(taker.task, None)

    def finished(self, taker: TurnTaker) -> None:
        taker.cancel_watches()
        if taker.task is not None:
            self.unstarted.pop(taker.task, None)
        if taker in self.lenders:
            self.lenders.remove(taker)
        if self.holder is not taker:
            return
        self.holder = None
        if self.lenders:
            lender = self.holder = self.lenders.pop()
            if lender.task is not None and getattr(lender.task, "_fut_waiter", None) is (
                taker.task
            ):
                return  # it awaited just this task, and wakes up now
            # The finished task's done-callbacks (a gather's, a task group's, as_completed's)
            # are scheduled after this returns and complete the lender's waiter when they run:
            # look at what the lender still waits for one loop iteration after them.
            self.loop.call_soon(self.loop.call_soon, self._reconsider, lender)
        else:
            self._give_to_next()

    def resumed(self, taker: TurnTaker) -> None:
        """``taker`` takes a step after having started."""
        taker.cancel_watch()
        if not self.open or self.holder is taker:
            return
        if taker in self.lenders:
            # Woken before the task it lent its turn to finished (anyio's start() once the
            # child reported started, a wait_for that timed out): it takes the turn back, and
            # the tasks it lent to run on beside it.
            del self.lenders[self.lenders.index(taker) :]
            self.holder = taker
            return
        holder = self.holder
        if holder is None:
            if not taker.background:
                self.holder = taker
            return
        if taker.background and not awaited(taker.task):
            return  # nothing waits for it: it does not lengthen the round
        if self._progressing(holder):
            self.overlap.note(f"{taker.label} ran while {holder.label} held the turn")

    def _progressing(self, holder: TurnTaker) -> bool:
        """Is the holder running, runnable, or in a wait of its own (a sleep, a thread)? A
        step of another task is then concurrent with it; while the holder waits for anything
        else, another task's step may be what it waits for (a server answering it)."""
        task = holder.task
        waiter = getattr(task, "_fut_waiter", None)
        if waiter is None or waiter.done():
            return True
        return waits_for_sleep(self.loop, waiter) or self._waits_for_threads(waiter)

    def _waits_for_threads(self, waiter: asyncio.Future[Any]) -> bool:
        """Is ``waiter`` (or a future it gathers) a call in a thread, running or queued?"""
        return any(
            waits_for_thread(future) or self.thread_calls.is_queued(future)
            for future in children(waiter)
        )

    def blocked(self, taker: TurnTaker, waiter: Any) -> None:
        """``taker`` yielded ``waiter`` (a future): keep, lend or give away the turn."""
        if not self.open or self.holder is not taker or not isinstance(waiter, asyncio.Future):
            return
        dependency = self._first_unstarted(children(waiter))
        if dependency is not None:
            self.lenders.append(taker)
            self._give(dependency)
            return
        if taker.unawaited_watch is None and not self.lenders and not awaited(taker.task):
            # Maybe a background task (a heartbeat) nobody waits for: it might never end, so
            # it may hold up the tasks after it for STALL_S at most, as any stall.
            taker.unawaited_watch = self.loop.call_later(STALL_S, self._maybe_background, taker)
        if waits_for_sleep(self.loop, waiter) or self._waits_for_threads(waiter):
            return  # the wait is the work being serialized: keep the turn
        dependency = self._first_waited_for(waiter, taker)
        if dependency is not None:
            self.lenders.append(taker)
            self._give(dependency)
        else:
            taker.watch = self.loop.call_later(STALL_S, self._stalled, taker, waiter)

    def _maybe_background(self, taker: TurnTaker) -> None:
        task = taker.task
        if (
            self.holder is not taker
            or task is None
            or task.done()
            or self.lenders
            or awaited(task)
            or self._next_in_queue() is None
            or feeds_a_joined_queue(self.loop, taker.inner)
        ):
            return
        self.overlap.stalled(
            f"{taker.label} held the turn for {STALL_S:g} s with nothing waiting for it, "
            "and ran on beside the tasks after it"
        )
        taker.background = True
        taker.cancel_watch()
        self.holder = None
        self._give_to_next()

    def _first_waited_for(self, waiter: asyncio.Future[Any], taker: TurnTaker) -> TurnTaker | None:
        """The earliest unstarted task that the code ``taker`` is waiting in waits for.

        Task groups, ``asyncio.wait`` and ``as_completed`` wait on a plain future or queue that
        callbacks on their tasks complete. So a task counts as waited for when the frames
        ``taker`` is suspended in hold it (``TaskGroup.__aexit__``'s ``self._tasks``,
        ``asyncio.wait``'s ``fs``), or when one of its done-callbacks refers to something those
        frames hold (the task group, the waiter, as_completed's queue).
        """
        held: dict[int, Any] = {id(waiter): waiter}
        for frame in await_chain_frames(taker.inner):
            for value in frame.f_locals.values():
                held[id(value)] = value
                for task in tasks_in(value):
                    if task in self.unstarted:
                        held[id(task)] = task
        direct = self._first_unstarted(value for value in held.values())
        if direct is not None:
            return direct
        for candidate in self.queue:
            task = candidate.task
            if candidate.has_started or candidate.done or task is None:
                continue
            if any(id(referent) in held for referent in callback_referents(task)):
                return candidate
        return None

    def _reconsider(self, lender: TurnTaker) -> None:
        task = lender.task
        if self.holder is not lender or task is None or task.done():
            return
        waiter = getattr(task, "_fut_waiter", None)
        if waiter is not None and not waiter.done():
            self.blocked(lender, waiter)

    def _stalled(self, taker: TurnTaker, waiter: asyncio.Future[Any]) -> None:
        task = taker.task
        if (
            self.holder is not taker
            or task is None
            or getattr(task, "_fut_waiter", None) is not (waiter)
        ):
            return
        if self._next_in_queue() is not None:
            self.overlap.stalled(
                f"{taker.label} waited {STALL_S:g} s on something no later task could be traced to"
            )
            self.holder = None
            self._give_to_next()

    def _give_to_next(self) -> None:
        following = self._next_in_queue()
        if following is not None:
            self._give(following)

    def _next_in_queue(self) -> TurnTaker | None:
        while self.queue and (self.queue[0].has_started or self.queue[0].done):
            self.queue.popleft()
        return self.queue[0] if self.queue else None

    def _give(self, taker: TurnTaker) -> None:
        self.holder = taker
        taker.wake()

    def _first_unstarted(self, tasks: Iterable[Any]) -> TurnTaker | None:
        unstarted = self.unstarted
        candidates = [
            unstarted[task]
            for task in tasks
            if isinstance(task, asyncio.Future) and task in unstarted
        ]
        return min(candidates, key=lambda taker: taker.sequence, default=None)

    def close(self) -> None:
        """The round is over: whatever is still waiting for a turn runs freely."""
        self.open = False
        ran = [
            task
            for task, waiter in self.earlier_tasks.items()
            if task.done() or getattr(task, "_fut_waiter", None) is not waiter
        ]
        if len(ran) > 1:  # one task alone (a server handling requests in turn) is not parallel
            names = ", ".join(sorted({_task_label(task) for task in ran}))
            self.overlap.ran_unserialized(
                len(ran),
                f"{len(ran)} tasks created before the measurement ran during a "
                f"sequential round ({names})",
            )
        if self.holder is not None:
            self.holder.cancel_watches()
        self.thread_calls.close()
        for taker in self.queue:
            taker.wake()
        self.queue.clear()
        self.unstarted.clear()
        self.lenders.clear()
        self.holder = None
